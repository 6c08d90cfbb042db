// Runs `repoman-server` as a real child process (for tests that kill it or read what it prints).
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const SERVER_MAIN = fileURLToPath(new URL("../../src/cli/server-main.js", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  stdout: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (err += c));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 20_000);
    const onData = () => {
      const m = /serving https:\/\/[^:]+:(\d+)/.exec(err);
      if (!m) return;
      clearTimeout(timer);
      child.stderr!.off("data", onData);
      resolve({
        child,
        port: Number(m[1]),
        stderr: () => err,
        stdout: () => out,
        async stop(signal = "SIGTERM") {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before serving:\n${err}`));
    });
  });
}
