// Every fixture credential against the real server over real TLS: accepted with the exact
// identity (limited proxies read-only), or refused with the validator's reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import tls from "node:tls";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { expectedCredentials, fixturePki, type Credential } from "../support/pki.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";

let t: TestServer;
let creds: Credential[];
let pki: string;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki);
  creds = expectedCredentials(pki);
  const identities = [...new Set(creds.filter((c) => c.outcome === "accept").map((c) => c.identityOrCode))];
  let i = 0;
  for (const dn of identities) {
    if (dn === "/C=CA/O=Grid/OU=test/CN=Repo Admin") continue;
    const r = await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: `user${i++}`, cert_dn: dn } });
    assert.equal(r.status, 201, `${dn}: ${r.text}`);
  }
});
after(() => t.close());

test("each accepted credential is its exact identity; limited proxies may only read", async () => {
  const accepted = creds.filter((c) => c.outcome === "accept" && c.sendable);
  assert.ok(accepted.length >= 10, "the fixture has many valid credentials");
  for (const c of accepted) {
    const who = await t.call("GET", "/api/whoami", { cred: c });
    assert.equal(who.status, 200, `${c.name}: ${who.text}`);
    assert.equal(who.json.client_dn, c.identityOrCode, c.name);
    const write = await t.call("POST", `/api/users/${who.json.user_name}`, { cred: c, json: { full_name: c.name } });
    if (c.limited) {
      assert.equal(write.status, 403, c.name);
      assert.match(write.json.error.message, /read-only/, c.name);
    } else {
      assert.equal(write.status, 200, `${c.name}: ${write.text}`);
    }
  }
});

test("each refused credential is anonymous, told why, and can do nothing", async () => {
  const refused = creds.filter((c) => c.outcome === "reject" && c.sendable);
  assert.ok(refused.length >= 10, "the fixture has many invalid credentials");
  for (const c of refused) {
    const who = await t.call("GET", "/api/whoami", { cred: c });
    assert.equal(who.status, 401, `${c.name}: ${who.text}`);
    assert.match(who.json.error.message, new RegExp(c.identityOrCode), c.name);
    assert.equal((await t.call("GET", "/api/images", { cred: c })).status, 200, "anonymous reads of public images still work");
  }
});

test("no TLS session is resumed, so a second connection is validated afresh with its full chain", async () => {
  const c = creds.find((x) => x.name === "alice-rfc-pop")!;
  const connect = (session?: Buffer) =>
    tls.connect({ host: "127.0.0.1", port: t.port, servername: "localhost", ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(c.cert), key: readFileSync(c.key), ...(session ? { session } : {}) });
  const first = connect();
  let session: Buffer | undefined;
  first.on("session", (s) => (session = s));
  await once(first, "secureConnect");
  first.resume();
  first.write("GET /api/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  await once(first, "close");
  const second = connect(session);
  await once(second, "secureConnect");
  assert.equal(second.isSessionReused(), false);
  let body = "";
  second.on("data", (d) => (body += d));
  second.write("GET /api/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  await once(second, "close");
  assert.match(body, /^HTTP\/1.1 200/);
  assert.match(body, /"client_dn":"\/C=CA\/O=Grid\/OU=test\/CN=Alice Example"/);
});
