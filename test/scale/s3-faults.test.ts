// A server whose link to Ceph RGW resets, stalls and slows connections at random (a TCP proxy in
// between, test/support/flaky-proxy.ts): plain and resumable uploads still complete, downloads
// come back exact, pruned versions are deleted, and afterwards the bucket holds exactly the blobs
// that versions name, with no multipart upload pending. The faults come from a seed printed
// below; REPOMAN_CHAOS_SEED replays one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { ADMIN_DN, trustedCaBundle } from "../support/server.js";
import { client, type Credential } from "../support/http.js";
import { spawnServer, type ServerProcess } from "../support/process.js";
import { freshDatabase } from "../support/postgres.js";
import { freshBucket, S3_NOTICE, testS3 } from "../support/s3.js";
import { startFlakyProxy, type FlakyProxy } from "../support/flaky-proxy.js";
import { freePort } from "../support/net.js";
import type { S3Client } from "../../src/blobs/s3-client.js";
import { openDatabase } from "../../src/db/connect.js";

const s3 = testS3();
const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const seed = Number(process.env.REPOMAN_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
// Stalls outlast the server's request_timeout, so that some end in a timeout and a retry.
const CHAOS = { seed, resetsPerMiB: 1 / 16, stallsPerMiB: 1 / 32, stallMs: 3000, slow: 0.25, slowBytesPerSecond: 8 * MIB };

let pki: string, dataDir: string, databaseUrl: string, bucket: S3Client, proxy: FlakyProxy, server: ServerProcess;
let alice: Credential, admin: Credential;
let call: ReturnType<typeof client>;
const TUS = { "tus-resumable": "1.0.0" };

before(async () => {
  if (!s3) return;
  console.log(`chaos seed ${seed} (REPOMAN_CHAOS_SEED=${seed} replays it)`);
  pki = await fixturePki();
  dataDir = mkdtempSync(join(tmpdir(), "repoman-s3-faults-"));
  const pg = process.env.REPOMAN_TEST_POSTGRES_URL;
  databaseUrl = pg ? await freshDatabase(pg) : `sqlite:${join(dataDir, "repoman.db")}`;
  bucket = await freshBucket(s3);
  proxy = await startFlakyProxy(Number(new URL(s3.endpoint).port));
  proxy.chaos(CHAOS);
  const port = await freePort();
  const storage = `s3://${bucket.where.bucket}/repo?endpoint=${encodeURIComponent(`http://127.0.0.1:${proxy.port}`)}&part_size=5MiB&parallel_parts=2&request_timeout=2&max_attempts=10`;
  server = await spawnServer([
    "--database", databaseUrl, "--storage", storage, "--data-dir", join(dataDir, "data"), "--listen", `127.0.0.1:${port}`,
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ], s3.env);
  call = client(port, trustedCaBundle(pki));
  alice = { cert: join(pki, "users/alice/usercert.pem"), key: join(pki, "users/alice/userkey.pem") };
  admin = { cert: join(pki, "users/admin/usercert.pem"), key: join(pki, "users/admin/userkey.pem") };
  assert.equal((await call("POST", "/api/users", { cred: admin, json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } })).status, 201);
  assert.equal((await call("POST", "/api/images", { cred: alice, json: { name: "flaky.img", keep_versions: 2 } })).status, 201);
});
after(async () => {
  await server?.stop("SIGKILL");
  await proxy?.close();
  bucket?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const RAW = "/api/images/raw/alice/xen/flaky.img";

async function assertDownloads(data: Buffer) {
  const whole = await call("GET", RAW, { cred: alice });
  assert.equal(whole.status, 200, whole.text);
  assert.ok(whole.body.equals(data), `the download is exact (${whole.body.length} of ${data.length} bytes)`);
  const from = Math.floor(data.length / 3);
  const part = await call("GET", RAW, { cred: alice, headers: { range: `bytes=${from}-${data.length - 2}` } });
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(data.subarray(from, data.length - 1)));
}

test("plain uploads, one part or many, complete over a link that fails, and download exactly", { skip: s3 ? false : S3_NOTICE }, async () => {
  for (const size of [1 * MIB + 3, 17 * MIB + 5, 12 * MIB]) {
    const data = randomBytes(size);
    const up = await call("PUT", RAW, { cred: alice, body: data, headers: { "x-checksum-sha256": sha(data) } });
    assert.equal(up.status, 200, up.text);
    await assertDownloads(data);
  }
});

test("a resumable upload completes chunk by chunk over the same link", { skip: s3 ? false : S3_NOTICE }, async () => {
  const data = randomBytes(16 * MIB + 11);
  const created = await call("POST", "/api/uploads", {
    cred: alice,
    headers: { ...TUS, "upload-length": String(data.length), "upload-metadata": `image ${Buffer.from("flaky.img").toString("base64")},hypervisor ${Buffer.from("xen").toString("base64")}` },
  });
  assert.equal(created.status, 201, created.text);
  const at = new URL(created.headers.location!).pathname;
  const cuts = [0, 6 * MIB, 12 * MIB, data.length];
  for (let i = 0; i < 3; i++) {
    const r = await call("PATCH", at, { cred: alice, body: data.subarray(cuts[i], cuts[i + 1]), headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(cuts[i]) } });
    assert.equal(r.status, i < 2 ? 204 : 200, r.text);
    if (i === 2) assert.equal(r.json.files.xen.checksum.value, sha(data));
  }
  await assertDownloads(data);
});

test("the faults happened and were retried, as /metrics shows; the bucket holds exactly what versions name", { skip: s3 ? false : S3_NOTICE }, async () => {
  proxy.chaos(undefined);
  const metrics = await call("GET", "/metrics");
  assert.equal(metrics.status, 200);
  const retries = [...metrics.text.matchAll(/^repoman_s3_retries_total\{operation="(\w+)",reason="(\w+)"\} (\d+)$/gm)].map((m) => ({ operation: m[1], reason: m[2], n: Number(m[3]) }));
  console.log(`proxy: ${proxy.connections} connections, ${proxy.cuts} reset, ${proxy.stalls} stalled, ${proxy.slowed} slowed; retries: ${retries.map((r) => `${r.operation}/${r.reason} ${r.n}`).join(", ")}`);
  assert.ok(proxy.cuts > 0, "connections were reset");
  assert.ok(retries.reduce((n, r) => n + r.n, 0) > 0, "and the server retried");
  assert.match(metrics.text, /^# TYPE repoman_s3_errors_total counter$/m);

  // The first two uploads were pruned (keep_versions 2) under the faults; stop the server so
  // nothing is in flight, then look in the bucket.
  assert.equal(await server.stop("SIGTERM"), 0);
  const db = await openDatabase(databaseUrl);
  try {
    const named = (await db.db.selectFrom("image_versions").select("blob_key").execute()).map((r) => `repo/${r.blob_key}`);
    assert.equal(named.length, 2);
    assert.deepEqual((await bucket.listKeys("repo/")).sort(), named.sort());
    assert.deepEqual(await db.db.selectFrom("blob_garbage").selectAll().execute(), []);
    assert.deepEqual(await db.db.selectFrom("pending_uploads").selectAll().execute(), []);
    assert.deepEqual(await db.db.selectFrom("upload_sessions").selectAll().execute(), []);
    assert.deepEqual(await bucket.listMultipartUploads("repo/"), []);
  } finally {
    await db.close();
  }
});
