// The audit log end to end over real TLS: every kind of change leaves one event with who, when,
// from where (address and the request's log id) and the values before and after; refused changes
// leave none; only admins read it, with filters and pages; retention forgets old events; and
// `repoman-server audit` prints the same log from the database.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import type { Credential, Reply } from "../support/http.js";
import { pruneAudit } from "../../src/catalog/audit.js";

let t: TestServer;
let admin: Credential, alice: Credential, bob: Credential;

const json = (cred: Credential, method: string, path: string, body?: unknown) => t.call(method, path, { cred, json: body ?? {} });
const ok = (r: Reply, status = 200) => (assert.equal(r.status, status, r.text), r);
type Event = { id: string; time: string; user: string | null; dn: string | null; remote: string | null; request_id: string | null; action: string; target: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null };
async function events(query = ""): Promise<Event[]> {
  return ok(await t.call("GET", `/api/audit${query}`, { cred: admin })).json.events;
}
// The one event the request with this reply made.
async function eventOf(r: Reply): Promise<Event> {
  const id = r.headers["x-request-id"];
  const found = (await events("?limit=1000")).filter((e) => e.request_id === id);
  assert.equal(found.length, 1, `one event for request ${id}: ${JSON.stringify(found)}`);
  return found[0]!;
}

before(async () => {
  t = await startTestServer(await fixturePki());
  admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  await addUsers(t, ["alice", "bob"]);
});
after(() => t.close());

