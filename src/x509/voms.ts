// VOMS attribute certificates (RFC 3281 ACs with the VOMS profile) carried in a grid proxy: parsed
// with our DER reader and validated the way VOMS's own validators do (voms C++ and voms-api-java):
// the signer is a VOMS server trusted for the AC's VO through the vomsdir (an .lsc chain description
// or the server's certificate), its chain leads to a CA of the trust store, the AC signature
// verifies, the AC is current, it was issued to this user's EEC, and it is targeted at us if at all.
// A refused AC costs the user their VOMS attributes only: the proxy still logs them in by DN.
import { X509Certificate, verify } from "node:crypto";
import { readCertificate, readExtensionList, type Certificate, type Extension } from "./certificate.js";
import { Der, DerError, Tag, contextTag } from "./der.js";
import { nameToOneline, readName } from "./dn.js";
import { SIGNATURE_ALGORITHMS, VomsOid } from "./oids.js";
import type { TrustStore } from "./trust-store.js";
import { GridAuthError, validateServerCertificate, type ValidationOptions } from "./validate.js";
import type { VomsDir } from "./vomsdir.js";

export const VOMS_ERROR_CODES = {
  AC_MALFORMED: "the attribute certificate could not be decoded",
  AC_UNKNOWN_VO: "the vomsdir has no directory for the AC's VO",
  AC_UNTRUSTED_SIGNER: "no .lsc file or certificate in the vomsdir vouches for the AC's signer",
  AC_SIGNER_CHAIN: "the VOMS server's certificate does not validate against the trust store",
  AC_BAD_SIGNATURE: "the AC's signature does not verify with the VOMS server's key",
  AC_UNSUPPORTED_ALGORITHM: "the AC is signed with an algorithm this server does not accept",
  AC_EXPIRED: "the AC has expired",
  AC_NOT_YET_VALID: "the AC is not valid yet",
  AC_HOLDER_MISMATCH: "the AC was issued to another certificate than the user's",
  AC_TARGET: "the AC is targeted at other hosts",
  AC_FQAN_OUTSIDE_VO: "an FQAN of the AC lies outside the AC's VO",
  AC_UNHANDLED_CRITICAL_EXTENSION: "the AC has a critical extension this server does not implement",
  AC_MISSING_EXTENSION: "the AC lacks the noRevAvail or authorityKeyIdentifier extension VOMS ACs carry",
} as const;
export type VomsErrorCode = keyof typeof VOMS_ERROR_CODES;

export class VomsError extends Error {
  override readonly name = "VomsError";
  constructor(
    readonly code: VomsErrorCode,
    message: string = VOMS_ERROR_CODES[code],
  ) {
    super(message);
  }
}

/** What a valid AC says. */
export interface VomsAttributes {
  vo: string;
  /** In AC order, Role=NULL and Capability=NULL dropped: "/testvo", "/testvo/Role=production". */
  fqans: string[];
  /** The VOMS server's DN, one-line form. */
  issuer: string;
  notBefore: Date;
  notAfter: Date;
}

export interface VomsContext {
  vomsdir: VomsDir;
  store: TrustStore;
  opts: ValidationOptions;
  /** This server's host names; an AC with a targets extension must name one of them. */
  targets: readonly string[];
  now: Date;
}

/** One AC as read from DER; nothing in it is trusted yet. */
export interface AttributeCertificate {
  readonly acinfo: Uint8Array;
  readonly innerAlgorithm: string;
  readonly outerAlgorithm: string;
  readonly signature: Uint8Array;
  readonly holder: { readonly issuerKeys: readonly string[]; readonly serialHex: string } | undefined;
  readonly issuerKey: string;
  readonly issuerDn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly vo: string;
  readonly host: string;
  readonly rawFqans: readonly string[];
  readonly extensions: readonly Extension[];
  readonly signerChain: readonly X509Certificate[];
}

/** The ACs in a proxy's VOMS extension value (SEQUENCE OF SEQUENCE OF AttributeCertificate). */
export function readVomsExtension(value: Uint8Array): Uint8Array[] {
  return Der.parse(value)
    .expect(Tag.SEQUENCE, "VOMS ACs")
    .children()
    .flatMap((seq) => seq.expect(Tag.SEQUENCE, "VOMS AC sequence").children().map((ac) => ac.encoded));
}

