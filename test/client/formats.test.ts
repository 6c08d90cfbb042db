// Formats in the `repoman` client: what list-images -l, --versions, --json and describe-image
// say of real qcow2, raw and compressed files, and get-image --format converting with the real
// qemu-img — or saying, before downloading anything, why it cannot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSamples, qemuInfo, QEMU_IMG_NOTICE, type Sample } from "../support/disk-images.js";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
let dir: string;
let samples: Record<string, Sample> = {};
const skip = QEMU_IMG_NOTICE;

before(async () => {
  w = await startWorld(["alice"]);
  dir = mkdtempSync(join(tmpdir(), "repoman-client-formats-"));
  if (skip) return;
  samples = makeSamples(dir);
  for (const [image, sample] of [["qc.img", "qcow2"], ["plain.img", "raw"], ["packed.img", "gzip"]] as const) {
    expectExit(await w.run("alice", ["ci", "-h", "kvm", image]), 0);
    expectExit(await w.run("alice", ["pi", join(dir, samples[sample]!.file), image]), 0, /\[OK\]/);
  }
});
after(async () => {
  await w.close();
  rmSync(dir, { recursive: true, force: true });
});

test("list-images -l, --versions, --json and describe-image show each file's format and virtual size", { skip }, async () => {
  const qcow2 = samples.qcow2!.virtualSize!;
  const long = await w.run("alice", ["li", "-l"]);
  expectExit(long, 0);
  const [header, , ...rows] = long.stdout.trimEnd().split("\n");
  assert.match(header!, /^Image Name +Owner +Hypervisor +Size +Format +Virtual Size +Last Modified +Description$/);
  assert.match(rows.find((r) => r.startsWith("qc.img"))!, new RegExp(`^qc\\.img +alice +kvm +\\d+ +qcow2 +${qcow2} `));
  assert.match(rows.find((r) => r.startsWith("packed.img"))!, /^packed\.img +alice +kvm +\d+ +gzip +None /);
  // Without -l, the original's columns, as scripts read them.
  assert.match((await w.run("alice", ["li"])).stdout, /^Image Name Owner Hypervisor +Size Last Modified +Description\n/);

  const versions = await w.run("alice", ["li", "qc.img", "--versions"]);
  expectExit(versions, 0);
  assert.match(versions.stdout, /\nHypervisor Version +Size Format Virtual Size Checksum/);
  assert.match(versions.stdout, new RegExp(`\\nkvm +1 \\* +\\d+ qcow2 +${qcow2} sha256:`));

  const json = JSON.parse((await w.run("alice", ["li", "--json", "plain.img"])).stdout);
  assert.deepEqual([json.format, json.virtual_size, json.files.kvm.format], ["raw", samples.raw!.virtualSize, "raw"]);
  const described = await w.run("alice", ["di", "qc.img"]);
  assert.match(described.stdout, new RegExp(`u'format': u'qcow2'[\\s\\S]*u'virtual_size': ${qcow2}`));
});

test("get-image --format converts with qemu-img: the converted file takes the name", { skip }, async () => {
  const out = join(dir, "out");
  mkdirSync(out);
  const raw = await w.run("alice", ["gi", "--format", "raw", "-p", join(out, "qc.raw"), "qc.img"]);
  expectExit(raw, 0, /Converting .*qc\.raw from qcow2 to raw \.\.\.\n\[OK\]     Downloaded image 'qc\.img', hypervisor kvm, to .*qc\.raw, converted to raw\n$/);
  assert.deepEqual([qemuInfo(out, "qc.raw").format, qemuInfo(out, "qc.raw")["virtual-size"]], ["raw", samples.qcow2!.virtualSize]);

  expectExit(await w.run("alice", ["gi", "--format", "qcow2", "-p", join(out, "plain.qcow2"), "plain.img"]), 0, /converted to qcow2\n$/);
  assert.equal(qemuInfo(out, "plain.qcow2").format, "qcow2");
  // The converted disk holds the same bytes as the raw file uploaded.
  expectExit(await w.run("alice", ["gi", "--format", "raw", "-p", join(out, "plain.back"), "plain.img"]), 0, /nothing to convert/);
  assert.ok(readFileSync(join(out, "plain.back")).equals(readFileSync(join(dir, samples.raw!.file))));

  expectExit(await w.run("alice", ["gi", "--format", "qcow2", "-p", join(out, "same.qcow2"), "qc.img"]), 0, /The file is qcow2 already: nothing to convert\.\n/);
  assert.ok(readFileSync(join(out, "same.qcow2")).equals(readFileSync(join(dir, samples.qcow2!.file))));
  assert.deepEqual(readdirSync(out).sort(), ["plain.back", "plain.qcow2", "qc.raw", "same.qcow2"], "no partial or intermediate file left");
});

test("get-image --format refuses before downloading: a compressed file, no qemu-img on PATH", { skip }, async () => {
  const out = join(dir, "refused");
  mkdirSync(out);
  expectExit(await w.run("alice", ["gi", "--format", "raw", "-p", join(out, "p.raw"), "packed.img"]), 1, "", /cannot be converted to raw: it is gzip-compressed: download it without --format, decompress it/);
  // A PATH with node and nothing else.
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  expectExit(await w.run("alice", ["gi", "--format", "raw", "-p", join(out, "q.raw"), "qc.img"], { env: { PATH: bin } }), 1, "", /--format needs qemu-img, and it is not on your PATH; nothing was downloaded\n\tInstall it \(Debian, Ubuntu: apt install qemu-utils/);
  expectExit(await w.run("alice", ["gi", "--format", "vmdk", "qc.img"]), 2, "", /invalid choice: 'vmdk'|vmdk/);
  assert.deepEqual(readdirSync(out), []);
  assert.equal(existsSync(join(w.home, "qc.img")), false);
});
