// What a subcommand's handler is given, and the small helpers every handler uses.
import { ClientError } from "../../client/errors.js";
import type { CommandDef } from "./commands.js";
import type { OptionValue } from "./parse-args.js";
import type { Session } from "./session.js";

export interface Ctx {
  command: CommandDef;
  args: Record<string, string | string[] | undefined>;
  options: Record<string, OptionValue | undefined>;
  session: Session;
}

export type Handler = (ctx: Ctx) => Promise<void>;

// A value the client refuses before asking the server, printed as the original did
// ("Error: Invalid argument.").
export class InvalidArgument extends ClientError {
  override name = "InvalidArgument";
}

export const write = (text: string): void => void process.stdout.write(text);
export const print = (text: string): void => write(text.endsWith("\n") ? text : `${text}\n`);
export const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));

export const arg = (ctx: Ctx, name: string) => ctx.args[name] as string | undefined;
export const args = (ctx: Ctx, name: string) => (ctx.args[name] as string[] | undefined) ?? [];
export const opt = (ctx: Ctx, name: string) => ctx.options[name] as string | undefined;
export const flag = (ctx: Ctx, name: string) => ctx.options[name] === true;
export const commaList = (text: string | undefined) => (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);

export function checkName(value: string, pattern: RegExp, what: string, rule: string): void {
  if (!pattern.test(value)) throw new InvalidArgument(`'${value}' is not a valid ${what}`, rule);
}

// The original's deletion question. A "no" is the user's decision (exit 0); no answer at all
// (no terminal, end of input) is a failure, so that scripts notice nothing was done.
export async function confirmed(ctx: Ctx, what: string, prompt?: string): Promise<boolean> {
  const answer = await ctx.session.terminal.confirm(prompt);
  if (answer === undefined) throw new ClientError(`no answer to the confirmation question, so nothing was ${what}`, "Answer it on a terminal, or pass -f/--force.");
  return answer;
}
