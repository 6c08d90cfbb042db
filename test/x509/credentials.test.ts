// Every credential of the fixture PKI, and chains rearranged the way clients and attackers send
// them, validated offline against the fixture trust store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectedCredentials, fixturePki } from "../support/pki.js";
import { TrustStore } from "../../src/x509/trust-store.js";
import { defaultValidationOptions, validateGridChain, type ValidationOptions } from "../../src/x509/validate.js";
import { errorCode, loadChain, run, scratchDir } from "./helpers.js";

const pki = await fixturePki();
const store = TrustStore.load(join(pki, "certificates"));
const credentials = expectedCredentials(pki);
const file = (name: string) => join(pki, name);
const proxy = (name: string) => loadChain(file(`proxies/${name}.pem`));
const user = (name: string) => loadChain(file(`users/${name}/usercert.pem`));
const validate = (chain = proxy("alice-rfc"), opts: Partial<ValidationOptions> = {}, now?: Date) =>
  validateGridChain(chain, store, { ...defaultValidationOptions, ...opts }, now);
const ALICE = "/C=CA/O=Grid/OU=test/CN=Alice Example";

test("the fixture covers accepted and refused credentials of every proxy kind", () => {
  assert.ok(credentials.length >= 60, `only ${credentials.length} credentials`);
  for (const kind of ["none", "rfc", "draft", "legacy"] as const) {
    assert.ok(credentials.some((c) => c.outcome === "accept" && c.proxyKind === kind), `no accepted ${kind}`);
  }
  const codes = new Set(credentials.filter((c) => c.outcome === "reject").map((c) => c.identityOrCode));
  // the rest (NO_CERTIFICATE, MALFORMED, CHAIN_TOO_LONG, NOT_YET_VALID, the CRL and allow* codes)
  // need chains or options no credential file has: the tests below make them
  assert.deepEqual([...codes].sort(), [
    "BAD_SIGNATURE",
    "CA_PATH_LENGTH",
    "DUPLICATE_EXTENSION",
    "EXPIRED",
    "INDEPENDENT_PROXY",
    "INVALID_PURPOSE",
    "KEY_USAGE",
    "MIXED_PROXY_TYPES",
    "NOT_A_PROXY",
    "PROXY_HAS_SAN",
    "PROXY_ISSUED_BY_CA",
    "PROXY_IS_CA",
    "PROXY_PATH_LENGTH",
    "PROXY_SUBJECT_NAME",
    "REVOKED",
    "UNHANDLED_CRITICAL_EXTENSION",
    "UNKNOWN_PROXY_POLICY",
    "UNTRUSTED_ISSUER",
  ]);
});

for (const c of credentials) {
  test(`${c.name}: ${c.outcome} ${c.identityOrCode}`, () => {
    const chain = loadChain(c.cert);
    if (c.outcome === "reject") {
      assert.equal(errorCode(() => validate(chain)), c.identityOrCode);
      return;
    }
    const id = validate(chain);
    assert.equal(id.dn, c.identityOrCode);
    assert.equal(id.limited, c.limited);
    assert.equal(id.proxyKind, c.proxyKind);
    assert.equal(id.independent, false);
    assert.equal(id.hasVomsAc, c.name.includes("voms"));
    // proxy files hold the proxies then the EEC; chains/ files the EEC then CAs
    const depth = c.proxyKind === "none" ? 0 : chain.length - 1;
    assert.equal(id.proxyDepth, depth);
    assert.equal(id.eecFingerprint256, chain[depth]!.fingerprint256);
    assert.ok(id.leafDn.startsWith(id.dn));
    assert.ok(id.notAfter.getTime() <= new Date(chain[0]!.validTo).getTime());
    assert.ok(id.notAfter.getTime() > Date.now());
  });
}

test("an independent proxy, when allowed, carries its own identity, as grid-proxy-info says", () => {
  const name = file("proxies/alice-rfc-independent.pem");
  const id = validate(loadChain(name), { allowIndependent: true });
  assert.equal(id.dn, run("grid-proxy-info", ["-f", name, "-identity"]).trim());
  assert.notEqual(id.dn, ALICE);
  assert.equal(id.dn, id.leafDn);
  assert.equal(id.independent, true);
});

test("each allow* option off refuses that kind of proxy and nothing else", () => {
  assert.equal(errorCode(() => validate(proxy("alice-old"), { allowLegacy: false })), "LEGACY_PROXY");
  assert.equal(errorCode(() => validate(proxy("alice-old-pop"), { allowLegacy: false })), "LEGACY_PROXY");
  assert.equal(validate(proxy("alice-rfc"), { allowLegacy: false }).dn, ALICE);
  assert.equal(errorCode(() => validate(proxy("alice-draft"), { allowDraft: false })), "DRAFT_PROXY");
  assert.equal(validate(proxy("alice-old"), { allowDraft: false }).dn, ALICE);
  for (const name of ["alice-rfc-limited", "alice-rfc-limited-full", "alice-old-limited", "alice-old-limited-full", "alice-draft-limited"]) {
    assert.equal(errorCode(() => validate(proxy(name), { allowLimited: false })), "LIMITED_PROXY", name);
  }
  assert.equal(validate(proxy("alice-rfc-pop"), { allowLimited: false }).limited, false);
  assert.equal(errorCode(() => validate(proxy("alice-rfc-independent"), { allowIndependent: false })), "INDEPENDENT_PROXY");
});

