// The fields of a certificate the grid validator needs, read from DER. node:crypto parses and
// verifies signatures but exposes no extensions (ProxyCertInfo, key-usage bits and path lengths
// are invisible to it), so those come from our own reader over the same bytes.
import type { KeyObject, X509Certificate } from "node:crypto";
import { Der, DerError, Tag, contextTag } from "./der.js";
import { readName, type Name } from "./dn.js";

export const ExtensionOid = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  issuerAltName: "2.5.29.18",
  certificatePolicies: "2.5.29.32",
  proxyCertInfo: "1.3.6.1.5.5.7.1.14",
  /** GT3 ("draft") proxies: SEQUENCE { ProxyPolicy, [1] EXPLICIT INTEGER pathLength OPTIONAL } */
  draftProxyCertInfo: "1.3.6.1.4.1.3536.1.222",
  vomsAttributeCertificates: "1.3.6.1.4.1.8005.100.100.5",
} as const;

export const PolicyLanguage = {
  inheritAll: "1.3.6.1.5.5.7.21.1",
  independent: "1.3.6.1.5.5.7.21.2",
  globusLimited: "1.3.6.1.4.1.3536.1.1.1.9",
} as const;

export const ExtendedKeyUsage = {
  clientAuth: "1.3.6.1.5.5.7.3.2",
  any: "2.5.29.37.0",
} as const;

/** Bit masks for the KeyUsage BIT STRING (bit 0 = digitalSignature). */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
} as const;

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** Contents of extnValue: the DER of the extension's own value. */
  readonly value: Uint8Array;
}

export interface ProxyCertInfo {
  readonly kind: "rfc" | "draft";
  readonly pathLength: number | undefined;
  readonly policyLanguage: string;
}

export interface Certificate {
  readonly x509: X509Certificate;
  readonly serialHex: string;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Extension[];
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength: number | undefined } | undefined;
  /** Bit i set = KeyUsage bit i asserted; undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  readonly extendedKeyUsage: readonly string[] | undefined;
  readonly hasAltName: boolean;
  /** From the RFC 3820 or the draft extension (a certificate carrying both is refused as malformed). */
  readonly proxyCertInfo: ProxyCertInfo | undefined;
  readonly hasVomsAc: boolean;
  readonly fingerprint256: string;
  readonly publicKey: KeyObject;
}

const parsed = new WeakMap<X509Certificate, Certificate>();

/** Reads (once per X509Certificate object) the fields below; throws DerError on malformed input. */
export function readCertificate(x509: X509Certificate): Certificate {
  let cert = parsed.get(x509);
  if (!cert) {
    cert = parseCertificate(x509);
    parsed.set(x509, cert);
  }
  return cert;
}

