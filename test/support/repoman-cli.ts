// Runs the `repoman` client as a real child process, as users do: its exit code, standard output
// and standard error, with a given environment and standard input.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
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

// Starts `repoman ARGS`, a get-image to DEST, and kills it with SIGKILL as soon as DEST.part holds
// some bytes, as a lost connection or a closed laptop would; resolves with how many it holds.
export async function killedDownload(args: string[], env: NodeJS.ProcessEnv, dest: string): Promise<number> {
  const child = spawn(process.execPath, [CLIENT_MAIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: "ignore" });
  const exited = new Promise((r) => child.on("exit", r));
  const part = `${dest}.part`;
  for (let i = 0; i < 1000 && !(existsSync(part) && statSync(part).size > 0); i++) await new Promise((r) => setTimeout(r, 5));
  child.kill("SIGKILL");
  await exited;
  return existsSync(part) ? statSync(part).size : 0;
}
