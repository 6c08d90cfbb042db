// /healthz (the process answers) and /readyz (it can serve: database and blob store reachable,
// not shutting down), for load balancers and orchestrators: no certificate needed, and served on
// every listener, the plain-HTTP ones included.
import type { FastifyPluginAsync } from "fastify";
import { sql } from "kysely";
import type { Storage } from "../../catalog/housekeeping.js";
import type { Health } from "../app.js";

async function probe(check: () => Promise<unknown>): Promise<string> {
  try {
    await check();
    return "ok";
  } catch (e) {
    return (e as Error).message || String(e);
  }
}

export const healthRoutes: FastifyPluginAsync<{ storage: Storage; health: Health }> = async (app, { storage, health }) => {
  const open = { anonymous: true, publicHttp: true };
  app.get("/healthz", { config: { ...open, doc: { summary: "Liveness: 200 while the process answers" } } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { ...open, doc: { summary: "Readiness: 200 when the database and the blob store answer; 503 while shutting down or when either does not" } } }, async (_req, reply) => {
    const [database, blobs] = await Promise.all([probe(() => sql`select 1`.execute(storage.db)), probe(() => storage.blobs.check())]);
    const ready = !health.draining && database === "ok" && blobs === "ok";
    reply.code(ready ? 200 : 503).header("cache-control", "no-store");
    return { status: health.draining ? "draining" : ready ? "ready" : "unavailable", database, storage: blobs };
  });
};
