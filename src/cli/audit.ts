// `repoman-server audit [filters] [--json]`: the audit log, read from the server's database, for
// the operator at the server's console (no certificate needed: whoever can read the database can
// read the log).
import { resolve } from "node:path";
import { listAudit, MAX_AUDIT_PAGE, type AuditEvent } from "../catalog/audit.js";
import { ConfigError, one, type RawConfig } from "../config.js";
import { defaultDatabaseUrl, openDatabase } from "../db/connect.js";
import { auditEventJson } from "../http/representations.js";

// An ISO 8601 time, or an age: 30m, 12h, 7d.
export function parseWhen(text: string, option: string, now = Date.now()): string {
  const age = /^(\d+)([smhd])$/.exec(text);
  if (age) return new Date(now - Number(age[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[age[2] as "s" | "m" | "h" | "d"]).toISOString();
  const t = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(t.getTime())) throw new ConfigError(`--${option}: expected an ISO 8601 time (2026-12-01T00:00:00Z) or an age (30m, 12h, 7d), got "${text}"`);
  return t.toISOString();
}

const values = (v: Record<string, unknown> | null) => (v === null ? "" : Object.entries(v).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(" "));

// One line per event: time, user (or "server"), address, action, target, then what changed.
export function formatEvent(e: AuditEvent): string {
  const change = e.before && e.after ? `${values(e.before)} -> ${values(e.after)}` : values(e.after ?? e.before);
  return [e.time, e.actor ?? "server", e.remote ?? "-", e.action, e.target, change].join("  ").trimEnd();
}

export async function auditCommand(c: RawConfig, args: string[], opts: Map<string, string>, print: (line: string) => void): Promise<void> {
  if (args.length) throw new ConfigError(`audit takes no arguments, only options: ${args.join(" ")}`);
  const limit = opts.has("limit") ? Number(opts.get("limit")) : 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) throw new ConfigError(`--limit: expected a whole number from 1 to ${MAX_AUDIT_PAGE}`);
  const when = (k: string) => (opts.has(k) ? parseWhen(opts.get(k)!, k) : undefined);
  const db = await openDatabase(one(c, "database") ?? defaultDatabaseUrl(resolve(one(c, "data-dir")!)), { poolSize: 1 });
  try {
    const events = await listAudit(db.db, null, { actor: opts.get("user"), action: opts.get("action"), target: opts.get("target"), since: when("since"), until: when("until"), limit });
    for (const e of events) print(opts.has("json") ? JSON.stringify(auditEventJson(e)) : formatEvent(e));
  } finally {
    await db.close();
  }
}
