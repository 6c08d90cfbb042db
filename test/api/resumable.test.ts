// Resumable uploads (tus 1.0) over real TLS: creation checked like a plain upload before any byte,
// chunks that count only whole and verified, offsets, concurrent writers, cancellation, expiry,
// and the last chunk committing a version like any upload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import type { Credential, Reply } from "../support/http.js";
import { sweepAbandonedUploads } from "../../src/catalog/housekeeping.js";

let t: TestServer;
let pki: string;
let admin: Credential, alice: Credential, bob: Credential;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const TUS = { "tus-resumable": "1.0.0" };

const create = (cred: Credential, length: number, meta: Record<string, string>, headers: Record<string, string> = TUS) =>
  t.call("POST", "/api/uploads", { cred, headers: { ...headers, "upload-length": String(length), "upload-metadata": Object.entries(meta).map(([k, v]) => `${k} ${b64(v)}`).join(",") } });
const path = (r: Reply) => new URL(r.headers.location!).pathname;
const patch = (cred: Credential, at: string, offset: number, body: Buffer, headers: Record<string, string> = {}) =>
  t.call("PATCH", at, { cred, body, headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(offset), ...headers } });
const head = (cred: Credential, at: string) => t.call("HEAD", at, { cred, headers: TUS });
const checksum = (b: Buffer) => ({ "upload-checksum": `sha256 ${createHash("sha256").update(b).digest("base64")}` });
const incoming = () => readdirSync(join(t.dataDir, "images", "incoming"));

function expectError(r: Reply, status: number, pattern?: RegExp) {
  assert.equal(r.status, status, r.text);
  if (pattern) assert.match(r.json?.error?.message ?? "", pattern, r.text);
}

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki);
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  await addUsers(t, ["alice", "bob"]);
  assert.equal((await t.call("POST", "/api/images", { cred: alice, json: { name: "big.img", hypervisor: "kvm" } })).status, 201);
});
after(() => t.close());

test("OPTIONS tells the protocol and its extensions, without a certificate", async () => {
  const r = await t.call("OPTIONS", "/api/uploads");
  assert.equal(r.status, 204);
  assert.equal(r.headers["tus-version"], "1.0.0");
  assert.equal(r.headers["tus-extension"], "creation,checksum,termination,expiration");
  assert.equal(r.headers["tus-checksum-algorithm"], "sha256");
});

test("creation is checked like a plain upload, before any byte", async () => {
  expectError(await create(alice, 10, { image: "big.img", hypervisor: "kvm" }, {}), 412, /tus 1\.0\.0/);
  expectError(await t.call("POST", "/api/uploads", { headers: { ...TUS, "upload-length": "10", "upload-metadata": `image ${b64("big.img")},hypervisor ${b64("kvm")}` } }), 401);
  expectError(await create(bob, 10, { image: "big.img", hypervisor: "kvm", owner: "alice" }), 404);
  expectError(await create(alice, 10, { image: "big.img", hypervisor: "xen" }), 400, /is for kvm, not 'xen'/);
  expectError(await create(alice, 10, { image: "nothing.img", hypervisor: "kvm" }), 404);
  expectError(await create(alice, 10, { hypervisor: "kvm" }), 400, /'image' must name the image/);
  expectError(await t.call("POST", "/api/uploads", { cred: alice, headers: { ...TUS, "upload-defer-length": "1", "upload-metadata": `image ${b64("big.img")},hypervisor ${b64("kvm")}` } }), 400, /Upload-Defer-Length is not supported/);
  expectError(await t.call("POST", "/api/uploads", { cred: alice, headers: { ...TUS, "upload-length": "-1" } }), 400, /upload-length/);
  assert.equal((await t.call("POST", "/api/users/alice", { cred: admin, json: { quota: 1000 } })).status, 200);
  expectError(await create(alice, 1001, { image: "big.img", hypervisor: "kvm" }), 413, /quota/);
  assert.equal((await t.call("POST", "/api/users/alice", { cred: admin, json: { quota: 0 } })).status, 200);
  assert.equal((await t.call("POST", "/api/images/alice/big.img", { cred: alice, json: { read_only: true } })).status, 200);
  expectError(await create(alice, 10, { image: "big.img", hypervisor: "kvm" }), 409, /read-only/);
  assert.equal((await t.call("POST", "/api/images/alice/big.img", { cred: alice, json: { read_only: false } })).status, 200);
});

