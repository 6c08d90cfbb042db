// The client's pieces on their own: argument parsing, output formats, configuration files,
// endpoints, trust order, progress lines, the partition table, rsync excludes and mounts; and the
// generated man page and completion script, which must match the committed ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS, findCommand, optionsOf } from "../../src/cli/repoman/commands.js";
import { bashCompletion } from "../../src/cli/repoman/completion.js";
import { manPage } from "../../src/cli/repoman/manpage.js";
import { dump, pyRepr, table } from "../../src/cli/repoman/output.js";
import { parseArgs, UsageError } from "../../src/cli/repoman/parse-args.js";
import { mbr } from "../../src/cli/repoman/save-image/filesystem.js";
import { excludesFor } from "../../src/cli/repoman/save-image/staging.js";
import { diskMountsBelow, mountOf, mounts } from "../../src/cli/repoman/save-image/system.js";
import { Tools } from "../../src/cli/repoman/save-image/tools.js";
import { LogFile } from "../../src/cli/repoman/log-file.js";
import { configTemplate, loadClientConfig, parseIni, type Environment } from "../../src/client/config.js";
import { parseEndpoint } from "../../src/client/connection.js";
import { progressLine } from "../../src/client/progress.js";
import { loadTrust } from "../../src/client/trust.js";

const grammar = (name: string) => {
  const c = findCommand(name)!;
  return { options: optionsOf(c), args: c.args, exclusive: c.exclusive };
};

test("the command table: the original's 27 subcommands and aliases, plus get-image, rollback-image and completion", () => {
  assert.equal(COMMANDS.length, 30);
  const aliases = COMMANDS.filter((c) => c.alias).map((c) => c.alias);
  assert.deepEqual(aliases.sort(), ["apg", "aug", "cg", "ci", "cu", "gi", "lg", "li", "lu", "mc", "mg", "mi", "mu", "pi", "rbi", "rg", "ri", "rpg", "ru", "rug", "si", "sig", "siu", "uig", "uiu"].sort());
  for (const c of COMMANDS) {
    const longs = optionsOf(c).map((o) => o.long);
    const shorts = optionsOf(c).flatMap((o) => (o.short ? [o.short] : []));
    assert.equal(new Set(longs).size, longs.length, c.name);
    assert.equal(new Set(shorts).size, shorts.length, c.name);
  }
});

test("argument parsing as argparse did it", () => {
  const ci = grammar("create-image");
  assert.deepEqual(parseArgs(ci, ["--desc", "a b", "-hxen,kvm", "--os_arch=x86_64", "--", "-img"]), {
    options: { description: "a b", hypervisor: "xen,kvm", os_arch: "x86_64" },
    args: { image: "-img" },
    rest: [],
  });
  assert.throws(() => parseArgs(ci, ["--os", "x", "i"]), (e: Error) => e instanceof UsageError && /ambiguous option: --os could match --os_arch, --os_type, --os_variant/.test(e.message));
  assert.throws(() => parseArgs(ci, ["-d"]), /argument -d\/--description: expected one argument/);
  assert.throws(() => parseArgs(ci, ["-d", "-a", "true", "x"]), /expected one argument/);
  assert.throws(() => parseArgs(ci, ["a", "b"]), /unrecognized arguments: b/);
  assert.throws(() => parseArgs(ci, ["--nope", "a"]), /unrecognized arguments: --nope/);
  const aug = grammar("aug");
  assert.deepEqual(parseArgs(aug, ["g", "u1", "u2", "u3"]).args, { group: "g", users: ["u1", "u2", "u3"] });
  assert.throws(() => parseArgs(aug, ["g"]), /too few arguments/);
  const ri = grammar("ri");
  assert.deepEqual(parseArgs(ri, ["-fo", "bob", "x"]).options, { force: true, owner: "bob" });
  assert.deepEqual(parseArgs(grammar("li"), ["-sa"]).options, { short: true, all: true });
  assert.throws(() => parseArgs(grammar("li"), ["-a", "img"]), /argument image: not allowed with argument -a\/--all/);
  assert.deepEqual(parseArgs(grammar("si"), ["--resize", "100", "x"]).options, { resize: 100 });
  assert.throws(() => parseArgs(grammar("si"), ["--resize", "big", "x"]), /invalid int value: 'big'/);
  assert.equal(parseArgs(grammar("ci"), ["--help", "--bogus"]).options.help, true);
  assert.deepEqual(parseArgs({ options: [{ short: "r", long: "repository", metavar: "H", help: "" }], args: [] }, ["-r", "h", "whoami", "-r"], true).rest, ["whoami", "-r"]);
});

