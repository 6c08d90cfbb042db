// Image lists (HEPiX) end to end over real TLS: published by a user, served signed as S/MIME and
// checked with the real `openssl smime -verify` against the grid CA directory; every field
// against the images; a subscriber pulling the listed URLs gets bytes whose SHA-512 matches; the
// version rises whenever the content changes and only then; and the denials.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import type { Credential, Reply } from "../support/http.js";

let t: TestServer;
let pki: string;
let work: string;
let admin: Credential, alice: Credential, bob: Credential;

const json = (cred: Credential | undefined, method: string, path: string, body?: unknown) => t.call(method, path, { cred, json: body ?? {} });
const ok = (r: Reply, status = 200) => (assert.equal(r.status, status, r.text), r);
const sha512 = (b: Buffer) => createHash("sha512").update(b).digest("hex");
const put = async (cred: Credential, path: string, body: Buffer) => ok(await t.call("PUT", path, { cred, body, headers: { "content-type": "application/octet-stream" } }));

type Doc = { "hv:imagelist": Record<string, any> };
// The signed list as a subscriber gets it: verified by openssl against the CA directory.
async function fetchVerified(path = "/api/lists/alice/site/image.list"): Promise<{ doc: Doc; signed: string }> {
  const r = ok(await t.call("GET", path));
  const file = join(work, "image.list");
  writeFileSync(file, r.body);
  const v = spawnSync("openssl", ["smime", "-verify", "-in", file, "-CApath", join(pki, "certificates")], { encoding: "utf8" });
  assert.equal(v.status, 0, `openssl smime -verify: ${v.stderr}`);
  assert.match(v.stderr, /Verification successful/);
  return { doc: JSON.parse(v.stdout), signed: r.text };
}

const v1 = randomBytes(300_000);
const v2 = randomBytes(200_000);
const kvm = randomBytes(100_000);

