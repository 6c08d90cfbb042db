#!/usr/bin/env node
// `repoman [global options] <subcommand> [args]`: the command-line client. Exit codes: 0 done
// (or declined at a prompt), 1 failed, 2 bad command line.
import { currentEnvironment } from "../client/config.js";
import { ClientConfigError, ClientError } from "../client/errors.js";
import { findCommand, GLOBAL_OPTIONS, optionsOf } from "./repoman/commands.js";
import { InvalidArgument } from "./repoman/context.js";
import { HANDLERS } from "./repoman/handlers.js";
import { commandHelp, generalHelp, globalUsage, helpAll, usage } from "./repoman/help.js";
import { parseArgs, UsageError, type Parsed } from "./repoman/parse-args.js";
import { globalsFrom, Session, type Globals } from "./repoman/session.js";
import { VERSION } from "./repoman/version.js";
import { Terminal } from "./repoman/terminal.js";

const err = (text: string) => process.stderr.write(`${text}\n`);
const indented = (e: ClientError) => [e.message, e.detail].filter(Boolean).map((l) => `\t${l}`).join("\n");

function failure(command: string, e: unknown): string {
  if (e instanceof ClientConfigError) return `Client configuration error:\n${indented(e)}`;
  if (e instanceof InvalidArgument) return `Error: Invalid argument.\n${indented(e)}`;
  if (e instanceof ClientError) return `[FAILED] ${command}\n${indented(e)}`;
  return `[FAILED] ${command}\n\tUnexpected error: ${(e as Error)?.stack ?? String(e)}`;
}

async function main(argv: string[]): Promise<number> {
  let top: Parsed;
  let globals: Globals;
  try {
    top = parseArgs({ options: GLOBAL_OPTIONS, args: [] }, argv, true);
    globals = globalsFrom(top.options);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${globalUsage()}\nrepoman: error: ${e.message}`);
    return 2;
  }
  if (top.options.help || top.options["help-all"] || top.options.version) {
    process.stdout.write(top.options.help ? generalHelp() : top.options["help-all"] ? helpAll() : `${VERSION}\n`);
    return 0;
  }
  const [name, ...rest] = top.rest;
  if (name === undefined) {
    err('repoman: error: too few arguments\nuse "repoman help" for more information');
    return 1;
  }
  const def = findCommand(name);
  if (!def) {
    err(`${globalUsage()}\nrepoman: error: argument subcommand: invalid choice: '${name}'\nuse "repoman help" for more information`);
    return 2;
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs({ options: optionsOf(def), args: def.args, exclusive: def.exclusive }, rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${usage(def)}\nrepoman ${def.name}: error: ${e.message}`);
    return 2;
  }
  if (parsed.options.help) {
    process.stdout.write(commandHelp(def));
    return 0;
  }

  const session = new Session(globals, currentEnvironment(), new Terminal());
  try {
    await HANDLERS[def.name]!({ command: def, args: parsed.args, options: parsed.options, session });
    session.log("INFO", `${def.name}: done`);
    return 0;
  } catch (e) {
    err(failure(def.name, e));
    session.log("ERROR", `${def.name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    session.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
