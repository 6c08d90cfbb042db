// The `repoman` client and image versions, against a real server process (so that it can be
// restarted): comments, the version history, pinned downloads, rollback, read-only and expiry
// options, confirmations that say what will be lost, resumes that never splice two versions, and
// images shared with the caller found without -o.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { ADMIN_DN, trustedCaBundle } from "../support/server.js";
import { client } from "../support/http.js";
import { spawnServer, type ServerProcess } from "../support/process.js";
import { killedDownload, runRepoman, type RunOptions } from "../support/repoman-cli.js";
import { DNS, expectExit } from "./world.js";
import { expiresValue } from "../../src/cli/repoman/run-images.js";

let pki: string;
let dataDir: string;
let home: string;
let server: ServerProcess;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function start() {
  server = await spawnServer([
    "--data-dir", dataDir, "--listen", "127.0.0.1:0",
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ]);
}
const api = () => client(server.port, trustedCaBundle(pki));
const admin = () => ({ cert: join(pki, "users/admin/usercert.pem"), key: join(pki, "users/admin/userkey.pem") });
const env = (user: string) => ({ HOME: home, X509_CERT_DIR: join(pki, "certificates"), X509_USER_PROXY: join(pki, "proxies", `${user}-rfc.pem`) });
const run = (user: string, args: string[], opts: RunOptions = {}) => runRepoman(["-r", `127.0.0.1:${server.port}`, ...args], { cwd: home, ...opts, env: env(user) });
const file = (name: string, bytes: Buffer) => {
  const path = join(home, name);
  writeFileSync(path, bytes);
  return path;
};

// Version 2 is large enough that a client killed mid-download has not finished it.
const v1 = randomBytes(3 << 20);
const v2 = randomBytes(40 << 20);
const v3 = randomBytes(5 << 20);

