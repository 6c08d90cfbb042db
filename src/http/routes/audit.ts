// /api/audit: the audit log, newest first, for admins.
import type { FastifyPluginAsync } from "fastify";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import { listAudit, MAX_AUDIT_PAGE } from "../../catalog/audit.js";
import { USER_NAME } from "../../catalog/names.js";
import { authorizeOrThrow } from "../../policy/authorize.js";
import { actorOf } from "../app.js";
import { auditEventJson } from "../representations.js";
import { integer, object, optional, string, timestamp } from "../schema.js";

export const auditQuery = object({
  user: optional(string({ pattern: USER_NAME, description: "changes made by this user" })),
  action: optional(string({ max: 64, pattern: /^[a-z_.]+$/, patternHelp: "an action such as image.modify, or a prefix ending in '.' (image.)", description: "an action (image.modify) or a prefix ending in '.' (image.)" })),
  target: optional(string({ max: 300, description: "OWNER/IMAGE, 'user NAME' or 'group NAME'" })),
  since: optional(timestamp("events at or after this time")),
  until: optional(timestamp("events before this time")),
  before: optional(string({ max: 64, pattern: /^[0-9a-z]+$/, description: "an event id: the page after it (the `next` link carries it)" })),
  limit: optional(integer({ min: 1, max: MAX_AUDIT_PAGE, description: "events per page (default 100)" })),
});

export const auditRoutes: FastifyPluginAsync<{ db: Kysely<Database> }> = async (app, { db }) => {
  app.get("/api/audit", { config: { doc: { summary: "The audit log: every change, who made it, when, from where, before and after (admins)", query: auditQuery }, precheck: (req) => authorizeOrThrow(actorOf(req), { do: "audit.read" }) } }, async (req) => {
    const q = auditQuery.parse(req.query);
    const limit = q.limit ?? 100;
    // One more than asked for tells whether there is a next page.
    const found = await listAudit(db, actorOf(req), { actor: q.user, action: q.action, target: q.target, since: q.since ?? undefined, until: q.until ?? undefined, before: q.before, limit: limit + 1 });
    const events = found.slice(0, limit);
    const rest = new URLSearchParams(Object.entries(req.query as Record<string, string>).filter(([k]) => k !== "before"));
    rest.set("before", events.at(-1)?.id ?? "");
    return { events: events.map(auditEventJson), next: found.length > limit ? `${req.urls.base}/api/audit?${rest}` : null };
  });
};
