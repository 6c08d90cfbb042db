// Grid chain validation: the path from a trust-store CA through the end-entity certificate (EEC)
// and any proxies (RFC 3820, GT3 draft, legacy Globus) to the certificate the client presented.
// OpenSSL in Node cannot accept proxy certificates at all, so the handshake runs with
// rejectUnauthorized:false and this module decides. The rules are grid-certificates.md §3b, which
// follow OpenSSL's proxy checks, canl-java and jGlobus.
import type { X509Certificate } from "node:crypto";
import { ExtendedKeyUsage, ExtensionOid, KeyUsage, PolicyLanguage, isSignedBy, readCertificate, type Certificate } from "./certificate.js";
import type { Crl } from "./crl.js";
import { DerError } from "./der.js";
import { nameToOneline } from "./dn.js";
import { GridAuthError } from "./errors.js";
import type { TrustStore } from "./trust-store.js";

export { GRID_AUTH_ERROR_CODES, GridAuthError, type GridAuthErrorCode } from "./errors.js";

export type ProxyKind = "none" | "rfc" | "draft" | "legacy";

export interface ValidationOptions {
  /**
   * require: every CA-issued certificate needs a current CRL from its issuer;
   * if-valid: a current CRL is used when there is one, a missing or stale one is no error
   * (canl-java's IF_VALID); ignore: no revocation checking.
   * In every mode but ignore, a serial listed on any authentic CRL of the issuer is revoked,
   * stale CRL or not: revocation is permanent, only the absence of an entry needs a fresh list.
   */
  crl: "require" | "if-valid" | "ignore";
  clockSkewSeconds: number;
  allowLegacy: boolean;
  allowDraft: boolean;
  allowLimited: boolean;
  /** Independent proxies carry their own identity (their DN), not the EEC's. */
  allowIndependent: boolean;
  /** Most certificates a client may send. */
  maxChain: number;
}

/**
 * clockSkewSeconds is 60, not the 0 of the study nor canl's 5 minutes: grid-proxy-init already
 * backdates a proxy's notBefore by 5 minutes, so skew mostly matters at notAfter, where a larger
 * margin would keep expired proxies working; a minute covers hosts that NTP keeps in sync.
 */
export const defaultValidationOptions: ValidationOptions = Object.freeze({
  crl: "require",
  clockSkewSeconds: 60,
  allowLegacy: true,
  allowDraft: true,
  allowLimited: true,
  allowIndependent: false,
  maxChain: 12,
});

export interface GridIdentity {
  /** EEC subject in OpenSSL one-line form; an independent proxy's own subject when those are allowed. */
  dn: string;
  /** Subject of the certificate the client presented, for logs. */
  leafDn: string;
  proxyKind: ProxyKind;
  /** Number of proxy certificates below the EEC. */
  proxyDepth: number;
  limited: boolean;
  independent: boolean;
  /** Earliest notAfter on the path: when this identity stops being valid. */
  notAfter: Date;
  /** A VOMS attribute certificate extension is present (validated separately: see voms.ts). */
  hasVomsAc: boolean;
  eecFingerprint256: string;
  /** The EEC, which a VOMS AC's holder must name. */
  eec: Certificate;
  /** The VOMS AC extension of the proxy nearest the leaf that carries one (its DER value). */
  vomsExtension: Uint8Array | undefined;
}

// Critical extensions we implement. Anything else critical (nameConstraints, policyConstraints…)
// refuses the certificate rather than being silently ignored.
const HANDLED_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
  ExtensionOid.basicConstraints,
  ExtensionOid.keyUsage,
  ExtensionOid.extendedKeyUsage,
  ExtensionOid.subjectAltName,
  ExtensionOid.certificatePolicies,
  ExtensionOid.proxyCertInfo,
  ExtensionOid.draftProxyCertInfo,
]);

const COMMON_NAME = "2.5.4.3";

/**
 * Validates the certificates a client sent (leaf first, then anything in any order) against the
 * trust store and returns the grid identity, or throws GridAuthError. Synchronous: it runs in the
 * TLS 'secureConnection' handler.
 */
