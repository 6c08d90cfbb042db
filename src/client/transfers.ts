// Image files to and from the server, streamed (never held in memory) with one SHA-256 pass each
// way. Uploads wait for the server's "100 Continue", so a refused upload sends no bytes; downloads
// go to NAME.part, resume it with Range, and become NAME only once their checksum is right. Beside
// NAME.part, NAME.part.etag records which version's bytes it holds, so that a resumed download
// never splices two versions.
import { createHash, type Hash } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { createReadStream, createWriteStream, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ImageJson } from "./api.js";
import { errorFromReply, type Connection } from "./connection.js";
import { ClientError } from "./errors.js";

export type ProgressListener = (bytesSoFar: number) => void;

function hashing(hash: Hash, onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}

export interface UploadResult {
  image: ImageJson;
  sha256: string;
  bytes: number;
}

// Without a size the body is sent chunked (e.g. compressed on the fly).
export function upload(conn: Connection, path: string, source: () => Readable, size: number | undefined, onProgress?: ProgressListener): Promise<UploadResult> {
  const hash = createHash("sha256");
  let bytes = 0;
  const headers: Record<string, string | number> = { "content-type": "application/octet-stream", expect: "100-continue" };
  if (size !== undefined) headers["content-length"] = size;
  return new Promise((resolve, reject) => {
    const req = conn.open("PUT", `${path}${path.includes("?") ? "&" : "?"}timestamps=iso`, headers);
    let body: Readable | undefined;
    let answered = false;
    const send = () => {
      if (body || answered) return;
      body = source();
      body.on("error", (e) => {
        req.destroy();
        reject(new ClientError("cannot read the file being uploaded", e.message));
      });
      body.pipe(hashing(hash, (n) => onProgress?.((bytes += n)))).pipe(req);
    };
    // A server (or proxy) that ignores Expect gets the body anyway after a moment, as curl does.
    const fallback = setTimeout(send, 3000);
    req.on("continue", () => {
      clearTimeout(fallback);
      send();
    });
    req.on("response", (res) => {
      answered = true;
      clearTimeout(fallback);
      if (!body) req.end();
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => reject(conn.connectionError(e)));
      res.on("end", () => {
        body?.unpipe();
        body?.destroy();
        const reply = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
        if (reply.status < 200 || reply.status > 299) return reject(errorFromReply(reply));
        resolve({ image: JSON.parse(reply.body.toString("utf8")) as ImageJson, sha256: hash.digest("hex"), bytes });
      });
    });
    // Once the server has answered, a write error only means it stopped reading: the answer counts.
    req.on("error", (e) => {
      clearTimeout(fallback);
      if (!answered) reject(conn.connectionError(e));
    });
  });
}

export interface DownloadOptions {
  size: number;
  sha256: string; // of the version `path` names: also its ETag
  version: number;
  onProgress?: ProgressListener;
  onRestart?: (why: string) => void; // a partial download was thrown away
}

interface PartRecord {
  sha256: string;
  version: number;
}

function readPartRecord(file: string): PartRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as Partial<PartRecord>;
    return typeof r.sha256 === "string" && typeof r.version === "number" ? { sha256: r.sha256, version: r.version } : undefined;
  } catch {
    return undefined;
  }
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  await pipeline(createReadStream(file), hashing(hash, () => {}), async function* (s) {
    for await (const _ of s);
  });
}

function followRedirect(to: URL, range: string | undefined): Promise<IncomingMessage> {
  if (to.protocol !== "https:" && to.protocol !== "http:") throw new ClientError(`the server redirected the download to ${to.protocol} URL`);
  return new Promise((resolve, reject) => {
    const req = (to.protocol === "https:" ? https : http).get(to, { headers: range ? { range } : {} }, resolve);
    req.on("error", (e) => reject(new ClientError(`Cannot download from the object store the server redirected to (${to.host})`, e.message)));
  });
}

export const partialFile = (dest: string) => `${dest}.part`;
const partRecordFile = (dest: string) => `${partialFile(dest)}.etag`;

// Whether NAME.part can be continued: only if it holds the bytes of the version asked for.
function resumable(dest: string, opts: DownloadOptions): number {
  const part = partialFile(dest);
  if (!existsSync(part)) return 0;
  const record = readPartRecord(partRecordFile(dest));
  const offset = statSync(part).size;
  let restarted: string | undefined;
  if (!record) restarted = `nothing records which version ${part} holds`;
  else if (record.sha256 !== opts.sha256) restarted = `${part} holds version ${record.version} (sha256 ${record.sha256.slice(0, 12)}…), but version ${opts.version} (sha256 ${opts.sha256.slice(0, 12)}…) is being downloaded`;
  else if (offset > opts.size) restarted = `${part} is longer than version ${opts.version}`;
  if (restarted === undefined) return offset;
  rmSync(part);
  opts.onRestart?.(restarted);
  return 0;
}

// Resolves with the offset the download resumed from (0 for a fresh one).
export async function download(conn: Connection, path: string, dest: string, opts: DownloadOptions): Promise<number> {
  const part = partialFile(dest);
  let offset = resumable(dest, opts);
  writeFileSync(partRecordFile(dest), JSON.stringify({ sha256: opts.sha256, version: opts.version } satisfies PartRecord));
  let hash = createHash("sha256");
  if (offset > 0) await hashFile(part, hash);
  let received = offset;
  opts.onProgress?.(received);
  if (offset < opts.size || opts.size === 0) {
    const headers: Record<string, string> = {};
    // If-Range: should the file not be the one the partial download holds, the server sends all of it.
    if (offset > 0) Object.assign(headers, { range: `bytes=${offset}-`, "if-range": `"${opts.sha256}"` });
    let res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = conn.open("GET", path, headers);
      req.on("error", (e) => reject(conn.connectionError(e)));
      req.on("response", resolve);
      req.end();
    });
    if (res.statusCode === 307 && res.headers.location) {
      // A server on object storage may send the bytes from there: a short-lived presigned URL for
      // exactly this file, so the range still applies and If-Range (already checked) is not sent.
      res.resume();
      res = await followRedirect(new URL(res.headers.location, `https://${conn.endpoint.host}:${conn.endpoint.port}`), headers.range);
    }
    if (res.statusCode === 200 && offset > 0) {
      opts.onRestart?.(`the server sent version ${opts.version} whole instead of the rest of ${part}`);
      offset = 0;
      received = 0;
      hash = createHash("sha256");
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw errorFromReply({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
    }
    try {
      await pipeline(res, hashing(hash, (n) => opts.onProgress?.((received += n))), createWriteStream(part, { flags: offset > 0 ? "a" : "w" }));
    } catch (e) {
      throw new ClientError(`the download was interrupted after ${received} of ${opts.size} bytes`, `${conn.connectionError(e).detail ?? (e as Error).message}. Run the same command again to resume it from ${part}.`);
    }
  }
  if (received !== opts.size) throw new ClientError(`the download ended after ${received} of ${opts.size} bytes`, `Run the same command again to resume it from ${part}.`);
  const sha256 = hash.digest("hex");
  if (sha256 !== opts.sha256) {
    rmSync(part, { force: true });
    rmSync(partRecordFile(dest), { force: true });
    throw new ClientError(`checksum mismatch: the server said sha256 ${opts.sha256}, the download has ${sha256}`, "The downloaded file was deleted; try again.");
  }
  renameSync(part, dest);
  rmSync(partRecordFile(dest), { force: true });
  return offset;
}
