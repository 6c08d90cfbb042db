// Disk formats over real TLS: every format uploaded with PUT and with tus (in chunks that cut its
// header and its footer) is recorded with its virtual size in the image, its versions and the
// image lists; files that name other files are refused by both, with nothing kept, unless the
// server allows them; a rollback brings back the format of what it restores.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import type { Credential, Reply } from "../support/http.js";
import { makeSamples, QEMU_IMG_NOTICE, type Sample } from "../support/disk-images.js";

let t: TestServer;
let pki: string;
let dir: string;
let alice: Credential;
let samples: Record<string, Sample> = {};
const TUS = { "tus-resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");
const bytesOf = (s: Sample) => readFileSync(join(dir, s.file));
const safe = () => Object.entries(samples).filter(([, s]) => !s.references);
const unsafe = () => Object.entries(samples).filter(([, s]) => s.references);

function ok(r: Reply, status = 200): Reply {
  assert.equal(r.status, status, r.text);
  return r;
}

const put = (server: TestServer, image: string, body: Buffer) => server.call("PUT", `/api/images/raw/alice/kvm/${image}`, { cred: alice, body });

// A resumable upload in chunks of these sizes (the rest in the last).
async function tus(server: TestServer, image: string, body: Buffer, pieces: number[]): Promise<Reply> {
  const created = ok(await server.call("POST", "/api/uploads", { cred: alice, headers: { ...TUS, "upload-length": String(body.length), "upload-metadata": `image ${b64(image)},hypervisor ${b64("kvm")}` } }), 201);
  const at = new URL(created.headers.location!).pathname;
  let offset = 0;
  let last!: Reply;
  for (const n of [...pieces.filter((p) => p > 0), Infinity]) {
    const chunk = body.subarray(offset, Math.min(body.length, offset + n));
    if (chunk.length === 0) break;
    last = await server.call("PATCH", at, { cred: alice, body: chunk, headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(offset) } });
    offset += chunk.length;
    if (last.status !== 204) break;
  }
  return last;
}

// Every stored file and every partial one: refused uploads must leave none behind.
function storedFiles(server: TestServer): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(join(server.dataDir, "images"));
  return out.sort();
}

async function create(server: TestServer, name: string, fields: Record<string, unknown> = {}) {
  ok(await server.call("POST", "/api/images", { cred: alice, json: { name, hypervisor: "kvm", ...fields } }), 201);
}

