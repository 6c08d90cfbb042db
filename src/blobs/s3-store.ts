// Blobs as objects in an S3 bucket (Ceph RGW, AWS S3, …). A put streams the body as a multipart
// upload, a few parts in flight at once, hashing as it goes; the object appears only when the
// upload completes, so a failed or interrupted put leaves no object, and its multipart upload is
// aborted (or, after a crash, found and aborted by delete() or cleanupIncomplete()).
import type { Readable } from "node:stream";
import { checkKey, Meter, type BlobStore, type CounterFamily, type ByteRange, type ChunkPlace, type ChunkResult, type PutOptions, type PutResult } from "./blob-store.js";
import { S3Client, S3Error } from "./s3-client.js";

export interface S3StoreOptions {
  prefix: string; // "" or "some/prefix" (no leading or trailing slash)
  partSize: number; // bytes
  parallelParts: number;
}

const MIB = 1024 * 1024;
const MAX_PARTS = 10_000; // S3's limit
export const MIN_PART_SIZE = 5 * MIB; // S3's limit, except for the last part
// A chunk of a resumable upload is one part, held in memory to be signed: this bounds it.
export const MAX_CHUNK_SIZE = 128 * MIB;

export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  readonly chunkSizes = { min: MIN_PART_SIZE, max: MAX_CHUNK_SIZE };

  constructor(
    readonly s3: S3Client,
    private readonly opts: S3StoreOptions,
  ) {}

  private objectKey(key: string): string {
    checkKey(key);
    return this.opts.prefix ? `${this.opts.prefix}/${key}` : key;
  }

  // Parts large enough that the announced size fits in S3's 10,000 parts.
  private partSize(expectedSize: number | undefined): number {
    const needed = expectedSize === undefined ? 0 : Math.ceil(expectedSize / MAX_PARTS / MIB) * MIB;
    return Math.max(this.opts.partSize, needed);
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<PutResult> {
    const objectKey = this.objectKey(key);
    const partSize = this.partSize(opts.expectedSize);
    const meter = new Meter(opts);
    let chunks: Buffer[] = [];
    let buffered = 0;
    let uploadId: string | undefined;
    const etags: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;

    const send = async (part: Buffer) => {
      uploadId ??= await this.s3.createMultipartUpload(objectKey);
      const n = etags.length + 1;
      if (n > MAX_PARTS) throw new Error(`upload too large for ${MAX_PARTS} parts of ${partSize} bytes: send Content-Length, or raise part_size`);
      etags.push("");
      const id = uploadId;
      const p = this.s3.uploadPart(objectKey, id, n, part).then(
        (etag) => void (etags[n - 1] = etag),
        (e) => void (failure ??= e),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      // Reading pauses (and TCP pushes back on the client) while all parallel parts are busy.
      while (inFlight.size >= this.opts.parallelParts) await Promise.race(inFlight);
      if (failure) throw failure;
    };

    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        meter.add(chunk);
        chunks.push(chunk);
        buffered += chunk.length;
        while (buffered >= partSize) {
          const all = Buffer.concat(chunks, buffered);
          chunks = [all.subarray(partSize)];
          buffered -= partSize;
          await send(all.subarray(0, partSize));
        }
      }
      const result = meter.result();
      const rest = Buffer.concat(chunks, buffered);
      if (uploadId === undefined) {
        // Smaller than one part: a plain PUT, which is just as all-or-nothing.
        await this.s3.putObject(objectKey, rest);
        return result;
      }
      if (rest.length > 0) await send(rest);
      await Promise.all(inFlight);
      if (failure) throw failure;
      await this.s3.completeMultipartUpload(objectKey, uploadId, etags);
      return result;
    } catch (e) {
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined) await this.s3.abortMultipartUpload(objectKey, uploadId).catch(() => undefined);
      throw e;
    }
  }

  // A chunked upload is a multipart upload; each chunk one part, which its next try overwrites.
  async startChunked(key: string): Promise<string> {
    return this.s3.createMultipartUpload(this.objectKey(key));
  }

  async putChunk(key: string, at: ChunkPlace, source: Readable, opts: PutOptions = {}): Promise<ChunkResult> {
    if (at.index > MAX_PARTS) throw new Error(`an upload has at most ${MAX_PARTS} chunks`);
    const meter = new Meter(opts);
    const pieces: Buffer[] = [];
    for await (const piece of source as AsyncIterable<Buffer>) {
      meter.add(piece);
      if (meter.size > MAX_CHUNK_SIZE) throw new Error(`a chunk is at most ${MAX_CHUNK_SIZE} bytes here`);
      pieces.push(piece);
    }
    const result = meter.result();
    const etag = await this.s3.uploadPart(this.objectKey(key), at.handle, at.index, Buffer.concat(pieces, result.size));
    return { ...result, etag };
  }

  async finishChunked(key: string, handle: string, etags: readonly string[]): Promise<void> {
    const objectKey = this.objectKey(key);
    if (etags.length > 0) return this.s3.completeMultipartUpload(objectKey, handle, etags);
    // An empty file has no parts, and S3 completes no upload without one.
    await this.s3.putObject(objectKey, Buffer.alloc(0));
    await this.s3.abortMultipartUpload(objectKey, handle);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    return this.s3.getObject(this.objectKey(key), range);
  }

  async size(key: string): Promise<number | null> {
    return this.s3.headObject(this.objectKey(key));
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    // A process that died mid-upload left a multipart upload, not an object: abort that too.
    for (const u of await this.s3.listMultipartUploads(objectKey)) {
      if (u.key === objectKey) await this.s3.abortMultipartUpload(u.key, u.uploadId);
    }
    await this.s3.deleteObject(objectKey);
  }

  async cleanupIncomplete(keep: ReadonlySet<string> = new Set()): Promise<number> {
    const kept = new Set([...keep].map((k) => this.objectKey(k)));
    const uploads = (await this.s3.listMultipartUploads(this.opts.prefix ? `${this.opts.prefix}/` : "")).filter((u) => !kept.has(u.key));
    for (const u of uploads) await this.s3.abortMultipartUpload(u.key, u.uploadId);
    return uploads.length;
  }

  presignedUrl(key: string, opts: { expiresSeconds: number; filename: string }): URL {
    return this.s3.presignedGet(this.objectKey(key), opts.expiresSeconds, {
      "response-content-disposition": `attachment; filename="${opts.filename}"`,
      "response-content-type": "application/octet-stream",
    });
  }

  // Fails with a clear message at start-up rather than at the first upload.
  async check(): Promise<void> {
    const { bucket, endpoint } = this.s3.where;
    let exists;
    try {
      exists = await this.s3.headBucket();
    } catch (e) {
      throw new Error(`S3 bucket '${bucket}' at ${endpoint.origin}: ${e instanceof S3Error && e.status === 403 ? "access denied (check the credentials)" : (e as Error).message}`);
    }
    if (!exists) throw new Error(`S3 bucket '${bucket}' does not exist at ${endpoint.origin}; create it first (e.g. s3cmd mb s3://${bucket})`);
  }

  counters(): CounterFamily[] {
    return this.s3.stats.families();
  }

  close(): void {
    this.s3.close();
  }
}
