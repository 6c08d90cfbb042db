// HTTP range and conditional requests for image downloads (RFC 9110 §13, §14).
import type { IncomingHttpHeaders } from "node:http";

export type RangeDecision = { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

// One range is served as 206; several (rare for images) are answered with the whole file, as the
// RFC allows. A syntactically invalid Range header is ignored.
export function decideRange(headers: IncomingHttpHeaders, size: number, etag: string, lastModified: Date): RangeDecision {
  const header = headers.range;
  if (!header) return { kind: "full" };
  const ifRange = headers["if-range"] as string | undefined;
  if (ifRange !== undefined) {
    // A date must be exactly the Last-Modified (RFC 9110 §13.1.5): an older copy's date must not match.
    const matches = ifRange.startsWith('"') || ifRange.startsWith("W/") ? ifRange === etag : Date.parse(ifRange) === Math.floor(lastModified.getTime() / 1000) * 1000;
    if (!matches) return { kind: "full" };
  }
  const m = /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "full" };
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: "unsatisfiable" };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return { kind: "full" };
  }
  if (start >= size || size === 0) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}

export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
