// put-image over networks that fail: connections cut at several points, a client killed with -9
// and run again, --restart, two runs resuming one upload at once, and an upload that expired.
// The client talks to the server through a TCP proxy that cuts or slows its connections.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLIENT_MAIN, runRepoman } from "../support/repoman-cli.js";
import { startFlakyProxy, type FlakyProxy } from "../support/flaky-proxy.js";
import { sweepAbandonedUploads } from "../../src/catalog/housekeeping.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
let proxy: FlakyProxy;
const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// `repoman` as alice, through the proxy.
const viaProxy = () => ["-r", `127.0.0.1:${proxy.port}`];
const run = (args: string[]) => runRepoman([...viaProxy(), ...args], { cwd: w.home, env: w.env("alice") });
const incoming = () => {
  const dir = join(w.t.dataDir, "images", "incoming");
  return existsSync(dir) ? readdirSync(dir).map((n) => statSync(join(dir, n)).size) : [];
};
const current = async (name: string) => (await w.t.call("GET", `/api/images/alice/${name}`, { cred: w.t.cred("alice") })).json;
const newestVersion = async (name: string) => (await w.t.call("GET", `/api/images/alice/${name}/versions`, { cred: w.t.cred("alice") })).json[0].version as number;

before(async () => {
  w = await startWorld(["alice"]);
  proxy = await startFlakyProxy(w.t.port);
  expectExit(await w.run("alice", ["ci", "-h", "kvm", "disk.img"]), 0);
});
after(async () => {
  await proxy?.close();
  await w?.close();
});

function file(name: string, bytes: Buffer): string {
  const p = join(w.home, name);
  writeFileSync(p, bytes);
  return p;
}

// Starts put-image slowly and kills it with SIGKILL once the server holds at least `bytes` of it.
async function killedUpload(path: string, bytes: number): Promise<void> {
  proxy.throttle(12 * MIB);
  const child = spawn(process.execPath, [CLIENT_MAIN, ...viaProxy(), "pi", "-f", "--chunk_size", "4", path, "disk.img"], { env: { PATH: process.env.PATH, ...w.env("alice") }, stdio: "ignore" });
  const exited = new Promise((r) => child.on("exit", r));
  for (let i = 0; i < 2000 && !incoming().some((n) => n >= bytes); i++) await new Promise((r) => setTimeout(r, 10));
  child.kill("SIGKILL");
  await exited;
  proxy.throttle(0);
  assert.ok(incoming().some((n) => n >= bytes), `the server holds ${incoming().join(", ")} bytes`);
}

test("connections cut at several points: the chunks they carried are sent again, and the upload completes", async () => {
  const data = randomBytes(20 * MIB + 12345);
  proxy.cutAfter([3 * MIB, 9 * MIB, 2 * MIB + 100, 5 * MIB]);
  const r = await run(["pi", "--chunk_size", "4", "-c", "over a bad link", file("cut.raw", data), "disk.img"]);
  expectExit(r, 0, /\[OK\]     .*cut\.raw uploaded to image 'disk\.img', hypervisor kvm\n$/);
  // Each planned cut applies to one new connection; a connection that carries only a HEAD is not cut.
  assert.ok(proxy.cuts >= 2, `${proxy.cuts} connections were cut`);
  proxy.cutAfter([]);
  const img = await current("disk.img");
  assert.equal(img.files.kvm.checksum.value, sha(data));
  assert.ok((await w.t.call("GET", "/api/images/raw/alice/kvm/disk.img", { cred: w.t.cred("alice") })).body.equals(data));
  assert.deepEqual(incoming(), [], "nothing is left half-written");
});

test("kill -9 of the client mid-upload: the same command again continues where the server has bytes", async () => {
  const data = randomBytes(40 * MIB);
  const path = file("killed.raw", data);
  await killedUpload(path, 8 * MIB);
  const held = Math.max(...incoming());
  const r = await run(["pi", "-f", "--chunk_size", "4", path, "disk.img"]);
  expectExit(r, 0, /^Uploading .* \.\.\.\nResuming the upload at byte (\d+) of 41943040 \(\d+%\): the server has the rest of an earlier try\n\[OK\]/);
  const resumedAt = Number(/at byte (\d+)/.exec(r.stdout)![1]);
  assert.ok(resumedAt >= 8 * MIB && resumedAt <= held && resumedAt % (4 * MIB) === 0, `resumed at ${resumedAt}, the server held ${held}`);
  assert.equal((await current("disk.img")).files.kvm.checksum.value, sha(data));
  assert.deepEqual(incoming(), []);
});

test("--restart starts over and cancels the interrupted upload", async () => {
  const data = randomBytes(24 * MIB);
  const path = file("restarted.raw", data);
  await killedUpload(path, 4 * MIB);
  const r = await run(["pi", "-f", "--restart", "--chunk_size", "8", path, "disk.img"]);
  expectExit(r, 0);
  assert.doesNotMatch(r.stdout, /Resuming/);
  assert.equal((await current("disk.img")).files.kvm.checksum.value, sha(data));
  assert.deepEqual(incoming(), [], "the cancelled upload's bytes are gone too");
});

test("two runs resuming one upload at once: both finish, one version, the right bytes", async () => {
  const data = randomBytes(32 * MIB);
  const path = file("twice.raw", data);
  await killedUpload(path, 4 * MIB);
  const before = await newestVersion("disk.img");
  const [a, b] = await Promise.all([run(["pi", "-f", "--chunk_size", "4", path, "disk.img"]), run(["pi", "-f", "--chunk_size", "4", path, "disk.img"])]);
  expectExit(a, 0, /\[OK\]/);
  expectExit(b, 0, /\[OK\]/);
  assert.equal(await newestVersion("disk.img"), before + 1, "one upload, so one new version");
  assert.equal((await current("disk.img")).files.kvm.checksum.value, sha(data));
  assert.deepEqual(incoming(), []);
});

test("an interrupted upload that expired meanwhile starts anew", async () => {
  const data = randomBytes(16 * MIB);
  const path = file("expired.raw", data);
  await killedUpload(path, 4 * MIB);
  assert.equal(await sweepAbandonedUploads(w.t.server.storage, new Date(Date.now() + 48 * 3_600_000)), 1);
  assert.deepEqual(incoming(), []);
  const r = await run(["pi", "-f", "--chunk_size", "4", path, "disk.img"]);
  expectExit(r, 0);
  assert.doesNotMatch(r.stdout, /Resuming/);
  assert.equal((await current("disk.img")).files.kvm.checksum.value, sha(data));
});
