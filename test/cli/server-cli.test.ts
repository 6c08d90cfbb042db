// `repoman-server` as a user runs it: the README's first command on an empty data directory and
// the client command it prints, dev-user, --help, --version, configuration errors, and graceful
// shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_HOST_SETUP, SERVER_BIN, SERVER_MAIN, spawnServer } from "../support/process.js";
import { SERVER_NODE_FLAGS } from "../../src/cli/node-flags.js";
import { CLIENT_MAIN } from "../support/repoman-cli.js";

test("with no options it makes a development PKI and serves; the printed curl command works", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  const env = { X509_CERT_DIR: "" };
  const s = await spawnServer(["--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0"], env);
  try {
    const hint = (await s.waitForStderr(/^\s+(curl .*)$/m))[1];
    const args = hint!.split(/\s+/).slice(1).map((a) => a.replace(/:0\//, `:${s.port}/`));
    const out = execFileSync("curl", ["-sS", "--fail-with-body", ...args], { encoding: "utf8" });
    const who = JSON.parse(out);
    assert.equal(who.user_name, "admin");
    assert.equal(who.client_dn, "/O=Repoman Development/CN=Repoman Admin");
    assert.ok(existsSync(join(dir, "data", "repoman.db")));
    assert.ok(existsSync(join(dir, "data", "dev-pki", "repoman.conf")));
    // The printed client command line works as it is, from any directory: the generated
    // configuration, and -p for the port the server got (it was asked for port 0).
    const command = (await s.waitForStderr(/^\s+(REPOMAN_CLIENT_CONFIG=.*)$/m))[1]!;
    assert.equal(command, `REPOMAN_CLIENT_CONFIG=${join(dir, "data", "dev-pki", "repoman.conf")} node ${CLIENT_MAIN} -p ${s.port} whoami`);
    assert.equal(execFileSync("bash", ["-c", command], { cwd: tmpdir(), env: { PATH: process.env.PATH, HOME: dir }, encoding: "utf8" }), "admin\n");
    assert.match(s.stderr(), /\n  \(more users: repoman-server dev-user NAME --data-dir .*\/data\)\n/);
    // One JSON log line per request on stdout.
    await new Promise((r) => setTimeout(r, 100));
    const line = s.stdout().split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.path === "/api/whoami");
    assert.equal(line.status, 200);
    assert.equal(line.user, "admin");
  } finally {
    assert.equal(await s.stop("SIGTERM"), 0, "graceful exit on SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a second start reuses the development PKI and database", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  try {
    for (let i = 0; i < 2; i++) {
      const s = await spawnServer(["--data-dir", dir, "--listen", "127.0.0.1:0"], { X509_CERT_DIR: "" });
      await s.stop();
      assert.equal(s.stdout().includes("created bootstrap admin"), i === 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--version prints the package's version", () => {
  const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  for (const command of [SERVER_MAIN, SERVER_BIN]) {
    const r = spawnSync(process.execPath, [command, "--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    assert.equal(r.stderr, "");
  }
});

test("the installed command runs the server with its Node.js flags; signals reach it, and it does not outlive the command", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  const children = (pid: number) => execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).trim().split("\n").map(Number);
  const argv = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  const gone = async (pid: number) => {
    for (const until = Date.now() + 10_000; existsSync(`/proc/${pid}`); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > until) throw new Error(`process ${pid} is still running`);
    }
  };
  try {
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const s = await spawnServer(["--data-dir", dir, "--listen", "127.0.0.1:0"], { X509_CERT_DIR: "" }, { launcher: true });
      const [server] = children(s.child.pid!);
      assert.deepEqual(argv(server!).slice(1, 1 + SERVER_NODE_FLAGS.length), [...SERVER_NODE_FLAGS]);
      assert.equal(argv(s.child.pid!).some((a) => SERVER_NODE_FLAGS.includes(a)), false);
      assert.equal(await s.stop(signal), signal === "SIGTERM" ? 0 : "SIGKILL");
      await gone(server!);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("dev-user: a certificate from the development CA and a registered user, while the server runs; its printed commands work", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  const data = join(dir, "data");
  const s = await spawnServer(["--data-dir", data, "--listen", "127.0.0.1:0"], { X509_CERT_DIR: "" });
  const devUser = (...args: string[]) => spawnSync(process.execPath, [SERVER_MAIN, "dev-user", ...args], { encoding: "utf8", env: { ...process.env, ...NO_HOST_SETUP, X509_CERT_DIR: "" } });
  const run = (line: string) => execFileSync("bash", ["-c", line], { cwd: tmpdir(), env: { PATH: process.env.PATH, HOME: dir }, encoding: "utf8" });
  try {
    const alice = devUser("alice", "--data-dir", data, "--listen", `127.0.0.1:${s.port}`);
    assert.equal(alice.status, 0, alice.stderr);
    const users = join(data, "dev-pki", "users");
    assert.equal(
      alice.stdout,
      [
        "Registered user 'alice' (/O=Repoman Development/CN=alice) with a certificate from the development CA.",
        `Credential (certificate and key in one file, used like a grid proxy): ${join(users, "alice", "credential.pem")}`,
        `Client configuration: ${join(users, "alice", "repoman.conf")}`,
        "Try:",
        `  REPOMAN_CLIENT_CONFIG=${join(users, "alice", "repoman.conf")} node ${CLIENT_MAIN} whoami`,
        `  curl --cacert ${join(data, "dev-pki", "ca", "ca.pem")} --cert ${join(users, "alice", "credential.pem")} https://localhost:${s.port}/api/whoami`,
        "",
      ].join("\n"),
    );
    assert.equal((statSync(join(users, "alice", "credential.pem")).mode & 0o777).toString(8), "600");
    const [client, curl] = alice.stdout.split("\n").slice(4, 6).map((l) => l.trim());
    assert.equal(run(client!), "alice\n");
    const who = JSON.parse(run(`${curl} -sS --fail-with-body`));
    assert.equal(who.user_name, "alice");
    assert.equal(who.client_dn, "/O=Repoman Development/CN=alice");
    assert.deepEqual(who.groups.map((g: string) => g.split("/").pop()), ["users"]);

    // --dn names the certificate's subject; the user is registered with exactly it.
    const bob = devUser("bob", "--dn", "/C=CA/O=Grid/OU=test/CN=Bob Example", "--data-dir", data, "--listen", `127.0.0.1:${s.port}`);
    assert.equal(bob.status, 0, bob.stderr);
    assert.equal(JSON.parse(run(`${bob.stdout.split("\n")[5]!.trim()} -sS --fail-with-body`)).client_dn, "/C=CA/O=Grid/OU=test/CN=Bob Example");

    // Refusals: a name taken, a credential issued before, a bad name or DN, and no development CA.
    const again = devUser("alice", "--data-dir", data);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^repoman-server: a credential for 'alice' was issued before, in .*users\/alice\n$/);
    const admin = devUser("admin", "--data-dir", data);
    assert.equal(admin.status, 1);
    assert.match(admin.stderr, /^repoman-server: cannot register 'admin': user 'admin' already exists\n$/);
    assert.equal(existsSync(join(users, "admin")), false, "the credential of a user who could not be registered is removed");
    const badName = devUser("no/such", "--data-dir", data);
    assert.equal(badName.status, 2);
    assert.match(badName.stderr, /'no\/such' is not a valid user name/);
    const badDn = devUser("carol", "--dn", "not a DN", "--data-dir", data);
    assert.equal(badDn.status, 2);
    assert.match(badDn.stderr, /^repoman-server: --dn: /);
    const noCa = devUser("carol", "--data-dir", join(dir, "elsewhere"));
    assert.equal(noCa.status, 1);
    assert.match(noCa.stderr, /there is no development CA in .*elsewhere\/dev-pki: start repoman-server once without --host-cert/);
    const realCerts = devUser("carol", "--data-dir", data, "--host-cert", "/etc/host.pem", "--host-key", "/etc/host.key");
    assert.equal(realCerts.status, 1);
    assert.match(realCerts.stderr, /configured with its own host certificate \(--host-cert\), not the development PKI: register users with `repoman create-user`/);
    const dnElsewhere = spawnSync(process.execPath, [SERVER_MAIN, "serve", "--dn", "/CN=x"], { encoding: "utf8" });
    assert.equal(dnElsewhere.status, 2);
    assert.match(dnElsewhere.stderr, /--dn is an option of dev-user/);
  } finally {
    assert.equal(await s.stop("SIGTERM"), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--help lists the options; bad options exit 2 with a message", () => {
  const help = spawnSync(process.execPath, [SERVER_MAIN, "--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--listen HOST:PORT/);
  assert.match(help.stdout, /--trusted-proxy CIDR/);
  const bad = spawnSync(process.execPath, [SERVER_MAIN, "--bogus", "1"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  const conf = join(dir, "bad.conf");
  writeFileSync(conf, "listen = 127.0.0.1:0\ncrl = sometimes\n");
  const badConf = spawnSync(process.execPath, [SERVER_MAIN, "--config", conf], { encoding: "utf8" });
  assert.equal(badConf.status, 2);
  assert.match(badConf.stderr, /crl: "sometimes"/);
  const onlyCert = spawnSync(process.execPath, [SERVER_MAIN, "--host-cert", "/x.pem", "--data-dir", dir], { encoding: "utf8" });
  assert.equal(onlyCert.status, 2);
  assert.match(onlyCert.stderr, /both --host-cert and --host-key/);
  rmSync(dir, { recursive: true, force: true });
});

test("--workers 2: two processes serve one repository; a worker killed with -9 is replaced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-cli-"));
  const s = await spawnServer(["--data-dir", dir, "--listen", "127.0.0.1:0", "--workers", "2"], { X509_CERT_DIR: "" });
  const children = () => execFileSync("pgrep", ["-P", String(s.child.pid)], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  const hint = (await s.waitForStderr(/^\s+(curl .*)$/m))[1]!;
  const whoami = () => {
    return JSON.parse(execFileSync("curl", ["-sS", "--fail-with-body", ...hint.split(/\s+/).slice(1)], { encoding: "utf8" }));
  };
  try {
    assert.match(s.stderr(), /2 worker processes/);
    for (let i = 0; i < 6; i++) assert.equal(whoami().user_name, "admin");
    const before = children();
    assert.equal(before.length, 2);
    process.kill(Number(before[0]), "SIGKILL");
    const until = Date.now() + 10_000;
    while (!(children().length === 2 && !children().includes(before[0]!))) {
      if (Date.now() > until) throw new Error("worker not replaced");
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 6; i++) assert.equal(whoami().user_name, "admin");
  } finally {
    assert.equal(await s.stop("SIGTERM"), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
