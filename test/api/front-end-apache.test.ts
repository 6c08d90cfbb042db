// The documented Apache configuration, run for real in front of the front-end listener.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { freePort, waitForPort } from "../support/net.js";

let pki: string;
let t: TestServer;
let apache: ChildProcess;
let dir: string;
let port: number;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"] });
  await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "jose", cert_dn: "/DC=org/DC=example/O=Grid/OU=a+OU=b/CN=José Müller/UID=jm42/emailAddress=jose@example.org" } });
  dir = mkdtempSync(join(tmpdir(), "repoman-apache-"));
  port = await freePort();
  const modules = "/usr/lib/apache2/modules";
  // The documented virtual host, with only addresses and file locations changed.
  const vhost = readFileSync(new URL("../../../docs/front-ends/apache.conf", import.meta.url), "utf8")
    .replace("<VirtualHost *:443>", `<VirtualHost 127.0.0.1:${port}>`)
    .replaceAll("/etc/grid-security/hostcert.pem", join(pki, "host/hostcert.pem"))
    .replaceAll("/etc/grid-security/hostkey.pem", join(pki, "host/hostkey.pem"))
    .replaceAll("/etc/grid-security/certificates", join(pki, "certificates"))
    .replaceAll("http://127.0.0.1:8080/", `http://127.0.0.1:${t.server.proxyPort}/`);
  assert.ok(vhost.includes(`127.0.0.1:${t.server.proxyPort}`));
  writeFileSync(
    join(dir, "httpd.conf"),
    [
      ...["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"].map((m) => `LoadModule ${m}_module ${modules}/mod_${m}.so`),
      process.getuid?.() === 0 ? "User nobody\nGroup nogroup" : "",
      `ServerRoot ${dir}`,
      `PidFile ${dir}/httpd.pid`,
      `ErrorLog ${dir}/error.log`,
      `Mutex file:${dir}`,
      `DefaultRuntimeDir ${dir}`,
      `Listen 127.0.0.1:${port}`,
      "ServerName localhost",
      vhost,
    ].join("\n"),
  );
  apache = spawn("/usr/sbin/apache2", ["-f", join(dir, "httpd.conf"), "-DFOREGROUND"], { stdio: ["ignore", "inherit", "inherit"] });
  await waitForPort(port, 10_000, () => `: ${readFileSync(join(dir, "error.log"), "utf8")}`);
});

after(async () => {
  apache?.kill("SIGTERM");
  if (apache) await new Promise((r) => apache.once("exit", r));
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
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