export function validateGridChain(presented: X509Certificate[], store: TrustStore, opts: ValidationOptions, now: Date = new Date()): GridIdentity {
  const [first, ...others] = presented;
  if (!first) throw new GridAuthError("NO_CERTIFICATE");
  if (presented.length > opts.maxChain) {
    throw new GridAuthError("CHAIN_TOO_LONG", `${presented.length} certificates sent, at most ${opts.maxChain} accepted`);
  }
  let leaf: Certificate;
  try {
    leaf = readCertificate(first);
  } catch (e) {
    if (e instanceof DerError) throw new GridAuthError("MALFORMED", `client certificate: ${e.message}`);
    throw e;
  }
  // TLS 1.3 allows extra certificates; one we cannot read is just not a path candidate.
  const candidates = others.flatMap((x509) => {
    try {
      return [readCertificate(x509)];
    } catch {
      return [];
    }
  });
  return new PathValidation(buildPath(leaf, candidates, store).reverse(), store, opts, now, "client").run();
}

/**
 * Validates the certificate of a server that signs for us (a VOMS server), `others` being the rest
 * of the chain it came with: the same CA checks as for a client's EEC (trusted anchor, signatures,
 * validity, CRLs, CA constraints), but no TLS client purpose, and no proxy may sign. Throws
 * GridAuthError.
 */
export function validateServerCertificate(cert: Certificate, others: readonly Certificate[], store: TrustStore, opts: ValidationOptions, now: Date): void {
  const path = buildPath(cert, [...others], store).reverse();
  if (path.findIndex((c) => !c.basicConstraints?.ca) !== path.length - 1) {
    throw new GridAuthError("NOT_A_PROXY", `${dnOf(cert)} is not issued by a CA`);
  }
  new PathValidation(path, store, opts, now, "server").run();
}

function dnOf(cert: Certificate): string {
  return nameToOneline(cert.subject.der);
}

/**
 * Leaf first, ending at a self-signed CA of the store. Issuers are looked up by (canonical) name
 * among the store's CAs first, then among the certificates the client sent, and only a verifying
 * signature links two certificates: a client-sent root, or a rogue CA reusing a trusted CA's name,
 * never becomes an anchor. Names are compared canonically, as OpenSSL's X509_NAME_cmp does, so a
 * re-encoded issuer name (PrintableString vs UTF8String) still links; the signature is what binds.
 */
function buildPath(leaf: Certificate, presented: Certificate[], store: TrustStore): Certificate[] {
  const path = [leaf];
  const used = new Set<Certificate>(path);
  for (let current = leaf; !store.isAnchor(current); ) {
    const key = current.issuer.key;
    const named = [...store.casNamed(key), ...presented.filter((c) => c.subject.key === key)].filter((c) => !used.has(c));
    const issuer = named.find((candidate) => isSignedBy(current, candidate));
    if (!issuer) {
      const subject = dnOf(current);
      const issuerDn = nameToOneline(current.issuer.der);
      if (current.subject.key === key && isSignedBy(current, current)) {
        throw new GridAuthError("UNTRUSTED_ISSUER", `${subject} is a self-signed certificate that is not in the trust store`);
      }
      if (named.length > 0) throw new GridAuthError("BAD_SIGNATURE", `the signature of ${subject} does not verify with the key of ${issuerDn}`);
      throw new GridAuthError("UNTRUSTED_ISSUER", `no trusted CA or sent certificate ${issuerDn} issued ${subject}`);
    }
    path.push(issuer);
    used.add(issuer);
    current = issuer;
  }
  return path;
}

/** The checks along a built path, from the anchor down: CA section, EEC, proxies, purpose. */
class PathValidation {
  private readonly skewMs: number;
  private readonly eecIndex: number;
  private proxyKind: ProxyKind = "none";
  private limited = false;
  private identityCert: Certificate;