/** Reads one AttributeCertificate; throws VomsError AC_MALFORMED (also when OpenSSL refuses a certificate in it). */
export function parseAttributeCertificate(der: Uint8Array): AttributeCertificate {
  try {
    return parse(der);
  } catch (e) {
    throw new VomsError("AC_MALFORMED", `attribute certificate: ${(e as Error).message}`);
  }
}

/** The verdict on every AC a proxy carries: the valid ones' attributes, and why the others were refused. */
export interface VomsVerdict {
  accepted: VomsAttributes[];
  refused: { code: VomsErrorCode; message: string }[];
}

/** Validates the ACs of a VOMS extension value (GridIdentity.vomsExtension) for the user with `eec`. */
export function validateVomsExtension(value: Uint8Array, eec: Certificate, ctx: VomsContext): VomsVerdict {
  const verdict: VomsVerdict = { accepted: [], refused: [] };
  let acs: Uint8Array[];
  try {
    acs = readVomsExtension(value);
  } catch (e) {
    verdict.refused.push({ code: "AC_MALFORMED", message: `VOMS extension: ${(e as Error).message}` });
    return verdict;
  }
  for (const der of acs) {
    try {
      verdict.accepted.push(validateAttributeCertificate(parseAttributeCertificate(der), eec, ctx));
    } catch (e) {
      if (!(e instanceof VomsError)) throw e;
      verdict.refused.push({ code: e.code, message: e.message });
    }
  }
  return verdict;
}

function parse(der: Uint8Array): AttributeCertificate {
  const [acinfo, outerAlg, signature, ...rest] = Der.parse(der).expect(Tag.SEQUENCE, "AttributeCertificate").children();
  if (!acinfo || !outerAlg || !signature || rest.length > 0) throw new DerError("AttributeCertificate needs 3 fields");
  const bits = signature.bitString();
  if (bits.unusedBits !== 0) throw new DerError("signature BIT STRING with unused bits");
  const fields = acinfo.expect(Tag.SEQUENCE, "AttributeCertificateInfo").children();
  const [version, holder, issuer, innerAlg, serial, validity, attributes, ...optional] = fields;
  if (!version || !holder || !issuer || !innerAlg || !serial || !validity || !attributes) throw new DerError("truncated AttributeCertificateInfo");
  if (version.smallInteger() !== 1) throw new DerError("AC version is not v2");
  serial.integerHex();
  const [notBefore, notAfter] = validity.expect(Tag.SEQUENCE, "AttCertValidityPeriod").children();
  if (!notBefore || !notAfter) throw new DerError("truncated AttCertValidityPeriod");

  const issuerNames = explicitChildren(issuer, contextTag(0, true), "AttCertIssuer v2Form");
  const issuerName = directoryName(issuerNames[0]?.expect(Tag.SEQUENCE, "issuerName"));

  const extensionsField = optional.find((f) => f.tag === Tag.SEQUENCE);
  const extensions = extensionsField ? readExtensionList(extensionsField) : [];
  const certsExt = extensions.find((e) => e.oid === VomsOid.certs);
  // VOMS writes SEQUENCE { SEQUENCE OF Certificate }: the server's certificate first
  const signerChain = certsExt
    ? Der.parse(certsExt.value)
        .expect(Tag.SEQUENCE, "AC certs")
        .children()
        .flatMap((list) => list.expect(Tag.SEQUENCE, "AC certificate list").children())
        .map((c) => new X509Certificate(Buffer.from(c.encoded)))
    : [];

  const { vo, host, fqans } = readFqanAttribute(attributes);
  return {
    acinfo: acinfo.encoded,
    innerAlgorithm: algorithmOid(innerAlg),
    outerAlgorithm: algorithmOid(outerAlg),
    signature: bits.bits,
    holder: readHolder(holder),
    issuerKey: issuerName.key,
    issuerDn: nameToOneline(issuerName.der),
    notBefore: notBefore.time(),
    notAfter: notAfter.time(),
    vo,
    host,
    rawFqans: fqans,
    extensions,
    signerChain,
  };
}

