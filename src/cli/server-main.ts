// `repoman-server [serve] [options]`: reads the configuration, prepares the data directory,
// database and (when no host certificate is given) a development PKI, then serves. The installed
// command is repoman-server.ts, which starts this with the Node.js flags the server needs.
import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { openStore, StorageConfigError, type OpenedStore } from "../blobs/open-store.js";
import { ConfigError, helpText, loadConfig, many, one, parseAdminLine, type RawConfig } from "../config.js";
import { defaultDatabaseUrl, openDatabase, type MetadataDb } from "../db/connect.js";
import { reclaimFromDeadProcesses, recoverAtStart } from "../catalog/housekeeping.js";
import { ensureBootstrapAdmin, type BootstrapAdmin } from "../catalog/users.js";
import { parseHostPort, startServer, type RunningServer } from "../http/server.js";
import type { FrontEndHeaderStyle } from "../http/identity.js";
import { defaultValidationOptions, type ValidationOptions } from "../x509/validate.js";
import { clientCommand, configuredPort, curlCommand, devPkiPaths, ensureDevPki, DEV_ADMIN_DN, type DevPki } from "./dev-pki.js";
import { backup, BackupError, restore } from "./backup.js";
import { devUser, DevUserError } from "./dev-user.js";
import { configuredHostCredential, gridSecurityDir, type HostCredential } from "./host-credential.js";
import { VERSION } from "./repoman/version.js";

const log = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + "\n");

function bootstrapAdmins(c: RawConfig): BootstrapAdmin[] {
  const admins = many(c, "admin").map((l) => parseAdminLine(l, "--admin"));
  const file = one(c, "admins-file");
  if (file) {
    readFileSync(file, "utf8")
      .split(/\r?\n/)
      .forEach((l, i) => {
        const t = l.trim();
        if (t && !t.startsWith("#")) admins.push(parseAdminLine(t, `${file}:${i + 1}`));
      });
  }
  return admins;
}

function validationOptions(c: RawConfig): ValidationOptions {
  const skew = Number(one(c, "clock-skew"));
  if (!Number.isFinite(skew) || skew < 0) throw new ConfigError("clock-skew: expected a number of seconds");
  return {
    ...defaultValidationOptions,
    crl: one(c, "crl") as ValidationOptions["crl"],
    clockSkewSeconds: skew,
    allowIndependent: one(c, "allow-independent-proxies") === "yes",
  };
}

// A development server trusts its development CA, whatever the host's grid CAs: its first start
// must work as printed on a grid host too. A server with a certificate of its own trusts the
// grid's CAs, as grid services do.
function defaultCaDir(devPki: DevPki | undefined): string | undefined {
  if (devPki) return devPki.caDir;
  if (process.env.X509_CERT_DIR) return process.env.X509_CERT_DIR;
  const grid = join(gridSecurityDir(), "certificates");
  return existsSync(grid) ? grid : undefined;
}

interface Prepared {
  dataDir: string;
  devPki: DevPki | undefined;
  host: HostCredential | undefined; // undefined: the development PKI's
  hostCert: string;
  hostKey: string;
  caDir: string;
}

// Everything that writes to the data directory before serving; done once, by the primary process.
function prepare(c: RawConfig, write: boolean): Prepared {
  const dataDir = resolve(one(c, "data-dir")!);
  const listen = parseHostPort(one(c, "listen")!, "listen");
  const host = configuredHostCredential(c);
  const devPki = host ? undefined : write ? ensureDevPki(dataDir, listen.port) : devPkiPaths(dataDir);
  const caDir = one(c, "ca-dir") ?? defaultCaDir(devPki);
  if (!caDir) throw new ConfigError(`no trusted CAs: pass --ca-dir, set X509_CERT_DIR, or install ${join(gridSecurityDir(), "certificates")}`);
  return { dataDir, devPki, host, hostCert: host?.cert ?? devPki!.hostCert, hostKey: host?.key ?? devPki!.hostKey, caDir };
}

const openDb = (c: RawConfig, dataDir: string) => openDatabase(one(c, "database") ?? defaultDatabaseUrl(dataDir), { poolSize: Number(one(c, "db-pool-size")) });
function keepVersions(c: RawConfig): number {
  const n = Number(one(c, "keep-versions"));
  if (!Number.isInteger(n) || n < 0) throw new ConfigError("keep-versions: expected a whole number, 0 to keep every version");
  return n;
}
function drainSeconds(c: RawConfig): number {
  const n = Number(one(c, "drain"));
  if (!(n >= 0)) throw new ConfigError("drain: expected a number of seconds, 0 or more");
  return n;
}
function uploadExpiryHours(c: RawConfig): number {
  const n = Number(one(c, "upload-expiry"));
  if (!(n > 0)) throw new ConfigError("upload-expiry: expected a number of hours above 0");
  return n;
}
const instanceName = (c: RawConfig) => one(c, "instance") ?? `${hostname()}/${one(c, "listen")}`;

