// The original client's text output: `[OK]` lines, `key : value` dumps of one object (keys sorted,
// right-aligned, values as Python 2 printed them) and column tables. Scripts parse these, so
// they keep the original's exact shape and only its keys.
import type { GroupJson, ImageJson, UserJson } from "../../client/api.js";
import { nameFromUrl } from "../../client/api.js";

export const okLine = (message: string) => `[OK]     ${message}`;

export const USER_KEYS = ["user_name", "full_name", "email", "client_dn", "suspended", "permissions", "groups", "images"] as const;
export const GROUP_KEYS = ["name", "permissions", "users"] as const;
export const IMAGE_KEYS = [
  "uuid",
  "name",
  "owner_user_name",
  "owner",
  "uploaded",
  "modified",
  "expires",
  "checksum",
  "os_variant",
  "os_type",
  "os_arch",
  "hypervisor",
  "description",
  "read_only",
  "unauthenticated_access",
  "http_file_url",
  "raw_file_uploaded",
  "version",
  "size",
  "file_url",
  "shared_with",
] as const;

// Python 2's repr() of decoded JSON: what the original printed for nested values.
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return `u'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `u'${k}': ${pyRepr(o[k])}`)
    .join(", ")}}`;
}

// Python 2's str() of a top-level value; lists were joined with ", ".
export function pyStr(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map((x) => (typeof x === "string" ? x : pyRepr(x))).join(", ");
  return pyRepr(v);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// C's ctime() of local time, e.g. "Thu Nov 11 00:04:59 2010".
export function localCtime(iso: string | null): string | null {
  if (iso === null) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

export function dump(obj: Record<string, unknown>, keys: readonly string[]): string {
  const sorted = [...keys].sort();
  const width = Math.max(...sorted.map((k) => k.length));
  return sorted.map((k) => `${k.padStart(width)} : ${pyStr(obj[k])}`).join("\n") + "\n\n";
}

export const dumpUser = (u: UserJson) => dump(u as unknown as Record<string, unknown>, USER_KEYS);
export const dumpGroup = (g: GroupJson) => dump(g as unknown as Record<string, unknown>, GROUP_KEYS);

export function dumpImage(i: ImageJson): string {
  return dump(
    {
      ...i,
      owner: nameFromUrl(i.owner),
      uploaded: localCtime(i.uploaded),
      modified: localCtime(i.modified),
      expires: localCtime(i.expires),
    },
    IMAGE_KEYS,
  );
}

// Columns as wide as their widest cell, one space apart, a header and a line of dashes.
export function table(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join(" ")
      .trimEnd();
  const total = widths.reduce((a, b) => a + b, 0) + widths.length - 1;
  return [line(headers), "-".repeat(total), ...rows.map(line)].join("\n") + "\n";
}

export const byName = (a: string, b: string) => a.toLowerCase().localeCompare(b.toLowerCase());
