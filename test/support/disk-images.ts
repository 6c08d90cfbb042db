// Real image files of every format Repoman tells apart, made by qemu-img (and gzip, xz, zstd),
// with what qemu-img itself says of them: the format and virtual size the server should record.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
export const QEMU_IMG_NOTICE = has("qemu-img") && has("xz") && has("zstd") ? false : "qemu-img, xz or zstd is not installed (Debian: apt-get install qemu-utils xz-utils zstd): the tests of real image files were skipped";

export interface Sample {
  file: string;
  format: string;
  virtualSize: number | null;
  references?: RegExp; // names other files: refused unless the server allows backing files
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

// What qemu-img says of a file: its virtual size, the oracle for ours.
export const qemuInfo = (dir: string, file: string, format?: string): { format: string; "virtual-size": number } =>
  JSON.parse(run("qemu-img", ["info", "--output=json", ...(format ? ["-f", format] : []), file], dir));

// An ISO 9660 file as genisoimage writes one, as far as anyone reads it without mounting it: 16
// empty sectors, then the primary volume descriptor.
export function isoImage(): Buffer {
  const iso = Buffer.alloc(20 * 2048);
  iso[0x8000] = 1;
  iso.write("CD001", 0x8001, "latin1");
  iso[0x8006] = 1;
  iso[0x8800] = 255; // the set terminator
  iso.write("CD001", 0x8801, "latin1");
  return iso;
}

export function makeSamples(dir: string): Record<string, Sample> {
  const q = (...args: string[]) => run("qemu-img", ["create", "-q", ...args], dir);
  q("-f", "qcow2", "base.qcow2", "64M");
  q("-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "32M");
  q("-f", "vmdk", "sparse.vmdk", "48M");
  q("-f", "vmdk", "-o", "subformat=streamOptimized", "stream.vmdk", "40M");
  q("-f", "vmdk", "-o", "subformat=monolithicFlat", "descriptor.vmdk", "1M");
  q("-f", "vdi", "disk.vdi", "40M");
  q("-f", "vpc", "dynamic.vhd", "20M");
  q("-f", "vpc", "-o", "subformat=fixed", "fixed.vhd", "2M");
  q("-f", "vhdx", "disk.vhdx", "24M");
  q("-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "overlay.qcow2");
  q("-f", "qcow2", "-o", "data_file=data.raw", "external.qcow2", "8M");
  const raw = randomBytes(300_000);
  writeFileSync(join(dir, "disk.raw"), raw);
  writeFileSync(join(dir, "disk.raw.gz"), gzipSync(raw));
  run("xz", ["-k", "disk.raw"], dir);
  run("zstd", ["-q", "disk.raw"], dir);
  writeFileSync(join(dir, "disk.iso"), isoImage());
  const v = (file: string, format?: string) => qemuInfo(dir, file, format)["virtual-size"];
  return {
    qcow2: { file: "base.qcow2", format: "qcow2", virtualSize: v("base.qcow2") },
    qcow2v2: { file: "v2.qcow2", format: "qcow2", virtualSize: v("v2.qcow2") },
    vmdk: { file: "sparse.vmdk", format: "vmdk", virtualSize: v("sparse.vmdk") },
    vmdkStream: { file: "stream.vmdk", format: "vmdk", virtualSize: v("stream.vmdk") },
    vdi: { file: "disk.vdi", format: "vdi", virtualSize: v("disk.vdi") },
    vhd: { file: "dynamic.vhd", format: "vhd", virtualSize: v("dynamic.vhd") },
    // qemu-img probes a fixed VHD as raw (its footer is at the end), but reads it as one when told.
    vhdFixed: { file: "fixed.vhd", format: "vhd", virtualSize: v("fixed.vhd", "vpc") },
    vhdx: { file: "disk.vhdx", format: "vhdx", virtualSize: null },
    iso: { file: "disk.iso", format: "iso", virtualSize: isoImage().length },
    raw: { file: "disk.raw", format: "raw", virtualSize: raw.length },
    gzip: { file: "disk.raw.gz", format: "gzip", virtualSize: null },
    xz: { file: "disk.raw.xz", format: "xz", virtualSize: null },
    zstd: { file: "disk.raw.zst", format: "zstd", virtualSize: null },
    overlay: { file: "overlay.qcow2", format: "qcow2", virtualSize: v("overlay.qcow2"), references: /a backing file 'base\.qcow2'/ },
    external: { file: "external.qcow2", format: "qcow2", virtualSize: v("external.qcow2"), references: /an external data file 'data\.raw'/ },
    descriptor: { file: "descriptor.vmdk", format: "vmdk", virtualSize: v("descriptor.vmdk"), references: /'descriptor-flat\.vmdk' \(a VMDK descriptor holds no data of its own\)/ },
  };
}
