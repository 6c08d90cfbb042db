// Command lines parsed the way the original's argparse did: short options with attached or
// separate values, combined short flags, `--long=value`, long options abbreviated to any unique
// prefix, positionals by arity, and mutually exclusive choices.
import type { ArgDef, OptionDef } from "./commands.js";

export class UsageError extends Error {
  override name = "UsageError";
}

export type OptionValue = string | number | boolean;

export interface Parsed {
  options: Record<string, OptionValue | undefined>;
  args: Record<string, string | string[] | undefined>;
  rest: string[]; // with stopAtPositional: the first positional and everything after it
}

export interface Grammar {
  options: OptionDef[];
  args: ArgDef[];
  exclusive?: string[][];
}

export const optionLabel = (o: OptionDef) => (o.shortOnly ? `-${o.short}` : o.short ? `-${o.short}/--${o.long}` : `--${o.long}`);

function findLong(all: OptionDef[], name: string): OptionDef {
  const options = all.filter((o) => !o.shortOnly);
  const exact = options.find((o) => o.long === name);
  if (exact) return exact;
  const candidates = options.filter((o) => o.long.startsWith(name));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length > 1) throw new UsageError(`ambiguous option: --${name} could match ${candidates.map((o) => `--${o.long}`).join(", ")}`);
  throw new UsageError(`unrecognized arguments: --${name}`);
}

function convert(o: OptionDef, value: string): OptionValue {
  if (o.choices && !o.choices.includes(value)) throw new UsageError(`argument ${optionLabel(o)}: invalid choice: '${value}' (choose from ${o.choices.map((c) => `'${c}'`).join(", ")})`);
  if (o.integer) {
    if (!/^-?\d+$/.test(value)) throw new UsageError(`argument ${optionLabel(o)}: invalid int value: '${value}'`);
    return Number(value);
  }
  return value;
}

const looksLikeOption = (t: string) => t.length > 1 && t.startsWith("-") && !/^-\d/.test(t);

export function parseArgs(grammar: Grammar, argv: readonly string[], stopAtPositional = false): Parsed {
  const options: Parsed["options"] = {};
  const positionals: string[] = [];
  let i = 0;
  const takeValue = (o: OptionDef, attached: string | undefined): OptionValue => {
    if (attached !== undefined) return convert(o, attached);
    const next = argv[i + 1];
    if (next === undefined || looksLikeOption(next)) throw new UsageError(`argument ${optionLabel(o)}: expected one argument`);
    i++;
    return convert(o, next);
  };
  for (; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (t.startsWith("--")) {
      const eq = t.indexOf("=");
      const o = findLong(grammar.options, t.slice(2, eq === -1 ? undefined : eq));
      if (o.metavar) options[o.long] = takeValue(o, eq === -1 ? undefined : t.slice(eq + 1));
      else if (eq !== -1) throw new UsageError(`argument ${optionLabel(o)}: ignored explicit argument '${t.slice(eq + 1)}'`);
      else options[o.long] = true;
      if (o.long === "help") break;
      continue;
    }
    if (looksLikeOption(t)) {
      for (let j = 1; j < t.length; j++) {
        const o = grammar.options.find((x) => x.short === t[j]);
        if (!o) throw new UsageError(`unrecognized arguments: -${t[j]}`);
        if (o.metavar) {
          options[o.long] = takeValue(o, j + 1 < t.length ? t.slice(j + 1) : undefined);
          break;
        }
        options[o.long] = true;
      }
      continue;
    }
    if (stopAtPositional) return { options, args: {}, rest: argv.slice(i) };
    positionals.push(t);
  }
  if (options.help) return { options, args: {}, rest: [] };

  const args: Parsed["args"] = {};
  const minimum = (defs: ArgDef[]) => defs.filter((a) => a.arity !== "optional").length;
  let p = 0;
  grammar.args.forEach((a, k) => {
    const later = minimum(grammar.args.slice(k + 1));
    const available = positionals.length - p - later;
    if (a.arity === "one") {
      if (available < 1) throw new UsageError("too few arguments");
      args[a.name] = positionals[p++];
    } else if (a.arity === "optional") {
      if (available >= 1) args[a.name] = positionals[p++];
    } else {
      if (available < 1) throw new UsageError("too few arguments");
      args[a.name] = positionals.slice(p, p + available);
      p += available;
    }
  });
  if (p < positionals.length) throw new UsageError(`unrecognized arguments: ${positionals.slice(p).join(" ")}`);

  for (const group of grammar.exclusive ?? []) {
    const given = group.filter((n) => options[n] !== undefined || args[n] !== undefined);
    if (given.length > 1) {
      const label = (n: string) => {
        const o = grammar.options.find((x) => x.long === n);
        return o ? optionLabel(o) : n;
      };
      throw new UsageError(`argument ${label(given[1]!)}: not allowed with argument ${label(given[0]!)}`);
    }
  }
  return { options, args, rest: [] };
}
