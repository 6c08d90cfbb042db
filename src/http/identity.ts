// How a request's identity is established, in one place:
//  - on the HTTPS listener, from the client's certificate chain, validated once per connection
//    in 'secureConnection' (before any request on it is parsed) by src/x509;
//  - on the front-end listener, from the headers of a TLS-terminating proxy, but only when the
//    connection comes from a configured trusted address: either the DN the front end verified, or
//    (style "chain") the certificates the client presented, validated here as on the HTTPS
//    listener. Everyone else is anonymous.
import { createHash, X509Certificate } from "node:crypto";
import { BlockList, isIPv4, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { IncomingHttpHeaders } from "node:http";
import { readPeerChain, type AuthResult, type ChainAuthenticator } from "../x509/authenticator.js";
import { canonicalDn, toOneline } from "../x509/dn.js";

// vomsFqans: from the valid VOMS ACs of the proxy, for this connection (or, behind a front end
// that passes the chain, this request) only; a front end that passes only a DN gives none.
// vomsRefused: why other ACs were not believed.
export type Identity =
  | { status: "anonymous"; reason: string }
  | {
      status: "authenticated";
      dn: string;
      dnKey: string;
      limited: boolean;
      via: "certificate" | "front-end";
      proxy: string;
      vomsFqans: readonly string[];
      vomsRefused: readonly string[];
    };

const connections = new WeakMap<Socket, AuthResult | "none">();

export function attachCertificateIdentity(socket: TLSSocket, authenticator: ChainAuthenticator): void {
  const chain = readPeerChain(socket);
  connections.set(socket, chain.length === 0 ? "none" : authenticator.authenticate(chain));
}

// One Identity per verdict: the authenticator hands every connection with the same chain the same
// AuthResult, so the canonical DN key is computed once per chain, not once per request.
const identities = { certificate: new WeakMap<AuthResult, Identity>(), "front-end": new WeakMap<AuthResult, Identity>() };

export function certificateIdentity(socket: Socket): Identity {
  const auth = connections.get(socket);
  if (auth === undefined || auth === "none") return { status: "anonymous", reason: "no client certificate was presented" };
  return identityOf(auth, "certificate");
}

function identityOf(auth: AuthResult, via: "certificate" | "front-end"): Identity {
  let identity = identities[via].get(auth);
  if (!identity) {
    identity = auth.ok
      ? {
          status: "authenticated",
          dn: auth.identity.dn,
          dnKey: canonicalDn(auth.identity.dn),
          limited: auth.identity.limited,
          via,
          proxy: auth.identity.proxyKind,
          vomsFqans: auth.voms?.accepted.flatMap((a) => a.fqans) ?? [],
          vomsRefused: auth.voms?.refused.map((r) => `${r.code}: ${r.message}`) ?? [],
        }
      : { status: "anonymous", reason: `the client certificate was refused (${auth.code}: ${auth.message})` };
    identities[via].set(auth, identity);
  }
  return identity;
}

// Address ranges from an option's values (trusted-proxy, metrics-allow): CIDRs or single addresses.
export function parseCidrs(option: string, cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split("/") as [string, string | undefined];
    const type = isIPv4(addr) ? "ipv4" : "ipv6";
    const prefix = bits === undefined ? (type === "ipv4" ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix)) throw new Error(`${option}: "${cidr}" is not an address or CIDR range`);
    try {
      list.addSubnet(addr, prefix, type);
    } catch {
      throw new Error(`${option}: "${cidr}" is not an address or CIDR range`);
    }
  }
  return list;
}

export function addressIn(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) return list.check(v4, "ipv4");
  return list.check(address, isIPv4(address) ? "ipv4" : "ipv6");
}

// The header pairs a front end may send: the original Repoman's, Apache mod_ssl's variable names,
// and the X-SSL-Client-* pair conventional with nginx. Exactly one style is read (configured), so
// a client cannot slip in a pair the front end does not overwrite. DNs may be in OpenSSL one-line
// form or RFC 2253 form (Apache's default, nginx's $ssl_client_s_dn).
export const FRONT_END_HEADERS = {
  repoman: { verify: "x-repoman-ssl-client-verify", dn: "x-repoman-ssl-client-s-dn" },
  apache: { verify: "ssl_client_verify", dn: "ssl_client_s_dn" },
  nginx: { verify: "x-ssl-client-verify", dn: "x-ssl-client-s-dn" },
} as const;

// Style "chain": the front end does not judge the client's certificate (Apache's
// SSLVerifyClient optional_no_ca) and passes what the client presented, as PEM: the leaf, whose
// key the TLS handshake proved the client holds, and the rest of the chain in the order sent
// (mod_ssl's SSL_CLIENT_CERT and SSL_CLIENT_CERT_CHAIN_n). docs/front-ends/apache-chain.conf
// forwards and clears exactly these slots; more would be slots a client could fill itself.
export const CHAIN_HEADERS = {
  cert: "x-repoman-ssl-client-cert",
  chain: Array.from({ length: 10 }, (_, i) => `x-repoman-ssl-client-cert-chain-${i}`),
} as const;

export type FrontEndHeaderStyle = keyof typeof FRONT_END_HEADERS | "chain";

export interface FrontEndPolicy {
  trusted: BlockList;
  headers: FrontEndHeaderStyle;
  // The HTTPS listener's authenticator: style "chain" validates with it (same trust store, CRLs,
  // VOMS and verdict cache), so there is one validation path whichever way a chain arrives.
  authenticator?: ChainAuthenticator | undefined;
}

