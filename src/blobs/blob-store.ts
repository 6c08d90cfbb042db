// Where image bytes live. Blobs are immutable and named by keys made of ids (never of user or
// image names); writing one is all-or-nothing. Metadata decides which blob an image points at.
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
  // Deletes the blob, or what an unfinished put() of it left behind.
  delete(key: string): Promise<void>;
  // Removes everything unfinished puts left behind. Only safe when no put() is running anywhere.
  cleanupIncomplete(): Promise<number>;
}

export class BlobSizeError extends Error {
  constructor(
    message: string,
    readonly reason: "short" | "long" | "quota",
  ) {
    super(message);
  }
}
