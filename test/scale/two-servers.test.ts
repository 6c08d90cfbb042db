// Two repoman-server processes sharing one PostgreSQL database and one Ceph RGW bucket serve one
// repository: what one stores the other serves; concurrent uploads to one slot through both
// resolve cleanly into versions; kill -9 of one mid-upload loses nothing and, once it is back,
// leaves no orphaned object or multipart upload; versions pruned through either server are
// deleted from the bucket, and a download in progress finishes on the version it started with.
// Server A streams downloads; B redirects to presigned URLs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { ADMIN_DN, trustedCaBundle } from "../support/server.js";
import { client, type Credential } from "../support/http.js";
import { spawnServer, type ServerProcess } from "../support/process.js";
import { freshDatabase } from "../support/postgres.js";
import { freshBucket, S3_NOTICE, testS3 } from "../support/s3.js";
import { freePort } from "../support/net.js";
import { runRepoman } from "../support/repoman-cli.js";
import type { S3Client } from "../../src/blobs/s3-client.js";
import { openDatabase } from "../../src/db/connect.js";

const s3 = testS3();
const pgUrl = process.env.REPOMAN_TEST_POSTGRES_URL;
const skip = !s3 ? S3_NOTICE : !pgUrl ? "no PostgreSQL (test/run.mjs starts one when postgresql is installed)" : false;

const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let pki: string, dataDir: string, databaseUrl: string, bucket: S3Client;
let alice: Credential, admin: Credential;
const servers: Record<"a" | "b", { port: number; args: string[]; proc?: ServerProcess }> = { a: { port: 0, args: [] }, b: { port: 0, args: [] } };

async function start(name: "a" | "b") {
  servers[name].proc = await spawnServer(servers[name].args, s3!.env);
}
const call = (name: "a" | "b") => client(servers[name].port, trustedCaBundle(pki));

// A GET that does not follow redirects, returning the body.
function get(name: "a" | "b", path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port: servers[name].port, path, headers, servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });
}

// The image's bytes as a client sees them through one server: streamed by A, redirected by B.
async function download(name: "a" | "b", range?: string): Promise<Buffer> {
  const r = await get(name, "/api/images/raw/alice/xen/shared.img", range ? { range } : {});
  if (name === "a") {
    assert.equal(r.status, range ? 206 : 200);
    return r.body;
  }
  assert.equal(r.status, 307);
  const location = new URL(String(r.headers.location));
  assert.equal(location.origin, new URL(s3!.endpoint).origin, "B sends the client to the object store");
  const direct = await fetch(location, { headers: range ? { range } : {} });
  assert.equal(direct.status, range ? 206 : 200);
  return Buffer.from(await direct.arrayBuffer());
}

// Starts an upload of `total` bytes through A, sends `sent` of them, and kills A with SIGKILL once
// parts have reached the object store.
async function killAMidUpload(total: number, sent: number) {
  const req = https.request({
    host: "127.0.0.1", port: servers.a.port, method: "PUT", path: "/api/images/raw/alice/xen/shared.img", servername: "localhost",
    ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false,
    headers: { "content-length": String(total) },
  });
  req.on("error", () => {});
  req.write(randomBytes(sent));
  for (const until = Date.now() + 20_000; (await multiparts()).length === 0; ) {
    if (Date.now() > until) throw new Error("the upload never reached the object store");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await servers.a.proc!.stop("SIGKILL"), "SIGKILL");
  req.destroy();
}

const objects = () => bucket.listKeys("repo/");
const multiparts = () => bucket.listMultipartUploads("repo/");
const versions = async () => (await call("a")("GET", "/api/images/alice/shared.img/versions", { cred: alice })).json as { version: number; checksum: { value: string } }[];

// No orphans: the bucket holds exactly the blobs that versions name, and nothing is pending.
async function assertNoOrphans() {
  const db = await openDatabase(databaseUrl);
  try {
    const named = new Set((await db.db.selectFrom("image_versions").select("blob_key").execute()).map((r) => `repo/${r.blob_key}`));
    assert.deepEqual((await objects()).sort(), [...named].sort());
    assert.deepEqual(await db.db.selectFrom("blob_garbage").selectAll().execute(), []);
    assert.deepEqual(await db.db.selectFrom("pending_uploads").selectAll().execute(), []);
    assert.deepEqual(await multiparts(), []);
  } finally {
    await db.close();
  }
}

