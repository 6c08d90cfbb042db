// DN formatting against OpenSSL itself, and the parsing and canonical comparison of typed DNs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { readCertificate } from "../../src/x509/certificate.js";
import { canonicalDn, DnSyntaxError, nameToOneline, parseDn, readName, toOneline } from "../../src/x509/dn.js";
import { loadChain, run, scratchDir } from "./helpers.js";

const pki = await fixturePki();
const scratch = scratchDir();
const key = join(scratch, "key.pem");
run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);

/** What openssl prints for a certificate file's subject (and issuer) with -nameopt `format`. */
function opensslNames(file: string, format: "compat" | "RFC2253"): { subject: string; issuer: string } {
  const [subject, issuer] = run("openssl", ["x509", "-noout", "-subject", "-issuer", "-nameopt", format, "-in", file]).split("\n");
  return { subject: subject!.replace(/^subject=/, ""), issuer: issuer!.replace(/^issuer=/, "") };
}

function pemFile(der: Buffer, name: string): string {
  const file = join(scratch, name);
  writeFileSync(file, `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`);
  return file;
}

test("nameToOneline prints the subject and issuer of every fixture certificate exactly as openssl -nameopt compat", () => {
  const files = [
    ...readdirSync(join(pki, "users")).map((u) => join(pki, "users", u, "usercert.pem")),
    ...readdirSync(join(pki, "proxies")).map((p) => join(pki, "proxies", p)),
    ...["root", "sub", "deep", "rogue"].map((ca) => join(pki, "ca", ca, "cert.pem")),
    join(pki, "host/hostcert.pem"),
  ];
  let compared = 0;
  for (const file of files) {
    const expected = opensslNames(file, "compat");
    const cert = readCertificate(loadChain(file)[0]!);
    assert.equal(nameToOneline(cert.subject.der), expected.subject, file);
    assert.equal(nameToOneline(cert.issuer.der), expected.issuer, file);
    // both text forms name the same DN as the DER
    assert.equal(canonicalDn(expected.subject), cert.subject.key, file);
    assert.equal(canonicalDn(opensslNames(file, "RFC2253").subject), cert.subject.key, file);
    compared++;
  }
  assert.ok(compared > 60, `only ${compared} certificates compared`);
});

interface AwkwardDn {
  what: string;
  subject: string;
  mask: "default" | "utf8only";
  /** The one-line form is a byte-exact picture of UTF-8 or ASCII (not T61 or BMP) values. */
  utf8: boolean;
}

const AWKWARD: AwkwardDn[] = [
  { what: "UTF8String", subject: "/C=CA/O=Grid/CN=José Müller", mask: "utf8only", utf8: true },
  { what: "T61String", subject: "/C=CA/O=Grid/CN=José Müller", mask: "default", utf8: false },
  { what: "BMPString", subject: "/O=Grid/CN=Łukasz Ünal", mask: "default", utf8: false },
  { what: "4-byte UTF-8", subject: "/CN=smile 😀", mask: "utf8only", utf8: true },
  { what: "'/' '+' '=' ',' in values", subject: "/O=A\\/B/OU=x\\+y/CN=a=b,c", mask: "default", utf8: true },
  { what: "multi-valued RDN", subject: "/DC=org/DC=example/OU=a+OU=b+CN=c/CN=x", mask: "default", utf8: true },
  { what: "leading and trailing spaces", subject: "/CN=  spaced  /O= x", mask: "default", utf8: true },
  { what: "control character", subject: "/CN=ctl\x01x", mask: "utf8only", utf8: true },
  { what: "OID unknown to OpenSSL", subject: "/testAttribute=foo/CN=x", mask: "default", utf8: true },
  {
    what: "many attribute types",
    subject:
      "/emailAddress=a@b.c/UID=u1/DC=org/serialNumber=123/street=Main St/postalCode=V8W/title=Dr/SN=Doe/GN=Jane" +
      "/pseudonym=jd/organizationIdentifier=VATCA-1/L=Victoria/ST=BC/initials=JD/description=d/jurisdictionC=CA/dnQualifier=q/name=n/generationQualifier=III",
    mask: "default",
    utf8: true,
  },
];

function makeCertificate(subject: string, mask: string, name: string): string {
  const config = join(scratch, `${name}.cnf`);
  // testAttribute is known to this request only; the openssl printing it later has never heard of it
  writeFileSync(config, `oid_section = oids\n[ oids ]\ntestAttribute = 1.2.3.4.5\n[ req ]\ndistinguished_name = dn\nstring_mask = ${mask}\n[ dn ]\n`);
  const file = join(scratch, `${name}.pem`);
  run("openssl", ["req", "-x509", "-new", "-key", key, "-config", config, "-utf8", "-subj", subject, "-days", "1", "-out", file]);
  return file;
}

