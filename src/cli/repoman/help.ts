// `repoman help [subcommand]` and `--help`, in argparse's layout, from the command table.
import { COMMANDS, GLOBAL_OPTIONS, optionsOf, type ArgDef, type CommandDef, type OptionDef, type Section } from "./commands.js";

export const SECTIONS: Section[] = ["Miscellaneous", "Images", "Users", "Groups"];

export const optionSynopsis = (o: OptionDef) => (o.short ? `-${o.short}` : `--${o.long}`) + (o.metavar ? ` ${o.metavar}` : "");

export function argSynopsis(a: ArgDef): string {
  if (a.arity === "optional") return `[${a.name}]`;
  if (a.arity === "many") return `${a.name} [${a.name} ...]`;
  return a.name;
}

export function usage(c: CommandDef): string {
  const parts = optionsOf(c).map((o) => `[${optionSynopsis(o)}]`);
  return ["usage: repoman", c.name, ...parts, ...c.args.map(argSynopsis)].join(" ");
}

export const globalUsage = () => `usage: repoman ${GLOBAL_OPTIONS.filter((o) => o.long !== "debug").map((o) => `[${optionSynopsis(o)}]`).join(" ")} <subcommand> [args]`;

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
function columns(rows: [string, string][]): string[] {
  const out: string[] = [];
  for (const [name, help] of rows) {
    const lines = wrap(help, 54);
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

export const optionNames = (o: OptionDef) => [o.short ? `-${o.short}${o.metavar ? ` ${o.metavar}` : ""}` : "", `--${o.long}${o.metavar ? ` ${o.metavar}` : ""}`].filter(Boolean).join(", ");

export function commandHelp(c: CommandDef): string {
  const out = [usage(c), "", ...wrap(c.summary, 78)];
  if (c.description) out.push("", ...wrap(c.description, 78));
  if (c.alias) out.push("", `alias: ${c.alias}`);
  if (c.args.length) out.push("", "positional arguments:", ...columns(c.args.map((a) => [a.name, a.help])));
  out.push("", "optional arguments:", ...columns(optionsOf(c).map((o) => [optionNames(o), o.help])));
  return out.join("\n") + "\n";
}

export function generalHelp(): string {
  const out = [globalUsage(), "", "The Repoman command-line client: manage virtual-machine images, users and groups on a Repoman server.", "", "global options (before the subcommand):"];
  out.push(...columns(GLOBAL_OPTIONS.filter((o) => o.long !== "debug").map((o) => [optionNames(o), o.help])));
  out.push(...columns([["--help", "Show this help."]]));
  for (const s of SECTIONS) {
    out.push("", `${s.toLowerCase()} subcommands:`);
    out.push(...columns(COMMANDS.filter((c) => c.section === s).map((c) => [c.alias ? `${c.name} (${c.alias})` : c.name, c.summary])));
  }
  out.push("", 'Use "repoman help <subcommand>" or "repoman <subcommand> --help" for more information.');
  return out.join("\n") + "\n";
}
