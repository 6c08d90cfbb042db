// The first client's dialect, as the slides that introduced Repoman show it, next to today's:
// --help/-h, --help-all, --version, -H HOST, -P PORT or -P PROXYFILE, --proxy; list,
// describe-image (Python 2's pprint), rename, and get, save and delete. And get-image telling a
// local path problem from a server's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/repoman/commands.js";
import { commandHelp, generalHelp } from "../../src/cli/repoman/help.js";
import { pyPformat } from "../../src/cli/repoman/output.js";
import { CLIENT_MAIN, runRepoman, type Run } from "../support/repoman-cli.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
const VERSION = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const body = Buffer.from("vm019 root filesystem\n".repeat(5000));

before(async () => {
  w = await startWorld();
  const g = await w.t.call("POST", "/api/groups", { cred: w.t.cred("admin"), form: { name: "hepix", users: "alice,bob" } });
  assert.equal(g.status, 201, g.text);
});
after(() => w.close());

test("--help and -h before a subcommand are the general help, with the slides' options in the usage line", async () => {
  const help = await runRepoman(["--help"]);
  expectExit(help, 0, generalHelp(78), "");
  assert.match(help.stdout, /^usage: repoman \[-h\] \[--help-all\] \[--version\] \[-r HOST\] \[-H HOST\] \[-p PORT\]\n {15}\[-P PORT\|PROXYFILE\] \[--proxy PROXYFILE\] \[--insecure\]\n {15}<subcommand> \[args\]\n/);
  assert.match(help.stdout, /\n  -H HOST, --host HOST  The same as -r\/--repository/);
  assert.match(help.stdout, /\n  -P PORT\|PROXYFILE     Digits only: the HTTPS port/);
  for (const name of ["list", "describe-image \\(di\\)", "rename", "get-image \\(gi, get\\)", "save-image \\(si, save\\)", "remove-image \\(ri, delete\\)"]) assert.match(help.stdout, new RegExp(`\\n  ${name}[ \\n]`), name);
  expectExit(await runRepoman(["-h"]), 0, help.stdout);
  expectExit(await runRepoman(["-h", "whoami"]), 0, help.stdout);
  // $COLUMNS narrows the usage lines, as argparse's.
  const narrow = await runRepoman(["--help"], { env: { COLUMNS: "40" } });
  assert.equal(narrow.stdout, generalHelp(38));
  assert.match(narrow.stdout, /^usage: repoman \[-h\] \[--help-all\]\n {15}\[--version\] /);
});

test("--help-all is every subcommand's help after the general help; --version prints the version", async () => {
  const all = await runRepoman(["--help-all"]);
  expectExit(all, 0, [generalHelp(78), ...COMMANDS.map((c) => commandHelp(c, 78))].join("\n"), "");
  let at = 0;
  for (const c of COMMANDS) {
    const next = all.stdout.indexOf(`\nusage: repoman ${c.name} `, at);
    assert.ok(next > at, `${c.name} comes after the one before it`);
    at = next;
  }
  expectExit(await runRepoman(["--version"]), 0, `${VERSION}\n`, "");
  expectExit(await runRepoman(["version"]), 0, `${VERSION}\n`, "");
});

test("after a subcommand -h is still --hypervisor", async () => {
  expectExit(await w.run("alice", ["create-image", "-h", "kvm", "hv.img"]), 0, "[OK]     Created new image 'hv.img'\n");
  const r = await w.t.call("GET", "/api/images/alice/hv.img", { cred: w.t.cred("alice") });
  assert.equal(r.json.hypervisor, "kvm");
  expectExit(await w.run("alice", ["get", "-h", "xen", "hv.img"]), 1, "", /The given hypervisor is not supported by this image\.\n\tSupported hypervisors for this image are: kvm/);
});

