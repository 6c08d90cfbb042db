// Upgrades keep data. A database as release 0.4.0 left it (migrations up to 0003, with image
// files in image_files) is migrated, and each of its image files becomes version 1 of its
// hypervisor, downloadable as before, with the same blob, size, checksum and time. A database
// with versions and resumable uploads (up to 0005, before the audit log) keeps its rows and
// gains an empty audit log. Versions from before 0008 have no format: null, not guessed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { sql } from "kysely";
import { openDatabase } from "../../src/db/connect.js";
import { FsBlobStore } from "../../src/blobs/fs-store.js";
import { buildActor } from "../../src/catalog/actors.js";
import * as images from "../../src/catalog/images.js";
import { DEFAULT_KEEP_VERSIONS } from "../../src/catalog/housekeeping.js";
import { DiskSniffer } from "../../src/catalog/disk-formats.js";
import { testDatabaseUrl } from "../support/server.js";

const RELEASE_0_4_0 = "0003_servers";

test("0004: every file of release 0.4.0 becomes version 1 of its hypervisor; nothing else changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-migrate-"));
  const url = await testDatabaseUrl(dir);
  const blobs = new FsBlobStore(join(dir, "images"));
  try {
    const xen = randomBytes(70_000);
    const kvm = randomBytes(1234);
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    const old = await openDatabase(url, { upTo: RELEASE_0_4_0 });
    // The rows 0.4.0 wrote for an image with two files, and one with none, as its SQL did.
    const at = "2026-11-02T10:00:00.000Z";
    const userId = randomUUID();
    await sql`insert into users (id, user_name, full_name, email, client_dn, dn_key, suspended, quota_bytes, created)
              values (${userId}, 'alice', 'Alice', null, '/C=CA/O=Grid/CN=Alice', 'c=ca,o=grid,cn=alice', 0, 0, ${at})`.execute(old.db);
    await sql`insert into group_members (group_id, user_id) select id, ${userId} from groups where name = 'users'`.execute(old.db);
    for (const [id, name, version] of [["img1", "sl6.img", 2], ["img2", "empty.img", 0]] as const) {
      await sql`insert into images (id, owner_id, name, description, os_variant, os_type, os_arch, hypervisors, read_only, unauthenticated_access, expires, version, created, modified, uploaded)
                values (${id}, ${userId}, ${name}, 'd', null, null, null, 'xen,kvm', 0, 1, null, ${version}, ${at}, ${at}, ${version ? at : null})`.execute(old.db);
    }
    for (const [hv, bytes, when] of [["xen", xen, "2026-11-02T10:01:00.000Z"], ["kvm", kvm, "2026-11-02T10:02:00.000Z"]] as const) {
      const key = `images/img1/${hv}/${randomUUID()}`;
      await blobs.put(key, Readable.from([bytes]));
      await sql`insert into image_files (image_id, hypervisor, blob_key, size, sha256, uploaded)
                values ('img1', ${hv}, ${key}, ${bytes.length}, ${sha(bytes)}, ${when})`.execute(old.db);
    }
    await old.close();

    const db = await openDatabase(url);
    try {
      const rows = await db.db.selectFrom("image_versions").selectAll().orderBy("hypervisor").execute();
      assert.deepEqual(
        rows.map((r) => [r.image_id, r.hypervisor, r.version, r.size, r.sha256, r.created, r.uploader, r.comment, r.restored_from]),
        [
          ["img1", "kvm", 1, kvm.length, sha(kvm), "2026-11-02T10:02:00.000Z", null, null, null],
          ["img1", "xen", 1, xen.length, sha(xen), "2026-11-02T10:01:00.000Z", null, null, null],
        ],
      );
      const tables = await db.db.introspection.getTables();
      assert.ok(!tables.some((t) => t.name === "image_files"), "image_files is gone: the newest version is the file");

      const user = (await db.db.selectFrom("users").selectAll().executeTakeFirstOrThrow())!;
      const alice = await buildActor(db.db, user, false);
      const view = await images.getImage(db.db, alice, "alice", "sl6.img");
      assert.equal(view.version, 2);
      assert.equal(view.keepVersions, null);
      assert.deepEqual(
        view.files.map((f) => [f.hypervisor, f.version, f.size, f.sha256]),
        [
          ["xen", 1, xen.length, sha(xen)],
          ["kvm", 1, kvm.length, sha(kvm)],
        ],
      );
      assert.deepEqual((await images.getImage(db.db, null, "alice", "empty.img")).files, []);
      for (const [hv, bytes] of [["xen", xen], ["kvm", kvm]] as const) {
        const dl = await images.findDownload(db.db, null, "alice", "sl6.img", hv, { version: 1 });
        const chunks: Buffer[] = [];
        for await (const c of await blobs.get(dl.blobKey)) chunks.push(c as Buffer);
        assert.ok(Buffer.concat(chunks).equals(bytes));
      }

      // The migrated version is an ordinary one: the next upload is version 2 and 1 stays kept.
      const s = { db: db.db, blobs, serverId: "test", keepVersions: DEFAULT_KEEP_VERSIONS };
      await db.db.insertInto("servers").values({ id: "test", instance: "test", started: at, heartbeat: new Date().toISOString() }).execute();
      const ticket = await images.beginUpload(s, alice, "alice", "sl6.img", "xen", 3);
      const sniffer = new DiskSniffer();
      const stored = await blobs.put(ticket.blobKey, Readable.from([Buffer.from("new")]), { observe: (c) => sniffer.add(c) });
      const after = await images.commitUpload(s, ticket, { ...stored, disk: sniffer.result() });
      assert.equal(after.files.find((f) => f.hypervisor === "xen")!.version, 2);
      const kept = await images.listVersions(db.db, alice, "alice", "sl6.img", "xen");
      assert.deepEqual(kept.versions.map((v) => [v.version, v.current, v.uploader]), [[2, true, "alice"], [1, false, null]]);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("0006: a database with versions and resumable uploads (up to 0005) gains an empty audit log, and its next change is recorded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-migrate-"));
  const url = await testDatabaseUrl(dir);
  try {
    const old = await openDatabase(url, { upTo: "0005_upload_sessions" });
    const at = "2026-12-01T10:00:00.000Z";
    const userId = randomUUID();
    await sql`insert into users (id, user_name, full_name, email, client_dn, dn_key, suspended, quota_bytes, created)
              values (${userId}, 'alice', 'Alice', null, '/C=CA/O=Grid/CN=Alice', 'c=ca,o=grid,cn=alice', 0, 0, ${at})`.execute(old.db);
    await sql`insert into group_members (group_id, user_id) select id, ${userId} from groups where name = 'users'`.execute(old.db);
    await sql`insert into images (id, owner_id, name, description, os_variant, os_type, os_arch, hypervisors, read_only, unauthenticated_access, expires, version, keep_versions, created, modified, uploaded)
              values ('img1', ${userId}, 'sl6.img', 'd', null, null, null, 'xen', 0, 0, null, 0, null, ${at}, ${at}, null)`.execute(old.db);
    await old.close();

    const db = await openDatabase(url);
    try {
      assert.deepEqual(await db.db.selectFrom("audit_events").selectAll().execute(), [], "no history is invented for what came before");
      const alice = await buildActor(db.db, (await db.db.selectFrom("users").selectAll().executeTakeFirstOrThrow())!, false);
      assert.equal((await images.getImage(db.db, alice, "alice", "sl6.img")).description, "d");
      await images.modifyImage({ db: db.db, blobs: new FsBlobStore(join(dir, "images")), serverId: "test", keepVersions: DEFAULT_KEEP_VERSIONS }, alice, "alice", "sl6.img", { description: "e" });
      const events = await db.db.selectFrom("audit_events").selectAll().execute();
      assert.deepEqual(
        events.map((e) => [e.actor, e.remote, e.action, e.target, e.before, e.after]),
        [["alice", "local", "image.modify", "alice/sl6.img", '{"description":"d"}', '{"description":"e"}']],
      );
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("0008: versions from before formats were detected say null, keep it through a rollback, and the next upload is detected", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-migrate-"));
  const url = await testDatabaseUrl(dir);
  const blobs = new FsBlobStore(join(dir, "images"));
  try {
    const old = await openDatabase(url, { upTo: "0007_image_lists" });
    const at = "2027-01-10T10:00:00.000Z";
    const userId = randomUUID();
    const bytes = randomBytes(5000);
    const key = `images/img1/kvm/${randomUUID()}`;
    await blobs.put(key, Readable.from([bytes]));
    await sql`insert into users (id, user_name, full_name, email, client_dn, dn_key, suspended, quota_bytes, created)
              values (${userId}, 'alice', 'Alice', null, '/C=CA/O=Grid/CN=Alice', 'c=ca,o=grid,cn=alice', 0, 0, ${at})`.execute(old.db);
    await sql`insert into group_members (group_id, user_id) select id, ${userId} from groups where name = 'users'`.execute(old.db);
    await sql`insert into images (id, owner_id, name, description, os_variant, os_type, os_arch, hypervisors, read_only, unauthenticated_access, expires, version, keep_versions, created, modified, uploaded)
              values ('img1', ${userId}, 'sl6.img', 'd', null, null, null, 'kvm', 0, 0, null, 1, null, ${at}, ${at}, ${at})`.execute(old.db);
    await sql`insert into image_versions (image_id, hypervisor, version, blob_key, size, sha256, created, uploader, comment, restored_from, sha512)
              values ('img1', 'kvm', 1, ${key}, ${bytes.length}, ${createHash("sha256").update(bytes).digest("hex")}, ${at}, 'alice', null, null, null)`.execute(old.db);
    await old.close();

    const db = await openDatabase(url);
    try {
      const alice = await buildActor(db.db, (await db.db.selectFrom("users").selectAll().executeTakeFirstOrThrow())!, false);
      const file = (await images.getImage(db.db, alice, "alice", "sl6.img")).files[0]!;
      assert.deepEqual([file.version, file.size, file.format, file.virtualSize], [1, bytes.length, null, null], "not detected: the bytes were not read again");

      const s = { db: db.db, blobs, serverId: "test", keepVersions: DEFAULT_KEEP_VERSIONS };
      await db.db.insertInto("servers").values({ id: "test", instance: "test", started: at, heartbeat: new Date().toISOString() }).execute();
      const ticket = await images.beginUpload(s, alice, "alice", "sl6.img", "kvm", 3);
      const sniffer = new DiskSniffer();
      const stored = await blobs.put(ticket.blobKey, Readable.from([Buffer.from("new")]), { observe: (c) => sniffer.add(c) });
      await images.commitUpload(s, ticket, { ...stored, disk: sniffer.result() });
      const back = await images.rollbackImage(s, alice, "alice", "sl6.img", { version: 1 });
      assert.deepEqual([back.version.format, back.version.virtualSize], [null, null], "a rollback copies what its version says, null too");
      const kept = await images.listVersions(db.db, alice, "alice", "sl6.img");
      assert.deepEqual(kept.versions.map((v) => [v.version, v.format, v.virtualSize]), [[3, null, null], [2, "raw", 3], [1, null, null]]);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
