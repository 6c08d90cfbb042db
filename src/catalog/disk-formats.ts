// What an uploaded image file is, told from its first bytes and its last 512 (a fixed VHD is raw
// bytes with a footer), as hypervisors tell it: the format, the size of the disk it holds, and
// whether opening it would make a hypervisor host read other files (a qcow2 backing file or
// external data file, a VMDK's extents or parent, a differencing VHD) — a known way to read a
// host's files through an image. Pure functions of bytes: never throws, whatever it is given.

export const DISK_FORMATS = ["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "gzip", "xz", "zstd", "unknown"] as const;
// Glance's disk_format names (vhd, not qemu's vpc), which HEPiX subscribers hand to OpenStack.
// Compressed files are named by their compression: what they hold is known only once unpacked.
// "unknown": a format's signature with a header that cannot be read (truncated, unsupported).
export type DiskFormat = (typeof DISK_FORMATS)[number];

export interface DiskInfo {
  format: DiskFormat;
  // Bytes of the disk a guest sees; null where the first bytes do not tell (vhdx, compressed).
  virtualSize: number | null;
  // What other files a host opening it would read, for the refusal message; null: none.
  references: string | null;
}

// ISO 9660 volume descriptors start at 32 KiB; the third possible one ends within this.
export const HEAD_BYTES = 40 * 1024;
export const TAIL_BYTES = 512;

const ascii = (b: Buffer, at: number, text: string) => b.length >= at + text.length && b.toString("latin1", at, at + text.length) === text;
const u32be = (b: Buffer, at: number) => (b.length >= at + 4 ? b.readUInt32BE(at) : undefined);
const u32le = (b: Buffer, at: number) => (b.length >= at + 4 ? b.readUInt32LE(at) : undefined);
// Sizes beyond 2^53 are no disk anyone has; they read as unknown rather than as a wrong number.
const safe = (n: bigint) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : null);
const u64be = (b: Buffer, at: number) => (b.length >= at + 8 ? safe(b.readBigUInt64BE(at)) : undefined);
const u64le = (b: Buffer, at: number) => (b.length >= at + 8 ? safe(b.readBigUInt64LE(at)) : undefined);

const info = (format: DiskFormat, virtualSize: number | null = null, references: string | null = null): DiskInfo => ({ format, virtualSize, references });
const UNKNOWN = info("unknown");

// A name taken from a file, fit to quote in an error message.
const quoted = (b: Buffer, start: number, length: number) => {
  if (start < 0 || length <= 0 || start + length > b.length) return "";
  const text = b.toString("latin1", start, start + Math.min(length, 200)).replace(/[^\x20-\x7e]/g, "?");
  return ` '${text}${length > 200 ? "…" : ""}'`;
};

const QCOW2_EXTERNAL_DATA_BIT = 1n << 2n;
const QCOW2_EXT_DATA_FILE = 0x44415441;

function qcow2(head: Buffer): DiskInfo {
  const version = u32be(head, 4);
  const backingOffset = u64be(head, 8);
  const backingLength = u32be(head, 16);
  // qcow (version 1) keeps its backing file at the same place: refused like qcow2's.
  if (version === undefined || backingOffset === undefined || backingLength === undefined) return UNKNOWN;
  const backing = backingOffset !== 0 ? `a backing file${backingOffset === null ? "" : quoted(head, backingOffset, backingLength)}` : null;
  if (version !== 2 && version !== 3) return info("unknown", null, backing);
  const size = u64be(head, 24);
  if (size === undefined) return info("unknown", null, backing);
  if (version === 2) return info("qcow2", size, backing);
  if (head.length < 104) return info("unknown", null, backing);
  const incompatible = head.readBigUInt64BE(72);
  let dataFile: string | null = null;
  if (incompatible & QCOW2_EXTERNAL_DATA_BIT) dataFile = "an external data file";
  // The extension names the file; it is read when it is within the first bytes (it usually is).
  const headerLength = u32be(head, 100) ?? 0;
  for (let at = headerLength; at >= 104 && at + 8 <= head.length; ) {
    const type = head.readUInt32BE(at);
    const length = head.readUInt32BE(at + 4);
    if (type === 0) break;
    if (type === QCOW2_EXT_DATA_FILE) dataFile = `an external data file${quoted(head, at + 8, length)}`;
    at += 8 + Math.ceil(length / 8) * 8;
  }
  const refs = [backing, dataFile].filter((r) => r !== null).join(" and ");
  return info("qcow2", size, refs || null);
}

