// Where image bytes live. Blobs are immutable and named by keys made of ids (never of user or
// image names); writing one is all-or-nothing. Metadata decides which blob an image points at.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

export interface PutResult {
  size: number;
  sha256: string; // hex, computed while streaming
}

export interface PutOptions {
  // The body must be exactly this long (from Content-Length); shorter or longer fails.
  expectedSize?: number | undefined;
  // Fail as soon as more than this many bytes arrive (quota).
  maxBytes?: number | undefined;
  // Sees every byte once, in order, in the same pass as the hash (format detection).
  observe?: ((chunk: Buffer) => void) | undefined;
}

// Where one chunk of a chunked (resumable) upload goes: chunks are written in order, each over
// its own request, possibly by different processes.
export interface ChunkPlace {
  handle: string; // what startChunked returned
  index: number; // 1, 2, … (S3: the part number)
  offset: number; // bytes before this chunk
}

export interface ChunkResult extends PutResult {
  etag: string; // what finishChunked needs to name this chunk ("" where the store needs nothing)
}

export interface ByteRange {
  start: number;
  end: number; // inclusive
}

export interface BlobStore {
  readonly kind: string;
  // Streams `source` into a new blob at `key`. Resolves once the blob is durable; on any error
  // (including a source that errors or ends early) nothing is left at `key`.
  put(key: string, source: Readable, opts?: PutOptions): Promise<PutResult>;
  // A stream of the blob's bytes, or of one range of them.
  get(key: string, range?: ByteRange): Promise<Readable>;
  size(key: string): Promise<number | null>;
  // Chunked uploads, for clients that resume: the blob at `key` is written chunk by chunk and
  // appears only once finishChunked() succeeds. A chunk is all-or-nothing: a failed one leaves
  // the chunks before it intact, and it may be written again. delete() removes an unfinished one.
  readonly chunkSizes: { min: number; max: number }; // min does not apply to the last chunk
  startChunked(key: string): Promise<string>;
  putChunk(key: string, at: ChunkPlace, source: Readable, opts?: PutOptions): Promise<ChunkResult>;
  finishChunked(key: string, handle: string, etags: readonly string[]): Promise<void>;
  // Deletes the blob, or what an unfinished put() of it left behind.
  delete(key: string): Promise<void>;
  // Removes everything unfinished puts left behind, except the chunked uploads of these keys
  // (resumable ones, which outlive restarts). Only safe when no put() is running anywhere.
  cleanupIncomplete(keep?: ReadonlySet<string>): Promise<number>;
  // Fails, with a message that says why, when the store cannot be used (for start-up and /readyz).
  check(): Promise<void>;
  // A short-lived URL from which anyone may GET the blob without the server, if the store has one.
  presignedUrl?(key: string, opts: { expiresSeconds: number; filename: string }): URL;
  // Counters of the store's own traffic to its backend (errors, retries), for /metrics.
  counters?(): CounterFamily[];
  close?(): void;
}

export interface CounterFamily {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

// Keys are made of ids by the catalog; anything else is a bug or an attack, never a path.
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.split("/").includes("..")) throw new Error(`invalid blob key "${key}"`);
  return key;
}

export class BlobSizeError extends Error {
  constructor(
    message: string,
    readonly reason: "short" | "long" | "quota",
  ) {
    super(message);
  }
}

// Counts, limits and hashes the bytes of one put() as they pass: every store enforces the same
// rules with the same code, in one SHA-256 pass.
export class Meter {
  size = 0;
  private readonly hash = createHash("sha256");

  constructor(private readonly opts: PutOptions) {}

  // Throws as soon as a chunk makes the body too long.
  add(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.opts.maxBytes !== undefined && this.size > this.opts.maxBytes) throw new BlobSizeError("storage quota exceeded", "quota");
    if (this.opts.expectedSize !== undefined && this.size > this.opts.expectedSize) throw new BlobSizeError("body longer than its Content-Length", "long");
    this.hash.update(chunk);
    this.opts.observe?.(chunk);
  }

  // Once the body has ended: throws if it was shorter than announced.
  result(): PutResult {
    if (this.opts.expectedSize !== undefined && this.size !== this.opts.expectedSize) {
      throw new BlobSizeError(`body ended after ${this.size} of ${this.opts.expectedSize} bytes`, "short");
    }
    return { size: this.size, sha256: this.hash.digest("hex") };
  }
}
