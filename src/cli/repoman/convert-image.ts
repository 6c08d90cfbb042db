// get-image --format: a downloaded file converted with qemu-img, which the client does not carry
// but finds on PATH. The source format is the one the server detected, given to qemu-img with -f
// so that it never guesses (a guess is how a file passes for another format).
import { spawn } from "node:child_process";
import { accessSync, constants, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ClientError } from "../../client/errors.js";

export const CONVERT_FORMATS = ["raw", "qcow2"] as const;

// The server's format names as qemu-img's -f takes them; an ISO is read as the bytes it is.
const QEMU_NAMES: Record<string, string> = { raw: "raw", iso: "raw", qcow2: "qcow2", vmdk: "vmdk", vdi: "vdi", vhd: "vpc", vhdx: "vhdx" };

export function findQemuImg(path = process.env.PATH ?? ""): string {
  for (const dir of path.split(":").filter(Boolean)) {
    try {
      accessSync(join(dir, "qemu-img"), constants.X_OK);
      return join(dir, "qemu-img");
    } catch {
      // not in this directory
    }
  }
  throw new ClientError("--format needs qemu-img, and it is not on your PATH; nothing was downloaded", "Install it (Debian, Ubuntu: apt install qemu-utils; RHEL, Fedora: dnf install qemu-img), or download without --format.");
}

// Why a file in this format cannot be converted, before anything is downloaded; undefined if it can.
export function cannotConvert(format: string | null | undefined): string | undefined {
  if (format === null || format === undefined) return undefined; // uploaded before formats were detected: qemu-img probes
  if (format in QEMU_NAMES) return undefined;
  if (format === "unknown") return "the server could not tell its format";
  return `it is ${format}-compressed: download it without --format, decompress it, then convert it with qemu-img convert -O FORMAT`;
}

// Converts `file` in place: the converted file takes its name only once qemu-img succeeded; on
// failure the downloaded file stays as it was.
export async function convertInPlace(qemuImg: string, file: string, from: string | null | undefined, to: string): Promise<void> {
  const out = `${file}.converting`;
  const args = ["convert", ...(from && QEMU_NAMES[from] ? ["-f", QEMU_NAMES[from]!] : []), "-O", to, file, out];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(qemuImg, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (c) => (err += c));
      child.on("error", (e) => reject(new ClientError(`cannot run ${qemuImg}`, e.message)));
      child.on("close", (code) => (code === 0 ? resolve() : reject(new ClientError(`qemu-img could not convert ${file} to ${to}; the download is kept as it was`, err.trim() || `exit status ${code}`))));
    });
  } catch (e) {
    rmSync(out, { force: true });
    throw e;
  }
  renameSync(out, file);
}
