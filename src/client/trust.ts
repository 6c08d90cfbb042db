// Which certificate authorities the client trusts to vouch for the server: [Security] ca_file /
// ca_dir when the configuration sets them, else $X509_CERT_DIR, else /etc/grid-security/certificates,
// else the system's CAs. A configuration that names a server's CA says more about that server than
// a host-wide grid CA directory does: `repoman-server`'s development configuration names its own CA,
// and must work on a host whose grid CA directory knows nothing of it.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ClientConfig, Environment } from "./config.js";
import { ClientError } from "./errors.js";

export const GRID_CERT_DIR = "/etc/grid-security/certificates";

export interface Trust {
  source: string; // where the CAs came from, for messages
  ca?: string[]; // undefined: Node's bundled and system CAs
  insecure: boolean;
}

const CA_FILE_NAME = /^[0-9a-f]{8}\.\d+$/;

function caDirCertificates(dir: string, origin: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new ClientError(`cannot read the trusted CA directory ${dir} (${origin})`, (e as Error).message);
  }
  const pems = names.filter((n) => CA_FILE_NAME.test(n)).map((n) => readFileSync(join(dir, n), "utf8"));
  if (pems.length === 0) throw new ClientError(`no CA certificates (<hash>.0 files) in ${dir} (${origin})`);
  return pems;
}

function caFile(file: string): string[] {
  try {
    return [readFileSync(file, "utf8")];
  } catch (e) {
    throw new ClientError(`cannot read the trusted CA file ${file} ([Security] ca_file)`, (e as Error).message);
  }
}

export function loadTrust(config: ClientConfig, e: Environment, insecure: boolean, gridCertDir = GRID_CERT_DIR): Trust {
  if (insecure) return { source: "nothing (--insecure)", insecure };
  const dir = config.get("Security", "ca_dir");
  const file = config.get("Security", "ca_file");
  if (dir || file) {
    const ca = [...(dir ? caDirCertificates(dir, "[Security] ca_dir") : []), ...(file ? caFile(file) : [])];
    return { source: [dir && `[Security] ca_dir (${dir})`, file && `[Security] ca_file (${file})`].filter(Boolean).join(" and "), ca, insecure };
  }
  const envDir = e.env.X509_CERT_DIR;
  if (envDir) return { source: `$X509_CERT_DIR (${envDir})`, ca: caDirCertificates(envDir, "$X509_CERT_DIR"), insecure };
  if (existsSync(gridCertDir) && statSync(gridCertDir).isDirectory()) return { source: gridCertDir, ca: caDirCertificates(gridCertDir, gridCertDir), insecure };
  return { source: "the system's certificate authorities", insecure };
}
