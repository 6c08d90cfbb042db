// The repoman client end to end over real TLS: how it finds its server, credential and trusted
// CAs (configuration files, -r/-p/-P, environment), the failures when one is wrong, and the
// commands that need no server (help, version, about, make-config).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/repoman/commands.js";
import { trustedCaBundle } from "../support/server.js";
import { runRepoman } from "../support/repoman-cli.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
before(async () => {
  w = await startWorld();
});
after(() => w.close());

const conf = (dir: string, text: string) => {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, text);
  return file;
};

test("whoami with -r HOST:PORT, a proxy from $X509_USER_PROXY and no configuration file at all", async () => {
  assert.equal(existsSync(join(w.home, ".repoman", "repoman.conf")), false);
  expectExit(await w.run("alice", ["whoami"]), 0, "alice\n", "");
  const json = await w.run("alice", ["whoami", "--json"]);
  expectExit(json, 0);
  assert.equal(JSON.parse(json.stdout).client_dn, "/C=CA/O=Grid/OU=test/CN=Alice Example");
});

test("the development server's configuration format works through $REPOMAN_CLIENT_CONFIG", async () => {
  const file = conf(w.home, `[Repository]\nrepository = localhost\nport = ${w.t.port}\n\n[User]\nproxy_cert = ${join(w.pki, "proxies", "bob-rfc.pem")}\n\n[Security]\nca_file = ${trustedCaBundle(w.pki)}\n`);
  const r = await runRepoman(["whoami"], { env: { HOME: w.home, REPOMAN_CLIENT_CONFIG: file } });
  expectExit(r, 0, "bob\n");
});

test("-r, -p and -P override the configuration for every request", async () => {
  const file = conf(w.home, `[Repository]\nrepository = nowhere.invalid\nport = 1\n[User]\nproxy_cert = /nonexistent/proxy.pem\n`);
  const env = { REPOMAN_CLIENT_CONFIG: file, X509_USER_PROXY: "" };
  const r = await runRepoman(["-r", "127.0.0.1", "-p", String(w.t.port), "-P", join(w.pki, "proxies", "alice-rfc.pem"), "whoami"], { env: { ...w.env("alice"), ...env } });
  expectExit(r, 0, "alice\n");
  // The configured (wrong) port is not used once -r names host:port.
  expectExit(await runRepoman(["-r", w.repo, "-P", join(w.pki, "proxies", "bob-rfc.pem"), "whoami"], { env: { ...w.env("alice"), ...env } }), 0, "bob\n");
  // Without -r the configuration's server is used, and its failure is reported.
  expectExit(await runRepoman(["whoami"], { env: { ...w.env("alice"), ...env } }), 1, "", /\[FAILED\] whoami\n\tCertificate proxy not found: \/nonexistent\/proxy.pem/);
});

test("configuration files: the user's file overrides $REPOMAN_CLIENT_CONFIG; a missing named file is an error", async () => {
  const home = mkdtempSync(join(tmpdir(), "repoman-home-"));
  mkdirSync(join(home, ".repoman"));
  writeFileSync(join(home, ".repoman", "repoman.conf"), `[Repository]\nrepository = 127.0.0.1:${w.t.port}\n`);
  const other = conf(home, "[Repository]\nrepository = nowhere.invalid\nport = 1\n");
  expectExit(await runRepoman(["whoami"], { env: { ...w.env("alice"), HOME: home, REPOMAN_CLIENT_CONFIG: other } }), 0, "alice\n");
  expectExit(await runRepoman(["whoami"], { env: { ...w.env("alice"), HOME: home, REPOMAN_CLIENT_CONFIG: join(home, "missing.conf") } }), 1, "", /Client configuration error:\n\t\$REPOMAN_CLIENT_CONFIG names .*missing.conf, which does not exist/);
  expectExit(await runRepoman(["whoami"], { env: { ...w.env("alice"), HOME: join(home, "empty") } }), 1, "", /Client configuration error:\n\tno repository server is configured\n\tPass -r HOST/);
  const bad = conf(home, "repository = x\n");
  expectExit(await runRepoman(["whoami"], { env: { ...w.env("alice"), REPOMAN_CLIENT_CONFIG: bad } }), 1, "", /Client configuration error:\n\t.*line 1: "repository" is outside any \[Section\]/);
});

