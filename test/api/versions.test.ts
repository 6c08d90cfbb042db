// Image versions end to end over real TLS: every upload is a version, pinned downloads by number
// and by digest, rollback, retention and its quota, read-only images, and the answers that say
// why an image cannot be found.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import type { Credential, Reply } from "../support/http.js";

let t: TestServer;
let pki: string;
let admin: Credential, alice: Credential, bob: Credential, erin: Credential;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const put = (cred: Credential, path: string, body: Buffer) => t.call("PUT", path, { cred, body, headers: { "content-type": "application/octet-stream" } });
const json = (cred: Credential, method: string, path: string, body?: unknown) => t.call(method, path, { cred, json: body ?? {} });
const get = (cred: Credential | undefined, path: string, headers: Record<string, string> = {}) => t.call("GET", path, { cred, headers });

function expectError(r: Reply, status: number, pattern?: RegExp) {
  assert.equal(r.status, status, r.text);
  if (pattern) assert.match(r.json?.error?.message ?? "", pattern, r.text);
}

function blobFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : out.push(join(d, e.name));
  };
  walk(join(t.dataDir, "images", "blobs"));
  return out;
}

async function upload(cred: Credential, path: string, body: Buffer) {
  const r = await put(cred, path, body);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki);
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  erin = t.cred("erin");
  await addUsers(t, ["alice", "bob", "erin"]);
  // erin may change the images of members of "lab", alice among them
  assert.equal((await json(admin, "POST", "/api/groups", { name: "lab" })).status, 201);
  for (const u of ["alice", "erin"]) assert.equal((await json(admin, "POST", `/api/groups/lab/users/${u}`)).status, 200);
  assert.equal((await json(admin, "POST", "/api/groups/lab/permissions/image_modify_group")).status, 200);
});
after(() => t.close());

const v1 = randomBytes(2 * 1024 * 1024 + 5);
const v2 = randomBytes(1024 * 1024 + 7);
const v3 = randomBytes(3000);

test("every upload is a new version with its checksum, size, uploader and comment; the newest is current", async () => {
  assert.equal((await json(alice, "POST", "/api/images", { name: "base.img", hypervisor: "kvm" })).status, 201);
  await upload(alice, "/api/images/raw/alice/kvm/base.img", v1);
  await upload(erin, "/api/images/raw/alice/kvm/base.img?comment=" + encodeURIComponent("security updates, 2026-12"), v2);
  const img = await upload(alice, "/api/images/raw/alice/kvm/base.img", v3);
  assert.equal(img.files.kvm.version, 3);
  assert.equal(img.checksum.value, sha(v3));
  assert.equal(img.keep_versions, null);

  const list = await get(alice, "/api/images/alice/base.img/versions?timestamps=iso");
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(
    list.json.map((v: any) => [v.version, v.current, v.size, v.checksum.value, v.uploader, v.comment, v.restored_from]),
    [
      [3, true, v3.length, sha(v3), "alice", null, null],
      [2, false, v2.length, sha(v2), "erin", "security updates, 2026-12", null],
      [1, false, v1.length, sha(v1), "alice", null, null],
    ],
  );
  assert.match(list.json[1].uploaded, /^\d{4}-\d\d-\d\dT/);
  assert.equal(list.json[1].file_url, `https://127.0.0.1:${t.port}/api/images/raw/alice/kvm/base.img?version=2`);
  assert.equal(list.json[1].digest_url, `https://127.0.0.1:${t.port}/api/images/raw/alice/kvm/base.img@sha256:${sha(v2)}`);
  assert.equal(blobFiles().length, 3, "each version keeps its own blob");
  // Only those who may see the image see its history.
  expectError(await get(bob, "/api/images/alice/base.img/versions"), 404);
  expectError(await get(undefined, "/api/images/alice/base.img/versions"), 404);
});

