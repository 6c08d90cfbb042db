// S/MIME signing: a detached CMS SignedData (RFC 5652) over a text, in a multipart/signed message
// (RFC 8551), as `openssl smime -sign` and the HEPiX image-list tools (M2Crypto) write it, so that
// `openssl smime -verify` and vmcatcher read it. Only what signing needs is encoded here.
import { createHash, createPrivateKey, randomBytes, sign, type KeyObject, type X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { readCertificate } from "./certificate.js";
import { Der, Tag, contextTag } from "./der.js";
import { readCertificates } from "./pem.js";

// ---- a minimal DER writer ---------------------------------------------------------------------

function tlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
}
const seq = (...parts: Uint8Array[]) => tlv(Tag.SEQUENCE, Buffer.concat(parts));
// DER sorts the members of a SET OF by their encodings.
const setOf = (...parts: Buffer[]) => tlv(Tag.SET, Buffer.concat([...parts].sort(Buffer.compare)));
const octets = (b: Uint8Array) => tlv(Tag.OCTET_STRING, b);
const smallInt = (n: number) => tlv(Tag.INTEGER, Buffer.from([n]));
const NULL = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [a! * 40 + b!];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(Tag.OID, Buffer.from(bytes));
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const text = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(Tag.UTC_TIME, Buffer.from(text, "ascii"));
}

const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  sha256: "2.16.840.1.101.3.4.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
};

// ---- CMS SignedData ---------------------------------------------------------------------------

export interface Signer {
  key: KeyObject;
  chain: readonly X509Certificate[]; // the signer's certificate first, then any intermediates
}

// The issuer and serial number of a certificate, as they are encoded in it.
function issuerAndSerial(cert: X509Certificate): Buffer {
  const fields = Der.parse(cert.raw).children()[0]!.children();
  if (fields[0]?.tag === contextTag(0, true)) fields.shift(); // version
  const [serial, , issuer] = fields;
  return seq(issuer!.encoded, serial!.encoded);
}

/** A detached SignedData over `content` (DER), signed with SHA-256. */
export function signDetached(content: Uint8Array, signer: Signer, at = new Date()): Buffer {
  const signerCert = signer.chain[0];
  if (!signerCert) throw new Error("a signer needs its certificate");
  const sha256 = seq(oid(OID.sha256), NULL);
  const attributes = [
    seq(oid(OID.contentType), setOf(oid(OID.data))),
    seq(oid(OID.signingTime), setOf(utcTime(at))),
    seq(oid(OID.messageDigest), setOf(octets(createHash("sha256").update(content).digest()))),
  ];
  // The signature covers the attributes encoded as a SET; in SignerInfo they are [0] IMPLICIT.
  const signedAttrs = setOf(...attributes);
  const ec = signer.key.asymmetricKeyType === "ec";
  const signature = sign("sha256", signedAttrs, signer.key);
  const signerInfo = seq(
    smallInt(1),
    issuerAndSerial(signerCert),
    sha256,
    Buffer.concat([Buffer.from([contextTag(0, true)]), signedAttrs.subarray(1)]),
    ec ? seq(oid(OID.ecdsaWithSha256)) : seq(oid(OID.rsaEncryption), NULL),
    octets(signature),
  );
  const signedData = seq(
    smallInt(1),
    setOf(sha256),
    seq(oid(OID.data)), // detached: the content travels beside the signature
    tlv(contextTag(0, true), Buffer.concat(signer.chain.map((c) => c.raw))),
    setOf(signerInfo),
  );
  return seq(oid(OID.signedData), tlv(contextTag(0, true), signedData));
}

// ---- multipart/signed -------------------------------------------------------------------------

const crlf = (text: string) => text.replace(/\r?\n/g, "\r\n");

/**
 * `text` signed as a multipart/signed S/MIME message. Line ends become CRLF, MIME's canonical
 * form, in the signed part and in what is signed, as `openssl smime -sign` does.
 */
export function smimeSign(text: string, signer: Signer, at = new Date()): string {
  const content = crlf(text);
  const p7s = signDetached(Buffer.from(content, "utf8"), signer, at).toString("base64").replace(/.{1,64}/g, "$&\r\n");
  const boundary = `----${randomBytes(16).toString("hex").toUpperCase()}`;
  return [
    "MIME-Version: 1.0",
    `Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg="sha-256"; boundary="${boundary}"`,
    "",
    "This is an S/MIME signed message",
    "",
    `--${boundary}`,
    content,
    `--${boundary}`,
    'Content-Type: application/x-pkcs7-signature; name="smime.p7s"',
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="smime.p7s"',
    "",
    p7s,
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

// ---- the signing credential -------------------------------------------------------------------

/** A certificate file (its chain, signer first) and an unencrypted key file, both PEM. */
export function loadSigner(certFile: string, keyFile: string): Signer {
  const chain = readCertificates(readFileSync(certFile));
  if (chain.length === 0) throw new Error(`${certFile}: no certificate`);
  const key = createPrivateKey(readFileSync(keyFile));
  if (!chain[0]!.checkPrivateKey(key)) throw new Error(`${keyFile} is not the key of ${certFile}`);
  return { key, chain };
}

const EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";

/**
 * Whether S/MIME verifiers (openssl smime -verify, M2Crypto) accept this signer by default: an
 * extended key usage, when present, must allow e-mail protection. Host certificates usually
 * allow only TLS.
 */
export function signsSmime(signer: Signer): boolean {
  const eku = readCertificate(signer.chain[0]!).extendedKeyUsage;
  return eku === undefined || eku.includes(EMAIL_PROTECTION) || eku.includes(ANY_EXTENDED_KEY_USAGE);
}
