// Loading X509_CERT_DIR, CRL checking modes, and reloading when fetch-crl changes the directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { TrustStore, TrustStoreError, watchTrustStore } from "../../src/x509/trust-store.js";
import { defaultValidationOptions, GridAuthError, validateGridChain, type ValidationOptions } from "../../src/x509/validate.js";
import { readCertificates } from "../../src/x509/pem.js";
import { caHash, copyTrustStore, loadChain, run, scratchDir } from "./helpers.js";

const pki = await fixturePki();
const ROOT = caHash(pki, "root");
const chainOf = (name: string) => loadChain(join(pki, name));
const alice = chainOf("users/alice/usercert.pem");
const carol = chainOf("users/carol/usercert.pem");
const erin = chainOf("proxies/erin-rfc.pem");

function verdict(store: TrustStore, chain = alice, crl: ValidationOptions["crl"] = "require"): string {
  try {
    return validateGridChain(chain, store, { ...defaultValidationOptions, crl }).dn;
  } catch (e) {
    if (e instanceof GridAuthError) return e.code;
    throw e;
  }
}

/** A copy of the fixture store whose root CRL is replaced by `crl` (a file under crls/) or removed. */
function storeWithRootCrl(crl: string | undefined): TrustStore {
  const dir = copyTrustStore(pki);
  const target = join(dir, `${ROOT}.r0`);
  if (crl) copyFileSync(join(pki, "crls", crl), target);
  else unlinkSync(target); // the old-hash symlink now dangles: that must be harmless too
  return TrustStore.load(dir);
}

test("the fixture store loads both CAs once, despite the old-hash symlinks, without warnings", () => {
  const store = TrustStore.load(join(pki, "certificates"));
  assert.deepEqual(store.warnings, []);
  assert.equal(store.cas.length, 2);
  const pem = readCertificates(Buffer.from(store.caPem()));
  assert.deepEqual(pem.map((c) => c.subject.split("\n").pop()).sort(), ["CN=Test Grid CA", "CN=Test Grid Issuing CA"]);
  assert.ok(TrustStore.load(join(pki, "certificates")).generation > store.generation);
});

