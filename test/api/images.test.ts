// The images API end to end over real TLS: metadata, streamed uploads and downloads, Range and
// conditional requests, sharing, public access, expiry, and every denial.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client, type Credential } from "../support/http.js";
import { DESCRIPTION_MAX, HYPERVISORS, OS_ARCHES } from "../../src/catalog/names.js";

let t: TestServer;
let pki: string;
let admin: Credential, alice: Credential, bob: Credential, aliceLimited: Credential;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { httpListen: true });
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  aliceLimited = t.proxy("alice-rfc-limited");
  for (const [user_name, cert_dn] of [
    ["alice", "/C=CA/O=Grid/OU=test/CN=Alice Example"],
    ["bob", "/C=CA/O=Grid/OU=test/CN=Bob Example"],
    ["alice_x", "/C=CA/O=Grid/OU=test/CN=Erin Example"],
  ]) {
    const r = await t.call("POST", "/api/users", { cred: admin, json: { user_name, cert_dn } });
    assert.equal(r.status, 201, r.text);
  }
});
after(() => t.close());

const expectError = (r: { status: number; json: any; text: string }, status: number, pattern?: RegExp) => {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.json?.error?.message, "string", r.text);
  if (pattern) assert.match(r.json.error.message, pattern);
};

function blobFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[] = [];
    try {
      names = readdirSync(d, { withFileTypes: true }).map((e) => (e.isDirectory() ? (walk(join(d, e.name)), "") : join(d, e.name))).filter(Boolean);
    } catch {}
    out.push(...names);
  };
  walk(join(t.dataDir, "images"));
  return out;
}

test("create an image slot: 201, Location template, the original's 21 keys", async () => {
  const r = await t.call("POST", "/api/images", { cred: alice, form: { name: "sl6.img", description: "Scientific Linux", os_arch: "x86_64", os_type: "linux", os_variant: "sl6", hypervisor: "xen,kvm" } });
  assert.equal(r.status, 201, r.text);
  const base = `https://127.0.0.1:${t.port}`;
  assert.equal(r.headers.location, `${base}/api/images/raw/alice/__hypervisor__/sl6.img`);
  const keys = ["uuid", "name", "owner_user_name", "owner", "uploaded", "modified", "expires", "checksum", "os_variant", "os_type", "os_arch", "hypervisor", "description", "read_only", "unauthenticated_access", "http_file_url", "raw_file_uploaded", "version", "size", "file_url", "shared_with"];
  for (const k of keys) assert.ok(k in r.json, k);
  assert.match(r.json.uuid, /^[0-9a-f]{32}$/);
  assert.equal(r.json.owner, `${base}/api/users/alice`);
  assert.equal(r.json.hypervisor, "xen,kvm");
  assert.equal(r.json.version, 0);
  assert.equal(r.json.size, null);
  assert.equal(r.json.raw_file_uploaded, false);
  assert.deepEqual(r.json.checksum, { type: null, value: null });
  assert.equal(r.json.http_file_url, null);
  assert.deepEqual(r.json.shared_with, { groups: [], users: [] });
  assert.match(r.json.modified, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  const iso = await t.call("GET", "/api/images/alice/sl6.img?timestamps=iso", { cred: alice });
  assert.match(iso.json.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const own = await t.call("GET", "/api/images/sl6.img", { cred: alice });
  assert.equal(own.json.uuid, r.json.uuid);
  const dflt = await t.call("POST", "/api/images", { cred: alice, json: { name: "plain" } });
  assert.equal(dflt.json.hypervisor, "xen");
});

test("anyone may read the image schema: the same rules that POST /api/images enforces", async () => {
  const r = await t.call("GET", "/api/schemas/image");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.title, "image");
  assert.deepEqual(r.json.required, ["name"]);
  assert.deepEqual(r.json.properties.os_arch.enum, [...OS_ARCHES]);
  assert.deepEqual(r.json.properties.hypervisor.items.enum, [...HYPERVISORS]);
  assert.equal(r.json.properties.description.maxLength, DESCRIPTION_MAX);
  // What the schema refuses, the API refuses.
  const refused = await t.call("POST", "/api/images", { cred: alice, form: { name: "schema-check.img", os_arch: "m68k" } });
  assert.equal(refused.status, 400, refused.text);
});

test("bad image input: precise 400s, conflicts 409, other namespaces admins only", async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ name: "../etc" }, /name/],
    [{ name: ".hidden" }, /name/],
    [{ name: "a/b" }, /name/],
    [{ name: "a..b" }, /name/],
    [{ name: "x".repeat(129) }, /name/],
    [{ name: "ok", os_arch: "sparc" }, /os_arch/],
    [{ name: "ok", hypervisor: "xen,bochs" }, /hypervisor/],
    [{ name: "ok", read_only: "perhaps" }, /read_only/],
    [{ name: "ok", description: "d".repeat(4097) }, /description/],
    [{ name: "ok", expires: "next tuesday" }, /expires/],
    [{ name: "ok", colour: "red" }, /unknown field 'colour'/],
    [{}, /name: required/],
    [{ name: "ok", user_name: "nobody" }, /nobody/],
  ];
  for (const [json, pattern] of bad) expectError(await t.call("POST", "/api/images", { cred: admin, json }), 400, pattern);
  expectError(await t.call("POST", "/api/images", { cred: alice, json: { name: "sl6.img" } }), 409, /already exists/);
  expectError(await t.call("POST", "/api/images", { cred: bob, json: { name: "squat", user_name: "alice" } }), 403, /admins/);
  const byAdmin = await t.call("POST", "/api/images", { cred: admin, json: { name: "gift", user_name: "alice", owner: "alice" } });
  assert.equal(byAdmin.status, 201, byAdmin.text);
  assert.equal(byAdmin.json.owner_user_name, "alice");
  expectError(await t.call("POST", "/api/images", { json: { name: "anon" } }), 401);
  expectError(await t.call("POST", "/api/images", { cred: aliceLimited, json: { name: "lim" } }), 403, /read-only/);
  expectError(await t.call("POST", "/api/images/alice/sl6.img", { cred: alice, json: { uuid: "x" } }), 400, /unknown field 'uuid'/);
});

