// The client's configuration: INI files read in the original's order (system, then
// $REPOMAN_CLIENT_CONFIG, then the user's own), later files overriding earlier ones. One table of
// keys gives the defaults, the reader and the `make-config` template.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { ClientConfigError } from "./errors.js";

export const SYSTEM_CONFIG = "/etc/repoman/repoman.conf";

export interface Environment {
  env: NodeJS.ProcessEnv;
  uid: number;
  home: string;
}

export function currentEnvironment(): Environment {
  const env = process.env;
  // Under sudo, the credential and configuration of the user who ran sudo, as the original did.
  const sudoUid = env.SUDO_UID && /^\d+$/.test(env.SUDO_UID) ? Number(env.SUDO_UID) : undefined;
  const home = (env.SUDO_USER && homeOf(env.SUDO_USER)) || env.HOME || homedir();
  return { env, uid: sudoUid ?? process.getuid?.() ?? 0, home };
}

function homeOf(user: string): string | undefined {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.split(":")[0] === user);
    return line?.split(":")[5] || undefined;
  } catch {
    return undefined;
  }
}

interface KeySpec {
  section: string;
  key: string;
  help: string;
  default: (e: Environment) => string;
  // Read only from the system file: a user must not be able to widen it.
  systemOnly?: boolean;
}

export const CONFIG_KEYS: readonly KeySpec[] = [
  { section: "Repository", key: "repository", help: "Host name of the Repoman server (required unless -r is given). host:port also works.", default: () => "" },
  { section: "Repository", key: "port", help: "HTTPS port of the server.", default: () => "443" },
  { section: "User", key: "proxy_cert", help: "Grid proxy (certificate and key in one PEM file). Without one, ~/.globus/usercert.pem and userkey.pem are used.", default: (e) => e.env.X509_USER_PROXY || `/tmp/x509up_u${e.uid}` },
  { section: "Security", key: "ca_dir", help: "Directory of trusted CA certificates (<hash>.0) for checking the server. When ca_dir or ca_file is set, they are used instead of $X509_CERT_DIR and /etc/grid-security/certificates.", default: () => "" },
  { section: "Security", key: "ca_file", help: "PEM file of trusted CA certificates for checking the server, as ca_dir (both may be set).", default: () => "" },
  { section: "Security", key: "restricted_path", help: "PATH for the programs save-image runs (only read from /etc/repoman/repoman.conf).", default: () => "/bin:/usr/bin:/usr/local/bin:/sbin:/usr/sbin:/usr/local/sbin", systemOnly: true },
  { section: "Logger", key: "enabled", help: "Log each command and its outcome to a file.", default: () => "true" },
  { section: "Logger", key: "dir", help: "Directory of the log file repoman-client.log (rotated daily, 10 kept).", default: (e) => join(e.home, ".repoman", "logs") },
  { section: "Logger", key: "level", help: "DEBUG, INFO, WARNING, ERROR or CRITICAL.", default: () => "INFO" },
  { section: "ThisImage", key: "snapshot_dir", help: "Where save-image works; the next three are relative to it.", default: () => "/tmp" },
  { section: "ThisImage", key: "lockfile", help: "Lock file that keeps two save-image runs apart.", default: () => "repoman-sync.lock" },
  { section: "ThisImage", key: "snapshot", help: "The image file save-image builds.", default: () => "repoman-fscopy.img" },
  { section: "ThisImage", key: "mountpoint", help: "The staging directory save-image copies the system into (kept between runs, so later runs copy only changes).", default: () => "repoman-fscopy" },
  { section: "ThisImage", key: "system_excludes", help: "Space-separated rsync patterns left out of snapshots, relative to the source ('/tmp/*' keeps /tmp but not its contents).", default: () => "/dev/* /mnt/* /proc/* /root/.ssh /sys/* /tmp/*" },
  { section: "ThisImage", key: "user_excludes", help: "More patterns left out of snapshots.", default: () => "" },
];

export type Ini = Map<string, Map<string, string>>;