before(async () => {
  pki = await fixturePki();
  dir = mkdtempSync(join(tmpdir(), "repoman-formats-"));
  t = await startTestServer(pki);
  alice = t.cred("alice");
  await addUsers(t, ["alice"]);
  if (!QEMU_IMG_NOTICE) samples = makeSamples(dir);
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

test("every format, uploaded with PUT, is recorded with its virtual size in the image and its versions", { skip: QEMU_IMG_NOTICE }, async () => {
  for (const [name, s] of safe()) {
    await create(t, `${name}.img`);
    const image = ok(await put(t, `${name}.img`, bytesOf(s))).json;
    const expected = { format: s.format, virtual_size: s.virtualSize };
    assert.deepEqual({ format: image.files.kvm.format, virtual_size: image.files.kvm.virtual_size }, expected, name);
    assert.deepEqual({ format: image.format, virtual_size: image.virtual_size }, expected, `${name}: the latest upload's, as size is`);
    assert.equal(image.size, bytesOf(s).length, `${name}: size stays the bytes stored`);
    const [version] = ok(await t.call("GET", `/api/images/alice/${name}.img/versions`, { cred: alice })).json;
    assert.deepEqual({ format: version.format, virtual_size: version.virtual_size }, expected, name);
    assert.deepEqual(ok(await t.call("GET", `/api/images/alice/${name}.img`, { cred: alice })).json.files.kvm.format, s.format);
  }
  const listed = ok(await t.call("GET", "/api/images?detail=true&owner=alice&name=vhd.img", { cred: alice })).json;
  assert.deepEqual([listed[0].format, listed[0].files.kvm.virtual_size], ["vhd", samples.vhd!.virtualSize]);
});

test("every format, uploaded with tus in chunks that cut its header and its footer, is recorded the same", { skip: QEMU_IMG_NOTICE }, async () => {
  for (const [name, s] of safe()) {
    const body = bytesOf(s);
    await create(t, `${name}.tus`);
    // A first chunk shorter than any header, one across the ISO descriptors, a last one shorter
    // than a VHD footer.
    const image = ok(await tus(t, `${name}.tus`, body, [7, 0x8003, body.length - 0x800a - 100])).json;
    assert.deepEqual({ format: image.files.kvm.format, virtual_size: image.files.kvm.virtual_size }, { format: s.format, virtual_size: s.virtualSize }, name);
  }
});

test("files that name other files are refused, by PUT and by tus, and nothing of them is kept", { skip: QEMU_IMG_NOTICE }, async () => {
  const before = storedFiles(t);
  for (const [name, s] of unsafe()) {
    await create(t, `${name}.img`);
    for (const r of [await put(t, `${name}.img`, bytesOf(s)), await tus(t, `${name}.img`, bytesOf(s), [100])]) {
      assert.equal(r.status, 422, r.text);
      assert.equal(r.json.error.code, "unsafe_image");
      assert.match(r.json.error.message, s.references!);
      assert.match(r.json.error.message, /a known way to read files off a host; nothing was stored.*--allow-backing-files/);
    }
    const image = ok(await t.call("GET", `/api/images/alice/${name}.img`, { cred: alice })).json;
    assert.deepEqual([image.files, image.version, image.format], [{}, 0, null], `${name}: no version`);
    assert.deepEqual(ok(await t.call("GET", `/api/images/alice/${name}.img/versions`, { cred: alice })).json, []);
  }
  assert.deepEqual(storedFiles(t), before, "no blob, no partial file");
  assert.deepEqual(await t.server.storage.db.selectFrom("blob_garbage").selectAll().execute(), [], "their garbage was collected");
  assert.deepEqual(await t.server.storage.db.selectFrom("upload_sessions").selectAll().execute(), [], "the refused resumable uploads are gone");
  // The refusals changed nothing, so the audit log has no upload of them.
  const events = await t.server.storage.db.selectFrom("audit_events").select(["action", "target"]).where("action", "=", "image.upload").execute();
  assert.ok(!events.some((e) => unsafe().some(([name]) => e.target === `alice/${name}.img`)));
});

test("a rollback brings back the format and virtual size of the version it restores", { skip: QEMU_IMG_NOTICE }, async () => {
  await create(t, "moving.img");
  ok(await put(t, "moving.img", bytesOf(samples.qcow2!)));
  ok(await put(t, "moving.img", bytesOf(samples.raw!)));
  const back = ok(await t.call("POST", "/api/images/alice/moving.img/rollback", { cred: alice, json: { version: 1 } })).json;
  assert.deepEqual([back.format, back.virtual_size], ["qcow2", samples.qcow2!.virtualSize]);
  const versions = ok(await t.call("GET", "/api/images/alice/moving.img/versions", { cred: alice })).json;
  assert.deepEqual(versions.map((v: { version: number; format: string; restored_from: number | null }) => [v.version, v.format, v.restored_from]), [[3, "qcow2", 1], [2, "raw", null], [1, "qcow2", null]]);
});

test("image lists name each file's format as hv:format", { skip: QEMU_IMG_NOTICE }, async () => {
  await create(t, "listed.img", { unauthenticated_access: true });
  ok(await put(t, "listed.img", bytesOf(samples.vmdk!)));
  ok(await t.call("POST", "/api/lists", { cred: alice, json: { name: "site", title: "Site images", images: ["alice/listed.img"] } }), 201);
  const doc = ok(await t.call("GET", "/api/lists/alice/site/image.json", { cred: alice })).json;
  const [entry] = doc["hv:imagelist"]["hv:images"];
  assert.equal(entry["hv:image"]["hv:format"], "vmdk");
  assert.equal(entry["hv:image"]["hv:size"], bytesOf(samples.vmdk!).length);
});

test("a server started with --allow-backing-files yes keeps them, as what they are", { skip: QEMU_IMG_NOTICE }, async () => {
  const open = await startTestServer(pki, { allowBackingFiles: true });
  try {
    await addUsers(open, ["alice"]);
    for (const [name, s] of unsafe()) {
      await create(open, `${name}.img`);
      const image = ok(await put(open, `${name}.img`, bytesOf(s))).json;
      assert.deepEqual([image.files.kvm.format, image.files.kvm.virtual_size], [s.format, s.virtualSize], name);
      ok(await tus(open, `${name}.img`, bytesOf(s), [100]));
    }
  } finally {
    await open.close();
  }
});
