// The bash completion script, generated from the command table (`repoman completion`, and
// docs/repoman.bash-completion).
import { HYPERVISORS } from "../../catalog/names.js";
import { COMMANDS, GLOBAL_OPTIONS, namesOf, optionsOf, PERMISSIONS, type Completion, type OptionDef } from "./commands.js";

const words = (list: readonly string[]) => list.join(" ");
const spellings = (o: OptionDef) => [...(o.short ? [`-${o.short}`] : []), ...(o.shortOnly ? [] : [`--${o.long}`])];
const optionWords = (options: OptionDef[]) => words(options.filter((o) => !o.hidden).flatMap(spellings));
const optionPattern = (o: OptionDef) => spellings(o).join("|");

// Comma-separated lists complete their last item, keeping the ones before it.
const commaList = (list: readonly string[]) => `COMPREPLY=($(compgen -P "\${cur%"\${cur##*,}"}" -W "${words(list)}" -- "\${cur##*,}"))`;

// What to offer for a value; empty: let bash complete file names (complete -o default).
function offer(kind: Completion | undefined, choices?: readonly string[]): string {
  if (choices) return `COMPREPLY=($(compgen -W "${words(choices)}" -- "$cur"))`;
  switch (kind) {
    case "hypervisor":
      return commaList(HYPERVISORS);
    case "permission":
      return commaList(PERMISSIONS);
    case "command":
      return `COMPREPLY=($(compgen -W "${words(COMMANDS.map((c) => c.name))}" -- "$cur"))`;
    case "directory":
      return `COMPREPLY=($(compgen -d -- "$cur"))`;
    default:
      return "";
  }
}

export function bashCompletion(): string {
  const names = COMMANDS.flatMap(namesOf);
  const globalValues = GLOBAL_OPTIONS.filter((o) => o.metavar);
  const lines = [
    "# bash completion for repoman, generated from its command table: do not edit.",
    '# Load it with: eval "$(repoman completion)", or install it as /usr/share/bash-completion/completions/repoman',
    "_repoman() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="" i',
    "  COMPREPLY=()",
    "  for ((i = 1; i < COMP_CWORD; i++)); do",
    '    case "${COMP_WORDS[i]}" in',
    `      ${globalValues.map(optionPattern).join("|")}) ((i++)) ;;`,
    "      -*) ;;",
    '      *) cmd="${COMP_WORDS[i]}"; break ;;',
    "    esac",
    "  done",
    '  if [[ -z "$cmd" ]]; then',
    '    case "$prev" in',
    ...globalValues.map((o) => `      ${optionPattern(o)}) ${offer(o.complete) || ":"}; return ;;`),
    "    esac",
    `    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${optionWords(GLOBAL_OPTIONS)}" -- "$cur"))`,
    `    else COMPREPLY=($(compgen -W "${words(names)}" -- "$cur")); fi`,
    "    return",
    "  fi",
    '  case "$cmd" in',
  ];
  for (const c of COMMANDS) {
    const options = optionsOf(c);
    lines.push(`    ${namesOf(c).join("|")})`);
    const valued = options.filter((o) => o.metavar);
    if (valued.length) {
      lines.push('      case "$prev" in');
      for (const o of valued) lines.push(`        ${optionPattern(o)}) ${offer(o.complete, o.choices) || ":"}; return ;;`);
      lines.push("      esac");
    }
    const positional = c.args.find((a) => a.complete)?.complete;
    lines.push(`      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${optionWords(options)}" -- "$cur"))`);
    lines.push(`      else ${offer(positional) || ":"}; fi`);
    lines.push("      ;;");
  }
  lines.push("  esac", "}", "complete -o default -F _repoman repoman", "");
  return lines.join("\n");
}
