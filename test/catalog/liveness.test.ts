// Upload bookkeeping shared by many processes: a peer reclaims the uploads of a process that
// stopped beating, a restarted instance reclaims its own, and a live process's are never touched.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { openDatabase, type MetadataDb } from "../../src/db/connect.js";
import { FsBlobStore } from "../../src/blobs/fs-store.js";
import * as qi from "../../src/db/images.js";
import * as qs from "../../src/db/servers.js";
import { DEFAULT_KEEP_VERSIONS, recoverAtStart, startHeartbeat, type Storage } from "../../src/catalog/housekeeping.js";
import { commitUpload } from "../../src/catalog/images.js";
import { collectingLog, testDatabaseUrl } from "../support/server.js";

let dir: string, db: MetadataDb, blobs: FsBlobStore;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const as = (serverId: string): Storage => ({ db: db.db, blobs, serverId, keepVersions: DEFAULT_KEEP_VERSIONS });

// An upload in flight: its record, and its bytes already in the store.
async function upload(serverId: string, key: string) {
  await qi.addPendingUpload(db.db, { blob_key: key, image_id: "img", hypervisor: "xen", server_id: serverId, started: ago(0) });
  await blobs.put(key, Readable.from([randomBytes(1000)]));
}
const pendingKeys = async () => (await db.db.selectFrom("pending_uploads").select("blob_key").orderBy("blob_key").execute()).map((r) => r.blob_key);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "repoman-liveness-"));
  db = await openDatabase(await testDatabaseUrl(dir));
  blobs = new FsBlobStore(join(dir, "images"));
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a peer reclaims the uploads of a process silent for longer than the lease, and only those", async () => {
  await qs.register(db.db, { id: "gone", instance: "host-a/:8443", started: ago(600_000), heartbeat: ago(120_000) });
  await qs.register(db.db, { id: "busy", instance: "host-c/:8443", started: ago(600_000), heartbeat: ago(500) });
  await upload("gone", "images/i1/xen/gone");
  await upload("busy", "images/i1/xen/busy");
  const logs: Record<string, unknown>[] = [];
  const hb = await startHeartbeat(as("peer"), "host-b/:8443", collectingLog(logs), { heartbeatMs: 50, leaseMs: 60_000 });
  try {
    // The beat that reclaims it logs once its clean-up is complete.
    for (const until = Date.now() + 5000; (await pendingKeys()).length > 1 || !logs.some((l) => l.msg === "cleaned up after a process that stopped"); ) {
      assert.ok(Date.now() < until, "the silent process's upload was never reclaimed");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(await pendingKeys(), ["images/i1/xen/busy"]);
    assert.equal(await blobs.size("images/i1/xen/gone"), null, "its bytes are deleted");
    assert.equal(await blobs.size("images/i1/xen/busy"), 1000);
    assert.ok(logs.some((l) => l.msg === "cleaned up after a process that stopped"));
    // The process that was presumed dead cannot commit what was reclaimed.
    await assert.rejects(commitUpload(as("gone"), { imageId: "img", hypervisor: "xen", blobKey: "images/i1/xen/gone", maxBytes: undefined, by: { userId: "u1", userName: "alice", groups: [], permissions: new Set(), isAdmin: false, readOnly: false }, comment: null }, { size: 1000, sha256: "0".repeat(64), disk: { format: "raw", virtualSize: 1000, references: null } }), /presumed dead/);
  } finally {
    await hb.stop();
  }
  assert.equal(await db.db.selectFrom("servers").select("id").where("id", "=", "peer").executeTakeFirst(), undefined, "a clean stop deregisters");
});

test("a restarted instance reclaims what its earlier run left at once, however recent its heartbeat", async () => {
  await qs.register(db.db, { id: "before-crash", instance: "host-c/:8443", started: ago(60_000), heartbeat: ago(1000) });
  await upload("before-crash", "images/i2/xen/crashed");
  const r = await recoverAtStart(as("after-restart"), "host-c/:8443");
  assert.equal(r.uploads, 2, "both of host-c's earlier processes' uploads");
  assert.equal(r.partial, 0);
  assert.deepEqual(await pendingKeys(), []);
  assert.equal(await blobs.size("images/i2/xen/crashed"), null);
});

test("start-up sweeps incomplete blobs only when no other process is alive", async () => {
  await qs.register(db.db, { id: "alive", instance: "host-d/:8443", started: ago(1000), heartbeat: ago(1000) });
  // What a crash leaves that no record names: a partial file.
  const incoming = join(dir, "images", "incoming");
  mkdirSync(incoming, { recursive: true });
  writeFileSync(join(incoming, "images~i3~xen~crashed.part"), randomBytes(100));
  assert.equal((await recoverAtStart(as("x"), "host-e/:8443")).partial, 0, "it might be the live process's");
  assert.deepEqual(readdirSync(incoming), ["images~i3~xen~crashed.part"]);
  await qs.remove(db.db, ["alive"]);
  assert.equal((await recoverAtStart(as("y"), "host-e/:8443")).partial, 1);
  assert.deepEqual(readdirSync(incoming), []);
});
