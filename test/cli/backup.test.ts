// `repoman-server backup` and `restore`, round trip: a running server with real uploads is backed
// up, the backup restored into a new data directory, and a server started on it serves the same
// bytes and the same version history. Plus the refusals that keep a backup or a repository whole.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { client } from "../support/http.js";
import { fixturePki } from "../support/pki.js";
import { NO_HOST_SETUP, SERVER_MAIN, spawnServer, type ServerProcess } from "../support/process.js";
import { ADMIN_DN, trustedCaBundle } from "../support/server.js";

let pki: string;
let dir: string;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const admin = () => ({ cert: join(pki, "users/admin/usercert.pem"), key: join(pki, "users/admin/userkey.pem") });
const serve = (dataDir: string) =>
  spawnServer([
    "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--keep-versions", "2",
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ]);
// A version's links name the server they came from.
const portless = (json: unknown) => JSON.parse(JSON.stringify(json).replace(/127\.0\.0\.1:\d+/g, "SERVER"));
const command = (...args: string[]) => spawnSync(process.execPath, [SERVER_MAIN, ...args], { encoding: "utf8", env: { ...process.env, ...NO_HOST_SETUP } });

before(async () => {
  pki = await fixturePki();
  dir = mkdtempSync(join(tmpdir(), "repoman-backup-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("a running server's repository, backed up and restored into a new data directory, serves the same files and versions", async () => {
  const files = { v1: randomBytes(1 << 20), v2: randomBytes(3 << 20), v3: randomBytes(2 << 20), other: randomBytes(5 << 20) };
  const original = join(dir, "original");
  let s: ServerProcess = await serve(original);
  let call = client(s.port, trustedCaBundle(pki));
  const put = async (image: string, body: Buffer) => assert.equal((await call("PUT", `/api/images/raw/admin/xen/${image}`, { cred: admin(), body })).status, 200);
  let versions: unknown;
  try {
    for (const name of ["base.img", "other.img"]) assert.equal((await call("POST", "/api/images", { cred: admin(), json: { name } })).status, 201);
    // Three uploads with two versions kept: the first file is pruned, and must not be in the backup.
    await put("base.img", files.v1);
    await put("base.img", files.v2);
    await put("base.img", files.v3);
    await put("other.img", files.other);
    versions = portless((await call("GET", "/api/images/admin/base.img/versions", { cred: admin() })).json);

    const backup = command("backup", "--to", join(dir, "backup"), "--data-dir", original);
    assert.equal(backup.status, 0, backup.stderr);
    assert.equal(backup.stdout, `Backed up the metadata and 3 image files (${(2 << 20) + (3 << 20) + (5 << 20)} bytes) of ${original} to ${join(dir, "backup")}.\n`);
    const manifest = JSON.parse(readFileSync(join(dir, "backup", "manifest.json"), "utf8"));
    assert.deepEqual(manifest.blobs.map((b: { sha256: string }) => b.sha256).sort(), [files.v2, files.v3, files.other].map(sha).sort());
    const again = command("backup", "--to", join(dir, "backup"), "--data-dir", original);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /backup is not empty: back up into a new directory\n$/);
  } finally {
    assert.equal(await s.stop(), 0);
  }

  const restored = join(dir, "restored");
  const restore = command("restore", "--from", join(dir, "backup"), "--data-dir", restored);
  assert.equal(restore.status, 0, restore.stderr);
  assert.match(restore.stdout, /^Restored the metadata and 3 image files of the backup of \S+ into .*restored\.\n$/);
  const twice = command("restore", "--from", join(dir, "backup"), "--data-dir", restored);
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /restored is not empty: restore into a new data directory/);

  s = await serve(restored);
  call = client(s.port, trustedCaBundle(pki));
  try {
    const get = async (path: string) => {
      const r = await call("GET", path, { cred: admin() });
      assert.equal(r.status, 200, r.text);
      return sha(r.body);
    };
    assert.equal(await get("/api/images/raw/admin/xen/base.img"), sha(files.v3));
    assert.equal(await get("/api/images/raw/admin/xen/base.img?version=2"), sha(files.v2));
    assert.equal(await get("/api/images/raw/admin/xen/other.img"), sha(files.other));
    assert.deepEqual(portless((await call("GET", "/api/images/admin/base.img/versions", { cred: admin() })).json), versions);
    // The restored repository takes new uploads as the next version.
    await put("base.img", files.v1);
    assert.equal(await get("/api/images/raw/admin/xen/base.img?version=4"), sha(files.v1));
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test("backup and restore refuse what they cannot do whole", () => {
  const pg = command("backup", "--to", join(dir, "pg"), "--database", "postgres://repoman@db.example.org/repoman");
  assert.equal(pg.status, 1);
  assert.match(pg.stderr, /the metadata is in PostgreSQL.*pg_dump.*docs\/deploy\/backup\.md/);
  const noDb = command("backup", "--to", join(dir, "none"), "--data-dir", join(dir, "no-such-data"));
  assert.equal(noDb.status, 1);
  assert.match(noDb.stderr, /there is no database at .*no-such-data\/repoman\.db/);
  mkdirSync(join(dir, "half"));
  writeFileSync(join(dir, "half", "repoman.db"), "");
  const half = command("restore", "--from", join(dir, "half"), "--data-dir", join(dir, "from-half"));
  assert.equal(half.status, 1);
  assert.match(half.stderr, /half is not a complete backup/);
  const usage = command("backup", "--data-dir", join(dir, "x"));
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /usage: repoman-server backup --to DIR/);
  const misplaced = command("serve", "--to", join(dir, "x"));
  assert.equal(misplaced.status, 2);
  assert.match(misplaced.stderr, /--to is an option of backup/);
});
