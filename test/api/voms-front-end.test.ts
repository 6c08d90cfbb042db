// Front-end mode and VOMS: stock nginx (the documented configuration, run for real) refuses every
// grid proxy, so no AC can arrive through it; and no header a client or the front end sends can
// give VOMS attributes: they come only from a chain repoman-server validated itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { freePort, waitForPort } from "../support/net.js";

let pki: string;
let t: TestServer;
let nginx: ChildProcess;
let dir: string;
let port: number;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"], voms: { map: ["/testvo/* vo-all"] } });
  await addUsers(t, ["alice"]);
  await t.call("POST", "/api/groups", { cred: t.cred("admin"), json: { name: "vo-all" } });
  dir = mkdtempSync(join(tmpdir(), "repoman-nginx-voms-"));
  const certs = join(pki, "certificates");
  const files = readdirSync(certs);
  writeFileSync(join(dir, "cas.pem"), files.filter((f) => /\.\d+$/.test(f)).map((f) => readFileSync(join(certs, f), "utf8")).join(""));
  writeFileSync(join(dir, "crls.pem"), files.filter((f) => /\.r\d+$/.test(f)).map((f) => readFileSync(join(certs, f), "utf8")).join(""));
  port = await freePort();
  const server = readFileSync(new URL("../../../docs/front-ends/nginx.conf", import.meta.url), "utf8")
    .replace("listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`)
    .replaceAll("/etc/grid-security/hostcert.pem", join(pki, "host/hostcert.pem"))
    .replaceAll("/etc/grid-security/hostkey.pem", join(pki, "host/hostkey.pem"))
    .replaceAll("/etc/nginx/grid-cas.pem", join(dir, "cas.pem"))
    .replaceAll("/etc/nginx/grid-crls.pem", join(dir, "crls.pem"))
    .replace("http://127.0.0.1:8080", `http://127.0.0.1:${t.server.proxyPort}`);
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  ${server}
}
`,
  );
  nginx = spawn("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
  await waitForPort(port, 10_000);
});

after(async () => {
  nginx?.kill("SIGTERM");
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
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
