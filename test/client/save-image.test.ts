// save-image end to end: a small directory tree snapshotted with rsync + mke2fs -d, uploaded once
// per hypervisor, downloaded again and inspected with debugfs: files, bytes, hard links, the
// metadata file, each hypervisor's grub.conf, and the excluded paths absent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { CLIENT_MAIN, runRepoman } from "../support/repoman-cli.js";
import { startFlakyProxy } from "../support/flaky-proxy.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
let source: string;
let snapshots: string;
const data = randomBytes(1_500_000);

const debugfs = (image: string, command: string) => execFileSync("debugfs", ["-R", command, image], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
// Names in a directory of the image (`ls -p` lines are /inode/mode/uid/gid/name/size/).
const entries = (image: string, dir: string) =>
  debugfs(image, `ls -p ${dir}`)
    .split("\n")
    .filter((l) => l.startsWith("/"))
    .map((l) => l.split("/")[5]!)
    .filter((n) => n !== "." && n !== "..")
    .sort();

before(async () => {
  w = await startWorld();
  source = join(w.home, "system");
  snapshots = join(w.home, "snapshots");
  for (const d of ["etc", "tmp", "proc", "home/u", "boot/grub", "secret", "srv/cache"]) mkdirSync(join(source, d), { recursive: true });
  writeFileSync(join(source, "etc/hostname"), "imaged\n");
  writeFileSync(join(source, "home/u/data.bin"), data);
  linkSync(join(source, "home/u/data.bin"), join(source, "home/u/data-link.bin"));
  writeFileSync(join(source, "tmp/junk"), "temporary");
  writeFileSync(join(source, "proc/cpuinfo"), "not really");
  writeFileSync(join(source, "secret/key"), "private");
  writeFileSync(join(source, "srv/cache/big"), "cached");
  writeFileSync(join(source, "boot/grub/grub.conf"), "generic\n");
  writeFileSync(join(source, "boot/grub/grub.conf-xen"), "for xen\n");
  writeFileSync(join(source, "boot/grub/grub.conf-kvm"), "for kvm\n");
  mkdirSync(join(w.home, ".repoman"));
  writeFileSync(join(w.home, ".repoman", "repoman.conf"), `[ThisImage]\nsnapshot_dir = ${snapshots}\nuser_excludes = /secret /srv/cache/*\n`);
});
after(() => w.close());

// The client runs as a child process: the server lives in this one, so nothing here may block.
async function download(name: string, hv: string): Promise<string> {
  const file = join(w.home, `${name}-${hv}.img`);
  expectExit(await w.run("alice", ["gi", "-f", "-h", hv, "-p", file, name]), 0);
  return file;
}

test("save-image --source: a dual-hypervisor image with each hypervisor's grub.conf, the files and bytes in it, the excludes not", async () => {
  const r = await w.run("alice", ["si", "--source", source, "-d", "snapshot test", "--os_arch", "x86_64", "snap.img"]);
  expectExit(r, 0, /^Starting the snapshot process\.  Please be patient, this will take a while\.\n\[OK\]    Creating image metadata on server\.\nUploading snapshot for hypervisor xen\n\[OK\]     Snapshot uploaded to image 'snap.img', hypervisor xen\nUploading snapshot for hypervisor kvm\n\[OK\]     Snapshot uploaded to image 'snap.img', hypervisor kvm\n$/);
  const meta = JSON.parse((await w.run("alice", ["li", "--json", "snap.img"])).stdout);
  assert.equal(meta.hypervisor, "xen,kvm");
  assert.equal(meta.description, "snapshot test");
  assert.equal(meta.os_arch, "x86_64");

  for (const hv of ["xen", "kvm"]) {
    const image = await download("snap.img", hv);
    assert.equal(debugfs(image, "cat /boot/grub/grub.conf"), `for ${hv}\n`);
    assert.equal(debugfs(image, "cat /etc/hostname"), "imaged\n");
    const stat = debugfs(image, "stat /home/u/data.bin");
    assert.match(stat, /\bSize: 1500000\b/);
    assert.match(stat, /\bLinks: 2\b/, "the hard link stays a hard link");
    assert.match(debugfs(image, "cat /.image.metadata"), /^name: snap\.img\nhypervisor: xen,kvm\ndescription: snapshot test\nos_arch: x86_64\n$/);
    // Excluded: /secret entirely; the contents of /tmp, /proc and /srv/cache, keeping the directories.
    assert.deepEqual(entries(image, "/"), [".image.metadata", "boot", "etc", "home", "lost+found", "proc", "srv", "tmp"]);
    for (const dir of ["/tmp", "/proc", "/srv/cache"]) assert.deepEqual(entries(image, dir), [], dir);
  }
  const dumped = execFileSync("debugfs", ["-R", "cat /home/u/data.bin", join(w.home, "snap.img-kvm.img")], { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 16 << 20 });
  assert.ok(dumped.equals(data), "the bytes of data.bin");
  assert.equal(existsSync(join(snapshots, "repoman-fscopy.img")), false, "the image file is removed after the upload");
  assert.ok(existsSync(join(snapshots, "repoman-fscopy", "etc", "hostname")), "the staging copy is kept for the next run");
});

test("save-image on an existing image: the overwrite prompt (no answer fails), -f, --gzip, -h, --resize", async () => {
  const refused = await w.run("alice", ["si", "--source", source, "snap.img"]);
  expectExit(refused, 1, /Image 'alice\/snap.img' already exists\.\nDo you want to overwrite\? \[yes\]\/\[n\]o: \n$/, /no answer to the confirmation question, so nothing was saved/);
  expectExit(await w.run("alice", ["si", "--source", source, "snap.img"], { stdin: "no\n" }), 0, /Aborting snapshot\n$/);

  writeFileSync(join(source, "etc/hostname"), "changed\n");
  const gz = await w.run("alice", ["si", "--source", source, "-h", "kvm", "--gzip", "--resize", "40", "--clean", "packed"]);
  expectExit(gz, 0, /WARNING: --gzip .*\nNew image name: 'packed.gz'\n[\s\S]*Uploading snapshot for hypervisor kvm\n\[OK\]     Snapshot uploaded to image 'packed.gz', hypervisor kvm\n$/);
  const file = await download("packed.gz", "kvm");
  const raw = gunzipSync(readFileSync(file));
  assert.equal(raw.length, 40 * 1024 * 1024);
  writeFileSync(file, raw);
  assert.equal(debugfs(file, "cat /etc/hostname"), "changed\n");

  expectExit(await w.run("alice", ["si", "--source", source, "--resize", "1", "tiny.img"]), 1, undefined, /--resize 1 is too small: the copy needs \d+ MB/);
  expectExit(await w.run("alice", ["si", "--source", join(w.home, "nowhere"), "x.img"]), 1, "", /Source directory not found: /);

  // -o saves into the owner's namespace (the original created the image in the caller's), and
  // saving again updates it in place (the original asked to transfer it to its owner: 409).
  expectExit(await w.run("admin", ["si", "--source", source, "-h", "xen", "-o", "alice", "for-alice.img"]), 0, /Creating image metadata/);
  expectExit(await w.run("admin", ["si", "-f", "--source", source, "-h", "xen", "-o", "alice", "for-alice.img"]), 0, /Updating image metadata/);
  assert.equal(JSON.parse((await w.run("alice", ["li", "--json", "for-alice.img"])).stdout).version, 2);

  const before = JSON.parse((await w.run("alice", ["li", "--json", "snap.img"])).stdout).version;
  expectExit(await w.run("alice", ["si", "-f", "--source", source, "snap.img"]), 0, /\[OK\]    Updating image metadata on server\.\n/);
  assert.equal(JSON.parse((await w.run("alice", ["li", "--json", "snap.img"])).stdout).version, before + 2);
  assert.equal(debugfs(await download("snap.img", "xen"), "cat /etc/hostname"), "changed\n");
});

test("save-image --source works for an unprivileged user, and refuses to snapshot / without root", { skip: process.getuid?.() !== 0 && "needs root to switch to nobody" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "repoman-unprivileged-"));
  const home = join(dir, "home");
  mkdirSync(join(home, ".repoman"), { recursive: true });
  writeFileSync(join(home, ".repoman", "repoman.conf"), `[ThisImage]\nsnapshot_dir = ${join(dir, "snapshots")}\n`);
  writeFileSync(join(dir, "proxy.pem"), readFileSync(join(w.pki, "proxies", "alice-rfc.pem")), { mode: 0o600 });
  cpSync(source, join(dir, "system"), { recursive: true });
  execFileSync("chown", ["-R", "nobody", dir]);
  chmodSync(dir, 0o755);
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const env = { PATH: process.env.PATH, HOME: home, X509_USER_PROXY: join(dir, "proxy.pem"), X509_CERT_DIR: join(w.pki, "certificates") };
      const child = spawn("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, CLIENT_MAIN, "-r", w.repo, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (c) => (out += c));
      child.stderr.on("data", (c) => (out += c));
      child.on("close", (code) => resolve({ code, out }));
    });
  const ok = await run(["si", "--source", join(dir, "system"), "-h", "kvm", "unprivileged.img"]);
  assert.equal(ok.code, 0, ok.out);
  assert.equal(debugfs(await download("unprivileged.img", "kvm"), "cat /etc/hostname"), "changed\n");
  const root = await run(["si", "everything.img"]);
  assert.equal(root.code, 1, root.out);
  assert.match(root.out, /\[FAILED\] save-image\n\tError\.  This command requires root privileges, try again with sudo\./);
  rmSync(dir, { recursive: true, force: true });
});

