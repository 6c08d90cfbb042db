// VOMS attributes end to end over real TLS: voms-proxy-fake proxies give mapped groups for the
// request that carries them (policy decides with them), whoami and `repoman whoami` show them, bad
// ACs give nothing but still log in, and auto-registration happens only when switched on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { runRepoman } from "../support/repoman-cli.js";
import { SERVER_MAIN } from "../support/process.js";

let pki: string;
let t: TestServer;
const MAP = ["/testvo/analysis analysts", "/testvo/Role=production producers", "/testvo/* vo-all", "/othervo/* others"];

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { voms: { map: MAP } });
  await addUsers(t, ["alice", "bob"]);
  const admin = t.cred("admin");
  for (const name of ["analysts", "producers", "vo-all", "others"]) assert.equal((await t.call("POST", "/api/groups", { cred: admin, json: { name } })).status, 201);
  assert.equal((await t.call("POST", "/api/images", { cred: t.cred("bob"), json: { name: "data.img" } })).status, 201);
  assert.equal((await t.call("POST", "/api/images/bob/data.img/share/group/analysts", { cred: admin })).status, 200);
});

after(async () => {
  await t?.close();
});

const url = (group: string) => `https://127.0.0.1:${t.port}/api/groups/${group}`;
const whoami = (proxy: string) => t.call("GET", "/api/whoami", { cred: t.proxy(proxy) });

test("a valid AC maps to groups for its request: whoami shows FQANs and VOMS groups apart from stored ones", async () => {
  const r = await whoami("alice-voms-good");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "alice");
  assert.deepEqual(r.json.groups, [url("users")]);
  assert.deepEqual(r.json.voms, {
    fqans: ["/testvo", "/testvo/analysis", "/testvo/Role=production"],
    groups: [url("analysts"), url("producers"), url("vo-all")],
    refused: [],
  });
});

test("policy decides with VOMS groups: an image shared with a mapped group is readable with the AC, not without", async () => {
  assert.equal((await t.call("GET", "/api/images/bob/data.img", { cred: t.proxy("alice-voms-good") })).status, 200);
  assert.equal((await t.call("GET", "/api/images/bob/data.img", { cred: t.proxy("alice-voms-pop") })).status, 200);
  const plain = await t.call("GET", "/api/images/bob/data.img", { cred: t.proxy("alice-rfc") });
  assert.equal(plain.status, 404, plain.text);
  assert.equal((await whoami("alice-rfc")).json.voms, null);
  // Bob's AC says /testvo only: vo-all, not analysts
  const bob = await whoami("bob-voms");
  assert.deepEqual(bob.json.voms.groups, [url("vo-all")]);
});

test("nothing is stored: after VOMS requests the groups have no new members", async () => {
  await whoami("alice-voms-good");
  for (const g of ["analysts", "producers", "vo-all"]) {
    const r = await t.call("GET", `/api/groups/${g}`, { cred: t.cred("admin") });
    assert.deepEqual(r.json.users, [], g);
  }
  const alice = await t.call("GET", "/api/users/alice", { cred: t.cred("admin") });
  assert.deepEqual(alice.json.groups, [url("users")]);
});

for (const [proxy, code] of [
  ["alice-voms-tampered", "AC_BAD_SIGNATURE"],
  ["alice-voms-expired", "AC_EXPIRED"],
  ["alice-voms-wrong-signer", "AC_UNTRUSTED_SIGNER"],
  ["alice-voms-rogue", "AC_SIGNER_CHAIN"],
  ["alice-voms-unknown-vo", "AC_UNKNOWN_VO"],
  ["alice-voms-foreign-fqan", "AC_FQAN_OUTSIDE_VO"],
  ["alice-voms-targeted", "AC_TARGET"],
] as const) {
  test(`${proxy}: logs in by DN, the AC gives nothing (${code})`, async () => {
    const r = await whoami(proxy);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.user_name, "alice");
    assert.deepEqual(r.json.voms.fqans, []);
    assert.deepEqual(r.json.voms.groups, []);
    assert.equal(r.json.voms.refused.length, 1);
    assert.match(r.json.voms.refused[0], new RegExp(`^${code}: `));
    assert.equal((await t.call("GET", "/api/images/bob/data.img", { cred: t.proxy(proxy) })).status, 404);
  });
}

test("Alice's AC in Bob's proxy: Bob logs in, with no VOMS groups", async () => {
  const r = await whoami("bob-voms-alice-ac");
  assert.equal(r.json.user_name, "bob");
  assert.deepEqual(r.json.voms.groups, []);
  assert.match(r.json.voms.refused[0], /^AC_HOLDER_MISMATCH: /);
});

test("an unregistered DN with a valid mapped AC is refused while auto-registration is off", async () => {
  const r = await whoami("erin-voms");
  assert.equal(r.status, 403, r.text);
  assert.match(r.json.error.message, /not registered/);
  const users = await t.call("GET", "/api/users", { cred: t.cred("admin") });
  assert.ok(!users.json.some((u: string) => u.includes("erin")));
});

