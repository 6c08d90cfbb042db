// The server re-reads its CA directory when it changes (fetch-crl from cron): no restart needed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { caHash } from "../x509/helpers.js";
import { startTestServer, type TestServer } from "../support/server.js";

let pki: string;
let caDir: string;
let t: TestServer;

before(async () => {
  pki = await fixturePki();
  caDir = mkdtempSync(join(tmpdir(), "repoman-cadir-"));
  cpSync(join(pki, "certificates"), caDir, { recursive: true });
  t = await startTestServer(pki, { caDir });
  await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "bob", cert_dn: "/C=CA/O=Grid/OU=test/CN=Bob Example" } });
});
after(async () => {
  await t.close();
  rmSync(caDir, { recursive: true, force: true });
});

test("a new CRL dropped into the CA directory revokes a user on their next connection", async () => {
  assert.equal((await t.call("GET", "/api/whoami", { cred: t.cred("bob") })).status, 200);
  const root = caHash(pki, "root");
  copyFileSync(join(pki, "crls/root-revokes-bob.pem"), join(caDir, "crl.tmp"));
  renameSync(join(caDir, "crl.tmp"), join(caDir, `${root}.r0`));
  const until = Date.now() + 10_000;
  let r;
  do {
    await new Promise((res) => setTimeout(res, 200));
    r = await t.call("GET", "/api/whoami", { cred: t.cred("bob") });
  } while (r.status === 200 && Date.now() < until);
  assert.equal(r.status, 401);
  assert.match(r.json.error.message, /REVOKED/);
  assert.ok(t.logs.some((l) => l.msg === "trust store reloaded"));
  assert.equal((await t.call("GET", "/api/whoami", { cred: t.cred("admin") })).status, 200);
});
