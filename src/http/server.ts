// The listeners: HTTPS with client-certificate login, and optionally plain HTTP for trusted
// TLS-terminating front ends. Owns the trust store (re-read on change) and graceful shutdown.
import https from "node:https";
import http from "node:http";
import { constants as cryptoConstants } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { MetadataDb } from "../db/connect.js";
import type { BlobStore } from "../blobs/blob-store.js";
import { DEFAULT_AUDIT_RETENTION_DAYS } from "../catalog/audit.js";
import { DEFAULT_KEEP_VERSIONS, DEFAULT_LIVENESS, recoverAtStart, startHeartbeat, type Storage } from "../catalog/housekeeping.js";
import { TrustStore, watchTrustStore } from "../x509/trust-store.js";
import { ChainAuthenticator } from "../x509/authenticator.js";
import { VomsDir, vomsDirSnapshot } from "../x509/vomsdir.js";
import type { VomsMapping } from "../policy/voms-map.js";
import type { ValidationOptions } from "../x509/validate.js";
import { attachCertificateIdentity, parseCidrs, type FrontEndHeaderStyle } from "./identity.js";
import { buildApp } from "./app.js";
import { Metrics } from "./metrics.js";
import { loadSigner, signsSmime } from "../x509/smime.js";
import type { Log } from "../log.js";

export interface HostPort {
  host: string;
  port: number;
}

export interface ServerOptions {
  listen: HostPort;
  proxyListen?: HostPort | undefined;
  httpListen?: HostPort | undefined; // plain HTTP, public image downloads only
  httpPublicUrl?: string | undefined;
  hostCert: string;
  hostKey: string;
  // Signs image lists; default: the host certificate and key.
  listSigningCert?: string | undefined;
  listSigningKey?: string | undefined;
  caDir: string;
  validation: ValidationOptions;
  trustedProxies: string[];
  // Addresses (CIDR) that may read /metrics without a certificate; default: this host.
  metricsAllow?: string[] | undefined;
  // Certificate DNs (canonical, as canonicalDn makes them) that may read /metrics from anywhere.
  metricsDns?: string[] | undefined;
  frontEndHeaders: FrontEndHeaderStyle;
  publicUrl?: string | undefined;
  db: MetadataDb;
  blobs: BlobStore;
  // Downloads answered with a redirect to a presigned URL valid this many seconds (S3 only).
  redirectDownloads?: number | undefined;
  uploadExpiryHours?: number | undefined;
  auditRetentionDays?: number | undefined; // default DEFAULT_AUDIT_RETENTION_DAYS; 0 keeps all
  // This server's name among all sharing the database; its next start reclaims what it left.
  instance?: string | undefined;
  // False in cluster workers: the primary recovers before any worker serves.
  recoverAtStart?: boolean | undefined;
  serverId?: string | undefined;
  // Versions kept per hypervisor of images that set none (default 5); 0 keeps all.
  keepVersions?: number | undefined;
  // VOMS attribute certificates: where trusted VOMS servers are, what FQANs give, our host names.
  voms?: { vomsdir: string; map: readonly VomsMapping[]; autoRegister: boolean; targets: readonly string[] } | undefined;
  // Accept image files that name other files (qcow2 backing files, …); default false.
  allowBackingFiles?: boolean | undefined;
  log: Log;
}

export interface RunningServer {
  app: FastifyInstance;
  port: number;
  proxyPort: number | undefined;
  httpPort: number | undefined;
  storage: Storage;
  trustStore(): TrustStore;
  // drainMs: first answer /readyz with 503 this long, still serving, so that balancers move away.
  close(graceMs?: number, drainMs?: number): Promise<void>;
}

export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`${what}: expected HOST:PORT, got "${text}"`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

