// Repoman's own S3 client against @aws-sdk/client-s3 (+ lib-storage), on the same Ceph RGW, the
// same objects and the same process: multipart uploads and downloads of large objects (hashed
// with SHA-256 on the way, as the blob store does), many small requests, and what each costs to
// install and load. The clients take turns, ROUNDS times, and medians count; ratios read "own
// client relative to the SDK" (above 1: the own client is faster or lighter).
//
// The SDK is not a dependency of Repoman; install it aside and point at it:
//   npm i --prefix /tmp/s3sdk @aws-sdk/client-s3 @aws-sdk/lib-storage
//   S3_SDK_DIR=/tmp/s3sdk REPOMAN_TEST_S3_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=… \
//     AWS_SECRET_ACCESS_KEY=… node dist/bench/s3-clients.js
// (scripts/ceph-rgw-start.sh DIR starts a throwaway RGW and writes those variables to DIR/env.)
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { S3BlobStore } from "../src/blobs/s3-store.js";
import { S3Client } from "../src/blobs/s3-client.js";
import { freshBucket, testS3 } from "../test/support/s3.js";

const MiB = 1024 * 1024;
const QUICK = process.env.BENCH_QUICK === "1";
const SIZE = (QUICK ? 64 : 256) * MiB;
const OBJECTS = 2;
const SMALL = QUICK ? 100 : 300;
const ROUNDS = 3;
const PART = 16 * MiB;
const PARALLEL = 4;

const s3 = testS3();
const sdkDir = process.env.S3_SDK_DIR;
if (!s3 || !sdkDir) {
  console.error("needs REPOMAN_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and S3_SDK_DIR (see the top of bench/s3-clients.ts)");
  process.exit(2);
}
const sdkRequire = createRequire(join(sdkDir, "package.json"));
const sdk = sdkRequire("@aws-sdk/client-s3");
const { Upload } = sdkRequire("@aws-sdk/lib-storage");

interface Contender {
  name: string;
  put(key: string, data: Buffer): Promise<string>; // resolves with the SHA-256 of what was sent
  get(key: string): Promise<string>; // with the SHA-256 of what came back
  putSmall(key: string, data: Buffer): Promise<void>;
  head(key: string): Promise<number>;
  del(key: string): Promise<void>;
}

// The body as the server would pass it on: a stream of 64 KiB pieces.
const stream = (data: Buffer) => Readable.from((function* () {
  for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
})(), { objectMode: false });

async function hashOf(body: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash("sha256");
  for await (const c of body) h.update(c);
  return h.digest("hex");
}

function own(client: S3Client): Contender {
  const store = new S3BlobStore(client, { prefix: "own", partSize: PART, parallelParts: PARALLEL });
  return {
    name: "own client",
    put: async (key, data) => (await store.put(key, stream(data), { expectedSize: data.length })).sha256,
    get: async (key) => hashOf((await store.get(key)) as AsyncIterable<Buffer>),
    putSmall: (key, data) => client.putObject(`own/${key}`, data),
    head: async (key) => (await client.headObject(`own/${key}`))!,
    del: (key) => store.delete(key),
  };
}

function aws(bucket: string): Contender {
  const client = new sdk.S3Client({
    endpoint: s3!.endpoint,
    region: s3!.env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: s3!.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3!.env.AWS_SECRET_ACCESS_KEY },
    // What RGW 16 needs (docs: shared/reference/ceph-rgw.md, pitfall 1).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    name: "@aws-sdk/client-s3",
    async put(key, data) {
      const h = createHash("sha256");
      const body = stream(data).on("data", (c: Buffer) => h.update(c));
      await new Upload({ client, params: { Bucket: bucket, Key: `sdk/${key}`, Body: body }, partSize: PART, queueSize: PARALLEL }).done();
      return h.digest("hex");
    },
    get: async (key) => hashOf((await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: `sdk/${key}` }))).Body),
    putSmall: async (key, data) => void (await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: `sdk/${key}`, Body: data }))),
    head: async (key) => (await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: `sdk/${key}` }))).ContentLength,
    del: async (key) => void (await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: `sdk/${key}` }))),
  };
}

interface Sample {
  wall: number;
  cpu: number;
}
async function measure(run: () => Promise<unknown>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : e.isFile() ? statSync(p).size : 0;
  }
  return n;
}
function packages(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith(".")) continue;
    n += e.name.startsWith("@") ? readdirSync(join(dir, e.name)).length : 1;
  }
  return n;
}
// A fresh process that loads the module and makes a client: milliseconds and RSS.
function loadCost(script: string): { ms: number; rssMiB: number } {
  const runs = Array.from({ length: 5 }, () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `const t=performance.now();${script};console.log(JSON.stringify({ms:performance.now()-t,rss:process.memoryUsage().rss}))`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as { ms: number; rss: number };
  });
  return { ms: median(runs.map((r) => r.ms)), rssMiB: median(runs.map((r) => r.rss)) / MiB };
}

const bucket = await freshBucket(s3);
const contenders = [own(bucket), aws(bucket.where.bucket)];
const results = new Map<string, Record<string, Sample[]>>(contenders.map((c) => [c.name, { upload: [], download: [], small: [] }]));
const objects = Array.from({ length: OBJECTS }, () => randomBytes(SIZE));
const sha = objects.map((o) => createHash("sha256").update(o).digest("hex"));
const small = randomBytes(64 * 1024);

