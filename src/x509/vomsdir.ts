// The VOMS trust anchors in the /etc/grid-security/vomsdir layout, read once into memory:
//   vomsdir/<vo>/<host>.lsc   the DNs of the chain of the VOMS server <host> that signs for <vo>
//                             (its subject, then its issuer's, and so on), one per line; a line
//                             starting with "-" separates alternative chains, "#" starts a comment
//   vomsdir/<vo>/<any file>   a VOMS server certificate itself (PEM or DER)
// Lookups never touch the file system: the VO and host names come from the AC being checked.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readCertificate, type Certificate } from "./certificate.js";
import { canonicalDn } from "./dn.js";
import { readCertificates } from "./pem.js";

export const DEFAULT_VOMSDIR = "/etc/grid-security/vomsdir";

interface VoEntry {
  /** host → alternative chains, each a list of canonical DN keys (server first). */
  readonly lsc: Map<string, string[][]>;
  readonly certs: Certificate[];
}

let lastGeneration = 0;

export class VomsDir {
  /** Increases with every load in this process: verdicts cached against an older one are stale. */
  readonly generation = ++lastGeneration;

  private constructor(
    readonly dir: string,
    private readonly vos: ReadonlyMap<string, VoEntry>,
    readonly warnings: string[],
  ) {}

  /** Reads every VO directory. A missing vomsdir is an empty one (no VO is trusted), with a warning. */
  static load(dir: string): VomsDir {
    const warnings: string[] = [];
    const vos = new Map<string, VoEntry>();
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      warnings.push(`cannot read vomsdir ${dir}: ${(e as Error).message}; no VOMS attributes will be accepted`);
      return new VomsDir(dir, vos, warnings);
    }
    for (const vo of names) {
      const voDir = join(dir, vo);
      if (!isDirectory(voDir)) continue;
      const entry: VoEntry = { lsc: new Map(), certs: [] };
      for (const file of readdirSync(voDir).sort()) {
        const path = join(voDir, file);
        try {
          if (!statSync(path).isFile()) continue;
          if (file.endsWith(".lsc")) {
            const chains = parseLsc(readFileSync(path, "utf8"));
            if (chains.length === 0) warnings.push(`${vo}/${file}: no DN lines; ignored`);
            else entry.lsc.set(file.slice(0, -".lsc".length).toLowerCase(), chains);
          } else {
            entry.certs.push(...readCertificates(readFileSync(path)).map(readCertificate));
          }
        } catch (e) {
          warnings.push(`${vo}/${file}: ${(e as Error).message}; skipped`);
        }
      }
      vos.set(vo, entry);
    }
    return new VomsDir(dir, vos, warnings);
  }

  hasVo(vo: string): boolean {
    return this.vos.has(vo);
  }

  /** The chains an .lsc file allows for this VO's server `host` (canonical DN keys, server first). */
  lscChains(vo: string, host: string): readonly (readonly string[])[] | undefined {
    return this.vos.get(vo)?.lsc.get(host.toLowerCase());
  }

  /** VOMS server certificates placed in this VO's directory. */
  certificates(vo: string): readonly Certificate[] {
    return this.vos.get(vo)?.certs ?? [];
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// DNs as VOMS writes them (OpenSSL one-line form); a malformed line makes the whole file unusable
// rather than quietly describing a shorter chain.
export function parseLsc(text: string): string[][] {
  const chains: string[][] = [[]];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("-")) {
      chains.push([]);
      continue;
    }
    chains[chains.length - 1]!.push(canonicalDn(line));
  }
  return chains.filter((c) => c.length > 0);
}

/** Names, sizes and mtimes of everything under the vomsdir: a reload is due when this changes. */
export function vomsDirSnapshot(dir: string): string {
  const parts: string[] = [];
  try {
    for (const vo of readdirSync(dir).sort()) {
      const voDir = join(dir, vo);
      if (!isDirectory(voDir)) continue;
      for (const file of readdirSync(voDir).sort()) {
        try {
          const s = statSync(join(voDir, file));
          parts.push(`${vo}/${file}:${s.size}:${s.mtimeMs}:${s.ino}`);
        } catch {
          parts.push(`${vo}/${file}:missing`);
        }
      }
    }
  } catch {
    return "";
  }
  return parts.join("\n");
}
