// GET /api/users?detail=true: every user object in one request (the web interface's admin page),
// with private fields only where the caller may see them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, type TestServer } from "../support/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer(await fixturePki());
  for (const [user_name, cert_dn, email] of [
    ["alice", "/C=CA/O=Grid/OU=test/CN=Alice Example", "alice@example.org"],
    ["bob", "/C=CA/O=Grid/OU=test/CN=Bob Example", "bob@example.org"],
  ]) assert.equal((await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name, cert_dn, email } })).status, 201);
  assert.equal((await t.call("POST", "/api/users/bob", { cred: t.cred("admin"), json: { suspended: true } })).status, 200);
});
after(() => t.close());

test("detail=true gives user objects without image lists; URLs stay the default", async () => {
  const urls = await t.call("GET", "/api/users", { cred: t.cred("admin") });
  assert.deepEqual(urls.json, ["admin", "alice", "bob"].map((u) => `https://127.0.0.1:${t.port}/api/users/${u}`));
  assert.equal((await t.call("GET", "/api/users?unrelated=1", { cred: t.cred("admin") })).status, 200);
  const r = await t.call("GET", "/api/users?detail=true", { cred: t.cred("admin") });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.map((u: any) => u.user_name), ["admin", "alice", "bob"]);
  const bob = r.json[2];
  assert.equal(bob.client_dn, "/C=CA/O=Grid/OU=test/CN=Bob Example");
  assert.equal(bob.suspended, true);
  assert.equal(bob.email, "bob@example.org");
  assert.equal("images" in bob, false);
  assert.ok(r.json[0].groups.some((g: string) => g.endsWith("/api/groups/admins")));
});

test("other users' email and quota stay private", async () => {
  const r = await t.call("GET", "/api/users?detail=true", { cred: t.cred("alice") });
  assert.equal(r.status, 200, r.text);
  const [admin, alice, bob] = r.json;
  assert.equal(alice.email, "alice@example.org");
  assert.equal(bob.email, null);
  assert.equal(admin.quota, null);
  assert.equal((await t.call("GET", "/api/users?detail=maybe", { cred: t.cred("alice") })).status, 400);
  assert.equal((await t.call("GET", "/api/users?detail=true")).status, 401);
});
