#!/usr/bin/env node
// `repoman-server [serve] [options]`: reads the configuration, prepares the data directory,
// database and (when no host certificate is given) a development PKI, then serves.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FsBlobStore } from "../blobs/fs-store.js";
import { ConfigError, helpText, loadConfig, many, one, parseAdminLine, type RawConfig } from "../config.js";
import { defaultDatabaseUrl, openDatabase } from "../db/connect.js";
import { ensureBootstrapAdmin, type BootstrapAdmin } from "../catalog/users.js";
import { parseHostPort, startServer } from "../http/server.js";
import type { FrontEndHeaderStyle } from "../http/identity.js";
import { defaultValidationOptions, type ValidationOptions } from "../x509/validate.js";
import { ensureDevPki, DEV_ADMIN_DN, type DevPki } from "./dev-pki.js";

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

function defaultCaDir(devPki: DevPki | undefined): string | undefined {
  if (process.env.X509_CERT_DIR) return process.env.X509_CERT_DIR;
  if (existsSync("/etc/grid-security/certificates")) return "/etc/grid-security/certificates";
  return devPki?.caDir;
}

async function serve(c: RawConfig): Promise<void> {
  const dataDir = resolve(one(c, "data-dir")!);
  const listen = parseHostPort(one(c, "listen")!, "listen");
  const proxyListenText = one(c, "proxy-listen");
  const httpListenText = one(c, "http-listen");
  const trustedProxies = many(c, "trusted-proxy");
  if (proxyListenText && trustedProxies.length === 0) throw new ConfigError("proxy-listen needs at least one --trusted-proxy");

  let hostCert = one(c, "host-cert");
  let hostKey = one(c, "host-key");
  if (!!hostCert !== !!hostKey) throw new ConfigError("give both --host-cert and --host-key, or neither for a development PKI");
  let devPki: DevPki | undefined;
  if (!hostCert) {
    devPki = ensureDevPki(dataDir, listen.port);
    hostCert = devPki.hostCert;
    hostKey = devPki.hostKey;
  }
  const caDir = one(c, "ca-dir") ?? defaultCaDir(devPki);
  if (!caDir) throw new ConfigError("no trusted CAs: pass --ca-dir, set X509_CERT_DIR, or install /etc/grid-security/certificates");

  const admins = bootstrapAdmins(c);
  if (devPki) admins.push({ userName: "admin", email: "", dn: DEV_ADMIN_DN });

  const db = await openDatabase(one(c, "database") ?? defaultDatabaseUrl(dataDir), { poolSize: Number(one(c, "db-pool-size")) });
  for (const a of admins) {
    try {
      if ((await ensureBootstrapAdmin(db.db, a)) === "created") log({ level: "info", msg: `created bootstrap admin '${a.userName}'`, dn: a.dn });
    } catch (e) {
      log({ level: "warn", msg: `bootstrap admin '${a.userName}' skipped: ${(e as Error).message}` });
    }
  }

  const server = await startServer({
    listen,
    proxyListen: proxyListenText ? parseHostPort(proxyListenText, "proxy-listen") : undefined,
    hostCert,
    hostKey: hostKey!,
    caDir,
    validation: validationOptions(c),
    trustedProxies,
    frontEndHeaders: one(c, "front-end-headers") as FrontEndHeaderStyle,
    publicUrl: one(c, "public-url"),
    db,
    blobs: new FsBlobStore(join(dataDir, "images")),
    httpListen: httpListenText ? parseHostPort(httpListenText, "http-listen") : undefined,
    httpPublicUrl: one(c, "http-public-url"),
    log,
  });

  const url = `https://${listen.host === "127.0.0.1" || listen.host === "0.0.0.0" ? "localhost" : listen.host}:${server.port}`;
  const say = (s: string) => process.stderr.write(s + "\n");
  say(`Repoman is serving ${url} (data in ${dataDir}, trusted CAs from ${caDir})`);
  if (server.httpPort !== undefined) say(`Public downloads over plain HTTP on ${httpListenText}`);
  if (server.proxyPort !== undefined) say(`Front-end listener on ${proxyListenText} for ${trustedProxies.join(", ")}`);
  if (devPki) {
    say(`Development PKI in ${devPki.dir}; try:`);
    say(`  curl --cacert ${devPki.caCert} --cert ${devPki.adminCredential} ${url}/api/whoami`);
    if (caDir !== devPki.caDir) say(`  (the development CA is not trusted while --ca-dir is ${caDir}: pass --ca-dir ${devPki.caDir})`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log({ level: "info", msg: `${signal}: finishing requests in flight, then stopping` });
    server.close().then(
      () => process.exit(0),
      (e) => {
        log({ level: "error", msg: `shutdown failed: ${String(e)}` });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function main(argv: string[]): Promise<number> {
  try {
    const { config, positional, help } = loadConfig(argv, process.env);
    if (help) {
      process.stdout.write(helpText() + "\n");
      return 0;
    }
    const [command = "serve", ...rest] = positional;
    if (command !== "serve" || rest.length > 0) throw new ConfigError(`unknown command "${[command, ...rest].join(" ")}" (see repoman-server --help)`);
    await serve(config);
    return -1; // keep running
  } catch (e) {
    process.stderr.write(`repoman-server: ${e instanceof ConfigError ? e.message : (e as Error).message ?? String(e)}\n`);
    return 2;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
});