test("user changes are recorded with who, from where, and before/after", async () => {
  const created = (await events("?action=user.create&target=user%20alice"))[0]!;
  assert.equal(created.user, "admin");
  assert.equal(created.dn, "/C=CA/O=Grid/OU=test/CN=Repo Admin");
  assert.equal(created.remote, "127.0.0.1");
  assert.match(created.request_id!, /^[0-9a-f]{16}$/);
  assert.deepEqual(created.after, { full_name: "Alice Example", email: "alice@example.org", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example", suspended: false, quota: 0, groups: ["users"] });

  const r = ok(await json(admin, "POST", "/api/users/bob", { full_name: "Robert Example", quota: 1000 }));
  const e = await eventOf(r);
  assert.equal(e.action, "user.modify");
  assert.equal(e.target, "user bob");
  assert.deepEqual(e.before, { full_name: "Bob Example", quota: 0 });
  assert.deepEqual(e.after, { full_name: "Robert Example", quota: 1000 });
  // The request's log line carries the same id.
  assert.ok(t.logs.some((l) => l.request_id === e.request_id && l.path === "/api/users/bob"));
});

test("group, membership and permission changes are recorded", async () => {
  const created = await eventOf(ok(await json(admin, "POST", "/api/groups", { name: "lab", users: ["alice"] }), 201));
  assert.deepEqual([created.action, created.target, created.after], ["group.create", "group lab", { users: ["alice"], permissions: [] }]);
  const added = await eventOf(ok(await json(admin, "POST", "/api/groups/lab/users/bob")));
  assert.deepEqual([added.action, added.after], ["group.member.add", { user: "bob" }]);
  const granted = await eventOf(ok(await json(admin, "POST", "/api/groups/lab/permissions/image_modify_group")));
  assert.deepEqual([granted.action, granted.after], ["group.permission.grant", { permission: "image_modify_group" }]);
  const revoked = await eventOf(ok(await json(admin, "DELETE", "/api/groups/lab/permissions/image_modify_group")));
  assert.deepEqual([revoked.action, revoked.before, revoked.after], ["group.permission.revoke", { permission: "image_modify_group" }, null]);
  const removed = await eventOf(ok(await json(admin, "DELETE", "/api/groups/lab/users/bob")));
  assert.deepEqual([removed.action, removed.before], ["group.member.remove", { user: "bob" }]);
});

test("image changes, shares, uploads, rollbacks and pruned versions are recorded", async () => {
  const created = await eventOf(ok(await json(alice, "POST", "/api/images", { name: "base.img", description: "first" }), 201));
  assert.equal(created.action, "image.create");
  assert.equal(created.target, "alice/base.img");
  assert.equal(created.user, "alice");
  assert.equal(created.after?.description, "first");

  const modified = await eventOf(ok(await json(alice, "POST", "/api/images/alice/base.img", { description: "second", keep_versions: 2 })));
  assert.deepEqual(modified.before, { description: "first", keep_versions: null });
  assert.deepEqual(modified.after, { description: "second", keep_versions: 2 });

  const shared = await eventOf(ok(await json(alice, "POST", "/api/images/alice/base.img/share/user/bob")));
  assert.deepEqual([shared.action, shared.after], ["image.share", { user: "bob" }]);
  const unshared = await eventOf(ok(await json(alice, "DELETE", "/api/images/alice/base.img/share/user/bob")));
  assert.deepEqual([unshared.action, unshared.before], ["image.unshare", { user: "bob" }]);

  const bodies = [randomBytes(1000), randomBytes(2000), randomBytes(3000)];
  const uploads: Event[] = [];
  for (const body of bodies) {
    const r = ok(await t.call("PUT", "/api/images/raw/alice/xen/base.img?comment=step", { cred: alice, body, headers: { "content-type": "application/octet-stream" } }));
    uploads.push(await eventOf(r));
  }
  assert.deepEqual(uploads.map((u) => [u.action, u.after?.version, u.after?.size]), [["image.upload", 1, 1000], ["image.upload", 2, 2000], ["image.upload", 3, 3000]]);
  assert.equal(uploads[0]!.before, null, "the first upload replaced nothing");
  assert.deepEqual(uploads[1]!.before, { hypervisor: "xen", version: 1, size: 1000, sha256: uploads[0]!.after!.sha256 });
  assert.equal(uploads[1]!.after!.comment, "step");
  assert.deepEqual(uploads[2]!.after!.versions_deleted, ["xen:1"], "keep_versions 2 pruned version 1, and the log says so");

  const rolled = await eventOf(ok(await json(alice, "POST", "/api/images/alice/base.img/rollback", {})));
  assert.equal(rolled.action, "image.rollback");
  assert.deepEqual([rolled.before?.version, rolled.after?.version, rolled.after?.restored_from, rolled.after?.versions_deleted], [3, 4, 2, ["xen:2"]]);

  const deleted = await eventOf(ok(await json(alice, "DELETE", "/api/images/alice/base.img")));
  assert.equal(deleted.action, "image.delete");
  assert.equal(deleted.before?.description, "second");
  assert.deepEqual(deleted.before?.versions, ["xen:4", "xen:3"]);

  // Filters: one target's history, in order, and action prefixes.
  const history = (await events("?target=alice%2Fbase.img&limit=1000")).map((e) => e.action).reverse();
  assert.deepEqual(history, ["image.create", "image.modify", "image.share", "image.unshare", "image.upload", "image.upload", "image.upload", "image.rollback", "image.delete"]);
  assert.ok((await events("?action=image.&limit=1000")).every((e) => e.action.startsWith("image.")));
  assert.ok((await events("?user=alice&limit=1000")).every((e) => e.user === "alice"));
});

test("resumable uploads record their start, finish and cancellation", async () => {
  ok(await json(alice, "POST", "/api/images", { name: "tus.img" }), 201);
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const start = (length: number) => t.call("POST", "/api/uploads", { cred: alice, headers: { "tus-resumable": "1.0.0", "upload-length": String(length), "upload-metadata": `image ${b64("tus.img")},hypervisor ${b64("xen")}` } });
  const cancelled = ok(await start(10), 201);
  const started = await eventOf(cancelled);
  assert.deepEqual([started.action, started.target, started.after?.length], ["upload.start", "alice/tus.img", 10]);
  const at = new URL(cancelled.headers.location!).pathname;
  const gone = await eventOf(ok(await t.call("DELETE", at, { cred: alice, headers: { "tus-resumable": "1.0.0" } }), 204));
  assert.deepEqual([gone.action, gone.target, gone.before?.offset], ["upload.cancel", "alice/tus.img", 0]);

  const finished = ok(await start(5), 201);
  const body = Buffer.from("hello");
  const last = ok(await t.call("PATCH", new URL(finished.headers.location!).pathname, { cred: alice, body, headers: { "tus-resumable": "1.0.0", "content-type": "application/offset+octet-stream", "upload-offset": "0" } }));
  const committed = await eventOf(last);
  assert.deepEqual([committed.action, committed.after?.version, committed.after?.size], ["image.upload", 1, 5]);
});

test("refused changes leave no event, and only admins read the log", async () => {
  const before = (await events("?limit=1"))[0]!.id;
  assert.equal((await json(bob, "POST", "/api/users/alice", { full_name: "Mallory" })).status, 403);
  assert.equal((await json(bob, "POST", "/api/groups", { name: "bobs" })).status, 403);
  assert.equal((await json(bob, "DELETE", "/api/images/alice/tus.img")).status, 404);
  // A change to the values an image already has changes nothing, its modification time included.
  const same = ok(await t.call("GET", "/api/images/alice/tus.img?timestamps=iso", { cred: alice })).json;
  await new Promise((r) => setTimeout(r, 5));
  ok(await json(alice, "POST", "/api/images/alice/tus.img", { description: same.description, hypervisor: same.hypervisor }));
  assert.equal(ok(await t.call("GET", "/api/images/alice/tus.img?timestamps=iso", { cred: alice })).json.modified, same.modified);
  assert.equal((await events("?limit=1"))[0]!.id, before, "nothing was recorded");

  const denied = await t.call("GET", "/api/audit", { cred: alice });
  assert.equal(denied.status, 403, denied.text);
  assert.match(denied.json.error.message, /only admins may read the audit log/);
  assert.equal((await t.call("GET", "/api/audit")).status, 401);
  assert.equal((await t.call("GET", "/api/audit?since=yesterday", { cred: admin })).status, 400);
  assert.equal((await t.call("GET", "/api/audit?action=image%25", { cred: admin })).status, 400);
});

test("pages follow `next` without gaps or repeats, and retention forgets old events", async () => {
  const all = await events("?limit=1000");
  const paged: string[] = [];
  for (let url: string | null = "/api/audit?limit=3"; url; ) {
    const page: { events: Event[]; next: string | null } = ok(await t.call("GET", url, { cred: admin })).json;
    paged.push(...page.events.map((e) => e.id));
    url = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
  }
  assert.deepEqual(paged, all.map((e) => e.id));
  const whole = ok(await t.call("GET", `/api/audit?limit=${all.length}`, { cred: admin })).json;
  assert.equal(whole.events.length, all.length);
  assert.equal(whole.next, null, "a page that holds the rest exactly has no next");
  assert.deepEqual([...all].sort((a, b) => (a.id < b.id ? 1 : -1)).map((e) => e.time), all.map((e) => e.time), "ids sort as times do");

  // Ten days on, a retention of 7 days forgets them all; 0 keeps everything.
  const db = t.server.storage.db;
  assert.equal(await pruneAudit(db, 0, Date.now() + 10 * 86_400_000), 0);
  assert.equal(await pruneAudit(db, 7, Date.now()), 0, "nothing is older than a week yet");
  assert.equal(await pruneAudit(db, 7, Date.now() + 10 * 86_400_000), all.length);
  assert.deepEqual(await events(), []);
});

test("repoman-server audit prints the log from the database", { skip: !!process.env.REPOMAN_TEST_POSTGRES_URL && "the server's database is PostgreSQL here; the command reads it the same way through --database" }, async () => {
  ok(await json(admin, "POST", "/api/users/alice", { full_name: "Alice Audited" }));
  const main = fileURLToPath(new URL("../../src/cli/server-main.js", import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [main, "audit", "--data-dir", t.dataDir, ...args], { encoding: "utf8" });
  const text = run("--user", "admin", "--since", "1h");
  assert.equal(text.status, 0, text.stderr);
  const line = text.stdout.split("\n").find((l) => l.includes("user.modify"))!;
  assert.match(line, /^\S+Z {2}admin {2}127\.0\.0\.1 {2}user\.modify {2}user alice {2}full_name="Alice Example" -> full_name="Alice Audited"$/);
  const asJson = run("--action", "user.modify", "--json", "--limit", "1");
  assert.equal(asJson.status, 0, asJson.stderr);
  const e = JSON.parse(asJson.stdout);
  assert.deepEqual([e.user, e.action, e.target, e.after], ["admin", "user.modify", "user alice", { full_name: "Alice Audited" }]);
  const bad = run("--since", "last week");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--since: expected an ISO 8601 time/);
  assert.match(run("--dn", "x").stderr, /--dn is an option of dev-user/);
});