test("credentials: missing, expired, or revoked proxies fail with the file's name and what to do", async () => {
  const home = mkdtempSync(join(tmpdir(), "repoman-home-"));
  const none = await runRepoman(["-r", w.repo, "whoami"], { env: { HOME: home, X509_CERT_DIR: join(w.pki, "certificates") } });
  expectExit(none, 1, "", /\[FAILED\] whoami\n\tno credential found: neither a proxy \(\/tmp\/x509up_u\d+\) nor a certificate \(.*\.globus\/usercert.pem\)\n\tRun grid-proxy-init/);
  const missing = await w.run("alice", ["whoami"], { env: { X509_USER_PROXY: "/nonexistent/x509up" } });
  expectExit(missing, 1, "", /Certificate proxy not found: \/nonexistent\/x509up\n\tRun grid-proxy-init \(or voms-proxy-init\)/);
  const expired = await w.run("alice", ["-P", join(w.pki, "proxies", "alice-expired.pem"), "whoami"]);
  expectExit(expired, 1, "", /Your certificate proxy .*alice-expired.pem expired on .*\n\tRun grid-proxy-init/);
  // A credential the server refuses (revoked) is the server's answer: 401 with its reason.
  const revoked = await w.run("carol", ["whoami"]);
  expectExit(revoked, 1, "", /\[FAILED\] whoami\n\tThe server did not accept your credential\n\t.*revoked/i);
});

test("credentials: ~/.globus/usercert.pem and an encrypted userkey.pem, its passphrase asked for", async () => {
  const home = mkdtempSync(join(tmpdir(), "repoman-home-"));
  mkdirSync(join(home, ".globus"));
  copyFileSync(join(w.pki, "users", "bob", "usercert.pem"), join(home, ".globus", "usercert.pem"));
  execFileSync("openssl", ["pkey", "-in", join(w.pki, "users", "bob", "userkey.pem"), "-aes256", "-passout", "pass:s3cret", "-out", join(home, ".globus", "userkey.pem")]);
  const env = { HOME: home, X509_CERT_DIR: join(w.pki, "certificates") };
  const ok = await runRepoman(["-r", w.repo, "whoami"], { env, stdin: "s3cret\n" });
  expectExit(ok, 0, /Enter the passphrase for .*userkey.pem: \nbob\n/);
  expectExit(await runRepoman(["-r", w.repo, "whoami"], { env, stdin: "wrong\n" }), 1, undefined, /wrong passphrase for .*userkey.pem/);
  expectExit(await runRepoman(["-r", w.repo, "whoami"], { env }), 1, undefined, /userkey.pem is encrypted and no passphrase could be asked for/);
});

