// The image-list subcommands end to end, against a server that signs lists with its signing
// certificate: publish-list (create, then update), list-lists, show-list (text, --json, and
// --signed verified by the real `openssl smime -verify`), remove-list with its prompt, and the
// denials with the server's reasons.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
const sl6v1 = randomBytes(40_000);
const sl6v2 = randomBytes(30_000);
const cvmfs = randomBytes(20_000);
const sha512 = (b: Buffer) => createHash("sha512").update(b).digest("hex");
const file = (name: string, bytes: Buffer) => {
  const path = join(w.home, name);
  writeFileSync(path, bytes);
  return path;
};
const CTIME = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}";

before(async () => {
  w = await startWorld(["alice", "bob"], { listSigner: true });
  expectExit(await w.run("alice", ["ci", "-a", "true", "-h", "xen,kvm", "-d", "Scientific Linux 6 worker", "sl6.img"]), 0);
  expectExit(await w.run("alice", ["pi", "-h", "xen", file("sl6-1", sl6v1), "sl6.img"]), 0);
  expectExit(await w.run("alice", ["ci", "-a", "true", "-h", "kvm", "cvmfs.img"]), 0);
  expectExit(await w.run("alice", ["pi", file("cvmfs", cvmfs), "cvmfs.img"]), 0);
  expectExit(await w.run("alice", ["ci", "secret.img"]), 0);
  expectExit(await w.run("alice", ["pi", file("secret", randomBytes(1000)), "secret.img"]), 0);
  const r = await w.t.call("POST", "/api/groups", { cred: w.t.cred("admin"), form: { name: "lab", users: "alice,bob" } });
  assert.equal(r.status, 201, r.text);
});
after(() => w?.close());

test("publish-list creates the list, says where sites subscribe, and what each entry lists", async () => {
  const r = await w.run("alice", ["publish-list", "site", "--title", "Worker images", "-d", "For the batch cloud", "sl6.img:xen", "alice/cvmfs.img@1"]);
  expectExit(r, 0, undefined, "");
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines[0], "[OK]     Created image list 'alice/site' (version 1)");
  assert.equal(lines[1], `Sites subscribe to: https://${w.repo}/api/lists/alice/site/image.list`);
  assert.match(lines[2]!, new RegExp(`^Expires: ${CTIME}$`));
  assert.match(lines[3]!, /^Image +Hypervisor Follows +Listed$/);
  assert.match(lines[5]!, new RegExp(`^alice/sl6\\.img +xen +current +version 1 \\(40000 bytes, sha512:${sha512(sl6v1).slice(0, 12)}\\)$`));
  assert.match(lines[6]!, new RegExp(`^alice/cvmfs\\.img kvm +version 1 version 1 \\(20000 bytes, sha512:${sha512(cvmfs).slice(0, 12)}\\)$`));
  assert.equal(lines.length, 7);

  const shown = (await w.t.call("GET", "/api/lists/alice/site")).json;
  assert.equal(shown.title, "Worker images");
  assert.equal(shown.description, "For the batch cloud");
  // 28 days by default, as the HEPiX tools do.
  assert.ok(Date.parse(shown.expires) > Date.now() + 27 * 86_400_000);
});

test("publish-list again updates the list: the images replace the entries, other fields change only when given", async () => {
  const r = await w.run("alice", ["pl", "site", "--expires", "10d", "sl6.img:xen"]);
  expectExit(r, 0, /^\[OK\]     Updated image list 'alice\/site' \(version 2\)\n/, "");
  assert.doesNotMatch(r.stdout, /cvmfs/);
  const shown = (await w.t.call("GET", "/api/lists/alice/site")).json;
  assert.equal(shown.title, "Worker images", "kept");
  assert.equal(shown.description, "For the batch cloud", "kept");
  assert.ok(Math.abs(Date.parse(shown.expires) - (Date.now() + 10 * 86_400_000)) < 120_000, shown.expires);
  assert.deepEqual(shown.images.map((e: { image: string; hypervisor: string; pinned: number | null }) => [e.image, e.hypervisor, e.pinned]), [["alice/sl6.img", "xen", null]]);

  // An entry that follows the current version lists the new one as soon as it is uploaded.
  expectExit(await w.run("alice", ["pi", "-h", "xen", "-f", file("sl6-2", sl6v2), "sl6.img"]), 0);
  const show = await w.run("alice", ["show-list", "site"]);
  expectExit(show, 0);
  assert.match(show.stdout, new RegExp(`\\nalice/sl6\\.img xen +current version 2 \\(30000 bytes, sha512:${sha512(sl6v2).slice(0, 12)}\\)\\n$`));
  assert.match(show.stdout, /^ +version : 3$/m, "the list's own version rose with the image");
});