test("-H HOST is -r; -P PORT (digits) is -p; -P FILE and --proxy name the proxy; conflicting ones are refused", async () => {
  const env = { ...w.env("alice"), X509_USER_PROXY: "" };
  const bob = join(w.pki, "proxies", "bob-rfc.pem");
  const alice = join(w.pki, "proxies", "alice-rfc.pem");
  expectExit(await runRepoman(["-H", w.repo, "--proxy", alice, "whoami"], { env }), 0, "alice\n");
  expectExit(await runRepoman(["-H", "127.0.0.1", "-P", String(w.t.port), "--proxy", bob, "whoami"], { env }), 0, "bob\n");
  expectExit(await runRepoman(["--host", "127.0.0.1", "-P", bob, "-p", String(w.t.port), "whoami"], { env }), 0, "bob\n");
  expectExit(await runRepoman(["-H127.0.0.1", `-P${w.t.port}`, `--proxy=${alice}`, "whoami"], { env }), 0, "alice\n");
  // The slides' -P PORT wins over the configuration's port, as -p does.
  const conf = join(w.home, "slides.conf");
  writeFileSync(conf, `[Repository]\nrepository = 127.0.0.1\nport = 1\n[User]\nproxy_cert = ${alice}\n`);
  expectExit(await runRepoman(["-P", String(w.t.port), "whoami"], { env: { ...env, REPOMAN_CLIENT_CONFIG: conf } }), 0, "alice\n");
  const usage = /^usage: repoman \[-h\] /;
  expectExit(await runRepoman(["-r", w.repo, "-H", w.repo, "whoami"], { env }), 2, "", new RegExp(`${usage.source}[^]*\\nrepoman: error: argument -H/--host: not allowed with argument -r/--repository\\n$`));
  expectExit(await runRepoman(["-p", "8443", "-P", "9443", "whoami"], { env }), 2, "", /repoman: error: argument -P: not allowed with argument -p\/--port\n$/);
  expectExit(await runRepoman(["-P", alice, "--proxy", bob, "whoami"], { env }), 2, "", /repoman: error: argument -P: not allowed with argument --proxy\n$/);
  expectExit(await runRepoman(["-P", "0", "whoami"], { env }), 2, "", /repoman: error: argument -P: not a port number: 0\n$/);
  expectExit(await runRepoman(["-P"], { env }), 2, "", /repoman: error: argument -P: expected one argument\n$/);
  expectExit(await runRepoman(["--p", "x", "whoami"], { env }), 2, "", /ambiguous option: --p could match --port, --proxy/);
});

test("list: one owner/name line per image you can see, your own and those shared with you", async () => {
  for (const [user, image] of [
    ["alice", "zeta.img"],
    ["alice", "Alpha.img"],
    ["bob", "vm019.sao.nrc.ca"],
    ["bob", "group.img"],
    ["bob", "public.img"],
    ["bob", "private.img"],
  ] as const) {
    expectExit(await w.run(user, ["ci", image]), 0);
  }
  expectExit(await w.run("bob", ["siu", "vm019.sao.nrc.ca", "alice"]), 0);
  expectExit(await w.run("bob", ["sig", "group.img", "hepix"]), 0);
  expectExit(await w.run("bob", ["mi", "-a", "true", "public.img"]), 0);
  const listed = await w.run("alice", ["list"]);
  expectExit(listed, 0, "alice/Alpha.img\nbob/group.img\nalice/hv.img\nbob/vm019.sao.nrc.ca\nalice/zeta.img\n", "");
  expectExit(await w.run("alice", ["list-images", "-a", "-s"]), 0, listed.stdout);
  expectExit(await w.run("bob", ["list"]), 0, "bob/group.img\nbob/private.img\nbob/public.img\nbob/vm019.sao.nrc.ca\n");
  expectExit(await w.run("alice", ["list", "extra"]), 2, "", /usage: repoman list \[--help\]\nrepoman list: error: unrecognized arguments: extra/);
});

