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

// Python 2 on a UCS-4 build (Linux), for values json.loads() made: unicode strings, ints, floats,
// None, True, False, lists and dicts. Dict keys sort by code point, as unicode strings compare.
const byCodePoint = (a: string, b: string) => {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
};
const sortedKeys = (o: object) => Object.keys(o).sort(byCodePoint);
const isDict = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");

// repr() of a unicode string: u'...', or u"..." when it holds a ' and no "; backslash escapes for
// the quote, \\, \t, \n, \r, other control and non-ASCII characters (\xNN, \uNNNN, \UNNNNNNNN).
export function pyUnicodeRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = `u${quote}`;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (c >= 0x10000) out += `\\U${hex(c, 8)}`;
    else if (c >= 0x100) out += `\\u${hex(c, 4)}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c >= 0x7f) out += `\\x${hex(c, 2)}`;
    else out += ch;
  }
  return out + quote;
}

// repr() of a number as json.loads() reads what the server (JSON.stringify) wrote: whole numbers
// below 1e21 are written as digits, so Python read an int (sizes, versions); the rest are floats,
// printed as Python's shortest repr.
export function pyNumberRepr(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  const [mantissa, e] = n.toExponential().split("e") as [string, string];
  const exp = Number(e);
  const digits = mantissa.replace(/[-.]/g, "");
  const sign = n < 0 ? "-" : "";
  if (exp < -4 || exp >= 16) return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  return `${sign}${digits.slice(0, exp + 1).padEnd(exp + 1, "0")}.${digits.slice(exp + 1) || "0"}`;
}

// Python 2's repr() of decoded JSON: what the original printed for nested values.
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return pyNumberRepr(v);
  if (typeof v === "string") return pyUnicodeRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  const o = v as Record<string, unknown>;
  return `{${sortedKeys(o)
    .map((k) => `${pyUnicodeRepr(k)}: ${pyRepr(o[k])}`)
    .join(", ")}}`;
}

// Python 2.7's pprint.pformat() (width 80, indent 1) of decoded JSON, without the newline
// pprint.pprint() adds: a dict or list whose repr does not fit in the room left on its line puts
// each item on a line of its own, indented under the first; anything else is its repr.
export function pyPformat(value: unknown, width = 80): string {
  const out: string[] = [];
  const format = (v: unknown, indent: number, allowance: number): void => {
    const rep = pyRepr(v);
    const separateLines = rep.length > width - 1 - indent - allowance;
    if (isDict(v)) {
      out.push("{");
      sortedKeys(v).forEach((k, i) => {
        const key = pyUnicodeRepr(k);
        out.push(i === 0 ? `${key}: ` : separateLines ? `,\n${" ".repeat(indent + 1)}${key}: ` : `, ${key}: `);
        format(v[k], indent + 1 + key.length + 2, allowance + 1);
      });
      out.push("}");
    } else if (Array.isArray(v)) {
      out.push("[");
      v.forEach((item, i) => {
        if (i > 0) out.push(separateLines ? `,\n${" ".repeat(indent + 1)}` : ", ");
        format(item, indent + 1, allowance + 1);
      });
      out.push("]");
    } else out.push(rep);
  };
  format(value, 0, 0);
  return out.join("");
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