const put = (cred: Credential | undefined, path: string, body: Buffer, headers: Record<string, string> = {}) => t.call("PUT", path, { cred, body, headers: { "content-type": "application/octet-stream", ...headers } });

test("upload streams a file: size, sha256, version; download returns the same bytes with proper headers", async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const r = await put(alice, "/api/images/raw/alice/xen/sl6.img", data);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.size, data.length);
  assert.deepEqual(r.json.checksum, { type: "sha256", value: sha(data) });
  assert.equal(r.json.version, 1);
  assert.equal(r.json.raw_file_uploaded, true);
  assert.deepEqual(r.json.files.xen.checksum, { type: "sha256", value: sha(data) });
  const get = await t.call("GET", "/api/images/raw/alice/xen/sl6.img", { cred: alice });
  assert.equal(get.status, 200);
  assert.equal(get.headers["content-type"], "application/octet-stream");
  assert.equal(get.headers["content-length"], String(data.length));
  assert.equal(get.headers["accept-ranges"], "bytes");
  assert.equal(get.headers.etag, `"${sha(data)}"`);
  assert.ok(get.headers["last-modified"]);
  assert.equal(get.headers["content-disposition"], 'attachment; filename="sl6.img"');
  const bytes = await download(alice, "/api/images/raw/alice/xen/sl6.img");
  assert.ok(bytes.body.equals(data));
  const own = await download(alice, "/api/images/raw/xen/sl6.img");
  assert.ok(own.body.equals(data));
  const head = await t.call("HEAD", "/api/images/raw/alice/xen/sl6.img", { cred: alice });
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], String(data.length));
  assert.equal(head.text, "");
  expectError(await t.call("GET", "/api/images/raw/alice/kvm/sl6.img", { cred: alice }), 404, /no file for hypervisor 'kvm'/);
  // a second upload to another hypervisor
  const kvm = randomBytes(1000);
  const r2 = await put(alice, "/api/images/raw/kvm/sl6.img", kvm);
  assert.equal(r2.json.version, 2);
  assert.equal(r2.json.size, 1000);
  assert.equal(r2.json.files.xen.size, data.length);
});

