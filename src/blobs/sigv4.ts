// AWS Signature Version 4 for S3, in headers and in presigned URLs: the one piece of the S3
// protocol that must be exactly right, kept apart so that it can be checked against AWS's own
// published examples (test/unit/sigv4.test.ts).
import { createHash, createHmac } from "node:crypto";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SignableRequest {
  method: string;
  url: URL; // path already encoded as it goes on the wire (see encodeKey)
  headers: Record<string, string>; // lower-case names; host is added
  payloadSha256: string; // hex, or "UNSIGNED-PAYLOAD"
}

export const EMPTY_SHA256 = createHash("sha256").digest("hex");
const sha256hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const hmac = (key: Buffer | string, s: string) => createHmac("sha256", key).update(s).digest();

// RFC 3986 unreserved characters stay; everything else is %XX. In object keys '/' stays too.
export function uriEncode(s: string, keepSlash = false): string {
  const encoded = encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return keepSlash ? encoded.replace(/%2F/g, "/") : encoded;
}

export const encodeKey = (key: string) => uriEncode(key, true);

function amzDate(at: Date): string {
  return at.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function signature(creds: Credentials, region: string, at: Date, canonicalRequest: string): { scope: string; signature: string } {
  const day = amzDate(at).slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate(at), scope, sha256hex(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac("AWS4" + creds.secretAccessKey, day), region), "s3"), "aws4_request");
  return { scope, signature: createHmac("sha256", key).update(toSign).digest("hex") };
}

// Adds host, x-amz-date, x-amz-content-sha256 (and the session token) and the Authorization header.
export function signRequest(req: SignableRequest, creds: Credentials, region: string, at = new Date()): Record<string, string> {
  const headers: Record<string, string> = { ...req.headers, host: req.url.host, "x-amz-date": amzDate(at), "x-amz-content-sha256": req.payloadSha256 };
  if (creds.sessionToken) headers["x-amz-security-token"] = creds.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const canonical = [req.method, req.url.pathname, canonicalQuery(req.url), canonicalHeaders, signedHeaders, req.payloadSha256].join("\n");
  const { scope, signature: sig } = signature(creds, region, at, canonical);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`;
  return headers;
}

// A URL anyone can GET until it expires: the signature covers the path, the query and the host.
export function presignUrl(url: URL, creds: Credentials, region: string, expiresSeconds: number, at = new Date()): URL {
  const out = new URL(url);
  const day = amzDate(at).slice(0, 8);
  out.searchParams.set("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  out.searchParams.set("X-Amz-Credential", `${creds.accessKeyId}/${day}/${region}/s3/aws4_request`);
  out.searchParams.set("X-Amz-Date", amzDate(at));
  out.searchParams.set("X-Amz-Expires", String(expiresSeconds));
  if (creds.sessionToken) out.searchParams.set("X-Amz-Security-Token", creds.sessionToken);
  out.searchParams.set("X-Amz-SignedHeaders", "host");
  const canonical = ["GET", out.pathname, canonicalQuery(out), `host:${out.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  out.searchParams.set("X-Amz-Signature", signature(creds, region, at, canonical).signature);
  // URLSearchParams writes spaces as '+'; S3 reads '+' as a plus sign, so use %20 throughout.
  out.search = out.search.replace(/\+/g, "%20");
  return out;
}

export { sha256hex };
