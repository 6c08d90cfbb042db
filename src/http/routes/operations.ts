// /healthz (the process answers) and /readyz (it can serve: database and blob store reachable,
// not shutting down), for load balancers and orchestrators: no certificate needed, and served on
// every listener, the plain-HTTP ones included. /metrics for Prometheus, to the addresses of
// --metrics-allow and to admins.
import type { FastifyPluginAsync } from "fastify";
import type { BlockList } from "node:net";
import type { Storage } from "../../catalog/housekeeping.js";
import { ping } from "../../db/connect.js";
import { forbidden } from "../../errors.js";
import type { Health } from "../app.js";
import { addressIn } from "../identity.js";
import type { Metrics, Sampled } from "../metrics.js";

async function probe(check: () => Promise<unknown>): Promise<string> {
  try {
    await check();
    return "ok";
  } catch (e) {
    return (e as Error).message || String(e);
  }
}

// Who may read /metrics besides admins: addresses (--metrics-allow) and certificates (--metrics-dn).
export interface MetricsReaders {
  addresses: BlockList;
  dnKeys: ReadonlySet<string>; // canonical DNs
}

export interface OperationsOptions {
  storage: Storage;
  health: Health;
  metrics: Metrics;
  readers: MetricsReaders;
  sample: () => Sampled;
}

export const operationsRoutes: FastifyPluginAsync<OperationsOptions> = async (app, { storage, health, metrics, readers, sample }) => {
  const open = { anonymous: true, publicHttp: true };
  app.get("/healthz", { config: { ...open, doc: { summary: "Liveness: 200 while the process answers" } } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { ...open, doc: { summary: "Readiness: 200 when the database and the blob store answer; 503 while shutting down or when either does not" } } }, async (_req, reply) => {
    const [database, blobs] = await Promise.all([probe(() => ping(storage.db)), probe(() => storage.blobs.check())]);
    const ready = !health.draining && database === "ok" && blobs === "ok";
    reply.code(ready ? 200 : 503).header("cache-control", "no-store");
    return { status: health.draining ? "draining" : ready ? "ready" : "unavailable", database, storage: blobs };
  });
  app.get("/metrics", { config: { ...open, doc: { summary: "Prometheus metrics of this process (to --metrics-allow addresses and admins)" } } }, async (req, reply) => {
    const dnKey = req.identity.status === "authenticated" ? req.identity.dnKey : undefined;
    const allowed = addressIn(readers.addresses, req.raw.socket.remoteAddress) || (dnKey !== undefined && readers.dnKeys.has(dnKey)) || req.actor?.isAdmin;
    if (!allowed) throw forbidden("metrics are served to the addresses of --metrics-allow, the certificates of --metrics-dn and admins");
    return reply.type("text/plain; version=0.0.4; charset=utf-8").header("cache-control", "no-store").send(metrics.render(sample()));
  });
};
