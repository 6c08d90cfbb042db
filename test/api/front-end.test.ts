// Identity from a TLS-terminating front end: real nginx, configured with the file in docs/,
// forwarding to the plain-HTTP front-end listener; and the denials for untrusted senders.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { startNginx, type Nginx } from "../support/nginx.js";

let pki: string;
let t: TestServer;
let nginx: Nginx;
let nginxPort: number;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"] });
  await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } });

  nginx = await startNginx(pki, t.server.proxyPort!);
  nginxPort = nginx.port;
});

after(async () => {
  await nginx?.stop();
  await t?.close();
});

const viaNginx = () => client(nginxPort, trustedCaBundle(pki));

test("nginx verifies the certificate and repoman-server takes the forwarded identity", async () => {
  const r = await viaNginx()("GET", "/api/whoami", { cred: t.cred("alice") });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "alice");
  assert.equal(r.json.client_dn, "/C=CA/O=Grid/OU=test/CN=Alice Example");
  // Links use the scheme and host the client used, passed on by nginx.
  assert.equal(r.json.groups[0], `https://127.0.0.1:${nginxPort}/api/groups/users`);
  const line = t.logs.find((l) => l.path === "/api/whoami" && l.user === "alice");
  assert.equal(line?.identity, "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

test("identity headers sent by a client through nginx are replaced, not trusted", async () => {
  const r = await viaNginx()("GET", "/api/whoami", {
    headers: { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Repo Admin" },
  });
  assert.equal(r.status, 401, r.text);
});

test("the client's address in logs is what the front end saw: a client cannot choose it", async () => {
  const lineOf = (r: { headers: Record<string, unknown> }) => t.logs.find((l) => l.request_id === r.headers["x-request-id"]);
  // Through nginx, which replaces X-Forwarded-For with the address it saw.
  const spoofed = await viaNginx()("GET", "/api/whoami", { cred: t.cred("alice"), headers: { "x-forwarded-for": "203.0.113.9" } });
  assert.equal(spoofed.status, 200, spoofed.text);
  assert.equal(lineOf(spoofed)?.remote, "127.0.0.1");
  // A trusted front end that appends: its own entry, the last, is the one believed.
  const appended = await client(t.server.proxyPort!, "")("GET", "/healthz", { plain: true, headers: { "x-forwarded-for": "203.0.113.9, 198.51.100.7" } });
  assert.equal(lineOf(appended)?.remote, "198.51.100.7");
  // Sent straight to the HTTPS listener, the header is the client's say and is ignored.
  const direct = await t.call("GET", "/api/whoami", { cred: t.cred("alice"), headers: { "x-forwarded-for": "203.0.113.9" } });
  assert.equal(lineOf(direct)?.remote, "127.0.0.1");
});

test("a certificate nginx refuses (revoked) never reaches repoman-server", async () => {
  const seen = t.logs.length;
  const r = await viaNginx()("GET", "/api/whoami", { cred: t.cred("carol") });
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /SSL certificate error/);
  assert.equal(t.logs.length, seen);
});

test("on the HTTPS listener identity headers are ignored", async () => {
  const r = await t.call("GET", "/api/whoami", {
    headers: { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Repo Admin" },
  });
  assert.equal(r.status, 401);
});

test("the front-end listener ignores identity headers from addresses it does not trust", async () => {
  const other = await startTestServer(pki, { proxyListen: true, trustedProxies: ["192.0.2.10/32"] });
  try {
    const call = client(other.server.proxyPort!, "");
    const r = await call("GET", "/api/whoami", {
      plain: true,
      headers: { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Repo Admin" },
    });
    assert.equal(r.status, 401);
    assert.match(r.json.error.message, /trusted front ends/);
  } finally {
    await other.close();
  }
});

test("a trusted front end may send RFC 2253 DNs, and only its configured header style is read", async () => {
  const call = client(t.server.proxyPort!, "");
  const ok = await call("GET", "/api/whoami", {
    plain: true,
    headers: { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "CN=Alice Example,OU=test,O=Grid,C=CA" },
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.user_name, "alice");
  const failed = await call("GET", "/api/whoami", {
    plain: true,
    headers: { "x-repoman-ssl-client-verify": "FAILED:certificate revoked", "x-repoman-ssl-client-s-dn": "CN=Alice Example,OU=test,O=Grid,C=CA" },
  });
  assert.equal(failed.status, 401);
  const otherStyle = await call("GET", "/api/whoami", {
    plain: true,
    headers: { "x-ssl-client-verify": "SUCCESS", "x-ssl-client-s-dn": "CN=Alice Example,OU=test,O=Grid,C=CA" },
  });
  assert.equal(otherStyle.status, 401);
});