function download(cred: Credential | undefined, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: any; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: t.port, path, headers, servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), agent: false, ...(cred ? { cert: readFileSync(cred.cert), key: readFileSync(cred.key) } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("Range, If-None-Match and If-Range", async () => {
  const data = randomBytes(10_000);
  await put(alice, "/api/images/raw/alice/xen/plain", data);
  const etag = `"${sha(data)}"`;
  const part = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=100-199" });
  assert.equal(part.status, 206);
  assert.equal(part.headers["content-range"], "bytes 100-199/10000");
  assert.ok(part.body.equals(data.subarray(100, 200)));
  const tail = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=-10" });
  assert.ok(tail.body.equals(data.subarray(9990)));
  const open = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=9000-" });
  assert.equal(open.body.length, 1000);
  const bad = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=20000-" });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers["content-range"], "bytes */10000");
  const nm = await download(alice, "/api/images/raw/alice/xen/plain", { "if-none-match": etag });
  assert.equal(nm.status, 304);
  assert.equal(nm.body.length, 0);
  const ir = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=0-9", "if-range": etag });
  assert.equal(ir.status, 206);
  const stale = await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=0-9", "if-range": '"0000"' });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, 10_000);
  // If-Range with a date: only the exact Last-Modified continues; a later date is another copy's.
  const lastModified = part.headers["last-modified"] as string;
  assert.equal((await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=0-9", "if-range": lastModified })).status, 206);
  const later = new Date(Date.parse(lastModified) + 60_000).toUTCString();
  assert.equal((await download(alice, "/api/images/raw/alice/xen/plain", { range: "bytes=0-9", "if-range": later })).status, 200);
  // The range unit is case-insensitive.
  assert.equal((await download(alice, "/api/images/raw/alice/xen/plain", { range: "Bytes=0-9" })).status, 206);
});

test("uploads that cannot be accepted are refused and store nothing", async () => {
  const before = await download(alice, "/api/images/raw/alice/xen/plain");
  expectError(await put(alice, "/api/images/raw/alice/kvm/plain", randomBytes(10)), 400, /not 'kvm'/);
  const data = randomBytes(5000);
  expectError(await put(alice, "/api/images/raw/alice/xen/plain", data, { "x-checksum-sha256": "0".repeat(64) }), 400, /checksum mismatch/);
  const b64 = createHash("sha256").update(randomBytes(1)).digest("base64");
  expectError(await put(alice, "/api/images/raw/alice/xen/plain", data, { digest: `sha-256=${b64}` }), 400, /checksum mismatch/);
  const okDigest = await put(alice, "/api/images/raw/alice/xen/plain", data, { digest: `sha-256=${createHash("sha256").update(data).digest("base64")}` });
  assert.equal(okDigest.status, 200, okDigest.text);
  const after1 = await download(alice, "/api/images/raw/alice/xen/plain");
  assert.ok(after1.body.equals(data));
  assert.ok(!after1.body.equals(before.body));
  // read-only images refuse uploads
  await t.call("POST", "/api/images/alice/plain", { cred: alice, json: { read_only: true } });
  expectError(await put(alice, "/api/images/raw/alice/xen/plain", randomBytes(10)), 409, /read-only/);
  await t.call("POST", "/api/images/alice/plain", { cred: alice, json: { read_only: false } });
  const still = await download(alice, "/api/images/raw/alice/xen/plain");
  assert.ok(still.body.equals(data));
});

test("quota: refused from Content-Length first, and while streaming a body of unknown length", async () => {
  await t.call("POST", "/api/images", { cred: bob, json: { name: "q.img" } });
  assert.equal((await t.call("POST", "/api/users/bob", { cred: admin, json: { quota: 4096 } })).status, 200);
  expectError(await put(bob, "/api/images/raw/bob/xen/q.img", randomBytes(5000)), 413, /quota/);
  const chunked = await new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: t.port, method: "PUT", path: "/api/images/raw/bob/xen/q.img", servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(bob.cert), key: readFileSync(bob.key), agent: false },
      (res) => {
        let s = "";
        res.on("data", (c) => (s += c));
        res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(s) }));
      },
    );
    req.on("error", reject);
    for (let i = 0; i < 10; i++) req.write(randomBytes(1000));
    req.end();
  });
  assert.equal(chunked.status, 413);
  const ok = await put(bob, "/api/images/raw/bob/xen/q.img", randomBytes(4096));
  assert.equal(ok.status, 200, ok.json && JSON.stringify(ok.json));
  assert.equal((await t.call("POST", "/api/users/bob", { cred: admin, json: { quota: 0 } })).status, 200);
});