test("save-image killed mid-upload: the same command again continues the upload of the same snapshot", async () => {
  const proxy = await startFlakyProxy(w.t.port);
  try {
    const args = ["-r", `127.0.0.1:${proxy.port}`, "si", "--source", source, "-h", "xen,kvm", "--resize", "80", "resumed.img"];
    const incoming = () => {
      const dir = join(w.t.dataDir, "images", "incoming");
      return existsSync(dir) ? Math.max(0, ...readdirSync(dir).map((n) => statSync(join(dir, n)).size)) : 0;
    };
    proxy.throttle(16 * 1024 * 1024);
    const child = spawn(process.execPath, [CLIENT_MAIN, ...args], { env: { PATH: process.env.PATH, ...w.env("alice") }, stdio: "ignore" });
    const exited = new Promise((r) => child.on("exit", r));
    for (let i = 0; i < 3000 && incoming() < 32 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGKILL");
    await exited;
    proxy.throttle(0);
    assert.ok(incoming() >= 32 * 1024 * 1024, "the server holds the first chunk of the xen upload");
    assert.ok(existsSync(join(snapshots, "repoman-fscopy.img.pending.json")), "the snapshot and what is left to do are kept");

    const r = await runRepoman(args, { cwd: w.home, env: w.env("alice") });
    expectExit(
      r,
      0,
      /^Continuing the interrupted upload of the snapshot taken at \S+ \(--clean takes a new one\)\.\nUploading snapshot for hypervisor xen\nResuming the upload at byte 33554432 of 83886080 \(40%\): the server has the rest of an earlier try\n\[OK\]     Snapshot uploaded to image 'resumed.img', hypervisor xen\nUploading snapshot for hypervisor kvm\n\[OK\]     Snapshot uploaded to image 'resumed.img', hypervisor kvm\n$/,
    );
    assert.equal(debugfs(await download("resumed.img", "xen"), "cat /boot/grub/grub.conf"), "for xen\n");
    assert.equal(debugfs(await download("resumed.img", "kvm"), "cat /boot/grub/grub.conf"), "for kvm\n");
    assert.deepEqual(readdirSync(snapshots).filter((n) => n.startsWith("repoman-fscopy.img")), [], "the snapshot goes once its uploads are done");
  } finally {
    await proxy.close();
  }
});
