// A Repoman server over real TLS with users alice and bob, and a way to run the `repoman`
// client against it as one of them: proxies from the fixture PKI, a temporary HOME, the
// fixture's CA directory as $X509_CERT_DIR.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { runRepoman, type Run, type RunOptions } from "../support/repoman-cli.js";
import { startTestServer, type TestServer } from "../support/server.js";

export const DNS = {
  alice: "/C=CA/O=Grid/OU=test/CN=Alice Example",
  bob: "/C=CA/O=Grid/OU=test/CN=Bob Example",
};

export interface World {
  t: TestServer;
  pki: string;
  home: string;
  repo: string; // 127.0.0.1:PORT
  env(user: string, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  // `repoman -r 127.0.0.1:PORT ARGS` as USER (a proxy)
  run(user: string, args: string[], opts?: RunOptions): Promise<Run>;
  close(): Promise<void>;
}

export async function startWorld(users: (keyof typeof DNS)[] = ["alice", "bob"], serverOptions: Parameters<typeof startTestServer>[1] = {}): Promise<World> {
  const pki = await fixturePki();
  const t = await startTestServer(pki, serverOptions);
  for (const u of users) {
    const r = await t.call("POST", "/api/users", { cred: t.cred("admin"), form: { user_name: u, cert_dn: DNS[u], email: `${u}@example.org` } });
    assert.equal(r.status, 201, r.text);
  }
  const home = mkdtempSync(join(tmpdir(), "repoman-client-home-"));
  const repo = `127.0.0.1:${t.port}`;
  const env = (user: string, extra: NodeJS.ProcessEnv = {}) => ({ HOME: home, X509_CERT_DIR: join(pki, "certificates"), X509_USER_PROXY: join(pki, "proxies", `${user}-rfc.pem`), ...extra });
  return {
    t,
    pki,
    home,
    repo,
    env,
    run: (user, args, opts = {}) => runRepoman(["-r", repo, ...args], { cwd: home, ...opts, env: { ...env(user), ...opts.env } }),
    async close() {
      await t.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// Asserts an exit code, showing the whole run when it differs.
export function expectExit(r: Run, code: number, stdout?: RegExp | string, stderr?: RegExp | string): void {
  assert.equal(r.code, code, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  if (typeof stdout === "string") assert.equal(r.stdout, stdout);
  else if (stdout) assert.match(r.stdout, stdout);
  if (typeof stderr === "string") assert.equal(r.stderr, stderr);
  else if (stderr) assert.match(r.stderr, stderr);
}
