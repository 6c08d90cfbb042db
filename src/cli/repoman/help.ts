// `repoman help [subcommand]`, `--help` and `--help-all`, in argparse's layout, from the command
// table. Usage lines wrap as argparse wraps them, to $COLUMNS (default 80) minus 2.
import { COMMANDS, GLOBAL_OPTIONS, optionsOf, type ArgDef, type CommandDef, type OptionDef, type Section } from "./commands.js";

export const SECTIONS: Section[] = ["Miscellaneous", "Images", "Image lists", "Users", "Groups"];

// argparse's HelpFormatter width: $COLUMNS when it is a positive number, else 80; minus 2.
export function helpWidth(env: NodeJS.ProcessEnv = process.env): number {
  const columns = /^\s*\d+\s*$/.test(env.COLUMNS ?? "") ? Number(env.COLUMNS) : 0;
  return (columns > 0 ? columns : 80) - 2;
}

export const optionSynopsis = (o: OptionDef) => (o.short ? `-${o.short}` : `--${o.long}`) + (o.metavar ? ` ${o.metavar}` : "");

export function argSynopsis(a: ArgDef): string {
  if (a.arity === "optional") return `[${a.name}]`;
  if (a.arity === "many") return `${a.name} [${a.name} ...]`;
  return a.name;
}

// The pieces argparse wraps between: one per option, and one per word of a positional outside
// brackets ("users [users ...]" is two).
const optionParts = (options: OptionDef[]) => options.filter((o) => !o.hidden).map((o) => `[${optionSynopsis(o)}]`);
const argParts = (args: ArgDef[]) => args.flatMap((a) => (a.arity === "many" ? [a.name, `[${a.name} ...]`] : [argSynopsis(a)]));

// argparse's HelpFormatter._format_usage: "usage: PROG OPTIONS POSITIONALS" on one line when it
// fits; otherwise options and positionals wrap onto lines indented under the first option (or,
// when PROG takes more than three quarters of the width, under PROG on a line of its own).
export function formatUsage(prog: string, optParts: string[], posParts: string[], width: number): string {
  const prefix = "usage: ";
  const whole = [prog, ...optParts, ...posParts].join(" ");
  if (prefix.length + whole.length <= width) return prefix + whole;
  const lines = (parts: string[], indent: string, first?: string): string[] => {
    const out: string[] = [];
    let line: string[] = [];
    let length = (first ?? indent).length - 1;
    for (const part of parts) {
      if (length + 1 + part.length > width && line.length) {
        out.push(indent + line.join(" "));
        line = [];
        length = indent.length - 1;
      }
      line.push(part);
      length += part.length + 1;
    }
    if (line.length) out.push(indent + line.join(" "));
    if (first !== undefined) out[0] = out[0]!.slice(indent.length);
    return out;
  };
  let all: string[];
  if (prefix.length + prog.length <= 0.75 * width) {
    const indent = " ".repeat(prefix.length + prog.length + 1);
    if (optParts.length) all = [...lines([prog, ...optParts], indent, prefix), ...lines(posParts, indent)];
    else if (posParts.length) all = lines([prog, ...posParts], indent, prefix);
    else all = [prog];
  } else {
    const indent = " ".repeat(prefix.length);
    all = lines([...optParts, ...posParts], indent);
    if (all.length > 1) all = [...lines(optParts, indent), ...lines(posParts, indent)];
    all = [prog, ...all];
  }
  return prefix + all.join("\n");
}

export const usage = (c: CommandDef, width = helpWidth()) => formatUsage(`repoman ${c.name}`, optionParts(optionsOf(c)), argParts(c.args), width);

export const globalUsage = (width = helpWidth()) => formatUsage("repoman", optionParts(GLOBAL_OPTIONS), ["<subcommand>", "[args]"], width);

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

// An argparse-style two-column list: names, then help indented to column 24.
function columns(rows: [string, string][], width: number): string[] {
  const out: string[] = [];
  for (const [name, help] of rows) {
    const lines = wrap(help, Math.max(width - 24, 11));
    if (name.length <= 20) {
      out.push(`  ${name.padEnd(22)}${lines[0] ?? ""}`);
      out.push(...lines.slice(1).map((l) => " ".repeat(24) + l));
    } else {
      out.push(`  ${name}`);
      out.push(...lines.map((l) => " ".repeat(24) + l));
    }
  }
  return out;
}

export const optionNames = (o: OptionDef) =>
  [o.short ? `-${o.short}${o.metavar ? ` ${o.metavar}` : ""}` : "", o.shortOnly ? "" : `--${o.long}${o.metavar ? ` ${o.metavar}` : ""}`].filter(Boolean).join(", ");

export function commandHelp(c: CommandDef, width = helpWidth()): string {
  const out = [usage(c, width), "", ...wrap(c.summary, width)];
  if (c.description) out.push("", ...wrap(c.description, width));
  if (c.aliases?.length) out.push("", `${c.aliases.length > 1 ? "aliases" : "alias"}: ${c.aliases.join(", ")}`);
  if (c.args.length) out.push("", "positional arguments:", ...columns(c.args.map((a) => [a.name, a.help]), width));
  out.push("", "optional arguments:", ...columns(optionsOf(c).map((o) => [optionNames(o), o.help]), width));
  return out.join("\n") + "\n";
}

export function generalHelp(width = helpWidth()): string {
  const out = [globalUsage(width), "", ...wrap("The Repoman command-line client: manage virtual-machine images, image lists, users and groups on a Repoman server.", width), "", "global options (before the subcommand):"];
  out.push(...columns(GLOBAL_OPTIONS.filter((o) => !o.hidden).map((o) => [optionNames(o), o.help]), width));
  for (const s of SECTIONS) {
    out.push("", `${s.toLowerCase()} subcommands:`);
    out.push(...columns(COMMANDS.filter((c) => c.section === s).map((c) => [c.aliases?.length ? `${c.name} (${c.aliases.join(", ")})` : c.name, c.summary]), width));
  }
  out.push("", ...wrap('Use "repoman help <subcommand>" or "repoman <subcommand> --help" for more information, and "repoman --help-all" for every subcommand\'s.', width));
  return out.join("\n") + "\n";
}

// --help-all: the general help, then each subcommand's, in the order of the table.
export const helpAll = (width = helpWidth()) => [generalHelp(width), ...COMMANDS.map((c) => commandHelp(c, width))].join("\n");
