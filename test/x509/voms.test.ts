// VOMS attribute certificates made by voms-proxy-fake (and by openssl around a real AC), validated
// against the fixture's vomsdir and trust store: each refusal is shown to come from the check it
// names by also showing the same AC accepted once only that condition changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { TrustStore } from "../../src/x509/trust-store.js";
import { VomsDir, parseLsc } from "../../src/x509/vomsdir.js";
import { defaultValidationOptions, validateGridChain, type GridIdentity } from "../../src/x509/validate.js";
import {
  normaliseFqan,
  parseAttributeCertificate,
  readVomsExtension,
  validateAttributeCertificate,
  validateVomsExtension,
  VomsError,
  type VomsContext,
} from "../../src/x509/voms.js";
import { ChainAuthenticator } from "../../src/x509/authenticator.js";
import { canonicalDn } from "../../src/x509/dn.js";
import { loadChain, scratchDir } from "./helpers.js";

const pki = await fixturePki();
const store = TrustStore.load(join(pki, "certificates"));
const vomsdir = VomsDir.load(join(pki, "vomsdir"));
const ALICE = "/C=CA/O=Grid/OU=test/CN=Alice Example";

const identityOf = (name: string, now?: Date): GridIdentity => validateGridChain(loadChain(join(pki, "proxies", `${name}.pem`)), store, defaultValidationOptions, now);
const context = (over: Partial<VomsContext> = {}): VomsContext => ({ vomsdir, store, opts: defaultValidationOptions, targets: ["localhost"], now: new Date(), ...over });
const verdictOf = (name: string, over: Partial<VomsContext> = {}) => {
  const id = identityOf(name, over.now);
  assert.ok(id.vomsExtension, `${name} carries no VOMS extension`);
  return validateVomsExtension(id.vomsExtension, id.eec, context(over));
};
const refusal = (name: string, over: Partial<VomsContext> = {}) => {
  const v = verdictOf(name, over);
  assert.equal(v.accepted.length, 0, `${name} was accepted`);
  assert.equal(v.refused.length, 1);
  return v.refused[0]!.code;
};
const acOf = (name: string) => {
  const id = identityOf(name);
  return { ac: parseAttributeCertificate(readVomsExtension(id.vomsExtension!)[0]!), eec: id.eec };
};
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof VomsError) return e.code;
    throw e;
  }
  assert.fail("no VomsError");
};
// a vomsdir in a scratch directory, starting as a copy of the fixture's
const scratchVomsdir = () => {
  const dir = scratchDir();
  cpSync(join(pki, "vomsdir"), dir, { recursive: true });
  return dir;
};

test("a good AC: its VO, FQANs (NULL role and capability dropped) and signer, vouched for by the .lsc file", () => {
  const v = verdictOf("alice-voms-good");
  assert.deepEqual(v.refused, []);
  assert.equal(v.accepted.length, 1);
  const a = v.accepted[0]!;
  assert.equal(a.vo, "testvo");
  assert.deepEqual(a.fqans, ["/testvo", "/testvo/analysis", "/testvo/Role=production"]);
  assert.equal(a.issuer, "/C=CA/O=Grid/CN=voms.example.org");
  assert.ok(a.notAfter.getTime() > Date.now() + 24 * 3600_000);
  // the proxy chain itself logs Alice in
  assert.equal(identityOf("alice-voms-good").dn, ALICE);
});

test("the AC of a proxy made from a VOMS proxy is found one certificate up, and still names Alice", () => {
  assert.deepEqual(verdictOf("alice-voms-pop").accepted[0]?.fqans, ["/testvo", "/testvo/analysis", "/testvo/Role=production"]);
});

test("an expired AC is refused; inside its hour, or within the clock skew after it, it was good", () => {
  const { ac } = acOf("alice-voms-expired");
  assert.equal(refusal("alice-voms-expired"), "AC_EXPIRED");
  const inside = new Date(ac.notBefore.getTime() + 30 * 60_000);
  assert.deepEqual(verdictOf("alice-voms-expired", { now: inside }).accepted[0]?.fqans, ["/testvo"]);
  const skew = defaultValidationOptions.clockSkewSeconds * 1000;
  assert.equal(verdictOf("alice-voms-expired", { now: new Date(ac.notAfter.getTime() + skew - 1000) }).accepted.length, 1);
  assert.equal(refusal("alice-voms-expired", { now: new Date(ac.notAfter.getTime() + skew + 1000) }), "AC_EXPIRED");
  assert.equal(refusal("alice-voms-expired", { now: new Date(ac.notBefore.getTime() - skew - 1000) }), "AC_NOT_YET_VALID");
});

