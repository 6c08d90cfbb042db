// Server configuration: one table of options, read from a file, then REPOMAN_* environment
// variables, then command-line flags (each overriding the one before). The table also writes
// `repoman-server --help` and docs/repoman-server.conf.example, so they cannot drift apart.
import { existsSync, readFileSync } from "node:fs";

interface OptionSpec {
  key: string;
  arg?: string; // placeholder in --help; absent for on/off switches
  help: string;
  default?: string;
  // Repeatable options: `lines` splits an environment value on newlines (values may contain
  // commas), `list` on commas and white space.
  multi?: "lines" | "list";
  choices?: readonly string[];
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: "listen", arg: "HOST:PORT", default: "127.0.0.1:8443", help: "HTTPS listener with client-certificate login." },
  { key: "data-dir", arg: "DIR", default: "./repoman-data", help: "SQLite database, image files (under images/) and, when needed, a generated development PKI." },
  {
    key: "storage",
    arg: "DIR|URL",
    help: "Where image files live: a directory, or S3-compatible object storage as s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true|false&part_size=16MiB&parallel_parts=4&downloads=stream|redirect&redirect_expires=300&request_timeout=120&max_attempts=5, with credentials from the environment, the AWS profile files, web identity, the container endpoint or the instance role, renewed before they expire (see docs/scale-out.md). Default: DATA_DIR/images.",
  },
  { key: "database", arg: "URL", help: "Metadata database: sqlite:PATH or postgres://USER:PASS@HOST/DB. Default: sqlite:DATA_DIR/repoman.db." },
  { key: "workers", arg: "N", default: "1", help: "Server processes sharing the listeners (node:cluster); one per core is a good start." },
  {
    key: "instance",
    arg: "NAME",
    help: "This server's name among all servers sharing one database; must be unique. Its next start reclaims the uploads it left unfinished. Default: HOSTNAME/LISTEN.",
  },
  {
    key: "keep-versions",
    arg: "N",
    default: "5",
    help: "Versions of each image file kept per hypervisor, for images that set no keep_versions of their own; older ones are deleted. 0 keeps every version. They count against the owner's quota.",
  },
  {
    key: "drain",
    arg: "SECONDS",
    default: "0",
    help: "On SIGTERM, first answer /readyz with 503 for this long while still serving, so that load balancers stop sending requests; then finish those in flight (30 s at most) and exit.",
  },
  {
    key: "allow-backing-files",
    arg: "yes|no",
    default: "no",
    choices: ["yes", "no"],
    help: "Accept image files that make the host opening them read other files: qcow2 with a backing file or an external data file, differencing VHDs, VMDK descriptors and VMDKs with a parent. Such a file can name any file of the hypervisor host that boots it (a known way to read files off a host), so uploads of them are refused unless this is yes.",
  },
  { key: "upload-expiry", arg: "HOURS", default: "24", help: "Resumable uploads left without a new chunk for this long are cancelled and their bytes deleted." },
  { key: "audit-retention", arg: "DAYS", default: "400", help: "Events of the audit log (every change: who, when, from where, before and after) are kept this long. 0 keeps them all." },
  { key: "db-pool-size", arg: "N", default: "10", help: "PostgreSQL connections per server process." },
  {
    key: "host-cert",
    arg: "FILE",
    help: "Server certificate (PEM). Default: /etc/grid-security/hostcert.pem and hostkey.pem when they exist, else DATA_DIR/dev-pki/hostcert.pem, generated with a development CA when missing.",
  },
  { key: "host-key", arg: "FILE", help: "Server private key (PEM), unencrypted." },
  {
    key: "list-signing-cert",
    arg: "FILE",
    help: "Certificate (PEM, its chain may follow) that signs image lists for grid sites; its extended key usage should allow e-mail protection, as IGTF robot certificates do. Default: the host certificate.",
  },
  { key: "list-signing-key", arg: "FILE", help: "Private key (PEM, unencrypted) of --list-signing-cert." },
  {
    key: "ca-dir",
    arg: "DIR",
    help: "Trusted CAs and CRLs in the grid layout (<hash>.0, <hash>.r0), re-read on change. Default: $X509_CERT_DIR, else /etc/grid-security/certificates; the development CA for a server on the development PKI.",
  },
  { key: "crl", arg: "MODE", default: "require", choices: ["require", "if-valid", "ignore"], help: "CRL checking: require (a missing or expired CRL refuses its CA's users), if-valid (use a CRL only when present and current), ignore." },
  { key: "clock-skew", arg: "SECONDS", default: "60", help: "Tolerance for certificate validity times of clients whose clocks are slightly off." },
  { key: "allow-independent-proxies", arg: "yes|no", default: "no", choices: ["yes", "no"], help: "Accept RFC 3820 independent proxies; the identity is then the proxy's own DN." },
  // VOMS attributes (docs/voms.md)
  {
    key: "vomsdir",
    arg: "DIR",
    help: "VOMS servers trusted per VO, in the grid layout (<vo>/<host>.lsc, or the server certificate in <vo>/), read at start and re-read on change. Default: $X509_VOMS_DIR, else /etc/grid-security/vomsdir.",
  },
  {
    key: "voms-map",
    arg: '"FQAN GROUP"',
    multi: "lines",
    help: "Give members of a VOMS group or role a Repoman group for the requests that carry their valid VOMS proxy: /VO[/GROUP...][/*][/Role=ROLE|/Role=*], e.g. \"/atlas/* atlas\" or \"/atlas/Role=production atlas-prod\". Repeatable; every matching line applies. Not admins.",
  },
  { key: "voms-auto-register", arg: "yes|no", default: "no", choices: ["yes", "no"], help: "Register an unknown DN on first contact when its valid VOMS AC maps to an existing group (--voms-map)." },
  {
    key: "voms-target",
    arg: "HOST",
    multi: "list",
    help: "This server's host name for VOMS ACs that name their targets: such an AC is accepted only when it names one of these. Repeatable. Default: the host of --public-url, else this machine's host name.",
  },
  { key: "admin", arg: '"NAME,EMAIL,DN"', multi: "lines", help: "Bootstrap admin, created when missing, member of admins and users. Repeatable. DNs may contain commas: only the first two separate fields." },
  { key: "admins-file", arg: "FILE", help: "Bootstrap admins, one NAME,EMAIL,DN per line (# comments)." },
  { key: "trusted-proxy", arg: "CIDR", multi: "list", help: "Address range of a TLS-terminating front end (nginx, Apache) allowed to send identity headers to --proxy-listen. Repeatable." },
  {
    key: "metrics-allow",
    arg: "CIDR",
    multi: "list",
    help: "Address range that may read /metrics without a certificate (admins may with theirs). Repeatable. Default: 127.0.0.1 and ::1.",
  },
  {
    key: "metrics-dn",
    arg: "DN",
    multi: "lines",
    help: "Certificate DN (e.g. a Prometheus scraper's, /C=CA/O=Grid/CN=prometheus) that may read /metrics from any address, registered as a user or not. Repeatable.",
  },
  { key: "proxy-listen", arg: "HOST:PORT", help: "Plain-HTTP listener for trusted front ends; requests from other addresses are anonymous." },
  {
    key: "front-end-headers",
    arg: "STYLE",
    default: "repoman",
    choices: ["repoman", "apache", "nginx", "chain"],
    help: "Which identity headers a trusted front end sends: repoman (X-Repoman-Ssl-Client-Verify, X-Repoman-Ssl-Client-S-Dn), apache (SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN) or nginx (X-SSL-Client-Verify, X-SSL-Client-S-DN), each a DN the front end verified; or chain (X-Repoman-Ssl-Client-Cert and X-Repoman-Ssl-Client-Cert-Chain-0..9, PEM), the certificates the client presented, which repoman-server validates itself as on its HTTPS listener. Only these are read.",
  },
  { key: "http-listen", arg: "HOST:PORT", help: "Plain-HTTP listener that serves only downloads of images marked for unauthenticated access." },
  { key: "http-public-url", arg: "URL", help: "Base URL of that listener in http_file_url links. Default: http://REQUEST_HOST:PORT." },
  { key: "public-url", arg: "URL", help: "Base URL used in links in responses, e.g. https://repo.example.org. Default: from the request's Host header." },
  {
    key: "config",
    arg: "FILE",
    help: "Read options from FILE: `key = value` lines with these names, # comments, repeatable keys repeated. Default: /etc/repoman/repoman-server.conf when it exists.",
  },
] as const;

