import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, envConfig, exampleConfigFile, helpText, loadConfig, mergeConfig, parseAdminLine, parseConfigFile, parseFlags, OPTIONS } from "../../src/config.js";

test("flags override the environment, which overrides the file; defaults fill the rest", () => {
  const file = parseConfigFile("# comment\nlisten = 0.0.0.0:9000\ndata-dir = /srv/file\ncrl = if-valid\n", "f");
  const env = envConfig({ REPOMAN_DATA_DIR: "/srv/env", REPOMAN_CRL: "ignore" });
  const { flags } = parseFlags(["--crl=require"]);
  const c = mergeConfig(file, env, flags);
  assert.deepEqual(c.get("listen"), ["0.0.0.0:9000"]);
  assert.deepEqual(c.get("data-dir"), ["/srv/env"]);
  assert.deepEqual(c.get("crl"), ["require"]);
  assert.deepEqual(c.get("clock-skew"), ["60"]);
});

test("repeatable options: repeated lines and flags; admin lines split on the first two commas only", () => {
  const file = parseConfigFile("admin = a,a@x.org,/C=CA/O=Grid/CN=A, with comma\nadmin = b,,CN=B,O=Grid\n", "f");
  assert.equal(file.get("admin")?.length, 2);
  assert.deepEqual(parseAdminLine(file.get("admin")![0]!, "f"), { userName: "a", email: "a@x.org", dn: "/C=CA/O=Grid/CN=A, with comma" });
  assert.deepEqual(parseAdminLine("b,,CN=B,O=Grid", "f"), { userName: "b", email: "", dn: "CN=B,O=Grid" });
  assert.throws(() => parseAdminLine("only,two", "f"), ConfigError);
  const env = envConfig({ REPOMAN_TRUSTED_PROXY: "127.0.0.1/32, 10.0.0.0/8", REPOMAN_ADMIN: "a,a@x,/CN=a\nb,b@x,/CN=b" });
  assert.deepEqual(env.get("trusted-proxy"), ["127.0.0.1/32", "10.0.0.0/8"]);
  assert.equal(env.get("admin")?.length, 2);
  const { flags } = parseFlags(["--trusted-proxy", "1.2.3.4", "--trusted-proxy=::1"]);
  assert.deepEqual(flags.get("trusted-proxy"), ["1.2.3.4", "::1"]);
});

test("bad configuration is refused with a message naming the problem", () => {
  assert.throws(() => parseFlags(["--no-such-thing", "1"]), /unknown option --no-such-thing/);
  assert.throws(() => parseFlags(["--listen"]), /needs a value/);
  assert.throws(() => parseConfigFile("bogus = 1\n", "x.conf"), /x.conf:1: unknown option "bogus"/);
  assert.throws(() => parseConfigFile("just words\n", "x.conf"), /x.conf:1: expected/);
  assert.throws(() => mergeConfig(parseFlags(["--crl", "sometimes"]).flags), /crl: "sometimes" is not one of/);
  assert.throws(() => loadConfig(["--config", "/nonexistent/file.conf"], {}), /cannot read config file/);
});

test("the default configuration file is read when it exists and no other is named", () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-config-"));
  const system = join(dir, "repoman-server.conf");
  const other = join(dir, "other.conf");
  writeFileSync(system, "listen = 0.0.0.0:443\n");
  writeFileSync(other, "listen = 127.0.0.1:9\n");
  try {
    const fromDefault = loadConfig([], {}, system);
    assert.equal(fromDefault.configFile, system);
    assert.deepEqual(fromDefault.config.get("listen"), ["0.0.0.0:443"]);
    assert.equal(loadConfig(["--config", other], {}, system).configFile, other);
    assert.equal(loadConfig([], { REPOMAN_CONFIG: other }, system).configFile, other);
    const none = loadConfig([], {}, join(dir, "missing.conf"));
    assert.equal(none.configFile, undefined);
    assert.deepEqual(none.config.get("listen"), ["127.0.0.1:8443"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--help lists every option with its default, and the example config file is current", () => {
  const help = helpText();
  for (const o of OPTIONS) {
    assert.ok(help.includes(`--${o.key}`), o.key);
    if (o.default) assert.ok(help.includes(`(default: ${o.default})`), o.key);
  }
  const committed = readFileSync(new URL("../../../docs/repoman-server.conf.example", import.meta.url), "utf8");
  assert.equal(committed, exampleConfigFile(), "run `npm run build && node scripts/write-config-example.mjs`");
});