test("an AC signed by a trusted-CA server that nothing in the vomsdir names is refused; its certificate in vomsdir/<vo>/ makes it good", () => {
  assert.equal(refusal("alice-voms-wrong-signer"), "AC_UNTRUSTED_SIGNER");
  const dir = scratchVomsdir();
  copyFileSync(join(pki, "voms/voms-other/hostcert.pem"), join(dir, "testvo", "voms-other.pem"));
  assert.deepEqual(verdictOf("alice-voms-wrong-signer", { vomsdir: VomsDir.load(dir) }).accepted[0]?.fqans, ["/testvo"]);
  // placed under another VO, it vouches for that VO only
  const other = scratchVomsdir();
  mkdirSync(join(other, "othervo"));
  copyFileSync(join(pki, "voms/voms-other/hostcert.pem"), join(other, "othervo", "voms-other.pem"));
  assert.equal(refusal("alice-voms-wrong-signer", { vomsdir: VomsDir.load(other) }), "AC_UNTRUSTED_SIGNER");
});

test("an AC whose server has the .lsc DNs but a rogue CA is refused: the chain must validate against the trust store", () => {
  assert.equal(refusal("alice-voms-rogue"), "AC_SIGNER_CHAIN");
  // a server certificate of that rogue chain placed in the vomsdir does not help either
  const dir = scratchVomsdir();
  copyFileSync(join(pki, "voms/voms-rogue/hostcert.pem"), join(dir, "testvo", "rogue.pem"));
  assert.equal(refusal("alice-voms-rogue", { vomsdir: VomsDir.load(dir) }), "AC_SIGNER_CHAIN");
});

test("an .lsc file must describe the AC's chain exactly: another issuer line refuses it", () => {
  const dir = scratchVomsdir();
  const lsc = join(dir, "testvo", "voms.example.org.lsc");
  writeFileSync(lsc, "/C=CA/O=Grid/CN=voms.example.org\n/C=CA/O=Grid/CN=Test Grid Issuing CA\n");
  assert.equal(refusal("alice-voms-good", { vomsdir: VomsDir.load(dir) }), "AC_UNTRUSTED_SIGNER");
  writeFileSync(lsc, "# alternatives\n/C=CA/O=Grid/CN=voms.example.org\n/C=CA/O=Grid/CN=Test Grid Issuing CA\n------ NEXT CHAIN ------\n/C=CA/O=Grid/CN=voms.example.org\n/C=CA/O=Grid/CN=Test Grid CA\n");
  assert.equal(verdictOf("alice-voms-good", { vomsdir: VomsDir.load(dir) }).accepted.length, 1);
});

test("an AC for a VO the vomsdir has no directory for is refused, whoever signed it", () => {
  assert.equal(refusal("alice-voms-unknown-vo"), "AC_UNKNOWN_VO");
  const dir = scratchVomsdir();
  mkdirSync(join(dir, "unknownvo"));
  copyFileSync(join(pki, "vomsdir/testvo/voms.example.org.lsc"), join(dir, "unknownvo", "voms.example.org.lsc"));
  assert.deepEqual(verdictOf("alice-voms-unknown-vo", { vomsdir: VomsDir.load(dir) }).accepted[0]?.fqans, ["/unknownvo"]);
});

test("a missing vomsdir trusts no VO", () => {
  const empty = VomsDir.load(join(scratchDir(), "absent"));
  assert.match(empty.warnings[0]!, /cannot read vomsdir/);
  assert.equal(refusal("alice-voms-good", { vomsdir: empty }), "AC_UNKNOWN_VO");
});

test("an FQAN outside the AC's own VO refuses the AC", () => {
  assert.equal(refusal("alice-voms-foreign-fqan"), "AC_FQAN_OUTSIDE_VO");
});

