// The reference: nginx from Debian on 127.0.0.1, HTTPS with client-certificate verification,
// serving files (GET) and accepting them (PUT through its dav module) from one directory.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processTree } from "./load.js";
import { waitForPort } from "../test/support/net.js";

export interface Nginx {
  port: number;
  root: string;
  pid: () => number[];
  stop(): Promise<void>;
}

export async function startNginx(dir: string, pki: string, port: number, workers: number): Promise<Nginx> {
  const root = join(dir, "files");
  mkdirSync(join(root, "images"), { recursive: true });
  mkdirSync(join(dir, "tmp"), { recursive: true });
  const certs = join(pki, "certificates");
  const pems = (re: RegExp) => readdirSync(certs).filter((f) => re.test(f)).map((f) => readFileSync(join(certs, f), "utf8")).join("");
  writeFileSync(join(dir, "cas.pem"), pems(/^[0-9a-f]{8}\.\d+$/));
  writeFileSync(join(dir, "crls.pem"), pems(/^[0-9a-f]{8}\.r\d+$/));
  writeFileSync(
    join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root; " : ""}daemon off; worker_processes ${workers}; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  types { application/octet-stream img; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(pki, "host/hostcert.pem")};
    ssl_certificate_key ${join(pki, "host/hostkey.pem")};
    ssl_client_certificate ${dir}/cas.pem;
    ssl_crl ${dir}/crls.pem;
    ssl_verify_client on;
    ssl_verify_depth 10;
    ssl_session_tickets off;
    ssl_session_cache off;
    keepalive_requests 100000;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    output_buffers 2 1m;
    location / {
      root ${root};
      dav_methods PUT;
      create_full_put_path on;
    }
  }
}
`,
  );
  const child = spawn("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
  await waitForPort(port, 10_000);
  return {
    port,
    root,
    pid: () => processTree(child.pid!),
    async stop() {
      child.kill("SIGQUIT");
      await new Promise((r) => child.once("exit", r));
    },
  };
}
