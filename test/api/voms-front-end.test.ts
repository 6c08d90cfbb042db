// Front-end mode and VOMS: stock nginx (the documented configuration, run for real) refuses every
// grid proxy, so no AC can arrive through it; and no header a client or the front end sends can
// give VOMS attributes: they come only from a chain repoman-server validated itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { startNginx, type Nginx } from "../support/nginx.js";

let pki: string;
let t: TestServer;
let nginx: Nginx;
let port: number;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"], voms: { map: ["/testvo/* vo-all"] } });
  await addUsers(t, ["alice"]);
  await t.call("POST", "/api/groups", { cred: t.cred("admin"), json: { name: "vo-all" } });
  nginx = await startNginx(pki, t.server.proxyPort!);
  port = nginx.port;
});

after(async () => {
  await nginx?.stop();
  await t?.close();
});

const viaNginx = () => client(port, trustedCaBundle(pki));

test("nginx refuses a VOMS proxy itself: nothing reaches repoman-server", async () => {
  const seen = t.logs.length;
  const r = await viaNginx()("GET", "/api/whoami", { cred: t.proxy("alice-voms-good") });
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /SSL certificate error/);
  assert.equal(t.logs.length, seen);
});

test("an identity forwarded by the front end carries no VOMS attributes, whatever headers say", async () => {
  const r = await viaNginx()("GET", "/api/whoami", { cred: t.cred("alice"), headers: { "x-voms-fqans": "/testvo", "x-ssl-client-cert": "junk" } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "alice");
  assert.equal(r.json.voms, null);
});

test("the same user, directly with the VOMS proxy, gets the mapped group", async () => {
  const r = await t.call("GET", "/api/whoami", { cred: t.proxy("alice-voms-good") });
  assert.deepEqual(r.json.voms.groups, [`https://127.0.0.1:${t.port}/api/groups/vo-all`]);
});
