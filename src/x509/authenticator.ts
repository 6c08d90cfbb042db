// From a TLS socket to a grid identity: read the peer chain once, validate it, cache the verdict.
import { createHash, type X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { TrustStore } from "./trust-store.js";
import { GridAuthError, validateGridChain, type GridIdentity, type ValidationOptions } from "./validate.js";
import { validateVomsExtension, type VomsVerdict } from "./voms.js";
import type { VomsDir } from "./vomsdir.js";

// Only a guard: Node builds the whole chain eagerly, and the validator refuses long ones itself.
const MAX_PEER_CHAIN = 64;

/**
 * The certificates the client sent, in the order it sent them (leaf first). This must be the only
 * call of getPeerX509Certificate() on a socket, made in 'secureConnection': in Node 20 the call
 * consumes OpenSSL's peer chain, so any later call (or getPeerCertificate(true)) sees the leaf only.
 * test/x509/node-peer-chain.test.ts pins that behaviour.
 */
export function readPeerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  for (let cert = socket.getPeerX509Certificate(); cert !== undefined && chain.length < MAX_PEER_CHAIN; cert = cert.issuerCertificate) {
    chain.push(cert);
  }
  return chain;
}

/** voms: the verdict on the proxy's VOMS ACs; undefined when it carries none or VOMS is off. */
export type AuthResult = { ok: true; identity: GridIdentity; voms: VomsVerdict | undefined } | { ok: false; code: string; message: string };

export interface VomsOptions {
  vomsdir: () => VomsDir;
  /** This server's host names, for ACs with a targets extension. */
  targets: readonly string[];
}

export interface AuthenticatorOptions {
  /** Milliseconds since the epoch; tests move it. */
  clock?: () => number;
  maxEntries?: number;
  /** Validate VOMS ACs too (without it they are ignored). */
  voms?: VomsOptions;
}

const POSITIVE_TTL_MS = 5 * 60_000;
const NEGATIVE_TTL_MS = 30_000;

interface CacheEntry {
  readonly result: AuthResult;
  readonly expires: number;
}

/**
 * Validates chains with a verdict cache keyed by the SHA-256 of the DER the client sent. Decoding
 * certificates dominates validation cost, and clients reconnect with the same proxy over and over.
 * Accepted chains are remembered until the identity expires or for 5 minutes, refused ones for 30
 * seconds; a new trust-store generation (CA or CRL change) empties the cache. The least recently
 * used entries go first when the cache is full.
 */
export class ChainAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private generation: string | undefined;
  private readonly clock: () => number;
  private readonly maxEntries: number;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly store: () => TrustStore,
    private readonly opts: ValidationOptions,
    options: AuthenticatorOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.voms = options.voms;
  }

  private readonly voms: VomsOptions | undefined;

  authenticate(presented: X509Certificate[]): AuthResult {
    const store = this.store();
    const vomsdir = this.voms?.vomsdir();
    const generation = `${store.generation}/${vomsdir?.generation ?? "-"}`;
    if (generation !== this.generation) {
      this.cache.clear();
      this.generation = generation;
    }
    const now = this.clock();
    const key = chainKey(presented);
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) {
      this.cache.delete(key); // re-insert: Map order is our recency order
      this.cache.set(key, hit);
      this.hits++;
      return hit.result;
    }
    this.cache.delete(key);
    this.misses++;

    let result: AuthResult;
    let expires: number;
    try {
      const identity = validateGridChain(presented, store, this.opts, new Date(now));
      const voms =
        vomsdir && identity.vomsExtension
          ? validateVomsExtension(identity.vomsExtension, identity.eec, { vomsdir, store, opts: this.opts, targets: this.voms!.targets, now: new Date(now) })
          : undefined;
      result = { ok: true, identity, voms };
      // An accepted AC must not outlive its notAfter in the cache, nor a refused one that is only
      // early stay refused once it starts.
      const acTimes = (voms?.accepted ?? []).map((a) => a.notAfter.getTime());
      expires = Math.min(identity.notAfter.getTime(), now + POSITIVE_TTL_MS, ...acTimes, ...(voms?.refused.some((r) => r.code === "AC_NOT_YET_VALID") ? [now + NEGATIVE_TTL_MS] : []));
    } catch (e) {
      if (!(e instanceof GridAuthError)) {
        // fail closed, but do not remember a verdict that a bug produced
        return { ok: false, code: "INTERNAL_ERROR", message: e instanceof Error ? e.message : String(e) };
      }
      result = { ok: false, code: e.code, message: e.message };
      expires = now + NEGATIVE_TTL_MS;
    }
    this.cache.set(key, { result, expires });
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= this.maxEntries) break;
      this.cache.delete(oldest);
    }
    return result;
  }

  stats(): { hits: number; misses: number; entries: number } {
    return { hits: this.hits, misses: this.misses, entries: this.cache.size };
  }
}

function chainKey(presented: X509Certificate[]): string {
  const hash = createHash("sha256");
  for (const cert of presented) hash.update(cert.raw); // DER is self-delimiting: no separator needed
  return hash.digest("hex");
}
