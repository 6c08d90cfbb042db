// The programs save-image runs: always with an argument array (never a shell), with PATH set to
// [Security] restricted_path, and with a message naming the package when one is missing.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { ClientError } from "../../../client/errors.js";

const PACKAGES: Record<string, string> = {
  rsync: "rsync",
  mke2fs: "e2fsprogs",
  debugfs: "e2fsprogs",
  du: "coreutils",
  dd: "coreutils",
  findmnt: "util-linux",
  losetup: "util-linux",
  mount: "mount",
  umount: "mount",
  "grub-install": "grub-pc-bin (and grub2-common)",
};

export class Tools {
  constructor(
    private readonly path: string,
    private readonly verbose: boolean,
  ) {}

  find(name: string): string | undefined {
    for (const dir of this.path.split(":").filter(Boolean)) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not in this directory
      }
    }
    return undefined;
  }

  require(name: string, why: string): string {
    const found = this.find(name);
    if (!found) throw new ClientError(`save-image needs ${name} ${why}, and it is not in ${this.path}`, `Install it (Debian package ${PACKAGES[name] ?? name}), or add its directory to [Security] restricted_path in /etc/repoman/repoman.conf.`);
    return found;
  }

  // Resolves with standard output; `passThrough` shows the program's output as it runs.
  run(name: string, args: string[], opts: { why: string; okCodes?: number[]; passThrough?: boolean } = { why: "" }): Promise<string> {
    const program = this.require(name, opts.why);
    const show = opts.passThrough ?? this.verbose;
    if (this.verbose) process.stderr.write(`+ ${[name, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { env: { ...process.env, PATH: this.path, LC_ALL: "C" }, stdio: ["ignore", show ? "inherit" : "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout?.on("data", (c) => (out += c));
      child.stderr!.on("data", (c) => {
        err += c;
        if (show) process.stderr.write(c);
      });
      child.on("error", (e) => reject(new ClientError(`cannot run ${name}`, e.message)));
      child.on("close", (code, signal) => {
        if (code !== null && (code === 0 || opts.okCodes?.includes(code))) return resolve(out);
        reject(new ClientError(`${name} failed (${signal ?? `exit status ${code}`})`, err.trim().split("\n").slice(-5).join("\n\t") || undefined));
      });
    });
  }
}