before(async () => {
  pki = await fixturePki();
  work = mkdtempSync(join(tmpdir(), "repoman-lists-"));
  t = await startTestServer(pki, { listSigner: true });
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  await addUsers(t, ["alice", "bob"]);
  ok(await json(alice, "POST", "/api/images", { name: "sl6.img", description: "Scientific Linux 6 worker", os_type: "linux", os_variant: "sl6", os_arch: "x86_64", hypervisor: "xen,kvm", unauthenticated_access: true }), 201);
  await put(alice, "/api/images/raw/alice/xen/sl6.img?comment=first", v1);
  ok(await json(alice, "POST", "/api/images", { name: "cvmfs.img", hypervisor: "kvm", unauthenticated_access: true }), 201);
  await put(alice, "/api/images/raw/alice/kvm/cvmfs.img", kvm);
  ok(await json(alice, "POST", "/api/images", { name: "secret.img", hypervisor: "xen" }), 201);
  await put(alice, "/api/images/raw/alice/xen/secret.img", randomBytes(1000));
});
after(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

test("a published list is signed, verifies with openssl against the grid CAs, and states every image as it is", async () => {
  const created = ok(await json(alice, "POST", "/api/lists", { name: "site", title: "Worker images", description: "For the batch cloud", images: ["alice/sl6.img", "alice/cvmfs.img@1"] }), 201);
  assert.equal(created.headers.location, `https://127.0.0.1:${t.port}/api/lists/alice/site`);
  assert.equal(created.json.version, 1);

  const { doc, signed } = await fetchVerified();
  assert.match(signed, /^MIME-Version: 1\.0\r\nContent-Type: multipart\/signed; protocol="application\/x-pkcs7-signature"; micalg="sha-256"/);
  const list = doc["hv:imagelist"];
  const base = `https://127.0.0.1:${t.port}`;
  assert.equal(list["dc:identifier"], created.json.identifier);
  assert.match(list["dc:identifier"], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(list["dc:title"], "Worker images");
  assert.equal(list["dc:description"], "For the batch cloud");
  assert.equal(list["dc:source"], `${base}/`);
  assert.equal(list["hv:uri"], `${base}/api/lists/alice/site/image.list`);
  assert.equal(list["hv:version"], "1");
  assert.match(list["dc:date:created"], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "seconds only, as the HEPiX tools parse it");
  assert.ok(Date.parse(list["dc:date:expires"]) > Date.now() + 27 * 86_400_000, "28 days by default");
  // The endorser is who signed it (vmcatcher compares the signer with hv:dn and hv:ca).
  assert.deepEqual(list["hv:endorser"], { "hv:x509": { "hv:dn": "/C=CA/O=Grid/OU=robot/CN=Image list signer", "hv:ca": "/C=CA/O=Grid/CN=Test Grid Issuing CA", "hv:email": "alice@example.org", "dc:creator": "/C=CA/O=Grid/OU=test/CN=Alice Example" } });
  const signer = spawnSync("openssl", ["x509", "-in", join(pki, "host/signcert.pem"), "-noout", "-subject", "-issuer", "-nameopt", "compat"], { encoding: "utf8" }).stdout;
  assert.match(signer, /subject=\/C=CA\/O=Grid\/OU=robot\/CN=Image list signer\nissuer=\/C=CA\/O=Grid\/CN=Test Grid Issuing CA/);

  const images = list["hv:images"].map((i: { "hv:image": Record<string, unknown> }) => i["hv:image"]);
  assert.equal(images.length, 2);
  assert.deepEqual({ ...images[0], "dc:identifier": "-" }, {
    "dc:identifier": "-",
    "dc:title": "sl6.img",
    "dc:description": "Scientific Linux 6 worker",
    "hv:version": "1",
    "hv:hypervisor": "xen",
    "hv:size": v1.length,
    "hv:format": "raw",
    "sl:checksum:sha512": sha512(v1),
    "sl:os": "linux",
    "sl:osversion": "sl6",
    "sl:arch": "x86_64",
    "sl:comments": "first",
    "hv:uri": `${base}/api/images/raw/alice/xen/sl6.img?version=1`,
  });
  assert.equal(images[1]["hv:hypervisor"], "kvm");
  assert.equal(images[1]["sl:checksum:sha512"], sha512(kvm));
  // Every field hepixvmitrust requires is there.
  for (const k of ["dc:date:created", "dc:date:expires", "dc:identifier", "dc:description", "dc:title", "dc:source", "hv:version", "hv:uri"]) assert.ok(k in list, k);
  for (const i of images) for (const k of ["dc:title", "dc:description", "hv:size", "sl:checksum:sha512", "sl:arch", "hv:uri", "dc:identifier", "sl:os", "sl:osversion", "sl:comments", "hv:hypervisor", "hv:version"]) assert.ok(k in i, k);

  // A subscriber pulling the listed URLs, anonymously, gets exactly the bytes listed.
  for (const i of images) {
    const r = ok(await t.call("GET", new URL(i["hv:uri"]).pathname + new URL(i["hv:uri"]).search));
    assert.equal(r.body.length, i["hv:size"]);
    assert.equal(sha512(r.body), i["sl:checksum:sha512"]);
  }
  // The unsigned JSON is the same document.
  assert.deepEqual(ok(await t.call("GET", "/api/lists/alice/site/image.json")).json, doc);
});

test("a list whose bytes were changed in transit does not verify", async () => {
  const r = ok(await t.call("GET", "/api/lists/alice/site/image.list"));
  const file = join(work, "tampered.list");
  writeFileSync(file, r.text.replace('"hv:size": 300000', '"hv:size": 300001'));
  assert.notEqual(readFileSync(file, "utf8"), r.text);
  const v = spawnSync("openssl", ["smime", "-verify", "-in", file, "-CApath", join(pki, "certificates")], { encoding: "utf8" });
  assert.notEqual(v.status, 0);
  assert.match(v.stderr, /digest failure|Verification failure/);
});

test("the version rises when an image in the list changes, and only then; pinned entries stay", async () => {
  const before = (await fetchVerified()).doc["hv:imagelist"];
  assert.equal((await fetchVerified()).doc["hv:imagelist"]["hv:version"], before["hv:version"], "no change, same version");
  await put(alice, "/api/images/raw/alice/xen/sl6.img", v2);
  const after = (await fetchVerified()).doc["hv:imagelist"];
  assert.equal(Number(after["hv:version"]), Number(before["hv:version"]) + 1);
  const [sl6, cvmfs] = after["hv:images"].map((i: { "hv:image": Record<string, any> }) => i["hv:image"]);
  assert.equal(sl6["hv:version"], "2");
  assert.equal(sl6["sl:checksum:sha512"], sha512(v2));
  assert.equal(sl6["dc:identifier"], before["hv:images"][0]["hv:image"]["dc:identifier"], "the same image to subscribers, in a new version");
  assert.deepEqual(cvmfs, before["hv:images"][1]["hv:image"], "pinned: unchanged");

  // A field subscribers read changes it too; one they do not read does not.
  ok(await json(alice, "POST", "/api/images/alice/sl6.img", { description: "SL6 worker, patched" }));
  assert.equal(Number((await fetchVerified()).doc["hv:imagelist"]["hv:version"]), Number(after["hv:version"]) + 1);
  ok(await json(alice, "POST", "/api/images/alice/sl6.img", { keep_versions: 10 }));
  assert.equal(Number((await fetchVerified()).doc["hv:imagelist"]["hv:version"]), Number(after["hv:version"]) + 1);
});

test("an image made private leaves the list at once, and its owner sees why", async () => {
  const before = Number((await fetchVerified()).doc["hv:imagelist"]["hv:version"]);
  ok(await json(alice, "POST", "/api/images/alice/cvmfs.img", { unauthenticated_access: false }));
  const list = (await fetchVerified()).doc["hv:imagelist"];
  assert.equal(Number(list["hv:version"]), before + 1);
  assert.deepEqual(list["hv:images"].map((i: { "hv:image": Record<string, any> }) => i["hv:image"]["dc:title"]), ["sl6.img"]);
  const shown = ok(await t.call("GET", "/api/lists/alice/site")).json;
  assert.deepEqual(shown.images[1], { image: "alice/cvmfs.img", hypervisor: "kvm", pinned: 1, omitted: "the image is no longer public, or has expired" });
  ok(await json(alice, "POST", "/api/images/alice/cvmfs.img", { unauthenticated_access: true }));
});

test("denials: private images, other users' lists, anonymous changes, bad entries", async () => {
  const refused = await json(alice, "POST", "/api/lists", { name: "leak", title: "x", images: ["alice/secret.img"] });
  assert.equal(refused.status, 403, refused.text);
  assert.match(refused.json.error.message, /only public images/);
  // Not even an admin lists a private image: sites would fetch it anonymously.
  assert.equal((await json(admin, "POST", "/api/lists", { name: "leak", title: "x", images: ["alice/secret.img"] })).status, 403);
  // bob cannot tell alice's private image from one that does not exist.
  assert.equal((await json(bob, "POST", "/api/lists", { name: "mine", title: "x", images: ["alice/secret.img"] })).status, 404);
  assert.equal((await json(bob, "POST", "/api/lists/alice/site", { title: "Mine now" })).status, 403);
  assert.equal((await json(bob, "DELETE", "/api/lists/alice/site")).status, 403);
  assert.equal((await json(undefined, "POST", "/api/lists", { name: "anon", title: "x" })).status, 401);
  assert.equal((await json(alice, "POST", "/api/lists", { name: "x", title: "x", images: ["alice/sl6.img:kvm"] })).status, 400, "no kvm file yet");
  assert.equal((await json(alice, "POST", "/api/lists", { name: "x", title: "x", images: ["alice/sl6.img@9"] })).status, 400);
  assert.equal((await json(alice, "POST", "/api/lists", { name: "x", title: "x", images: ["alice/sl6.img", "alice/sl6.img:xen@1"] })).status, 400);
  assert.equal((await json(alice, "POST", "/api/lists", { name: "x", title: "x", images: ["../etc"] })).status, 400);
  assert.equal((await json(alice, "POST", "/api/lists", { name: "site", title: "again" })).status, 409);
  assert.equal((await t.call("GET", "/api/lists/alice/none/image.list")).status, 404);
  assert.deepEqual((await t.call("GET", "/api/lists")).json.map((l: { name: string }) => l.name), ["site"], "nothing refused was created");
});

test("a list given to a group is changed by its members; every change is in the audit log", async () => {
  ok(await json(admin, "POST", "/api/groups", { name: "lab", users: ["alice", "bob"] }), 201);
  const notHers = await json(alice, "POST", "/api/lists/alice/site", { group: "admins" });
  assert.equal(notHers.status, 403, notHers.text);
  assert.match(notHers.json.error.message, /only to groups you belong to/);
  ok(await json(alice, "POST", "/api/lists/alice/site", { group: "lab" }));
  const changed = ok(await json(bob, "POST", "/api/lists/alice/site", { title: "Lab worker images", images: ["alice/sl6.img@1"] })).json;
  assert.equal(changed.title, "Lab worker images");
  assert.deepEqual(changed.images.map((i: { image: string; pinned: number | null }) => [i.image, i.pinned]), [["alice/sl6.img", 1]]);
  const list = (await fetchVerified()).doc["hv:imagelist"];
  assert.equal(list["dc:title"], "Lab worker images");
  assert.equal(list["hv:images"][0]["hv:image"]["sl:checksum:sha512"], sha512(v1));

  const events = ok(await t.call("GET", "/api/audit?target=list%20alice%2Fsite", { cred: admin })).json.events;
  assert.deepEqual(events.map((e: { action: string; user: string }) => [e.action, e.user]).reverse(), [["list.create", "alice"], ["list.modify", "alice"], ["list.modify", "bob"]]);
  assert.deepEqual(events[0].before, { title: "Worker images", images: ["alice/sl6.img:xen", "alice/cvmfs.img:kvm@1"] });
  ok(await json(bob, "DELETE", "/api/lists/alice/site"));
  assert.equal((await t.call("GET", "/api/lists/alice/site")).status, 404);
});

test("signed with the host certificate by default, the server warns that S/MIME verifiers want a signing certificate", async () => {
  const other = await startTestServer(pki);
  try {
    assert.ok(other.logs.some((l) => l.level === "warn" && /does not allow e-mail protection/.test(String(l.msg))));
  } finally {
    await other.close();
  }
});