test("publish-list refuses what the server would not list, and says why", async () => {
  const priv = await w.run("alice", ["pl", "leak", "--title", "x", "secret.img"]);
  expectExit(priv, 1, "", /^\[FAILED\] publish-list\n\tYou lack the rights to access that object\n\t.*only public images \(unauthenticated_access true\)/);
  expectExit(await w.run("alice", ["pl", "kvm", "--title", "x", "sl6.img:kvm"]), 1, "", /^\[FAILED\] publish-list\n\timages: 'alice\/sl6\.img' has no file for 'kvm'\n$/);
  expectExit(await w.run("alice", ["pl", "new", "sl6.img:xen"]), 1, "", /^Error: Invalid argument\.\n\ta new image list needs a title\n\tGive it with --title: /);
  expectExit(await w.run("alice", ["pl", "new", "--title", "x", "--expires", "never", "sl6.img:xen"]), 1, "", /^Error: Invalid argument\.\n\tan image list cannot be published without an expiry\n/);
  // Someone else's list: bob cannot change it, nor make one in alice's name.
  expectExit(await w.run("bob", ["pl", "alice/site", "--title", "Mine now", "alice/sl6.img:xen"]), 1, "", /^\[FAILED\] publish-list\n\tYou lack the rights to access that object\n\t.*only the list's owner, members of its group and admins may change it/);
  expectExit(await w.run("bob", ["pl", "alice/other", "--title", "x", "alice/sl6.img:xen"]), 1, "", /^\[FAILED\] publish-list\n\tImage list 'alice\/other' does not exist\n\tA new list is always yours/);
  expectExit(await w.run("bob", ["remove-list", "-f", "alice/site"]), 1, "", /^\[FAILED\] remove-list\n\tYou lack the rights to access that object\n/);
  assert.deepEqual((await w.t.call("GET", "/api/lists")).json.map((l: { name: string }) => l.name), ["site"], "nothing refused was created");
  assert.equal((await w.t.call("GET", "/api/lists/alice/site")).json.title, "Worker images");
});

test("a list given to a group is changed by its members", async () => {
  expectExit(await w.run("alice", ["pl", "site", "-g", "lab", "sl6.img:xen"]), 0, /Updated/);
  expectExit(await w.run("bob", ["pl", "alice/site", "-t", "Lab worker images", "alice/sl6.img:xen@1", "alice/cvmfs.img"]), 0, /^\[OK\]     Updated image list 'alice\/site' \(version \d+\)\n/);
  const shown = (await w.t.call("GET", "/api/lists/alice/site")).json;
  assert.equal(shown.title, "Lab worker images");
  assert.equal(shown.group, "lab");
  assert.deepEqual(shown.images.map((e: { image: string; pinned: number | null }) => [e.image, e.pinned]), [["alice/sl6.img", 1], ["alice/cvmfs.img", null]]);
});

test("list-lists and show-list: text, --json, and an entry that lists nothing says why", async () => {
  expectExit(await w.run("bob", ["pl", "mine", "--title", "Bob's pick", "alice/cvmfs.img"]), 0, /Created image list 'bob\/mine'/);
  const table = await w.run("alice", ["list-lists"]);
  expectExit(table, 0, undefined, "");
  const [header, dashes, ...rows] = table.stdout.trimEnd().split("\n");
  assert.match(header!, /^List +Version Expires +Title$/);
  assert.equal(dashes, "-".repeat(dashes!.length));
  assert.equal(rows.length, 2);
  assert.match(rows[0]!, new RegExp(`^alice/site +\\d+ ${CTIME} Lab worker images$`));
  assert.match(rows[1]!, new RegExp(`^bob/mine +1 ${CTIME} Bob's pick$`));
  const json = JSON.parse((await w.run("alice", ["ll", "--json"])).stdout);
  assert.deepEqual(json, (await w.t.call("GET", "/api/lists")).json.sort((a: { owner: string }, b: { owner: string }) => a.owner.localeCompare(b.owner)));

  // An image made private leaves the list; show-list says so.
  expectExit(await w.run("alice", ["mi", "-a", "false", "cvmfs.img"]), 0);
  const show = await w.run("alice", ["sl", "site"]);
  expectExit(show, 0, undefined, "");
  const keys = show.stdout.split("\n\n")[0]!.split("\n").map((l) => l.split(" : ")[0]!.trim());
  assert.deepEqual(keys, ["created", "description", "expires", "group", "identifier", "json_url", "modified", "name", "owner", "signed", "title", "url", "version"]);
  assert.match(show.stdout, new RegExp(`^ +url : https://${w.repo.replace(/\./g, "\\.")}/api/lists/alice/site/image\\.list$`, "m"));
  assert.match(show.stdout, /^ +group : lab$/m);
  assert.match(show.stdout, new RegExp(`^ +expires : ${CTIME}$`, "m"));
  assert.match(show.stdout, /\nalice\/cvmfs\.img kvm +current +omitted: the image is no longer public, or has expired\n$/);
  expectExit(await w.run("alice", ["mi", "-a", "true", "cvmfs.img"]), 0);

  assert.deepEqual(JSON.parse((await w.run("alice", ["sl", "--json", "site"])).stdout), (await w.t.call("GET", "/api/lists/alice/site")).json);
  // NAME alone: your own list, else the only list of that name.
  assert.equal(JSON.parse((await w.run("bob", ["sl", "--json", "site"])).stdout).owner, "alice");
  assert.equal(JSON.parse((await w.run("alice", ["sl", "--json", "mine"])).stdout).owner, "bob");
  expectExit(await w.run("alice", ["sl", "nothing"]), 1, "", /^\[FAILED\] show-list\n\tRequested resource could not be found\n\timage list 'alice\/nothing' does not exist\n$/);
  expectExit(await w.run("alice", ["sl", "--signed", "--json", "site"]), 2, "", /repoman show-list: error: argument --json: not allowed with argument --signed\n$/);
});

test("show-list --signed prints the signed list, which openssl verifies against the grid CAs", async () => {
  const r = await w.run("bob", ["show-list", "alice/site", "--signed"]);
  expectExit(r, 0, /^MIME-Version: 1\.0\r\nContent-Type: multipart\/signed; protocol="application\/x-pkcs7-signature"/, "");
  const path = join(w.home, "image.list");
  writeFileSync(path, r.stdout);
  const v = spawnSync("openssl", ["smime", "-verify", "-in", path, "-CApath", join(w.pki, "certificates")], { encoding: "utf8" });
  assert.equal(v.status, 0, `openssl smime -verify: ${v.stderr}`);
  assert.match(v.stderr, /Verification successful/);
  const list = JSON.parse(v.stdout)["hv:imagelist"];
  assert.equal(list["dc:title"], "Lab worker images");
  assert.equal(list["hv:uri"], `https://${w.repo}/api/lists/alice/site/image.list`);
  assert.deepEqual(
    list["hv:images"].map((i: { "hv:image": Record<string, unknown> }) => [i["hv:image"]["dc:title"], i["hv:image"]["hv:version"], i["hv:image"]["sl:checksum:sha512"]]),
    [["sl6.img", "1", sha512(sl6v1)], ["cvmfs.img", "1", sha512(cvmfs)]],
  );
});

test("remove-list: warning and prompt, declined, unanswered and confirmed; -f does not ask", async () => {
  expectExit(await w.run("alice", ["remove-list", "site"], { stdin: "nope\n" }), 0, new RegExp(`^WARNING: Removing image list alice/site withdraws it: sites subscribed to https://${w.repo.replace(/\./g, "\\.")}/api/lists/alice/site/image\\.list get no more updates\\.  This cannot be undone\\.\\n  It lists 2 image files; the images themselves are kept\\.\\nConfirm deletion \\[yes\\]/\\[n\\]o: \\nAborting image list deletion\\n$`));
  expectExit(await w.run("alice", ["rl", "site"]), 1, /Confirm deletion/, /^\[FAILED\] remove-list\n\tno answer to the confirmation question, so nothing was deleted\n\tAnswer it on a terminal, or pass -f\/--force\.\n$/);
  assert.equal((await w.t.call("GET", "/api/lists/alice/site")).status, 200, "still there");
  expectExit(await w.run("alice", ["rl", "site"], { stdin: "yes\n" }), 0, /\n\[OK\]     Removed image list alice\/site\.\n$/);
  expectExit(await w.run("bob", ["rl", "-f", "mine"]), 0, "[OK]     Removed image list bob/mine.\n", "");
  assert.deepEqual((await w.t.call("GET", "/api/lists")).json, []);
  expectExit(await w.run("alice", ["rl", "-f", "site"]), 1, "", /^\[FAILED\] remove-list\n\tRequested resource could not be found\n/);
  // The images stay.
  expectExit(await w.run("alice", ["li", "-s"]), 0, "alice/cvmfs.img\nalice/secret.img\nalice/sl6.img\n");
});