export type RawConfig = Map<string, string[]>;

export class ConfigError extends Error {}

const spec = (key: string) => OPTIONS.find((o) => o.key === key);

export function parseConfigFile(text: string, source: string): RawConfig {
  const out: RawConfig = new Map();
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const m = /^([a-z-]+)\s*=\s*(.*)$/.exec(t);
    if (!m) throw new ConfigError(`${source}:${i + 1}: expected "key = value"`);
    const [, key, value] = m as unknown as [string, string, string];
    const s = spec(key);
    if (!s || key === "config") throw new ConfigError(`${source}:${i + 1}: unknown option "${key}"`);
    out.set(key, s.multi ? [...(out.get(key) ?? []), value] : [value]);
  });
  return out;
}

export function envConfig(env: NodeJS.ProcessEnv): RawConfig {
  const out: RawConfig = new Map();
  for (const s of OPTIONS) {
    const v = env[`REPOMAN_${s.key.toUpperCase().replace(/-/g, "_")}`];
    if (v === undefined || v === "") continue;
    const values = s.multi === "lines" ? v.split(/\r?\n/) : s.multi === "list" ? v.split(/[\s,]+/) : [v];
    out.set(s.key, values.map((x) => x.trim()).filter(Boolean));
  }
  return out;
}

export function parseFlags(argv: readonly string[]): { flags: RawConfig; positional: string[]; help: boolean; version: boolean } {
  const flags: RawConfig = new Map();
  const positional: string[] = [];
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    if (a === "--version") {
      version = true;
      continue;
    }
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const key = a.slice(2, eq === -1 ? undefined : eq);
    const s = spec(key);
    if (!s) throw new ConfigError(`unknown option --${key} (see repoman-server --help)`);
    let value: string;
    if (eq !== -1) value = a.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new ConfigError(`--${key} needs a value`);
    flags.set(key, s.multi ? [...(flags.get(key) ?? []), value] : [value]);
  }
  return { flags, positional, help, version };
}

