// Which credential the client logs in with, loaded and checked before any connection, so that a
// missing, unreadable or expired one is reported by file name with what to do about it.
// Order: -P, [User] proxy_cert, $X509_USER_PROXY, /tmp/x509up_u<uid>; then the long-lived
// certificate ~/.globus/usercert.pem + userkey.pem ($X509_USER_CERT, $X509_USER_KEY).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ClientConfig, Environment } from "./config.js";
import { ClientError } from "./errors.js";

export interface Credential {
  kind: "proxy" | "certificate";
  certFile: string;
  keyFile: string;
  cert: string; // PEM: the certificate and the chain behind it
  key: string; // PEM, unencrypted
  subject: string;
  notAfter: Date;
}

// Asked for the passphrase of an encrypted key; undefined when nobody can answer.
export type PassphraseSource = (keyFile: string) => Promise<string | undefined>;

const PROXY_HINT = "Run grid-proxy-init (or voms-proxy-init) to make a new proxy, or name one with -P FILE.";

function readPem(file: string, what: string, hint: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ClientError(`${what} not found: ${file}`, hint);
    if (code === "EACCES") throw new ClientError(`${what} is not readable: ${file}`, `Check its owner and permissions (it should be yours, mode 600). ${hint}`);
    throw new ClientError(`cannot read ${what.toLowerCase()} ${file}`, (e as Error).message);
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

async function loadKey(pem: string, keyFile: string, askPassphrase: PassphraseSource, hint: string): Promise<string> {
  const block = KEY_BLOCK.exec(pem)?.[0];
  if (!block) throw new ClientError(`no private key in ${keyFile}`, hint);
  if (!/ENCRYPTED/.test(block)) return block;
  const passphrase = await askPassphrase(keyFile);
  if (passphrase === undefined) throw new ClientError(`${keyFile} is encrypted and no passphrase could be asked for`, "Run repoman from a terminal, or make a proxy with grid-proxy-init and use that.");
  try {
    return createPrivateKey({ key: block, format: "pem", passphrase }).export({ type: "pkcs8", format: "pem" }).toString();
  } catch {
    throw new ClientError(`wrong passphrase for ${keyFile}`);
  }
}

function checkValidity(certPem: string, file: string, what: string, hint: string, now: Date): { subject: string; notAfter: Date } {
  const first = certPem.match(CERT_BLOCK)?.[0];
  if (!first) throw new ClientError(`no certificate in ${file}`, hint);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch (e) {
    throw new ClientError(`the certificate in ${file} cannot be read`, (e as Error).message);
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter <= now) throw new ClientError(`${what} ${file} expired on ${notAfter.toUTCString()}`, hint);
  if (notBefore > now) throw new ClientError(`${what} ${file} is not valid before ${notBefore.toUTCString()}`, "Check this computer's clock.");
  return { subject: `/${cert.subject.split("\n").join("/")}`, notAfter };
}

async function loadProxy(file: string, askPassphrase: PassphraseSource, now: Date): Promise<Credential> {
  const pem = readPem(file, "Certificate proxy", PROXY_HINT);
  const { subject, notAfter } = checkValidity(pem, file, "Your certificate proxy", PROXY_HINT, now);
  const key = await loadKey(pem, file, askPassphrase, PROXY_HINT);
  return { kind: "proxy", certFile: file, keyFile: file, cert: (pem.match(CERT_BLOCK) ?? []).join("\n") + "\n", key, subject, notAfter };
}

async function loadCertificate(certFile: string, keyFile: string, askPassphrase: PassphraseSource, now: Date): Promise<Credential> {
  const hint = "Renew your certificate with your certificate authority, or use a proxy (-P FILE).";
  const certPem = readPem(certFile, "Certificate", hint);
  const { subject, notAfter } = checkValidity(certPem, certFile, "Your certificate", hint, now);
  const key = await loadKey(readPem(keyFile, "Private key", `It belongs next to ${certFile}.`), keyFile, askPassphrase, hint);
  return { kind: "certificate", certFile, keyFile, cert: (certPem.match(CERT_BLOCK) ?? []).join("\n") + "\n", key, subject, notAfter };
}

export async function findCredential(opts: { proxyOption?: string | undefined; config: ClientConfig; environment: Environment; askPassphrase: PassphraseSource; now?: Date }): Promise<Credential> {
  const { proxyOption, config, environment: e, askPassphrase } = opts;
  const now = opts.now ?? new Date();
  // A proxy the user named is the one to use: falling back past it would hide their mistake.
  if (proxyOption) return loadProxy(proxyOption, askPassphrase, now);
  if (config.proxyCertConfigured) return loadProxy(config.proxyCert, askPassphrase, now);
  if (existsSync(config.proxyCert)) return loadProxy(config.proxyCert, askPassphrase, now);
  const certFile = e.env.X509_USER_CERT || join(e.home, ".globus", "usercert.pem");
  const keyFile = e.env.X509_USER_KEY || join(e.home, ".globus", "userkey.pem");
  if (existsSync(certFile)) return loadCertificate(certFile, keyFile, askPassphrase, now);
  throw new ClientError(`no credential found: neither a proxy (${config.proxyCert}) nor a certificate (${certFile})`, PROXY_HINT);
}
