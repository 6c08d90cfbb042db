// Resumable uploads from a local file, with the server's tus 1.0 protocol: the file goes in
// chunks, each checked by the server against its SHA-256; a chunk that fails (a dropped
// connection, a reset, a server restart) is sent again from the offset the server reports, and a
// run that was killed continues where the server has bytes, found through a small state file
// under ~/.repoman/uploads that names the upload for this file.
import { createHash, type Hash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join, resolve } from "node:path";
import { imagePath, type ImageJson } from "./api.js";
import { errorFromReply, type Connection, type Reply } from "./connection.js";
import { ApiError, ClientError } from "./errors.js";

const TUS = { "tus-resumable": "1.0.0" };
export const DEFAULT_CHUNK_MIB = 32;

export interface ResumableTarget {
  owner: string;
  image: string;
  hypervisor: string;
  comment?: string | undefined;
}

export interface ResumableOptions {
  stateDir: string; // ~/.repoman/uploads
  chunkBytes: number;
  restart: boolean; // forget (and cancel) an earlier upload of this file
  retries: number; // attempts per chunk
  onResume?: (offset: number) => void;
  onProgress?: (bytesSoFar: number) => void;
  onRetry?: (why: string, attempt: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface ResumableResult {
  image: ImageJson;
  sha256: string;
  resumedAt: number;
}

// Which upload a local file's state file names: the same file (path, size, modification time)
// going to the same image's hypervisor on the same server.
function stateFile(conn: Connection, target: ResumableTarget, file: string, dir: string): string {
  const st = statSync(file);
  const id = createHash("sha256")
    .update(JSON.stringify([conn.endpoint.host, conn.endpoint.port, target.owner, target.image, target.hypervisor, resolve(file), st.size, st.mtimeMs]))
    .digest("hex")
    .slice(0, 32);
  return join(dir, `${id}.json`);
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

const send = (conn: Connection, method: string, path: string, headers: Record<string, string | number>, body?: Buffer): Promise<Reply> =>
  conn.request(method, path, { headers: { ...TUS, ...headers }, ...(body ? { body } : {}) });

// The offset the server has for an upload, or undefined when it no longer knows it.
async function offsetOf(conn: Connection, url: string): Promise<number | undefined> {
  const r = await send(conn, "HEAD", url, {});
  if (r.status === 404 || r.status === 410) return undefined;
  if (r.status !== 200) throw errorFromReply(r);
  return Number(r.headers["upload-offset"]);
}

async function create(conn: Connection, target: ResumableTarget, size: number): Promise<{ url: string; image?: ImageJson }> {
  const meta = [`image ${b64(target.image)}`, `hypervisor ${b64(target.hypervisor)}`, `owner ${b64(target.owner)}`];
  if (target.comment !== undefined) meta.push(`comment ${b64(target.comment)}`);
  const r = await send(conn, "POST", "/api/uploads", { "upload-length": size, "upload-metadata": meta.join(","), "content-length": 0 });
  if (r.status !== 201) throw errorFromReply(r);
  // An empty file is complete at once: the answer has the image.
  return { url: new URL(String(r.headers.location)).pathname, image: (JSON.parse(r.body.toString("utf8")) as { image?: ImageJson }).image };
}

// Hashes bytes [start, end) of the file: what the server has without this run having sent it.
async function hashRange(file: string, start: number, end: number, hash: Hash): Promise<void> {
  if (end <= start) return;
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(Math.min(end - start, 4 << 20));
    for (let at = start; at < end; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - at), at);
      if (bytesRead === 0) throw new ClientError(`${file} is shorter than the part already uploaded`);
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

// Errors worth another try: the connection, the server's own trouble, or another request still
// holding the upload. Anything else (refused, gone, bad input) is final.
const retryable = (e: unknown) => !(e instanceof ApiError) || e.status >= 500 || e.status === 409 || e.status === 460;

export async function resumableUpload(conn: Connection, target: ResumableTarget, file: string, opts: ResumableOptions): Promise<ResumableResult> {
  const size = statSync(file).size;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const state = stateFile(conn, target, file, opts.stateDir);
  let url: string | undefined;
  try {
    url = (JSON.parse(readFileSync(state, "utf8")) as { url?: string }).url;
  } catch {
    url = undefined;
  }
  if (url && opts.restart) {
    await send(conn, "DELETE", url, {}).catch(() => undefined);
    url = undefined;
  }
  const known = url ? await offsetOf(conn, url) : undefined;
  let image: ImageJson | undefined;
  let offset = 0;
  if (url === undefined || known === undefined) {
    ({ url, image } = await create(conn, target, size));
    writeFileSync(state, JSON.stringify({ url, file: resolve(file), created: new Date().toISOString() }), { mode: 0o600 });
  } else offset = known;
  const at = url;
  const resumedAt = offset;
  const hash = createHash("sha256");
  if (offset > 0) {
    opts.onResume?.(offset);
    await hashRange(file, 0, offset, hash);
  }
  opts.onProgress?.(offset);
  let gone = false;
  const fh = await open(file, "r");
  try {
    while (image === undefined && !gone && offset < size) {
      const length = Math.min(opts.chunkBytes, size - offset);
      const chunk = Buffer.alloc(length);
      const { bytesRead }: { bytesRead: number } = await fh.read(chunk, 0, length, offset);
      if (bytesRead !== length) throw new ClientError(`${file} changed while it was being uploaded`, "Run the command again once the file is complete.");
      const checksum = createHash("sha256").update(chunk).digest("base64");
      let moved: number = offset + length;
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await send(conn, "PATCH", at, { "content-type": "application/offset+octet-stream", "upload-offset": offset, "upload-checksum": `sha256 ${checksum}`, "content-length": length }, chunk);
          if (r.status !== 200 && r.status !== 204) throw errorFromReply(r);
          if (r.status === 200) image = JSON.parse(r.body.toString("utf8")) as ImageJson;
          break;
        } catch (e) {
          if (!retryable(e) || attempt >= opts.retries) throw e;
          opts.onRetry?.(e instanceof ClientError ? `${e.message}${e.detail ? ` (${e.detail})` : ""}` : String(e), attempt);
          await sleep(Math.min(30_000, 500 * 2 ** (attempt - 1)));
          // Where is the server now? The chunk may have arrived whole before the connection
          // broke, or another run of the same command may be sending this file too.
          const now = await offsetOf(conn, at).catch(() => offset);
          if (now === undefined) gone = true;
          else if (now < offset) throw new ClientError(`the server's offset for this upload went back from ${offset} to ${now}`, "Run the command again: it continues from the server's offset.");
          else if (now !== offset) moved = now;
          else continue;
          break;
        }
      }
      if (gone) break;
      hash.update(chunk.subarray(0, Math.min(length, moved - offset)));
      await hashRange(file, offset + length, moved, hash);
      offset = moved;
      opts.onProgress?.(offset);
    }
    // The server no longer has the upload: completed by another run (or after an answer that was
    // lost), or cancelled. Which one, the image's checksum says.
    if (gone) await hashRange(file, offset, size, hash);
  } finally {
    await fh.close();
  }
  rmSync(state, { force: true });
  const sha256 = hash.digest("hex");
  image ??= await conn.json<ImageJson>("GET", `${imagePath(target.owner, target.image)}?timestamps=iso`);
  if (gone && image.files?.[target.hypervisor]?.checksum.value !== sha256) {
    throw new ClientError("the upload was cancelled or expired on the server before it was complete; nothing was stored", "Run the command again to start it anew.");
  }
  return { image, sha256, resumedAt };
}