// File < environment < flags. A repeatable option takes all its values from the strongest source
// that sets it, so a flag can replace the file's list rather than only add to it.
export function mergeConfig(...layers: RawConfig[]): RawConfig {
  const out: RawConfig = new Map();
  for (const layer of layers) for (const [k, v] of layer) out.set(k, v);
  for (const s of OPTIONS) if (!out.has(s.key) && s.default !== undefined) out.set(s.key, [s.default]);
  for (const [k, v] of out) {
    const s = spec(k)!;
    for (const value of v) {
      if (s.choices && !s.choices.includes(value)) throw new ConfigError(`${k}: "${value}" is not one of ${s.choices.join(", ")}`);
    }
  }
  return out;
}

// Read when neither --config nor REPOMAN_CONFIG names a file, if it exists: an installed server
// (packages, the systemd unit, the container) is configured there without a flag.
export const DEFAULT_CONFIG_FILE = "/etc/repoman/repoman-server.conf";

export interface LoadedConfig {
  config: RawConfig;
  configFile: string | undefined; // the file that was read, if any
  positional: string[];
  help: boolean;
  version: boolean;
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, defaultFile = DEFAULT_CONFIG_FILE): LoadedConfig {
  const { flags, positional, help, version } = parseFlags(argv);
  const envLayer = envConfig(env);
  const file = flags.get("config")?.[0] ?? envLayer.get("config")?.[0] ?? (existsSync(defaultFile) ? defaultFile : undefined);
  let fileLayer: RawConfig = new Map();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    fileLayer = parseConfigFile(text, file);
  }
  return { config: mergeConfig(fileLayer, envLayer, flags), configFile: file, positional, help, version };
}

export function helpText(): string {
  const lines = [
    "Usage: repoman-server [serve] [options]",
    "       repoman-server dev-user NAME [--dn DN] [options]",
    "       repoman-server audit [--user NAME] [--action ACTION] [--target TARGET] [--since WHEN] [--until WHEN] [--limit N] [--json] [options]",
    "       repoman-server backup --to DIR [options]",
    "       repoman-server restore --from DIR [options]",
    "       repoman-server --version",
    "",
    "Runs the Repoman image repository: an HTTPS server with X.509 and grid-proxy client-certificate login.",
    "dev-user issues a certificate for NAME from the development CA that the first start without --host-cert",
    "makes (DN: --dn, default /O=Repoman Development/CN=NAME), registers NAME with it in the database of",
    "--data-dir/--database, and prints the client configuration and commands that use it.",
    "audit prints the audit log of the database of --data-dir/--database, newest first: every change, who made",
    "it, when, from where, and the values before and after. --action takes an action (image.modify) or a prefix",
    "ending in '.' (image.); WHEN is an ISO 8601 time or an age such as 30m, 12h or 7d; --limit defaults to 100;",
    "--json prints one JSON object per event.",
    "backup copies the SQLite database (online, while servers run) and the image files it names into the",
    "new or empty DIR, with a manifest of their sizes and SHA-256; restore puts such a backup into an empty",
    "--data-dir (or new --database and --storage). With PostgreSQL, see docs/deploy/backup.md instead.",
    "Every option can also be set in a --config file (key = value) or as REPOMAN_<KEY> in the environment",
    "(e.g. REPOMAN_DATA_DIR); flags override the environment, which overrides the file.",
    "",
    "Options:",
  ];
  for (const o of OPTIONS) {
    lines.push(`  --${o.key}${o.arg ? " " + o.arg : ""}`);
    lines.push(`      ${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ""}`);
  }
  lines.push("  -h, --help", "      Show this help.", "  --version", "      Print the version and exit.");
  return lines.join("\n");
}

export function exampleConfigFile(): string {
  const lines = ["# repoman-server configuration. Every option, commented out at its default.", "# Repeatable options may appear on several lines.", ""];
  for (const o of OPTIONS) {
    if (o.key === "config") continue;
    lines.push(`# ${o.help}`);
    lines.push(`#${o.key} = ${o.default ?? ""}`.trimEnd(), "");
  }
  return lines.join("\n");
}

export const one = (c: RawConfig, key: string): string | undefined => c.get(key)?.[0];
export const many = (c: RawConfig, key: string): string[] => c.get(key) ?? [];

// "name,email,DN": DNs may contain commas, so only the first two separate fields.
export function parseAdminLine(line: string, source: string): { userName: string; email: string; dn: string } {
  const first = line.indexOf(",");
  const second = first === -1 ? -1 : line.indexOf(",", first + 1);
  if (second === -1) throw new ConfigError(`${source}: expected "user_name,email,DN", got "${line}"`);
  return { userName: line.slice(0, first).trim(), email: line.slice(first + 1, second).trim(), dn: line.slice(second + 1).trim() };
}

