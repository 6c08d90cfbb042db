// The package as docs/deploy/README.md installs it: `npm pack`, then `npm install -g` of the
// tarball into a temporary prefix, under npm's install-script policy. Slow (better-sqlite3's addon
// compiles from source), so it is not a *.test.ts that `npm test` runs: `npm run test:install`.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NO_HOST_SETUP } from "../support/process.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), "repoman-install-"));
const prefix = join(dir, "prefix");
after(() => rmSync(dir, { recursive: true, force: true }));

let tarball: string;

test("npm pack: built JavaScript, the manual page and docs; no sources, source maps, tests or benchmarks", () => {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, packed!.filename);
  const files = packed!.files.map((f) => f.path);
  for (const f of ["dist/src/cli/repoman-server.js", "dist/src/cli/server-main.js", "dist/src/cli/client-main.js", "docs/repoman.1", "docs/deploy/repoman-server.service", "web/index.html", "package.json"]) assert.ok(files.includes(f), `${f} is packed`);
  assert.deepEqual(files.filter((f) => f.endsWith(".map") || f.endsWith(".ts") || /^(test|bench|src|dist\/test|dist\/bench)\//.test(f)), []);
  for (const bin of ["dist/src/cli/repoman-server.js", "dist/src/cli/client-main.js"]) assert.equal(readFileSync(join(root, bin), "utf8").split("\n", 1)[0], "#!/usr/bin/env node");
});

test("npm install -g --strict-allow-scripts refuses better-sqlite3's unapproved install script", () => {
  mkdirSync(join(dir, "strict", "lib"), { recursive: true }); // npm 11 looks there before it applies the policy
  const r = spawnSync("npm", ["install", "-g", "--prefix", join(dir, "strict"), "--strict-allow-scripts", "--prefer-offline", "--no-audit", "--no-fund", tarball], { encoding: "utf8", timeout: 600_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /ESTRICTALLOWSCRIPTS[^]*better-sqlite3@/);
  assert.equal(existsSync(join(dir, "strict", "bin", "repoman-server")), false);
});

test("npm install -g --allow-scripts=better-sqlite3: both commands run from the installed bin, the server serves, the manual page is installed", async () => {
  execFileSync("npm", ["install", "-g", "--prefix", prefix, "--allow-scripts=better-sqlite3", "--prefer-offline", "--no-audit", "--no-fund", tarball], { stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
  const bin = (name: string) => join(prefix, "bin", name);
  // Run as a shell would: through the #! line, with node found on the PATH.
  for (const name of ["repoman-server", "repoman"]) assert.equal(execFileSync(bin(name), ["--version"], { encoding: "utf8" }), `${version}\n`);
  assert.ok(existsSync(join(prefix, "share", "man", "man1", "repoman.1")));

  // The native addon works: a development server starts on SQLite, and its printed curl command answers.
  const server = spawn(bin("repoman-server"), ["--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0"], { env: { ...process.env, ...NO_HOST_SETUP, X509_CERT_DIR: "" }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  server.stderr!.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => server.on("exit", (code) => r(code)));
  try {
    for (const until = Date.now() + 30_000; !/^\s+curl .*$/m.test(stderr); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > until || server.exitCode !== null) throw new Error(`the installed server did not start:\n${stderr}`);
    }
    const port = /serving https:\/\/localhost:(\d+)/.exec(stderr)![1]!;
    const curl = /^\s+(curl .*)$/m.exec(stderr)![1]!.split(/\s+/).slice(1).map((a) => a.replace(/:0\//, `:${port}/`));
    assert.equal(JSON.parse(execFileSync("curl", ["-sS", "--fail-with-body", ...curl], { encoding: "utf8" })).user_name, "admin");
  } finally {
    server.kill("SIGTERM");
    assert.equal(await exited, 0);
  }
});

test("the systemd unit verifies against the installed command", (t) => {
  if (spawnSync("systemd-analyze", ["--version"]).status !== 0) return t.skip("systemd-analyze is not installed");
  const unit = join(dir, "repoman-server.service");
  writeFileSync(unit, readFileSync(join(root, "docs/deploy/repoman-server.service"), "utf8").replace("/usr/local/bin/repoman-server", join(prefix, "bin", "repoman-server")));
  const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8", env: { ...process.env, MANPATH: `${join(prefix, "share", "man")}:` } });
  assert.equal(r.stdout + r.stderr, "");
  assert.equal(r.status, 0);
});