test("chunks in order, each whole and verified; the last commits a version with a comment", async () => {
  const data = randomBytes(5 * 1024 * 1024 + 333);
  const r = await create(alice, data.length, { image: "big.img", hypervisor: "kvm", comment: "resumed twice" });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers["upload-offset"], "0");
  assert.ok(r.headers["upload-expires"]);
  const at = path(r);
  assert.match(at, /^\/api\/uploads\/[0-9a-f]{32}$/);
  assert.equal((await head(alice, at)).headers["upload-length"], String(data.length));

  const one = data.subarray(0, 2 * 1024 * 1024);
  expectError(await patch(alice, at, 0, one, { "content-type": "application/octet-stream" }), 415);
  expectError(await patch(alice, at, 100, one), 409, /not the upload's offset, 0/);
  expectError(await patch(bob, at, 0, one), 404, /no such upload/);
  expectError(await head(bob, at), 404);
  // A chunk whose checksum is wrong is not stored: the offset stays.
  expectError(await patch(alice, at, 0, one, checksum(Buffer.from("something else"))), 460, /not stored, send it again/);
  assert.equal((await head(alice, at)).headers["upload-offset"], "0");
  const ok = await patch(alice, at, 0, one, checksum(one));
  assert.equal(ok.status, 204, ok.text);
  assert.equal(ok.headers["upload-offset"], String(one.length));

  // An interrupted chunk counts for nothing; the same chunk again continues.
  const two = data.subarray(one.length, 4 * 1024 * 1024);
  await interruptedPatch(at, one.length, two);
  assert.equal((await head(alice, at)).headers["upload-offset"], String(one.length));
  assert.equal((await patch(alice, at, one.length, two)).status, 204);
  expectError(await patch(alice, at, 4 * 1024 * 1024, Buffer.concat([data.subarray(4 * 1024 * 1024), Buffer.alloc(10)])), 400, /would end at byte 5243223 of an upload of 5243213/);
  const last = await patch(alice, at, 4 * 1024 * 1024, data.subarray(4 * 1024 * 1024), checksum(data.subarray(4 * 1024 * 1024)));
  assert.equal(last.status, 200, last.text);
  assert.equal(last.json.files.kvm.version, 1);
  assert.equal(last.json.files.kvm.checksum.value, sha(data));
  assert.equal(last.json.size, data.length);
  const versions = (await t.call("GET", "/api/images/alice/big.img/versions", { cred: alice })).json;
  assert.deepEqual([versions[0].uploader, versions[0].comment], ["alice", "resumed twice"]);
  assert.ok((await t.call("GET", "/api/images/raw/alice/kvm/big.img", { cred: alice })).body.equals(data));
  expectError(await head(alice, at), 404);
  assert.deepEqual(incoming(), []);
});

// Sends part of a chunk, then drops the connection.
function interruptedPatch(at: string, offset: number, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const req = https.request({
      host: "127.0.0.1", port: t.port, method: "PATCH", path: at, servername: "localhost", agent: false,
      ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key),
      headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(offset), "content-length": String(chunk.length) },
    });
    req.on("error", () => resolve());
    req.write(chunk.subarray(0, chunk.length >> 1), () => setTimeout(() => req.destroy(), 200));
    req.on("close", () => setTimeout(resolve, 200));
  });
}

test("two requests writing one upload at once: the second waits its turn (409), nothing is mixed", async () => {
  const data = randomBytes(6 * 1024 * 1024);
  const at = path(await create(alice, data.length, { image: "big.img", hypervisor: "kvm" }));
  // The first chunk arrives slowly; a second request for the same offset is refused meanwhile.
  const slow = https.request({
    host: "127.0.0.1", port: t.port, method: "PATCH", path: at, servername: "localhost", agent: false,
    ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key),
    headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": "0", "content-length": String(data.length) },
  });
  const answer = new Promise<number>((resolve, reject) => {
    slow.on("response", (res) => (res.resume(), resolve(res.statusCode!)));
    slow.on("error", reject);
  });
  slow.write(data.subarray(0, 1024 * 1024));
  await new Promise((r) => setTimeout(r, 300));
  expectError(await patch(alice, at, 0, data), 409, /another request is writing to this upload/);
  slow.end(data.subarray(1024 * 1024));
  assert.equal(await answer, 200);
  assert.ok((await t.call("GET", "/api/images/raw/alice/kvm/big.img", { cred: alice })).body.equals(data));
});

test("DELETE cancels an upload and deletes its bytes; expired or orphaned uploads are swept", async () => {
  const cancelled = path(await create(alice, 100, { image: "big.img", hypervisor: "kvm" }));
  assert.equal((await patch(alice, cancelled, 0, randomBytes(50))).status, 204);
  assert.equal(incoming().length, 1);
  expectError(await t.call("DELETE", cancelled, { cred: bob, headers: TUS }), 404);
  assert.equal((await t.call("DELETE", cancelled, { cred: alice, headers: TUS })).status, 204);
  expectError(await head(alice, cancelled), 404);
  assert.deepEqual(incoming(), []);

  const abandoned = path(await create(alice, 100, { image: "big.img", hypervisor: "kvm" }));
  assert.equal((await patch(alice, abandoned, 0, randomBytes(50))).status, 204);
  assert.equal(await sweepAbandonedUploads(t.server.storage), 0, "a live upload is kept");
  assert.equal(await sweepAbandonedUploads(t.server.storage, new Date(Date.now() + 25 * 3_600_000)), 1, "after 24 hours without a chunk it goes");
  expectError(await head(alice, abandoned), 404);
  assert.deepEqual(incoming(), []);

  // An upload to an image that is deleted goes with it.
  assert.equal((await t.call("POST", "/api/images", { cred: alice, json: { name: "doomed.img" } })).status, 201);
  const orphan = path(await create(alice, 100, { image: "doomed.img", hypervisor: "xen" }));
  assert.equal((await patch(alice, orphan, 0, randomBytes(50))).status, 204);
  assert.equal((await t.call("DELETE", "/api/images/alice/doomed.img", { cred: alice })).status, 200);
  expectError(await patch(alice, orphan, 50, randomBytes(50)), 404, /no longer exists/);
  assert.equal(await sweepAbandonedUploads(t.server.storage), 1);
  assert.deepEqual(incoming(), []);
});

test("an empty file completes at creation", async () => {
  const r = await create(alice, 0, { image: "big.img", hypervisor: "kvm" });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.image.files.kvm.size, 0);
  assert.equal(r.json.image.files.kvm.checksum.value, sha(Buffer.alloc(0)));
});