for (const [i, dn] of AWKWARD.entries()) {
  test(`awkward DN, ${dn.what}: one-line form and canonical key agree with openssl`, () => {
    const file = makeCertificate(dn.subject, dn.mask, `awkward-${i}`);
    const name = readCertificate(loadChain(file)[0]!).subject;
    const oneline = opensslNames(file, "compat").subject;
    assert.equal(nameToOneline(name.der), oneline);
    assert.equal(toOneline(oneline), oneline);
    // OpenSSL's RFC 2253 printer decodes every string type to UTF-8, so it always names the DER's DN
    const rfc2253 = opensslNames(file, "RFC2253").subject;
    assert.equal(canonicalDn(rfc2253), name.key);
    if (dn.utf8) assert.equal(toOneline(rfc2253), oneline);
    // the one-line form keeps T61 (Latin-1) bytes, which read back right; BMP bytes do not
    if (dn.what === "BMPString") assert.notEqual(canonicalDn(oneline), name.key);
    else assert.equal(canonicalDn(oneline), name.key);
  });
}

test("values of unusual ASN.1 types print as OpenSSL prints them", () => {
  const base = loadChain(makeCertificate("/CN=abcd/O=x", "utf8only", "retag"))[0]!.raw;
  const value = Buffer.from([0x0c, 0x04, 0x61, 0x62, 0x63, 0x64]);
  // self-signed: the issuer and the subject both hold the value
  const offsets = [base.indexOf(value), base.lastIndexOf(value)];
  assert.ok(offsets[0]! > 0 && offsets[1]! > offsets[0]!);
  for (const [tag, expected] of [
    [0x07, "/CN=abcd/O=x"], // ObjectDescriptor: OpenSSL keeps content octets of tags it has no type for
    [0x30, "/CN=0\\x04abcd/O=x"], // SEQUENCE: the whole encoding
    [0x1e, "/CN=abcd/O=x"], // BMPString: raw octets, two characters' worth
  ] as const) {
    const der = Buffer.from(base);
    for (const at of offsets) der[at] = tag;
    const file = pemFile(der, `retag-${tag}.pem`);
    const name = readCertificate(new X509Certificate(der)).subject;
    assert.equal(nameToOneline(name.der), expected);
    assert.equal(opensslNames(file, "compat").subject, expected);
    assert.equal(canonicalDn(opensslNames(file, "RFC2253").subject), name.key, `tag ${tag}`);
  }
});

const JOSE_ONELINE = "/DC=org/DC=example/O=Grid/OU=a+OU=b/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller/UID=jm42/emailAddress=jose@example.org";
const JOSE_APACHE = "emailAddress=jose@example.org,UID=jm42,CN=José Müller,OU=b+OU=a,O=Grid,DC=example,DC=org";

test("Apache's RFC 2253 DN and the one-line DN are the same DN", () => {
  assert.equal(canonicalDn(JOSE_APACHE), canonicalDn(JOSE_ONELINE));
  assert.equal(toOneline(JOSE_APACHE), JOSE_ONELINE);
  assert.equal(toOneline(JOSE_ONELINE), JOSE_ONELINE);
  const jose = readCertificate(loadChain(join(pki, "users/jose/usercert.pem"))[0]!).subject;
  assert.equal(canonicalDn(JOSE_APACHE), jose.key);
  assert.equal(canonicalDn("emailAddress=jose@example.org,UID=jm42,CN=Jos\\C3\\A9 M\\C3\\BCller,OU=b+OU=a,O=Grid,DC=example,DC=org"), jose.key);
});

test("canonicalDn: the comparison key's format is pinned (it is stored)", () => {
  assert.equal(canonicalDn("CN=Alice Example,OU=test,O=Grid,C=CA"), "/C=ca/O=grid/OU=test/CN=alice example");
  assert.equal(canonicalDn(JOSE_ONELINE), "/DC=org/DC=example/O=grid/OU=a+OU=b/CN=josé müller/UID=jm42/emailAddress=jose@example.org");
  assert.equal(canonicalDn("/O=A\\/B+OU=x\\+y/CN=\\x5C#"), "/O=a\\/b+OU=x\\+y/CN=\\\\#");
  assert.equal(canonicalDn("CN=\\#1"), "/CN=\\#1");
  assert.equal(canonicalDn("CN=#0c0141"), "/CN=a");
  assert.equal(canonicalDn("CN=#020105"), "/CN=#020105");
});