before(async () => {
  if (skip) return;
  pki = await fixturePki();
  dataDir = mkdtempSync(join(tmpdir(), "repoman-scale-"));
  databaseUrl = await freshDatabase(pgUrl!);
  bucket = await freshBucket(s3!);
  alice = { cert: join(pki, "users/alice/usercert.pem"), key: join(pki, "users/alice/userkey.pem") };
  admin = { cert: join(pki, "users/admin/usercert.pem"), key: join(pki, "users/admin/userkey.pem") };
  const storage = (downloads: string) => `s3://${bucket.where.bucket}/repo?endpoint=${encodeURIComponent(s3!.endpoint)}&part_size=5MiB&parallel_parts=2&downloads=${downloads}`;
  for (const [name, downloads] of [["a", "stream"], ["b", "redirect"]] as const) {
    servers[name].port = await freePort();
    servers[name].args = [
      "--database", databaseUrl, "--storage", storage(downloads),
      "--data-dir", join(dataDir, name), "--listen", `127.0.0.1:${servers[name].port}`,
      "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
      "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
    ];
  }
  await start("a");
  await start("b");
  assert.equal((await call("a")("POST", "/api/users", { cred: admin, json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } })).status, 201);
  assert.equal((await call("b")("POST", "/api/images", { cred: alice, json: { name: "shared.img" } })).status, 201);
});
after(async () => {
  for (const s of Object.values(servers)) await s.proc?.stop("SIGKILL");
  bucket?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

let current: Buffer;

test("an upload through one server is downloadable through the other, both ways", { skip }, async () => {
  const first = randomBytes(12 * MIB + 321); // three parts
  const up = await call("a")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: first, headers: { "x-checksum-sha256": sha(first) } });
  assert.equal(up.status, 200, up.text);
  assert.ok((await download("b")).equals(first));
  assert.ok((await download("b", "bytes=5242000-10485999")).equals(first.subarray(5242000, 10486000)));
  current = randomBytes(3 * MIB); // one plain PUT
  assert.equal((await call("b")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: current })).status, 200);
  assert.ok((await download("a")).equals(current));
  assert.ok((await download("a", "bytes=-100")).equals(current.subarray(-100)));
  assert.deepEqual((await versions()).map((v) => v.checksum.value), [sha(current), sha(first)], "the replaced file is kept as version 1");
  assert.equal((await objects()).length, 2);
  const pinned = await get("a", `/api/images/raw/alice/xen/shared.img@sha256:${sha(first)}`);
  assert.ok(pinned.body.equals(first), "a download pinned by digest gets that version through either server");
  const redirected = await get("b", "/api/images/raw/alice/xen/shared.img?version=1");
  assert.equal(redirected.status, 307);
  assert.ok(Buffer.from(await (await fetch(String(redirected.headers.location))).arrayBuffer()).equals(first));
});

test("concurrent uploads to one slot through both servers: one wins whole, nothing is left over", { skip }, async () => {
  const x = randomBytes(11 * MIB);
  const y = randomBytes(11 * MIB);
  const [rx, ry] = await Promise.all([
    call("a")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: x }),
    call("b")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: y }),
  ]);
  assert.equal(rx.status, 200, rx.text);
  assert.equal(ry.status, 200, ry.text);
  const final = await download("a");
  assert.ok(final.equals(x) || final.equals(y));
  assert.ok((await download("b")).equals(final));
  const meta = await call("b")("GET", "/api/images/alice/shared.img", { cred: alice });
  assert.equal(meta.json.checksum.value, sha(final));
  assert.deepEqual((await versions()).map((v) => v.version), [4, 3, 2, 1], "both uploads became versions, in commit order");
  current = final;
  await assertNoOrphans();
});

test("kill -9 of one server mid-upload loses nothing; its next start leaves no orphans", { skip }, async () => {
  await killAMidUpload(64 * MIB, 16 * MIB);
  // The other server goes on serving the image as it was.
  assert.ok((await download("b")).equals(current));
  assert.equal((await multiparts()).length, 1, "the dead server's multipart upload is there until it is reclaimed");
  await start("a");
  assert.deepEqual(await multiparts(), [], "its next start aborted it");
  assert.deepEqual((await versions()).map((v) => v.version), [4, 3, 2, 1]);
  await assertNoOrphans();
  assert.match(servers.a.proc!.stdout(), /cleaned up after interrupted uploads/);
  assert.ok((await download("a")).equals(current));
  const meta = await call("a")("GET", "/api/images/alice/shared.img", { cred: alice });
  assert.equal(meta.json.checksum.value, sha(current));
});

test("the repoman client follows B's redirect to the object store, resuming a partial download", { skip }, async () => {
  const home = join(dataDir, "client-home");
  mkdirSync(home);
  const dest = join(home, "got.img");
  writeFileSync(`${dest}.part`, current.subarray(0, 1_000_000));
  writeFileSync(`${dest}.part.etag`, JSON.stringify({ sha256: sha(current), version: 4 }));
  const r = await runRepoman(["-r", `127.0.0.1:${servers.b.port}`, "gi", "-p", dest, "shared.img"], {
    cwd: home,
    env: { HOME: home, X509_CERT_DIR: join(pki, "certificates"), X509_USER_PROXY: join(pki, "proxies", "alice-rfc.pem") },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Resumed the partial download .* at byte 1000000/);
  assert.ok(readFileSync(dest).equals(current));
});

test("a download through A started before an upload through B finishes on the old bytes, even when that version is pruned", { skip }, async () => {
  const fresh = randomBytes(13 * MIB);
  assert.equal((await call("b")("POST", "/api/images/alice/shared.img", { cred: alice, json: { keep_versions: 1 } })).status, 200);
  assert.deepEqual((await versions()).map((v) => v.version), [4]);
  await assertNoOrphans();
  const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port: servers.a.port, path: "/api/images/raw/alice/xen/shared.img", servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false }, resolve)
      .on("error", reject);
  });
  res.pause();
  assert.equal((await call("b")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: fresh })).status, 200);
  assert.deepEqual((await versions()).map((v) => v.version), [5]);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(current), "the download in progress finished on version 4");
  assert.ok((await download("a")).equals(fresh));
  assert.ok((await download("b")).equals(fresh));
  current = fresh;
});

