#!/usr/bin/env node
// The installed `repoman-server` command. `#!/usr/bin/env -S node FLAGS` would pass the server's
// Node.js flags (node-flags.ts) in one line, but BusyBox and EL7's env have no -S; so when they
// are missing, this runs the server once more with them, as a child that shares standard I/O,
// and passes signals on and its exit status back. Only node:child_process is loaded here, so the
// waiting parent stays small.
import { spawn } from "node:child_process";
import { missingNodeFlags } from "./node-flags.js";

const missing = missingNodeFlags(process.execArgv);
if (missing.length === 0) {
  // Started by this launcher: a launcher killed outright (SIGKILL) must not leave the server
  // running unseen, so the IPC channel's end stops it as SIGTERM would.
  if (process.channel && process.env.REPOMAN_LAUNCHED === String(process.ppid)) {
    process.channel.unref();
    process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
  }
  await import("./server-main.js");
} else {
  const child = spawn(process.execPath, [...process.execArgv, ...missing, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, REPOMAN_LAUNCHED: String(process.pid) },
  });
  const signals = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"] as const;
  for (const s of signals) process.on(s, () => child.kill(s));
  child.on("error", (e) => {
    process.stderr.write(`repoman-server: cannot start ${process.execPath}: ${e.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      // Die of the same signal, so that whoever started us sees what happened.
      for (const s of signals) process.removeAllListeners(s);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}