test("output: Python-style values, sorted right-aligned dumps, tables", () => {
  assert.equal(pyRepr({ value: null, type: "sha256" }), "{u'type': u'sha256', u'value': None}");
  assert.equal(pyRepr({ users: ["a'b"], groups: [] }), "{u'groups': [], u'users': [u'a\\'b']}");
  assert.equal(dump({ b: true, aa: ["x", "y"], c: null, ignored: 1 }, ["c", "aa", "b"]), "aa : x, y\n b : True\n c : None\n\n");
  assert.equal(table(["Name", "Size"], [["a", "1"], ["long name", "1234"]], [1]), "Name      Size\n--------------\na            1\nlong name 1234\n");
});

test("configuration files: INI syntax, the template is all comments, later files win", () => {
  const ini = parseIni("[Repository]\nrepository: a.example.org\n; comment\n# comment\n[ThisImage]\nuser_excludes = /a\n  /b\n", "t");
  assert.equal(ini.get("Repository")!.get("repository"), "a.example.org");
  assert.equal(ini.get("ThisImage")!.get("user_excludes"), "/a\n/b");
  const e: Environment = { env: {}, uid: 1234, home: "/home/u" };
  const template = configTemplate(e);
  assert.ok([...parseIni(template, "template").values()].every((section) => section.size === 0));
  assert.match(template, /#proxy_cert = \/tmp\/x509up_u1234\n/);
  const dir = mkdtempSync(join(tmpdir(), "repoman-conf-"));
  writeFileSync(join(dir, "a.conf"), "[Repository]\nrepository = a\nport = 8443\n[Security]\nrestricted_path = /evil\n");
  writeFileSync(join(dir, "b.conf"), "[repository]\nREPOSITORY = b\n");
  const c = loadClientConfig(e, [join(dir, "a.conf"), join(dir, "b.conf"), join(dir, "missing.conf")]);
  assert.deepEqual(c.files, [join(dir, "a.conf"), join(dir, "b.conf")]);
  assert.equal(c.repository, "b");
  assert.equal(c.port, 8443);
  assert.equal(c.get("Security", "restricted_path"), "/bin:/usr/bin:/usr/local/bin:/sbin:/usr/sbin:/usr/local/sbin", "only the system file may set it");
  assert.equal(c.proxyCert, "/tmp/x509up_u1234");
  assert.equal(loadClientConfig({ ...e, env: { X509_USER_PROXY: "/p" } }, []).proxyCert, "/p");
});

test("endpoints and the order of trusted CAs", () => {
  assert.deepEqual(parseEndpoint("repo.example.org", 443), { host: "repo.example.org", port: 443 });
  assert.deepEqual(parseEndpoint("https://repo.example.org:8443/", 443), { host: "repo.example.org", port: 8443 });
  assert.deepEqual(parseEndpoint("[::1]:9", 443), { host: "::1", port: 9 });
  assert.throws(() => parseEndpoint("a b", 443), /not a host name/);
  const dir = mkdtempSync(join(tmpdir(), "repoman-trust-"));
  writeFileSync(join(dir, "0123abcd.0"), "CA");
  writeFileSync(join(dir, "ca.pem"), "FILE");
  const e = (env: NodeJS.ProcessEnv): Environment => ({ env, uid: 1, home: dir });
  const config = loadClientConfig(e({}), []);
  const withFile = { ...config, get: (s: string, k: string) => (k === "ca_file" ? join(dir, "ca.pem") : config.get(s, k)) };
  assert.deepEqual(loadTrust(withFile, e({ X509_CERT_DIR: dir }), false, "/nonexistent").ca, ["CA"]);
  assert.deepEqual(loadTrust(withFile, e({}), false, dir).ca, ["CA"]);
  assert.deepEqual(loadTrust(withFile, e({}), false, "/nonexistent").ca, ["FILE"]);
  assert.equal(loadTrust(config, e({}), false, "/nonexistent").ca, undefined);
  assert.equal(loadTrust(config, e({ X509_CERT_DIR: dir }), true).ca, undefined);
  assert.throws(() => loadTrust(config, e({ X509_CERT_DIR: join(dir, "none") }), false), /cannot read the trusted CA directory/);
});

test("the log file: levels below the configured one are skipped; a new day rotates it, ten old ones kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-logs-"));
  for (let d = 1; d <= 12; d++) writeFileSync(join(dir, `repoman-client.log.2020-01-${String(d).padStart(2, "0")}`), "old");
  writeFileSync(join(dir, "repoman-client.log"), "yesterday\n");
  const yesterday = new Date(Date.now() - 36 * 3600_000);
  utimesSync(join(dir, "repoman-client.log"), yesterday, yesterday);
  const log = new LogFile(dir, "info");
  log.write("DEBUG", "hidden");
  log.write("ERROR", "shown");
  assert.match(readFileSync(log.file, "utf8"), /^\S+ ERROR shown\n$/);
  const rotated = readdirSync(dir).filter((n) => n.startsWith("repoman-client.log."));
  assert.equal(rotated.length, 10);
  assert.ok(rotated.some((n) => readFileSync(join(dir, n), "utf8") === "yesterday\n"));
});

