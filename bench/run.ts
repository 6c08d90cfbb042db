// `npm run bench`: Repoman against nginx on the same machine, the same files and the same client,
// printing absolute numbers and ratios measured in this one run, and appending them to
// bench/RESULTS.md. BENCH_QUICK=1 shrinks every size for a fast check of the harness itself.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "../test/support/net.js";
import { fixturePki } from "../test/support/pki.js";
import { ADMIN_DN } from "../test/support/server.js";
import { spawnServer } from "../test/support/process.js";
import { startNginx } from "./nginx.js";
import { download, handshakes, keepAlive, peakRssMb, percentile, processTree, request, target, upload, type Target } from "./load.js";
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

// nginx verifies a plain certificate (it cannot verify proxies); Repoman an RFC 3820 proxy.
function recordHandshakes(column: Column, h: { perSecond: number; perCpuSecond: number }) {
  record("full TLS handshakes, new connection per request (nginx: EEC, Repoman: RFC 3820 proxy)", column, h.perSecond, "per s");
  record("full TLS handshakes per server CPU-second", column, h.perCpuSecond, "per CPU-s", "higher", "≥ 0.7× nginx");
}

async function transfers(column: Column, t: Target, pids: () => number[], putPath: (name: string) => string, getPath: (name: string) => string, files: Record<string, string>) {
  for (const [name, label] of [
    ["small", QUICK ? "128 MiB" : "1 GiB"],
    ["large", QUICK ? "512 MiB" : "4 GiB"],
  ] as const) {
    warmPageCache(dirname(files[name]!), name === "small" ? SMALL : LARGE);
    const [up, upCpu] = await measured(pids, () => upload(t, putPath(name), files[name]!));
    if (up.status >= 300) throw new Error(`${column}: upload answered ${up.status}`);
    record(`upload ${label}`, column, mbps(up.bytes, up.ms), "MB/s", "higher", "≥ 0.9× nginx");
    record(`upload ${label}: server CPU-seconds per GiB`, column, upCpu / (up.bytes / 1024 / MiB), "CPU-s", "lower");
    const [down, downCpu] = await measured(pids, () => download(t, getPath(name)));
    if (down.status !== 200 || down.bytes !== (name === "small" ? SMALL : LARGE)) throw new Error(`${column}: download answered ${down.status}, ${down.bytes} bytes`);
    record(`download ${label}`, column, mbps(down.bytes, down.ms), "MB/s", "higher", "≥ 0.9× nginx");
    record(`download ${label}: server CPU-seconds per GiB`, column, downCpu / (down.bytes / 1024 / MiB), "CPU-s", "lower");
  }
  const start = performance.now();
  const all = await Promise.all(Array.from({ length: FANOUT }, () => download(t, getPath("small"))));
  const elapsed = performance.now() - start;
  if (all.some((r) => r.bytes !== SMALL)) throw new Error(`${column}: a fan-out download was short`);
  record(`${FANOUT} concurrent downloads of ${QUICK ? "128 MiB" : "1 GiB"}: aggregate`, column, mbps(SMALL * FANOUT, elapsed), "MB/s", "higher", "≥ 0.9× nginx");
  record(`${FANOUT} concurrent downloads: slowest client`, column, Math.min(...all.map((r) => mbps(r.bytes, r.ms))), "MB/s");
  const rstart = performance.now();
  const pieces = await Promise.all(
    Array.from({ length: FANOUT }, (_, i) => {
      const from = (i * PIECE) % LARGE;
      return download(t, getPath("large"), { range: `bytes=${from}-${from + PIECE - 1}` });
    }),
  );
  if (pieces.some((r) => r.status !== 206 || r.bytes !== PIECE)) throw new Error(`${column}: a range download failed`);
  record(`${FANOUT} concurrent Range downloads of ${PIECE / MiB} MiB: aggregate`, column, mbps(PIECE * FANOUT, performance.now() - rstart), "MB/s");
}

async function benchNginx(dir: string, pki: string, files: Record<string, string>) {
  process.stderr.write("nginx\n");
  const port = await freePort();
  const nginx = await startNginx(join(dir, "nginx"), pki, port, 2);
  try {
    const t = target(port, join(pki, "ca-bundle.pem"), join(pki, "users/admin/usercert.pem"), join(pki, "users/admin/userkey.pem"));
    await transfers("nginx", t, nginx.pid, (n) => `/images/${n}.img`, (n) => `/images/${n}.img`, files);
    await upload(t, "/hs.txt", files.tiny!);
    recordHandshakes("nginx", await handshakes(t, "/hs.txt", nginx.pid, HANDSHAKE_MS));
  } finally {
    await nginx.stop();
  }
}

