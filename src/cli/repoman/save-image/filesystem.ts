// The image file made from the staging directory without mounting anything: mke2fs -d writes the
// filesystem straight from the directory, debugfs edits files inside it, and a bootable disk is
// an MBR partition table followed by that filesystem (the boot loader alone needs a loop device).
import { closeSync, mkdtempSync, openSync, readSync, rmSync, rmdirSync, writeFileSync, writeSync, ftruncateSync, fstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientError } from "../../../client/errors.js";
import type { Tools } from "./tools.js";

export const MIB = 1024 * 1024;
const PARTITION_START = MIB; // sector 2048, where partitioning tools put the first partition

export async function makeFilesystem(tools: Tools, staging: string, image: string, bytes: number, opts: { fstype: string; label: string }): Promise<void> {
  rmSync(image, { force: true });
  const fd = openSync(image, "w", 0o600);
  ftruncateSync(fd, bytes);
  closeSync(fd);
  await tools.run("mke2fs", ["-F", "-q", "-t", opts.fstype, "-L", opts.label, "-d", staging, image], { why: "to build the image's filesystem from a directory (-d needs e2fsprogs 1.43 or newer)" });
}

// Replaces one file inside the filesystem image (the original mounted the image to do this).
export async function replaceFileInImage(tools: Tools, image: string, inside: string, from: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "repoman-debugfs-"));
  try {
    const q = (s: string) => `"${s.replace(/(["\\])/g, "\\$1")}"`;
    writeFileSync(join(dir, "commands"), `rm ${q(inside)}\nwrite ${q(from)} ${q(inside)}\n`);
    await tools.run("debugfs", ["-w", "-f", join(dir, "commands"), image], { why: "to change files inside the image" });
    const check = await tools.run("debugfs", ["-R", `stat ${q(inside)}`, image], { why: "to check the change" });
    if (!/Inode:/.test(check)) throw new ClientError(`could not write ${inside} inside ${image}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// One bootable Linux partition covering the disk after the first MiB.
export function mbr(diskBytes: number): Buffer {
  const b = Buffer.alloc(512);
  const entry = 446;
  b[entry] = 0x80; // bootable
  b.set([0xfe, 0xff, 0xff], entry + 1); // CHS start: "use LBA"
  b[entry + 4] = 0x83; // Linux
  b.set([0xfe, 0xff, 0xff], entry + 5);
  b.writeUInt32LE(PARTITION_START / 512, entry + 8);
  b.writeUInt32LE((diskBytes - PARTITION_START) / 512, entry + 12);
  b.writeUInt32LE(Math.floor(Math.random() * 0xffffffff), 440); // disk identifier
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

// The disk: partition table, then the filesystem, copied sparsely (zero blocks are skipped).
export function assembleDisk(fsImage: string, disk: string): void {
  const src = openSync(fsImage, "r");
  const dst = openSync(disk, "w", 0o600);
  try {
    const size = fstatSync(src).size;
    ftruncateSync(dst, PARTITION_START + size);
    writeSync(dst, mbr(PARTITION_START + size), 0, 512, 0);
    const buf = Buffer.alloc(MIB);
    for (let pos = 0; pos < size; ) {
      const n = readSync(src, buf, 0, MIB, pos);
      if (n <= 0) break;
      const chunk = buf.subarray(0, n);
      if (chunk.some((x) => x !== 0)) writeSync(dst, chunk, 0, n, PARTITION_START + pos);
      pos += n;
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

// GRUB in the disk's MBR, through a loop device: the one step that needs root.
export async function installBootloader(tools: Tools, disk: string): Promise<void> {
  const device = (await tools.run("losetup", ["--find", "--show", "--partscan", disk], { why: "to install a boot loader" })).trim();
  const mnt = mkdtempSync(join(tmpdir(), "repoman-boot-"));
  try {
    await tools.run("mount", [`${device}p1`, mnt], { why: "to install a boot loader" });
    try {
      await tools.run("grub-install", ["--target=i386-pc", `--boot-directory=${join(mnt, "boot")}`, "--modules=part_msdos ext2", device], { why: "to make the image bootable" });
    } finally {
      await tools.run("umount", [mnt], { why: "to finish the boot loader" });
    }
  } finally {
    rmdirSync(mnt);
    await tools.run("losetup", ["--detach", device], { why: "to finish the boot loader" });
  }
}