test("downloads pin a version by number or by digest, with Range and ETag", async () => {
  const current = await get(alice, "/api/images/raw/alice/kvm/base.img");
  assert.ok(current.body.equals(v3));
  assert.equal(current.headers["x-repoman-version"], "3");

  const byNumber = await get(alice, "/api/images/raw/alice/kvm/base.img?version=1");
  assert.equal(byNumber.status, 200);
  assert.ok(byNumber.body.equals(v1));
  assert.equal(byNumber.headers.etag, `"${sha(v1)}"`);
  assert.equal(byNumber.headers["x-repoman-version"], "1");

  const byDigest = await get(alice, `/api/images/raw/alice/kvm/base.img@sha256:${sha(v2)}`);
  assert.equal(byDigest.status, 200);
  assert.ok(byDigest.body.equals(v2));

  // A resumed download of version 1 continues version 1, whatever is current.
  const part = await get(alice, "/api/images/raw/alice/kvm/base.img?version=1", { range: "bytes=1000-", "if-range": `"${sha(v1)}"` });
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(v1.subarray(1000)));
  // If-Range with another version's ETag: the whole of the asked-for version.
  const whole = await get(alice, "/api/images/raw/alice/kvm/base.img?version=1", { range: "bytes=1000-", "if-range": `"${sha(v2)}"` });
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(v1));
  assert.equal((await get(alice, `/api/images/raw/alice/kvm/base.img@sha256:${sha(v2)}`, { "if-none-match": `"${sha(v2)}"` })).status, 304);
  const head = await t.call("HEAD", "/api/images/raw/alice/kvm/base.img?version=2", { cred: alice });
  assert.equal(head.headers["content-length"], String(v2.length));

  expectError(await get(alice, "/api/images/raw/alice/kvm/base.img?version=9"), 404, /no version 9 for hypervisor 'kvm' \(versions kept: 1, 2, 3\)/);
  expectError(await get(alice, `/api/images/raw/alice/kvm/base.img@sha256:${"0".repeat(64)}`), 404, /no version with sha256 0{64}/);
  expectError(await get(alice, "/api/images/raw/alice/kvm/base.img@sha256:abc"), 400, /IMAGE@sha256:<64 hex digits>/);
  expectError(await get(alice, "/api/images/raw/alice/kvm/base.img?version=0"), 400, /version: must be at least 1/);
  expectError(await get(alice, `/api/images/raw/alice/kvm/base.img@sha256:${sha(v1)}?version=1`), 400, /not both/);
  expectError(await get(bob, "/api/images/raw/alice/kvm/base.img?version=1"), 404);
});

test("a download started before an upload finishes on the old bytes; one started after gets the new", async () => {
  assert.equal((await json(alice, "POST", "/api/images", { name: "live.img", hypervisor: "kvm", keep_versions: 1 })).status, 201);
  const old = randomBytes(24 * 1024 * 1024);
  const fresh = randomBytes(24 * 1024 * 1024);
  await upload(alice, "/api/images/raw/alice/kvm/live.img", old);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port: t.port, path: "/api/images/raw/alice/kvm/live.img", servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false }, resolve)
      .on("error", reject);
  });
  res.pause();
  // keep_versions 1: the old version is pruned, its blob deleted, while the download still reads it.
  await upload(alice, "/api/images/raw/alice/kvm/live.img", fresh);
  assert.deepEqual(
    (await get(alice, "/api/images/alice/live.img/versions")).json.map((v: any) => v.version),
    [2],
  );
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(old), "the download in progress finished on the version it started with");
  assert.ok((await get(alice, "/api/images/raw/alice/kvm/live.img")).body.equals(fresh));
});

