// A one-line progress bar (bytes, rate, time left) for transfers, drawn only on a terminal: logs
// and scripts get no carriage-return noise.

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// `total` undefined: the size is not known in advance (compressed on the fly).
export function progressLine(label: string, done: number, total: number | undefined, elapsedSeconds: number, width = 20): string {
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  if (total === undefined) return `${label} ${formatBytes(done)} ${formatBytes(rate)}/s`;
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  return `${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}`;
}

export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  update = (done: number): void => {
    this.done = done;
    const now = Date.now();
    if (!this.enabled || now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.draw();
  };

  finish(): void {
    if (!this.enabled) return;
    this.draw();
    this.out.write("\n");
  }

  private draw(): void {
    const line = progressLine(this.label, this.done, this.total, (Date.now() - this.started) / 1000);
    // A pseudo-terminal without a size reports 0 columns.
    const columns = this.out.columns || 80;
    this.out.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }
}
