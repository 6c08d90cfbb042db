// Image lists in every order, paged with markers, and filtered by public access (the web
// interface's sortable list).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, type TestServer } from "../support/server.js";
import type { Credential } from "../support/http.js";

let t: TestServer;
let alice: Credential, bob: Credential;

// name → [owner, size or null (no file), public]
const IMAGES: [string, string, number | null, boolean][] = [
  ["m.img", "alice", 300, false],
  ["a.img", "alice", null, true],
  ["z.img", "alice", 100, true],
  ["b.img", "bob", 300, false],
  ["m.img", "bob", 200, true],
  ["c.img", "bob", null, false],
];

before(async () => {
  t = await startTestServer(await fixturePki());
  const admin = t.cred("admin");
  alice = t.cred("alice");
  bob = t.cred("bob");
  for (const [user_name, cert_dn] of [
    ["alice", "/C=CA/O=Grid/OU=test/CN=Alice Example"],
    ["bob", "/C=CA/O=Grid/OU=test/CN=Bob Example"],
  ]) assert.equal((await t.call("POST", "/api/users", { cred: admin, json: { user_name, cert_dn } })).status, 201);
  for (const [name, owner, size, pub] of IMAGES) {
    const cred = owner === "alice" ? alice : bob;
    const r = await t.call("POST", "/api/images", { cred, json: { name, hypervisor: "kvm", unauthenticated_access: pub } });
    assert.equal(r.status, 201, r.text);
    // Bob shares everything with alice, so she sees all six.
    if (owner === "bob") assert.equal((await t.call("POST", `/api/images/bob/${name}/share/user/alice`, { cred: bob })).status, 200);
  }
  // Uploads in this order, a few ms apart: b, z, m(bob), m(alice) → uploaded ascending.
  for (const [owner, name] of [["bob", "b.img"], ["alice", "z.img"], ["bob", "m.img"], ["alice", "m.img"]] as const) {
    const size = IMAGES.find((i) => i[0] === name && i[1] === owner)![2]!;
    const r = await t.call("PUT", `/api/images/raw/${owner}/kvm/${name}`, { cred: owner === "alice" ? alice : bob, body: Buffer.alloc(size, 1) });
    assert.equal(r.status, 200, r.text);
    await new Promise((r) => setTimeout(r, 5));
  }
});
after(() => t.close());

const ids = (json: any[]) => json.map((i) => `${i.owner_user_name}/${i.name}`);

async function list(query: string, cred: Credential | null = alice): Promise<string[]> {
  const r = await t.call("GET", `/api/images?detail=true&${query}`, { cred: cred ?? undefined });
  assert.equal(r.status, 200, r.text);
  return ids(r.json);
}

// Follows Link: rel="next" to the end, two at a time.
async function paged(query: string): Promise<string[]> {
  const out: string[] = [];
  let path: string | undefined = `/api/images?detail=true&limit=2&${query}`;
  for (let guard = 0; path && guard < 20; guard++) {
    const r = await t.call("GET", path, { cred: alice });
    assert.equal(r.status, 200, r.text);
    out.push(...ids(r.json));
    const link = r.headers.link as string | undefined;
    path = link ? new URL(/<([^>]+)>/.exec(link)![1]!).pathname + new URL(/<([^>]+)>/.exec(link)![1]!).search : undefined;
  }
  return out;
}

