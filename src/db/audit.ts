// SQL for the audit log.
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { Executor } from "./users.js";
import type { AuditEventsTable } from "./schema.js";

export type AuditRow = AuditEventsTable;

// Ids that sort as events were recorded, in both dialects and across processes: milliseconds
// since the epoch (base 36, fixed width), a per-process counter for events of the same
// millisecond, and random bits so that two processes never collide.
let lastMs = 0;
let sameMs = 0;
export function newAuditId(ms: number): string {
  sameMs = ms === lastMs ? sameMs + 1 : 0;
  lastMs = ms;
  return ms.toString(36).padStart(9, "0") + sameMs.toString(36).padStart(4, "0") + randomBytes(4).toString("hex");
}

export async function insertEvent(db: Executor, row: AuditRow): Promise<void> {
  await db.insertInto("audit_events").values(row).execute();
}

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined; // an action, or a prefix ending in "." (image. = every image change)
  target?: string | undefined;
  since?: string | undefined; // ISO time, inclusive
  until?: string | undefined; // ISO time, exclusive
  before?: string | undefined; // an event id: page on from there (newest first)
  limit: number;
}

// Newest first.
export async function listEvents(db: Executor, f: AuditFilter): Promise<AuditRow[]> {
  let q = db.selectFrom("audit_events").selectAll();
  if (f.actor !== undefined) q = q.where("actor", "=", f.actor);
  if (f.action !== undefined) q = f.action.endsWith(".") ? q.where("action", "like", sql<string>`${f.action.replace(/[\\%_]/g, "\\$&") + "%"} escape '\\'`) : q.where("action", "=", f.action);
  if (f.target !== undefined) q = q.where("target", "=", f.target);
  if (f.since !== undefined) q = q.where("time", ">=", f.since);
  if (f.until !== undefined) q = q.where("time", "<", f.until);
  if (f.before !== undefined) q = q.where("id", "<", f.before);
  return q.orderBy("id", "desc").limit(f.limit).execute();
}

export async function deleteEventsBefore(db: Executor, time: string): Promise<number> {
  const r = await db.deleteFrom("audit_events").where("time", "<", time).executeTakeFirst();
  return Number(r.numDeletedRows);
}
