// The users, groups and permissions API end to end over real TLS: every success and every denial.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, ADMIN_DN, type TestServer } from "../support/server.js";
import type { Credential } from "../support/http.js";

const ALICE_DN = "/C=CA/O=Grid/OU=test/CN=Alice Example";
const BOB_DN = "/C=CA/O=Grid/OU=test/CN=Bob Example";

let t: TestServer;
let admin: Credential, alice: Credential, bob: Credential, aliceLimited: Credential;

before(async () => {
  const pki = await fixturePki();
  t = await startTestServer(pki);
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  aliceLimited = t.proxy("alice-rfc-limited");
});
after(() => t.close());

const expectError = (r: { status: number; json: any }, status: number, code: string, pattern?: RegExp) => {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json?.error?.code, code);
  assert.equal(typeof r.json.error.message, "string");
  if (pattern) assert.match(r.json.error.message, pattern);
};

test("anonymous callers get 401 with a JSON error, or plain text when they ask for it", async () => {
  expectError(await t.call("GET", "/api/whoami"), 401, "unauthorized", /client certificate/);
  const text = await t.call("GET", "/api/users", { headers: { accept: "text/plain" } });
  assert.equal(text.status, 401);
  assert.match(text.headers["content-type"] ?? "", /^text\/plain/);
  assert.match(text.text, /^401 Unauthorized: /);
  const old = await t.call("GET", "/api/groups", { headers: { accept: "*" } });
  assert.match(old.text, /^401 Unauthorized: /);
});

test("a valid certificate whose DN is not registered is refused with 403", async () => {
  expectError(await t.call("GET", "/api/whoami", { cred: bob }), 403, "forbidden", /not registered/);
});

test("whoami returns the admin's user object with the original keys", async () => {
  const r = await t.call("GET", "/api/whoami", { cred: admin });
  assert.equal(r.status, 200);
  assert.equal(r.json.user_name, "admin");
  assert.equal(r.json.client_dn, ADMIN_DN);
  assert.equal(r.json.suspended, false);
  assert.deepEqual(r.json.groups, [`https://127.0.0.1:${t.port}/api/groups/admins`, `https://127.0.0.1:${t.port}/api/groups/users`]);
  for (const k of ["user_name", "full_name", "email", "client_dn", "suspended", "permissions", "groups", "images"]) assert.ok(k in r.json, k);
  assert.equal(r.json.permissions.length, 14);
});