before(async () => {
  pki = await fixturePki();
  dataDir = mkdtempSync(join(tmpdir(), "repoman-client-versions-"));
  home = mkdtempSync(join(tmpdir(), "repoman-client-home-"));
  await start();
  for (const u of ["alice", "bob"] as const) {
    const r = await api()("POST", "/api/users", { cred: admin(), json: { user_name: u, cert_dn: DNS[u] } });
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => {
  await server?.stop("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test("--expires takes ISO dates, times from now and never", () => {
  const now = Date.parse("2026-12-04T12:00:00Z");
  assert.equal(expiresValue("30d", now), "2027-01-03T12:00:00.000Z");
  assert.equal(expiresValue("12h", now), "2026-12-05T00:00:00.000Z");
  assert.equal(expiresValue("2w", now), "2026-12-18T12:00:00.000Z");
  assert.equal(expiresValue("90m", now), "2026-12-04T13:30:00.000Z");
  assert.equal(expiresValue("2027-06-30", now), "2027-06-30");
  assert.equal(expiresValue("never", now), "");
  assert.throws(() => expiresValue("soon", now), /'soon' is not a valid expiry/);
});

test("put-image -c keeps a comment; list-images --versions shows the history; get-image --version pins one", async () => {
  expectExit(await run("alice", ["ci", "-h", "kvm", "--keep_versions", "4", "base.img"]), 0);
  expectExit(await run("alice", ["pi", file("v1.raw", v1), "base.img"]), 0, /\[OK\]     .*v1\.raw uploaded to image 'base\.img', hypervisor kvm\n$/);
  expectExit(await run("alice", ["pi", "-f", "-c", "kernel 5.14 update", file("v2.raw", v2), "base.img"]), 0);

  const table = await run("alice", ["li", "base.img", "--versions"]);
  expectExit(table, 0);
  const lines = table.stdout.split("\n");
  assert.equal(lines[0], "Versions of image 'alice/base.img' (* current; kept per hypervisor: 4)");
  assert.match(lines[1]!, /^Hypervisor Version +Size Format Virtual Size Checksum +Uploaded +Uploader Comment$/);
  assert.match(lines[3]!, new RegExp(`^kvm +2 \\* +${v2.length} raw +${v2.length} sha256:${sha(v2).slice(0, 12)} .+ alice +kernel 5\\.14 update$`));
  assert.match(lines[4]!, new RegExp(`^kvm +1 +${v1.length} raw +${v1.length} sha256:${sha(v1).slice(0, 12)} .+ alice$`));
  const json = JSON.parse((await run("alice", ["li", "base.img", "--versions", "--json"])).stdout);
  assert.deepEqual(json.map((v: any) => [v.version, v.current, v.checksum.value, v.comment]), [
    [2, true, sha(v2), "kernel 5.14 update"],
    [1, false, sha(v1), null],
  ]);
  expectExit(await run("alice", ["li", "--versions"]), 1, undefined, /--versions needs an image name/);

  expectExit(await run("alice", ["gi", "-p", join(home, "old.img"), "--version", "1", "base.img"]), 0, /Downloading image 'base\.img', hypervisor kvm, version 1, to .*old\.img \.\.\.\n\[OK\]/);
  assert.equal(sha(readFileSync(join(home, "old.img"))), sha(v1));
  expectExit(await run("alice", ["gi", "-p", join(home, "none.img"), "--version", "7", "base.img"]), 1, undefined, /has no version 7 for hypervisor kvm\n\tVersions kept: 1, 2/);
});

test("get-image: a partial download of a version that was replaced starts again and says why; never a splice", async () => {
  const dest = join(home, "current.img");
  // A client killed while downloading version 2 leaves current.img.part and its record.
  await interruptedDownload(dest, ["base.img"]);
  expectExit(await run("alice", ["pi", "-f", file("v3.raw", v3), "base.img"]), 0);
  const r = await run("alice", ["gi", "-p", dest, "base.img"]);
  expectExit(r, 0, /Starting the download again: .*current\.img\.part holds version 2 \(sha256 [0-9a-f]{12}…\), but version 3 \(sha256 [0-9a-f]{12}…\) is being downloaded\.\n\[OK\]/);
  assert.equal(sha(readFileSync(dest)), sha(v3));
  assert.equal(existsSync(`${dest}.part`), false);
  assert.equal(existsSync(`${dest}.part.etag`), false);
});

test("get-image --version resumes across a server restart, on the version it started", async () => {
  const dest = join(home, "pinned.img");
  const partial = await interruptedDownload(dest, ["--version", "2", "base.img"]);
  await server.stop("SIGKILL");
  await start();
  // Meanwhile the image moved on: version 2 is still what the resumed download continues.
  expectExit(await run("alice", ["pi", "-f", file("v4.raw", randomBytes(1000)), "base.img"]), 0);
  const r = await run("alice", ["gi", "-p", dest, "--version", "2", "base.img"]);
  expectExit(r, 0, new RegExp(`Resumed the partial download .*pinned\\.img\\.part at byte ${partial}\\n`));
  assert.equal(sha(readFileSync(dest)), sha(v2));
});

// `get-image -p DEST ARGS` as alice, killed once it has written some bytes; returns how many.
async function interruptedDownload(dest: string, args: string[]): Promise<number> {
  const partial = await killedDownload(["-r", `127.0.0.1:${server.port}`, "gi", "-p", dest, ...args], env("alice"), dest);
  assert.ok(partial > 0 && !existsSync(dest), `partial ${partial}`);
  assert.ok(existsSync(`${dest}.part.etag`), "the partial download records its version");
  return partial;
}

test("rollback-image: back one version by default, or to --version N, as a new version", async () => {
  const before = JSON.parse((await run("alice", ["li", "base.img", "--versions", "--json"])).stdout);
  assert.deepEqual(before.map((v: any) => v.version), [4, 3, 2, 1]);
  expectExit(await run("alice", ["rollback-image", "base.img"]), 0, "[OK]     Image 'base.img', hypervisor kvm: version 3 is current again, as version 5\n");
  expectExit(await run("alice", ["rbi", "--version", "2", "-c", "back to the 5.14 kernel", "base.img"]), 0, "[OK]     Image 'base.img', hypervisor kvm: version 2 is current again, as version 6\n");
  expectExit(await run("alice", ["gi", "-f", "-p", join(home, "rolled.img"), "base.img"]), 0);
  assert.equal(sha(readFileSync(join(home, "rolled.img"))), sha(v2));
  const table = (await run("alice", ["li", "base.img", "--versions"])).stdout;
  assert.match(table, /kvm +6 \* .* alice +\(rollback to 2\) back to the 5\.14 kernel\n/);
  expectExit(await run("alice", ["rbi", "--version", "1", "base.img"]), 1, undefined, /\[FAILED\] rollback-image\n\tRequested resource could not be found\n\t.*versions kept: 3, 4, 5, 6/);
  expectExit(await run("bob", ["rbi", "-o", "alice", "base.img"]), 1, undefined, /Requested resource could not be found/);
});

test("read-only and expiry from the command line; a read-only image is refused before any question", async () => {
  expectExit(await run("alice", ["ci", "--read_only", "true", "--expires", "30d", "frozen.img"]), 0);
  const img = (await api()("GET", "/api/images/alice/frozen.img?timestamps=iso", { cred: { cert: join(pki, "users/alice/usercert.pem"), key: join(pki, "users/alice/userkey.pem") } })).json;
  assert.equal(img.read_only, true);
  const days = (Date.parse(img.expires) - Date.now()) / 86_400_000;
  assert.ok(days > 29.9 && days < 30.1, img.expires);
  expectExit(await run("alice", ["mi", "-d", "new text", "frozen.img"]), 1, undefined, /\[FAILED\] modify-image\n\tConflict in request\n\tthe image is read-only: 'description' cannot be changed; clear read_only first/);
  expectExit(await run("alice", ["pi", "-f", file("small.raw", randomBytes(10)), "frozen.img"]), 1, undefined, /read-only: its files cannot be replaced/);
  expectExit(await run("alice", ["ri", "frozen.img"], { stdin: "yes\n" }), 1, "", /\[FAILED\] remove-image\n\tImage 'alice\/frozen.img' is read-only and cannot be deleted\n\tClear it first: repoman modify-image frozen.img -o alice --read_only false/);
  expectExit(await run("alice", ["ri", "-f", "frozen.img"]), 1, undefined, /read-only: it cannot be deleted/);
  expectExit(await run("alice", ["mi", "--read_only", "false", "--expires", "never", "frozen.img"]), 0);
  const after = (await run("alice", ["li", "frozen.img", "--json"])).stdout;
  assert.deepEqual([JSON.parse(after).read_only, JSON.parse(after).expires], [false, null]);
  expectExit(await run("alice", ["mi", "--expires", "soon", "frozen.img"]), 1, undefined, /'soon' is not a valid expiry/);
  expectExit(await run("alice", ["mi", "--keep_versions", "many", "frozen.img"]), 1, undefined, /'many' is not a valid number of versions/);
});

test("modify-image -h that drops a hypervisor with a file says what goes and asks; remove-image says what it takes away", async () => {
  expectExit(await run("alice", ["ci", "-h", "kvm,qemu", "-a", "true", "dual.img"]), 0);
  expectExit(await run("alice", ["pi", "-h", "qemu", file("q1.raw", randomBytes(2048)), "dual.img"]), 0);
  expectExit(await run("alice", ["pi", "-f", "-h", "qemu", file("q2.raw", randomBytes(1024)), "dual.img"]), 0);
  expectExit(await run("alice", ["pi", "-h", "kvm", file("k.raw", randomBytes(10)), "dual.img"]), 0);
  const declined = await run("alice", ["mi", "-h", "kvm", "dual.img"], { stdin: "no\n" });
  expectExit(declined, 0, "WARNING: -h kvm leaves out qemu: this deletes from image 'alice/dual.img':\n  qemu: its file and 2 versions, 3.0 KiB\nThis cannot be undone.\nConfirm deletion [yes]/[n]o: \nAborting image modification\n");
  assert.equal(JSON.parse((await run("alice", ["li", "dual.img", "--json"])).stdout).hypervisor, "kvm,qemu");
  // Adding a hypervisor loses nothing: no question.
  expectExit(await run("alice", ["mi", "-h", "kvm,qemu,xen", "dual.img"]), 0, "[OK]     Modifying image.\n");
  expectExit(await run("alice", ["mi", "-h", "kvm", "dual.img"], { stdin: "yes\n" }), 0, /Confirm deletion \[yes\]\/\[n\]o: \n\[OK\]     Modifying image\.\n$/);
  assert.deepEqual(Object.keys(JSON.parse((await run("alice", ["li", "dual.img", "--json"])).stdout).files), ["kvm"]);

  expectExit(await run("alice", ["siu", "dual.img", "bob"]), 0);
  const removing = await run("alice", ["ri", "dual.img"], { stdin: "no\n" });
  expectExit(
    removing,
    0,
    "WARNING: Removing image dual.img deletes it and its files from the repository.  This cannot be undone.\n" +
      "  It is public: anyone may be downloading it.\n" +
      "  It is shared with users bob.\n" +
      "  Its files (1 version, 10 B) are deleted with it.\n" +
      "Confirm deletion [yes]/[n]o: \nAborting image deletion\n",
  );
});

test("an image shared with you is found without -o when it is the only one of its name; expired says so", async () => {
  expectExit(await run("alice", ["siu", "base.img", "bob"]), 0);
  expectExit(await run("bob", ["gi", "-p", join(home, "bobs.img"), "base.img"]), 0, /\[OK\]/);
  assert.equal(sha(readFileSync(join(home, "bobs.img"))), sha(v2));
  assert.match((await run("bob", ["li", "base.img"])).stdout, /owner_user_name : alice/);
  // Two images of that name: the answer names both owners.
  expectExit(await run("bob", ["ci", "other.img"]), 0);
  expectExit(await run("alice", ["ci", "other.img"]), 0);
  expectExit(await run("alice", ["siu", "other.img", "bob"]), 0);
  expectExit(await run("bob", ["ri", "-f", "other.img"]), 0);
  expectExit(await run("bob", ["ci", "-o", "bob", "third.img"]), 0);
  expectExit(await run("alice", ["ci", "third.img"]), 0);
  expectExit(await run("alice", ["siu", "third.img", "bob"]), 0);
  expectExit(await run("bob", ["li", "-o", "nobody", "third.img"]), 1, undefined, /does not exist, but you can see alice\/third\.img, bob\/third\.img/);
  // A change never goes to another owner's image by itself.
  expectExit(await run("bob", ["mi", "-d", "x", "other.img"]), 1, undefined, /'bob\/other.img' does not exist, but you can see alice\/other.img \(name the owner: -o alice/);

  expectExit(await run("alice", ["mi", "--expires", "2020-01-01", "base.img"]), 0);
  expectExit(await run("bob", ["li", "-o", "alice", "base.img"]), 1, undefined, /\[FAILED\] list-images\n\tThe image has expired\n\timage 'alice\/base.img' expired at 2020-01-01T00:00:00.000Z/);
});