// A VMDK descriptor (a text file, or embedded in a sparse VMDK): its extents and parent.
function vmdkDescriptor(text: string): { sectors: number | null; extents: string[]; parent: string | null } {
  let sectors: number | null = 0;
  const extents: string[] = [];
  let parent: string | null = null;
  for (const line of text.split(/\r?\n/)) {
    const extent = /^\s*(?:RW|RDONLY|NOACCESS)\s+(\d+)\s+\w+(?:\s+"([^"]*)")?/.exec(line);
    if (extent) {
      sectors = sectors === null ? null : sectors + Number(extent[1]);
      if (extent[2] !== undefined) extents.push(extent[2]);
    }
    const hint = /^\s*parentFileNameHint\s*=\s*"([^"]*)"/.exec(line);
    if (hint) parent = hint[1]!;
  }
  return { sectors: sectors !== null && Number.isSafeInteger(sectors * 512) ? sectors : null, extents, parent };
}

function vmdkSparse(head: Buffer): DiskInfo {
  const capacity = u64le(head, 12);
  const descriptorSector = u64le(head, 28);
  const descriptorSectors = u64le(head, 36);
  if (capacity === undefined || descriptorSector === undefined || descriptorSectors === undefined) return UNKNOWN;
  let references: string | null = null;
  if (descriptorSector !== null && descriptorSector > 0 && descriptorSector * 512 < head.length) {
    const end = Math.min(head.length, (descriptorSector + (descriptorSectors ?? 0)) * 512);
    const { parent } = vmdkDescriptor(head.toString("latin1", descriptorSector * 512, end).replace(/\0.*$/s, ""));
    if (parent !== null) references = `a parent disk '${parent}'`;
  }
  return info("vmdk", capacity === null ? null : safe(BigInt(capacity) * 512n), references);
}

function vmdkText(head: Buffer, size: number): DiskInfo {
  // A descriptor without data: every byte of the disk is in the files it names.
  const whole = head.length >= size;
  const { sectors, extents, parent } = vmdkDescriptor(head.toString("latin1"));
  const named = [...extents.map((e) => `'${e}'`), ...(parent !== null ? [`a parent disk '${parent}'`] : [])];
  const references = `${named.length ? named.join(", ") : "extent files"} (a VMDK descriptor holds no data of its own)`;
  return info("vmdk", whole && sectors !== null ? sectors * 512 : null, references);
}

const VHD_FIXED = 2;
const VHD_DIFFERENCING = 4;
function vhdFooter(footer: Buffer): DiskInfo {
  const size = u64be(footer, 48);
  const type = u32be(footer, 60);
  if (size === undefined || type === undefined) return UNKNOWN;
  return info("vhd", size, type === VHD_DIFFERENCING ? "a parent disk (a differencing VHD)" : null);
}

// `head`: the file's first HEAD_BYTES (all of it, if shorter); `tail`: its last TAIL_BYTES;
// `size`: its length.
export function identify(head: Buffer, tail: Buffer, size: number): DiskInfo {
  try {
    if (ascii(head, 0, "QFI\xfb")) return qcow2(head);
    if (ascii(head, 0, "KDMV")) return vmdkSparse(head);
    if (ascii(head, 0, "# Disk DescriptorFile")) return vmdkText(head, size);
    if (u32le(head, 0x40) === 0xbeda107f) {
      const disk = u64le(head, 0x170);
      return disk === undefined ? UNKNOWN : info("vdi", disk);
    }
    if (ascii(head, 0, "vhdxfile")) return info("vhdx");
    if (ascii(head, 0, "conectix")) return vhdFooter(head);
    if (head[0] === 0x1f && head[1] === 0x8b) return info("gzip");
    if (ascii(head, 0, "\xfd7zXZ\x00")) return info("xz");
    if (ascii(head, 0, "\x28\xb5\x2f\xfd")) return info("zstd");
    if ([0x8001, 0x8801, 0x9001].some((at) => ascii(head, at, "CD001"))) return info("iso", size);
    if (size >= TAIL_BYTES && tail.length === TAIL_BYTES && ascii(tail, 0, "conectix") && u32be(tail, 60) !== undefined && u32be(tail, 60)! >= VHD_FIXED) {
      return vhdFooter(tail);
    }
    return info("raw", size);
  } catch {
    // A header whose numbers point nowhere sensible: nothing is known of it.
    return UNKNOWN;
  }
}

// Watches the bytes of one upload as they pass, keeping only its first HEAD_BYTES and its last
// TAIL_BYTES, whatever its size.
export class DiskSniffer {
  private readonly head = Buffer.alloc(HEAD_BYTES);
  private headLength = 0;
  private tail = Buffer.alloc(0);
  private size = 0;

  add(chunk: Buffer): void {
    if (this.headLength < HEAD_BYTES) this.headLength += chunk.copy(this.head, this.headLength, 0, Math.min(chunk.length, HEAD_BYTES - this.headLength));
    this.tail = chunk.length >= TAIL_BYTES ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES)) : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
    this.size += chunk.length;
  }

  result(): DiskInfo {
    return identify(this.head.subarray(0, this.headLength), this.tail, this.size);
  }
}
