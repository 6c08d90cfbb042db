// The client's log ([Logger]): one line per event in DIR/repoman-client.log, rotated when a new
// day starts, ten old files kept, as the original's TimedRotatingFileHandler did.
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type Level = (typeof LEVELS)[number];

const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

export class LogFile {
  readonly file: string;
  private readonly threshold: number;

  constructor(dir: string, level: string) {
    this.file = join(dir, "repoman-client.log");
    this.threshold = Math.max(0, LEVELS.indexOf(level.toUpperCase() as Level));
    mkdirSync(dir, { recursive: true });
    this.rotate(dir);
  }

  private rotate(dir: string): void {
    if (!existsSync(this.file)) return;
    const written = statSync(this.file).mtime;
    if (day(written) === day(new Date())) return;
    renameSync(this.file, `${this.file}.${day(written)}`);
    const old = readdirSync(dir)
      .filter((n) => n.startsWith("repoman-client.log."))
      .sort()
      .reverse();
    for (const n of old.slice(10)) rmSync(join(dir, n), { force: true });
  }

  write(level: Level, message: string): void {
    if (LEVELS.indexOf(level) < this.threshold) return;
    appendFileSync(this.file, `${new Date().toISOString()} ${level} ${message}\n`);
  }
}
