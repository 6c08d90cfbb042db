// Certificate revocation lists: parsed once when the trust store loads, their signatures checked
// with node:crypto against the issuing CA (X509Certificate has no CRL support).
import { verify, type KeyObject } from "node:crypto";
import { Der, DerError, Tag, contextTag } from "./der.js";
import { readName, type Name } from "./dn.js";
import { explicitContent, readExtensionList, type Certificate } from "./certificate.js";

// Signature algorithm OID → digest for crypto.verify (null: the algorithm has its own, EdDSA).
// RSASSA-PSS is not here: no IGTF CA signs CRLs with it, and its parameters would need their own
// parser. A CRL with an algorithm missing from this table never verifies, so it is never used.
const SIGNATURE_DIGESTS: Readonly<Record<string, string | null>> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.3.101.112": null,
  "1.3.101.113": null,
};

export class Crl {
  private readonly verifiedBy = new Map<string, boolean>();

  private constructor(
    readonly issuer: Name,
    readonly thisUpdate: Date,
    readonly nextUpdate: Date | undefined,
    /** Serial numbers as lower-case hex of their DER content, like Certificate.serialHex. */
    readonly revokedSerials: ReadonlySet<string>,
    /** OIDs of critical CRL or entry extensions: we implement none, so such a CRL is refused. */
    readonly criticalExtensions: readonly string[],
    private readonly signed: { tbs: Uint8Array; algorithm: string | undefined; signature: Uint8Array },
  ) {}

  /** Parses a DER CRL; throws DerError. */
  static parse(der: Uint8Array): Crl {
    const [tbs, algorithm, signature, ...extra] = Der.parse(der).expect(Tag.SEQUENCE, "CertificateList").children();
    if (!tbs || !algorithm || !signature || extra.length > 0) throw new DerError("malformed CertificateList");
    const fields = tbs.expect(Tag.SEQUENCE, "TBSCertList").children();
    if (fields[0]?.tag === Tag.INTEGER) fields.shift(); // version
    const [tbsAlgorithm, issuer, thisUpdate, ...rest] = fields;
    if (!tbsAlgorithm || !issuer || !thisUpdate) throw new DerError("truncated TBSCertList");
    const nextUpdate = rest[0]?.tag === Tag.UTC_TIME || rest[0]?.tag === Tag.GENERALIZED_TIME ? rest.shift()!.time() : undefined;

    const revoked = new Set<string>();
    const critical: string[] = [];
    for (const field of rest) {
      if (field.tag === Tag.SEQUENCE) {
        for (const entry of field.children()) {
          const [serial, , entryExtensions] = entry.expect(Tag.SEQUENCE, "revokedCertificate").children();
          if (!serial) throw new DerError("empty revokedCertificate");
          revoked.add(serial.integerHex());
          if (entryExtensions) critical.push(...criticalOids(entryExtensions));
        }
      } else if (field.tag === contextTag(0, true)) {
        critical.push(...criticalOids(explicitContent(field)));
      } else {
        throw new DerError("unexpected field in TBSCertList");
      }
    }
    // Like X509_CRL_verify: the signed algorithm must be the one the signature claims.
    const sameAlgorithm = Buffer.from(tbsAlgorithm.encoded).equals(algorithm.encoded);
    const [algorithmOid] = algorithm.expect(Tag.SEQUENCE, "AlgorithmIdentifier").children();
    const { unusedBits, bits } = signature.bitString();
    if (unusedBits !== 0) throw new DerError("signature is not a whole number of octets");
    return new Crl(readName(issuer.expect(Tag.SEQUENCE, "issuer").encoded), thisUpdate.time(), nextUpdate, revoked, critical, {
      tbs: tbs.encoded,
      algorithm: sameAlgorithm ? algorithmOid?.oid() : undefined,
      signature: bits,
    });
  }

  get signatureAlgorithm(): string | undefined {
    return this.signed.algorithm;
  }

  /** Whether `ca` issued this CRL: same name (canonically) and its key verifies the signature. */
  isIssuedBy(ca: Certificate): boolean {
    if (ca.subject.key !== this.issuer.key) return false;
    let ok = this.verifiedBy.get(ca.fingerprint256);
    if (ok === undefined) {
      ok = verifySignature(this.signed, ca.publicKey);
      this.verifiedBy.set(ca.fingerprint256, ok);
    }
    return ok;
  }
}

function criticalOids(extensions: Der): string[] {
  return readExtensionList(extensions)
    .filter((e) => e.critical)
    .map((e) => e.oid);
}

function verifySignature(signed: { tbs: Uint8Array; algorithm: string | undefined; signature: Uint8Array }, key: KeyObject): boolean {
  const digest = signed.algorithm === undefined ? undefined : SIGNATURE_DIGESTS[signed.algorithm];
  if (digest === undefined) return false;
  try {
    return verify(digest, signed.tbs, key, signed.signature);
  } catch {
    return false;
  }
}
