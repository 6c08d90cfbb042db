// What every benchmark script shares: test files, a fair page cache, server CPU per job, and a
// table of figures with ratios against nginx's column, appended to bench/RESULTS.md.
import { appendFileSync, closeSync, openSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { cpuSeconds } from "./load.js";

export const MiB = 1024 * 1024;

export function makeFile(path: string, size: number) {
  const block = randomBytes(16 * MiB);
  const fd = openSync(path, "w");
  for (let written = 0; written < size; written += block.length) writeSync(fd, block, 0, Math.min(block.length, size - written));
  closeSync(fd);
}

// Writes and deletes a scratch file as large as the upload that follows. On a VM, writing into
// memory the guest has never touched costs the hypervisor's first touch on top of the page cache
// (measured here: 1 GiB of writes took 2.1-2.8 s into fresh memory, 0.2 s into just-freed
// memory), and whichever server ran first in a fresh VM would get the cheap pages. This way every
// server writes into memory the VM has already backed.
export function warmPageCache(dir: string, bytes: number) {
  const scratch = join(dir, "page-cache-warmer");
  makeFile(scratch, bytes);
  rmSync(scratch);
}

export const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

// The server's CPU time for `work`: on two cores shared with the client, MB/s depends on who gets
// the CPU; CPU-seconds per GiB say what each byte costs the server.
export async function measured<T>(pids: () => number[], work: () => Promise<T>): Promise<[T, number]> {
  const before = cpuSeconds(pids());
  const result = await work();
  return [result, cpuSeconds(pids()) - before];
}

interface Row {
  unit: string;
  better: "higher" | "lower";
  target?: string;
  // Ratios against the reference's figure in this other row (when the reference cannot do this one).
  compareTo?: string;
  values: Map<string, number>;
}

// Figures by metric and column; the first column is the reference every ratio is taken against.
export class Report {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly columns: readonly string[]) {}

  record(metric: string, column: string, value: number, unit: string, better: "higher" | "lower" = "higher", target?: string, compareTo?: string) {
    const row = this.rows.get(metric) ?? { unit, better, ...(target ? { target } : {}), ...(compareTo ? { compareTo } : {}), values: new Map() };
    row.values.set(column, value);
    this.rows.set(metric, row);
    process.stderr.write(`  ${column.padEnd(22)} ${metric}: ${value.toFixed(1)} ${unit}\n`);
  }

  table(): string {
    const [reference, ...others] = this.columns as [string, ...string[]];
    const fmt = (v: number | undefined) => (v === undefined ? "" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
    // Above 1 is better than the reference in every row, whichever way the metric itself goes.
    const ratio = (row: Row, v: number | undefined) => {
      const ref = (row.compareTo ? this.rows.get(row.compareTo) : row)?.values.get(reference);
      return v === undefined || ref === undefined ? "" : `${(row.better === "higher" ? v / ref : ref / v).toFixed(2)}×`;
    };
    const lines = [
      `| metric | unit | ${reference} | ${others.map((c) => `${c} | ratio`).join(" | ")} | target |`,
      `|---|---|--:|${others.map(() => "--:|--:").join("|")}|---|`,
    ];
    for (const [metric, row] of this.rows) {
      const cells = others.map((c) => `${fmt(row.values.get(c))} | ${ratio(row, row.values.get(c))}`);
      lines.push(`| ${metric} | ${row.unit} | ${fmt(row.values.get(reference))} | ${cells.join(" | ")} | ${row.target ?? ""} |`);
    }
    return lines.join("\n");
  }

  // Prints the table under a dated heading and, unless this was a quick check, appends it to RESULTS.md.
  publish(title: string, started: number, save: boolean) {
    const header = [
      `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC${title}`,
      "",
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB; Node ${process.version} (OpenSSL ${process.versions.openssl}); nginx 1.22 (2 workers); one client process on the same machine; run took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
      "",
      "",
    ].join("\n");
    const out = `${header}${this.table()}\n`;
    process.stdout.write(out);
    if (save) appendFileSync(new URL("../../bench/RESULTS.md", import.meta.url), `\n${out}`);
  }
}
