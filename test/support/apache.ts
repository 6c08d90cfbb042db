// Real Apache httpd for the front-end tests, running a virtual host from docs/front-ends/ with only
// its addresses and file locations changed, so that the tests prove the documented configuration.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { freePort, waitForPort } from "./net.js";

export interface Apache {
  port: number;
  errorLog(): string;
  stop(): Promise<void>;
}

const MODULES = "/usr/lib/apache2/modules";

/** docs/front-ends/<file> in front of the front-end listener at backendPort, on a free port. */
export async function startApache(file: string, pki: string, backendPort: number): Promise<Apache> {
  const dir = mkdtempSync(join(tmpdir(), "repoman-apache-"));
  const port = await freePort();
  const vhost = readFileSync(new URL(`../../../docs/front-ends/${file}`, import.meta.url), "utf8")
    .replace("<VirtualHost *:443>", `<VirtualHost 127.0.0.1:${port}>`)
    .replaceAll("/etc/grid-security/hostcert.pem", join(pki, "host/hostcert.pem"))
    .replaceAll("/etc/grid-security/hostkey.pem", join(pki, "host/hostkey.pem"))
    .replaceAll("/etc/grid-security/certificates", join(pki, "certificates"))
    .replaceAll("http://127.0.0.1:8080/", `http://127.0.0.1:${backendPort}/`);
  assert.ok(vhost.includes(`127.0.0.1:${backendPort}`));
  writeFileSync(
    join(dir, "httpd.conf"),
    [
      ...["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"].map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
      process.getuid?.() === 0 ? "User nobody\nGroup nogroup" : "",
      `ServerRoot ${dir}`,
      `PidFile ${dir}/httpd.pid`,
      `ErrorLog ${dir}/error.log`,
      // mod_ssl's verdicts (AH02276 "Certificate Verification: Error ...") are logged at info.
      "LogLevel warn ssl:info",
      `Mutex file:${dir}`,
      `DefaultRuntimeDir ${dir}`,
      `Listen 127.0.0.1:${port}`,
      "ServerName localhost",
      vhost,
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/apache2", ["-f", join(dir, "httpd.conf"), "-DFOREGROUND"], { stdio: ["ignore", "inherit", "inherit"] });
  const errorLog = () => {
    try {
      return readFileSync(join(dir, "error.log"), "utf8");
    } catch {
      return "";
    }
  };
  await waitForPort(port, 10_000, () => `: ${errorLog()}`);
  return {
    port,
    errorLog,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