test("versions pruned and rolled back through both servers, with a kill -9 between, leave no orphans", { skip }, async () => {
  assert.equal((await call("a")("POST", "/api/images/alice/shared.img", { cred: alice, json: { keep_versions: 2 } })).status, 200);
  const uploaded: Buffer[] = [];
  for (const [i, name] of (["a", "b", "a", "b"] as const).entries()) {
    const body = randomBytes(6 * MIB + i);
    uploaded.push(body);
    assert.equal((await call(name)("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body })).status, 200);
  }
  assert.equal((await call("a")("POST", "/api/images/alice/shared.img/rollback", { cred: alice, json: {} })).status, 200);
  assert.deepEqual((await versions()).map((v) => v.version), [10, 9]);
  assert.equal((await objects()).length, 2, "version 10 names version 8's blob; version 9 has its own");
  // Kill A in the middle of an upload, prune through B meanwhile, then bring A back.
  await killAMidUpload(32 * MIB, 12 * MIB);
  const last = randomBytes(2 * MIB);
  assert.equal((await call("b")("PUT", "/api/images/raw/alice/xen/shared.img", { cred: alice, body: last })).status, 200);
  await start("a");
  assert.deepEqual((await versions()).map((v) => v.version), [11, 10]);
  assert.ok((await download("a")).equals(last));
  assert.ok((await download("b", "bytes=0-99")).equals(last.subarray(0, 100)));
  assert.ok((await get("a", "/api/images/raw/alice/xen/shared.img?version=10")).body.equals(uploaded[2]!));
  await assertNoOrphans();
});

test("a resumable upload takes chunks through both servers, survives a kill -9 of one mid-chunk, and leaves no orphans", { skip }, async () => {
  const data = randomBytes(22 * MIB + 17);
  const TUS = { "tus-resumable": "1.0.0" };
  const created = await call("a")("POST", "/api/uploads", {
    cred: alice,
    headers: { ...TUS, "upload-length": String(data.length), "upload-metadata": `image ${Buffer.from("shared.img").toString("base64")},hypervisor ${Buffer.from("xen").toString("base64")}` },
  });
  assert.equal(created.status, 201, created.text);
  const at = new URL(created.headers.location!).pathname;
  const chunk = (name: "a" | "b", from: number, to: number) =>
    call(name)("PATCH", at, { cred: alice, body: data.subarray(from, to), headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(from) } });
  assert.equal((await chunk("a", 0, 6 * MIB)).status, 204);
  assert.equal((await chunk("b", 6 * MIB, 12 * MIB)).status, 204);
  // A chunk smaller than S3's smallest part is refused unless it is the last.
  assert.equal((await chunk("b", 12 * MIB, 13 * MIB)).status, 400);
  // Kill A while it receives a chunk: the chunk counts for nothing, and B takes the upload on.
  const req = https.request({
    host: "127.0.0.1", port: servers.a.port, method: "PATCH", path: at, servername: "localhost", agent: false,
    ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key),
    headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(12 * MIB), "content-length": String(6 * MIB) },
  });
  req.on("error", () => {});
  req.write(data.subarray(12 * MIB, 15 * MIB));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await servers.a.proc!.stop("SIGKILL"), "SIGKILL");
  req.destroy();
  const head = await call("b")("HEAD", at, { cred: alice, headers: TUS });
  assert.equal(head.headers["upload-offset"], String(12 * MIB));
  // B may take it only once A is known to be dead: its claim lapses with A's registration.
  await start("a");
  assert.equal((await chunk("b", 12 * MIB, 18 * MIB)).status, 204);
  const last = await chunk("a", 18 * MIB, data.length);
  assert.equal(last.status, 200, last.text);
  assert.equal(last.json.files.xen.checksum.value, sha(data), "the whole file's SHA-256, read back since no one process saw every chunk");
  assert.ok((await download("a")).equals(data));
  current = data;
  await assertNoOrphans();
  const db = await openDatabase(databaseUrl);
  try {
    assert.deepEqual(await db.db.selectFrom("upload_sessions").selectAll().execute(), []);
  } finally {
    await db.close();
  }
});