function listen(server: http.Server, at: HostPort): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  let store = TrustStore.load(opts.caDir);
  let storeLoaded = Date.now();
  for (const w of store.warnings) opts.log.warn(`trust store: ${w}`);
  let vomsdir = opts.voms ? VomsDir.load(opts.voms.vomsdir) : undefined;
  // A host without a vomsdir is normal until VOMS is used: only then is a missing one a problem.
  const vomsLevel = opts.voms?.map.length ? "warn" : "info";
  for (const w of vomsdir?.warnings ?? []) opts.log[vomsLevel](`vomsdir: ${w}`);
  let vomsdirSeen = opts.voms ? vomsDirSnapshot(opts.voms.vomsdir) : "";
  // The vomsdir changes when a VO moves its server: a poll is enough, and a reload costs little.
  const vomsPoll = opts.voms
    ? setInterval(() => {
        const now = vomsDirSnapshot(opts.voms!.vomsdir);
        if (now === vomsdirSeen) return;
        vomsdirSeen = now;
        vomsdir = VomsDir.load(opts.voms!.vomsdir);
        for (const w of vomsdir.warnings) opts.log[vomsLevel](`vomsdir: ${w}`);
      }, 30_000).unref()
    : undefined;
  const authenticator = new ChainAuthenticator(() => store, opts.validation, opts.voms ? { voms: { vomsdir: () => vomsdir!, targets: opts.voms.targets } } : {});
  const signer = loadSigner(opts.listSigningCert ?? opts.hostCert, opts.listSigningKey ?? opts.hostKey);
  if (!signsSmime(signer)) {
    opts.log.warn(`image lists are signed with ${opts.listSigningCert ?? opts.hostCert}, whose extended key usage does not allow e-mail protection: subscribers verifying with openssl smime -verify need -purpose any; give --list-signing-cert and --list-signing-key a certificate for signing`);
  }
  const key = readFileSync(opts.hostKey);
  const cert = readFileSync(opts.hostCert);
  const contextOptions = () => ({
    key,
    cert,
    // Only names the acceptable CAs in the CertificateRequest: OpenSSL cannot validate grid
    // proxies, so src/x509 validates every presented chain instead (rejectUnauthorized: false).
    ca: store.caPem(),
    // Resumed sessions carry only the leaf certificate, not the chain the identity comes from.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    minVersion: "TLSv1.2" as const,
  });

  const metrics = new Metrics();
  const storage: Storage = {
    db: opts.db.db,
    blobs: opts.blobs,
    serverId: opts.serverId ?? randomUUID(),
    keepVersions: opts.keepVersions ?? DEFAULT_KEEP_VERSIONS,
    allowBackingFiles: opts.allowBackingFiles ?? false,
    observeCommit: (seconds) => metrics.committed(seconds),
  };
  const instance = opts.instance ?? (opts.listen.port ? `${hostname()}/${opts.listen.host}:${opts.listen.port}` : storage.serverId);
  if (opts.recoverAtStart ?? true) {
    const recovered = await recoverAtStart(storage, instance);
    if (recovered.uploads || recovered.partial || recovered.garbage) opts.log.info(recovered, "cleaned up after interrupted uploads");
  }
  const heartbeat = await startHeartbeat(storage, instance, opts.log, DEFAULT_LIVENESS, opts.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS);

  const health = { draining: false };
  const frontEndSockets = new WeakSet<Socket>();
  const publicHttpSockets = new WeakSet<Socket>();
  let httpPort: number | undefined;
  const publicHttpBase = opts.httpPublicUrl
    ? () => opts.httpPublicUrl!.replace(/\/+$/, "")
    : opts.httpListen
      ? (hostname: string) => `http://${hostname}${httpPort === 80 ? "" : `:${httpPort}`}`
      : undefined;
  let tlsServer!: https.Server;
  const app = await buildApp(
    {
      storage,
      redirectDownloads: opts.redirectDownloads,
      uploadExpiryHours: opts.uploadExpiryHours,
      frontEnd: { trusted: parseCidrs("trusted-proxy", opts.trustedProxies), headers: opts.frontEndHeaders, authenticator },
      frontEndSockets,
      publicHttpSockets,
      publicUrl: opts.publicUrl,
      publicHttpBase,
      log: opts.log,
      health,
      metricsReaders: { addresses: parseCidrs("metrics-allow", opts.metricsAllow ?? ["127.0.0.1", "::1"]), dnKeys: new Set(opts.metricsDns ?? []) },
      signer,
      metrics,
      sample: () => ({
        trustStoreGeneration: store.generation,
        trustStoreLoaded: Math.floor(storeLoaded / 1000),
        crls: store.crls(),
        verdictCache: authenticator.stats(),
        dbPool: opts.db.poolStats?.(),
        storeCounters: opts.blobs.counters?.() ?? [],
      }),
      voms: opts.voms ? { map: opts.voms.map, autoRegister: opts.voms.autoRegister } : undefined,
    },
    (handler) => {
      tlsServer = https.createServer({ ...contextOptions(), requestCert: true, rejectUnauthorized: false }, handler);
      return tlsServer;
    },
  );
  await app.ready();

  tlsServer.on("secureConnection", (socket) => {
    try {
      attachCertificateIdentity(socket, authenticator);
    } catch (e) {
      opts.log.error({ err: e }, "certificate validation failed unexpectedly");
      socket.destroy();
    }
  });

  const servers: http.Server[] = [tlsServer];
  let proxyServer: http.Server | undefined;
  if (opts.proxyListen) {
    // A forwarded chain is several PEM certificates in headers, a VOMS proxy's beyond Node's
    // default 16 KiB for all headers.
    const maxHeaderSize = opts.frontEndHeaders === "chain" ? 64 * 1024 : undefined;
    proxyServer = http.createServer({ ...(maxHeaderSize ? { maxHeaderSize } : {}) }, (req, res) => app.routing(req, res));
    proxyServer.on("connection", (s: Socket) => frontEndSockets.add(s));
    servers.push(proxyServer);
  }
  let httpServer: http.Server | undefined;
  if (opts.httpListen) {
    httpServer = http.createServer((req, res) => app.routing(req, res));
    httpServer.on("connection", (s: Socket) => publicHttpSockets.add(s));
    servers.push(httpServer);
  }
  // Uploads wait for "100 Continue" until they are authorised (see routes/raw.ts).
  for (const s of servers) s.on("checkContinue", (req, res) => s.emit("request", req, res));
  for (const s of servers) {
    // Image transfers may legitimately take hours; a stalled client is caught by the socket timeout.
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
    s.timeout = 300_000;
  }

  const watcher = watchTrustStore(opts.caDir, (next: TrustStore) => {
    store = next;
    storeLoaded = Date.now();
    tlsServer.setSecureContext(contextOptions());
    opts.log.info({ generation: next.generation, warnings: next.warnings }, "trust store reloaded");
  });

  const port = await listen(tlsServer, opts.listen);
  const proxyPort = proxyServer && opts.proxyListen ? await listen(proxyServer, opts.proxyListen) : undefined;
  httpPort = httpServer && opts.httpListen ? await listen(httpServer, opts.httpListen) : undefined;

  let closing: Promise<void> | undefined;
  return {
    app,
    port,
    proxyPort,
    httpPort,
    storage,
    trustStore: () => store,
    close(graceMs = 30_000, drainMs = 0) {
      closing ??= (async () => {
        health.draining = true;
        if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
        watcher.close();
        clearInterval(vomsPoll);
        const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
        for (const s of servers) s.closeIdleConnections();
        const timer = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), graceMs);
        await Promise.all(closed);
        clearTimeout(timer);
        await app.close();
        await heartbeat.stop();
        opts.blobs.close?.();
        await opts.db.close();
      })();
      return closing;
    },
  };
}