test("the server is verified: an untrusted server fails clearly; --insecure connects with a warning", async () => {
  const otherCa = mkdtempSync(join(tmpdir(), "repoman-ca-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(otherCa, "key.pem"), "-out", join(otherCa, "abcdef01.0"), "-days", "2", "-subj", "/CN=Some Other CA"], { stdio: "ignore" });
  const untrusted = await w.run("alice", ["whoami"], { env: { X509_CERT_DIR: otherCa } });
  expectExit(untrusted, 1, "", /\[FAILED\] whoami\n\tCannot verify the server's certificate \(127\.0\.0\.1:\d+\): .*\n\tTrusted CAs come from \$X509_CERT_DIR/);
  const system = await w.run("alice", ["whoami"], { env: { X509_CERT_DIR: "" } });
  expectExit(system, 1, "", /Trusted CAs come from the system's certificate authorities/);
  const insecure = await w.run("alice", ["--insecure", "whoami"], { env: { X509_CERT_DIR: otherCa } });
  expectExit(insecure, 0, "alice\n", /WARNING: --insecure: the server's certificate is not checked/);
  const refused = await runRepoman(["-r", "127.0.0.1:1", "whoami"], { env: w.env("alice") });
  expectExit(refused, 1, "", /Unable to connect to server\.  Check Host and port\n\t127\.0\.0\.1:1: .*ECONNREFUSED/);
});

test("help, --help on every subcommand, version, and command-line errors", async () => {
  const general = await runRepoman(["help"]);
  expectExit(general, 0, /^usage: repoman \[-h\] \[--help-all\] \[--version\] \[-r HOST\] \[-H HOST\] \[-p PORT\]\n\s+\[-P PORT\|PROXYFILE\]/);
  for (const c of COMMANDS) {
    assert.match(general.stdout, new RegExp(`\\n  ${c.name}${c.aliases ? ` \\(${c.aliases.join(", ")}\\)` : ""}[ \\n]`), c.name);
    const h = await runRepoman([c.aliases?.at(-1) ?? c.name, "--help"]);
    expectExit(h, 0, new RegExp(`^usage: repoman ${c.name} `));
    assert.equal((await runRepoman(["help", c.name])).stdout, h.stdout);
  }
  expectExit(await runRepoman(["help", "frobnicate"]), 1, "", /No help available for "frobnicate"\./);
  expectExit(await runRepoman(["--help"]), 0, /subcommands:/);
  expectExit(await runRepoman(["version"]), 0, `${JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version}\n`);
  expectExit(await runRepoman([]), 1, "", 'repoman: error: too few arguments\nuse "repoman help" for more information\n');
  expectExit(await runRepoman(["frobnicate"]), 2, "", /repoman: error: argument subcommand: invalid choice: 'frobnicate'/);
  expectExit(await runRepoman(["ci"]), 2, "", /^usage: repoman create-image \[-a \{true,false\}\] [^]*\n {28}image\nrepoman create-image: error: too few arguments\n$/);
  expectExit(await runRepoman(["ci", "-a", "maybe", "x"]), 2, "", /invalid choice: 'maybe' \(choose from 'true', 'false'\)/);
  expectExit(await runRepoman(["li", "--s", "--u", "x"]), 2, "", /ambiguous option: --u could match --user, --urls/);
  expectExit(await runRepoman(["li", "-s", "-U"]), 2, "", /argument -U\/--urls: not allowed with argument -s\/--short/);
  expectExit(await runRepoman(["-p", "http", "whoami"]), 2, "", /argument -p\/--port: invalid int value: 'http'/);
  expectExit(await w.run("alice", ["ci", "bad/name"]), 1, "", /^Error: Invalid argument\.\n\t'bad\/name' is not a valid image name/);
});

test("make-config writes a commented template (keeping an old file as .bak); --stdout prints it", async () => {
  const home = mkdtempSync(join(tmpdir(), "repoman-home-"));
  const printed = await runRepoman(["mc", "--stdout"], { env: { HOME: home } });
  expectExit(printed, 0, /\[Repository\]\n# Host name of the Repoman server.*\n#repository =\n/);
  assert.match(printed.stdout, /#system_excludes = \/dev\/\* \/mnt\/\* \/proc\/\* \/root\/.ssh \/sys\/\* \/tmp\/\*\n/);
  const file = join(home, ".repoman", "repoman.conf");
  expectExit(await runRepoman(["make-config"], { env: { HOME: home } }), 0, `New repoman configuration file written to ${file}\n`);
  assert.equal(readFileSync(file, "utf8"), printed.stdout);
  writeFileSync(file, "[Repository]\nrepository = mine\n");
  expectExit(await runRepoman(["make-config"], { env: { HOME: home } }), 0, /renamed to .*repoman.conf.bak\nNew repoman configuration file written/);
  assert.equal(readFileSync(`${file}.bak`, "utf8"), "[Repository]\nrepository = mine\n");
});

test("about shows the settings in use, right-aligned; the log file records commands", async () => {
  const r = await w.run("alice", ["-p", "8443", "about"]);
  expectExit(r, 0);
  const lines = r.stdout.trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => l.split(": ")[0]!.trim()),
    ["client version", "config files in use", "repository_host", "repository_port", "user_proxy_cert", "snapshot", "mountpoint", "lockfile", "system_excludes", "user_excludes", "logging"],
  );
  assert.ok(lines.every((l) => l.indexOf(": ") === lines[0]!.indexOf(": ")), r.stdout);
  assert.match(r.stdout, /repository_host: 127\.0\.0\.1\n\s+repository_port: 8443\n/);
  assert.match(r.stdout, /snapshot: \/tmp\/repoman-fscopy.img\n/);
  const logFile = join(w.home, ".repoman", "logs", "repoman-client.log");
  assert.match(r.stdout, new RegExp(`logging: Log sent to: ${logFile}`));
  await w.run("alice", ["whoami"]);
  assert.match(readFileSync(logFile, "utf8"), /INFO whoami: done\n/);
});
