// How a request's identity is established, in one place:
//  - on the HTTPS listener, from the client's certificate chain, validated once per connection
//    in 'secureConnection' (before any request on it is parsed) by src/x509;
//  - on the front-end listener, from the headers of a TLS-terminating proxy, but only when the
//    connection comes from a configured trusted address. Everyone else is anonymous.
import { BlockList, isIPv4, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { IncomingHttpHeaders } from "node:http";
import { readPeerChain, type AuthResult, type ChainAuthenticator } from "../x509/authenticator.js";
import { canonicalDn, toOneline } from "../x509/dn.js";

// vomsFqans: from the valid VOMS ACs of the proxy, for this connection only (front ends cannot
// pass proxies on, so theirs are always empty); vomsRefused: why other ACs were not believed.
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
const identities = new WeakMap<AuthResult, Identity>();

export function certificateIdentity(socket: Socket): Identity {
  const auth = connections.get(socket);
  if (auth === undefined || auth === "none") return { status: "anonymous", reason: "no client certificate was presented" };
  let identity = identities.get(auth);
  if (!identity) {
    identity = auth.ok
      ? {
          status: "authenticated",
          dn: auth.identity.dn,
          dnKey: canonicalDn(auth.identity.dn),
          limited: auth.identity.limited,
          via: "certificate",
          proxy: auth.identity.proxyKind,
          vomsFqans: auth.voms?.accepted.flatMap((a) => a.fqans) ?? [],
          vomsRefused: auth.voms?.refused.map((r) => `${r.code}: ${r.message}`) ?? [],
        }
      : { status: "anonymous", reason: `the client certificate was refused (${auth.code}: ${auth.message})` };
    identities.set(auth, identity);
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
export type FrontEndHeaderStyle = keyof typeof FRONT_END_HEADERS;

export interface FrontEndPolicy {
  trusted: BlockList;
  headers: FrontEndHeaderStyle;
}

export function frontEndIdentity(socket: Socket, headers: IncomingHttpHeaders, policy: FrontEndPolicy): Identity {
  if (!addressIn(policy.trusted, socket.remoteAddress)) {
    return { status: "anonymous", reason: `identity headers are accepted only from trusted front ends, not from ${socket.remoteAddress}` };
  }
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
