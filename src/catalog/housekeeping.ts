// Keeping the store tidy when many processes on many hosts share it. Every serving process is
// registered in the database and beats a heartbeat; an upload belongs to the process that began
// it. An upload whose process is gone (stopped beating, or restarted under the same instance
// name) is reclaimed: its blob, partial or complete, becomes garbage. The metadata transaction
// that orphans a blob records it in blob_garbage; the blob is deleted after the commit, and only
// then its record, so a crash in between leaves a record to retry, never a dangling pointer.
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as qi from "../db/images.js";
import * as qs from "../db/servers.js";
import * as qu from "../db/uploads.js";
import type { BlobStore } from "../blobs/blob-store.js";
import type { Log } from "../log.js";
import { DEFAULT_AUDIT_RETENTION_DAYS, imageTarget, pruneAudit, recordChange, SERVER, type By } from "./audit.js";

const AUDIT_PRUNE_MS = 3_600_000;

export interface Storage {
  db: Kysely<Database>;
  blobs: BlobStore;
  serverId: string; // this process, for upload bookkeeping
  keepVersions: number; // versions kept per hypervisor of images that set none; 0 = all
  // Files that name other files (qcow2 backing files, …) are refused unless this is true.
  allowBackingFiles?: boolean | undefined;
  observeCommit?: (seconds: number) => void; // for /metrics
}

// Resumable uploads that are cancelled or abandoned go with their bytes, each once however many
// processes discard them at the same time.
export async function discardSessions(s: Storage, rows: readonly qu.SessionRow[], by: By, action: "upload.cancel" | "upload.expire"): Promise<number> {
  let n = 0;
  for (const row of rows) {
    const gone = await s.db.transaction().execute(async (trx) => {
      if (!(await qu.deleteSession(trx, row.id))) return false;
      await qi.addGarbage(trx, [row.blob_key], new Date().toISOString());
      await recordChange(trx, by, { action, target: await imageTarget(trx, row.image_id), before: { upload: row.id, hypervisor: row.hypervisor, length: row.length, offset: row.offset } });
      return true;
    });
    if (gone) n++;
  }
  if (n) await collectGarbage(s);
  return n;
}

// Sessions past their expiry, or whose image was deleted. (A chunk still being written to one
// fails at its end.)
export async function sweepAbandonedUploads(s: Storage, now = new Date()): Promise<number> {
  return discardSessions(s, await qu.abandonedSessions(s.db, now.toISOString()), SERVER, "upload.expire");
}

export const DEFAULT_KEEP_VERSIONS = 5;

export interface Liveness {
  heartbeatMs: number;
  // A process silent for this long is dead: comfortably longer than any event-loop stall.
  leaseMs: number;
}
export const DEFAULT_LIVENESS: Liveness = { heartbeatMs: 10_000, leaseMs: 60_000 };

export interface Recovered {
  uploads: number;
  partial: number;
  garbage: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function collectGarbage(s: Storage): Promise<number> {
  const keys = await qi.garbage(s.db);
  for (const { blob_key } of keys) {
    await s.blobs.delete(blob_key);
    await qi.removeGarbage(s.db, blob_key);
  }
  return keys.length;
}

// Uploads of processes that are not registered become garbage, each exactly once however many
// processes reclaim at the same time.
async function reclaimOrphanedUploads(s: Storage): Promise<number> {
  let n = 0;
  for (const p of await qi.orphanedUploads(s.db)) {
    const reclaimed = await s.db.transaction().execute(async (trx) => {
      if (!(await qi.removePendingUpload(trx, p.blob_key))) return false;
      await qi.addGarbage(trx, [p.blob_key], new Date().toISOString());
      return true;
    });
    if (reclaimed) n++;
  }
  return n;
}

// Before an instance serves: whatever its earlier run left is dead, and so is every process
// silent for longer than the lease. Incomplete blobs that no record names (a put that had not yet
// been recorded, or a store shared with a crashed process) are swept only when no other process
// is alive anywhere, since theirs look the same.
export async function recoverAtStart(s: Storage, instance: string, liveness = DEFAULT_LIVENESS): Promise<Recovered> {
  await qs.removeInstance(s.db, instance);
  const uploads = (await reclaimFromSilent(s, liveness)) + (await sweepAbandonedUploads(s));
  const alone = !(await qs.anyAlive(s.db, iso(Date.now() - liveness.leaseMs)));
  const partial = alone ? await s.blobs.cleanupIncomplete(new Set(await qu.sessionBlobKeys(s.db))) : 0;
  return { uploads, partial, garbage: await collectGarbage(s) };
}

// Forgets the processes silent for longer than the lease, and reclaims their uploads.
async function reclaimFromSilent(s: Storage, liveness: Liveness): Promise<number> {
  await qs.removeSilentSince(s.db, iso(Date.now() - liveness.leaseMs));
  return reclaimOrphanedUploads(s);
}

// When a cluster primary sees a worker die: its uploads are reclaimed at once, without waiting
// for its lease to run out.
export async function reclaimFromDeadProcesses(s: Storage, serverIds: readonly string[]): Promise<Recovered> {
  await qs.remove(s.db, serverIds);
  return { uploads: await reclaimOrphanedUploads(s), partial: 0, garbage: await collectGarbage(s) };
}

// Registers this process and beats its heartbeat until stopped. Each beat also reclaims the
// uploads of processes that have stopped beating, so a host that dies for good is cleaned up
// after by its peers.
export async function startHeartbeat(
  s: Storage,
  instance: string,
  log: Log,
  liveness = DEFAULT_LIVENESS,
  auditRetentionDays = DEFAULT_AUDIT_RETENTION_DAYS,
): Promise<{ stop(): Promise<void> }> {
  const started = new Date().toISOString();
  await qs.register(s.db, { id: s.serverId, instance, started, heartbeat: started });
  let running: Promise<void> = Promise.resolve();
  let lastPrune = 0;
  const beat = async () => {
    const now = Date.now();
    if (!(await qs.beat(s.db, s.serverId, iso(now)))) {
      // Declared dead after a stall: uploads in flight were reclaimed and will fail at commit.
      log.warn("this process had been declared dead by a peer (stalled longer than the lease); registering again");
      await qs.register(s.db, { id: s.serverId, instance, started, heartbeat: iso(now) });
    }
    const uploads = (await reclaimFromSilent(s, liveness)) + (await sweepAbandonedUploads(s));
    const garbage = await collectGarbage(s);
    if (uploads || garbage) log.info({ uploads, garbage }, "cleaned up after a process that stopped");
    // Every process prunes, so that no single one needs to be up; an hour apart is soon enough.
    if (now - lastPrune >= AUDIT_PRUNE_MS) {
      lastPrune = now;
      const forgotten = await pruneAudit(s.db, auditRetentionDays, now);
      if (forgotten) log.info({ events: forgotten, retention_days: auditRetentionDays }, "forgot audit events past their retention");
    }
  };
  const timer = setInterval(() => {
    running = running.then(beat).catch((e) => log.error({ err: e }, "heartbeat failed"));
  }, liveness.heartbeatMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await qs.remove(s.db, [s.serverId]);
    },
  };
}
