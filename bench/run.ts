// `npm run bench`: Repoman against nginx on the same machine, the same files and the same client,
// printing absolute numbers and ratios measured in this one run (each measurement taking its turn on
// every server), and appending them to
// bench/RESULTS.md. BENCH_QUICK=1 shrinks every size for a fast check of the harness itself.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "../test/support/net.js";
import { fixturePki } from "../test/support/pki.js";
import { startNginx } from "./nginx.js";
import { download, handshakes, keepAlive, peakRssMb, percentile, request, upload, type Target } from "./load.js";
import { asAdmin, startRepoman } from "./repoman.js";
import { makeFile, mbps, measured, MiB, Report, warmPageCache } from "./report.js";

const QUICK = process.env.BENCH_QUICK === "1";
const SMALL = QUICK ? 128 * MiB : 1024 * MiB; // "1 GiB"
const LARGE = QUICK ? 512 * MiB : 4096 * MiB; // "4 GiB"
const FANOUT = QUICK ? 16 : 64;
const PIECE = QUICK ? 8 * MiB : 64 * MiB;
const CREATES = QUICK ? 100 : 500;
const LISTED = QUICK ? 1000 : 10_000;
const HANDSHAKE_MS = QUICK ? 2000 : 5000;

type Column = "nginx" | "repoman" | "repoman --workers 2";
const report = new Report(["nginx", "repoman", "repoman --workers 2"] satisfies Column[]);
const record = (metric: string, column: Column, value: number, unit: string, better: "higher" | "lower" = "higher", target?: string) => report.record(metric, column, value, unit, better, target);

// One server under test: where to send what, and which processes' CPU and memory count.
interface Contender {
  column: Column;
  admin: Target;
  // nginx verifies a plain certificate (it cannot verify proxies); Repoman an RFC 3820 proxy.
  handshake: { t: Target; path: string };
  path: (name: "small" | "large") => string;
  pids: () => number[];
}

const SIZES = { small: SMALL, large: LARGE } as const;
const LABELS = { small: QUICK ? "128 MiB" : "1 GiB", large: QUICK ? "512 MiB" : "4 GiB" } as const;

// Every measurement takes its turn on each server before the next one starts: on a shared VM the
// machine drifts over minutes, and measuring server by server would hand that drift to the ratios.
async function transfers(contenders: Contender[], files: Record<string, string>) {
  for (const name of ["small", "large"] as const) {
    const label = LABELS[name];
    for (const c of contenders) {
      warmPageCache(dirname(files[name]!), SIZES[name]);
      const [up, cpu] = await measured(c.pids, () => upload(c.admin, c.path(name), files[name]!));
      if (up.status >= 300) throw new Error(`${c.column}: upload answered ${up.status}`);
      record(`upload ${label}`, c.column, mbps(up.bytes, up.ms), "MB/s", "higher", "≥ 0.9× nginx");
      record(`upload ${label}: server CPU-seconds per GiB`, c.column, cpu / (up.bytes / 1024 / MiB), "CPU-s", "lower");
    }
    for (const c of contenders) {
      const [down, cpu] = await measured(c.pids, () => download(c.admin, c.path(name)));
      if (down.status !== 200 || down.bytes !== SIZES[name]) throw new Error(`${c.column}: download answered ${down.status}, ${down.bytes} bytes`);
      record(`download ${label}`, c.column, mbps(down.bytes, down.ms), "MB/s", "higher", "≥ 0.9× nginx");
      record(`download ${label}: server CPU-seconds per GiB`, c.column, cpu / (down.bytes / 1024 / MiB), "CPU-s", "lower");
    }
  }
  for (const c of contenders) {
    const start = performance.now();
    const all = await Promise.all(Array.from({ length: FANOUT }, () => download(c.admin, c.path("small"))));
    const elapsed = performance.now() - start;
    if (all.some((r) => r.bytes !== SMALL)) throw new Error(`${c.column}: a fan-out download was short`);
    record(`${FANOUT} concurrent downloads of ${LABELS.small}: aggregate`, c.column, mbps(SMALL * FANOUT, elapsed), "MB/s", "higher", "≥ 0.9× nginx");
    record(`${FANOUT} concurrent downloads: slowest client`, c.column, Math.min(...all.map((r) => mbps(r.bytes, r.ms))), "MB/s");
    // VmHWM is the peak since the process started; the fan-out is what raises it (every connection
    // holds its buffers), except in the process that also took the 4 GiB upload probe.
    record(`peak server RSS by the end of the ${FANOUT} concurrent downloads`, c.column, peakRssMb(c.pids()), "MB", "lower");
  }
  for (const c of contenders) {
    const start = performance.now();
    const pieces = await Promise.all(
      Array.from({ length: FANOUT }, (_, i) => {
        const from = (i * PIECE) % LARGE;
        return download(c.admin, c.path("large"), { range: `bytes=${from}-${from + PIECE - 1}` });
      }),
    );
    if (pieces.some((r) => r.status !== 206 || r.bytes !== PIECE)) throw new Error(`${c.column}: a range download failed`);
    record(`${FANOUT} concurrent Range downloads of ${PIECE / MiB} MiB: aggregate`, c.column, mbps(PIECE * FANOUT, performance.now() - start), "MB/s");
  }
  for (const c of contenders) {
    const h = await handshakes(c.handshake.t, c.handshake.path, c.pids, HANDSHAKE_MS);
    record("full TLS handshakes, new connection per request (nginx: EEC, Repoman: RFC 3820 proxy)", c.column, h.perSecond, "per s");
    record("full TLS handshakes per server CPU-second", c.column, h.perCpuSecond, "per CPU-s", "higher", "≥ 0.7× nginx");
  }
}