/** Whether `issuer`'s key verifies `cert`'s signature; never throws. */
export function isSignedBy(cert: Certificate, issuer: Certificate): boolean {
  try {
    return cert.x509.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function parseCertificate(x509: X509Certificate): Certificate {
  const [tbs] = Der.parse(x509.raw).expect(Tag.SEQUENCE, "Certificate").children();
  if (!tbs) throw new DerError("empty Certificate");
  const fields = tbs.expect(Tag.SEQUENCE, "TBSCertificate").children();
  if (fields[0]?.tag === contextTag(0, true)) fields.shift(); // version
  const [serial, , issuer, validity, subject, , ...optional] = fields;
  if (!serial || !issuer || !validity || !subject) throw new DerError("truncated TBSCertificate");
  const [notBefore, notAfter] = validity.expect(Tag.SEQUENCE, "Validity").children();
  if (!notBefore || !notAfter) throw new DerError("truncated Validity");

  const extensionsField = optional.find((f) => f.tag === contextTag(3, true));
  const extensions = extensionsField ? readExtensionList(explicitContent(extensionsField)) : [];
  const first = (oid: string) => extensions.find((e) => e.oid === oid);
  const rfcProxy = first(ExtensionOid.proxyCertInfo);
  const draftProxy = first(ExtensionOid.draftProxyCertInfo);
  if (rfcProxy && draftProxy) throw new DerError("both RFC 3820 and draft ProxyCertInfo present");

  let fingerprint: string | undefined;
  let publicKey: KeyObject | undefined;
  return {
    x509,
    serialHex: serial.integerHex(),
    issuer: readName(issuer.expect(Tag.SEQUENCE, "issuer").encoded),
    subject: readName(subject.expect(Tag.SEQUENCE, "subject").encoded),
    notBefore: notBefore.time(),
    notAfter: notAfter.time(),
    extensions,
    basicConstraints: mapValue(first(ExtensionOid.basicConstraints), readBasicConstraints),
    keyUsage: mapValue(first(ExtensionOid.keyUsage), readKeyUsage),
    extendedKeyUsage: mapValue(first(ExtensionOid.extendedKeyUsage), (v) => v.expect(Tag.SEQUENCE, "ExtKeyUsage").children().map((c) => c.oid())),
    hasAltName: extensions.some((e) => e.oid === ExtensionOid.subjectAltName || e.oid === ExtensionOid.issuerAltName),
    proxyCertInfo: rfcProxy ? readProxyCertInfo(rfcProxy, "rfc") : draftProxy ? readProxyCertInfo(draftProxy, "draft") : undefined,
    hasVomsAc: first(ExtensionOid.vomsAttributeCertificates) !== undefined,
    // node:crypto computes these on every access; the validator asks more than once
    get fingerprint256() {
      return (fingerprint ??= x509.fingerprint256);
    },
    get publicKey() {
      return (publicKey ??= x509.publicKey);
    },
  };
}

/** The single value inside an EXPLICIT context tag. */
export function explicitContent(field: Der): Der {
  const [inner, ...rest] = field.children();
  if (!inner || rest.length > 0) throw new DerError("malformed EXPLICIT field");
  return inner;
}

export function readExtensionList(list: Der): Extension[] {
  return list
    .expect(Tag.SEQUENCE, "Extensions")
    .children()
    .map((ext) => {
      const parts = ext.expect(Tag.SEQUENCE, "Extension").children();
      const oid = parts[0]?.oid();
      const critical = parts.length === 3 ? parts[1]!.boolean() : false;
      const value = parts[parts.length - 1];
      if (!oid || !value || parts.length < 2 || parts.length > 3) throw new DerError("malformed Extension");
      return { oid, critical, value: value.expect(Tag.OCTET_STRING, "extnValue").content };
    });
}

function mapValue<T>(ext: Extension | undefined, read: (value: Der) => T): T | undefined {
  return ext ? read(Der.parse(ext.value)) : undefined;
}

function readBasicConstraints(value: Der): { ca: boolean; pathLength: number | undefined } {
  let ca = false;
  let pathLength: number | undefined;
  for (const field of value.expect(Tag.SEQUENCE, "BasicConstraints").children()) {
    if (field.tag === Tag.BOOLEAN) ca = field.boolean();
    else pathLength = field.smallInteger();
  }
  return { ca, pathLength };
}

function readKeyUsage(value: Der): number {
  const { bits } = value.bitString();
  let mask = 0;
  bits.subarray(0, 2).forEach((byte, i) => {
    for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) mask |= 1 << (i * 8 + bit);
  });
  return mask;
}

// RFC 3820: SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy ProxyPolicy };
// the draft puts the policy first and the path length in [1] EXPLICIT.
function readProxyCertInfo(ext: Extension, kind: "rfc" | "draft"): ProxyCertInfo {
  let pathLength: number | undefined;
  let policyLanguage: string | undefined;
  for (const field of Der.parse(ext.value).expect(Tag.SEQUENCE, "ProxyCertInfo").children()) {
    if (field.tag === Tag.SEQUENCE && policyLanguage === undefined) {
      const [language] = field.children();
      if (!language) throw new DerError("empty ProxyPolicy");
      policyLanguage = language.oid();
    } else if (kind === "rfc" && field.tag === Tag.INTEGER) {
      pathLength = field.smallInteger();
    } else if (kind === "draft" && field.tag === contextTag(1, true)) {
      pathLength = explicitContent(field).smallInteger();
    } else {
      throw new DerError(`unexpected field in ${kind} ProxyCertInfo`);
    }
  }
  if (policyLanguage === undefined) throw new DerError("ProxyCertInfo without a policy");
  return { kind, pathLength, policyLanguage };
}
