// The repoman(1) man page, generated from the command table and the configuration keys
// (docs/repoman.1, written by scripts/write-client-docs.mjs).
import { CONFIG_KEYS, type Environment } from "../../client/config.js";
import { COMMANDS, GLOBAL_OPTIONS, namesOf, optionsOf, type OptionDef } from "./commands.js";
import { argSynopsis, SECTIONS } from "./help.js";

// roff: backslashes and hyphens escaped, no line may start with a control character.
const esc = (s: string) => s.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/gm, "\\&$1");
const bold = (s: string) => `\\fB${esc(s)}\\fR`;
const italic = (s: string) => `\\fI${esc(s)}\\fR`;

const optionTerm = (o: OptionDef) => [o.short ? `${bold(`-${o.short}`)}` : "", o.shortOnly ? "" : bold(`--${o.long}`)].filter(Boolean).join(", ") + (o.metavar ? ` ${italic(o.metavar)}` : "");
const optionSynopsis = (o: OptionDef) => `[${bold(o.short ? `-${o.short}` : `--${o.long}`)}${o.metavar ? ` ${italic(o.metavar)}` : ""}]`;

// Defaults that depend on who runs the command are shown as the documentation of them.
const documentedEnvironment: Environment = { env: {}, uid: 1000, home: "~" };

export function manPage(): string {
  const out: string[] = [
    '.TH REPOMAN 1 "" "Repoman" "User Commands"',
    ".SH NAME",
    "repoman \\- command\\-line client of the Repoman virtual\\-machine image repository",
    ".SH SYNOPSIS",
    `${bold("repoman")} ${GLOBAL_OPTIONS.filter((o) => !o.hidden).map(optionSynopsis).join(" ")} ${italic("subcommand")} [${italic("args")}]`,
    ".SH DESCRIPTION",
    "Manages virtual\\-machine images, image lists for grid sites, users and groups on a Repoman server over HTTPS, logging in with a grid proxy or an X.509 certificate.",
    "Global options come before the subcommand.",
    "Every subcommand takes \\fB\\-\\-help\\fR; long options may be abbreviated to any unique prefix.",
    "The first Repoman client's dialect works too: \\fBlist\\fR, \\fBdescribe\\-image\\fR and \\fBrename\\fR, \\fBget\\fR, \\fBsave\\fR and \\fBdelete\\fR (aliases of get\\-image, save\\-image and remove\\-image), and the global options \\fB\\-H\\fR, \\fB\\-P\\fR \\fIPORT\\fR, \\fB\\-\\-proxy\\fR, \\fB\\-\\-version\\fR and \\fB\\-\\-help\\-all\\fR.",
    ".SH GLOBAL OPTIONS",
  ];
  for (const o of GLOBAL_OPTIONS) out.push(".TP", optionTerm(o), esc(o.help));
  for (const section of SECTIONS) {
    out.push(`.SH ${section.toUpperCase()} SUBCOMMANDS`);
    for (const c of COMMANDS.filter((x) => x.section === section)) {
      out.push(`.SS "${namesOf(c).map(esc).join(", ")}"`);
      out.push(`${bold("repoman")} ${bold(c.name)} ${optionsOf(c).map(optionSynopsis).join(" ")} ${c.args.map((a) => italic(argSynopsis(a))).join(" ")}`.trimEnd());
      out.push(".PP", esc(c.summary));
      if (c.description) out.push(".PP", esc(c.description));
      if (c.args.length || optionsOf(c).length) out.push(".RS");
      for (const a of c.args) out.push(".TP", italic(a.name), esc(a.help));
      for (const o of optionsOf(c)) out.push(".TP", optionTerm(o), esc(o.help));
      if (c.args.length || optionsOf(c).length) out.push(".RE");
    }
  }
  out.push(
    ".SH CREDENTIALS",
    "The proxy named by \\fB\\-\\-proxy\\fR (or \\fB\\-P\\fR with a value that is not only digits), else \\fBproxy_cert\\fR from the configuration, else \\fB$X509_USER_PROXY\\fR, else \\fI/tmp/x509up_u<uid>\\fR;",
    "without a proxy, \\fI~/.globus/usercert.pem\\fR and \\fIuserkey.pem\\fR (or \\fB$X509_USER_CERT\\fR and \\fB$X509_USER_KEY\\fR), asking for the passphrase of an encrypted key.",
    "The server's certificate is checked against \\fBca_file\\fR and \\fBca_dir\\fR when the configuration sets them, else \\fB$X509_CERT_DIR\\fR, else \\fI/etc/grid\\-security/certificates\\fR, else the system's certificate authorities.",
    ".SH CONFIGURATION",
    "INI files, later ones overriding earlier ones: \\fI/etc/repoman/repoman.conf\\fR, the file named by \\fB$REPOMAN_CLIENT_CONFIG\\fR, \\fI~/.repoman/repoman.conf\\fR (the invoking user's under sudo).",
    "\\fBrepoman make\\-config\\fR writes a template.",
  );
  let section = "";
  for (const k of CONFIG_KEYS) {
    if (k.section !== section) out.push(`.SS "[${(section = k.section)}]"`);
    const def = k.default(documentedEnvironment);
    out.push(".TP", bold(k.key) + (def ? ` (default: ${esc(def)})` : ""), esc(k.help));
  }
  out.push(
    ".SH EXIT STATUS",
    "0 when the subcommand succeeded, or when a confirmation question was answered no; 1 when it failed (the reason follows \\fB[FAILED]\\fR on standard error), including a question nobody could answer; 2 for a command line that cannot be parsed.",
    ".SH EXAMPLES",
    ".nf",
    "repoman \\-r repo.example.org whoami",
    "repoman create\\-image \\-h xen,kvm \\-d 'Scientific Linux 6' sl6.img",
    "repoman put\\-image \\-h kvm sl6\\-kvm.img sl6.img",
    "repoman get\\-image \\-o jdoe \\-p /var/lib/images/sl6.img sl6.img",
    "sudo repoman save\\-image \\-\\-gzip \\-d 'my worker node' worker.img",
    "repoman \\-H repo.example.org \\-P 8443 list",
    "repoman describe\\-image sl6.img",
    "repoman publish\\-list site \\-t 'Worker images' sl6.img:kvm alice/cernvm.img@3",
    "repoman show\\-list site \\-\\-signed > image.list",
    ".fi",
    ".SH SEE ALSO",
    "\\fBgrid\\-proxy\\-init\\fR(1), \\fBvoms\\-proxy\\-init\\fR(1), \\fBrepoman\\-server\\fR(8)",
    "",
  );
  return out.join("\n");
}
