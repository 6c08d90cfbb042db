// The load generator: HTTPS clients with client certificates, counting bytes and time.
import https from "node:https";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";

export interface Target {
  port: number;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function target(port: number, ca: string, cert: string, key = cert): Target {
  return { port, ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) };
}

const tls = (t: Target) => ({ host: "127.0.0.1", port: t.port, servername: "localhost", ca: t.ca, cert: t.cert, key: t.key });

export interface Transfer {
  bytes: number;
  ms: number;
  status: number;
}

export function download(t: Target, path: string, headers: Record<string, string> = {}, agent: https.Agent | false = false): Promise<Transfer> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.get({ ...tls(t), path, headers, agent }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ bytes, ms: performance.now() - start, status: res.statusCode! }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

export function upload(t: Target, path: string, file: string): Promise<Transfer> {
  const size = statSync(file).size;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.request({ ...tls(t), path, method: "PUT", agent: false, headers: { "content-length": String(size), "content-type": "application/octet-stream" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ bytes: size, ms: performance.now() - start, status: res.statusCode! }));
    });
    req.on("error", reject);
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

export function request(t: Target, method: string, path: string, body: string | undefined, agent: https.Agent | false): Promise<{ status: number; ms: number; text: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    const req = https.request({ ...tls(t), method, path, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, ms: performance.now() - start, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

export const keepAlive = (t: Target) => new https.Agent({ ...tls(t), keepAlive: true, maxSockets: 1 });

// Full handshakes: every request on a new connection, `parallel` loops for `ms` milliseconds.
export async function handshakesPerSecond(t: Target, path: string, parallel: number, ms: number): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < until) {
        const r = await request(t, "GET", path, undefined, false);
        if (r.status !== 200) throw new Error(`handshake request answered ${r.status}: ${r.text.slice(0, 200)}`);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

// Peak resident memory of a process and its children, from /proc (VmHWM is per process).
export function peakRssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kb += Number(m?.[1] ?? 0);
    } catch {}
  }
  return kb / 1024;
}

// CPU seconds (user + system) a set of processes has used so far.
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / 100; // USER_HZ
}

// A process and all its descendants (nginx workers; repoman-server's launcher, server, cluster workers).
export function processTree(pid: number): number[] {
  let children: number[];
  try {
    children = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    children = []; // pgrep exits 1 when there are no children
  }
  return [pid, ...children.flatMap(processTree)];
}

// Full handshakes per second of wall time, and per CPU-second the server spent on them: on a
// two-core machine the client's own handshake work limits the first, so the second compares servers.
export async function handshakes(t: Target, path: string, serverPids: () => number[], ms: number): Promise<{ perSecond: number; perCpuSecond: number }> {
  const cpu0 = cpuSeconds(serverPids());
  const perSecond = await handshakesPerSecond(t, path, 8, ms);
  const cpu = cpuSeconds(serverPids()) - cpu0;
  return { perSecond, perCpuSecond: (perSecond * ms) / 1000 / cpu };
}