async function blobStore(c: RawConfig, dataDir: string): Promise<OpenedStore> {
  try {
    const store = openStore(one(c, "storage") ?? join(dataDir, "images"));
    await store.blobs.check();
    return store;
  } catch (e) {
    throw new ConfigError(e instanceof StorageConfigError ? e.message : `storage: ${(e as Error).message}`);
  }
}

async function bootstrap(c: RawConfig, p: Prepared, db: MetadataDb): Promise<void> {
  const admins = bootstrapAdmins(c);
  if (p.devPki) admins.push({ userName: "admin", email: "", dn: DEV_ADMIN_DN });
  for (const a of admins) {
    try {
      if ((await ensureBootstrapAdmin(db.db, a)) === "created") log({ level: "info", msg: `created bootstrap admin '${a.userName}'`, dn: a.dn });
    } catch (e) {
      log({ level: "warn", msg: `bootstrap admin '${a.userName}' skipped: ${(e as Error).message}` });
    }
  }
}

async function startServing(c: RawConfig, p: Prepared, db: MetadataDb, worker: { serverId: string } | undefined): Promise<RunningServer> {
  const store = await blobStore(c, p.dataDir);
  const trustedProxies = many(c, "trusted-proxy");
  const proxyListen = one(c, "proxy-listen");
  const httpListen = one(c, "http-listen");
  if (proxyListen && trustedProxies.length === 0) throw new ConfigError("proxy-listen needs at least one --trusted-proxy");
  return startServer({
    listen: parseHostPort(one(c, "listen")!, "listen"),
    proxyListen: proxyListen ? parseHostPort(proxyListen, "proxy-listen") : undefined,
    httpListen: httpListen ? parseHostPort(httpListen, "http-listen") : undefined,
    httpPublicUrl: one(c, "http-public-url"),
    hostCert: p.hostCert,
    hostKey: p.hostKey,
    caDir: p.caDir,
    validation: validationOptions(c),
    trustedProxies,
    frontEndHeaders: one(c, "front-end-headers") as FrontEndHeaderStyle,
    publicUrl: one(c, "public-url"),
    db,
    blobs: store.blobs,
    redirectDownloads: store.redirectDownloads,
    instance: instanceName(c),
    recoverAtStart: !worker,
    serverId: worker?.serverId,
    keepVersions: keepVersions(c),
    uploadExpiryHours: uploadExpiryHours(c),
    metricsAllow: many(c, "metrics-allow").length ? many(c, "metrics-allow") : undefined,
    log,
  });
}

function announce(c: RawConfig, configFile: string | undefined, p: Prepared, port: number, workers: number): void {
  const listen = parseHostPort(one(c, "listen")!, "listen");
  const url = `https://${listen.host === "127.0.0.1" || listen.host === "0.0.0.0" ? "localhost" : listen.host}:${port}`;
  const say = (s: string) => process.stderr.write(s + "\n");
  const storage = one(c, "storage");
  if (configFile) say(`Configuration read from ${configFile}`);
  if (p.host?.from === "grid-security") say(`Host certificate ${p.host.cert} and key ${p.host.key}, found on this grid host (--host-cert and --host-key choose others)`);
  say(`Repoman is serving ${url} (data in ${p.dataDir}${storage ? `, images in ${storage.replace(/\?.*/, "")}` : ""}, trusted CAs from ${p.caDir}${workers > 1 ? `, ${workers} worker processes` : ""})`);
  if (one(c, "http-listen")) say(`Public downloads over plain HTTP on ${one(c, "http-listen")}`);
  if (one(c, "proxy-listen")) say(`Front-end listener on ${one(c, "proxy-listen")} for ${many(c, "trusted-proxy").join(", ")}`);
  if (p.devPki) {
    say(`Development PKI in ${p.devPki.dir}; try:`);
    say(`  ${curlCommand(p.devPki.caCert, p.devPki.adminCredential, url)}`);
    say(`  ${clientCommand(p.devPki.clientConfig, configuredPort(p.devPki.clientConfig) === port ? undefined : port)}`);
    say(`  (more users: repoman-server dev-user NAME${one(c, "data-dir") === "./repoman-data" ? "" : ` --data-dir ${p.dataDir}`}${one(c, "database") ? ", with this server's --database" : ""})`);
    if (p.caDir !== p.devPki.caDir) say(`  (the development CA is not trusted while --ca-dir is ${p.caDir}: pass --ca-dir ${p.devPki.caDir})`);
  }
}