  constructor(
    private readonly path: readonly Certificate[], // anchor first
    private readonly store: TrustStore,
    private readonly opts: ValidationOptions,
    private readonly now: Date,
    private readonly purpose: "client" | "server",
  ) {
    this.skewMs = opts.clockSkewSeconds * 1000;
    // The first certificate that is not a CA is the EEC; the anchor is a CA by construction.
    this.eecIndex = path.findIndex((c) => !c.basicConstraints?.ca);
    const eec = path[this.eecIndex];
    if (!eec) throw new GridAuthError("INVALID_PURPOSE", "the chain holds no end-entity certificate: a CA certificate cannot log in");
    this.identityCert = eec;
  }

  run(): GridIdentity {
    const { path, eecIndex } = this;
    let caPathBudget = path[0]!.basicConstraints?.pathLength ?? Infinity;
    path.forEach((cert, k) => {
      this.checkValidity(cert);
      this.checkExtensions(cert);
      const issuer = path[k - 1];
      if (!issuer) return; // the anchor
      if (k < eecIndex) {
        caPathBudget = this.checkIntermediateCa(cert, issuer, caPathBudget);
      } else if (k === eecIndex) {
        this.checkEec(cert, issuer);
      } else {
        this.checkProxy(cert, issuer, path.length - 1 - k);
      }
    });
    if (this.purpose === "client") this.checkClientPurpose();

    const leaf = path[path.length - 1]!;
    const eec = path[eecIndex]!;
    return {
      dn: dnOf(this.identityCert),
      leafDn: dnOf(leaf),
      proxyKind: this.proxyKind,
      proxyDepth: path.length - 1 - eecIndex,
      limited: this.limited,
      independent: this.identityCert !== eec,
      notAfter: new Date(Math.min(...path.map((c) => c.notAfter.getTime()))),
      hasVomsAc: path.slice(eecIndex + 1).some((c) => c.hasVomsAc),
      eecFingerprint256: eec.fingerprint256,
      eec,
      vomsExtension: path
        .slice(eecIndex + 1)
        .reverse()
        .find((c) => c.hasVomsAc)
        ?.extensions.find((e) => e.oid === ExtensionOid.vomsAttributeCertificates)?.value,
    };
  }

  private checkValidity(cert: Certificate): void {
    const now = this.now.getTime();
    if (now < cert.notBefore.getTime() - this.skewMs) {
      throw new GridAuthError("NOT_YET_VALID", `${dnOf(cert)} is not valid before ${cert.notBefore.toISOString()}`);
    }
    if (now > cert.notAfter.getTime() + this.skewMs) {
      throw new GridAuthError("EXPIRED", `${dnOf(cert)} expired ${cert.notAfter.toISOString()}`);
    }
  }

  private checkExtensions(cert: Certificate): void {
    const seen = new Set<string>();
    for (const { oid, critical } of cert.extensions) {
      if (seen.has(oid)) throw new GridAuthError("DUPLICATE_EXTENSION", `${dnOf(cert)} has extension ${oid} twice`);
      seen.add(oid);
      if (critical && !HANDLED_CRITICAL_EXTENSIONS.has(oid)) {
        throw new GridAuthError("UNHANDLED_CRITICAL_EXTENSION", `${dnOf(cert)} has critical extension ${oid}`);
      }
    }
  }

  /** RFC 5280 path length: returns the budget of CA certificates still allowed below this one. */
  private checkIntermediateCa(cert: Certificate, issuer: Certificate, budget: number): number {
    if (cert.proxyCertInfo) throw new GridAuthError("PROXY_IS_CA", `${dnOf(cert)} is a proxy with basicConstraints cA=TRUE`);
    this.checkIssuedByCa(cert, issuer);
    const selfIssued = cert.subject.key === cert.issuer.key;
    if (!selfIssued) {
      if (budget <= 0) throw new GridAuthError("CA_PATH_LENGTH", `${dnOf(issuer)} may not issue the CA ${dnOf(cert)}`);
      budget--;
    }
    this.checkRevocation(cert, issuer);
    return Math.min(budget, cert.basicConstraints?.pathLength ?? Infinity);
  }

  private checkEec(cert: Certificate, issuer: Certificate): void {
    if (cert.proxyCertInfo) throw new GridAuthError("PROXY_ISSUED_BY_CA", `the proxy ${dnOf(cert)} was issued by the CA ${dnOf(issuer)}`);
    this.checkIssuedByCa(cert, issuer);
    this.checkRevocation(cert, issuer);
  }

