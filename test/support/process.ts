// Runs `repoman-server` as a real child process (for tests that kill it or read what it prints).
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SERVER_NODE_FLAGS } from "../../src/cli/node-flags.js";

export const SERVER_MAIN = fileURLToPath(new URL("../../src/cli/server-main.js", import.meta.url));
// The installed `repoman-server` command, which runs SERVER_MAIN with SERVER_NODE_FLAGS.
export const SERVER_BIN = fileURLToPath(new URL("../../src/cli/repoman-server.js", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  stdout: () => string;
  // Resolves with the exit code, or the name of the signal that ended the process.
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
  // Waits until standard error has printed something matching `pattern`.
  waitForStderr(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
}

// What a server started by a test reads of the machine's own /etc: nothing. A grid host's host
// certificate or an installed configuration would otherwise change what the tests start.
export const NO_HOST_SETUP: NodeJS.ProcessEnv = { REPOMAN_GRID_SECURITY_DIR: "/nonexistent/grid-security", REPOMAN_CONFIG: "/dev/null" };

// The installed command, given the Node.js flags it would add itself, so that the server is this
// one process (tests signal and kill it). `launcher: true` runs it as installed, without them: the
// child is then the launcher, and the server its child.
export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}, opts: { launcher?: boolean } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(opts.launcher ? [] : SERVER_NODE_FLAGS), SERVER_BIN, ...args], { env: { ...process.env, ...NO_HOST_SETUP, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (err += c));
  const exited = new Promise<number | string | null>((r) => child.on("exit", (code, signal) => r(code ?? signal)));
  return new Promise((resolve, reject) => {
    // Generous: a first start makes a development PKI, and CI machines are shared.
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 60_000);
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
        async waitForStderr(pattern, ms = 10_000) {
          const until = Date.now() + ms;
          for (;;) {
            const m = pattern.exec(err);
            if (m) return m;
            if (Date.now() > until) throw new Error(`server never printed ${pattern}:\n${err}`);
            await new Promise((r) => setTimeout(r, 20));
          }
        },
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