test("unusable files are skipped with a warning; DER CA files and unrelated files are fine", () => {
  const dir = copyTrustStore(pki);
  writeFileSync(join(dir, "README"), "not a certificate");
  writeFileSync(join(dir, "abcdef01.0"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  writeFileSync(join(dir, "abcdef02.r0"), "garbage");
  symlinkSync("nowhere.pem", join(dir, "abcdef03.0"));
  copyFileSync(join(pki, "users/bob/usercert.pem"), join(dir, "abcdef04.0"));
  mkdirSync(join(dir, "abcdef05.0"));
  run("openssl", ["x509", "-in", join(pki, "ca/sub/cert.pem"), "-outform", "der", "-out", join(dir, "abcdef06.1")]);
  const store = TrustStore.load(dir);
  assert.equal(store.cas.length, 2);
  const warned = store.warnings.map((w) => w.split(":")[0]).sort();
  assert.deepEqual(warned, ["abcdef01.0", "abcdef02.r0", "abcdef03.0", "abcdef04.0"]);
  assert.match(store.warnings.find((w) => w.startsWith("abcdef04.0"))!, /Bob Example is not a CA/);
  assert.equal(verdict(store), "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

test("a directory that cannot be read or holds no CA is refused", () => {
  const empty = scratchDir();
  writeFileSync(join(empty, "abcdef01.r0"), "");
  assert.throws(() => TrustStore.load(empty), TrustStoreError);
  assert.throws(() => TrustStore.load(join(empty, "missing")), TrustStoreError);
});

test("crl=require needs a current CRL from every CA on the path", () => {
  const fresh = TrustStore.load(join(pki, "certificates"));
  assert.equal(verdict(fresh, carol), "REVOKED");
  const expired = storeWithRootCrl("root-expired.pem");
  assert.equal(verdict(expired), "CRL_HAS_EXPIRED");
  assert.equal(verdict(expired, erin), "CRL_HAS_EXPIRED"); // the sub-CA itself is issued by the root
  assert.equal(verdict(expired, carol), "REVOKED"); // a stale list still proves a revocation
  assert.equal(verdict(storeWithRootCrl("root-not-yet-valid.pem")), "CRL_NOT_YET_VALID");
  assert.equal(verdict(storeWithRootCrl(undefined)), "UNABLE_TO_GET_CRL");
});

test("crl=if-valid uses a current CRL when there is one and tolerates a stale or missing one", () => {
  const expired = storeWithRootCrl("root-expired.pem");
  assert.equal(verdict(expired, alice, "if-valid"), "/C=CA/O=Grid/OU=test/CN=Alice Example");
  assert.equal(verdict(expired, erin, "if-valid"), "/C=CA/O=Grid/OU=test/CN=Erin Example");
  assert.equal(verdict(expired, carol, "if-valid"), "REVOKED");
  assert.equal(verdict(storeWithRootCrl(undefined), carol, "if-valid"), "/C=CA/O=Grid/OU=test/CN=Carol Example");
  assert.equal(verdict(storeWithRootCrl("root-not-yet-valid.pem"), alice, "if-valid"), "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

test("crl=ignore skips revocation entirely", () => {
  assert.equal(verdict(TrustStore.load(join(pki, "certificates")), carol, "ignore"), "/C=CA/O=Grid/OU=test/CN=Carol Example");
  assert.equal(verdict(storeWithRootCrl(undefined), alice, "ignore"), "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

test("a CRL with the root's name but the rogue CA's signature is ignored, with a warning", () => {
  const store = storeWithRootCrl("root-signed-by-rogue.pem");
  assert.equal(store.warnings.length, 1);
  assert.match(store.warnings[0]!, /Test Grid CA: signature does not verify/);
  // it lists Alice: believing it would lock her out
  assert.equal(verdict(store, alice, "if-valid"), "/C=CA/O=Grid/OU=test/CN=Alice Example");
  assert.equal(verdict(store), "UNABLE_TO_GET_CRL");
});

test("an intermediate CA missing from the store may come from the client, its CRL from the store", () => {
  const dir = copyTrustStore(pki);
  const sub = caHash(pki, "sub");
  const subOld = run("openssl", ["x509", "-noout", "-subject_hash_old", "-in", join(pki, "ca/sub/cert.pem")]).trim();
  unlinkSync(join(dir, `${sub}.0`));
  unlinkSync(join(dir, `${subOld}.0`));
  const store = TrustStore.load(dir);
  assert.equal(store.cas.length, 1);
  assert.deepEqual(store.warnings, ["CRL for /C=CA/O=Grid/CN=Test Grid Issuing CA: no CA certificate with that name in the store"]);
  assert.equal(verdict(store, chainOf("chains/erin-with-sub-ca.pem")), "/C=CA/O=Grid/OU=test/CN=Erin Example");
  assert.equal(verdict(store, chainOf("users/erin/usercert.pem")), "UNTRUSTED_ISSUER");
});

test("one current CRL among stale ones is enough", () => {
  const dir = copyTrustStore(pki);
  copyFileSync(join(pki, "crls/root-expired.pem"), join(dir, `${ROOT}.r1`));
  assert.equal(verdict(TrustStore.load(dir)), "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

function nextEvent<T>(register: (resolve: (value: T) => void) => void, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

test("the watcher reloads when a new CRL arrives, and keeps the old store when a reload fails", async () => {
  const dir = copyTrustStore(pki);
  let store = TrustStore.load(dir);
  const bob = chainOf("proxies/bob-rfc.pem");
  assert.equal(verdict(store, bob), "/C=CA/O=Grid/OU=test/CN=Bob Example");

  let onReload: (s: TrustStore) => void = () => assert.fail("unexpected reload");
  let onError: (e: Error) => void = (e) => assert.fail(`unexpected reload error ${e.message}`);
  const watcher = watchTrustStore(dir, (s) => onReload(s), { debounceMs: 50, pollMs: 300, onError: (e) => onError(e) });
  try {
    // as fetch-crl does: write a temporary file, rename it over the old CRL
    const reloaded = nextEvent<TrustStore>((r) => (onReload = r), "a reload");
    copyFileSync(join(pki, "crls/root-revokes-bob.pem"), join(dir, "crl.tmp"));
    renameSync(join(dir, "crl.tmp"), join(dir, `${ROOT}.r0`));
    const next = await reloaded;
    assert.ok(next.generation > store.generation);
    assert.equal(verdict(next, bob), "REVOKED");
    assert.equal(verdict(next, alice), "/C=CA/O=Grid/OU=test/CN=Alice Example");
    store = next;

    onReload = () => assert.fail("a failed reload must not replace the store");
    const failed = nextEvent<Error>((r) => (onError = r), "a reload error");
    const caFiles = readdirSync(dir).filter((f) => /^[0-9a-f]{8}\.\d+$/.test(f));
    for (const f of caFiles) renameSync(join(dir, f), join(dir, `${f}.away`));
    assert.ok((await failed) instanceof TrustStoreError);
    assert.equal(verdict(store, bob), "REVOKED");

    // the directory back as it was is no change from the store in use; a fresh CRL is
    onError = () => {};
    const repaired = nextEvent<TrustStore>((r) => (onReload = r), "a reload after repair");
    for (const f of caFiles) renameSync(join(dir, `${f}.away`), join(dir, f));
    copyFileSync(join(pki, "certificates", `${ROOT}.r0`), join(dir, `${ROOT}.r0`));
    assert.equal(verdict(await repaired, bob), "/C=CA/O=Grid/OU=test/CN=Bob Example");
  } finally {
    watcher.close();
  }
});
