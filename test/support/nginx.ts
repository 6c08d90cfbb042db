// Real nginx for the front-end tests, running the server block of docs/front-ends/nginx.conf with
// only its addresses and file locations changed, so that the tests prove the documented
// configuration.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { freePort, waitForPort } from "./net.js";

export interface Nginx {
  port: number;
  stop(): Promise<void>;
}

/** The documented server block in front of the front-end listener at backendPort, on a free port. */
export async function startNginx(pki: string, backendPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "repoman-nginx-"));
  // nginx takes its CAs and CRLs as one file each, not a hashed directory.
  const certs = join(pki, "certificates");
  const files = readdirSync(certs);
  writeFileSync(join(dir, "cas.pem"), files.filter((f) => /\.\d+$/.test(f)).map((f) => readFileSync(join(certs, f), "utf8")).join(""));
  writeFileSync(join(dir, "crls.pem"), files.filter((f) => /\.r\d+$/.test(f)).map((f) => readFileSync(join(certs, f), "utf8")).join(""));
  const port = await freePort();
  const server = readFileSync(new URL("../../../docs/front-ends/nginx.conf", import.meta.url), "utf8")
    .replace("listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`)
    .replaceAll("/etc/grid-security/hostcert.pem", join(pki, "host/hostcert.pem"))
    .replaceAll("/etc/grid-security/hostkey.pem", join(pki, "host/hostkey.pem"))
    .replaceAll("/etc/nginx/grid-cas.pem", join(dir, "cas.pem"))
    .replaceAll("/etc/nginx/grid-crls.pem", join(dir, "crls.pem"))
    .replace("http://127.0.0.1:8080", `http://127.0.0.1:${backendPort}`);
  assert.ok(server.includes(`127.0.0.1:${backendPort}`));
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
  const child = spawn("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
  await waitForPort(port, 10_000);
  return {
    port,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