function algorithmOid(alg: Der): string {
  const [oid] = alg.expect(Tag.SEQUENCE, "AlgorithmIdentifier").children();
  if (!oid) throw new DerError("empty AlgorithmIdentifier");
  return oid.oid();
}

function explicitChildren(field: Der, tag: number, what: string): Der[] {
  return field.expect(tag, what).children();
}

/** GeneralNames holding exactly one directoryName ([4] EXPLICIT Name). */
function directoryName(names: Der | undefined) {
  const list = names?.children() ?? [];
  const [only] = list;
  if (list.length !== 1 || only?.tag !== contextTag(4, true)) throw new DerError("expected a single directoryName");
  const [name] = only.children();
  if (!name) throw new DerError("empty directoryName");
  return readName(name.expect(Tag.SEQUENCE, "Name").encoded);
}

// Holder: baseCertificateID [0] IMPLICIT IssuerSerial { issuer GeneralNames, serial INTEGER, ... }.
// entityName and objectDigestInfo forms are not read: VOMS ACs name the holder's certificate.
function readHolder(holder: Der): AttributeCertificate["holder"] {
  const base = holder.expect(Tag.SEQUENCE, "Holder").children().find((f) => f.tag === contextTag(0, true));
  if (!base) return undefined;
  const [issuer, serial] = base.children();
  if (!issuer || !serial) throw new DerError("truncated baseCertificateID");
  return { issuerKeys: [directoryName(issuer.expect(Tag.SEQUENCE, "GeneralNames")).key], serialHex: serial.integerHex() };
}

// The VOMS attribute: IetfAttrSyntax { policyAuthority [0] GeneralNames ("vo://host:port" URI),
// values SEQUENCE OF OCTET STRING }. Exactly one such attribute with one value set, as VOMS requires.
function readFqanAttribute(attributes: Der): { vo: string; host: string; fqans: string[] } {
  const matching = attributes
    .expect(Tag.SEQUENCE, "attributes")
    .children()
    .filter((a) => a.expect(Tag.SEQUENCE, "Attribute").children()[0]?.oid() === VomsOid.fqans);
  if (matching.length !== 1) throw new DerError(`expected one VOMS FQAN attribute, found ${matching.length}`);
  const [, values] = matching[0]!.children();
  const syntaxes = values?.expect(Tag.SET, "attribute values").children() ?? [];
  if (syntaxes.length !== 1) throw new DerError("expected one IetfAttrSyntax");
  const [authority, list] = syntaxes[0]!.expect(Tag.SEQUENCE, "IetfAttrSyntax").children();
  if (!authority || !list) throw new DerError("IetfAttrSyntax without policyAuthority");
  const uris = authority.expect(contextTag(0, true), "policyAuthority").children();
  const uri = uris.length === 1 && uris[0]!.tag === contextTag(6, false) ? Buffer.from(uris[0]!.content).toString("latin1") : undefined;
  const m = uri === undefined ? null : /^([^:/]+):\/\/([^:/]+)(?::\d+)?$/.exec(uri);
  if (!m) throw new DerError(`policyAuthority is not vo://host:port: ${JSON.stringify(uri)}`);
  const fqans = list.expect(Tag.SEQUENCE, "IetfAttrSyntax values").children().map((v) => Buffer.from(v.expect(Tag.OCTET_STRING, "FQAN").content).toString("utf8"));
  return { vo: m[1]!, host: m[2]!, fqans };
}

const HANDLED_CRITICAL = new Set<string>([VomsOid.targetInformation]);

/**
 * Validates `ac` for the user whose EEC is `eec`; returns its attributes or throws VomsError.
 * The order matters for what a refusal says: who signed comes before what is signed.
 */
