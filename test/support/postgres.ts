// A throwaway PostgreSQL server on 127.0.0.1 for the tests, from the Debian packages when they
// are installed (postgresql). Each test server then gets a database of its own on it.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.js";
import pg from "pg";

export interface Postgres {
  url: string; // of the maintenance database
  stop(): Promise<void>;
}

export function postgresBinaries(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinaries();
  if (!bin) throw new Error("PostgreSQL is not installed (Debian: apt-get install postgresql)");
  const dir = mkdtempSync(join(tmpdir(), "repoman-pg-"));
  chmodSync(dir, 0o755);
  // PostgreSQL refuses to run as root; the Debian package provides a postgres user.
  const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  if (asUser.length) execFileSync("chown", ["postgres", dir]);
  const run = (cmd: string, args: string[]) => execFileSync(asUser[0] ?? cmd, [...asUser.slice(1), ...(asUser.length ? [cmd] : []), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const data = join(dir, "data");
  run(join(bin, "initdb"), ["-D", data, "-U", "repoman", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  const args = ["-D", data, "-k", dir, "-h", "127.0.0.1", "-p", String(port), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"];
  const child: ChildProcess = spawn(asUser[0] ?? join(bin, "postgres"), [...asUser.slice(1), ...(asUser.length ? [join(bin, "postgres")] : []), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  const url = `postgres://repoman@127.0.0.1:${port}/postgres`;
  const until = Date.now() + 30_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch {
      await c.end().catch(() => {});
      if (Date.now() > until || child.exitCode !== null) throw new Error(`PostgreSQL did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      // Signal the postmaster itself (its pid is the first line of postmaster.pid): runuser does
      // not pass SIGINT on. SIGINT is PostgreSQL's fast shutdown; SIGKILL if that hangs.
      const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
      const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
      process.kill(postmaster, "SIGINT");
      const timer = setTimeout(() => process.kill(postmaster, "SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
// A new, empty database on the server at `maintenanceUrl`; returns its URL.
export async function freshDatabase(maintenanceUrl: string): Promise<string> {
  const name = `repoman_test_${process.pid}_${++counter}`;
  const c = new pg.Client({ connectionString: maintenanceUrl });
  await c.connect();
  try {
    await c.query(`create database ${name}`);
  } finally {
    await c.end();
  }
  return maintenanceUrl.replace(/\/[^/]*$/, `/${name}`);
}