const ORDERS: Record<string, string[]> = {
  "": ["alice/a.img", "alice/m.img", "alice/z.img", "bob/b.img", "bob/c.img", "bob/m.img"],
  owner: ["alice/a.img", "alice/m.img", "alice/z.img", "bob/b.img", "bob/c.img", "bob/m.img"],
  "-owner": ["bob/b.img", "bob/c.img", "bob/m.img", "alice/a.img", "alice/m.img", "alice/z.img"],
  name: ["alice/a.img", "bob/b.img", "bob/c.img", "alice/m.img", "bob/m.img", "alice/z.img"],
  "-name": ["alice/z.img", "alice/m.img", "bob/m.img", "bob/c.img", "bob/b.img", "alice/a.img"],
  // no file = smallest; ties by owner, name
  size: ["alice/a.img", "bob/c.img", "alice/z.img", "bob/m.img", "alice/m.img", "bob/b.img"],
  "-size": ["alice/m.img", "bob/b.img", "bob/m.img", "alice/z.img", "alice/a.img", "bob/c.img"],
  uploaded: ["alice/a.img", "bob/c.img", "bob/b.img", "alice/z.img", "bob/m.img", "alice/m.img"],
  "-uploaded": ["alice/m.img", "bob/m.img", "alice/z.img", "bob/b.img", "alice/a.img", "bob/c.img"],
};

test("sort: every order, the same whole or paged", async () => {
  for (const [sort, expected] of Object.entries(ORDERS)) {
    const q = sort ? `sort=${sort}` : "";
    assert.deepEqual(await list(q), expected, `sort=${sort}`);
    assert.deepEqual(await paged(q), expected, `sort=${sort}, paged`);
  }
  // The latest change first: bob shared and uploaded after creating, alice's m.img was uploaded last.
  assert.equal((await list("sort=-modified"))[0], "alice/m.img");
  assert.deepEqual((await paged("sort=-modified")).sort(), [...ORDERS[""]!].sort());
});

test("sort combines with filters and with the other list endpoints", async () => {
  assert.deepEqual(await list("sort=-size&owner=bob"), ["bob/b.img", "bob/m.img", "bob/c.img"]);
  assert.deepEqual(await list("sort=name&q=m.img"), ["alice/m.img", "bob/m.img"]);
  const r = await t.call("GET", "/api/users/alice/shared?detail=true&sort=-size", { cred: alice });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ids(r.json), ["bob/b.img", "bob/m.img", "bob/c.img"]);
});

test("unauthenticated_access filters public or non-public images", async () => {
  assert.deepEqual(await list("unauthenticated_access=true"), ["alice/a.img", "alice/z.img", "bob/m.img"]);
  assert.deepEqual(await list("unauthenticated_access=false&sort=name"), ["bob/b.img", "bob/c.img", "alice/m.img"]);
  assert.deepEqual(await list("unauthenticated_access=true", null), ["alice/a.img", "alice/z.img", "bob/m.img"]);
  assert.deepEqual(await list("unauthenticated_access=false", null), []);
});

test("bad sorts and markers: 400, and a marker cannot probe for invisible images", async () => {
  const bad = await t.call("GET", "/api/images?sort=size,name", { cred: alice });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /sort: must be one of owner, -owner, name/);
  // Anonymous: alice's private m.img is as unknown as a name that never existed.
  const hidden = await t.call("GET", "/api/images?sort=size&marker=alice/m.img");
  const missing = await t.call("GET", "/api/images?sort=size&marker=alice/nope.img");
  assert.equal(hidden.status, 400);
  assert.equal(missing.status, 400);
  assert.equal(hidden.json.error.message.replace("m.img", "X"), missing.json.error.message.replace("nope.img", "X"));
  // Name and owner orders need no lookup: any marker positions the page.
  assert.equal((await t.call("GET", "/api/images?sort=name&marker=alice/nope.img")).status, 200);
});

test("the OpenAPI document describes sort and unauthenticated_access", async () => {
  const doc = (await t.call("GET", "/api/openapi.json")).json;
  const params = doc.paths["/api/images"].get.parameters as { name: string; schema: { enum?: string[] } }[];
  assert.deepEqual(params.find((p) => p.name === "sort")?.schema.enum, ["owner", "-owner", "name", "-name", "size", "-size", "uploaded", "-uploaded", "modified", "-modified"]);
  assert.ok(params.some((p) => p.name === "unauthenticated_access"));
});
