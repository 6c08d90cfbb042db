// The copy of the source that becomes the image: a staging directory kept between runs (so a
// later snapshot copies only what changed), filled by rsync with hard links, ACLs, extended
// attributes and sparse files preserved, the configured excludes left out, one lock at a time.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { relative } from "node:path";
import { ClientError } from "../../../client/errors.js";
import { diskMountsBelow } from "./system.js";
import type { Tools } from "./tools.js";

export class Lock {
  private constructor(private readonly file: string) {}

  // A lock left by a process that is gone is taken over.
  static take(file: string): Lock {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, "wx", 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new Lock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new ClientError(`Unable to obtain lock ${file}`, (e as Error).message);
        const pid = Number(readFileSync(file, "utf8").trim());
        if (pid > 0 && isRunning(pid)) throw new ClientError(`Unable to obtain lock ${file}`, `Another save-image (process ${pid}) is running.`);
        rmSync(file, { force: true });
      }
    }
    throw new ClientError(`Unable to obtain lock ${file}`);
  }

  release(): void {
    rmSync(this.file, { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

// Patterns from the configuration, plus save-image's own files when they lie inside the source
// (the original relied on /tmp being excluded, and copied its snapshot into itself otherwise).
export function excludesFor(source: string, patterns: string[], ownFiles: string[]): string[] {
  const own = ownFiles
    .map((f) => relative(source, f))
    .filter((r) => r !== "" && !r.startsWith("..") && !r.startsWith("/"))
    .map((r) => `/${r}`);
  return [...patterns, ...own];
}

export async function copyToStaging(tools: Tools, source: string, staging: string, excludes: string[], opts: { progress: boolean; verbose: boolean }): Promise<void> {
  // One filesystem at a time (-x), plus the other disk filesystems mounted inside the source,
  // each named relative to the source (/./) so that they land in the right place.
  const base = source.endsWith("/") ? source : `${source}/`;
  const sources = [`${base}./`, ...diskMountsBelow(source).map((m) => `${base}./${relative(source, m)}/`)];
  const args = ["-aHAXx", "--relative", "--sparse", "--numeric-ids", "--delete", "--delete-excluded", ...excludes.map((e) => `--exclude=${e}`)];
  if (opts.progress) args.push("--info=progress2");
  if (opts.verbose) args.push("--stats");
  // 24: files vanished while copying a live system, which is expected.
  await tools.run("rsync", [...args, ...sources, `${staging}/`], { why: "to copy the system", okCodes: [24], passThrough: opts.progress || opts.verbose });
}

export async function bytesUsed(tools: Tools, dir: string): Promise<number> {
  const out = await tools.run("du", ["-s", "-x", "-B1", dir], { why: "to measure the copy" });
  return Number(out.split(/\s/)[0]);
}
