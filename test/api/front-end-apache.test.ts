// The documented Apache configuration, run for real in front of the front-end listener.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { startApache, type Apache } from "../support/apache.js";

let pki: string;
let t: TestServer;
let apache: Apache;
let port: number;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"] });
  await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "jose", cert_dn: "/DC=org/DC=example/O=Grid/OU=a+OU=b/CN=José Müller/UID=jm42/emailAddress=jose@example.org" } });
  apache = await startApache("apache.conf", pki, t.server.proxyPort!);
  port = apache.port;
});

after(async () => {
  await apache?.stop();
  await t?.close();
});

const viaApache = () => client(port, trustedCaBundle(pki));

test("Apache verifies the certificate and forwards the identity in RFC 2253 form, UTF-8 and multi-valued RDNs included", async () => {
  const r = await viaApache()("GET", "/api/whoami", { cred: t.cred("jose") });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "jose");
  assert.equal(r.json.groups[0], `https://127.0.0.1:${port}/api/groups/users`);
});

test("identity headers a client sends through Apache are removed", async () => {
  const r = await viaApache()("GET", "/api/whoami", {
    headers: { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Repo Admin" },
  });
  assert.equal(r.status, 401, r.text);
});

test("Apache refuses a revoked certificate in the handshake; nothing reaches repoman-server", async () => {
  const seen = t.logs.length;
  await assert.rejects(viaApache()("GET", "/api/whoami", { cred: t.cred("carol") }));
  assert.equal(t.logs.length, seen);
});
