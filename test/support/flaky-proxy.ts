// A TCP proxy on 127.0.0.1 in front of a test server, for transfers over a network that fails:
// it cuts connections after a given number of bytes from the client, and can slow them down.
// TLS passes through it untouched, so the client still talks to the real server.
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface FlakyProxy {
  port: number;
  cuts: number; // connections cut so far
  // Cuts the next new connections, one per entry, after that many bytes from the client (replaces
  // what is left of an earlier plan).
  cutAfter(bytes: number[]): void;
  // Delays client bytes to about this rate, per connection (0: no limit).
  throttle(bytesPerSecond: number): void;
  close(): Promise<void>;
}

export async function startFlakyProxy(targetPort: number): Promise<FlakyProxy> {
  const plan: number[] = [];
  let rate = 0;
  const sockets = new Set<net.Socket>();
  const proxy: FlakyProxy = {
    port: 0,
    cuts: 0,
    cutAfter: (bytes) => void plan.splice(0, plan.length, ...bytes),
    throttle: (bytesPerSecond) => void (rate = bytesPerSecond),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    const limit = plan.shift();
    let seen = 0;
    const cut = () => {
      proxy.cuts++;
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (data: Buffer) => {
      if (limit !== undefined && seen + data.length >= limit) {
        upstream.write(data.subarray(0, Math.max(0, limit - seen)), cut);
        seen = limit;
        client.pause();
        return;
      }
      seen += data.length;
      if (!upstream.write(data)) client.pause();
      if (rate > 0) {
        client.pause();
        setTimeout(() => client.resume(), (data.length / rate) * 1000);
      }
    });
    upstream.on("drain", () => client.resume());
    client.on("end", () => upstream.end());
    upstream.pipe(client);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}