test("progress lines: bytes, rate and time left", () => {
  assert.equal(progressLine("x.img", 512 << 20, 1 << 30, 4, 10), "x.img [#####     ]  50% 512.0 MiB/1.0 GiB 128.0 MiB/s ETA 00:04");
  assert.equal(progressLine("x.gz", 3 << 20, undefined, 2), "x.gz 3.0 MiB 1.5 MiB/s");
});

test("save-image pieces: the partition table, excludes of its own files, mounts below the source, missing tools", () => {
  const b = mbr(65 << 20);
  assert.equal(b.length, 512);
  assert.equal(b[446], 0x80);
  assert.equal(b[450], 0x83);
  assert.equal(b.readUInt32LE(454), 2048);
  assert.equal(b.readUInt32LE(458), (64 << 20) / 512);
  assert.equal(b.readUInt16LE(510), 0xaa55);

  assert.deepEqual(excludesFor("/", ["/tmp/*"], ["/var/snap/img", "/tmp/x"]), ["/tmp/*", "/var/snap/img", "/tmp/x"]);
  assert.deepEqual(excludesFor("/srv/root", [], ["/srv/root/work/img", "/tmp/img"]), ["/work/img"]);

  const info = [
    "22 1 8:1 / / rw - ext4 /dev/sda1 rw",
    "23 22 8:2 / /boot rw - ext4 /dev/sda2 rw",
    "24 22 0:5 / /proc rw - proc proc rw",
    "25 22 8:3 / /home/my\\040files rw - xfs /dev/sda3 rw",
    "26 22 0:40 / /mnt/nfs rw - nfs4 server:/x rw",
  ].join("\n");
  assert.deepEqual(diskMountsBelow("/", mounts(info)), ["/boot", "/home/my files"]);
  assert.equal(mountOf("/home/my files/x", mounts(info))?.fstype, "xfs");
  assert.equal(mountOf("/etc", mounts(info))?.fstype, "ext4");

  assert.throws(() => new Tools("/nonexistent", false).require("mke2fs", "to build the filesystem"), /save-image needs mke2fs to build the filesystem, and it is not in \/nonexistent/);
});

test("docs/repoman.1 and docs/repoman.bash-completion are generated from the command table and current", () => {
  const hint = "run `npm run build && node scripts/write-client-docs.mjs`";
  assert.equal(readFileSync(new URL("../../../docs/repoman.1", import.meta.url), "utf8"), manPage(), hint);
  assert.equal(readFileSync(new URL("../../../docs/repoman.bash-completion", import.meta.url), "utf8"), bashCompletion(), hint);
  for (const c of COMMANDS) {
    assert.match(manPage(), new RegExp(`\\.SS "${c.name.replace(/-/g, "\\\\-")}`), c.name);
    assert.match(bashCompletion(), new RegExp(`\\n    ${c.name}${c.alias ? `\\|${c.alias}` : ""}\\)\\n`), c.name);
  }
});
