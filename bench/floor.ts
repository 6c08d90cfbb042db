// `npm run bench:floor`: how much of Repoman's gap to nginx is Node.js itself. The same uploads
// and handshakes as `npm run bench`, against nginx, against node:https with Repoman's TLS
// settings and nothing else (bench/bare-server.ts: the floor for any Node.js 20 server), and
// against Repoman. Each upload runs three times, the servers taking turns, and the median counts.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/support/net.js";
import { fixturePki } from "../test/support/pki.js";
import { startNginx } from "./nginx.js";
import { handshakes, percentile, upload, type Target } from "./load.js";
import { asAdmin, asAliceProxy, startRepoman } from "./repoman.js";
import { makeFile, mbps, measured, MiB, Report, warmPageCache } from "./report.js";

const QUICK = process.env.BENCH_QUICK === "1";
const SIZE = QUICK ? 128 * MiB : 1024 * MiB;
const ROUNDS = 3;
const HANDSHAKE_MS = QUICK ? 2000 : 5000;

const NGINX = "nginx";
const BARE = "node:https, body discarded";
const BARE_SHA = "node:https + SHA-256";
const BARE_FILE = "node:https + SHA-256 + file";
const REPOMAN = "repoman";
const report = new Report([NGINX, BARE, BARE_SHA, BARE_FILE, REPOMAN]);

interface Contender {
  column: string;
  t: Target;
  path: string;
  pids: () => number[];
}

async function startBare(pki: string, scratch: string): Promise<{ port: number; pid: number; stop: () => void }> {
  const script = fileURLToPath(new URL("./bare-server.js", import.meta.url));
  const child = spawn(process.execPath, [script, join(pki, "host/hostcert.pem"), join(pki, "host/hostkey.pem"), join(pki, "certificates"), scratch], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return { port: Number(line), pid: child.pid!, stop: () => child.kill() };
}

async function main() {
  const started = Date.now();
  const pki = await fixturePki();
  const dir = mkdtempSync(join(tmpdir(), "repoman-floor-"));
  const stops: (() => unknown)[] = [];
  try {
    const file = join(dir, "upload.img");
    makeFile(file, SIZE);
    const nginx = await startNginx(join(dir, "nginx"), pki, await freePort(), 2);
    stops.push(() => nginx.stop());
    const bare = await startBare(pki, dir);
    stops.push(bare.stop);
    const repoman = await startRepoman(dir, pki, 1, ["floor.img"]);
    stops.push(() => repoman.server.stop());

    const admin = (port: number) => asAdmin(pki, port);
    const proxy = (port: number) => asAliceProxy(pki, port);
    const uploaders: Contender[] = [
      { column: NGINX, t: admin(nginx.port), path: "/images/floor.img", pids: nginx.pid },
      { column: BARE, t: admin(bare.port), path: "/discard", pids: () => [bare.pid] },
      { column: BARE_SHA, t: admin(bare.port), path: "/sha256", pids: () => [bare.pid] },
      { column: BARE_FILE, t: admin(bare.port), path: "/file", pids: () => [bare.pid] },
      { column: REPOMAN, t: repoman.admin, path: repoman.path("floor.img"), pids: repoman.pids },
    ];
    const runs = new Map<string, { mbps: number[]; cpu: number[] }>(uploaders.map((u) => [u.column, { mbps: [], cpu: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const u of uploaders) {
        warmPageCache(dir, SIZE);
        const [up, cpu] = await measured(u.pids, () => upload(u.t, u.path, file));
        if (up.status >= 300) throw new Error(`${u.column}: upload answered ${up.status}`);
        runs.get(u.column)!.mbps.push(mbps(up.bytes, up.ms));
        runs.get(u.column)!.cpu.push(cpu / (up.bytes / 1024 / MiB));
      }
    }
    const label = QUICK ? "128 MiB" : "1 GiB";
    for (const u of uploaders) {
      const r = runs.get(u.column)!;
      report.record(`upload ${label}, median of ${ROUNDS}`, u.column, percentile(r.mbps, 50), "MB/s");
      report.record(`upload ${label}: server CPU-seconds per GiB, median`, u.column, percentile(r.cpu, 50), "CPU-s", "lower");
    }

    const tiny = join(dir, "tiny.txt");
    makeFile(tiny, 64);
    await upload(admin(nginx.port), "/hs.txt", tiny);
    // nginx cannot verify proxies, so it is compared on a plain certificate; the proxy rows show
    // what the longer chain costs node:https and Repoman.
    const shakers: [string, Contender][] = [
      ["EEC", { column: NGINX, t: admin(nginx.port), path: "/hs.txt", pids: nginx.pid }],
      ["EEC", { column: BARE, t: admin(bare.port), path: "/", pids: () => [bare.pid] }],
      ["EEC", { column: REPOMAN, t: repoman.admin, path: "/api/whoami", pids: repoman.pids }],
      ["RFC 3820 proxy", { column: BARE, t: proxy(bare.port), path: "/", pids: () => [bare.pid] }],
      ["RFC 3820 proxy", { column: REPOMAN, t: repoman.proxy, path: "/api/whoami", pids: repoman.pids }],
    ];
    for (const [credential, s] of shakers) {
      const h = await handshakes(s.t, s.path, s.pids, HANDSHAKE_MS);
      const eec = "full TLS handshakes per server CPU-second, EEC";
      if (credential === "EEC") report.record(eec, s.column, h.perCpuSecond, "per CPU-s");
      else report.record(`full TLS handshakes per server CPU-second, ${credential} (ratio to nginx's EEC)`, s.column, h.perCpuSecond, "per CPU-s", "higher", "≥ 0.7× nginx", eec);
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  report.publish(` — the floor under Repoman (\`npm run bench:floor\`)${QUICK ? " (BENCH_QUICK: reduced sizes)" : ""}`, started, !QUICK);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
