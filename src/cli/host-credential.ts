// The certificate the server presents, when it has one of its own: --host-cert/--host-key, else a
// grid host's /etc/grid-security/hostcert.pem and hostkey.pem. Only with neither does the server
// make a development PKI, so a grid host never silently serves a development certificate.
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, one, type RawConfig } from "../config.js";

// REPOMAN_GRID_SECURITY_DIR moves /etc/grid-security (the tests' fake grid hosts; unusual layouts).
export const gridSecurityDir = (env: NodeJS.ProcessEnv = process.env) => env.REPOMAN_GRID_SECURITY_DIR || "/etc/grid-security";

export interface HostCredential {
  cert: string;
  key: string;
  from: "options" | "grid-security";
}

export function configuredHostCredential(c: RawConfig, env: NodeJS.ProcessEnv = process.env): HostCredential | undefined {
  const cert = one(c, "host-cert");
  const key = one(c, "host-key");
  if (!!cert !== !!key) throw new ConfigError("give both --host-cert and --host-key, or neither for the grid host's or a development PKI");
  if (cert && key) return { cert, key, from: "options" };
  const dir = gridSecurityDir(env);
  const grid = { cert: join(dir, "hostcert.pem"), key: join(dir, "hostkey.pem"), from: "grid-security" as const };
  const present = [grid.cert, grid.key].filter((f) => existsSync(f));
  if (present.length === 0) return undefined;
  if (present.length === 1) throw new ConfigError(`${present[0]} exists but ${present[0] === grid.cert ? grid.key : grid.cert} does not: install both, or pass --host-cert and --host-key`);
  try {
    accessSync(grid.key, constants.R_OK);
  } catch {
    // The usual case: hostkey.pem is root's (0400) and the server runs as its own user.
    throw new ConfigError(
      `${grid.key} is not readable by this user (uid ${process.getuid?.() ?? "?"}): give the server a readable copy with --host-key (under systemd: LoadCredential=hostkey.pem:${grid.key} and --host-key %d/hostkey.pem, as docs/deploy/repoman-server.service does)`,
    );
  }
  return grid;
}