async function benchRepoman(column: Column, workers: number, dir: string, pki: string, files: Record<string, string>) {
  process.stderr.write(`${column}\n`);
  const dataDir = join(dir, `data-${workers}`);
  const server = await spawnServer([
    "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--workers", String(workers),
    "--host-cert", join(pki, "host/hostcert.pem"), "--host-key", join(pki, "host/hostkey.pem"),
    "--ca-dir", join(pki, "certificates"), "--admin", `admin,admin@example.org,${ADMIN_DN}`,
  ]);
  const pids = () => processTree(server.child.pid!);
  try {
    const ca = join(pki, "ca-bundle.pem");
    const admin = target(server.port, ca, join(pki, "users/admin/usercert.pem"), join(pki, "users/admin/userkey.pem"));
    const proxy = target(server.port, ca, join(pki, "proxies/alice-rfc.pem"));
    const agent = keepAlive(admin);
    const api = (method: string, path: string, body?: unknown) => request(admin, method, path, body === undefined ? undefined : JSON.stringify(body), agent);
    await api("POST", "/api/users", { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" });
    for (const name of ["small", "large"]) await api("POST", "/api/images", { name: `${name}.img` });

    if (workers === 1) {
      // Peak memory and responsiveness during a large upload, on a fresh process.
      const latencies: number[] = [];
      let uploading = true;
      const probe = (async () => {
        while (uploading) {
          latencies.push((await api("GET", "/api/whoami")).ms);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await upload(admin, "/api/images/raw/admin/xen/large.img", files.large!);
      uploading = false;
      await probe;
      record(`peak server RSS during a ${QUICK ? "512 MiB" : "4 GiB"} upload`, column, peakRssMb(pids()), "MB", "lower", "< 150 MB");
      record("whoami during that upload: p99", column, percentile(latencies, 99), "ms", "lower", "< 50 ms");
    }
    await transfers(column, admin, pids, (n) => `/api/images/raw/admin/xen/${n}.img`, (n) => `/api/images/raw/admin/xen/${n}.img`, files);
    recordHandshakes(column, await handshakes(proxy, "/api/whoami", pids, HANDSHAKE_MS));

    const creates: number[] = [];
    for (let i = 0; i < CREATES; i++) {
      const r = await api("POST", "/api/images", { name: `create-${i}`, os_arch: "x86_64", hypervisor: "kvm" });
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.text}`);
      creates.push(r.ms);
    }
    record("create image: p50", column, percentile(creates, 50), "ms", "lower");
    record("create image: p99", column, percentile(creates, 99), "ms", "lower", "< 20 ms");
    const seeders = Array.from({ length: 4 }, () => keepAlive(admin));
    for (let i = CREATES; i < LISTED; i += seeders.length) {
      const made = await Promise.all(seeders.map((a, j) => request(admin, "POST", "/api/images", JSON.stringify({ name: `create-${i + j}` }), a)));
      const failed = made.find((r) => r.status !== 201);
      if (failed) throw new Error(`create answered ${failed.status}: ${failed.text}`);
    }
    const lists: number[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await api("GET", "/api/images");
      if (r.status !== 200 || JSON.parse(r.text).length < LISTED) throw new Error(`list answered ${r.status} with ${r.text.length} bytes`);
      lists.push(r.ms);
    }
    record(`list ${LISTED} images: p50`, column, percentile(lists, 50), "ms", "lower");
    record(`list ${LISTED} images: p99`, column, percentile(lists, 99), "ms", "lower", "< 50 ms");
    agent.destroy();
    seeders.forEach((a) => a.destroy());
  } finally {
    await server.stop();
  }
}

async function main() {
  const started = Date.now();
  const pki = await fixturePki();
  const dir = mkdtempSync(join(tmpdir(), "repoman-bench-"));
  try {
    const files = { small: join(dir, "small.img"), large: join(dir, "large.img"), tiny: join(dir, "tiny.txt") };
    makeFile(files.small, SMALL);
    makeFile(files.large, LARGE);
    makeFile(files.tiny, 64);
    await benchNginx(dir, pki, files);
    await benchRepoman("repoman", 1, dir, pki, files);
    await benchRepoman("repoman --workers 2", 2, dir, pki, files);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report.publish(QUICK ? " (BENCH_QUICK: reduced sizes)" : "", started, !QUICK);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