test("rollback makes an older version current again as a new version; nothing is copied", async () => {
  const blobs = blobFiles().length;
  const r = await json(alice, "POST", "/api/images/alice/base.img/rollback", { comment: "v3 broke the network" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.restored.version, 4);
  assert.equal(r.json.restored.restored_from, 2);
  assert.equal(r.json.files.kvm.version, 4);
  assert.equal(r.json.checksum.value, sha(v2));
  assert.ok((await get(alice, "/api/images/raw/alice/kvm/base.img")).body.equals(v2));
  assert.equal(blobFiles().length, blobs, "a rollback names an existing blob");

  const again = await json(erin, "POST", "/api/images/alice/base.img/rollback", { version: 1, hypervisor: "kvm" });
  assert.equal(again.status, 200, again.text);
  assert.ok((await get(alice, "/api/images/raw/alice/kvm/base.img")).body.equals(v1));
  const history = (await get(alice, "/api/images/alice/base.img/versions")).json;
  assert.deepEqual(
    history.map((v: any) => [v.version, v.uploader, v.restored_from, v.comment]),
    [
      [5, "erin", 1, null],
      [4, "alice", 2, "v3 broke the network"],
      [3, "alice", null, null],
      [2, "erin", null, "security updates, 2026-12"],
      [1, "alice", null, null],
    ],
  );
  // The bytes of version 1 are found by digest; the newest version with them answers.
  assert.equal((await get(alice, `/api/images/raw/alice/kvm/base.img@sha256:${sha(v1)}`)).headers["x-repoman-version"], "5");

  expectError(await json(alice, "POST", "/api/images/alice/base.img/rollback", { version: 5 }), 409, /already the current one/);
  expectError(await json(alice, "POST", "/api/images/alice/base.img/rollback", { version: 42 }), 404, /versions kept: 1, 2, 3, 4, 5/);
  expectError(await json(alice, "POST", "/api/images/alice/base.img/rollback", { hypervisor: "xen" }), 404, /no file for hypervisor 'xen'/);
  expectError(await json(bob, "POST", "/api/images/alice/base.img/rollback", {}), 404);
  expectError(await json(alice, "POST", "/api/images/alice/base.img/rollback", { version: "x" }), 400);
  assert.equal((await json(alice, "POST", "/api/images", { name: "empty.img" })).status, 201);
  expectError(await json(alice, "POST", "/api/images/alice/empty.img/rollback", {}), 404, /has no files yet/);
  await upload(alice, "/api/images/raw/alice/xen/empty.img", v3);
  expectError(await json(alice, "POST", "/api/images/alice/empty.img/rollback", {}), 409, /no version before 1/);
});

test("retention keeps the newest N versions per hypervisor; pruned blobs are deleted", async () => {
  // base.img has 5 versions at the server's default of 5; one more prunes version 1's entry, but
  // version 5 names the same blob, so that blob stays.
  const before = blobFiles().length;
  await upload(alice, "/api/images/raw/alice/kvm/base.img", randomBytes(100));
  assert.deepEqual((await get(alice, "/api/images/alice/base.img/versions")).json.map((v: any) => v.version), [6, 5, 4, 3, 2]);
  assert.equal(blobFiles().length, before + 1);
  expectError(await get(alice, "/api/images/raw/alice/kvm/base.img?version=1"), 404, /versions kept: 2, 3, 4, 5, 6/);
  assert.ok((await get(alice, "/api/images/raw/alice/kvm/base.img?version=5")).body.equals(v1));

  // Lowering keep_versions prunes at once: versions 6 and 5 stay, with 2 blobs.
  const r = await json(alice, "POST", "/api/images/alice/base.img", { keep_versions: 2 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.keep_versions, 2);
  assert.deepEqual((await get(alice, "/api/images/alice/base.img/versions")).json.map((v: any) => v.version), [6, 5]);
  assert.equal(blobFiles().length, before + 1 - 2, "the blobs of v3 and of v2 (which v4 shared) are gone");

  // 0 keeps everything; null goes back to the server's default.
  assert.equal((await json(alice, "POST", "/api/images/alice/base.img", { keep_versions: 0 })).json.keep_versions, 0);
  for (let i = 0; i < 6; i++) await upload(alice, "/api/images/raw/alice/kvm/base.img", randomBytes(10 + i));
  assert.equal((await get(alice, "/api/images/alice/base.img/versions")).json.length, 8);
  assert.equal((await json(alice, "POST", "/api/images/alice/base.img", { keep_versions: null })).json.keep_versions, null);
  assert.equal((await get(alice, "/api/images/alice/base.img/versions")).json.length, 5);
  expectError(await json(alice, "POST", "/api/images/alice/base.img", { keep_versions: -1 }), 400, /keep_versions/);
});

test("kept versions count against the owner's quota, each blob once", async () => {
  assert.equal((await json(admin, "POST", "/api/users/bob", { quota: 3000 })).status, 200);
  assert.equal((await json(bob, "POST", "/api/images", { name: "q.img", keep_versions: 2 })).status, 201);
  await upload(bob, "/api/images/raw/bob/xen/q.img", randomBytes(1000));
  await upload(bob, "/api/images/raw/bob/xen/q.img", randomBytes(1000));
  // 2000 used; the next version prunes the first, so 2000 bytes may come.
  await upload(bob, "/api/images/raw/bob/xen/q.img", randomBytes(2000));
  expectError(await put(bob, "/api/images/raw/bob/xen/q.img", randomBytes(2001)), 413, /quota \(1000 bytes left, counting every version kept\)/);
  // A rollback adds no bytes.
  assert.equal((await json(bob, "POST", "/api/images/bob/q.img/rollback", {})).status, 200);
  assert.equal((await json(bob, "POST", "/api/images/bob/q.img", { keep_versions: 0 })).status, 200);
  expectError(await put(bob, "/api/images/raw/bob/xen/q.img", randomBytes(1)), 413, /0 bytes left/);
  assert.equal((await json(admin, "POST", "/api/users/bob", { quota: 0 })).status, 200);
});

test("read-only: no upload, rollback, metadata change, rename, hypervisor change or deletion, for admins too", async () => {
  assert.equal((await json(alice, "POST", "/api/images", { name: "frozen.img", hypervisor: "xen,kvm", read_only: false })).status, 201);
  await upload(alice, "/api/images/raw/alice/xen/frozen.img", v3);
  await upload(alice, "/api/images/raw/alice/xen/frozen.img", v2);
  await upload(alice, "/api/images/raw/alice/kvm/frozen.img", v3);
  assert.equal((await json(alice, "POST", "/api/images/alice/frozen.img", { read_only: true })).json.read_only, true);

  for (const who of [alice, erin, admin]) {
    expectError(await put(who, "/api/images/raw/alice/xen/frozen.img", randomBytes(10)), 409, /read-only: its files cannot be replaced/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img/rollback", { hypervisor: "xen" }), 409, /read-only/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img", { description: "x" }), 409, /read-only: 'description' cannot be changed; clear read_only first/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img", { name: "thawed.img" }), 409, /'name' cannot be changed/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img", { owner: "bob" }), 409, /'owner' cannot be changed/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img", { hypervisor: "xen" }), 409, /'hypervisor' cannot be changed/);
    expectError(await json(who, "POST", "/api/images/alice/frozen.img", { read_only: true, keep_versions: 1 }), 409, /'keep_versions' cannot be changed/);
    expectError(await t.call("DELETE", "/api/images/alice/frozen.img", { cred: who }), 409, /read-only: it cannot be deleted/);
  }
  // Nothing changed; sharing is still possible, and a form that repeats unchanged values passes.
  const img = (await get(alice, "/api/images/alice/frozen.img?timestamps=iso")).json;
  assert.deepEqual([img.name, img.hypervisor, img.description, img.files.xen.version], ["frozen.img", "xen,kvm", "", 2]);
  assert.equal((await json(alice, "POST", "/api/images/alice/frozen.img/share/user/bob")).status, 200);
  assert.equal((await json(alice, "POST", "/api/images/alice/frozen.img", { description: "", read_only: true })).status, 200);
  assert.ok((await get(bob, "/api/images/raw/alice/xen/frozen.img")).body.equals(v2));

  // Only the owner or an admin may clear read_only; erin's group power does not reach it.
  expectError(await json(erin, "POST", "/api/images/alice/frozen.img", { read_only: false }), 403, /only the image's owner or an admin may clear read_only/);
  expectError(await json(erin, "POST", "/api/images/alice/frozen.img", { read_only: false, description: "x" }), 403, /only the image's owner/);
  expectError(await json(bob, "POST", "/api/images/alice/frozen.img", { read_only: false }), 403);
  assert.equal((await json(admin, "POST", "/api/images/alice/frozen.img", { read_only: false })).json.read_only, false);
  assert.equal((await json(erin, "POST", "/api/images/alice/frozen.img", { description: "thawed" })).status, 200);
  assert.equal((await json(alice, "POST", "/api/images/alice/frozen.img", { read_only: true })).status, 200);
  // Clearing read_only is the deliberate act: the same request may change other fields.
  const thawed = await json(alice, "POST", "/api/images/alice/frozen.img", { read_only: false, description: "writable again" });
  assert.equal(thawed.status, 200, thawed.text);
  assert.deepEqual([thawed.json.read_only, thawed.json.description], [false, "writable again"]);
  assert.equal((await t.call("DELETE", "/api/images/alice/frozen.img", { cred: alice })).status, 200);
});

test("an image made read-only during an upload keeps its version: the upload stores nothing", async () => {
  assert.equal((await json(alice, "POST", "/api/images", { name: "racing.img" })).status, 201);
  await upload(alice, "/api/images/raw/alice/xen/racing.img", v3);
  const blobs = blobFiles().length;
  const counter = (await get(alice, "/api/images/alice/racing.img")).json.version;
  const body = randomBytes(4 * 1024 * 1024);
  const req = https.request({
    host: "127.0.0.1", port: t.port, method: "PUT", path: "/api/images/raw/alice/xen/racing.img", servername: "localhost", agent: false,
    ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key),
    headers: { "content-length": String(body.length), "content-type": "application/octet-stream" },
  });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.on("error", reject);
  });
  req.write(body.subarray(0, 1024 * 1024));
  // The upload has begun (it was authorised and is streaming into a new blob) before the change.
  const incoming = join(t.dataDir, "images", "incoming");
  for (let i = 0; i < 500 && readdirSync(incoming).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(readdirSync(incoming).length, 1);
  assert.equal((await json(alice, "POST", "/api/images/alice/racing.img", { read_only: true })).status, 200);
  req.end(body.subarray(1024 * 1024));
  const r = await answer;
  assert.equal(r.status, 409, r.text);
  assert.match(r.text, /made read-only during the upload; nothing was stored/);
  assert.deepEqual((await get(alice, "/api/images/alice/racing.img/versions")).json.map((v: any) => v.checksum.value), [sha(v3)]);
  assert.equal((await get(alice, "/api/images/alice/racing.img")).json.version, counter, "the refused upload left the image's version counter alone");
  assert.equal(blobFiles().length, blobs);
});

test("an image that is not where it was asked for: the answer names the owners who have one; expired says expired", async () => {
  assert.equal((await json(alice, "POST", "/api/images/alice/base.img/share/user/bob")).status, 200);
  expectError(await get(bob, "/api/images/base.img"), 404, /image 'bob\/base.img' does not exist, but you can see alice\/base.img \(name the owner: -o alice/);
  expectError(await get(bob, "/api/images/raw/kvm/base.img"), 404, /you can see alice\/base.img/);
  const found = await get(bob, "/api/images?name=base.img");
  assert.deepEqual(found.json, [`https://127.0.0.1:${t.port}/api/images/alice/base.img`]);
  // Names are no oracle: someone who may not see an image is not told of it.
  expectError(await get(erin, "/api/images/erin/q.img"), 404, /^image 'erin\/q.img' does not exist$/);
  assert.deepEqual((await get(erin, "/api/images?name=q.img")).json, []);

  assert.equal((await json(alice, "POST", "/api/images/alice/base.img", { expires: "2021-06-01" })).status, 200);
  expectError(await get(bob, "/api/images/alice/base.img"), 410, /expired at 2021-06-01T00:00:00.000Z; its owner can extend it/);
  expectError(await get(bob, "/api/images/raw/alice/kvm/base.img"), 410);
  assert.equal((await get(alice, "/api/images/alice/base.img")).status, 200);
  expectError(await get(erin, "/api/images/alice/base.img"), 410, /expired/);
  assert.equal((await json(alice, "POST", "/api/images/alice/base.img", { expires: "" })).status, 200);
});