// Peak memory and responsiveness during a large upload, on a fresh process.
async function uploadProbe(c: Contender, file: string) {
  const agent = keepAlive(c.admin);
  const latencies: number[] = [];
  let uploading = true;
  const probe = (async () => {
    while (uploading) {
      latencies.push((await request(c.admin, "GET", "/api/whoami", undefined, agent)).ms);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await upload(c.admin, c.path("large"), file);
  uploading = false;
  await probe;
  agent.destroy();
  record(`peak server RSS during a ${LABELS.large} upload`, c.column, peakRssMb(c.pids()), "MB", "lower", "< 150 MB");
  record("whoami during that upload: p99", c.column, percentile(latencies, 99), "ms", "lower", "< 50 ms");
}

async function catalogLatency(c: Contender) {
  const agent = keepAlive(c.admin);
  const api = (method: string, path: string, body?: unknown) => request(c.admin, method, path, body === undefined ? undefined : JSON.stringify(body), agent);
  const creates: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const r = await api("POST", "/api/images", { name: `create-${i}`, os_arch: "x86_64", hypervisor: "kvm" });
    if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.text}`);
    creates.push(r.ms);
  }
  record("create image: p50", c.column, percentile(creates, 50), "ms", "lower");
  record("create image: p99", c.column, percentile(creates, 99), "ms", "lower", "< 20 ms");
  const seeders = Array.from({ length: 4 }, () => keepAlive(c.admin));
  for (let i = CREATES; i < LISTED; i += seeders.length) {
    const made = await Promise.all(seeders.map((a, j) => request(c.admin, "POST", "/api/images", JSON.stringify({ name: `create-${i + j}` }), a)));
    const failed = made.find((r) => r.status !== 201);
    if (failed) throw new Error(`create answered ${failed.status}: ${failed.text}`);
  }
  const lists: number[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await api("GET", "/api/images");
    if (r.status !== 200 || JSON.parse(r.text).length < LISTED) throw new Error(`list answered ${r.status} with ${r.text.length} bytes`);
    lists.push(r.ms);
  }
  record(`list ${LISTED} images: p50`, c.column, percentile(lists, 50), "ms", "lower");
  record(`list ${LISTED} images: p99`, c.column, percentile(lists, 99), "ms", "lower", "< 50 ms");
  agent.destroy();
  seeders.forEach((a) => a.destroy());
}

async function main() {
  const started = Date.now();
  const pki = await fixturePki();
  const dir = mkdtempSync(join(tmpdir(), "repoman-bench-"));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const files = { small: join(dir, "small.img"), large: join(dir, "large.img"), tiny: join(dir, "tiny.txt") };
    makeFile(files.small, SMALL);
    makeFile(files.large, LARGE);
    makeFile(files.tiny, 64);
    const nginx = await startNginx(join(dir, "nginx"), pki, await freePort(), 2);
    stops.push(() => nginx.stop());
    const nginxAdmin = asAdmin(pki, nginx.port);
    await upload(nginxAdmin, "/hs.txt", files.tiny);
    const contenders: Contender[] = [{ column: "nginx", admin: nginxAdmin, handshake: { t: nginxAdmin, path: "/hs.txt" }, path: (name) => `/images/${name}.img`, pids: nginx.pid }];
    for (const [column, workers] of [["repoman", 1], ["repoman --workers 2", 2]] as const) {
      const instance = await startRepoman(dir, pki, workers, ["small.img", "large.img"]);
      stops.push(() => instance.server.stop());
      contenders.push({ column, admin: instance.admin, handshake: { t: instance.proxy, path: "/api/whoami" }, path: (name) => instance.path(`${name}.img`), pids: instance.pids });
    }
    const [, repoman, ...rest] = contenders as [Contender, Contender, ...Contender[]];
    await uploadProbe(repoman, files.large);
    await transfers(contenders, files);
    for (const c of [repoman, ...rest]) await catalogLatency(c);
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  report.publish(QUICK ? " (BENCH_QUICK: reduced sizes)" : "", started, !QUICK);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