  private checkIssuedByCa(cert: Certificate, ca: Certificate): void {
    if (ca.keyUsage !== undefined && !(ca.keyUsage & KeyUsage.keyCertSign)) {
      throw new GridAuthError("KEY_USAGE", `${dnOf(ca)} signed ${dnOf(cert)} but its keyUsage lacks keyCertSign`);
    }
  }

  /** CRLs cover CA-issued certificates; proxies have none. */
  private checkRevocation(cert: Certificate, issuer: Certificate): void {
    const mode = this.opts.crl;
    if (mode === "ignore") return;
    const crls = this.store.crlsIssuedBy(issuer);
    if (crls.some((crl) => crl.revokedSerials.has(cert.serialHex))) {
      throw new GridAuthError("REVOKED", `${dnOf(cert)} (serial ${cert.serialHex}) is revoked by ${dnOf(issuer)}`);
    }
    if (mode === "if-valid") return;
    const now = this.now.getTime();
    const startsLater = (crl: Crl) => now < crl.thisUpdate.getTime() - this.skewMs;
    const hasExpired = (crl: Crl) => crl.nextUpdate !== undefined && now > crl.nextUpdate.getTime() + this.skewMs;
    if (crls.some((crl) => !startsLater(crl) && !hasExpired(crl))) return;
    const issuerDn = dnOf(issuer);
    if (crls.length === 0) throw new GridAuthError("UNABLE_TO_GET_CRL", `no CRL of ${issuerDn} in ${this.store.dir}`);
    if (crls.some(startsLater)) throw new GridAuthError("CRL_NOT_YET_VALID", `the CRL of ${issuerDn} is not valid yet`);
    throw new GridAuthError("CRL_HAS_EXPIRED", `the CRL of ${issuerDn} has expired`);
  }

  private checkProxy(cert: Certificate, issuer: Certificate, proxiesBelow: number): void {
    const kind = proxyKindOf(cert, issuer);
    if (!kind) throw new GridAuthError("NOT_A_PROXY", `${dnOf(cert)} is not a proxy, yet it was issued by ${dnOf(issuer)}, which is not a CA`);
    if (this.proxyKind !== "none" && kind !== this.proxyKind) {
      throw new GridAuthError("MIXED_PROXY_TYPES", `${dnOf(cert)} is a ${kind} proxy under a ${this.proxyKind} one`);
    }
    this.proxyKind = kind;
    if (kind === "legacy" && !this.opts.allowLegacy) throw new GridAuthError("LEGACY_PROXY");
    if (kind === "draft" && !this.opts.allowDraft) throw new GridAuthError("DRAFT_PROXY");
    if (cert.basicConstraints?.ca) throw new GridAuthError("PROXY_IS_CA", `${dnOf(cert)} is a proxy with basicConstraints cA=TRUE`);
    if (!hasProxySubject(cert, issuer)) {
      throw new GridAuthError("PROXY_SUBJECT_NAME", `${dnOf(cert)} is not ${dnOf(issuer)} plus one CN`);
    }
    if (cert.hasAltName) throw new GridAuthError("PROXY_HAS_SAN", `${dnOf(cert)} is a proxy with an alternative name`);
    checkProxyKeyUsage(cert, issuer);
    const pathLength = cert.proxyCertInfo?.pathLength;
    if (pathLength !== undefined && proxiesBelow > pathLength) {
      throw new GridAuthError("PROXY_PATH_LENGTH", `${dnOf(cert)} allows ${pathLength} proxies below it, the chain has ${proxiesBelow}`);
    }
    this.applyPolicy(cert);
    if (this.limited && !this.opts.allowLimited) throw new GridAuthError("LIMITED_PROXY");
  }