test("the leaf comes first; the rest may come in any order, with junk, and the client's own CA", () => {
  const [leaf, ...rest] = proxy("alice-rfc-pop-pop");
  const reversed = validate([leaf!, ...rest.reverse()]);
  assert.equal(reversed.dn, ALICE);
  assert.equal(reversed.proxyDepth, 3);
  const junk = [...user("bob"), ...loadChain(file("ca/rogue/cert.pem")), ...proxy("bob-rfc"), ...user("erin")];
  const withJunk = validate([leaf!, junk[0]!, ...rest, ...junk.slice(1), ...loadChain(file("ca/root/cert.pem"))]);
  assert.deepEqual(withJunk, reversed);
});

test("a chain with a missing middle proxy or missing EEC leads nowhere", () => {
  const [leaf, pop, rfc, eec] = proxy("alice-rfc-pop-pop");
  assert.equal(errorCode(() => validate([leaf!, rfc!, eec!])), "UNTRUSTED_ISSUER");
  assert.equal(errorCode(() => validate([leaf!, pop!, rfc!])), "UNTRUSTED_ISSUER");
});

test("a client-sent CA certificate is never the anchor, and cannot log in itself", () => {
  assert.equal(validate([...user("alice"), ...loadChain(file("ca/root/cert.pem"))]).dn, ALICE);
  assert.equal(errorCode(() => validate(loadChain(file("ca/root/cert.pem")))), "INVALID_PURPOSE");
  assert.equal(errorCode(() => validate(loadChain(file("ca/rogue/cert.pem")))), "UNTRUSTED_ISSUER");
  // the rogue CA has the root's name: only the signature tells them apart
  assert.equal(errorCode(() => validate(loadChain(file("chains/mallory-with-rogue-ca.pem")))), "UNTRUSTED_ISSUER");
  assert.equal(errorCode(() => validate(proxy("mallory-rfc"))), "BAD_SIGNATURE");
});

test("the issuing sub-CA may be sent by the client; a CA the store lacks is used only below a trusted one", () => {
  assert.equal(validate(loadChain(file("chains/erin-with-sub-ca.pem"))).dn, "/C=CA/O=Grid/OU=test/CN=Erin Example");
  assert.equal(validate(proxy("erin-rfc")).proxyDepth, 1);
  assert.equal(errorCode(() => validate(loadChain(file("chains/frank-with-deep-ca.pem")))), "CA_PATH_LENGTH");
  assert.equal(errorCode(() => validate(user("frank"))), "UNTRUSTED_ISSUER");
});

test("more certificates than maxChain are refused before any work", () => {
  const chain = proxy("alice-rfc-pop-pop"); // 4
  const padded = [...chain, ...Array.from({ length: 8 }, () => user("bob")[0]!)];
  assert.equal(padded.length, 12);
  assert.equal(validate(padded).dn, ALICE);
  assert.equal(errorCode(() => validate([...padded, user("bob")[0]!])), "CHAIN_TOO_LONG");
  assert.equal(errorCode(() => validate(chain, { maxChain: 3 })), "CHAIN_TOO_LONG");
  assert.equal(errorCode(() => validate([])), "NO_CERTIFICATE");
});

test("validity is checked with the configured clock skew at both ends", () => {
  const chain = proxy("alice-rfc");
  const notBefore = new Date(chain[0]!.validFrom).getTime();
  const notAfter = new Date(chain[0]!.validTo).getTime();
  assert.equal(validate(chain, {}, new Date(notAfter + 50_000)).dn, ALICE);
  assert.equal(errorCode(() => validate(chain, {}, new Date(notAfter + 70_000))), "EXPIRED");
  assert.equal(errorCode(() => validate(chain, { clockSkewSeconds: 0 }, new Date(notAfter + 1000))), "EXPIRED");
  assert.equal(validate(chain, {}, new Date(notBefore - 50_000)).dn, ALICE);
  assert.equal(errorCode(() => validate(chain, {}, new Date(notBefore - 70_000))), "NOT_YET_VALID");
});

test("the identity expires with the first certificate on the path to expire", () => {
  const chain = proxy("alice-rfc-pop-pop");
  const id = validate(chain);
  assert.equal(id.notAfter.getTime(), Math.min(...chain.map((c) => new Date(c.validTo).getTime())));
});

test("a certificate the DER reader cannot make sense of is MALFORMED, not a crash", () => {
  // alice-rfc with its ProxyPolicy SEQUENCE turned into a SET: OpenSSL still parses the certificate
  const pem = readFileSync(file("proxies/alice-rfc.pem"), "utf8");
  const der = loadChain(file("proxies/alice-rfc.pem"))[0]!.raw;
  const policy = Buffer.from("300c300a06082b06010505071501", "hex");
  const at = der.indexOf(policy);
  assert.ok(at > 0, "alice-rfc has an inheritAll ProxyCertInfo");
  der[at + 2] = 0x31;
  const patched = join(scratchDir(), "proxy.pem");
  writeFileSync(patched, `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n${pem.slice(pem.indexOf("-----END CERTIFICATE-----") + 26)}`);
  const chain = loadChain(patched);
  assert.equal(chain.length, 2);
  assert.equal(errorCode(() => validate(chain)), "MALFORMED");
  // as a junk extra certificate it is merely skipped
  assert.equal(validate([...proxy("alice-rfc"), chain[0]!]).dn, ALICE);
});
