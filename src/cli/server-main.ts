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
import { DEFAULT_VOMSDIR } from "../x509/vomsdir.js";
import { parseVomsMapping } from "../policy/voms-map.js";
import { clientCommand, configuredPort, curlCommand, devPkiPaths, ensureDevPki, DEV_ADMIN_DN, type DevPki } from "./dev-pki.js";
import { backup, BackupError, restore } from "./backup.js";
import { devUser, DevUserError } from "./dev-user.js";
import { auditCommand } from "./audit.js";
import { configuredHostCredential, gridSecurityDir, type HostCredential } from "./host-credential.js";
import { VERSION } from "./repoman/version.js";
import { createLog } from "../log.js";
import { canonicalDn } from "../x509/dn.js";

const log = createLog();

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

function vomsOptions(c: RawConfig) {
  try {
    const publicHost = one(c, "public-url") ? new URL(one(c, "public-url")!).hostname : undefined;
    return {
      vomsdir: one(c, "vomsdir") ?? process.env.X509_VOMS_DIR ?? DEFAULT_VOMSDIR,
      map: many(c, "voms-map").map(parseVomsMapping),
      autoRegister: one(c, "voms-auto-register") === "yes",
      targets: many(c, "voms-target").length > 0 ? many(c, "voms-target") : [publicHost ?? hostname()],
    };
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
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
function metricsDns(c: RawConfig): string[] {
  try {
    return many(c, "metrics-dn").map(canonicalDn);
  } catch (e) {
    throw new ConfigError(`metrics-dn: ${(e as Error).message}`);
  }
}
function auditRetentionDays(c: RawConfig): number {
  const n = Number(one(c, "audit-retention"));
  if (!(n >= 0)) throw new ConfigError("audit-retention: expected a number of days, 0 to keep every event");
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
      if ((await ensureBootstrapAdmin(db.db, a)) === "created") log.info({ dn: a.dn }, `created bootstrap admin '${a.userName}'`);
    } catch (e) {
      log.warn(`bootstrap admin '${a.userName}' skipped: ${(e as Error).message}`);
    }
  }
}

async function startServing(c: RawConfig, p: Prepared, db: MetadataDb, worker: { serverId: string } | undefined): Promise<RunningServer> {
  const store = await blobStore(c, p.dataDir);
  const trustedProxies = many(c, "trusted-proxy");
  const proxyListen = one(c, "proxy-listen");
  const httpListen = one(c, "http-listen");
  if (proxyListen && trustedProxies.length === 0) throw new ConfigError("proxy-listen needs at least one --trusted-proxy");
  if (!!one(c, "list-signing-cert") !== !!one(c, "list-signing-key")) throw new ConfigError("give both --list-signing-cert and --list-signing-key, or neither to sign image lists with the host certificate");
  return startServer({
    listen: parseHostPort(one(c, "listen")!, "listen"),
    proxyListen: proxyListen ? parseHostPort(proxyListen, "proxy-listen") : undefined,
    httpListen: httpListen ? parseHostPort(httpListen, "http-listen") : undefined,
    httpPublicUrl: one(c, "http-public-url"),
    hostCert: p.hostCert,
    hostKey: p.hostKey,
    listSigningCert: one(c, "list-signing-cert"),
    listSigningKey: one(c, "list-signing-key"),
    caDir: p.caDir,
    validation: validationOptions(c),
    voms: vomsOptions(c),
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
    allowBackingFiles: one(c, "allow-backing-files") === "yes",
    uploadExpiryHours: uploadExpiryHours(c),
    auditRetentionDays: auditRetentionDays(c),
    metricsAllow: many(c, "metrics-allow").length ? many(c, "metrics-allow") : undefined,
    metricsDns: metricsDns(c),
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
    log.info(`${signal}: finishing requests in flight, then stopping`);
    stop(signal).then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, "shutdown failed");
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
  if (recovered.uploads || recovered.partial || recovered.garbage) log.info(recovered, "cleaned up after interrupted uploads");
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
      log.warn(`worker ${w.process.pid} exited (${signal ?? code}); starting another`);
      reclaimFromDeadProcesses(storage, [serverId]).then(
        (r) => r.uploads && log.info(r, "cleaned up the dead worker's uploads"),
        (e) => log.error({ err: e }, `cleanup after worker ${w.process.pid} failed`),
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

// The options of one command (dev-user --dn, audit --user, backup --to …): taken out of the command line
// before the server's own options are read. "flag" options take no value.
const COMMAND_OPTIONS: Record<string, Record<string, "value" | "flag">> = {
  "dev-user": { dn: "value" },
  backup: { to: "value" },
  restore: { from: "value" },
  audit: { user: "value", action: "value", target: "value", since: "value", until: "value", limit: "value", json: "flag" },
};
const ALL_COMMAND_OPTIONS = new Map(Object.values(COMMAND_OPTIONS).flatMap((o) => Object.entries(o)));

function takeCommandOptions(argv: string[]): { argv: string[]; taken: Map<string, string> } {
  const rest: string[] = [];
  const taken = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
    const kind = m ? ALL_COMMAND_OPTIONS.get(m[1]!) : undefined;
    if (!m || !kind) {
      rest.push(a);
    } else if (kind === "flag") {
      taken.set(m[1]!, "true");
    } else if (m[2] !== undefined) {
      taken.set(m[1]!, m[2]);
    } else {
      if (i + 1 >= argv.length) throw new ConfigError(`--${m[1]} needs a value`);
      taken.set(m[1]!, argv[++i]!);
    }
  }
  return { argv: rest, taken };
}

async function main(argv: string[]): Promise<number> {
  try {
    const { argv: flags, taken } = takeCommandOptions(argv);
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
    const foreign = [...taken.keys()].find((k) => !(k in (COMMAND_OPTIONS[command] ?? {})));
    if (foreign) throw new ConfigError(`--${foreign} is an option of ${Object.keys(COMMAND_OPTIONS).find((c) => foreign in COMMAND_OPTIONS[c]!)} (see repoman-server --help)`);
    if (command === "dev-user") {
      process.stdout.write((await devUser(config, rest, taken.get("dn"))).join("\n") + "\n");
      return 0;
    }
    if (command === "audit") {
      await auditCommand(config, rest, taken, (line) => process.stdout.write(line + "\n"));
      return 0;
    }
    if (command === "backup" || command === "restore") {
      const dir = taken.get(command === "backup" ? "to" : "from");
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
