// Blobs as objects in an S3 bucket (Ceph RGW, AWS S3, …). A put streams the body as a multipart
// upload, a few parts in flight at once, hashing as it goes; the object appears only when the
// upload completes, so a failed or interrupted put leaves no object, and its multipart upload is
// aborted (or, after a crash, found and aborted by delete() or cleanupIncomplete()).
import type { Readable } from "node:stream";
import { checkKey, Meter, type BlobStore, type ByteRange, type PutOptions, type PutResult } from "./blob-store.js";
import { S3Client, S3Error } from "./s3-client.js";

export interface S3StoreOptions {
  prefix: string; // "" or "some/prefix" (no leading or trailing slash)
  partSize: number; // bytes
  parallelParts: number;
}

const MIB = 1024 * 1024;
const MAX_PARTS = 10_000; // S3's limit
export const MIN_PART_SIZE = 5 * MIB; // S3's limit, except for the last part

export class S3BlobStore implements BlobStore {
  readonly kind = "s3";

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

  async cleanupIncomplete(): Promise<number> {
    const uploads = await this.s3.listMultipartUploads(this.opts.prefix ? `${this.opts.prefix}/` : "");
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

  close(): void {
    this.s3.close();
  }
}
