// The S3 server the tests use: Ceph RGW started by test/run.mjs (scripts/ceph-rgw-start.sh), or
// any S3 endpoint named by REPOMAN_TEST_S3_ENDPOINT with the usual AWS_* credentials.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { S3Client } from "../../src/blobs/s3-client.js";

export const S3_NOTICE = "no S3 server: set REPOMAN_TEST_S3_ENDPOINT and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or install ceph-mon ceph-osd radosgw and run npm test";

export interface TestS3 {
  endpoint: string;
  env: Record<string, string>; // AWS_* variables for a server process
}

export function testS3(): TestS3 | undefined {
  const endpoint = process.env.REPOMAN_TEST_S3_ENDPOINT;
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } = process.env;
  if (!endpoint || !AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) return undefined;
  return { endpoint, env: { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: process.env.AWS_REGION ?? "us-east-1" } };
}

// A new, empty bucket for one test file.
export async function freshBucket(s3: TestS3): Promise<S3Client> {
  const client = new S3Client({
    endpoint: new URL(s3.endpoint),
    region: s3.env.AWS_REGION!,
    bucket: `repoman-test-${randomBytes(6).toString("hex")}`,
    pathStyle: true,
    credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY! },
  });
  await client.createBucket();
  return client;
}

const SCRIPTS = fileURLToPath(new URL("../../../scripts/", import.meta.url));

export const cephInstalled = () => spawnSync("sh", ["-c", "command -v ceph-mon && command -v radosgw"], { stdio: "ignore" }).status === 0;

// A throwaway single-node Ceph cluster with RGW on 127.0.0.1, for test/run.mjs.
export function startCeph(): { env: Record<string, string>; stop(): void } {
  const dir = join(mkdtempSync(join(tmpdir(), "repoman-ceph-")), "cluster");
  const r = spawnSync("bash", [join(SCRIPTS, "ceph-rgw-start.sh"), dir], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ceph-rgw-start.sh failed (${r.status}); its directory is kept: ${dir}`);
  const env: Record<string, string> = {};
  for (const m of readFileSync(join(dir, "env"), "utf8").matchAll(/^(?:export\s+)?([A-Z0-9_]+)=["']?([^"'\n]*)["']?$/gm)) env[m[1]!] = m[2]!;
  return {
    env: { REPOMAN_TEST_S3_ENDPOINT: env.S3_ENDPOINT!, AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY!, AWS_REGION: env.AWS_REGION ?? "us-east-1" },
    stop() {
      spawnSync("bash", [join(SCRIPTS, "ceph-rgw-stop.sh"), dir], { stdio: "inherit" });
      rmSync(join(dir, ".."), { recursive: true, force: true });
    },
  };
}