  private applyPolicy(cert: Certificate): void {
    const info = cert.proxyCertInfo;
    if (!info) {
      // legacy: the last CN says it ("proxy" or "limited proxy")
      if (lastCommonName(cert) === "limited proxy") this.limited = true;
      return;
    }
    switch (info.policyLanguage) {
      case PolicyLanguage.inheritAll:
        return;
      case PolicyLanguage.globusLimited:
        // sticky: a full proxy made from a limited one is still limited
        this.limited = true;
        return;
      case PolicyLanguage.independent:
        if (!this.opts.allowIndependent) throw new GridAuthError("INDEPENDENT_PROXY");
        // jGlobus and grid-proxy-info: the identity is the independent proxy nearest the leaf
        this.identityCert = cert;
        return;
      default:
        throw new GridAuthError("UNKNOWN_PROXY_POLICY", `${dnOf(cert)} has proxy policy language ${info.policyLanguage}`);
    }
  }

  /** OpenSSL's sslclient purpose: EKUs (where present) allow clientAuth, the leaf key may sign. */
  private checkClientPurpose(): void {
    const { path, eecIndex } = this;
    for (const cert of path.slice(eecIndex)) {
      const eku = cert.extendedKeyUsage;
      if (eku && !eku.includes(ExtendedKeyUsage.clientAuth) && !eku.includes(ExtendedKeyUsage.any)) {
        throw new GridAuthError("INVALID_PURPOSE", `the extendedKeyUsage of ${dnOf(cert)} does not allow TLS client authentication`);
      }
    }
    const leaf = path[path.length - 1]!;
    if (leaf.keyUsage !== undefined && !(leaf.keyUsage & (KeyUsage.digitalSignature | KeyUsage.keyAgreement))) {
      throw new GridAuthError("INVALID_PURPOSE", `the keyUsage of ${dnOf(leaf)} allows neither digitalSignature nor keyAgreement`);
    }
  }
}

function proxyKindOf(cert: Certificate, issuer: Certificate): Exclude<ProxyKind, "none"> | undefined {
  if (cert.proxyCertInfo) return cert.proxyCertInfo.kind;
  const cn = lastCommonName(cert);
  return (cn === "proxy" || cn === "limited proxy") && hasProxySubject(cert, issuer) ? "legacy" : undefined;
}

/**
 * Subject = the issuer's subject plus exactly one RDN holding a single CN. The prefix is compared
 * canonically, as OpenSSL's own RFC 3820 check does (X509_NAME_cmp): a tool that re-encodes the
 * DN (PrintableString → UTF8String) makes valid proxies, and the leniency cannot change who logs
 * in, since the identity is printed from the EEC's own bytes and every link is signature-checked.
 */
function hasProxySubject(cert: Certificate, issuer: Certificate): boolean {
  const own = cert.subject.rdnKeys;
  const parent = issuer.subject.rdnKeys;
  return own.length === parent.length + 1 && parent.every((key, i) => own[i] === key) && lastCommonName(cert) !== undefined;
}

/** The value of the last RDN when it is a single CN (legacy markers are compared exactly, as Globus does). */
function lastCommonName(cert: Certificate): string | undefined {
  const last = cert.subject.rdns[cert.subject.rdns.length - 1];
  const ava = last?.length === 1 ? last[0] : undefined;
  return ava?.oid === COMMON_NAME && ava.isText ? ava.value : undefined;
}

// jGlobus/canl: the issuer must be allowed to sign (digitalSignature), and a proxy may not gain
// key usages: no keyCertSign or nonRepudiation, nothing its issuer lacks.
function checkProxyKeyUsage(cert: Certificate, issuer: Certificate): void {
  if (issuer.keyUsage !== undefined && !(issuer.keyUsage & KeyUsage.digitalSignature)) {
    throw new GridAuthError("KEY_USAGE", `${dnOf(issuer)} signed a proxy but its keyUsage lacks digitalSignature`);
  }
  const usage = cert.keyUsage;
  if (usage === undefined) return;
  if (usage & (KeyUsage.keyCertSign | KeyUsage.nonRepudiation)) {
    throw new GridAuthError("KEY_USAGE", `the proxy ${dnOf(cert)} asserts keyCertSign or nonRepudiation`);
  }
  if (issuer.keyUsage !== undefined && usage & ~issuer.keyUsage) {
    throw new GridAuthError("KEY_USAGE", `the proxy ${dnOf(cert)} asserts key usages its issuer lacks`);
  }
}

