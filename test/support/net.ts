// Ports on 127.0.0.1 for the servers tests and benchmarks start (nginx, Apache, PostgreSQL).
import { connect, createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, ms: number, why: () => string = () => ""): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), r(true)));
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on ${port}${why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
