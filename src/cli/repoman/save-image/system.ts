// What save-image needs to know about the system it copies: the hypervisors it runs on and is
// prepared for, whether it boots by itself, and the filesystems below it.
import { existsSync, readdirSync, readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";

// The running hypervisor first (only when the source is this system), then those the source has a
// /boot/grub/grub.conf-<hypervisor> for, as the original did.
export function detectHypervisors(source: string, root = "/"): string[] {
  const found: string[] = [];
  if (source === "/") {
    if (existsSync(join(root, "proc/xen"))) found.push("xen");
    else if (/QEMU Virtual CPU/.test(readOr(join(root, "proc/cpuinfo")))) found.push("kvm");
  }
  for (const hv of ["xen", "kvm"]) if (existsSync(join(source, "boot/grub", `grub.conf-${hv}`)) && !found.includes(hv)) found.push(hv);
  return found;
}

const readOr = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

// A system that can boot by itself has a kernel in /boot and an /etc/fstab.
export function isBootable(source: string): boolean {
  try {
    return readdirSync(join(source, "boot")).some((n) => n.startsWith("vmlinuz")) && existsSync(join(source, "etc/fstab"));
  } catch {
    return false;
  }
}

export interface Mount {
  target: string;
  fstype: string;
  device: string;
}

// Decodes /proc/self/mountinfo, where spaces and such in paths are octal escapes.
export function mounts(mountinfo = readOr("/proc/self/mountinfo")): Mount[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [left, right] = line.split(" - ");
      const f = left!.split(" ");
      const r = (right ?? "").split(" ");
      return { target: unescape(f[4] ?? ""), fstype: r[0] ?? "", device: unescape(r[1] ?? "") };
    });
}

const DISK_FILESYSTEMS = new Set(["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "jfs", "reiserfs", "f2fs"]);

// Other on-disk filesystems mounted inside the source (a separate /boot, /home or /var): copied,
// unlike /proc, /sys, network and container mounts.
export function diskMountsBelow(source: string, all = mounts()): string[] {
  const prefix = source.endsWith("/") ? source : `${source}/`;
  return all.filter((m) => m.target !== source && m.target.startsWith(prefix) && DISK_FILESYSTEMS.has(m.fstype) && m.device.startsWith("/dev/")).map((m) => m.target);
}

// The filesystem holding `path`: the longest mount point that contains it.
export function mountOf(path: string, all = mounts()): Mount | undefined {
  return all.filter((m) => m.target === "/" || path === m.target || path.startsWith(`${m.target}/`)).sort((a, b) => b.target.length - a.target.length)[0];
}

export function filesystemBytes(path: string): { size: number; used: number; free: number } {
  const s = statfsSync(path);
  return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize, free: s.bavail * s.bsize };
}
