// `repoman-server` on a grid host: a directory laid out like /etc/grid-security (the fixture PKI's
// host certificate and hashed CA files), named by REPOMAN_GRID_SECURITY_DIR so that the machine's
// own /etc never matters. The host certificate found there is used, and said so; without one, the
// README's quick start still works as printed, even for a user whose X509_CERT_DIR names the grid CAs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_HOST_SETUP, SERVER_MAIN, spawnServer } from "../support/process.js";
import { fixturePki } from "../support/pki.js";
import { ADMIN_DN, trustedCaBundle } from "../support/server.js";

let pki: string;
let dir: string;

before(async () => {
  pki = await fixturePki();
  dir = mkdtempSync(join(tmpdir(), "repoman-grid-host-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// /etc/grid-security as a grid host has it: certificates/ always, the host credential if asked.
function gridSecurity(name: string, withHostCert: boolean): string {
  const root = join(dir, name);
  mkdirSync(root);
  cpSync(join(pki, "certificates"), join(root, "certificates"), { recursive: true, verbatimSymlinks: true });
  if (withHostCert) {
    copyFileSync(join(pki, "host/hostcert.pem"), join(root, "hostcert.pem"));
    copyFileSync(join(pki, "host/hostkey.pem"), join(root, "hostkey.pem"));
  }
  return root;
}

const whoami = (port: number, args: string[]) => JSON.parse(execFileSync("curl", ["-sS", "--fail-with-body", ...args, `https://localhost:${port}/api/whoami`], { encoding: "utf8" }));

test("a grid host's hostcert.pem and hostkey.pem are used, and said so; no development PKI is made", async () => {
  const grid = gridSecurity("with-host-cert", true);
  const data = join(dir, "data-grid");
  const s = await spawnServer(["--data-dir", data, "--listen", "127.0.0.1:0", "--admin", `admin,admin@example.org,${ADMIN_DN}`], { REPOMAN_GRID_SECURITY_DIR: grid, X509_CERT_DIR: "" });
  try {
    assert.match(s.stderr(), new RegExp(`^Host certificate ${grid}/hostcert.pem and key ${grid}/hostkey.pem, found on this grid host`, "m"));
    assert.match(s.stderr(), new RegExp(`trusted CAs from ${grid}/certificates\\)`));
    assert.equal(existsSync(join(data, "dev-pki")), false);
    const admin = ["--cacert", trustedCaBundle(pki), "--cert", join(pki, "users/admin/usercert.pem"), "--key", join(pki, "users/admin/userkey.pem")];
    assert.equal(whoami(s.port, admin).user_name, "admin");
  } finally {
    assert.equal(await s.stop(), 0);
  }
  // dev-user refuses such a server: its users come from the grid's CAs.
  const devUser = spawnSync(process.execPath, [SERVER_MAIN, "dev-user", "carol", "--data-dir", data], { encoding: "utf8", env: { ...process.env, ...NO_HOST_SETUP, REPOMAN_GRID_SECURITY_DIR: grid } });
  assert.equal(devUser.status, 1);
  assert.match(devUser.stderr, new RegExp(`configured with its own host certificate \\(${grid}/hostcert.pem\\)`));
});

test("half a host credential is refused rather than replaced by a development one", () => {
  const grid = gridSecurity("cert-only", false);
  copyFileSync(join(pki, "host/hostcert.pem"), join(grid, "hostcert.pem"));
  const r = spawnSync(process.execPath, [SERVER_MAIN, "--data-dir", join(dir, "data-half"), "--listen", "127.0.0.1:0"], { encoding: "utf8", env: { ...process.env, ...NO_HOST_SETUP, REPOMAN_GRID_SECURITY_DIR: grid } });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `repoman-server: ${grid}/hostcert.pem exists but ${grid}/hostkey.pem does not: install both, or pass --host-cert and --host-key\n`);
  assert.equal(existsSync(join(dir, "data-half", "dev-pki")), false);
});

test("a host key the server's user cannot read is refused, with the way to give it one", (t) => {
  // As root every file is readable: the server runs as nobody here, as a service's own user would.
  if (process.getuid?.() !== 0 || spawnSync("setpriv", ["--version"]).status !== 0) return t.skip("needs root and setpriv");
  const grid = gridSecurity("root-only-key", true);
  chmodSync(join(grid, "hostkey.pem"), 0o600);
  for (const d of [dir, grid]) chmodSync(d, 0o755);
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, SERVER_MAIN, "--data-dir", join(dir, "data-nobody")], {
    encoding: "utf8",
    env: { ...process.env, ...NO_HOST_SETUP, REPOMAN_GRID_SECURITY_DIR: grid },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^repoman-server: ${grid}/hostkey.pem is not readable by this user \\(uid 65534\\): .*LoadCredential=hostkey.pem:${grid}/hostkey.pem and --host-key %d/hostkey.pem`));
  assert.equal(existsSync(join(dir, "data-nobody")), false);
});

test("the quick start on a grid host without a host certificate: the printed commands work, also with X509_CERT_DIR set to the grid's CAs", async () => {
  const grid = gridSecurity("no-host-cert", false);
  const data = join(dir, "data-quick");
  const conf = join(dir, "quick.conf");
  writeFileSync(conf, `data-dir = ${data}\nlisten = 127.0.0.1:0\n`);
  // A grid user's shell: X509_CERT_DIR names the grid CAs, for the server and for the client.
  const gridUser = { REPOMAN_GRID_SECURITY_DIR: grid, X509_CERT_DIR: join(grid, "certificates") };
  const s = await spawnServer([], { ...gridUser, REPOMAN_CONFIG: conf });
  try {
    assert.match(s.stderr(), new RegExp(`^Configuration read from ${conf}$`, "m"));
    assert.match(s.stderr(), new RegExp(`trusted CAs from ${data}/dev-pki/certificates\\)`));
    assert.doesNotMatch(s.stderr(), /not trusted/);
    const curl = (await s.waitForStderr(/^\s+(curl .*)$/m))[1]!;
    assert.equal(whoami(s.port, curl.split(/\s+/).slice(1, -1)).user_name, "admin");
    const command = (await s.waitForStderr(/^\s+(REPOMAN_CLIENT_CONFIG=.*)$/m))[1]!;
    const out = execFileSync("bash", ["-c", command], { cwd: tmpdir(), env: { PATH: process.env.PATH, HOME: dir, ...gridUser }, encoding: "utf8" });
    assert.equal(out, "admin\n");
  } finally {
    assert.equal(await s.stop(), 0);
  }
});