test("a tampered FQAN breaks only the AC signature: the proxy around it is valid, the same AC untouched is good", () => {
  const tampered = identityOf("alice-voms-tampered");
  assert.equal(tampered.dn, ALICE);
  assert.equal(refusal("alice-voms-tampered"), "AC_BAD_SIGNATURE");
  assert.ok(Buffer.from(tampered.vomsExtension!).includes("/testvo/analysiz"));
  assert.deepEqual(verdictOf("alice-voms-reissued").accepted[0]?.fqans, ["/testvo", "/testvo/analysis", "/testvo/Role=production"]);
});

test("Alice's AC in Bob's proxy is refused: the holder is Alice's certificate", () => {
  assert.equal(identityOf("bob-voms-alice-ac").dn, "/C=CA/O=Grid/OU=test/CN=Bob Example");
  assert.equal(refusal("bob-voms-alice-ac"), "AC_HOLDER_MISMATCH");
  assert.equal(verdictOf("bob-voms").accepted.length, 1);
});

test("a targets extension must name this server (voms-proxy-fake -target writes an empty list: targeted at nobody)", () => {
  assert.equal(refusal("alice-voms-targeted"), "AC_TARGET");
  assert.equal(refusal("alice-voms-targeted", { targets: ["localhost", "repo.example.org"] }), "AC_TARGET");
  assert.equal(verdictOf("alice-voms-good", { targets: [] }).accepted.length, 1, "an untargeted AC is good anywhere");
});

// ---------------------------------------------------------------------------------------------
// Signature algorithms: the real ACs re-signed, so that only the algorithm and the key change.

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const RSA_SHA256 = Buffer.from("300d06092a864886f70d01010b0500", "hex");
const RSA_SHA1 = Buffer.from("300d06092a864886f70d0101050500", "hex");
const ECDSA_SHA256 = Buffer.from("300a06082a8648ce3d040302", "hex");

