// Starts a real Repoman server in this process, over real TLS, on an ephemeral 127.0.0.1 port,
// with a fresh SQLite database and the fixture PKI as its trust store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/connect.js";
import { ensureBootstrapAdmin } from "../../src/catalog/users.js";
import { startServer, type RunningServer } from "../../src/http/server.js";
import { defaultValidationOptions, type ValidationOptions } from "../../src/x509/validate.js";
import { client, type Credential } from "./http.js";
import { FsBlobStore } from "../../src/blobs/fs-store.js";
import { freshDatabase } from "./postgres.js";
import type { FrontEndHeaderStyle } from "../../src/http/identity.js";
import { createLog } from "../../src/log.js";
import { parseVomsMapping } from "../../src/policy/voms-map.js";

export const ADMIN_DN = "/C=CA/O=Grid/OU=test/CN=Repo Admin";

export interface TestServer {
  server: RunningServer;
  port: number;
  dataDir: string;
  logs: Record<string, unknown>[];
  call: ReturnType<typeof client>;
  cred(name: string): Credential; // users/<name>/usercert.pem + userkey.pem
  proxy(name: string): Credential; // proxies/<name>.pem
  close(): Promise<void>;
}

// The fixture's trusted CAs in one PEM file, for clients verifying the server.
export const trustedCaBundle = (pki: string) => join(pki, "ca-bundle.pem");

// SQLite in the data directory, or a fresh PostgreSQL database when the suite runs against
// PostgreSQL (test/run.mjs sets REPOMAN_TEST_POSTGRES_URL for its second pass).
export async function testDatabaseUrl(dataDir: string): Promise<string> {
  const pg = process.env.REPOMAN_TEST_POSTGRES_URL;
  return pg ? freshDatabase(pg) : `sqlite:${join(dataDir, "repoman.db")}`;
}

export async function startTestServer(
  pki: string,
  opts: {
    validation?: Partial<ValidationOptions>;
    trustedProxies?: string[];
    frontEndHeaders?: FrontEndHeaderStyle;
    proxyListen?: boolean;
    httpListen?: boolean;
    caDir?: string;
    metricsAllow?: string[];
    metricsDns?: string[]; // canonical
    listSigner?: boolean; // sign image lists with host/signcert.pem, not the host certificate
    // VOMS on, with the fixture's vomsdir unless another is given; map lines as --voms-map takes them.
    voms?: { map?: string[]; autoRegister?: boolean; targets?: string[]; vomsdir?: string };
    allowBackingFiles?: boolean;
  } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "repoman-test-"));
  const db = await openDatabase(await testDatabaseUrl(dataDir));
  await ensureBootstrapAdmin(db.db, { userName: "admin", email: "admin@example.org", dn: ADMIN_DN });
  const logs: Record<string, unknown>[] = [];
  const server = await startServer({
    listen: { host: "127.0.0.1", port: 0 },
    proxyListen: opts.proxyListen ? { host: "127.0.0.1", port: 0 } : undefined,
    hostCert: join(pki, "host/hostcert.pem"),
    hostKey: join(pki, "host/hostkey.pem"),
    caDir: opts.caDir ?? join(pki, "certificates"),
    validation: { ...defaultValidationOptions, ...opts.validation },
    trustedProxies: opts.trustedProxies ?? [],
    frontEndHeaders: opts.frontEndHeaders ?? "repoman",
    db,
    blobs: new FsBlobStore(join(dataDir, "images")),
    httpListen: opts.httpListen ? { host: "127.0.0.1", port: 0 } : undefined,
    log: collectingLog(logs),
    metricsAllow: opts.metricsAllow,
    metricsDns: opts.metricsDns,
    allowBackingFiles: opts.allowBackingFiles,
    ...(opts.listSigner ? { listSigningCert: join(pki, "host/signcert.pem"), listSigningKey: join(pki, "host/signkey.pem") } : {}),
    voms: opts.voms && {
      vomsdir: opts.voms.vomsdir ?? join(pki, "vomsdir"),
      map: (opts.voms.map ?? []).map(parseVomsMapping),
      autoRegister: opts.voms.autoRegister ?? false,
      targets: opts.voms.targets ?? ["localhost"],
    },
  });
  return {
    server,
    port: server.port,
    dataDir,
    logs,
    call: client(server.port, trustedCaBundle(pki)),
    cred: (name) => ({ cert: join(pki, "users", name, "usercert.pem"), key: join(pki, "users", name, "userkey.pem") }),
    proxy: (name) => ({ cert: join(pki, "proxies", `${name}.pem`), key: join(pki, "proxies", `${name}.pem`) }),
    async close() {
      await server.close(1000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// A server log whose lines, parsed, are appended to `lines`, for tests to read.
export const collectingLog = (lines: Record<string, unknown>[]) => createLog({ write: (line: string) => void lines.push(JSON.parse(line)) });

/** Registers fixture users (DNs from test/fixtures/make-pki.sh) through the API as the admin. */
export async function addUsers(t: TestServer, names: string[]): Promise<void> {
  const dns: Record<string, string> = {
    alice: "/C=CA/O=Grid/OU=test/CN=Alice Example",
    bob: "/C=CA/O=Grid/OU=test/CN=Bob Example",
    carol: "/C=CA/O=Grid/OU=test/CN=Carol Example",
    erin: "/C=CA/O=Grid/OU=test/CN=Erin Example",
  };
  for (const user_name of names) {
    const r = await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name, cert_dn: dns[user_name], full_name: `${user_name[0]!.toUpperCase()}${user_name.slice(1)} Example`, email: `${user_name}@example.org` } });
    if (r.status !== 201) throw new Error(`creating ${user_name}: ${r.status} ${r.text}`);
  }
}
