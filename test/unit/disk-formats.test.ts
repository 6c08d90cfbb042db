// Format detection: real files of every format, told as qemu-img tells them, whatever the sizes
// of the pieces they arrive in; and headers that are truncated, garbage or lying, which never
// throw and never pass for something safe they are not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskSniffer, HEAD_BYTES, identify, type DiskInfo } from "../../src/catalog/disk-formats.js";
import { isoImage, makeSamples, qemuInfo, QEMU_IMG_NOTICE, type Sample } from "../support/disk-images.js";

let dir: string;
let samples: Record<string, Sample> = {};
before(() => {
  dir = mkdtempSync(join(tmpdir(), "repoman-formats-"));
  if (!QEMU_IMG_NOTICE) samples = makeSamples(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

// The whole file through a sniffer, in pieces of these sizes (the rest in one).
function sniff(bytes: Buffer, pieces: number[] = []): DiskInfo {
  const s = new DiskSniffer();
  let at = 0;
  for (const n of pieces) {
    s.add(bytes.subarray(at, at + n));
    at += n;
  }
  s.add(bytes.subarray(at));
  return s.result();
}
const whole = (b: Buffer) => identify(b.subarray(0, HEAD_BYTES), b.subarray(-512), b.length);

test("every format as qemu-img says it is, with its virtual size and the files it names", { skip: QEMU_IMG_NOTICE }, () => {
  for (const [name, s] of Object.entries(samples)) {
    const bytes = readFileSync(join(dir, s.file));
    const found = sniff(bytes);
    assert.equal(found.format, s.format, name);
    assert.equal(found.virtualSize, s.virtualSize, name);
    if (s.references) assert.match(found.references ?? "", s.references, name);
    else assert.equal(found.references, null, name);
    // The same in pieces of a byte, of seven, across the footer: what is kept does not depend on them.
    assert.deepEqual(sniff(bytes, [1, 7, 100, 4096, Math.max(0, bytes.length - 4096 - 108 - 300)]), found, `${name} in pieces`);
    assert.deepEqual(whole(bytes), found, `${name} from its head and tail`);
  }
  // qemu-img agrees on the formats it probes (it calls a VHD vpc, and a fixed VHD raw).
  for (const name of ["qcow2", "vmdk", "vdi", "vhdx"]) assert.equal(qemuInfo(dir, samples[name]!.file).format, samples[name]!.format);
  assert.equal(qemuInfo(dir, samples.vhd!.file).format, "vpc");
});

test("nothing, and random bytes, are a raw disk of their length", () => {
  assert.deepEqual(sniff(Buffer.alloc(0)), { format: "raw", virtualSize: 0, references: null });
  const noise = randomBytes(100_000);
  assert.deepEqual(sniff(noise, [3, 5000]), { format: "raw", virtualSize: 100_000, references: null });
  assert.deepEqual(sniff(isoImage().subarray(0, 0x8003)), { format: "raw", virtualSize: 0x8003, references: null }, "CD00 is not CD001");
});

test("truncated headers never throw: a signature with too little after it is unknown, not raw", { skip: QEMU_IMG_NOTICE }, () => {
  for (const [name, s] of Object.entries(samples)) {
    const bytes = readFileSync(join(dir, s.file));
    for (const n of [1, 3, 4, 8, 20, 31, 64, 71, 100, 103, 0x41, 0x170, 0x177, 511, 513, 4096]) {
      const found = sniff(bytes.subarray(0, n));
      assert.ok(["raw", "unknown", s.format].includes(found.format), `${name}, ${n} bytes: ${found.format}`);
      // Once the backing file's offset is in, the overlay names it, however little follows.
      if (name === "overlay" && n >= 20) assert.notEqual(found.references, null, `${name}, ${n} bytes`);
    }
  }
  const qcow = readFileSync(join(dir, samples.qcow2!.file));
  assert.deepEqual(sniff(qcow.subarray(0, 20)), { format: "unknown", virtualSize: null, references: null });
  assert.equal(sniff(qcow.subarray(0, 4)).format, "unknown");
  assert.equal(sniff(qcow.subarray(0, 3)).format, "raw", "three bytes are no signature");
});

test("headers that lie: odd versions, sizes beyond 2^53, offsets past the end", () => {
  const qcow2 = (version: number, fill: (b: Buffer) => void = () => undefined) => {
    const b = Buffer.alloc(4096);
    b.write("QFI\xfb", 0, "latin1");
    b.writeUInt32BE(version, 4);
    b.writeBigUInt64BE(1n << 30n, 24);
    b.writeUInt32BE(104, 100);
    fill(b);
    return b;
  };
  assert.deepEqual(sniff(qcow2(3)), { format: "qcow2", virtualSize: 1 << 30, references: null });
  assert.deepEqual(sniff(qcow2(99)), { format: "unknown", virtualSize: null, references: null });
  // qcow version 1 keeps a backing file in the same place: refused as well.
  assert.match(sniff(qcow2(1, (b) => b.writeBigUInt64BE(200n, 8))).references ?? "", /a backing file/);
  // A backing file whose name lies past what was read, or past any file: still a backing file.
  assert.deepEqual(sniff(qcow2(3, (b) => (b.writeBigUInt64BE(1n << 62n, 8), b.writeUInt32BE(10, 16)))), { format: "qcow2", virtualSize: 1 << 30, references: "a backing file" });
  assert.deepEqual(sniff(qcow2(2, (b) => b.writeBigUInt64BE(1n << 63n, 24))), { format: "qcow2", virtualSize: null, references: null });
  // The external-data-file feature bit is enough, without the extension that names the file.
  assert.deepEqual(sniff(qcow2(3, (b) => b.writeBigUInt64BE(4n, 72))), { format: "qcow2", virtualSize: 1 << 30, references: "an external data file" });
  // Header extensions whose lengths run off the end, or loop on nothing, end the walk.
  assert.equal(sniff(qcow2(3, (b) => (b.writeUInt32BE(0x12345678, 104), b.writeUInt32BE(0xffffffff, 108)))).format, "qcow2");
  assert.equal(sniff(qcow2(3, (b) => b.writeUInt32BE(0xffffffff, 100))).format, "qcow2");

  const vdi = Buffer.alloc(0x178);
  vdi.writeUInt32LE(0xbeda107f, 0x40);
  vdi.writeBigUInt64LE(5n << 20n, 0x170);
  assert.deepEqual(sniff(vdi), { format: "vdi", virtualSize: 5 << 20, references: null });
  assert.deepEqual(sniff(vdi.subarray(0, 0x100)), { format: "unknown", virtualSize: null, references: null });

  const kdmv = Buffer.alloc(2048);
  kdmv.write("KDMV", 0, "latin1");
  kdmv.writeBigUInt64LE(2048n, 12);
  kdmv.writeBigUInt64LE(1n, 28);
  kdmv.writeBigUInt64LE(1n, 36);
  kdmv.write('# Disk DescriptorFile\nparentCID=1234\nparentFileNameHint="/etc/shadow"\nRW 2048 SPARSE "x.vmdk"\n', 512, "latin1");
  assert.deepEqual(sniff(kdmv), { format: "vmdk", virtualSize: 2048 * 512, references: "a parent disk '/etc/shadow'" });
  kdmv.writeBigUInt64LE(1n << 60n, 28);
  assert.deepEqual(sniff(kdmv), { format: "vmdk", virtualSize: 2048 * 512, references: null }, "a descriptor past what was read is not looked for");

  const descriptor = Buffer.from('# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 4096 FLAT "/dev/sda" 0\nRW 99999999999999999999 FLAT "/etc/passwd" 0\n');
  const found = sniff(descriptor);
  assert.equal(found.format, "vmdk");
  assert.equal(found.virtualSize, null, "a size beyond 2^53 is no size");
  assert.match(found.references ?? "", /'\/dev\/sda', '\/etc\/passwd'/);

  const differencing = Buffer.alloc(1024);
  differencing.write("conectix", 0, "latin1");
  differencing.writeBigUInt64BE(1n << 20n, 48);
  differencing.writeUInt32BE(4, 60);
  assert.deepEqual(sniff(differencing), { format: "vhd", virtualSize: 1 << 20, references: "a parent disk (a differencing VHD)" });
  // A footer at the end names a fixed VHD; one of a type that does not exist is just bytes.
  const fixed = Buffer.concat([randomBytes(4096), differencing.subarray(0, 512)]);
  fixed.writeUInt32BE(2, 4096 + 60);
  assert.deepEqual(sniff(fixed, [100, 4000]), { format: "vhd", virtualSize: 1 << 20, references: null });
  fixed.writeUInt32BE(0, 4096 + 60);
  assert.deepEqual(sniff(fixed), { format: "raw", virtualSize: fixed.length, references: null });
});
