// The image subcommands end to end: metadata, listings in every form, sharing, deletion with its
// prompt, and files: put-image (checksummed, overwrite prompt) and get-image (Range resume,
// checksum verification).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLIENT_MAIN, killedDownload } from "../support/repoman-cli.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
before(async () => {
  w = await startWorld();
  const r = await w.t.call("POST", "/api/groups", { cred: w.t.cred("admin"), form: { name: "atlas", users: "alice,bob" } });
  assert.equal(r.status, 201, r.text);
});
after(() => w.close());

test("create-image, modify-image, and the full dump with the original's 21 keys", async () => {
  expectExit(await w.run("alice", ["ci", "-d", "Scientific Linux 6", "--os_arch", "x86_64", "--os_t", "linux", "--os_v", "sl6", "sl6.img"]), 0, "[OK]     Created new image 'sl6.img'\n", "");
  expectExit(await w.run("alice", ["create-image", "-h", "xen,kvm", "-a", "true", "dual.img"]), 0, "[OK]     Created new image 'dual.img'\n");
  expectExit(await w.run("alice", ["ci", "sl6.img"]), 1, "", /\[FAILED\] create-image\n\tConflict in request\n\t/);
  expectExit(await w.run("alice", ["ci", "-o", "bob", "theirs.img"]), 1, "", /You lack the rights/);
  expectExit(await w.run("admin", ["ci", "-o", "bob", "bobs.img"]), 0, "[OK]     Created new image 'bobs.img'\n");

  const dump = await w.run("alice", ["li", "sl6.img"]);
  expectExit(dump, 0);
  const lines = dump.stdout.trimEnd().split("\n");
  const keys = lines.map((l) => l.split(" : ")[0]!.trim());
  assert.deepEqual(keys, ["checksum", "description", "expires", "file_url", "http_file_url", "hypervisor", "modified", "name", "os_arch", "os_type", "os_variant", "owner", "owner_user_name", "raw_file_uploaded", "read_only", "shared_with", "size", "unauthenticated_access", "uploaded", "uuid", "version"]);
  assert.ok(lines.every((l) => l.indexOf(" : ") === "unauthenticated_access".length), dump.stdout);
  assert.match(dump.stdout, /^ +checksum : \{u'type': None, u'value': None\}\n/);
  assert.match(dump.stdout, /\n +owner : alice\n/);
  assert.match(dump.stdout, /\n +hypervisor : xen\n/);
  assert.match(dump.stdout, /\n +modified : (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/);
  assert.match(dump.stdout, /\n +shared_with : \{u'groups': \[\], u'users': \[\]\}\n/);
  assert.match(dump.stdout, /\n +read_only : False\n/);
  assert.match(dump.stdout, /\n +size : None\n/);

  expectExit(await w.run("alice", ["mi", "-d", "SL 6.4", "-n", "sl64.img", "--os_arch", "i686", "sl6.img"]), 0, "[OK]     Modifying image.\n");
  const json = JSON.parse((await w.run("alice", ["li", "--json", "sl64.img"])).stdout);
  assert.equal(json.description, "SL 6.4");
  assert.equal(json.os_arch, "i686");
  expectExit(await w.run("bob", ["mi", "-o", "alice", "-d", "mine now", "sl64.img"]), 1, "", /\[FAILED\] modify-image\n\tRequested resource could not be found/);
  expectExit(await w.run("admin", ["mi", "-o", "bob", "-N", "alice", "bobs.img"]), 0, "[OK]     Modifying image.\n");
});

test("sharing, and list-images: table, -s, -U, -a, -g, -u, -o and --json", async () => {
  expectExit(await w.run("alice", ["sig", "dual.img", "atlas"]), 0, "[OK]     Shared image: 'dual.img' with group: 'atlas'\n");
  expectExit(await w.run("alice", ["siu", "sl64.img", "bob"]), 0, "[OK]     Shared image: 'sl64.img' with user: 'bob'\n");
  expectExit(await w.run("alice", ["siu", "sl64.img", "nobody"]), 1, "", /\[FAILED\] share-image-with-users\n/);
  expectExit(await w.run("bob", ["ci", "b.img"]), 0);
  expectExit(await w.run("bob", ["siu", "b.img", "alice"]), 0);

  const table = await w.run("alice", ["li"]);
  expectExit(table, 0);
  const [header, dashes, ...rows] = table.stdout.trimEnd().split("\n");
  assert.match(header!, /^Image Name Owner Hypervisor Size Last Modified +Description$/);
  assert.equal(dashes, "-".repeat(dashes!.length));
  assert.deepEqual(rows.map((r) => r.split(" ")[0]), ["bobs.img", "dual.img", "sl64.img"]);
  assert.match(rows[1]!, /^dual\.img +alice xen,kvm +None (Mon|Tue|Wed|Thu|Fri|Sat|Sun) /);

  expectExit(await w.run("alice", ["li", "-s"]), 0, "alice/bobs.img\nalice/dual.img\nalice/sl64.img\n");
  expectExit(await w.run("alice", ["li", "-s", "-a"]), 0, "bob/b.img\nalice/bobs.img\nalice/dual.img\nalice/sl64.img\n");
  expectExit(await w.run("bob", ["li", "-s", "-g", "atlas"]), 0, "alice/dual.img\n");
  expectExit(await w.run("bob", ["li", "-s", "-g", "admins"]), 1, "", /You are not a member of group 'admins'/);
  // images shared through a group count too
  expectExit(await w.run("bob", ["li", "-s", "-u", "alice"]), 0, "bob/b.img\nalice/dual.img\nalice/sl64.img\n");
  expectExit(await w.run("bob", ["li", "-s", "-o", "alice"]), 0, "alice/dual.img\nalice/sl64.img\n");
  const urls = await w.run("alice", ["li", "-U", "-o", "alice"]);
  const base = `https://${w.repo}/api/images/raw/alice`;
  assert.match(urls.stdout, new RegExp(`^alice/bobs.img\\n  ${base}/xen/bobs.img\\n\\nalice/dual.img\\n  \\S+/api/images/raw/alice/xen/dual.img\\n  \\S+/kvm/dual.img\\n  ${base}/xen/dual.img\\n  ${base}/kvm/dual.img\\n\\n`));
  const json = JSON.parse((await w.run("alice", ["li", "--json", "-a"])).stdout);
  assert.deepEqual(json.map((i: { name: string }) => i.name), ["b.img", "bobs.img", "dual.img", "sl64.img"]);

  expectExit(await w.run("alice", ["uig", "dual.img", "atlas"]), 0, "[OK]     Unshared image: 'dual.img' with group: 'atlas'\n");
  expectExit(await w.run("alice", ["uiu", "sl64.img", "bob"]), 0, "[OK]     Unshared image: 'sl64.img' with user: 'bob'\n");
  expectExit(await w.run("bob", ["li", "-s", "-g", "atlas"]), 0, "");
});

test("remove-image: warning and prompt, declined and confirmed; another user's image is refused", async () => {
  expectExit(await w.run("alice", ["ci", "tmp.img"]), 0);
  expectExit(await w.run("alice", ["ri", "tmp.img"], { stdin: "nope\n" }), 0, /^WARNING: .*cannot be undone\.\nConfirm deletion \[yes\]\/\[n\]o: \nAborting image deletion\n$/);
  expectExit(await w.run("bob", ["ri", "-f", "-o", "alice", "tmp.img"]), 1, "", /\[FAILED\] remove-image\n\tRequested resource could not be found/);
  expectExit(await w.run("alice", ["siu", "tmp.img", "bob"]), 0);
  expectExit(await w.run("bob", ["ri", "-f", "-o", "alice", "tmp.img"]), 1, "", /\[FAILED\] remove-image\n\tYou lack the rights to access that object\n/);
  expectExit(await w.run("alice", ["ri", "tmp.img"], { stdin: "yes\n" }), 0, /\[OK\]     Removed image tmp\.img\.\n$/);
  expectExit(await w.run("alice", ["li", "tmp.img"]), 1, "", /\[FAILED\] list-images\n\tRequested resource could not be found\n\timage 'alice\/tmp.img' does not exist/);
});

test("put-image: uploads checked against the server's SHA-256; hypervisor choice; the overwrite prompt", async () => {
  const file = join(w.home, "disk.raw");
  const bytes = randomBytes(3 << 20);
  writeFileSync(file, bytes);
  expectExit(await w.run("alice", ["pi", file, "sl64.img"]), 0, `Uploading ${file} to image 'sl64.img', hypervisor xen ...\n[OK]     ${file} uploaded to image 'sl64.img', hypervisor xen\n`, "");
  const meta = JSON.parse((await w.run("alice", ["li", "--json", "sl64.img"])).stdout);
  assert.equal(meta.files.xen.checksum.value, sha(bytes));
  assert.equal(meta.size, bytes.length);

  expectExit(await w.run("alice", ["pi", file, "dual.img"]), 1, "", /\[FAILED\] put-image\n\tThis dual\.img image is a multi-hypervisor image\.  You must specify an hypervisor with -h\.\n\tSupported hypervisors for this image are: xen, kvm\n/);
  expectExit(await w.run("alice", ["pi", "-h", "vmware", file, "dual.img"]), 1, "", /The given hypervisor is not supported by this image\./);
  expectExit(await w.run("alice", ["pi", join(w.home, "nope.raw"), "sl64.img"]), 1, "", /Specified source not found: .*nope\.raw/);
  expectExit(await w.run("alice", ["pi", w.home, "sl64.img"]), 1, "", /Specified source is a directory: /);
  expectExit(await w.run("bob", ["pi", "-o", "alice", file, "sl64.img"]), 1, "", /\[FAILED\] put-image\n\tRequested resource could not be found/);

  const prompt = "Image 'sl64.img' already contains an image file for hypervisor xen.  Overwrite? [yes]/[n]o: \n";
  expectExit(await w.run("alice", ["pi", file, "sl64.img"], { stdin: "no\n" }), 0, `${prompt}Aborting upload\n`);
  expectExit(await w.run("alice", ["pi", file, "sl64.img"]), 1, prompt, /it was not overwritten\n\tAnswer the question on a terminal, or pass -f\/--force/);
  assert.equal(JSON.parse((await w.run("alice", ["li", "--json", "sl64.img"])).stdout).version, 1);
  expectExit(await w.run("alice", ["pi", file, "sl64.img"], { stdin: "yes\n" }), 0, /\[OK\]/);
  expectExit(await w.run("alice", ["pi", "-f", file, "sl64.img"]), 0, /^Uploading/);
  assert.equal(JSON.parse((await w.run("alice", ["li", "--json", "sl64.img"])).stdout).version, 3);

  // Refused before a byte is sent: a read-only image (set through the API, the CLI has no option).
  const ro = await w.t.call("POST", "/api/images/alice/dual.img", { cred: w.t.cred("admin"), form: { read_only: "true" } });
  assert.equal(ro.status, 200, ro.text);
  expectExit(await w.run("alice", ["pi", "-h", "kvm", file, "dual.img"]), 1, /^Uploading /, /\[FAILED\] put-image\n\tConflict in request\n\t.*read.only/i);
});

test("get-image: download, -p, -o for an image shared with you, an existing file, and a missing one", async () => {
  const bytes = readFileSync(join(w.home, "disk.raw"));
  const dir = join(w.home, "get");
  mkdirSync(dir);
  expectExit(await w.run("alice", ["gi", "sl64.img"], { cwd: dir }), 0, `Downloading image 'sl64.img', hypervisor xen, to sl64.img ...\n[OK]     Downloaded image 'sl64.img', hypervisor xen, to sl64.img\n`, "");
  assert.ok(readFileSync(join(dir, "sl64.img")).equals(bytes));
  expectExit(await w.run("alice", ["gi", "sl64.img"], { cwd: dir }), 1, "", /sl64\.img already exists\n\tPass -f\/--force/);
  expectExit(await w.run("alice", ["gi", "-f", "sl64.img"], { cwd: dir }), 0);
  expectExit(await w.run("bob", ["gi", "-o", "alice", "-p", join(dir, "b.img"), "sl64.img"]), 1, "", /Requested resource could not be found/);
  expectExit(await w.run("alice", ["siu", "sl64.img", "bob"]), 0);
  expectExit(await w.run("bob", ["gi", "-o", "alice", "-p", join(dir, "b.img"), "sl64.img"]), 0, /\[OK\]/);
  assert.ok(readFileSync(join(dir, "b.img")).equals(bytes));
  expectExit(await w.run("alice", ["gi", "-h", "kvm", "-p", join(dir, "k"), "dual.img"]), 1, "", /Image 'dual.img' has no file for hypervisor kvm yet/);
  expectExit(await w.run("alice", ["gi", "nothing.img"]), 1, "", /\[FAILED\] get-image\n\tRequested resource could not be found/);
});

test("get-image resumes a partial download with Range, and deletes a download whose checksum is wrong", async () => {
  const bytes = readFileSync(join(w.home, "disk.raw"));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const dest = join(w.home, "resumed.img");
  // What an interrupted get-image leaves: the bytes so far, and which version they are of.
  writeFileSync(`${dest}.part`, bytes.subarray(0, 1_000_000));
  writeFileSync(`${dest}.part.etag`, JSON.stringify({ sha256, version: 1 }));
  const before = w.t.logs.length;
  const r = await w.run("alice", ["gi", "-p", dest, "sl64.img"]);
  expectExit(r, 0, /Resumed the partial download .*resumed\.img\.part at byte 1000000\n\[OK\]/);
  assert.ok(readFileSync(dest).equals(bytes));
  assert.equal(existsSync(`${dest}.part`), false);
  assert.equal(existsSync(`${dest}.part.etag`), false);
  assert.ok(w.t.logs.slice(before).some((l) => l.method === "GET" && l.status === 206), JSON.stringify(w.t.logs.slice(before)));

  // A partial file that nothing says the version of is not trusted: the download starts again.
  const unknown = join(w.home, "unknown.img");
  writeFileSync(`${unknown}.part`, Buffer.alloc(1_000_000, 7));
  expectExit(await w.run("alice", ["gi", "-p", unknown, "sl64.img"]), 0, /Starting the download again: nothing records which version .*unknown\.img\.part holds\.\n\[OK\]/);
  assert.ok(readFileSync(unknown).equals(bytes));

  const bad = join(w.home, "bad.img");
  writeFileSync(`${bad}.part`, Buffer.alloc(1_000_000, 7));
  writeFileSync(`${bad}.part.etag`, JSON.stringify({ sha256, version: 1 }));
  const mismatch = await w.run("alice", ["gi", "-p", bad, "sl64.img"]);
  expectExit(mismatch, 1, undefined, /\[FAILED\] get-image\n\tchecksum mismatch: the server said sha256 [0-9a-f]{64}, the download has [0-9a-f]{64}\n\tThe downloaded file was deleted; try again\./);
  assert.equal(existsSync(bad), false);
  assert.equal(existsSync(`${bad}.part`), false);
});

test("get-image after an interrupted download: the killed client leaves NAME.part, the next run finishes it", async () => {
  const big = randomBytes(48 << 20);
  writeFileSync(join(w.home, "big.raw"), big);
  expectExit(await w.run("alice", ["ci", "big.img"]), 0);
  expectExit(await w.run("alice", ["pi", join(w.home, "big.raw"), "big.img"]), 0);
  const dest = join(w.home, "big-download.img");
  const partial = await killedDownload(["-r", w.repo, "gi", "-p", dest, "big.img"], w.env("alice"), dest);
  assert.ok(partial > 0 && !existsSync(dest), `partial ${partial}`);
  const r = await w.run("alice", ["gi", "-p", dest, "big.img"]);
  expectExit(r, 0, partial < big.length ? /Resumed the partial download/ : /\[OK\]/);
  assert.equal(sha(readFileSync(dest)), sha(big));
});

test("on a terminal (script(1) gives it one), transfers draw a progress bar with bytes, rate and time left", async () => {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLIENT_MAIN, "-r", w.repo, "gi", "-f", "-p", join(w.home, "tty.img"), "sl64.img"].map(quote).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], { env: { PATH: process.env.PATH, ...w.env("alice") }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  const code = await new Promise((r) => child.on("close", r));
  assert.equal(code, 0, out);
  assert.match(out, /\rtty\.img \[#{20}\] 100% 3\.0 MiB\/3\.0 MiB [\d.]+ [KMG]?i?B\/s ETA 00:00/);
  assert.match(out, /\[OK\]     Downloaded image 'sl64.img'/);
});