test("describe-image: the image's JSON as Python 2's pprint printed it, for your images and those shared with you", async () => {
  const put = await w.t.call("PUT", "/api/images/raw/bob/xen/vm019.sao.nrc.ca", { cred: w.t.cred("bob"), body, headers: { "content-type": "application/octet-stream" } });
  assert.equal(put.status, 200, put.text);
  expectExit(await w.run("bob", ["mi", "-d", "Dave's \"golden\" image — HEPiX demo", "vm019.sao.nrc.ca"]), 0);
  const served = await w.t.call("GET", "/api/images/bob/vm019.sao.nrc.ca", { cred: w.t.cred("alice") });
  const described = await w.run("alice", ["describe-image", "vm019.sao.nrc.ca"]);
  expectExit(described, 0, `${pyPformat(served.json)}\n`, "");
  const lines = described.stdout.split("\n");
  assert.match(lines[0]!, /^\{u'checksum': \{u'type': u'sha256',$/);
  assert.equal(lines[1], `               u'value': u'${createHash("sha256").update(body).digest("hex")}'},`);
  assert.ok(lines.includes(" u'description': u'Dave\\'s \"golden\" image \\u2014 HEPiX demo',"), described.stdout);
  assert.ok(lines.includes(" u'expires': None,"), described.stdout);
  assert.ok(lines.includes(" u'read_only': False,"), described.stdout);
  assert.ok(lines.includes(" u'unauthenticated_access': False,"), described.stdout);
  assert.ok(lines.includes(` u'size': ${body.length},`), described.stdout);
  assert.ok(lines.includes(" u'name': u'vm019.sao.nrc.ca',"), described.stdout);
  // Times as the server sends them by default: ctime strings, as the original did.
  assert.ok(lines.some((l) => /^ u'uploaded': u'(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}',$/.test(l)), described.stdout);
  const keys = lines.filter((l) => /^[{ ]u'/.test(l)).map((l) => /^[{ ]u'([a-z_]+)'/.exec(l)![1]!);
  assert.deepEqual(keys, Object.keys(served.json).sort());
  assert.equal(lines.at(-2)!.at(-1), "}");
  // The 2012 client's alias and -o; the owner's own view is the same.
  const ownView = await w.t.call("GET", "/api/images/vm019.sao.nrc.ca", { cred: w.t.cred("bob") });
  expectExit(await w.run("bob", ["di", "vm019.sao.nrc.ca"]), 0, `${pyPformat(ownView.json)}\n`);
  expectExit(await w.run("alice", ["di", "-o", "bob", "vm019.sao.nrc.ca"]), 0, described.stdout);
  expectExit(await w.run("alice", ["describe-image", "private.img"]), 1, "", /\[FAILED\] describe-image\n\tRequested resource could not be found/);
});

test("rename OLD NEW, also in another user's namespace with -o; names are checked", async () => {
  expectExit(await w.run("alice", ["rename", "zeta.img", "eta.img"]), 0, "[OK]     Renamed image 'zeta.img' to 'eta.img'\n", "");
  assert.equal((await w.t.call("GET", "/api/images/alice/eta.img", { cred: w.t.cred("alice") })).status, 200);
  assert.equal((await w.t.call("GET", "/api/images/alice/zeta.img", { cred: w.t.cred("alice") })).status, 404);
  expectExit(await w.run("admin", ["rename", "-o", "bob", "private.img", "secret.img"]), 0, "[OK]     Renamed image 'private.img' to 'secret.img'\n");
  assert.equal((await w.t.call("GET", "/api/images/bob/secret.img", { cred: w.t.cred("bob") })).status, 200);
  expectExit(await w.run("alice", ["rename", "-o", "bob", "secret.img", "mine.img"]), 1, "", /\[FAILED\] rename\n/);
  expectExit(await w.run("alice", ["rename", "eta.img", "../x"]), 1, "", /^Error: Invalid argument\.\n\t'\.\.\/x' is not a valid image name/);
  expectExit(await w.run("alice", ["rename", "eta.img"]), 2, "", /usage: repoman rename \[-o USER\] \[--help\] old new\nrepoman rename: error: too few arguments/);
});

test("get, save and delete are get-image, save-image and remove-image", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-get-"));
  expectExit(await w.run("alice", ["get", "-p", join(dir, "vm019.img"), "vm019.sao.nrc.ca"]), 0, /\[OK\]     Downloaded image 'vm019.sao.nrc.ca', hypervisor xen, to .*vm019.img\n$/);
  assert.ok(readFileSync(join(dir, "vm019.img")).equals(body));
  expectExit(await runRepoman(["save", "--help"]), 0, (await runRepoman(["save-image", "--help"])).stdout);
  expectExit(await w.run("alice", ["delete", "-f", "eta.img"]), 0, "[OK]     Removed image eta.img.\n");
  assert.equal((await w.t.call("GET", "/api/images/alice/eta.img", { cred: w.t.cred("alice") })).status, 404);
});

test("get-image to a directory that does not exist, or is not one, fails as a local problem before downloading", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-local-"));
  const missing = await w.run("alice", ["get-image", "-p", "/no/such/dir/x", "vm019.sao.nrc.ca"]);
  expectExit(missing, 1, "", "[FAILED] get-image\n\tCannot save to /no/such/dir/x: the directory /no/such/dir does not exist (a problem on this computer, not on the server)\n\tNothing was downloaded. Choose another file or directory with -p PATH.\n");
  assert.equal(existsSync("/no/such/dir"), false);
  writeFileSync(join(dir, "file"), "");
  const notDir = await w.run("alice", ["gi", "-p", join(dir, "file", "x"), "vm019.sao.nrc.ca"]);
  expectExit(notDir, 1, "", new RegExp(`Cannot save to ${dir}/file/x: the directory ${dir}/file is not a directory \\(a problem on this computer, not on the server\\)`));
  assert.deepEqual(readdirSync(dir), ["file"], "no partial download was started");
});

test("get-image into a directory the user may not write to fails as a local problem", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-local-"));
  chmodSync(dir, 0o555);
  const args = ["-r", w.repo, "get-image", "-p", join(dir, "x"), "vm019.sao.nrc.ca"];
  let r: Run;
  if (process.getuid?.() !== 0) r = await w.run("alice", args.slice(2));
  else {
    // Root may write to any directory: the client runs as nobody, with its own copy of alice's proxy.
    const home = mkdtempSync(join(tmpdir(), "repoman-nobody-"));
    copyFileSync(join(w.pki, "proxies", "alice-rfc.pem"), join(home, "proxy.pem"));
    for (const f of [home, join(home, "proxy.pem")]) chownSync(f, 65534, 65534);
    const child = spawn(process.execPath, [CLIENT_MAIN, ...args], { cwd: home, uid: 65534, gid: 65534, env: { PATH: process.env.PATH, HOME: home, X509_USER_PROXY: join(home, "proxy.pem"), X509_CERT_DIR: join(w.pki, "certificates") } });
    let [stdout, stderr] = ["", ""];
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    r = { code: await new Promise<number | null>((resolve) => child.on("close", resolve)), stdout, stderr };
  }
  expectExit(r, 1, "", new RegExp(`Cannot save to ${dir}/x: the directory ${dir} is not writable \\(a problem on this computer, not on the server\\)`));
  assert.deepEqual(readdirSync(dir), []);
});

test("what docs/client.md lists under Behaviour changes is refused, with the reason", async () => {
  expectExit(await w.run("admin", ["create-user", "jdoe", "Jane Doe"]), 1, "", /^\[FAILED\] create-user\n\t.*cert_dn: /);
  expectExit(await w.run("admin", ["create-user", "-e", "jdoe@example.org, boss@example.org", "jdoe", "/C=CA/O=Grid/CN=Jane Doe"]), 1, "", /^Error: Invalid argument\.\n\t'jdoe@example\.org, boss@example\.org' is not a valid email address/);
  for (const name of [".hidden.img", "a..b.img", "x".repeat(129)]) expectExit(await w.run("alice", ["ci", "--", name]), 1, "", /^Error: Invalid argument\.\n\t'.*' is not a valid image name/);
  expectExit(await w.run("alice", ["ci", "--", "-lead.img"]), 1, "", /is not a valid image name\n\tImage names are 1-128 letters, digits, '\.', '_' or '-', starting with a letter or digit, without '\.\.'\./);
  expectExit(await w.run("alice", ["ci", "-h", "bochs", "bochs.img"]), 1, "", /^\[FAILED\] create-image\n\t.*hypervisor/);
  // -P with digits is a port now, even where a file of that name exists.
  writeFileSync(join(w.home, "12345"), readFileSync(join(w.pki, "proxies", "alice-rfc.pem")));
  expectExit(await w.run("alice", ["-P", "12345", "whoami"]), 1, "", /Unable to connect to server\.  Check Host and port\n\t127\.0\.0\.1:12345: /);
  // --proxy names such a file (the client runs in w.home, where it is), whoever's proxy is in the environment.
  expectExit(await w.run("bob", ["--proxy", "12345", "whoami"]), 0, "alice\n");
});
