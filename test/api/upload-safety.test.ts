// An interrupted or failed upload never replaces or corrupts an image: kill -9 of the server
// mid-upload, a client that aborts, and two uploads racing for one slot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { ClientRequest } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { ADMIN_DN, testDatabaseUrl, trustedCaBundle } from "../support/server.js";
import { client, type Credential } from "../support/http.js";
import { spawnServer, type ServerProcess } from "../support/process.js";

let pki: string;
let dataDir: string;
let server: ServerProcess;
let admin: Credential, alice: Credential;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let databaseUrl: string;
async function start() {
  server = await spawnServer([
    "--database", databaseUrl,
    "--data-dir", dataDir, "--listen", "127.0.0.1:0",
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ]);
}
const call = () => client(server.port, trustedCaBundle(pki));

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) e.isDirectory() ? walk(join(d, e.name)) : out.push(join(d, e.name));
  };
  walk(dir);
  return out;
}
const blobs = () => files(join(dataDir, "images", "blobs"));
const incoming = () => files(join(dataDir, "images", "incoming"));

function download(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port: server.port, path, servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`status ${res.statusCode}`))));
      })
      .on("error", reject);
  });
}

// Starts a PUT announcing `total` bytes, sends `sent` of them, and hands back the request.
function partialUpload(total: number, sent: Buffer): Promise<ClientRequest> {
  return new Promise((resolve) => {
    const req = https.request({
      host: "127.0.0.1", port: server.port, method: "PUT", path: "/api/images/raw/alice/xen/base.img", servername: "localhost",
      ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key), agent: false,
      headers: { "content-length": String(total), "content-type": "application/octet-stream" },
    });
    req.on("error", () => {});
    req.write(sent, () => resolve(req));
  });
}

async function waitFor(cond: () => boolean, ms = 10_000) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const original = randomBytes(1024 * 1024);

before(async () => {
  pki = await fixturePki();
  dataDir = mkdtempSync(join(tmpdir(), "repoman-safety-"));
  databaseUrl = await testDatabaseUrl(dataDir);
  admin = { cert: join(pki, "users/admin/usercert.pem"), key: join(pki, "users/admin/userkey.pem") };
  alice = { cert: join(pki, "users/alice/usercert.pem"), key: join(pki, "users/alice/userkey.pem") };
  await start();
  assert.equal((await call()("POST", "/api/users", { cred: admin, json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } })).status, 201);
  assert.equal((await call()("POST", "/api/images", { cred: alice, json: { name: "base.img" } })).status, 201);
  const r = await call()("PUT", "/api/images/raw/alice/xen/base.img", { cred: alice, body: original });
  assert.equal(r.status, 200, r.text);
});
after(async () => {
  await server?.stop("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

test("kill -9 of the server mid-upload leaves the previous image intact; leftovers go at start-up", async () => {
  await partialUpload(64 * 1024 * 1024, randomBytes(8 * 1024 * 1024));
  await waitFor(() => incoming().some((f) => statSync(f).size > 0));
  await server.stop("SIGKILL");
  assert.equal(incoming().length, 1, "the interrupted upload's partial file is there until restart");
  await start();
  assert.deepEqual(incoming(), []);
  assert.equal(blobs().length, 1);
  assert.ok((await download("/api/images/raw/alice/xen/base.img")).equals(original));
  const meta = await call()("GET", "/api/images/alice/base.img", { cred: alice });
  assert.equal(meta.json.version, 1);
  assert.equal(meta.json.checksum.value, sha(original));
  assert.match(server.stdout(), /cleaned up after interrupted uploads/);
});

test("a client that aborts mid-upload changes nothing and leaves nothing behind", async () => {
  const req = await partialUpload(32 * 1024 * 1024, randomBytes(4 * 1024 * 1024));
  await waitFor(() => incoming().length === 1);
  req.destroy();
  await waitFor(() => incoming().length === 0);
  assert.ok((await download("/api/images/raw/alice/xen/base.img")).equals(original));
  assert.equal(blobs().length, 1);
  const meta = await call()("GET", "/api/images/alice/base.img", { cred: alice });
  assert.equal(meta.json.version, 1);
});

test("two concurrent uploads to one slot: both finish, one wins whole, nothing is corrupted", async () => {
  const a = randomBytes(16 * 1024 * 1024);
  const b = randomBytes(16 * 1024 * 1024);
  const [ra, rb] = await Promise.all([
    call()("PUT", "/api/images/raw/alice/xen/base.img", { cred: alice, body: a }),
    call()("PUT", "/api/images/raw/alice/xen/base.img", { cred: alice, body: b }),
  ]);
  assert.equal(ra.status, 200, ra.text);
  assert.equal(rb.status, 200, rb.text);
  const final = await download("/api/images/raw/alice/xen/base.img");
  assert.ok(final.equals(a) || final.equals(b));
  const meta = await call()("GET", "/api/images/alice/base.img", { cred: alice });
  assert.equal(meta.json.version, 3);
  assert.equal(meta.json.checksum.value, sha(final));
  assert.equal(blobs().length, 3, "both uploads and the original are versions, each with its own blob");
  const versions = (await call()("GET", "/api/images/alice/base.img/versions", { cred: alice })).json;
  assert.deepEqual(versions.map((v: any) => v.version), [3, 2, 1]);
  assert.equal(versions[0].checksum.value, sha(final));
  assert.deepEqual(incoming(), []);
});
