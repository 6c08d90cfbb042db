// From the `storage` setting to a BlobStore: a directory for local disk, or
// s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true&part_size=16MiB&parallel_parts=4
// &downloads=redirect&redirect_expires=300&request_timeout=120&max_attempts=5 for S3-compatible
// object storage.
import { resolve } from "node:path";
import type { BlobStore } from "./blob-store.js";
import { FsBlobStore } from "./fs-store.js";
import { awsSettings } from "./aws-config.js";
import { CredentialSource } from "./credentials.js";
import { DEFAULT_RETRY } from "./retry.js";
import { S3Client } from "./s3-client.js";
import { MIN_PART_SIZE, S3BlobStore } from "./s3-store.js";

export interface OpenedStore {
  blobs: BlobStore;
  // Downloads answered with a redirect to a presigned URL valid this many seconds, if set.
  redirectDownloads?: number;
}

export class StorageConfigError extends Error {}

const S3_PARAMS = ["endpoint", "region", "path_style", "part_size", "parallel_parts", "downloads", "redirect_expires", "request_timeout", "max_attempts"];

function bytes(v: string, name: string): number {
  const m = /^(\d+)\s*(|B|KiB|MiB|GiB)$/i.exec(v.trim());
  if (!m) throw new StorageConfigError(`storage ${name}: expected bytes, e.g. 16MiB`);
  return Number(m[1]) * { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[m[2]!.toLowerCase()]!;
}

function wholeNumber(v: string, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new StorageConfigError(`storage ${name}: expected a whole number of at least ${min}`);
  return n;
}

export function openStore(setting: string, env: NodeJS.ProcessEnv = process.env): OpenedStore {
  if (!setting.startsWith("s3://")) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(setting)) throw new StorageConfigError(`storage: unsupported URL '${setting}' (a directory, or s3://BUCKET[/PREFIX]?…)`);
    return { blobs: new FsBlobStore(resolve(setting)) };
  }
  const url = new URL(setting);
  const q = url.searchParams;
  for (const k of q.keys()) if (!S3_PARAMS.includes(k)) throw new StorageConfigError(`storage: unknown parameter '${k}' (known: ${S3_PARAMS.join(", ")})`);
  const bucket = url.hostname;
  if (!bucket) throw new StorageConfigError("storage: s3://BUCKET needs a bucket name");
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  const aws = awsSettings(env);
  const endpointText = q.get("endpoint") ?? aws.endpoint;
  const region = q.get("region") ?? aws.region ?? "us-east-1";
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText ?? `https://s3.${region}.amazonaws.com`);
  } catch {
    throw new StorageConfigError(`storage endpoint: '${endpointText}' is not a URL`);
  }
  const pathStyle = (q.get("path_style") ?? (endpointText ? "true" : "false")) === "true";
  const partSize = bytes(q.get("part_size") ?? "16MiB", "part_size");
  if (partSize < MIN_PART_SIZE) throw new StorageConfigError("storage part_size: S3 needs at least 5MiB");
  const parallelParts = wholeNumber(q.get("parallel_parts") ?? "4", "parallel_parts", 1);
  const downloads = q.get("downloads") ?? "stream";
  if (downloads !== "stream" && downloads !== "redirect") throw new StorageConfigError("storage downloads: expected stream or redirect");
  const expires = wholeNumber(q.get("redirect_expires") ?? "300", "redirect_expires", 1);
  const timeoutMs = wholeNumber(q.get("request_timeout") ?? "120", "request_timeout", 1) * 1000;
  const maxAttempts = wholeNumber(q.get("max_attempts") ?? String(DEFAULT_RETRY.maxAttempts), "max_attempts", 1);
  const s3 = new S3Client({ endpoint, region, bucket, pathStyle, credentials: CredentialSource.chain(env), timeoutMs, retry: { maxAttempts } });
  const store = new S3BlobStore(s3, { prefix, partSize, parallelParts });
  return { blobs: store, redirectDownloads: downloads === "redirect" ? expires : undefined };
}