test("private images are invisible to others: 404 everywhere, and absent from lists", async () => {
  expectError(await t.call("GET", "/api/images/alice/sl6.img", { cred: bob }), 404);
  assert.equal((await download(bob, "/api/images/raw/alice/xen/sl6.img")).status, 404);
  assert.equal((await download(undefined, "/api/images/raw/alice/xen/sl6.img")).status, 404);
  expectError(await put(bob, "/api/images/raw/alice/xen/sl6.img", randomBytes(10)), 404);
  expectError(await t.call("POST", "/api/images/alice/sl6.img", { cred: bob, json: { description: "mine now" } }), 404);
  expectError(await t.call("DELETE", "/api/images/alice/sl6.img", { cred: bob }), 404);
  expectError(await t.call("POST", "/api/images/alice/sl6.img/share/user/bob", { cred: bob }), 404);
  const list = await t.call("GET", "/api/images", { cred: bob });
  assert.ok(!list.json.some((u: string) => u.includes("/alice/")), list.text);
  const users = await t.call("GET", "/api/users/alice", { cred: bob });
  assert.deepEqual(users.json.images, []);
  const all = await t.call("GET", "/api/images", { cred: admin });
  assert.ok(all.json.some((u: string) => u.endsWith("/alice/sl6.img")));
});

test("sharing with a user grants read and download, nothing else; unsharing is idempotent", async () => {
  const s = await t.call("POST", "/api/images/alice/sl6.img/share/user/bob", { cred: alice });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.json.shared_with.users, [`https://127.0.0.1:${t.port}/api/users/bob`]);
  assert.equal((await t.call("POST", "/api/images/sl6.img/share/user/bob", { cred: alice })).status, 200);
  assert.equal((await t.call("GET", "/api/images/alice/sl6.img", { cred: bob })).status, 200);
  assert.equal((await download(bob, "/api/images/raw/alice/xen/sl6.img")).status, 200);
  expectError(await put(bob, "/api/images/raw/alice/xen/sl6.img", randomBytes(10)), 403, /ownership/);
  expectError(await t.call("POST", "/api/images/alice/sl6.img", { cred: bob, json: { description: "x" } }), 403);
  expectError(await t.call("DELETE", "/api/images/alice/sl6.img", { cred: bob }), 403);
  expectError(await t.call("POST", "/api/images/alice/sl6.img/share/user/alice_x", { cred: bob }), 403);
  expectError(await t.call("POST", "/api/images/alice/sl6.img/share/user/nobody", { cred: alice }), 400, /does not exist/);
  const shared = await t.call("GET", "/api/users/bob/shared", { cred: bob });
  assert.deepEqual(shared.json, [`https://127.0.0.1:${t.port}/api/images/alice/sl6.img`]);
  const sharing = await t.call("GET", "/api/users/alice/sharing", { cred: alice });
  assert.deepEqual(sharing.json, [`https://127.0.0.1:${t.port}/api/images/alice/sl6.img`]);
  assert.equal((await t.call("DELETE", "/api/images/alice/sl6.img/share/user/bob", { cred: alice })).status, 200);
  assert.equal((await t.call("DELETE", "/api/images/alice/sl6.img/share/user/bob", { cred: alice })).status, 200);
  expectError(await t.call("GET", "/api/images/alice/sl6.img", { cred: bob }), 404);
});

