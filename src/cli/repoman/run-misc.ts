// help, version, whoami, about, make-config, completion.
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { configTemplate, snapshotPath, userConfigPath } from "../../client/config.js";
import { nameFromUrl } from "../../client/api.js";
import { ClientError } from "../../client/errors.js";
import { findCommand } from "./commands.js";
import { bashCompletion } from "./completion.js";
import { arg, flag, print, printJson, write, type Handler } from "./context.js";
import { commandHelp, generalHelp } from "./help.js";
import { VERSION } from "./version.js";

const help: Handler = async (ctx) => {
  const name = arg(ctx, "subcommand");
  if (name === undefined) return write(generalHelp());
  const c = findCommand(name);
  if (!c) throw new ClientError(`No help available for "${name}".`);
  write(commandHelp(c));
};

const whoami: Handler = async (ctx) => {
  const me = await (await ctx.session.api()).whoami();
  if (flag(ctx, "json")) return printJson(me);
  print(me.user_name);
  // Only VOMS proxies add lines: scripts reading the first line keep working.
  if (me.voms) {
    if (me.voms.fqans.length > 0) print(`VOMS FQANs: ${me.voms.fqans.join(", ")}`);
    if (me.voms.fqans.length > 0) print(`VOMS groups (this session only): ${me.voms.groups.map(nameFromUrl).join(", ") || "none"}`);
    for (const r of me.voms.refused) print(`VOMS AC refused: ${r}`);
  }
};

const about: Handler = async (ctx) => {
  const s = ctx.session;
  const c = s.config;
  const host = s.globals.repository ?? c.repository;
  const logFile = s.logFilePath();
  const rows: [string, string][] = [
    ["client version", VERSION],
    ["config files in use", c.files.join(", ") || "None"],
    ["repository_host", host ? s.endpoint().host : "None"],
    ["repository_port", host ? String(s.endpoint().port) : String(s.globals.port ?? c.port)],
    ["user_proxy_cert", s.globals.proxy ?? c.proxyCert],
    ["snapshot", snapshotPath(c, "snapshot")],
    ["mountpoint", snapshotPath(c, "mountpoint")],
    ["lockfile", snapshotPath(c, "lockfile")],
    ["system_excludes", c.get("ThisImage", "system_excludes")],
    ["user_excludes", c.get("ThisImage", "user_excludes")],
    ["logging", logFile ? `Log sent to: ${logFile}` : "Disabled"],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  print(rows.map(([k, v]) => `${k.padStart(width)}: ${v}`).join("\n"));
};

const makeConfig: Handler = async (ctx) => {
  const e = ctx.session.environment;
  const text = configTemplate(e);
  if (flag(ctx, "stdout")) return write(text);
  const path = userConfigPath(e);
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) {
    renameSync(path, `${path}.bak`);
    print(`The existing configuration file was renamed to ${path}.bak`);
  }
  writeFileSync(path, text);
  print(`New repoman configuration file written to ${path}`);
};

export const miscHandlers: Record<string, Handler> = {
  help,
  version: async () => print(VERSION),
  whoami,
  about,
  "make-config": makeConfig,
  completion: async () => write(bashCompletion()),
};
