// `repoman-server dev-user NAME [--dn DN]`: a user of a development server in one command. Issues
// a certificate from the development CA that the first start without --host-cert made, registers
// NAME with its DN in the server's database (the --data-dir / --database that `serve` uses, so the
// embedded SQLite default works, also while the server runs), and prints the credential and the
// client configuration and commands that use it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadActorByDnKey } from "../catalog/actors.js";
import { USER_NAME } from "../catalog/names.js";
import { createUser, ensureBootstrapAdmin } from "../catalog/users.js";
import { ConfigError, one, type RawConfig } from "../config.js";
import { defaultDatabaseUrl, openDatabase } from "../db/connect.js";
import { parseHostPort } from "../http/server.js";
import { canonicalDn, toOneline } from "../x509/dn.js";
import { configuredHostCredential } from "./host-credential.js";
import { clientCommand, clientConfigText, configuredPort, curlCommand, DEV_ADMIN_DN, devPkiComplete, devPkiPaths, issueUserCredential } from "./dev-pki.js";

// A refusal or failure of dev-user (exit 1), as opposed to a command line it cannot parse (exit 2).
export class DevUserError extends Error {}

// The port clients should use: --listen's, else the one the development client configuration
// names; 0 when neither does (a server on port 0), and then the printed commands need the port.
function clientPort(c: RawConfig, clientConfig: string): number {
  const listen = parseHostPort(one(c, "listen")!, "listen");
  if (listen.port !== 0) return listen.port;
  return (existsSync(clientConfig) && configuredPort(clientConfig)) || 0;
}

export async function devUser(c: RawConfig, args: string[], dnOption: string | undefined): Promise<string[]> {
  if (args.length !== 1) throw new ConfigError("dev-user takes one user name: repoman-server dev-user NAME [--dn DN]");
  const name = args[0]!;
  if (!USER_NAME.test(name)) throw new ConfigError(`'${name}' is not a valid user name: 1-64 letters, digits, '_' or '-'`);
  let dn: string;
  try {
    dn = toOneline(dnOption ?? `/O=Repoman Development/CN=${name}`);
  } catch (e) {
    throw new ConfigError(`--dn: ${(e as Error).message}`);
  }
  const dataDir = resolve(one(c, "data-dir")!);
  const host = configuredHostCredential(c);
  if (host) throw new DevUserError(`this server is configured with its own host certificate (${host.from === "options" ? "--host-cert" : host.cert}), not the development PKI: register users with \`repoman create-user\` and certificates from your CA`);
  const pki = devPkiPaths(dataDir);
  if (!devPkiComplete(pki)) throw new DevUserError(`there is no development CA in ${pki.dir}: start repoman-server once without --host-cert (with --data-dir ${dataDir}) to make one, or, on a server with real host certificates, register users with \`repoman create-user\``);

  const db = await openDatabase(one(c, "database") ?? defaultDatabaseUrl(dataDir), { poolSize: 1 });
  try {
    // The development admin registers the user, as `repoman create-user` would; every start of a
    // development server makes sure it exists, and so does this.
    await ensureBootstrapAdmin(db.db, { userName: "admin", email: "", dn: DEV_ADMIN_DN });
    const admin = await loadActorByDnKey(db.db, canonicalDn(DEV_ADMIN_DN), false);
    if (admin.status !== "ok" || !admin.actor.isAdmin) throw new DevUserError(`the development admin (${DEV_ADMIN_DN}) is not an admin in this database, so it cannot register users`);
    const issued = issueUserCredential(pki, name, dn);
    try {
      await createUser(db.db, admin.actor, { userName: name, certDn: issued.dn });
    } catch (e) {
      issued.remove();
      throw new DevUserError(`cannot register '${name}': ${(e as Error).message}`);
    }
    const port = clientPort(c, pki.clientConfig);
    const config = join(issued.dir, "repoman.conf");
    writeFileSync(config, clientConfigText(port, issued.credential, pki.caCert));
    return [
      `Registered user '${name}' (${issued.dn}) with a certificate from the development CA.`,
      `Credential (certificate and key in one file, used like a grid proxy): ${issued.credential}`,
      `Client configuration: ${config}`,
      "Try:",
      `  ${clientCommand(config, port === 0 ? "PORT" : undefined)}`,
      `  ${curlCommand(pki.caCert, issued.credential, `https://localhost:${port || "PORT"}`)}`,
      ...(port === 0 ? ["(PORT: the server's port; dev-user --listen HOST:PORT writes it into the configuration)"] : []),
    ];
  } catch (e) {
    throw e instanceof DevUserError ? e : new DevUserError((e as Error).message);
  } finally {
    await db.close();
  }
}
