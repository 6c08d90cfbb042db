// The client's pieces on their own: argument parsing, output formats, configuration files,
// endpoints, trust order, progress lines, the partition table, rsync excludes and mounts; and the
// generated man page and completion script, which must match the committed ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS, findCommand, GLOBAL_OPTIONS, namesOf, optionsOf } from "../../src/cli/repoman/commands.js";
import { globalUsage, helpWidth, usage } from "../../src/cli/repoman/help.js";
import { globalsFrom } from "../../src/cli/repoman/session.js";
import { bashCompletion } from "../../src/cli/repoman/completion.js";
import { manPage } from "../../src/cli/repoman/manpage.js";
import { dump, pyPformat, pyRepr, table } from "../../src/cli/repoman/output.js";
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

test("the command table: the original's 27 subcommands and aliases, get-image, rollback-image, completion and the image-list commands, and the first client's list, describe-image and rename", () => {
  assert.equal(COMMANDS.length, 37);
  const aliases = COMMANDS.flatMap((c) => c.aliases ?? []);
  assert.deepEqual(
    aliases.sort(),
    ["apg", "aug", "cg", "ci", "cu", "delete", "di", "get", "gi", "lg", "li", "ll", "lu", "mc", "mg", "mi", "mu", "pi", "pl", "rbi", "rg", "ri", "rl", "rpg", "ru", "rug", "save", "si", "sig", "siu", "sl", "uig", "uiu"].sort(),
  );
  assert.equal(findCommand("get"), findCommand("get-image"));
  assert.equal(findCommand("save"), findCommand("save-image"));
  assert.equal(findCommand("delete"), findCommand("remove-image"));
  const names = COMMANDS.flatMap(namesOf);
  assert.equal(new Set(names).size, names.length, "no name or alias is used twice");
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
  // Python 2 quotes a string holding ' and no " with double quotes.
  assert.equal(pyRepr({ users: ["a'b", "a'\"b"], groups: [] }), "{u'groups': [], u'users': [u\"a'b\", u'a\\'\"b']}");
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
  // A configuration's own CA file wins over the grid CA directories of the environment and the host.
  assert.deepEqual(loadTrust(withFile, e({ X509_CERT_DIR: dir }), false, dir).ca, ["FILE"]);
  assert.deepEqual(loadTrust(withFile, e({}), false, "/nonexistent").ca, ["FILE"]);
  assert.deepEqual(loadTrust(config, e({ X509_CERT_DIR: dir }), false, "/nonexistent").ca, ["CA"]);
  assert.deepEqual(loadTrust(config, e({}), false, dir).ca, ["CA"]);
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

test("Python 2 reprs of decoded JSON: unicode escapes, quotes, numbers, code-point key order", () => {
  assert.equal(pyRepr("tab\there\nnl\r\x01\x7f\u00e9\u4e2d\u{1F600}\\"), "u'tab\\there\\nnl\\r\\x01\\x7f\\xe9\\u4e2d\\U0001f600\\\\'");
  assert.equal(pyRepr('say "hi"'), `u'say "hi"'`);
  assert.equal(pyRepr([0, -3, 10737418240, 0.5, 0.1, 1e-7, 123456789.125, -2.5e20, 0.0001]), "[0, -3, 10737418240, 0.5, 0.1, 1e-07, 123456789.125, -250000000000000000000, 0.0001]");
  assert.equal(pyRepr([1.5e300, 1e21, 2.5e-300, 1234567890123456.7]), "[1.5e+300, 1e+21, 2.5e-300, 1234567890123456.8]");
  assert.equal(pyRepr({ "\u{1F600}": 1, "\uffff": 2, Z: 3, a: 4, "\u00e9": 5 }), "{u'Z': 3, u'a': 4, u'\\xe9': 5, u'\\uffff': 2, u'\\U0001f600': 1}");
});

// What Python 2.7's pprint.pprint(json.loads(...)) printed, checked against a port of 2.7's
// PrettyPrinter._format running on CPython's unicode_escape codec.
test("describe-image's format: Python 2.7's pprint of decoded JSON, 80 columns", () => {
  assert.equal(pyPformat({}), "{}");
  assert.equal(pyPformat([]), "[]");
  assert.equal(pyPformat({ b: [1, 2], a: "x" }), "{u'a': u'x', u'b': [1, 2]}");
  const image = {
    name: "vm019.sao.nrc.ca",
    owner_user_name: "impey",
    checksum: { type: "sha256", value: "ab".repeat(32) },
    description: "Dave's \"golden\" image \u2014 HEPiX demo",
    expires: null,
    read_only: false,
    size: 10737418240,
    shared_with: { groups: [], users: ["https://localhost:8443/api/users/bob"] },
    files: { xen: { size: 1, version: 3, checksum: { type: "sha256", value: "cd".repeat(32) } } },
  };
  assert.equal(
    pyPformat(image),
    [
      "{u'checksum': {u'type': u'sha256',",
      `               u'value': u'${"ab".repeat(32)}'},`,
      " u'description': u'Dave\\'s \"golden\" image \\u2014 HEPiX demo',",
      " u'expires': None,",
      " u'files': {u'xen': {u'checksum': {u'type': u'sha256',",
      `                                   u'value': u'${"cd".repeat(32)}'},`,
      "                     u'size': 1,",
      "                     u'version': 3}},",
      " u'name': u'vm019.sao.nrc.ca',",
      " u'owner_user_name': u'impey',",
      " u'read_only': False,",
      " u'shared_with': {u'groups': [],",
      "                  u'users': [u'https://localhost:8443/api/users/bob']},",
      " u'size': 10737418240}",
    ].join("\n"),
  );
  // A list that does not fit puts one item per line; one that fits stays on its line.
  assert.equal(
    pyPformat({ k: ["x".repeat(35), "y".repeat(35)], short: [1, 2, 3] }),
    `{u'k': [u'${"x".repeat(35)}',\n        u'${"y".repeat(35)}'],\n u'short': [1, 2, 3]}`,
  );
  // The room left is counted exactly: 79 columns of repr fit, 80 do not (2.7's "width - 1").
  const fits = { a: "x".repeat(79 - "{u'a': u''}".length) };
  assert.equal(pyPformat(fits), pyRepr(fits));
  assert.equal(pyPformat({ a: "x".repeat(80 - "{u'a': u''}".length), b: 1 }).split("\n").length, 2);
});

// Python's argparse, run here: the usage lines of every subcommand and of repoman itself, at a few
// terminal widths, must be what argparse prints for the same options and arguments.
test("usage lines wrap as Python's argparse wraps them, at $COLUMNS minus 2", () => {
  const widths = [200, 80, 67, 50, 40, 24];
  const script = [
    "import argparse, json, os, sys",
    "out = []",
    "for case in json.load(sys.stdin):",
    "    p = argparse.ArgumentParser(prog=case['prog'], add_help=False)",
    "    for o in case['options']:",
    "        flags = (['-' + o['short']] if o.get('short') else []) + ([] if o.get('shortOnly') else ['--' + o['long']])",
    "        if o.get('metavar'): p.add_argument(*flags, metavar=o['metavar'], dest=o['long'])",
    "        else: p.add_argument(*flags, action='store_true', dest=o['long'])",
    "    for a in case['positionals']:",
    "        if a['arity'] == 'one': p.add_argument(a['name'])",
    "        else: p.add_argument(a['name'], nargs={'optional': '?', 'many': '+'}[a['arity']])",
    "    for w in case['widths']:",
    "        os.environ['COLUMNS'] = str(w)",
    "        out.append(p.format_usage())",
    "print(json.dumps(out))",
  ].join("\n");
  const cases = [
    { prog: "repoman", options: GLOBAL_OPTIONS.filter((o) => !o.hidden), positionals: [{ name: "<subcommand>", arity: "one" }, { name: "args", arity: "optional" }], widths },
    ...COMMANDS.map((c) => ({ prog: `repoman ${c.name}`, options: optionsOf(c), positionals: c.args, widths })),
  ];
  const argparse = JSON.parse(execFileSync("python3", ["-c", script], { input: JSON.stringify(cases), encoding: "utf8" })) as string[];
  let k = 0;
  for (const [i, c] of cases.entries()) {
    for (const columns of widths) {
      const width = helpWidth({ COLUMNS: String(columns) });
      assert.equal(`${i === 0 ? globalUsage(width) : usage(COMMANDS[i - 1]!, width)}\n`, argparse[k++], `${c.prog}, COLUMNS=${columns}`);
    }
  }
  assert.equal(k, cases.length * widths.length);
  // Both shapes of argparse's wrapping appear above: under the first option, and under PROG.
  assert.match(usage(findCommand("create-image")!, 48), /^usage: repoman create-image \[-a \{true,false\}\]\n {28}\[-d DESCRIPTION\]/);
  assert.match(usage(findCommand("remove-permissions-from-group")!, 28), /^usage: repoman remove-permissions-from-group\n {7}\[--help\]\n {7}group permissions$/);
  assert.equal(helpWidth({}), 78);
  assert.equal(helpWidth({ COLUMNS: "x" }), 78);
  assert.equal(helpWidth({ COLUMNS: "0" }), 78);
  assert.equal(helpWidth({ COLUMNS: "120" }), 118);
});

test("global options: -H is -r, -P is a port when it is digits and a proxy file otherwise", () => {
  const top = (argv: string[]) => globalsFrom(parseArgs({ options: GLOBAL_OPTIONS, args: [] }, argv, true).options);
  assert.deepEqual(top(["-H", "repo.example.org", "-P", "8443", "--proxy", "/tmp/p"]), { repository: "repo.example.org", port: 8443, proxy: "/tmp/p", insecure: false, debug: false });
  assert.deepEqual(top(["-r", "h:1", "-P", "/tmp/x509up_u0", "-p", "9"]), { repository: "h:1", port: 9, proxy: "/tmp/x509up_u0", insecure: false, debug: false });
  assert.deepEqual(top(["-P", "./8443"]), { repository: undefined, port: undefined, proxy: "./8443", insecure: false, debug: false });
  assert.throws(() => top(["-r", "a", "--host", "b"]), /argument -H\/--host: not allowed with argument -r\/--repository/);
  assert.throws(() => top(["-P", "1", "-p", "2"]), /argument -P: not allowed with argument -p\/--port/);
  assert.throws(() => top(["-P", "f", "--proxy", "g"]), /argument -P: not allowed with argument --proxy/);
  assert.throws(() => top(["-P", "70000"]), /argument -P: not a port number: 70000/);
  assert.throws(() => top(["--port_or_proxy", "1"]), /unrecognized arguments: --port_or_proxy/);
  assert.equal(parseArgs({ options: GLOBAL_OPTIONS, args: [] }, ["-h", "x"], true).options.help, true);
});

test("docs/repoman.1 and docs/repoman.bash-completion are generated from the command table and current", () => {
  const hint = "run `npm run build && node scripts/write-client-docs.mjs`";
  assert.equal(readFileSync(new URL("../../../docs/repoman.1", import.meta.url), "utf8"), manPage(), hint);
  assert.equal(readFileSync(new URL("../../../docs/repoman.bash-completion", import.meta.url), "utf8"), bashCompletion(), hint);
  for (const c of COMMANDS) {
    assert.match(manPage(), new RegExp(`\\.SS "${c.name.replace(/-/g, "\\\\-")}`), c.name);
    assert.match(bashCompletion(), new RegExp(`\\n    ${namesOf(c).join("\\|")}\\)\\n`), c.name);
  }
});