// Python ConfigParser's syntax: [Section], `key = value` or `key: value`, # and ; comments,
// indented continuation lines; keys are case-insensitive.
export function parseIni(text: string, source: string): Ini {
  const out: Ini = new Map();
  let section: Map<string, string> | undefined;
  let lastKey: string | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^\s*([#;]|$)/.test(line)) return;
    if (/^\s/.test(line) && section && lastKey !== undefined) {
      section.set(lastKey, `${section.get(lastKey)}\n${line.trim()}`.trim());
      return;
    }
    const head = /^\[([^\]]+)\]\s*$/.exec(line);
    if (head) {
      const name = head[1]!.trim();
      section = out.get(name) ?? new Map();
      out.set(name, section);
      lastKey = undefined;
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!kv) throw new ClientConfigError(`${source}, line ${i + 1}: expected "key = value"`, line);
    if (!section) throw new ClientConfigError(`${source}, line ${i + 1}: "${kv[1]}" is outside any [Section]`);
    lastKey = kv[1]!.toLowerCase();
    section.set(lastKey, kv[2]!.trim());
  });
  return out;
}

export interface ClientConfig {
  files: string[]; // the files that were read, in order
  get(section: string, key: string): string;
  repository?: string;
  port: number;
  proxyCert: string; // as configured, or the default
  proxyCertConfigured: boolean; // set in a file or by $X509_USER_PROXY, not just the /tmp default
}

export function userConfigPath(e: Environment): string {
  return join(e.home, ".repoman", "repoman.conf");
}

export function configFiles(e: Environment): string[] {
  const files = [SYSTEM_CONFIG];
  // Unlike the original, an unset variable is not tried as a file name.
  if (e.env.REPOMAN_CLIENT_CONFIG) files.push(e.env.REPOMAN_CLIENT_CONFIG);
  files.push(userConfigPath(e));
  return files;
}

export function loadClientConfig(e: Environment, files = configFiles(e)): ClientConfig {
  const read: string[] = [];
  const values = new Map<string, string>();
  const id = (section: string, key: string) => `${section.toLowerCase()}.${key.toLowerCase()}`;
  for (const file of files) {
    if (!existsSync(file)) {
      if (file === e.env.REPOMAN_CLIENT_CONFIG) throw new ClientConfigError(`$REPOMAN_CLIENT_CONFIG names ${file}, which does not exist`);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ClientConfigError(`cannot read ${file}`, (err as Error).message);
    }
    read.push(file);
    for (const [section, entries] of parseIni(text, file)) {
      for (const [key, value] of entries) {
        const spec = CONFIG_KEYS.find((k) => id(k.section, k.key) === id(section, key));
        if (spec?.systemOnly && file !== SYSTEM_CONFIG) continue;
        values.set(id(section, key), value);
      }
    }
  }
  const get = (section: string, key: string): string => {
    const v = values.get(id(section, key));
    if (v !== undefined && v !== "") return v;
    const spec = CONFIG_KEYS.find((k) => id(k.section, k.key) === id(section, key));
    return spec ? spec.default(e) : "";
  };
  const portText = get("Repository", "port");
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw new ClientConfigError(`[Repository] port: "${portText}" is not a port number`);
  const repository = get("Repository", "repository") || undefined;
  const proxyConfigured = values.get(id("User", "proxy_cert"));
  return {
    files: read,
    get,
    repository,
    port: Number(portText),
    proxyCert: get("User", "proxy_cert"),
    proxyCertConfigured: !!proxyConfigured || !!e.env.X509_USER_PROXY,
  };
}

// Paths in [ThisImage] are relative to snapshot_dir, as in the original.
export function snapshotPath(c: ClientConfig, key: "lockfile" | "snapshot" | "mountpoint"): string {
  const p = c.get("ThisImage", key);
  return isAbsolute(p) ? p : join(c.get("ThisImage", "snapshot_dir"), p);
}

export function configTemplate(e: Environment): string {
  const lines = [
    "# Repoman client configuration (`repoman make-config`).",
    "# Read in order, later files overriding earlier ones: /etc/repoman/repoman.conf,",
    "# the file named by $REPOMAN_CLIENT_CONFIG, ~/.repoman/repoman.conf.",
    "# Every key is commented out at its default; at least set `repository` (or pass -r).",
  ];
  let section = "";
  for (const k of CONFIG_KEYS) {
    if (k.section !== section) {
      section = k.section;
      lines.push("", `[${section}]`);
    }
    lines.push(`# ${k.help}`, `#${k.key} = ${k.default(e)}`.trimEnd());
  }
  return lines.join("\n") + "\n";
}
