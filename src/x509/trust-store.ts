// The trusted CAs and their CRLs, read from an X509_CERT_DIR-style directory (IGTF bundle plus
// fetch-crl output), and a watcher that reloads it when the directory changes.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { isSignedBy, readCertificate, type Certificate } from "./certificate.js";
import { Crl } from "./crl.js";
import { nameToOneline } from "./dn.js";
import { readCertificates, readCrlDers } from "./pem.js";

const CA_FILE = /^[0-9a-f]{8}\.\d+$/i;
const CRL_FILE = /^[0-9a-f]{8}\.r\d+$/i;

export class TrustStoreError extends Error {
  override readonly name = "TrustStoreError";
}

let lastGeneration = 0;

export class TrustStore {
  /** Increases with every load, in this process: results cached against an older store are stale. */
  readonly generation = ++lastGeneration;
  private readonly casByName = new Map<string, Certificate[]>();
  private readonly crlsByIssuer = new Map<string, Crl[]>();
  private readonly anchors = new Set<Certificate>();

  /** Each CRL in use, by its issuer (OpenSSL one-line form), for monitoring. */
  crls(): { issuer: string; thisUpdate: Date; nextUpdate: Date | undefined }[] {
    return [...this.crlsByIssuer.values()].flat().map((c) => ({ issuer: nameToOneline(c.issuer.der), thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate }));
  }

  private constructor(
    readonly dir: string,
    readonly cas: readonly Certificate[],
    crls: readonly Crl[],
    readonly warnings: string[],
  ) {
    for (const ca of cas) {
      pushTo(this.casByName, ca.subject.key, ca);
      if (ca.subject.key === ca.issuer.key && isSignedBy(ca, ca)) this.anchors.add(ca);
    }
    for (const crl of crls) {
      const issuers = this.casNamed(crl.issuer.key);
      const where = nameToOneline(crl.issuer.der);
      if (issuers.length === 0) {
        // kept: it may belong to an intermediate CA that clients send themselves
        warnings.push(`CRL for ${where}: no CA certificate with that name in the store`);
      } else if (!issuers.some((ca) => crl.isIssuedBy(ca))) {
        warnings.push(`CRL for ${where}: signature does not verify with that CA's key (algorithm ${crl.signatureAlgorithm ?? "mismatched"}); ignored`);
        continue;
      }
      pushTo(this.crlsByIssuer, crl.issuer.key, crl);
    }
  }

  /**
   * Reads `<hash>.N` CA certificates (PEM or DER) and `<hash>.rN` CRLs; other files
   * (.signing_policy, .namespaces, READMEs) are ignored. The old-hash symlinks IGTF ships point at
   * the same content and are loaded once. A file that cannot be used is skipped with a warning;
   * an unreadable directory, or one without any CA, throws TrustStoreError.
   */
  static load(dir: string): TrustStore {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      throw new TrustStoreError(`cannot read trust store ${dir}: ${(e as Error).message}`);
    }
    const warnings: string[] = [];
    const cas = new Map<string, Certificate>();
    const crls = new Map<string, Crl>();
    for (const name of names) {
      const isCrl = CRL_FILE.test(name);
      if (!isCrl && !CA_FILE.test(name)) continue;
      const path = join(dir, name);
      try {
        if (!statSync(path).isFile()) continue;
        const data = readFileSync(path);
        if (isCrl) {
          for (const der of readCrlDers(data)) {
            const crl = Crl.parse(der);
            if (crl.criticalExtensions.length > 0) {
              warnings.push(`${name}: CRL has unsupported critical extensions ${crl.criticalExtensions.join(", ")}; ignored`);
            } else {
              crls.set(createHash("sha256").update(der).digest("hex"), crl);
            }
          }
        } else {
          for (const x509 of readCertificates(data)) {
            const cert = readCertificate(x509);
            if (cert.basicConstraints?.ca) cas.set(cert.fingerprint256, cert);
            else warnings.push(`${name}: ${nameToOneline(cert.subject.der)} is not a CA certificate; ignored`);
          }
        }
      } catch (e) {
        warnings.push(`${name}: ${(e as Error).message}; skipped`);
      }
    }
    if (cas.size === 0) throw new TrustStoreError(`no usable CA certificate in ${dir}`);
    return new TrustStore(dir, [...cas.values()], [...crls.values()], warnings);
  }

  /** All CA certificates as PEM, for the TLS `ca` option (the CA names in CertificateRequest). */
  caPem(): string {
    return this.cas.map((ca) => ca.x509.toString()).join("");
  }

  /** Trusted CAs whose subject has this canonical key (several when a CA was re-keyed). */
  casNamed(nameKey: string): readonly Certificate[] {
    return this.casByName.get(nameKey) ?? [];
  }

  /** A self-signed CA of this store: where every path must end. */
  isAnchor(cert: Certificate): boolean {
    return this.anchors.has(cert);
  }

  /** CRLs whose signature `ca`'s key verifies. */
  crlsIssuedBy(ca: Certificate): Crl[] {
    return (this.crlsByIssuer.get(ca.subject.key) ?? []).filter((crl) => crl.isIssuedBy(ca));
  }
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export interface WatchOptions {
  /** Quiet time after the last change event before reloading (fetch-crl writes many files). */
  debounceMs?: number;
  /** Interval of the mtime poll that catches what fs.watch misses (NFS, some containers). */
  pollMs?: number;
  /** Called when a reload fails; the caller keeps its old store and the next poll retries. */
  onError?: (error: Error) => void;
}

/**
 * Calls `onReload` with a fresh store whenever the directory's files change. Start it right after
 * the initial TrustStore.load(). Timers are unref'd: the watcher never keeps the process alive.
 */
export function watchTrustStore(dir: string, onReload: (store: TrustStore) => void, options: WatchOptions = {}): { close(): void } {
  const { debounceMs = 500, pollMs = 60_000, onError } = options;
  let loaded = snapshot(dir);
  let pending: NodeJS.Timeout | undefined;

  const reloadIfChanged = (): void => {
    pending = undefined;
    const current = snapshot(dir);
    if (current === loaded) return;
    let store: TrustStore;
    try {
      store = TrustStore.load(dir);
    } catch (e) {
      onError?.(e as Error);
      return;
    }
    loaded = current;
    onReload(store);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(pending);
      pending = setTimeout(reloadIfChanged, debounceMs).unref();
    });
    watcher.on("error", () => watcher?.close()); // e.g. the directory was replaced; the poll carries on
  } catch {
    // fs.watch is unsupported here; the poll alone will do
  }
  const poll = setInterval(reloadIfChanged, pollMs).unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(pending);
    },
  };
}

/** Names, sizes and mtimes of the files a load reads (following symlinks); "" if unreadable. */
function snapshot(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((name) => CA_FILE.test(name) || CRL_FILE.test(name))
      .sort()
      .map((name) => {
        try {
          const s = statSync(join(dir, name));
          return `${name}:${s.size}:${s.mtimeMs}:${s.ino}`;
        } catch {
          return `${name}:missing`;
        }
      })
      .join("\n");
  } catch {
    return "";
  }
}
