// Runs the `repoman` client as a real child process, as users do: its exit code, standard output
// and standard error, with a given environment and standard input.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLIENT_MAIN = fileURLToPath(new URL("../../src/cli/client-main.js", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv; // the whole environment, apart from PATH
  stdin?: string; // written, then closed; without it standard input is empty
  cwd?: string;
  timeoutMs?: number;
}

export function runRepoman(args: string[], opts: RunOptions = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLIENT_MAIN, ...args], {
    env: { PATH: process.env.PATH, TZ: "UTC", ...opts.env },
    cwd: opts.cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  child.stdin.end(opts.stdin ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