export function frontEndIdentity(socket: Socket, headers: IncomingHttpHeaders, policy: FrontEndPolicy): Identity {
  if (!addressIn(policy.trusted, socket.remoteAddress)) {
    return { status: "anonymous", reason: `identity headers are accepted only from trusted front ends, not from ${socket.remoteAddress}` };
  }
  if (policy.headers === "chain") return forwardedChainIdentity(headers, policy.authenticator);
  const h = FRONT_END_HEADERS[policy.headers];
  const verify = headers[h.verify];
  // Node reads header bytes as Latin-1; front ends send DNs as UTF-8 (Apache's RFC 2253 form).
  const raw = headers[h.dn];
  const dnText = typeof raw === "string" ? Buffer.from(raw, "latin1").toString("utf8") : raw;
  if (typeof dnText !== "string" || dnText === "") return { status: "anonymous", reason: "the front end sent no verified client certificate" };
  if (verify !== "SUCCESS") return { status: "anonymous", reason: `the front end did not verify the client certificate (${String(verify)})` };
  try {
    return { status: "authenticated", dn: toOneline(dnText), dnKey: canonicalDn(dnText), limited: false, via: "front-end", proxy: "none", vomsFqans: [], vomsRefused: [] };
  } catch (e) {
    return { status: "anonymous", reason: `the front end sent an unreadable DN: ${(e as Error).message}` };
  }
}

function forwardedChainIdentity(headers: IncomingHttpHeaders, authenticator: ChainAuthenticator | undefined): Identity {
  if (!authenticator) return { status: "anonymous", reason: "this server validates no forwarded certificate chains" };
  const chain = readForwardedChain(headers);
  if (typeof chain === "string") return { status: "anonymous", reason: chain };
  return identityOf(authenticator.authenticate(chain), "front-end");
}

/**
 * The presented chain from the chain headers, leaf first, or why there is none to believe. All or
 * nothing: one unreadable certificate, or a slot filled after an empty one, and the whole chain is
 * refused rather than validated without it.
 */
export function readForwardedChain(headers: IncomingHttpHeaders): X509Certificate[] | string {
  const leaf = headers[CHAIN_HEADERS.cert];
  if (leaf === undefined) {
    return CHAIN_HEADERS.chain.some((h) => headers[h] !== undefined)
      ? "the front end sent chain certificates without the client's certificate"
      : "no client certificate was presented to the front end";
  }
  const ders: Buffer[] = [];
  const names: string[] = [];
  const slots: [string, string | string[] | undefined][] = [[CHAIN_HEADERS.cert, leaf], ...CHAIN_HEADERS.chain.map((h) => [h, headers[h]] as [string, string | string[] | undefined])];
  let ended = false;
  for (const [name, value] of slots) {
    if (value === undefined) {
      ended = true;
      continue;
    }
    if (ended) return `the front end sent ${name} after an empty slot: the chain is incomplete`;
    const der = pemToDer(value);
    if (!der) return `the front end sent an unreadable certificate in ${name}`;
    ders.push(der);
    names.push(name);
  }
  const chain = parseChain(ders);
  return typeof chain === "number" ? `the front end sent an unreadable certificate in ${names[chain]}` : chain;
}

// Exactly one PEM certificate. Front ends cannot put line breaks in a header: Apache turns them
// into spaces, others into tabs; any whitespace inside the base64 is therefore ignored, anything
// else (a second certificate, text around it, a value joined from two headers) is refused.
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----$/;

function pemToDer(value: string | string[]): Buffer | undefined {
  if (typeof value !== "string") return undefined;
  const body = PEM_CERTIFICATE.exec(value.trim())?.[1]?.replace(/\s+/g, "");
  if (!body) return undefined;
  const der = Buffer.from(body, "base64");
  // Buffer.from skips what is not base64; only a canonical encoding is the certificate we were sent.
  return der.length > 0 && der.toString("base64") === body ? der : undefined;
}

// A connection from the front end carries many clients' requests, so a chain is read per request,
// not per connection as on the HTTPS listener; and decoding certificates costs more than all else
// (1.4 ms for a VOMS proxy and its EEC, 0.03 ms once kept). Decoded chains are therefore kept by
// their bytes. This is no verdict: every request still goes through the authenticator, with its
// expiry and reloads. Kept few: behind optional_no_ca any client can make up chains, of up to the
// 64 KiB of headers the front-end listener reads.
const MAX_DECODED = 256;
const decoded = new Map<string, X509Certificate[]>();

/** The certificates, or the index of the first that does not decode. */
function parseChain(ders: Buffer[]): X509Certificate[] | number {
  const hash = createHash("sha256");
  // Lengths too: the same bytes split into other certificates are another chain.
  for (const der of ders) hash.update(`${der.length}:`).update(der);
  const key = hash.digest("hex");
  const hit = decoded.get(key);
  if (hit) {
    decoded.delete(key); // re-insert: Map order is our recency order
    decoded.set(key, hit);
    return hit;
  }
  const chain: X509Certificate[] = [];
  for (const [i, der] of ders.entries()) {
    try {
      const cert = new X509Certificate(der);
      // OpenSSL reads one DER object and would ignore bytes after it.
      if (cert.raw.length !== der.length) return i;
      chain.push(cert);
    } catch {
      return i;
    }
  }
  decoded.set(key, chain);
  for (const oldest of decoded.keys()) {
    if (decoded.size <= MAX_DECODED) break;
    decoded.delete(oldest);
  }
  return chain;
}