test("repoman whoami prints the user name, then the FQANs and the groups they give this session", async () => {
  const env = { HOME: mkdtempSync(join(tmpdir(), "repoman-home-")), X509_CERT_DIR: join(pki, "certificates") };
  const good = await runRepoman(["-r", `127.0.0.1:${t.port}`, "--proxy", t.proxy("alice-voms-good").cert, "whoami"], { env });
  assert.equal(good.code, 0, good.stderr);
  assert.deepEqual(good.stdout.trimEnd().split("\n"), [
    "alice",
    "VOMS FQANs: /testvo, /testvo/analysis, /testvo/Role=production",
    "VOMS groups (this session only): analysts, producers, vo-all",
  ]);
  const bad = await runRepoman(["-r", `127.0.0.1:${t.port}`, "--proxy", t.proxy("alice-voms-expired").cert, "whoami"], { env });
  assert.equal(bad.code, 0, bad.stderr);
  assert.match(bad.stdout, /^alice\nVOMS AC refused: AC_EXPIRED: /);
  const plain = await runRepoman(["-r", `127.0.0.1:${t.port}`, "--proxy", t.proxy("alice-rfc").cert, "whoami"], { env });
  assert.equal(plain.stdout, "alice\n");
});

test("with --voms-auto-register, a valid mapped AC registers its holder once; invalid or unmapped ACs register no one", async () => {
  const auto = await startTestServer(pki, { voms: { map: ["/testvo vo-members"], autoRegister: true } });
  try {
    const admin = auto.cred("admin");
    // the mapped group does not exist yet: nothing to map to, so no registration
    const early = await auto.call("GET", "/api/whoami", { cred: auto.proxy("erin-voms") });
    assert.equal(early.status, 403, early.text);
    assert.equal((await auto.call("POST", "/api/groups", { cred: admin, json: { name: "vo-members" } })).status, 201);

    const r = await auto.call("GET", "/api/whoami", { cred: auto.proxy("erin-voms") });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.user_name, "erin-example");
    assert.equal(r.json.client_dn, "/C=CA/O=Grid/OU=test/CN=Erin Example");
    assert.equal(r.json.full_name, "Erin Example");
    assert.deepEqual(r.json.groups, [`https://127.0.0.1:${auto.port}/api/groups/users`]);
    assert.deepEqual(r.json.voms.groups, [`https://127.0.0.1:${auto.port}/api/groups/vo-members`]);
    // registered for good, but the VOMS group stays per request
    const again = await auto.call("GET", "/api/whoami", { cred: auto.cred("erin") });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.voms, null);
    const members = await auto.call("GET", "/api/groups/vo-members", { cred: admin });
    assert.deepEqual(members.json.users, []);

    // a taken name gets a number
    await auto.call("POST", "/api/users", { cred: admin, json: { user_name: "bob-example", cert_dn: "/C=CA/O=Other/CN=Bob Example" } });
    const bob = await auto.call("GET", "/api/whoami", { cred: auto.proxy("bob-voms") });
    assert.equal(bob.json.user_name, "bob-example-2");

    // an AC that does not validate registers no one
    for (const proxy of ["alice-voms-wrong-signer", "alice-voms-tampered", "alice-voms-expired"]) {
      const refused = await auto.call("GET", "/api/whoami", { cred: auto.proxy(proxy) });
      assert.equal(refused.status, 403, `${proxy}: ${refused.text}`);
    }
    const users = await auto.call("GET", "/api/users", { cred: admin });
    assert.deepEqual(
      users.json.map((u: string) => u.split("/").pop()),
      ["admin", "bob-example", "bob-example-2", "erin-example"],
    );
  } finally {
    await auto.close();
  }
});

test("a suspended user stays out, whatever their AC says", async () => {
  await addUsers(t, ["erin"]);
  assert.equal((await t.call("POST", "/api/users/erin", { cred: t.cred("admin"), json: { suspended: true } })).status, 200);
  const r = await whoami("erin-voms");
  assert.equal(r.status, 403);
  assert.match(r.json.error.message, /suspended/);
});

test("repoman-server refuses a --voms-map it cannot read, and one giving admins", () => {
  for (const [line, message] of [
    ["/atlas admins", /voms-map: the admins group cannot be given by VOMS/],
    ["atlas", /voms-map: expected "FQAN GROUP"/],
    ["/atlas/Role=a/b atlas", /voms-map: "\/atlas\/Role=a\/b" is not \/VO/],
  ] as const) {
    const data = mkdtempSync(join(tmpdir(), "repoman-voms-cli-"));
    try {
      const r = spawnSync(process.execPath, [SERVER_MAIN, "--data-dir", data, "--listen", "127.0.0.1:0", "--voms-map", line], { encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }
});
