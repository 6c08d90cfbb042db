// Repoman as both benchmarks run it: the installed command as installed (its launcher adds the
// server's Node.js flags; the processes measured are the server's, not the idle launcher's), on
// the embedded defaults, the test PKI's admin, alice registered (her RFC 3820 proxy makes the
// handshakes), and the image slots the benchmark uploads into.
import { join } from "node:path";
import { ADMIN_DN } from "../test/support/server.js";
import { spawnServer, type ServerProcess } from "../test/support/process.js";
import { processTree, request, target, type Target } from "./load.js";

// The same credentials for every server under test.
export const asAdmin = (pki: string, port: number) => target(port, join(pki, "ca-bundle.pem"), join(pki, "users/admin/usercert.pem"), join(pki, "users/admin/userkey.pem"));
export const asAliceProxy = (pki: string, port: number) => target(port, join(pki, "ca-bundle.pem"), join(pki, "proxies/alice-rfc.pem"));

export interface Repoman {
  server: ServerProcess;
  admin: Target;
  proxy: Target;
  // The admin's upload and download path for one of `images`.
  path: (image: string) => string;
  pids: () => number[];
}

export async function startRepoman(dir: string, pki: string, workers: number, images: readonly string[]): Promise<Repoman> {
  const server = await spawnServer([
    "--data-dir", join(dir, `data-${workers}`), "--listen", "127.0.0.1:0", "--workers", String(workers),
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ], {}, { launcher: true });
  const admin = asAdmin(pki, server.port);
  const setUp: [string, object][] = [["/api/users", { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" }], ...images.map((name): [string, object] => ["/api/images", { name }])];
  for (const [path, body] of setUp) {
    const r = await request(admin, "POST", path, JSON.stringify(body), false);
    if (r.status !== 201) {
      await server.stop();
      throw new Error(`repoman: POST ${path} answered ${r.status}: ${r.text}`);
    }
  }
  return { server, admin, proxy: asAliceProxy(pki, server.port), path: (image) => `/api/images/raw/admin/xen/${image}`, pids: () => processTree(server.child.pid!).slice(1) };
}
