// A TCP proxy on 127.0.0.1 in front of a test server, for transfers over a network that fails:
// it cuts connections after a given number of bytes from the client, can slow them down, and in
// chaos mode resets, stalls and slows connections at random (from a seed the test prints, so a
// failure can be replayed). TLS passes through it untouched, so the client still talks to the
// real server.
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface Chaos {
  seed: number;
  // Faults strike at random bytes, these many per MiB on average, counted both ways: so long
  // transfers and kept-alive connections meet them as often as short ones.
  resetsPerMiB: number; // the connection is reset (TCP RST)
  stallsPerMiB: number; // the direction that carried that byte stops for stallMs
  stallMs: number;
  slow: number; // share of connections throttled to slowBytesPerSecond, both ways
  slowBytesPerSecond: number;
}

export interface FlakyProxy {
  port: number;
  cuts: number; // connections cut so far, by plan or by chaos
  stalls: number;
  slowed: number;
  connections: number;
  // Cuts the next new connections, one per entry, after that many bytes from the client (replaces
  // what is left of an earlier plan).
  cutAfter(bytes: number[]): void;
  // Delays client bytes to about this rate, per connection (0: no limit).
  throttle(bytesPerSecond: number): void;
  // Random faults on each new connection from now on; undefined: none.
  chaos(c: Chaos | undefined): void;
  close(): Promise<void>;
}

// mulberry32: small, seedable, good enough to pick faults.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Fate {
  resetAt?: number;
  stallAt?: number;
  rate?: number;
}

export async function startFlakyProxy(targetPort: number): Promise<FlakyProxy> {
  const plan: number[] = [];
  let rate = 0;
  let chaos: Chaos | undefined;
  let random = Math.random;
  const sockets = new Set<net.Socket>();
  const proxy: FlakyProxy = {
    port: 0,
    cuts: 0,
    stalls: 0,
    slowed: 0,
    connections: 0,
    cutAfter: (bytes) => void plan.splice(0, plan.length, ...bytes),
    throttle: (bytesPerSecond) => void (rate = bytesPerSecond),
    chaos: (c) => {
      chaos = c;
      if (c) random = prng(c.seed);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  // Bytes until the next event of a Poisson process with this rate per MiB.
  const gap = (perMiB: number) => (perMiB > 0 ? Math.floor((-Math.log(1 - random()) * 1024 * 1024) / perMiB) : undefined);
  const roll = (c: Chaos): Fate => {
    const fate: Fate = {};
    fate.resetAt = gap(c.resetsPerMiB);
    fate.stallAt = gap(c.stallsPerMiB);
    if (random() < c.slow) fate.rate = c.slowBytesPerSecond;
    if (fate.rate) proxy.slowed++;
    return fate;
  };

  const server = net.createServer((client) => {
    proxy.connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    const limit = plan.shift();
    const fate = chaos ? roll(chaos) : {};
    let fromClient = 0;
    let total = 0; // both ways: where chaos strikes
    let done = false;
    const cut = (reset: boolean) => {
      if (done) return;
      done = true;
      proxy.cuts++;
      // A reset is what a crashed peer or a middlebox gives: ECONNRESET, not a clean end.
      if (reset) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      } else {
        client.destroy();
        upstream.destroy();
      }
    };

    const pump = (from: net.Socket, to: net.Socket, isClient: boolean) => {
      let holding = false;
      const resume = () => {
        if (!done && !holding && !to.writableNeedDrain) from.resume();
      };
      from.on("data", (data: Buffer) => {
        if (done) return;
        if (isClient && limit !== undefined && fromClient + data.length >= limit) {
          upstream.write(data.subarray(0, Math.max(0, limit - fromClient)), () => cut(false));
          fromClient = limit;
          from.pause();
          return;
        }
        if (fate.resetAt !== undefined && total + data.length >= fate.resetAt) {
          to.write(data.subarray(0, Math.max(0, fate.resetAt - total)), () => cut(true));
          from.pause();
          return;
        }
        total += data.length;
        if (isClient) fromClient += data.length;
        to.write(data);
        const bytesPerSecond = fate.rate ?? (isClient ? rate : 0);
        let hold = bytesPerSecond > 0 ? (data.length / bytesPerSecond) * 1000 : 0;
        if (fate.stallAt !== undefined && total >= fate.stallAt) {
          proxy.stalls++;
          hold += chaos?.stallMs ?? 0;
          const next = chaos && gap(chaos.stallsPerMiB);
          fate.stallAt = next === undefined ? undefined : total + next;
        }
        from.pause();
        if (hold > 0) {
          holding = true;
          setTimeout(() => {
            holding = false;
            resume();
          }, hold);
        } else resume();
      });
      to.on("drain", resume);
      from.on("end", () => to.end());
      from.on("close", () => to.destroy());
    };
    pump(client, upstream, true);
    pump(upstream, client, false);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}