/** The AC of `proxy` with its signature algorithm replaced (in acinfo too) and signed by `key`. */
function resigned(proxy: string, algorithm: Buffer, hash: string, key: KeyObject) {
  const id = identityOf(proxy);
  const ac = parseAttributeCertificate(readVomsExtension(id.vomsExtension!)[0]!);
  const info = Buffer.from(ac.acinfo);
  const headerLength = info[1]! < 0x80 ? 2 : 2 + (info[1]! & 0x7f);
  const content = info.subarray(headerLength);
  // acinfo's own signature field is its first AlgorithmIdentifier: holder and issuer hold none
  const at = content.indexOf(RSA_SHA256);
  assert.ok(at > 0);
  const newInfo = tlv(0x30, Buffer.concat([content.subarray(0, at), algorithm, content.subarray(at + RSA_SHA256.length)]));
  const signature = sign(hash, newInfo, key);
  const der = tlv(0x30, Buffer.concat([newInfo, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
  return { ac: parseAttributeCertificate(der), eec: id.eec };
}
const key = (server: string) => createPrivateKey(readFileSync(join(pki, "voms", server, "hostkey.pem")));

test("ECDSA: voms-proxy-fake labels an EC signature sha256WithRSAEncryption, which is refused; properly labelled it verifies", () => {
  assert.equal(refusal("alice-voms-ec"), "AC_UNSUPPORTED_ALGORITHM");
  const good = resigned("alice-voms-ec", ECDSA_SHA256, "sha256", key("voms-ec"));
  assert.deepEqual(validateAttributeCertificate(good.ac, good.eec, context()).fqans, ["/ecvo"]);
  // found as the certificate in vomsdir/ecvo/: the AC carries it too, but no .lsc names its host
  assert.equal(vomsdir.lscChains("ecvo", "voms-ec.example.org"), undefined);
  const forged = resigned("alice-voms-ec", ECDSA_SHA256, "sha256", createPrivateKey(readFileSync(scratchKey())));
  assert.equal(codeOf(() => validateAttributeCertificate(forged.ac, forged.eec, context())), "AC_BAD_SIGNATURE");
});

test("RSA with SHA-1 verifies with the server's key, and not with another trusted server's", () => {
  const good = resigned("alice-voms-good", RSA_SHA1, "sha1", key("voms"));
  assert.equal(validateAttributeCertificate(good.ac, good.eec, context()).vo, "testvo");
  const other = resigned("alice-voms-good", RSA_SHA1, "sha1", key("voms-other"));
  assert.equal(codeOf(() => validateAttributeCertificate(other.ac, other.eec, context())), "AC_BAD_SIGNATURE");
  // an ECDSA label on an RSA server's AC is a mismatch, not a signature to try
  const mislabelled = resigned("alice-voms-good", ECDSA_SHA256, "sha256", key("voms"));
  assert.equal(codeOf(() => validateAttributeCertificate(mislabelled.ac, mislabelled.eec, context())), "AC_UNSUPPORTED_ALGORITHM");
});

test("garbage in the VOMS extension is a refused AC, not an exception", () => {
  const { eec } = acOf("alice-voms-good");
  const v = validateVomsExtension(Buffer.from("3003020101", "hex"), eec, context());
  assert.equal(v.refused[0]?.code, "AC_MALFORMED");
  assert.equal(codeOf(() => parseAttributeCertificate(Buffer.from("30020500", "hex"))), "AC_MALFORMED");
});

// ---------------------------------------------------------------------------------------------
// The verdict cache

test("the authenticator never serves a cached AC past its notAfter, and a new vomsdir is seen at once", () => {
  const { ac } = acOf("alice-voms-expired");
  const clock = { now: ac.notAfter.getTime() - 60_000 };
  let dir = vomsdir;
  const auth = new ChainAuthenticator(() => store, defaultValidationOptions, { clock: () => clock.now, voms: { vomsdir: () => dir, targets: ["localhost"] } });
  const chain = loadChain(join(pki, "proxies", "alice-voms-expired.pem"));
  const first = auth.authenticate(chain);
  assert.ok(first.ok);
  assert.deepEqual(first.voms?.accepted[0]?.fqans, ["/testvo"]);
  // two minutes on: within the 5-minute cache lifetime, past the AC (and the 60 s skew)
  clock.now += 2 * 60_000 + 1000;
  const later = auth.authenticate(chain);
  assert.ok(later.ok);
  assert.equal(later.voms?.accepted.length, 0);
  assert.equal(later.voms?.refused[0]?.code, "AC_EXPIRED");

  clock.now = Date.now();
  const wrong = loadChain(join(pki, "proxies", "alice-voms-wrong-signer.pem"));
  const refused = auth.authenticate(wrong);
  assert.ok(refused.ok && refused.voms?.refused[0]?.code === "AC_UNTRUSTED_SIGNER");
  const scratch = scratchVomsdir();
  copyFileSync(join(pki, "voms/voms-other/hostcert.pem"), join(scratch, "testvo", "voms-other.pem"));
  dir = VomsDir.load(scratch);
  const accepted = auth.authenticate(wrong);
  assert.ok(accepted.ok && accepted.voms?.accepted.length === 1);
});

test("without VOMS options the authenticator leaves ACs alone", () => {
  const auth = new ChainAuthenticator(() => store, defaultValidationOptions);
  const r = auth.authenticate(loadChain(join(pki, "proxies", "alice-voms-good.pem")));
  assert.ok(r.ok);
  assert.equal(r.voms, undefined);
});

// ---------------------------------------------------------------------------------------------
// Small pieces

test(".lsc files: DNs compared canonically, comments and blank lines skipped, NEXT CHAIN separates", () => {
  const chains = parseLsc("# voms\n\n/C=CA/O=Grid/CN=voms.example.org\n/C=CA/O=Grid/CN=Test Grid CA\n------ NEXT CHAIN ------\n/DC=org/CN=other\n/DC=org/CN=CA\n");
  assert.deepEqual(chains, [
    [canonicalDn("/C=CA/O=Grid/CN=voms.example.org"), canonicalDn("CN=Test Grid CA,O=Grid,C=CA")],
    [canonicalDn("/DC=org/CN=other"), canonicalDn("/DC=org/CN=CA")],
  ]);
});

test("FQANs lose only NULL roles and capabilities", () => {
  assert.equal(normaliseFqan("/atlas/Role=NULL/Capability=NULL"), "/atlas");
  assert.equal(normaliseFqan("/atlas/higgs/Role=production/Capability=NULL"), "/atlas/higgs/Role=production");
  assert.equal(normaliseFqan("/atlas/Role=NULLish"), "/atlas/Role=NULLish");
});

/** A fresh P-256 key that no VOMS server owns. */
function scratchKey(): string {
  const file = join(scratchDir(), "ec.pem");
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file]);
  return file;
}