test("spellings of one DN share a key", () => {
  const same: string[][] = [
    [
      "/C=CA/O=Grid/OU=test/CN=Alice Example",
      "CN=Alice Example,OU=test,O=Grid,C=CA",
      "CN=Alice Example, OU=test, O=Grid, C=CA",
      "CN = Alice Example ; OU = test ; O = Grid ; C = CA",
      "  /c=ca/o=GRID/ou=Test/cn=alice   example ",
      "commonName=ALICE EXAMPLE,organizationalUnitName=test,organizationName=Grid,countryName=CA",
      "2.5.4.3=Alice Example,OID.2.5.4.11=test,O=Grid,C=CA",
      'CN="Alice Example",OU=test,O=Grid,C=CA',
      "CN=#130d416c696365204578616d706c65,OU=test,O=Grid,C=CA",
    ],
    ["/CN=x/emailAddress=j@e.org", "/CN=x/E=j@e.org", "/CN=x/Email=J@E.org", "EMAILADDRESS=j@e.org,CN=x"],
    ["/UID=jm42", "userId=jm42", "uid=jm42", "/UID=JM42"],
    ["/CN=José", "/CN=Jos\\xC3\\xA9", "CN=Jos\\C3\\A9", "CN=Jos\\c3\\a9", "/CN=Jos\\xE9", "CN=José"],
    ["/CN=Jose\u0301", "/CN=José"], // NFD and NFC
    ['CN="Doe, John"', "CN=Doe\\, John", "/CN=Doe, John"],
    ["/O=A\\/B/CN=c", "CN=c,O=A/B"],
    ["/CN=host/foo.example.org", "/CN=host\\/foo.example.org", "CN=host/foo.example.org"], // OpenSSL 1.x did not escape "/"
    ["/OU=a+OU=b", "OU=b+OU=a", "/OU=b+OU=a"],
    ["/1.2.3.4.5=foo", "OID.1.2.3.4.5=FOO", "1.2.3.4.5=foo"],
    ["/ST=BC/CN=x", "CN=x,S=BC", "CN=x,stateOrProvinceName=bc"],
  ];
  for (const group of same) {
    const keys = group.map(canonicalDn);
    for (const [i, k] of keys.entries()) assert.equal(k, keys[0], `${group[i]} vs ${group[0]}`);
  }
});

test("different DNs get different keys", () => {
  const distinct = [
    "/C=CA/O=Grid/CN=Alice",
    "/C=CA/O=Grid/CN=Bob",
    "/O=Grid/C=CA/CN=Alice",
    "/C=CA/O=Grid/CN=Alice/CN=proxy",
    "/C=CA/O=Grid+CN=Alice",
    "/C=CA/O=Grid/CN=Alice+CN=proxy",
    "/OU=a/OU=b",
    "/OU=a+OU=b",
    "/OU=a\\+OU=b",
    "/UID=x",
    "/0.9.2342.19200300.100.1.44=x", // OpenSSL's "uid" (uniqueIdentifier) is not UID
    "/CN=#020105",
    "/CN=\\#020105",
  ];
  assert.equal(new Set(distinct.map(canonicalDn)).size, distinct.length);
});

test("parseDn returns RDNs in forward order with OIDs and decoded values", () => {
  assert.deepEqual(parseDn("CN=x+OU=y,O=Grid"), [
    [{ oid: "2.5.4.10", value: "Grid", isText: true }],
    [
      { oid: "2.5.4.11", value: "y", isText: true },
      { oid: "2.5.4.3", value: "x", isText: true },
    ],
  ]);
  assert.deepEqual(parseDn("/CN=a\\x00b/CN=\\x"), [[{ oid: "2.5.4.3", value: "a\0b", isText: true }], [{ oid: "2.5.4.3", value: "\\x", isText: true }]]);
  assert.deepEqual(parseDn("CN=\\ x\\ "), [[{ oid: "2.5.4.3", value: " x ", isText: true }]]);
  assert.equal(toOneline("CN=x+OU=y,O=Grid"), "/O=Grid/OU=y+CN=x");
});

test("junk is a DnSyntaxError", () => {
  for (const junk of ["", "   ", "hello", "/", "/CN", "/=x", "/FOO=bar", "CN=x,", "CN=x,junk", ",CN=x", 'CN="unterminated', "CN=bad\\qescape", "CN=#zz", "CN=#0c05", "CN=#0c0141ff", "NOPE=x,CN=y"]) {
    assert.throws(() => canonicalDn(junk), DnSyntaxError, JSON.stringify(junk));
  }
});

test("readName keys one DN the same whatever string types encode it", () => {
  const alice = readCertificate(loadChain(join(pki, "users/alice/usercert.pem"))[0]!).subject;
  const rdnsOf = (der: Uint8Array) => Buffer.from(der).subarray(2); // alice's Name is short: 2-octet header
  const copied = readCertificate(loadChain(join(pki, "proxies/alice-rfc.pem"))[0]!).subject;
  const reencoded = readCertificate(loadChain(join(pki, "proxies/alice-rfc-reencoded.pem"))[0]!).subject;
  assert.ok(Buffer.from(copied.der).includes(rdnsOf(alice.der)), "grid-proxy-init copies the issuer's RDNs byte for byte");
  assert.ok(!Buffer.from(reencoded.der).includes(rdnsOf(alice.der)), "the re-encoded proxy does not");
  assert.deepEqual(reencoded.rdnKeys.slice(0, -1), alice.rdnKeys);
  assert.equal(readName(alice.der).key, canonicalDn("/C=CA/O=Grid/OU=test/CN=Alice Example"));
});