test("sharing with a group requires membership (admins excepted) and reaches its members", async () => {
  await t.call("POST", "/api/groups", { cred: admin, json: { name: "atlas", users: "bob" } });
  expectError(await t.call("POST", "/api/images/alice/sl6.img/share/group/atlas", { cred: alice }), 403, /groups you belong to/);
  expectError(await t.call("POST", "/api/images/alice/sl6.img/share/group/nogroup", { cred: alice }), 400, /does not exist/);
  assert.equal((await t.call("POST", "/api/images/alice/sl6.img/share/group/atlas", { cred: admin })).status, 200);
  assert.equal((await t.call("GET", "/api/images/alice/sl6.img", { cred: bob })).status, 200);
  const gs = await t.call("GET", "/api/groups/atlas/shared", { cred: bob });
  assert.deepEqual(gs.json, [`https://127.0.0.1:${t.port}/api/images/alice/sl6.img`]);
  assert.equal((await t.call("DELETE", "/api/images/alice/sl6.img/share/group/atlas", { cred: alice })).status, 200);
  expectError(await t.call("GET", "/api/images/alice/sl6.img", { cred: bob }), 404);
});

test("image_modify_group lets members of the granting group modify each other's images", async () => {
  await t.call("POST", "/api/groups/atlas/users/alice", { cred: admin });
  expectError(await t.call("POST", "/api/images/alice/plain", { cred: bob, json: { description: "by bob" } }), 404);
  await t.call("POST", "/api/groups/atlas/permissions/image_modify_group", { cred: admin });
  const r = await t.call("POST", "/api/images/alice/plain", { cred: bob, json: { description: "by bob" } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.description, "by bob");
  expectError(await t.call("DELETE", "/api/images/alice/plain", { cred: bob }), 403, /image_delete_group/);
  await t.call("DELETE", "/api/groups/atlas/permissions/image_modify_group", { cred: admin });
  expectError(await t.call("POST", "/api/images/alice/plain", { cred: bob, json: { description: "again" } }), 404);
});

test("public images: anonymous metadata and downloads over HTTPS and the plain-HTTP listener", async () => {
  const data = randomBytes(2048);
  await t.call("POST", "/api/images", { cred: alice, json: { name: "pub.img", unauthenticated_access: "yes" } });
  await put(alice, "/api/images/raw/alice/xen/pub.img", data);
  const meta = await t.call("GET", "/api/images/alice/pub.img");
  assert.equal(meta.status, 200, meta.text);
  assert.equal(meta.json.http_file_url, `http://127.0.0.1:${t.server.httpPort}/api/images/raw/alice/__hypervisor__/pub.img`);
  assert.ok((await download(undefined, "/api/images/raw/alice/xen/pub.img")).body.equals(data));
  const plain = client(t.server.httpPort!, "");
  const got = await plain("GET", "/api/images/raw/alice/xen/pub.img", { plain: true });
  assert.equal(got.status, 200);
  assert.equal(got.headers.etag, `"${sha(data)}"`);
  assert.equal(got.headers["content-length"], "2048");
  assert.equal((await plain("GET", "/api/images/raw/alice/xen/sl6.img", { plain: true })).status, 404);
  assert.equal((await plain("GET", "/api/images/alice/pub.img", { plain: true })).status, 404);
  assert.equal((await plain("GET", "/api/whoami", { plain: true })).status, 404);
  assert.equal((await plain("PUT", "/api/images/raw/alice/xen/pub.img", { plain: true, body: "x" })).status, 404);
  const anonList = await t.call("GET", "/api/images");
  assert.deepEqual(anonList.json, [`https://127.0.0.1:${t.port}/api/images/alice/pub.img`]);
  expectError(await t.call("GET", "/api/images/pub.img"), 401);
  // Whom it is shared with is for users of the repository, not for anonymous viewers.
  assert.equal((await t.call("POST", "/api/images/alice/pub.img/share/user/bob", { cred: alice })).status, 200);
  assert.deepEqual((await t.call("GET", "/api/images/alice/pub.img")).json.shared_with, { groups: [], users: [] });
  assert.deepEqual((await t.call("GET", "/api/images?detail=true")).json.find((i: any) => i.name === "pub.img").shared_with, { groups: [], users: [] });
  assert.deepEqual((await t.call("GET", "/api/images/alice/pub.img", { cred: bob })).json.shared_with.users, [`https://127.0.0.1:${t.port}/api/users/bob`]);
  assert.equal((await t.call("DELETE", "/api/images/alice/pub.img/share/user/bob", { cred: alice })).status, 200);
});

test("expired images are hidden from everyone but owner and admins, and say so to those who could see them", async () => {
  await t.call("POST", "/api/images/alice/pub.img", { cred: alice, json: { expires: "2020-01-01T00:00:00Z" } });
  // Public: anyone could see it, so anyone is told it expired.
  expectError(await t.call("GET", "/api/images/alice/pub.img"), 410, /expired at 2020-01-01T00:00:00.000Z/);
  assert.equal((await download(bob, "/api/images/raw/alice/xen/pub.img")).status, 410);
  const owner = await t.call("GET", "/api/images/alice/pub.img", { cred: alice });
  assert.equal(owner.status, 200);
  assert.equal(owner.json.expires, "Wed Jan  1 00:00:00 2020");
  assert.equal((await t.call("GET", "/api/images/alice/pub.img", { cred: admin })).status, 200);
  assert.ok(!(await t.call("GET", "/api/images", { cred: bob })).json.some((u: string) => u.endsWith("pub.img")));
  await t.call("POST", "/api/images/alice/pub.img", { cred: alice, json: { expires: "" } });
  assert.equal((await t.call("GET", "/api/images/alice/pub.img")).status, 200);
});

test("rename and transfer touch metadata only; similar names never collide", async () => {
  const a = randomBytes(100), b = randomBytes(200);
  await t.call("POST", "/api/images", { cred: alice, json: { name: "x_y.img" } });
  await t.call("POST", "/api/images", { cred: t.cred("erin"), json: { name: "y.img" } });
  assert.equal((await put(alice, "/api/images/raw/alice/xen/x_y.img", a)).status, 200);
  assert.equal((await put(t.cred("erin"), "/api/images/raw/alice_x/xen/y.img", b)).status, 200);
  assert.ok((await download(alice, "/api/images/raw/alice/xen/x_y.img")).body.equals(a));
  assert.ok((await download(t.cred("erin"), "/api/images/raw/alice_x/xen/y.img")).body.equals(b));

  const renamed = await t.call("POST", "/api/images/alice/x_y.img", { cred: alice, json: { name: "renamed.img" } });
  assert.equal(renamed.status, 200, renamed.text);
  assert.ok((await download(alice, "/api/images/raw/alice/xen/renamed.img")).body.equals(a));
  expectError(await t.call("POST", "/api/images/alice/renamed.img", { cred: alice, json: { name: "sl6.img" } }), 409);
  const moved = await t.call("POST", "/api/images/alice/renamed.img", { cred: alice, json: { owner: "bob" } });
  assert.equal(moved.status, 200, moved.text);
  assert.equal(moved.json.owner_user_name, "bob");
  assert.ok((await download(bob, "/api/images/raw/bob/xen/renamed.img")).body.equals(a));
  const same = await t.call("POST", "/api/images/bob/renamed.img", { cred: bob, json: { owner: "bob" } });
  assert.equal(same.status, 200);
  expectError(await t.call("POST", "/api/images/bob/renamed.img", { cred: bob, json: { owner: "nobody" } }), 400, /nobody/);
});

test("dropping a hypervisor deletes its file and versions; deleting an image deletes its blobs", async () => {
  const before = blobFiles().length;
  const versions = (await t.call("GET", "/api/images/alice/sl6.img/versions", { cred: alice })).json as { hypervisor: string }[];
  const ofKvm = versions.filter((v) => v.hypervisor === "kvm").length;
  assert.ok(ofKvm >= 1 && versions.length > ofKvm, JSON.stringify(versions));
  const r = await t.call("POST", "/api/images/alice/sl6.img", { cred: alice, json: { hypervisor: "xen" } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json.files), ["xen"]);
  assert.equal(blobFiles().length, before - ofKvm);
  assert.equal((await t.call("DELETE", "/api/images/alice/sl6.img", { cred: alice })).status, 200);
  assert.equal(blobFiles().length, before - versions.length);
  expectError(await t.call("GET", "/api/images/alice/sl6.img", { cred: alice }), 404);
});

test("a limited proxy may download but not upload", async () => {
  assert.equal((await download(aliceLimited, "/api/images/raw/alice/xen/plain")).status, 200);
  expectError(await put(aliceLimited, "/api/images/raw/alice/xen/plain", randomBytes(10)), 403, /read-only/);
});

test("listing: filters, pagination with a next link, details", async () => {
  for (const [name, os_arch, hv] of [
    ["l1", "x86_64", "kvm"],
    ["l2", "aarch64", "xen,kvm"],
    ["l3", "x86_64", "xen"],
  ]) {
    await t.call("POST", "/api/images", { cred: bob, json: { name, os_arch, hypervisor: hv, description: `list test ${name}` } });
  }
  const names = (r: any) => r.json.map((u: string) => u.split("/").slice(-2).join("/"));
  assert.deepEqual(names(await t.call("GET", "/api/images?owner=bob&os_arch=x86_64", { cred: bob })), ["bob/l1", "bob/l3"]);
  assert.deepEqual(names(await t.call("GET", "/api/images?owner=bob&hypervisor=kvm", { cred: bob })), ["bob/l1", "bob/l2"]);
  assert.deepEqual(names(await t.call("GET", "/api/images?q=LIST%20TEST%20l2", { cred: bob })), ["bob/l2"]);
  const p1 = await t.call("GET", "/api/images?owner=bob&q=list&limit=2", { cred: bob });
  assert.deepEqual(names(p1), ["bob/l1", "bob/l2"]);
  const next = /<([^>]+)>; rel="next"/.exec(p1.headers.link as string)?.[1];
  assert.ok(next, "Link header");
  const p2 = await t.call("GET", new URL(next!).pathname + new URL(next!).search, { cred: bob });
  assert.deepEqual(names(p2), ["bob/l3"]);
  const detail = await t.call("GET", "/api/users/bob/images?detail=true&os_arch=aarch64", { cred: bob });
  assert.equal(detail.json[0].name, "l2");
  assert.equal(detail.json[0].hypervisor, "xen,kvm");
  expectError(await t.call("GET", "/api/images?limit=0", { cred: bob }), 400, /limit/);
  expectError(await t.call("GET", "/api/images?colour=red", { cred: bob }), 400, /colour/);
});

test("an unauthorised upload is refused before its body is read, and gets no 100 Continue", async () => {
  const result = await new Promise<{ status: number; sawContinue: boolean }>((resolve, reject) => {
    let sawContinue = false;
    const req = https.request({
      host: "127.0.0.1", port: t.port, method: "PUT", path: "/api/images/raw/alice/xen/plain", servername: "localhost",
      ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(bob.cert), key: readFileSync(bob.key), agent: false,
      headers: { "content-length": String(10 * 1024 ** 3), expect: "100-continue" },
    });
    req.on("continue", () => (sawContinue = true));
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode!, sawContinue });
      req.destroy();
    });
    req.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
    req.flushHeaders();
  });
  assert.equal(result.status, 404);
  assert.equal(result.sawContinue, false);
});