export function validateAttributeCertificate(ac: AttributeCertificate, eec: Certificate, ctx: VomsContext): VomsAttributes {
  const signer = trustedSigner(ac, ctx);
  verifySignature(ac, signer);
  checkValidity(ac, ctx);
  checkHolder(ac, eec);
  checkExtensions(ac, ctx);
  const prefix = `/${ac.vo}`;
  const outside = ac.rawFqans.find((f) => f !== prefix && !f.startsWith(`${prefix}/`));
  if (outside !== undefined) throw new VomsError("AC_FQAN_OUTSIDE_VO", `FQAN ${outside} is outside VO ${ac.vo}`);
  if (ac.rawFqans.length === 0) throw new VomsError("AC_MALFORMED", "the AC holds no FQAN");
  return { vo: ac.vo, fqans: ac.rawFqans.map(normaliseFqan), issuer: ac.issuerDn, notBefore: ac.notBefore, notAfter: ac.notAfter };
}

/** "/vo/g/Role=NULL/Capability=NULL" → "/vo/g": the NULL parts are VOMS's long form of "none". */
export function normaliseFqan(fqan: string): string {
  return fqan.replace(/\/Capability=NULL$/, "").replace(/\/Role=NULL$/, "");
}

// The signer: first the server named by the AC's policy authority through its .lsc file (the chain
// the AC carries must be exactly the one described), else a certificate placed in the VO's
// directory whose subject is the AC's issuer. Either must validate against the trust store.
function trustedSigner(ac: AttributeCertificate, ctx: VomsContext): Certificate {
  const { vomsdir } = ctx;
  if (!vomsdir.hasVo(ac.vo)) throw new VomsError("AC_UNKNOWN_VO", `no directory for VO ${ac.vo} in ${vomsdir.dir}`);
  let refusal: VomsError | undefined;
  const chains = vomsdir.lscChains(ac.vo, ac.host);
  if (chains) {
    try {
      return lscSigner(ac, chains, ctx);
    } catch (e) {
      if (!(e instanceof VomsError)) throw e;
      refusal = e;
    }
  }
  for (const cert of vomsdir.certificates(ac.vo).filter((c) => c.subject.key === ac.issuerKey)) {
    try {
      validateServerCertificate(cert, [], ctx.store, ctx.opts, ctx.now);
      return cert;
    } catch (e) {
      if (!(e instanceof GridAuthError)) throw e;
      refusal ??= new VomsError("AC_SIGNER_CHAIN", `VOMS server certificate ${ac.issuerDn} in the vomsdir: ${e.code}: ${e.message}`);
    }
  }
  throw refusal ?? new VomsError("AC_UNTRUSTED_SIGNER", `nothing in ${vomsdir.dir}/${ac.vo} vouches for ${ac.issuerDn} (host ${ac.host})`);
}

function lscSigner(ac: AttributeCertificate, chains: readonly (readonly string[])[], ctx: VomsContext): Certificate {
  let certs: Certificate[];
  try {
    certs = ac.signerChain.map(readCertificate);
  } catch (e) {
    throw new VomsError("AC_MALFORMED", `the AC's certificate chain: ${(e as Error).message}`);
  }
  const [server, ...rest] = certs;
  if (!server) throw new VomsError("AC_UNTRUSTED_SIGNER", `the AC carries no certificate to check against ${ac.host}.lsc`);
  // each certificate's subject and issuer, in order: lines = certificates + 1
  const described = chains.some((dns) => dns.length === certs.length + 1 && certs.every((c, i) => c.subject.key === dns[i] && c.issuer.key === dns[i + 1]));
  if (!described) throw new VomsError("AC_UNTRUSTED_SIGNER", `the chain of ${nameToOneline(server.subject.der)} is not the one ${ac.vo}/${ac.host}.lsc describes`);
  if (server.subject.key !== ac.issuerKey) throw new VomsError("AC_UNTRUSTED_SIGNER", `the AC names ${ac.issuerDn} as issuer but carries ${nameToOneline(server.subject.der)}`);
  try {
    validateServerCertificate(server, rest, ctx.store, ctx.opts, ctx.now);
  } catch (e) {
    if (!(e instanceof GridAuthError)) throw e;
    throw new VomsError("AC_SIGNER_CHAIN", `VOMS server ${ac.issuerDn}: ${e.code}: ${e.message}`);
  }
  return server;
}