function onSignals(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log({ level: "info", msg: `${signal}: finishing requests in flight, then stopping` });
    stop(signal).then(
      () => process.exit(0),
      (e) => {
        log({ level: "error", msg: `shutdown failed: ${String(e)}` });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}

async function serve(c: RawConfig, configFile: string | undefined): Promise<void> {
  const workers = Number(one(c, "workers"));
  if (!Number.isInteger(workers) || workers < 1) throw new ConfigError("workers: expected a whole number of at least 1");
  const drainMs = drainSeconds(c) * 1000;

  if (cluster.isWorker) {
    const p = prepare(c, false);
    const db = await openDb(c, p.dataDir);
    const serverId = process.env.REPOMAN_SERVER_ID!;
    const server = await startServing(c, p, db, { serverId });
    process.send?.({ listening: server.port });
    onSignals(() => server.close(undefined, drainMs));
    return;
  }

  const p = prepare(c, true);
  const db = await openDb(c, p.dataDir);
  await bootstrap(c, p, db);
  if (workers === 1) {
    const server = await startServing(c, p, db, undefined);
    announce(c, configFile, p, server.port, 1);
    onSignals(() => server.close(undefined, drainMs));
    return;
  }

  // The primary cleans up once, then N workers share the listening sockets (node:cluster). A worker
  // that dies is replaced, and the uploads it had in flight are cleaned up on its behalf.
  const storage = { db: db.db, blobs: (await blobStore(c, p.dataDir)).blobs, serverId: "primary", keepVersions: keepVersions(c) };
  const recovered = await recoverAtStart(storage, instanceName(c));
  if (recovered.uploads || recovered.partial || recovered.garbage) log({ level: "info", msg: "cleaned up after interrupted uploads", ...recovered });
  let stopping = false;
  let announced = false;
  const fork = () => {
    const serverId = randomUUID();
    const w = cluster.fork({ REPOMAN_SERVER_ID: serverId });
    w.on("message", (m: { listening?: number }) => {
      if (m.listening !== undefined && !announced) {
        announced = true;
        announce(c, configFile, p, m.listening, workers);
      }
    });
    w.on("exit", (code, signal) => {
      if (stopping) return;
      log({ level: "warn", msg: `worker ${w.process.pid} exited (${signal ?? code}); starting another` });
      reclaimFromDeadProcesses(storage, [serverId]).then(
        (r) => r.uploads && log({ level: "info", msg: "cleaned up the dead worker's uploads", ...r }),
        (e) => log({ level: "error", msg: `cleanup after worker ${w.process.pid} failed: ${String(e)}` }),
      );
      fork();
    });
  };
  for (let i = 0; i < workers; i++) fork();
  onSignals(async () => {
    stopping = true;
    const exits = Object.values(cluster.workers ?? {}).map((w) => new Promise((r) => (w!.isDead() ? r(null) : w!.once("exit", r))));
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    await Promise.all(exits);
    await db.close();
  });
}

// The options of one command (dev-user's --dn, backup's --to, restore's --from), as --NAME VALUE
// or --NAME=VALUE, taken out before the server's options are read.
const COMMAND_OPTIONS: Record<string, string> = { dn: "dev-user", to: "backup", from: "restore" };
function takeCommandOptions(argv: string[]): { argv: string[]; options: Map<string, string> } {
  const rest: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = /^--([a-z]+)(?:=|$)/.exec(a)?.[1];
    if (!name || !Object.hasOwn(COMMAND_OPTIONS, name)) {
      rest.push(a);
      continue;
    }
    if (a.includes("=")) options.set(name, a.slice(a.indexOf("=") + 1));
    else if (i + 1 < argv.length) options.set(name, argv[++i]!);
    else throw new ConfigError(`--${name} needs a value`);
  }
  return { argv: rest, options };
}

async function main(argv: string[]): Promise<number> {
  try {
    const { argv: flags, options } = takeCommandOptions(argv);
    const { config, configFile, positional, help, version } = loadConfig(flags, process.env);
    if (help) {
      process.stdout.write(helpText() + "\n");
      return 0;
    }
    if (version) {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const [command = "serve", ...rest] = positional;
    for (const name of options.keys()) {
      if (COMMAND_OPTIONS[name] !== command) throw new ConfigError(`--${name} is an option of ${COMMAND_OPTIONS[name]} (see repoman-server --help)`);
    }
    if (command === "dev-user") {
      process.stdout.write((await devUser(config, rest, options.get("dn"))).join("\n") + "\n");
      return 0;
    }
    if (command === "backup" || command === "restore") {
      const dir = options.get(command === "backup" ? "to" : "from");
      if (!dir || rest.length > 0) throw new ConfigError(`usage: repoman-server ${command === "backup" ? "backup --to" : "restore --from"} DIR [options]`);
      process.stdout.write((await (command === "backup" ? backup(config, dir) : restore(config, dir))).join("\n") + "\n");
      return 0;
    }
    if (command !== "serve" || rest.length > 0) throw new ConfigError(`unknown command "${[command, ...rest].join(" ")}" (see repoman-server --help)`);
    await serve(config, configFile);
    return -1; // keep running
  } catch (e) {
    process.stderr.write(`repoman-server: ${e instanceof ConfigError ? e.message : (e as Error).message ?? String(e)}\n`);
    return e instanceof DevUserError || e instanceof BackupError ? 1 : 2;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
});
