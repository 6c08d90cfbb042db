// The audit log: every change to users, groups, permissions, images, shares, versions and uploads,
// with who made it, when, from where, and the values before and after. Each change records its
// event in its own transaction, so that the log holds exactly the changes that committed.
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Executor } from "../db/users.js";
import * as q from "../db/audit.js";
import { findImageById } from "../db/images.js";
import type { Actor } from "../policy/actor.js";
import { authorizeOrThrow } from "../policy/authorize.js";

export const DEFAULT_AUDIT_RETENTION_DAYS = 400;

export interface Change {
  action: string; // noun.verb: user.create, image.modify, upload.finish, …
  target: string; // OWNER/IMAGE, or "user NAME", "group NAME"
  before?: Record<string, unknown> | undefined;
  after?: Record<string, unknown> | undefined;
}

// Who the server itself acts as, for changes no request made: the bootstrap admins of the
// configuration, users made by `repoman-server dev-user`, uploads that expired.
export const SERVER = "server";
export type By = Actor | typeof SERVER;

export async function recordChange(trx: Executor, by: By, change: Change): Promise<void> {
  const ms = Date.now();
  const actor = by === SERVER ? null : by;
  await q.insertEvent(trx, {
    id: q.newAuditId(ms),
    time: new Date(ms).toISOString(),
    actor: actor?.userName ?? null,
    dn: actor?.origin?.dn ?? null,
    remote: actor?.origin?.remote ?? "local",
    request_id: actor?.origin?.requestId ?? null,
    action: change.action,
    target: change.target,
    before: change.before === undefined ? null : JSON.stringify(change.before),
    after: change.after === undefined ? null : JSON.stringify(change.after),
  });
}

// The name an image's events are filed under, also for events after it is gone.
export async function imageTarget(trx: Executor, imageId: string): Promise<string> {
  const row = await findImageById(trx, imageId);
  return row ? `${row.owner_name}/${row.name}` : `image ${imageId} (deleted)`;
}

// The values of `after` that differ from `before`, and what they were: what a change really did.
export function difference(before: Record<string, unknown>, after: Record<string, unknown>): { before: Record<string, unknown>; after: Record<string, unknown> } {
  const changed = Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return { before: Object.fromEntries(changed.map((k) => [k, before[k] ?? null])), after: Object.fromEntries(changed.map((k) => [k, after[k]])) };
}

export interface AuditEvent {
  id: string;
  time: string;
  actor: string | null;
  dn: string | null;
  remote: string | null;
  requestId: string | null;
  action: string;
  target: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export type AuditQuery = Omit<q.AuditFilter, "limit"> & { limit?: number | undefined };
export const MAX_AUDIT_PAGE = 1000;

// `actor` null: the operator at the server's console (repoman-server audit), who may read it all.
export async function listAudit(db: Kysely<Database>, actor: Actor | null, query: AuditQuery): Promise<AuditEvent[]> {
  if (actor) authorizeOrThrow(actor, { do: "audit.read" });
  const rows = await q.listEvents(db, { ...query, limit: query.limit ?? 100 });
  return rows.map((r) => ({
    id: r.id,
    time: r.time,
    actor: r.actor,
    dn: r.dn,
    remote: r.remote,
    requestId: r.request_id,
    action: r.action,
    target: r.target,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

// Forgets events older than the retention (0 days: keep them all).
export async function pruneAudit(db: Executor, retentionDays: number, now = Date.now()): Promise<number> {
  if (retentionDays <= 0) return 0;
  return q.deleteEventsBefore(db, new Date(now - retentionDays * 86_400_000).toISOString());
}