function verifySignature(ac: AttributeCertificate, signer: Certificate): void {
  const alg = SIGNATURE_ALGORITHMS.get(ac.outerAlgorithm);
  if (!alg || ac.innerAlgorithm !== ac.outerAlgorithm) {
    throw new VomsError("AC_UNSUPPORTED_ALGORITHM", `signature algorithm ${ac.outerAlgorithm} (inner ${ac.innerAlgorithm})`);
  }
  // voms-proxy-fake labels ECDSA signatures sha256WithRSAEncryption; OpenSSL, and so VOMS, refuse
  // such a mismatch, and so do we.
  const keyType = signer.publicKey.asymmetricKeyType;
  if (keyType !== alg.keyType) {
    throw new VomsError("AC_UNSUPPORTED_ALGORITHM", `the AC says ${ac.outerAlgorithm} (${alg.keyType}) but the VOMS server key is ${keyType}`);
  }
  let ok = false;
  try {
    ok = verify(alg.hash, ac.acinfo, signer.publicKey, ac.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new VomsError("AC_BAD_SIGNATURE", `the AC's signature does not verify with the key of ${nameToOneline(signer.subject.der)}`);
}

function checkValidity(ac: AttributeCertificate, ctx: VomsContext): void {
  const now = ctx.now.getTime();
  const skew = ctx.opts.clockSkewSeconds * 1000;
  if (now < ac.notBefore.getTime() - skew) throw new VomsError("AC_NOT_YET_VALID", `the AC is not valid before ${ac.notBefore.toISOString()}`);
  if (now > ac.notAfter.getTime() + skew) throw new VomsError("AC_EXPIRED", `the AC expired ${ac.notAfter.toISOString()}`);
}

// As VOMS checks it: the EEC's serial, and its issuer's name (or, as voms-proxy-fake writes it, its
// own subject). The serial is what ties the AC to one certificate.
function checkHolder(ac: AttributeCertificate, eec: Certificate): void {
  const h = ac.holder;
  const matches = h !== undefined && h.serialHex === eec.serialHex && h.issuerKeys.some((k) => k === eec.issuer.key || k === eec.subject.key);
  if (!matches) throw new VomsError("AC_HOLDER_MISMATCH", `the AC was not issued to ${nameToOneline(eec.subject.der)} (serial ${eec.serialHex})`);
}

function checkExtensions(ac: AttributeCertificate, ctx: VomsContext): void {
  for (const ext of ac.extensions) {
    if (ext.critical && !HANDLED_CRITICAL.has(ext.oid)) throw new VomsError("AC_UNHANDLED_CRITICAL_EXTENSION", `critical AC extension ${ext.oid}`);
  }
  const has = (oid: string) => ac.extensions.some((e) => e.oid === oid);
  if (!has(VomsOid.noRevAvail) || !has(VomsOid.authorityKeyIdentifier)) throw new VomsError("AC_MISSING_EXTENSION");
  const targeting = ac.extensions.find((e) => e.oid === VomsOid.targetInformation);
  if (!targeting) return;
  let names: string[];
  try {
    names = readTargets(targeting.value);
  } catch (e) {
    throw new VomsError("AC_MALFORMED", `targetInformation: ${(e as Error).message}`);
  }
  const ours = new Set(ctx.targets.map((t) => t.toLowerCase()));
  if (!names.some((n) => ours.has(n.toLowerCase()))) {
    throw new VomsError("AC_TARGET", `the AC is targeted at [${names.join(", ")}], this server is [${ctx.targets.join(", ")}]`);
  }
}

// SEQUENCE OF Targets, Targets = SEQUENCE OF Target, Target = targetName [0] GeneralName | ...;
// VOMS writes host names as URI ([6]) GeneralNames; dNSName ([2]) is read as well.
function readTargets(value: Uint8Array): string[] {
  const names: string[] = [];
  for (const targets of Der.parse(value).expect(Tag.SEQUENCE, "SequenceOfTargets").children()) {
    for (const target of targets.expect(Tag.SEQUENCE, "Targets").children()) {
      if (target.tag !== contextTag(0, true)) continue;
      const [name] = target.children();
      if (name && (name.tag === contextTag(6, false) || name.tag === contextTag(2, false))) names.push(Buffer.from(name.content).toString("latin1"));
    }
  }
  return names;
}
