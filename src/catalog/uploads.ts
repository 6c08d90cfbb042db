// Resumable uploads (tus 1.0): a session is checked like a plain upload when it is created (who,
// which image and hypervisor, the quota from its length), then takes chunks in order, one request
// each, from any server process; the last one makes the blob whole and commits it as the image's
// next version, exactly as a plain upload commits. A chunk is all-or-nothing: an interrupted one
// is sent again from the session's offset. Abandoned sessions expire, on every store.
import { createHash, randomBytes, randomUUID, type Hash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import type { Actor } from "../policy/actor.js";
import { badRequest, conflict, notFound, RepomanError } from "../errors.js";
import * as qs from "../db/uploads.js";
import { BlobSizeError } from "../blobs/blob-store.js";
import { discardSessions, type Storage } from "./housekeeping.js";
import { imageTarget, recordChange } from "./audit.js";
import { DiskSniffer, HEAD_BYTES, identify, TAIL_BYTES, type DiskInfo } from "./disk-formats.js";
import { authorizeUploadTo, commitUpload, prepareUpload, type ImageView, type UploadTicket } from "./images.js";

export const DEFAULT_UPLOAD_EXPIRY_HOURS = 24;

export interface Session {
  id: string;
  length: number;
  offset: number;
  expires: string;
}

const expiresAfter = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
const view = (r: qs.SessionRow): Session => ({ id: r.id, length: r.length, offset: r.offset, expires: r.expires });

// The SHA-256 of each session's bytes so far, kept by the process that received them: the next
// chunk through the same process continues it. A chunk through another process (or after a
// restart) cannot, so the whole file is read back once to hash it when it completes.
const running = new Map<string, { offset: number; hash: Hash }>();
const RUNNING_MAX = 1000;

// A request of this process writing a chunk, by session: a client that reconnects after a lost
// connection takes over from its stale request (no bytes for a while) instead of waiting for the
// socket to time out; a request still receiving bytes keeps the upload.
const writers = new Map<string, { abort(): void; done: Promise<void>; lastData: number }>();
const STALLED_MS = 10_000;

export async function createSession(
  s: Storage,
  actor: Actor,
  target: { ownerName: string; name: string; hypervisor: string },
  length: number,
  comment: string | undefined,
  expiryHours: number,
): Promise<{ session: Session; image?: ImageView }> {
  const ticket = await s.db.transaction().execute((trx) => prepareUpload(trx, s, actor, target, length, comment));
  const handle = await s.blobs.startChunked(ticket.blobKey);
  const row: qs.SessionRow = {
    id: randomBytes(16).toString("hex"),
    image_id: ticket.imageId,
    hypervisor: ticket.hypervisor,
    blob_key: ticket.blobKey,
    user_id: actor.userId,
    comment: ticket.comment,
    length,
    offset: 0,
    chunks: 0,
    store_handle: handle,
    created: new Date().toISOString(),
    expires: expiresAfter(expiryHours),
    writer_server: null,
    writer_token: null,
  };
  try {
    await s.db.transaction().execute(async (trx) => {
      await qs.insertSession(trx, row);
      await recordChange(trx, actor, { action: "upload.start", target: await imageTarget(trx, row.image_id), after: { upload: row.id, hypervisor: row.hypervisor, length, comment: row.comment } });
    });
  } catch (e) {
    await s.blobs.delete(ticket.blobKey).catch(() => undefined);
    throw e;
  }
  running.set(row.id, { offset: 0, hash: createHash("sha256") });
  // An empty file is complete as soon as it is announced.
  if (length === 0) return { session: view(row), image: await complete(s, actor, row, createHash("sha256")) };
  return { session: view(row) };
}

// The creator's session; anyone else is told it does not exist.
async function ownSession(s: Storage, actor: Actor, id: string): Promise<qs.SessionRow> {
  const row = await qs.findSession(s.db, id);
  if (!row || row.user_id !== actor.userId) throw notFound("no such upload (it may have completed, been cancelled or expired)");
  if (row.expires <= new Date().toISOString()) throw new RepomanError("gone", `this upload expired at ${row.expires}; start a new one`);
  return row;
}

export async function sessionStatus(s: Storage, actor: Actor, id: string): Promise<Session> {
  return view(await ownSession(s, actor, id));
}

export interface Chunk {
  offset: number; // Upload-Offset
  length: number; // Content-Length
  sha256?: string | undefined; // Upload-Checksum, hex
}

// Everything that can refuse a chunk is checked before its body is read; then its bytes go to the
// blob store, and only a whole, verified chunk moves the offset. The last one commits the version.
export async function writeChunk(s: Storage, actor: Actor, id: string, chunk: Chunk, body: Readable, expiryHours: number, started: () => void): Promise<{ session: Session; image?: ImageView }> {
  const row = await ownSession(s, actor, id);
  await authorizeUploadTo(s.db, actor, row.image_id, row.hypervisor);
  if (chunk.offset !== row.offset) throw conflict(`Upload-Offset ${chunk.offset} is not the upload's offset, ${row.offset}: ask for it with HEAD and continue from there`);
  const end = chunk.offset + chunk.length;
  if (end > row.length) throw badRequest(`this chunk would end at byte ${end} of an upload of ${row.length}`);
  const last = end === row.length;
  if (!last && chunk.length < s.blobs.chunkSizes.min) throw badRequest(`chunks other than the last must be at least ${s.blobs.chunkSizes.min} bytes here`);
  if (chunk.length > s.blobs.chunkSizes.max) throw badRequest(`a chunk may be at most ${s.blobs.chunkSizes.max} bytes here`);
  const token = randomUUID();
  if (!(await qs.claimWriter(s.db, id, row.offset, s.serverId, token))) {
    const other = writers.get(id);
    const stale = other && Date.now() - other.lastData > STALLED_MS ? other : undefined;
    if (stale) {
      stale.abort();
      await stale.done;
    }
    if (!stale || !(await qs.claimWriter(s.db, id, row.offset, s.serverId, token))) {
      throw new RepomanError("conflict", "another request is writing to this upload; ask for its offset with HEAD and retry shortly");
    }
  }
  let finished!: () => void;
  let expires = row.expires;
  const writer = { abort: () => body.destroy(new Error("taken over by a newer request")), done: new Promise<void>((r) => (finished = r)), lastData: Date.now() };
  writers.set(id, writer);
  body.on("data", () => (writer.lastData = Date.now()));
  try {
    started();
    const prefix = running.get(id);
    const hash = prefix?.offset === row.offset ? prefix.hash.copy() : undefined;
    let stored;
    try {
      stored = chunk.length === 0 ? { size: 0, sha256: createHash("sha256").digest("hex"), etag: "" } : await s.blobs.putChunk(row.blob_key, { handle: row.store_handle, index: row.chunks + 1, offset: row.offset }, hash ? body.pipe(hashing(hash, body)) : body, { expectedSize: chunk.length });
    } catch (e) {
      if (e instanceof BlobSizeError) throw badRequest(`${e.message}; the chunk was not stored`);
      throw e;
    }
    if (chunk.sha256 !== undefined && chunk.sha256 !== stored.sha256) {
      throw new RepomanError("checksum_mismatch", `Upload-Checksum: the chunk's sha256 is ${stored.sha256}, not ${chunk.sha256}; it was not stored, send it again`);
    }
    if (chunk.length > 0) {
      expires = expiresAfter(expiryHours);
      const added = await s.db.transaction().execute((trx) => qs.addChunk(trx, id, token, { chunk: row.chunks + 1, size: stored.size, etag: stored.etag }, expires));
      if (!added) throw conflict("another request took this upload over; ask for its offset with HEAD");
      remember(id, end, hash);
    }
    const after = { ...row, offset: end, chunks: row.chunks + (chunk.length > 0 ? 1 : 0), expires };
    return { session: view(after), ...(last ? { image: await complete(s, actor, after, hash) } : {}) };
  } finally {
    await qs.releaseWriter(s.db, id, token);
    if (writers.get(id) === writer) writers.delete(id);
    finished();
  }
}

function remember(id: string, offset: number, hash: Hash | undefined) {
  running.delete(id);
  if (!hash) return;
  if (running.size >= RUNNING_MAX) running.delete(running.keys().next().value!);
  running.set(id, { offset, hash });
}

function hashing(hash: Hash, source: Readable): Transform {
  const t = new Transform({
    transform(piece: Buffer, _enc, done) {
      hash.update(piece);
      done(null, piece);
    },
  });
  source.on("error", (e) => t.destroy(e));
  return t;
}

// Makes the blob whole and commits it as a version; the session goes in the same transaction.
// Safe to repeat after a crash between the two: a blob already whole is not finished again.
async function complete(s: Storage, actor: Actor, row: qs.SessionRow, hash: Hash | undefined): Promise<ImageView> {
  if ((await s.blobs.size(row.blob_key)) !== row.length) await s.blobs.finishChunked(row.blob_key, row.store_handle, await qs.chunkEtags(s.db, row.id));
  let sha256 = hash?.digest("hex");
  let disk: DiskInfo;
  if (sha256 === undefined) {
    const whole = createHash("sha256");
    const sniffer = new DiskSniffer();
    for await (const piece of await s.blobs.get(row.blob_key)) {
      whole.update(piece as Buffer);
      sniffer.add(piece as Buffer);
    }
    sha256 = whole.digest("hex");
    disk = sniffer.result();
  } else {
    disk = await identifyBlob(s, row.blob_key, row.length);
  }
  running.delete(row.id);
  const ticket: UploadTicket = { imageId: row.image_id, hypervisor: row.hypervisor, blobKey: row.blob_key, maxBytes: undefined, by: actor, comment: row.comment };
  return commitUpload(s, ticket, { size: row.length, sha256, disk }, (trx) => qs.deleteSession(trx, row.id));
}

// The format of a whole blob, from its first and last bytes read back from the store: the chunks
// that held them may have passed through other processes, and a first chunk may be shorter than
// the header. At most HEAD_BYTES + TAIL_BYTES are read, however large the file.
async function identifyBlob(s: Storage, key: string, length: number): Promise<DiskInfo> {
  const read = async (start: number, end: number) => {
    const pieces: Buffer[] = [];
    for await (const piece of await s.blobs.get(key, { start, end })) pieces.push(piece as Buffer);
    return Buffer.concat(pieces);
  };
  const head = length === 0 ? Buffer.alloc(0) : await read(0, Math.min(length, HEAD_BYTES) - 1);
  const tail = length <= HEAD_BYTES ? head.subarray(Math.max(0, head.length - TAIL_BYTES)) : await read(length - TAIL_BYTES, length - 1);
  return identify(head, tail, length);
}

// Cancels the session: its bytes are deleted.
export async function terminate(s: Storage, actor: Actor, id: string): Promise<void> {
  const row = await ownSession(s, actor, id);
  running.delete(id);
  await discardSessions(s, [row], actor, "upload.cancel");
}
