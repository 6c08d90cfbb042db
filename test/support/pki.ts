// The fixture PKI (test/fixtures/make-pki.sh) for tests: generated once under test-output/pki and
// reused while it is fresh, plus a reader for its expected.tsv contract.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ProxyKind } from "../../src/x509/validate.js";

const SCRIPT = "test/fixtures/make-pki.sh";
// Proxies live 3 days and the "not yet valid" CRL variant starts in 2: regenerate well before.
const MAX_AGE_MS = 24 * 3600_000;

function findRepoRoot(): string {
  // this file runs from dist/test/support/, its source sits in test/support/
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, SCRIPT))) return dir;
  }
  throw new Error(`cannot find ${SCRIPT} above ${fileURLToPath(import.meta.url)}`);
}

interface Stamp {
  scriptSha256: string;
  createdAt: number;
}

function isFresh(dir: string, scriptSha256: string): boolean {
  if (!existsSync(join(dir, ".complete"))) return false;
  try {
    const stamp = JSON.parse(readFileSync(join(dir, ".stamp.json"), "utf8")) as Stamp;
    return stamp.scriptSha256 === scriptSha256 && Date.now() - stamp.createdAt < MAX_AGE_MS;
  } catch {
    return false;
  }
}

let pending: Promise<string> | undefined;

/**
 * Absolute path of the fixture PKI (<repo>/test-output/pki), generated when missing, incomplete,
 * made by another version of the script, or older than a day. Generation happens in a scratch
 * directory that is renamed into place, so a half-written PKI is never visible.
 */
export function fixturePki(): Promise<string> {
  pending ??= (async () => {
    const root = findRepoRoot();
    const script = join(root, SCRIPT);
    const outDir = join(root, "test-output", "pki");
    const scriptSha256 = createHash("sha256").update(readFileSync(script)).digest("hex");
    if (isFresh(outDir, scriptSha256)) return outDir;

    const scratch = `${outDir}.tmp-${process.pid}`;
    mkdirSync(dirname(outDir), { recursive: true });
    try {
      await promisify(execFile)("bash", [script, scratch], { timeout: 120_000, maxBuffer: 16 << 20 });
    } catch (e) {
      rmSync(scratch, { recursive: true, force: true });
      const err = e as { stderr?: string; message: string };
      throw new Error(`${SCRIPT} failed: ${err.stderr || err.message}`);
    }
    const stamp: Stamp = { scriptSha256, createdAt: Date.now() };
    writeFileSync(join(scratch, ".stamp.json"), JSON.stringify(stamp));
    rmSync(outDir, { recursive: true, force: true });
    try {
      renameSync(scratch, outDir);
    } catch (e) {
      // another process won the race; its PKI is as good as ours
      rmSync(scratch, { recursive: true, force: true });
      if (!isFresh(outDir, scriptSha256)) throw e;
    }
    return outDir;
  })();
  return pending;
}

/** One line of expected.tsv; structurally also a { cert, key } client credential. */
export interface Credential {
  name: string;
  /** Absolute paths. */
  cert: string;
  key: string;
  outcome: "accept" | "reject";
  /** The expected identity (accept) or GridAuthError code (reject). */
  identityOrCode: string;
  limited: boolean;
  proxyKind: ProxyKind;
  /** False when curl's OpenSSL refuses to load it as a client certificate. */
  sendable: boolean;
}

const HEADER = "name\tcert\tkey\toutcome\tidentity_or_code\tlimited\tproxy_kind\tsendable";
const PROXY_KINDS: readonly string[] = ["none", "rfc", "draft", "legacy"];

export function expectedCredentials(dir: string): Credential[] {
  const [header, ...lines] = readFileSync(join(dir, "expected.tsv"), "utf8").split("\n").filter((l) => l !== "");
  if (header !== HEADER) throw new Error(`expected.tsv: unexpected header ${JSON.stringify(header)}`);
  return lines.map((line, i) => {
    const fields = line.split("\t");
    const [name, cert, key, outcome, identityOrCode, limited, proxyKind, sendable] = fields;
    const yesNo = (v: string | undefined) => (v === "yes" ? true : v === "no" ? false : undefined);
    if (
      fields.length !== 8 ||
      !name ||
      !cert ||
      !key ||
      (outcome !== "accept" && outcome !== "reject") ||
      !identityOrCode ||
      yesNo(limited) === undefined ||
      !PROXY_KINDS.includes(proxyKind!) ||
      yesNo(sendable) === undefined
    ) {
      throw new Error(`expected.tsv line ${i + 2} is malformed: ${JSON.stringify(line)}`);
    }
    return {
      name,
      cert: resolve(dir, cert),
      key: resolve(dir, key),
      outcome,
      identityOrCode,
      limited: yesNo(limited)!,
      proxyKind: proxyKind as ProxyKind,
      sendable: yesNo(sendable)!,
    };
  });
}
