// Soak: mixed load against the installed server command for a while — ranged and whole downloads,
// uploads, listings, resumable uploads, transfers the client abandons halfway, refused requests —
// sampling the server process's resident memory and open file descriptors from /proc, to show
// that neither grows with the work done. `npm run soak` runs 10 minutes (the nightly run);
// test/soak/soak.test.ts runs 2 minutes in `npm test`. REPOMAN_SOAK_SECONDS sets the length.
//
// The criterion, sound for a garbage-collected process whose memory breathes:
//  - a warm-up (the first quarter) is left out: JIT, pools, SQLite's page cache, TLS session
//    caches all grow to their working size first;
//  - resident memory: the mean of the last third of the samples is at most 5% + 6 MiB above the
//    mean of the first third (a flat server moves by about 1 MiB in 2 minutes; a leak of 16 KiB
//    per request grows it by some 30 MiB);
//  - descriptors at rest — before the measured load and after it, with every client gone — are
//    the same (+2 for SQLite's journal files coming and going), and the peak under load does not
//    climb from the first third to the last (+4, the clients' own connections);
//  - the files under the data directory are as many at the end as after the warm-up: abandoned
//    uploads leave nothing behind, and old versions are pruned.
import https from "node:https";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixturePki } from "../test/support/pki.js";
import { cpuSeconds, type Target } from "./load.js";
import { startRepoman } from "./repoman.js";

export interface Sample {
  s: number; // seconds since the measured load began
  rssMb: number;
  fds: number;
}

export interface SoakResult {
  seconds: number;
  ops: Record<string, number>;
  unexpected: string[]; // answers that were not what the operation expects
  samples: Sample[];
  rss: { firstThirdMb: number; lastThirdMb: number; limitMb: number };
  fds: { idleBefore: number; idleAfter: number; peakFirstThird: number; peakLastThird: number };
  files: { before: number; after: number };
  problems: string[]; // the criterion's verdicts; empty when flat
}

const MiB = 1024 * 1024;
const IMAGE = randomBytes(8 * MiB); // what the download slot holds
const UPLOAD = randomBytes(2 * MiB);
const UPLOAD_SHA = createHash("sha256").update(UPLOAD).digest("hex");
const SLOTS = ["soak-0.img", "soak-1.img", "soak-2.img"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function processStatus(pid: number): { rssMb: number; fds: number } {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return { rssMb: kb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

// Files under the data directory, apart from SQLite's journal files, which come and go.
function countFiles(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) n += countFiles(p);
    else if (!/-(wal|shm|journal)$/.test(name)) n++;
  }
  return n;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
}

// One request. `abortAfter`: the client goes away once that many bytes of the answer (or, for an
// upload, of the body) have crossed, as a user pressing Ctrl-C would.
function call(t: Target, agent: https.Agent | false, method: string, path: string, opts: { body?: Buffer; headers?: Record<string, string>; abortAfter?: number; anonymous?: boolean } = {}): Promise<Answer | "aborted"> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body) headers["content-length"] = String(opts.body.length);
    const creds = opts.anonymous ? {} : { cert: t.cert, key: t.key };
    const req = https.request({ host: "127.0.0.1", port: t.port, servername: "localhost", ca: t.ca, ...creds, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (opts.abortAfter !== undefined && !opts.body && got >= opts.abortAfter) {
          req.destroy();
          resolve("aborted");
        }
      });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, bytes: Buffer.concat(chunks) }));
      res.on("error", () => resolve("aborted"));
    });
    req.on("error", (e) => (opts.abortAfter !== undefined ? resolve("aborted") : reject(e)));
    if (opts.body && opts.abortAfter !== undefined) {
      req.write(opts.body.subarray(0, opts.abortAfter), () => setTimeout(() => (req.destroy(), resolve("aborted")), 50));
    } else req.end(opts.body);
  });
}

type Op = (c: { t: Target; agent: https.Agent; rand: () => number }) => Promise<string | null>;

const expect = (what: string, a: Answer | "aborted", status: number, check: (a: Answer) => boolean = () => true): string | null =>
  a === "aborted" ? `${what}: the server went away` : a.status === status && check(a) ? null : `${what}: ${a.status} ${a.bytes.subarray(0, 200).toString()}`;