for (let round = 0; round < ROUNDS; round++) {
  for (const c of round % 2 ? [...contenders].reverse() : contenders) {
    const r = results.get(c.name)!;
    r.upload!.push(await measure(async () => {
      for (const [i, o] of objects.entries()) if ((await c.put(`big/${i}`, o)) !== sha[i]) throw new Error(`${c.name}: sent the wrong bytes`);
    }));
    r.download!.push(await measure(async () => {
      for (const [i] of objects.entries()) if ((await c.get(`big/${i}`)) !== sha[i]) throw new Error(`${c.name}: got the wrong bytes back`);
    }));
    r.small!.push(await measure(async () => {
      for (let i = 0; i < SMALL; i++) {
        await c.putSmall(`small/${i}`, small);
        if ((await c.head(`small/${i}`)) !== small.length) throw new Error(`${c.name}: head disagrees`);
      }
    }));
    for (let i = 0; i < OBJECTS; i++) await c.del(`big/${i}`);
    for (let i = 0; i < SMALL; i++) await c.del(`small/${i}`);
  }
}
bucket.close();

const ownJs = fileURLToPath(new URL("../src/blobs/s3-client.js", import.meta.url));
const ownLoad = loadCost(`const m=await import(${JSON.stringify(ownJs)});new m.S3Client({endpoint:new URL("http://127.0.0.1:1"),region:"r",bucket:"b",pathStyle:true,credentials:{accessKeyId:"a",secretAccessKey:"s"}})`);
const sdkJs = sdkRequire.resolve("@aws-sdk/client-s3");
const sdkLoad = loadCost(`const {createRequire}=await import("node:module");const r=createRequire(${JSON.stringify(join(sdkDir, "package.json"))});const m=r(${JSON.stringify(sdkJs)});r("@aws-sdk/lib-storage");new m.S3Client({region:"r"})`);
const ownBytes = ["s3-client.js", "sigv4.js", "aws-config.js", "credentials.js", "retry.js", "s3-error.js", "s3-stats.js"].reduce((n, f) => n + statSync(join(ownJs, "..", f)).size, 0);
const sdkModules = join(sdkDir, "node_modules");
const sdkVersion = (sdkRequire("@aws-sdk/client-s3/package.json") as { version: string }).version;

const bytes = OBJECTS * SIZE;
const row = (what: string, o: number, s: number, unit: string, higherIsBetter: boolean, digits = 1) =>
  `| ${what} | ${o.toFixed(digits)} | ${s.toFixed(digits)} | ${unit} | ${(higherIsBetter ? o / s : s / o).toFixed(2)}× |`;
const get = (name: string, phase: string) => results.get(name)![phase]!;
const [O, S] = contenders.map((c) => c.name) as [string, string];
const mbps = (xs: Sample[]) => median(xs.map((x) => bytes / MiB / x.wall));
const cpuPerGiB = (xs: Sample[]) => median(xs.map((x) => x.cpu / (bytes / 1024 ** 3)));
const opsPerS = (xs: Sample[]) => median(xs.map((x) => (2 * SMALL) / x.wall));
const cpuPerOp = (xs: Sample[]) => median(xs.map((x) => (x.cpu * 1000) / (2 * SMALL)));
console.log(`## S3 clients: own client vs @aws-sdk/client-s3 ${sdkVersion} (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)

${OBJECTS} objects of ${SIZE / MiB} MiB (${PART / MiB} MiB parts, ${PARALLEL} in flight, SHA-256 of every byte), ${SMALL} PUT+HEAD pairs of 64 KiB; ${ROUNDS} rounds taking turns, medians. Ratio: own client relative to the SDK, above 1 is better.

| measure | own client | SDK | unit | ratio |
|---|--:|--:|---|--:|
${row("multipart upload", mbps(get(O, "upload")), mbps(get(S, "upload")), "MiB/s", true)}
${row("upload, client CPU", cpuPerGiB(get(O, "upload")), cpuPerGiB(get(S, "upload")), "CPU-s/GiB", false, 2)}
${row("download", mbps(get(O, "download")), mbps(get(S, "download")), "MiB/s", true)}
${row("download, client CPU", cpuPerGiB(get(O, "download")), cpuPerGiB(get(S, "download")), "CPU-s/GiB", false, 2)}
${row("small PUT / HEAD", opsPerS(get(O, "small")), opsPerS(get(S, "small")), "requests/s", true)}
${row("small PUT / HEAD, client CPU", cpuPerOp(get(O, "small")), cpuPerOp(get(S, "small")), "CPU-ms/request", false, 3)}
${row("load + make a client", ownLoad.ms, sdkLoad.ms, "ms", false, 0)}
${row("RSS after loading", ownLoad.rssMiB, sdkLoad.rssMiB, "MiB", false, 0)}
${row("installed size", ownBytes / 1024, dirBytes(sdkModules) / 1024, "KiB", false, 0)}
| npm packages | 0 | ${packages(sdkModules)} | packages | — |
`);
