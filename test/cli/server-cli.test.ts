// `repoman-server` as a user runs it: the README's first command on an empty data directory,
// --help, configuration errors, and graceful shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVER_MAIN, spawnServer } from "../support/process.js";

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