test("admins create users; the DN may be given in RFC 2253 form and is stored in one-line form", async () => {
  const r = await t.call("POST", "/api/users", {
    cred: admin,
    form: { user_name: "alice", cert_dn: "CN=Alice Example,OU=test,O=Grid,C=CA", email: "Alice@Example.org", full_name: "Alice Example" },
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers.location, `https://127.0.0.1:${t.port}/api/users/alice`);
  assert.equal(r.json.client_dn, ALICE_DN);
  assert.equal(r.json.email, "alice@example.org");
  assert.deepEqual(r.json.groups, [`https://127.0.0.1:${t.port}/api/groups/users`]);

  const who = await t.call("GET", "/api/whoami", { cred: alice });
  assert.equal(who.status, 200);
  assert.equal(who.json.user_name, "alice");
  assert.deepEqual(who.json.permissions, ["image_create", "image_delete", "image_modify", "user_modify_self"]);

  const b = await t.call("POST", "/api/users", { cred: admin, json: { user_name: "bob", cert_dn: BOB_DN, email: "bob@example.org" } });
  assert.equal(b.status, 201, b.text);
});

test("bad user input gets a precise 400, conflicts 409, and nothing is created", async () => {
  const cases: [Record<string, unknown>, number, string, RegExp][] = [
    [{ user_name: "bad name", cert_dn: "/CN=x" }, 400, "bad_request", /user_name/],
    [{ user_name: "x".repeat(65), cert_dn: "/CN=x" }, 400, "bad_request", /user_name/],
    [{ user_name: "carl", cert_dn: "/CN=x", email: "not-an-email" }, 400, "bad_request", /email/],
    [{ user_name: "carl", cert_dn: "this is not a DN" }, 400, "bad_request", /cert_dn/],
    [{ user_name: "carl" }, 400, "bad_request", /cert_dn: required/],
    [{ user_name: "carl", cert_dn: "/CN=carl", colour: "blue" }, 400, "bad_request", /unknown field 'colour'/],
    [{ user_name: "carl", cert_dn: "/CN=carl", groups: "nosuchgroup" }, 400, "bad_request", /nosuchgroup/],
    [{ user_name: "carl", cert_dn: "/CN=carl", suspended: "maybe" }, 400, "bad_request", /suspended/],
    [{ user_name: "alice", cert_dn: "/CN=carl" }, 409, "conflict", /already exists/],
    [{ user_name: "carl", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" }, 409, "conflict", /alice/],
    [{ user_name: "carl", cert_dn: "CN=Alice Example, OU=test, O=Grid, C=CA" }, 409, "conflict", /alice/],
    [{ user_name: "carl", cert_dn: "/CN=carl", email: "ALICE@example.org" }, 409, "conflict", /email/],
  ];
  for (const [json, status, code, pattern] of cases) {
    expectError(await t.call("POST", "/api/users", { cred: admin, json }), status, code, pattern);
  }
  expectError(await t.call("GET", "/api/users/carl", { cred: admin }), 404, "not_found");
  const bad = await t.call("POST", "/api/users", { cred: admin, body: "{not json", headers: { "content-type": "application/json" } });
  assert.equal(bad.status, 400);
});

test("plain users may read users and groups but not others' email addresses", async () => {
  const list = await t.call("GET", "/api/users", { cred: alice });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.map((u: string) => u.split("/").pop()), ["admin", "alice", "bob"]);
  const other = await t.call("GET", "/api/users/bob", { cred: alice });
  assert.equal(other.status, 200);
  assert.equal(other.json.email, null);
  assert.equal(other.json.client_dn, BOB_DN);
  const self = await t.call("GET", "/api/users/alice", { cred: alice });
  assert.equal(self.json.email, "alice@example.org");
  const asAdmin = await t.call("GET", "/api/users/bob", { cred: admin });
  assert.equal(asAdmin.json.email, "bob@example.org");
  const perms = await t.call("GET", "/api/users/alice/permissions", { cred: alice });
  assert.deepEqual(perms.json, ["image_create", "image_delete", "image_modify", "user_modify_self"]);
  const groups = await t.call("GET", "/api/users/alice/groups", { cred: alice });
  assert.deepEqual(groups.json, [`https://127.0.0.1:${t.port}/api/groups/users`]);
});

test("plain users are denied every administrative action", async () => {
  const denials: [string, string, object | undefined, RegExp][] = [
    ["POST", "/api/users", { user_name: "carl", cert_dn: "/CN=carl" }, /user_create/],
    ["POST", "/api/users/bob", { full_name: "Bobby" }, /user_modify/],
    ["DELETE", "/api/users/bob", undefined, /user_delete/],
    ["POST", "/api/groups", { name: "atlas" }, /group_create/],
    ["DELETE", "/api/groups/nobody-here", undefined, /does not exist/],
    ["POST", "/api/groups/users/users/bob", undefined, /group_modify_membership/],
    ["DELETE", "/api/groups/users/users/bob", undefined, /group_modify_membership/],
    ["POST", "/api/groups/users/permissions/user_create", undefined, /user_create/],
    ["DELETE", "/api/groups/users/permissions/image_create", undefined, /group_modify_permissions/],
    ["POST", "/api/groups/admins/users/alice", undefined, /admins/],
    ["POST", "/api/users/alice", { suspended: "true" }, /admins/],
    ["POST", "/api/users/alice", { quota: "1000" }, /admins/],
    ["POST", "/api/users/alice", { cert_dn: "/CN=someone else" }, /cert_dn/],
  ];
  for (const [method, path, json, pattern] of denials) {
    const r = await t.call(method, path, { cred: alice, ...(json ? { json } : {}) });
    if (pattern.source === "does not exist") expectError(r, 404, "not_found", pattern);
    else expectError(r, 403, "forbidden", pattern);
  }
  // Nothing changed.
  const bobNow = await t.call("GET", "/api/users/bob", { cred: admin });
  assert.equal(bobNow.json.full_name, "");
  const users = await t.call("GET", "/api/groups/users", { cred: admin });
  assert.deepEqual(users.json.permissions.sort(), ["image_create", "image_delete", "image_modify", "user_modify_self"]);
});

test("authorisation is decided before the body is read", async () => {
  const huge = JSON.stringify({ user_name: "carl", cert_dn: "/CN=carl", full_name: "x".repeat(200_000) });
  // Denied callers are told so (403/401), not that their body is too large (413).
  expectError(await t.call("POST", "/api/users", { cred: alice, body: huge, headers: { "content-type": "application/json" } }), 403, "forbidden");
  expectError(await t.call("POST", "/api/users", { body: huge, headers: { "content-type": "application/json" } }), 401, "unauthorized");
  expectError(await t.call("POST", "/api/users/bob", { cred: alice, body: huge, headers: { "content-type": "application/json" } }), 403, "forbidden");
  // A permitted caller with an oversized body gets 413.
  const r = await t.call("POST", "/api/users", { cred: admin, body: huge, headers: { "content-type": "application/json" } });
  assert.equal(r.status, 413);
});

test("user_modify_self lets users edit their own full name and email, and only that", async () => {
  const r = await t.call("POST", "/api/users/alice", { cred: alice, form: { full_name: "Alice E.", email: "alice2@example.org" } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.full_name, "Alice E.");
  assert.equal(r.json.email, "alice2@example.org");
  expectError(await t.call("POST", "/api/users/alice", { cred: alice, json: { email: "bob@example.org" } }), 409, "conflict");
  expectError(await t.call("POST", "/api/users/alice", { cred: alice, json: { user_name: "alicia" } }), 400, "bad_request", /unknown field/);

  // Without user_modify_self (revoked from `users`), even that is refused.
  assert.equal((await t.call("DELETE", "/api/groups/users/permissions/user_modify_self", { cred: admin })).status, 200);
  expectError(await t.call("POST", "/api/users/alice", { cred: alice, json: { full_name: "A" } }), 403, "forbidden", /user_modify_self/);
  assert.equal((await t.call("POST", "/api/groups/users/permissions/user_modify_self", { cred: admin })).status, 200);
});

test("a limited proxy gets read-only access", async () => {
  const who = await t.call("GET", "/api/whoami", { cred: aliceLimited });
  assert.equal(who.status, 200);
  assert.equal(who.json.user_name, "alice");
  expectError(await t.call("POST", "/api/users/alice", { cred: aliceLimited, json: { full_name: "Limited" } }), 403, "forbidden", /read-only/);
});

test("admins suspend and reinstate users; suspension applies to the next request", async () => {
  assert.equal((await t.call("GET", "/api/whoami", { cred: bob })).status, 200);
  const s = await t.call("POST", "/api/users/bob", { cred: admin, form: { suspended: "yes" } });
  assert.equal(s.status, 200);
  assert.equal(s.json.suspended, true);
  expectError(await t.call("GET", "/api/whoami", { cred: bob }), 403, "forbidden", /suspended/);
  const u = await t.call("POST", "/api/users/bob", { cred: admin, json: { suspended: false } });
  assert.equal(u.json.suspended, false);
  assert.equal((await t.call("GET", "/api/whoami", { cred: bob })).status, 200);
});

test("the last admin cannot be suspended, deleted or removed from admins", async () => {
  expectError(await t.call("POST", "/api/users/admin", { cred: admin, json: { suspended: true } }), 409, "conflict", /last active admin/);
  expectError(await t.call("DELETE", "/api/users/admin", { cred: admin }), 409, "conflict", /last active admin/);
  expectError(await t.call("DELETE", "/api/groups/admins/users/admin", { cred: admin }), 409, "conflict", /last active admin/);
  assert.equal((await t.call("GET", "/api/whoami", { cred: admin })).json.suspended, false);
});

test("anyone may read the list of permissions, each with what it allows", async () => {
  const r = await t.call("GET", "/api/permissions");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.length, 14);
  assert.deepEqual(r.json.find((p: { name: string }) => p.name === "image_create"), { name: "image_create", description: "create images in your own namespace" });
  assert.ok(r.json.every((p: { description: string }) => p.description.length > 0));
});

test("groups: create with members and permissions, rename, membership, permissions, delete", async () => {
  const c = await t.call("POST", "/api/groups", { cred: admin, form: { name: "atlas", users: "alice,bob", permissions: "image_modify_group" } });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.headers.location, `https://127.0.0.1:${t.port}/api/groups/atlas`);
  assert.deepEqual(c.json.users.map((u: string) => u.split("/").pop()), ["alice", "bob"]);
  assert.deepEqual(c.json.permissions, ["image_modify_group"]);
  expectError(await t.call("POST", "/api/groups", { cred: admin, json: { name: "atlas" } }), 409, "conflict");
  expectError(await t.call("POST", "/api/groups", { cred: admin, json: { name: "bad/name" } }), 400, "bad_request", /name/);
  expectError(await t.call("POST", "/api/groups", { cred: admin, json: { name: "cms", users: "nobody" } }), 400, "bad_request", /nobody/);
  expectError(await t.call("POST", "/api/groups", { cred: admin, json: { name: "cms", permissions: "fly" } }), 400, "bad_request", /fly/);
  expectError(await t.call("GET", "/api/groups/cms", { cred: admin }), 404, "not_found");

  const renamed = await t.call("POST", "/api/groups/atlas", { cred: admin, json: { new_name: "atlas-prod" } });
  assert.equal(renamed.status, 200, renamed.text);
  assert.equal(renamed.json.name, "atlas-prod");
  expectError(await t.call("GET", "/api/groups/atlas", { cred: alice }), 404, "not_found");
  expectError(await t.call("POST", "/api/groups/users", { cred: admin, json: { new_name: "people" } }), 403, "forbidden", /protected/);
  expectError(await t.call("DELETE", "/api/groups/admins", { cred: admin }), 403, "forbidden", /protected/);
  expectError(await t.call("POST", "/api/groups/atlas-prod", { cred: admin, json: { new_name: "users" } }), 409, "conflict");

  const removed = await t.call("DELETE", "/api/groups/atlas-prod/users/bob", { cred: admin });
  assert.deepEqual(removed.json.users.map((u: string) => u.split("/").pop()), ["alice"]);
  const again = await t.call("DELETE", "/api/groups/atlas-prod/users/bob", { cred: admin });
  assert.equal(again.status, 200);
  expectError(await t.call("POST", "/api/groups/atlas-prod/users/nobody", { cred: admin }), 404, "not_found", /nobody/);
  expectError(await t.call("POST", "/api/groups/atlas-prod/permissions/fly", { cred: admin }), 404, "not_found", /fly/);
  const members = await t.call("GET", "/api/groups/atlas-prod/users", { cred: alice });
  assert.deepEqual(members.json, [`https://127.0.0.1:${t.port}/api/users/alice`]);
  const perms = await t.call("GET", "/api/groups/atlas-prod/permissions", { cred: alice });
  assert.deepEqual(perms.json, ["image_modify_group"]);
  const all = await t.call("GET", "/api/groups", { cred: alice });
  assert.deepEqual(all.json.map((u: string) => u.split("/").pop()), ["admins", "atlas-prod", "users"]);
});

test("delegated group managers: membership but never into admins, permissions only those they hold", async () => {
  // Give alice membership and permission management through a group of her own.
  await t.call("POST", "/api/groups", { cred: admin, json: { name: "managers", users: ["alice"], permissions: ["group_modify_membership", "group_modify_permissions", "group_create", "group_delete", "group_modify"] } });
  assert.equal((await t.call("POST", "/api/groups/atlas-prod/users/bob", { cred: alice })).status, 200);
  expectError(await t.call("POST", "/api/groups/admins/users/bob", { cred: alice }), 403, "forbidden", /admins/);
  expectError(await t.call("POST", "/api/groups/admins/users/alice", { cred: alice }), 403, "forbidden", /admins/);
  expectError(await t.call("POST", "/api/groups/managers/permissions/user_create", { cred: alice }), 403, "forbidden", /do not hold/);
  expectError(await t.call("DELETE", "/api/groups/admins/permissions/group_create", { cred: alice }), 403, "forbidden", /admins/);
  assert.equal((await t.call("POST", "/api/groups/atlas-prod/permissions/group_create", { cred: alice })).status, 200);
  const g = await t.call("POST", "/api/groups", { cred: alice, json: { name: "cms" } });
  assert.equal(g.status, 201);
  assert.equal((await t.call("POST", "/api/groups/cms", { cred: alice, json: { new_name: "cms2" } })).status, 200);
  assert.equal((await t.call("DELETE", "/api/groups/cms2", { cred: alice })).status, 200);
  expectError(await t.call("DELETE", "/api/groups/users", { cred: alice }), 403, "forbidden", /protected/);
  // Admin membership stays with admins.
  assert.deepEqual((await t.call("GET", "/api/groups/admins/users", { cred: admin })).json.map((u: string) => u.split("/").pop()), ["admin"]);
});

test("admins delete users and groups; unknown resources are 404", async () => {
  await t.call("POST", "/api/users", { cred: admin, json: { user_name: "temp", cert_dn: "/CN=temp" } });
  const d = await t.call("DELETE", "/api/users/temp", { cred: admin });
  assert.equal(d.status, 200);
  expectError(await t.call("GET", "/api/users/temp", { cred: admin }), 404, "not_found");
  expectError(await t.call("DELETE", "/api/users/temp", { cred: admin }), 404, "not_found");
  expectError(await t.call("DELETE", "/api/groups/nope", { cred: admin }), 404, "not_found");
  expectError(await t.call("GET", "/api/nothing-here", { cred: admin }), 404, "not_found");
  expectError(await t.call("GET", "/api/env", { cred: admin }), 404, "not_found");
});

test("one structured log line per request", () => {
  const lines = t.logs.filter((l) => "status" in l);
  assert.ok(lines.length > 50);
  const who = lines.find((l) => l.path === "/api/whoami" && l.status === 200 && l.user === "admin")!;
  assert.ok(who);
  assert.equal(who.identity, ADMIN_DN);
  assert.equal(who.method, "GET");
  assert.equal(typeof who.ms, "number");
  assert.equal(typeof who.bytes_out, "number");
  assert.equal(typeof who.bytes_in, "number");
  assert.match(String(who.request_id), /^[0-9a-f]{16}$/);
  assert.match(String(who.time), /^\d{4}-\d\d-\d\dT/);
});
