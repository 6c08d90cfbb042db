// Numbers and times for people.

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

const COMPRESSED = new Set(["gzip", "xz", "zstd"]);

/** A disk format with the size of the disk it holds: "qcow2, 10.0 GiB disk", "gzip-compressed". */
export function diskFormat(format, virtualSize) {
  if (COMPRESSED.has(format)) return `${format}-compressed`;
  return virtualSize === null || virtualSize === undefined ? format : `${format}, ${bytes(virtualSize)} disk`;
}

const fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** An ISO timestamp as local time, or a dash. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : fmt.format(d);
}

const fmtSeconds = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** An ISO timestamp as local time to the second (for logs, where minutes are too coarse). */
export function whenExact(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : fmtSeconds.format(d);
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