// The mix, by weight: mostly downloads, as a repository serves; every kind of abandonment.
const OPS: [string, number, Op][] = [
  ["ranged download", 30, async ({ t, agent, rand }) => {
    const from = Math.floor(rand() * (IMAGE.length - 1));
    const to = Math.min(IMAGE.length - 1, from + Math.floor(rand() * 2 * MiB));
    const a = await call(t, agent, "GET", "/api/images/raw/admin/xen/download.img", { headers: { range: `bytes=${from}-${to}` } });
    return expect("ranged download", a, 206, (a) => a.bytes.equals(IMAGE.subarray(from, to + 1)));
  }],
  ["whole download", 8, async ({ t }) => expect("whole download", await call(t, false, "GET", "/api/images/raw/admin/xen/download.img"), 200, (a) => a.bytes.equals(IMAGE))],
  ["abandoned download", 10, async ({ t, rand }) => {
    const a = await call(t, false, "GET", "/api/images/raw/admin/xen/download.img", { abortAfter: Math.floor(rand() * 4 * MiB) + 1 });
    return a === "aborted" ? null : expect("abandoned download", a, 200);
  }],
  ["upload", 8, async ({ t, rand }) => {
    const slot = SLOTS[Math.floor(rand() * SLOTS.length)]!;
    const a = await call(t, false, "PUT", `/api/images/raw/admin/xen/${slot}`, { body: UPLOAD, headers: { "content-type": "application/octet-stream", "x-checksum-sha256": UPLOAD_SHA } });
    // Another loop may be uploading to the same slot; both versions are kept in turn.
    return expect("upload", a, 200);
  }],
  ["abandoned upload", 8, async ({ t, rand }) => {
    const slot = SLOTS[Math.floor(rand() * SLOTS.length)]!;
    const a = await call(t, false, "PUT", `/api/images/raw/admin/xen/${slot}`, { body: UPLOAD, headers: { "content-type": "application/octet-stream" }, abortAfter: Math.floor(rand() * UPLOAD.length) });
    return a === "aborted" ? null : `abandoned upload: answered ${a.status} ${a.bytes.toString().slice(0, 200)}`;
  }],
  ["listing", 15, async ({ t, agent }) => expect("listing", await call(t, agent, "GET", "/api/images?detail=true&limit=50"), 200, (a) => JSON.parse(a.bytes.toString()).length >= SLOTS.length)],
  ["resumable upload", 6, async ({ t, rand }) => {
    const tus = { "tus-resumable": "1.0.0" };
    const meta = `image ${btoa(SLOTS[0]!)},hypervisor ${btoa("kvm")}`;
    const created = await call(t, false, "POST", "/api/uploads", { headers: { ...tus, "upload-length": String(UPLOAD.length), "upload-metadata": meta } });
    if (created === "aborted" || created.status !== 201) return expect("tus create", created, 201);
    const path = new URL(String(created.headers.location)).pathname;
    const chunk = { ...tus, "content-type": "application/offset+octet-stream", "upload-offset": "0" };
    const how = rand();
    if (how < 0.4) return expect("tus chunk", await call(t, false, "PATCH", path, { body: UPLOAD, headers: chunk }), 200);
    // A chunk lost with the connection is not kept; the upload is then given up.
    if (how < 0.7) await call(t, false, "PATCH", path, { body: UPLOAD, headers: chunk, abortAfter: Math.floor(rand() * UPLOAD.length) });
    return expect("tus cancel", await call(t, false, "DELETE", path, { headers: tus }), 204);
  }],
  ["refused", 10, async ({ t, agent, rand }) => {
    switch (Math.floor(rand() * 3)) {
      case 0: return expect("cross-origin", await call(t, agent, "POST", "/api/images", { body: Buffer.from("name=x.img"), headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" } }), 403);
      case 1: return expect("anonymous", await call(t, false, "GET", "/api/users", { anonymous: true }), 401);
      default: return expect("not found", await call(t, agent, "GET", "/api/images/admin/nope.img"), 404);
    }
  }],
];

function pick(rand: () => number): [string, Op] {
  const total = OPS.reduce((n, [, w]) => n + w, 0);
  let x = rand() * total;
  for (const [name, w, op] of OPS) if ((x -= w) < 0) return [name, op];
  return [OPS[0]![0], OPS[0]![2]];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function soak(opts: { seconds: number; loops?: number; paceMs?: number; log?: (line: string) => void }): Promise<SoakResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const loops = opts.loops ?? 3;
  // Each loop does at most one operation per paceMs: enough traffic to show a leak, and CPU to
  // spare on a two-core machine that runs other things.
  const paceMs = opts.paceMs ?? 100;
  const dir = mkdtempSync(join(tmpdir(), "repoman-soak-"));
  const pki = await fixturePki();
  const repo = await startRepoman(dir, pki, 1, ["download.img", ...SLOTS]);
  const pid = repo.server.child.pid!;
  const dataDir = join(dir, "data-1");
  const t = repo.admin;
  try {
    // Retention bounds the disk the uploads use: two versions per slot.
    for (const slot of SLOTS) {
      const r = await call(t, false, "POST", `/api/images/admin/${slot}`, { body: Buffer.from(JSON.stringify({ keep_versions: 2, hypervisor: "xen,kvm" })), headers: { "content-type": "application/json" } });
      if (r === "aborted" || r.status !== 200) throw new Error(`setting up ${slot}: ${r === "aborted" ? r : r.status}`);
    }
    const put = await call(t, false, "PUT", "/api/images/raw/admin/xen/download.img", { body: IMAGE, headers: { "content-type": "application/octet-stream" } });
    if (put === "aborted" || put.status !== 200) throw new Error("uploading the download image failed");

    const ops: Record<string, number> = {};
    const unexpected: string[] = [];
    let seed = 0x5eed;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const run = async (ms: number) => {
      const until = Date.now() + ms;
      await Promise.all(
        Array.from({ length: loops }, async () => {
          const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
          try {
            while (Date.now() < until) {
              const started = Date.now();
              const [name, op] = pick(rand);
              ops[name] = (ops[name] ?? 0) + 1;
              const wrong = await op({ t, agent, rand }).catch((e: Error) => `${name}: ${e.message}`);
              if (wrong && unexpected.length < 50) unexpected.push(wrong);
              await sleep(Math.max(0, paceMs - (Date.now() - started)));
            }
          } finally {
            agent.destroy();
          }
        }),
      );
    };
    // Descriptors at rest: once the clients' connections have closed on the server's side too.
    const atRest = async () => {
      let last = processStatus(pid).fds;
      for (let i = 0; i < 20; i++) {
        await sleep(250);
        const now = processStatus(pid).fds;
        if (now === last && i >= 3) break;
        last = now;
      }
      return last;
    };

    const warmUp = Math.max(10, opts.seconds / 4);
    log(`# soak: warming up for ${warmUp} s, then ${opts.seconds} s of mixed load (${loops} loops, one operation per ${paceMs} ms each), server pid ${pid}`);
    await run(warmUp * 1000);
    const idleBefore = await atRest();
    const filesBefore = countFiles(dataDir);

    const samples: Sample[] = [];
    const start = Date.now();
    const cpuStart = cpuSeconds([pid]);
    const sampler = setInterval(() => samples.push({ s: (Date.now() - start) / 1000, ...processStatus(pid) }), 1000);
    const report = setInterval(() => {
      const last = samples.at(-1);
      if (last) log(`# soak: ${Math.round(last.s)} s, rss ${last.rssMb.toFixed(1)} MiB, ${last.fds} fds, ${Object.values(ops).reduce((a, b) => a + b, 0)} operations`);
    }, 30_000);
    try {
      await run(opts.seconds * 1000);
    } finally {
      clearInterval(sampler);
      clearInterval(report);
    }
    const cpuPercent = (100 * (cpuSeconds([pid]) - cpuStart)) / ((Date.now() - start) / 1000);
    const idleAfter = await atRest();
    const filesAfter = countFiles(dataDir);

    const third = Math.max(1, Math.floor(samples.length / 3));
    const first = samples.slice(0, third);
    const last = samples.slice(-third);
    const firstMb = mean(first.map((x) => x.rssMb));
    const lastMb = mean(last.map((x) => x.rssMb));
    const limitMb = firstMb * 1.05 + 6;
    const peakFirst = Math.max(...first.map((x) => x.fds));
    const peakLast = Math.max(...last.map((x) => x.fds));
    const problems: string[] = [];
    if (samples.length < 6) problems.push(`only ${samples.length} samples`);
    if (lastMb > limitMb) problems.push(`resident memory grew: ${firstMb.toFixed(1)} MiB in the first third, ${lastMb.toFixed(1)} MiB in the last (limit ${limitMb.toFixed(1)})`);
    if (idleAfter > idleBefore + 2) problems.push(`descriptors at rest grew from ${idleBefore} to ${idleAfter}`);
    if (peakLast > peakFirst + 4) problems.push(`descriptors under load grew: peak ${peakFirst} in the first third, ${peakLast} in the last`);
    if (filesAfter > filesBefore) problems.push(`files in the data directory grew from ${filesBefore} to ${filesAfter}`);
    if (unexpected.length) problems.push(`${unexpected.length} unexpected answers, e.g. ${unexpected.slice(0, 3).join("; ")}`);
    const result: SoakResult = {
      seconds: opts.seconds,
      ops,
      unexpected,
      samples,
      rss: { firstThirdMb: firstMb, lastThirdMb: lastMb, limitMb },
      fds: { idleBefore, idleAfter, peakFirstThird: peakFirst, peakLastThird: peakLast },
      files: { before: filesBefore, after: filesAfter },
      problems,
    };
    log(`# soak: ${Object.values(ops).reduce((a, b) => a + b, 0)} operations ${JSON.stringify(ops)}; the server used ${cpuPercent.toFixed(0)}% of a core`);
    log(`# soak: rss ${firstMb.toFixed(1)} MiB (first third) → ${lastMb.toFixed(1)} MiB (last third), limit ${limitMb.toFixed(1)}; fds at rest ${idleBefore} → ${idleAfter}, peak under load ${peakFirst} → ${peakLast}; data files ${filesBefore} → ${filesAfter}`);
    log(problems.length ? `# soak: NOT FLAT: ${problems.join("; ")}` : "# soak: flat");
    return result;
  } finally {
    await repo.server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node dist/bench/soak.js`: the nightly run, 10 minutes unless REPOMAN_SOAK_SECONDS says otherwise.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await soak({ seconds: Number(process.env.REPOMAN_SOAK_SECONDS ?? 600) });
  process.exit(r.problems.length ? 1 : 0);
}
