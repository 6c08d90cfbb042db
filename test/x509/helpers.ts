// Shared by the x509 tests: loading fixture files, running openssl, scratch copies of the trust store.
import { execFileSync } from "node:child_process";
import type { X509Certificate } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCertificates } from "../../src/x509/pem.js";
import { GridAuthError } from "../../src/x509/validate.js";

export function loadChain(file: string): X509Certificate[] {
  return readCertificates(readFileSync(file));
}

export function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The subject-hash file name stem of a fixture CA ("root", "sub"). */
export function caHash(pki: string, ca: string): string {
  return run("openssl", ["x509", "-noout", "-subject_hash", "-in", join(pki, "ca", ca, "cert.pem")]).trim();
}

const scratchDirs: string[] = [];
process.on("exit", () => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A temporary directory, removed when the test process exits. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "repoman-x509-"));
  scratchDirs.push(dir);
  return dir;
}

/** A scratch copy of the fixture's X509_CERT_DIR (symlinks kept as they are). */
export function copyTrustStore(pki: string): string {
  const dir = scratchDir();
  cpSync(join(pki, "certificates"), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** The GridAuthError code `fn` throws; fails if it throws something else or nothing. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof GridAuthError) return e.code;
    throw e;
  }
  throw new Error("expected a GridAuthError, nothing was thrown");
}
