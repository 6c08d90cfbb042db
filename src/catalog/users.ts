// Users: the domain operations behind /api/users and /api/whoami. No HTTP types here.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as q from "../db/users.js";
import * as qi from "../db/images.js";
import { collectGarbage, type Storage } from "./housekeeping.js";
import { isUniqueViolation } from "../db/errors.js";
import type { Actor } from "../policy/actor.js";
import { buildActor } from "./actors.js";
import { difference, recordChange, SERVER } from "./audit.js";
import { authorize, authorizeOrThrow } from "../policy/authorize.js";
import { ADMINS_GROUP, USERS_GROUP, type Permission } from "../policy/permissions.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { canonicalDn, parseDn, toOneline, DnSyntaxError } from "../x509/dn.js";

export interface UserView {
  userName: string;
  fullName: string;
  email: string | null; // null also when the viewer may not see it
  clientDn: string;
  suspended: boolean;
  quotaBytes: number | null; // null when the viewer may not see it
  created: string;
  permissions: Permission[];
  groups: string[];
}

export interface NewUser {
  userName: string;
  certDn: string;
  email?: string | undefined;
  fullName?: string | undefined;
  suspended?: boolean | undefined;
  groups?: string[] | undefined;
}

export interface UserChanges {
  fullName?: string | undefined;
  email?: string | undefined;
  certDn?: string | undefined;
  suspended?: boolean | undefined;
  quotaBytes?: number | undefined;
}

// A DN as users type it (one-line or RFC 2253) → the stored display form and comparison key.
export function normaliseDn(text: string): { clientDn: string; dnKey: string } {
  try {
    return { clientDn: toOneline(text), dnKey: canonicalDn(text) };
  } catch (e) {
    if (e instanceof DnSyntaxError) throw badRequest(`cert_dn: ${e.message}`);
    throw e;
  }
}

export async function requireUser(db: q.Executor, userName: string): Promise<q.UserRow> {
  const user = await q.findUserByName(db, userName);
  if (!user) throw notFound(`user '${userName}' does not exist`);
  return user;
}

export async function listUserNames(db: Kysely<Database>, actor: Actor): Promise<string[]> {
  authorizeOrThrow(actor, { do: "user.list" });
  return (await q.listUsers(db)).map((u) => u.user_name);
}

// Every user as the actor may see them (email and quota only where allowed), for admin pages.
export async function listUserViews(db: Kysely<Database>, actor: Actor): Promise<UserView[]> {
  authorizeOrThrow(actor, { do: "user.list" });
  const views: UserView[] = [];
  for (const user of await q.listUsers(db)) views.push(await view(db, actor, user));
  return views;
}

export async function getUser(db: Kysely<Database>, actor: Actor, userName: string): Promise<UserView> {
  const user = await requireUser(db, userName);
  authorizeOrThrow(actor, { do: "user.read", target: { userId: user.id } });
  return view(db, actor, user);
}

async function view(db: q.Executor, actor: Actor, user: q.UserRow): Promise<UserView> {
  // The actor was loaded for this very request: whoami needs no second look at the same grants.
  const self = user.id === actor.userId ? actor : await buildActor(db, user, false);
  const mayReadPrivate = authorize(actor, { do: "user.read_private", target: { userId: user.id } }).allowed;
  const stored = self.groups.filter((g) => !g.viaVoms);
  return {
    userName: user.user_name,
    fullName: user.full_name,
    email: mayReadPrivate ? user.email : null,
    clientDn: user.client_dn,
    suspended: user.suspended !== 0,
    quotaBytes: mayReadPrivate ? user.quota_bytes : null,
    created: user.created,
    // The user's record: groups a VOMS AC gives this request are whoami's to show, apart.
    permissions: [...new Set(stored.flatMap((g) => [...g.permissions]))].sort(),
    groups: stored.map((g) => g.name),
  };
}

async function assertFree(db: q.Executor, fields: { userName?: string; dnKey?: string; email?: string }, exceptId?: string) {
  if (fields.userName !== undefined && (await q.findUserByName(db, fields.userName))) {
    throw conflict(`user '${fields.userName}' already exists`);
  }
  if (fields.dnKey !== undefined) {
    const other = await q.findUserByDnKey(db, fields.dnKey);
    if (other && other.id !== exceptId) throw conflict(`that certificate DN already belongs to user '${other.user_name}'`);
  }
  if (fields.email !== undefined) {
    const other = await q.findUserByEmail(db, fields.email);
    if (other && other.id !== exceptId) throw conflict(`that email address already belongs to another user`);
  }
}

// A user's fields as the audit log shows them (the API's names).
const audited = (u: q.UserRow) => ({ full_name: u.full_name, email: u.email, cert_dn: u.client_dn, suspended: u.suspended === 1, quota: u.quota_bytes });

export async function createUser(db: Kysely<Database>, actor: Actor, input: NewUser): Promise<UserView> {
  authorizeOrThrow(actor, { do: "user.create", fields: input.suspended !== undefined ? ["suspended"] : [] });
  const { clientDn, dnKey } = normaliseDn(input.certDn);
  const email = input.email?.toLowerCase();
  // Every user belongs to `users`, as in the original; other groups are added on request.
  const groupNames = [...new Set([...(input.groups ?? []), USERS_GROUP])];
  if (groupNames.includes(ADMINS_GROUP)) authorizeOrThrow(actor, { do: "group.membership", group: { name: ADMINS_GROUP, protected: true } });
  try {
    return await db.transaction().execute(async (trx) => {
      await assertFree(trx, { userName: input.userName, dnKey, ...(email ? { email } : {}) });
      const groups = [];
      for (const name of groupNames) {
        const g = await q.findGroupByName(trx, name);
        if (!g) throw badRequest(`groups: group '${name}' does not exist`);
        groups.push(g);
      }
      const row: q.UserRow = {
        id: randomUUID(),
        user_name: input.userName,
        full_name: input.fullName ?? "",
        email: email ?? null,
        client_dn: clientDn,
        dn_key: dnKey,
        suspended: input.suspended ? 1 : 0,
        quota_bytes: 0,
        created: new Date().toISOString(),
      };
      await q.insertUser(trx, row);
      for (const g of groups) await q.addMember(trx, g.id, row.id);
      await recordChange(trx, actor, { action: "user.create", target: `user ${row.user_name}`, after: { ...audited(row), groups: groupNames } });
      return view(trx, actor, row);
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`user '${input.userName}' conflicts with an existing user`);
    throw e;
  }
}

// Whether the actor may change this user at all, whatever the fields: decided before the body is read.
export async function precheckModifyUser(db: Kysely<Database>, actor: Actor, userName: string): Promise<void> {
  const user = await requireUser(db, userName);
  authorizeOrThrow(actor, { do: "user.modify", target: { userId: user.id }, fields: [] });
}

export async function modifyUser(db: Kysely<Database>, actor: Actor, userName: string, changes: UserChanges): Promise<UserView> {
  const fields = Object.entries({
    full_name: changes.fullName,
    email: changes.email,
    cert_dn: changes.certDn,
    suspended: changes.suspended,
    quota: changes.quotaBytes,
  })
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
  try {
    return await db.transaction().execute(async (trx) => {
      const user = await requireUser(trx, userName);
      authorizeOrThrow(actor, { do: "user.modify", target: { userId: user.id }, fields });
      const set: Partial<q.UserRow> = {};
      if (changes.fullName !== undefined) set.full_name = changes.fullName;
      if (changes.email !== undefined) set.email = changes.email.toLowerCase();
      if (changes.certDn !== undefined) {
        const { clientDn, dnKey } = normaliseDn(changes.certDn);
        set.client_dn = clientDn;
        set.dn_key = dnKey;
      }
      if (changes.suspended !== undefined) set.suspended = changes.suspended ? 1 : 0;
      if (changes.quotaBytes !== undefined) set.quota_bytes = changes.quotaBytes;
      await assertFree(trx, { ...(set.dn_key ? { dnKey: set.dn_key } : {}), ...(set.email ? { email: set.email } : {}) }, user.id);
      await q.updateUser(trx, user.id, set);
      if (set.suspended === 1 && (await q.countActiveAdmins(trx)) === 0) {
        throw conflict(`'${userName}' is the last active admin and cannot be suspended`);
      }
      const changed = difference(audited(user), audited({ ...user, ...set }));
      if (Object.keys(changed.after).length) await recordChange(trx, actor, { action: "user.modify", target: `user ${userName}`, ...changed });
      return view(trx, actor, { ...user, ...set });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the new values conflict with another user`);
    throw e;
  }
}

// Deletes the user and, as the original did, every image they own (bytes after the commit).
export async function deleteUser(s: Storage, actor: Actor, userName: string): Promise<void> {
  await s.db.transaction().execute(async (trx) => {
    const user = await requireUser(trx, userName);
    authorizeOrThrow(actor, { do: "user.delete", target: { userId: user.id } });
    const blobs = await qi.blobKeysOfOwner(trx, user.id);
    const images = await qi.imageNamesOfOwner(trx, user.id);
    await qi.addGarbage(
      trx,
      blobs.map((b) => b.blob_key),
      new Date().toISOString(),
    );
    await q.deleteUser(trx, user.id);
    if ((await q.countActiveAdmins(trx)) === 0) throw conflict(`'${userName}' is the last active admin and cannot be deleted`);
    await recordChange(trx, actor, { action: "user.delete", target: `user ${userName}`, before: { ...audited(user), images } });
  });
  await collectGarbage(s);
}

export interface BootstrapAdmin {
  userName: string;
  email: string;
  dn: string;
}

// Creates a configured admin when missing (members of admins and users). An existing user of
// that name is left as the admins have since made it.
export async function ensureBootstrapAdmin(db: Kysely<Database>, admin: BootstrapAdmin): Promise<"created" | "exists"> {
  const { clientDn, dnKey } = normaliseDn(admin.dn);
  return db.transaction().execute(async (trx) => {
    if (await q.findUserByName(trx, admin.userName)) return "exists";
    const holder = await q.findUserByDnKey(trx, dnKey);
    if (holder) throw conflict(`bootstrap admin '${admin.userName}': DN already belongs to user '${holder.user_name}'`);
    const row: q.UserRow = {
      id: randomUUID(),
      user_name: admin.userName,
      full_name: "",
      email: admin.email ? admin.email.toLowerCase() : null,
      client_dn: clientDn,
      dn_key: dnKey,
      suspended: 0,
      quota_bytes: 0,
      created: new Date().toISOString(),
    };
    await q.insertUser(trx, row);
    for (const name of [ADMINS_GROUP, USERS_GROUP]) {
      const g = await q.findGroupByName(trx, name);
      if (g) await q.addMember(trx, g.id, row.id);
    }
    await recordChange(trx, SERVER, { action: "user.create", target: `user ${row.user_name}`, after: { ...audited(row), groups: [ADMINS_GROUP, USERS_GROUP] } });
    return "created";
  });
}

const COMMON_NAME = "2.5.4.3";

/**
 * A user name for a DN: its most specific CN, accents dropped, runs of anything but letters and
 * digits as "-", lower case ("/C=CA/O=Grid/CN=José Müller" → "jose-muller"); "user" when no CN
 * gives one. Read from the parsed DN, never cut out of its text.
 */
export function userNameFromDn(dn: string): string {
  const cn = parseDn(dn)
    .flat()
    .filter((ava) => ava.oid === COMMON_NAME && ava.isText)
    .pop()?.value;
  const slug = (cn ?? "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 56)
    .replace(/-+$/, "");
  return slug || "user";
}

/**
 * Registers the holder of a valid, mapped VOMS AC on first contact (--voms-auto-register): a member
 * of `users` only, since VOMS groups apply per request. The name is userNameFromDn(), numbered
 * ("-2", "-3", …) when taken. Returns the user, also when a concurrent request registered them first.
 */
export async function registerFromVoms(db: Kysely<Database>, dn: string, dnKey: string): Promise<q.UserRow> {
  const base = userNameFromDn(dn);
  for (let n = 1; n < 100; n++) {
    const userName = n === 1 ? base : `${base}-${n}`;
    try {
      const row = await db.transaction().execute(async (trx) => {
        const holder = await q.findUserByDnKey(trx, dnKey);
        if (holder) return holder;
        if (await q.findUserByName(trx, userName)) return undefined;
        const users = await q.findGroupByName(trx, USERS_GROUP);
        const cn = parseDn(dn)
          .flat()
          .filter((ava) => ava.oid === COMMON_NAME && ava.isText)
          .pop()?.value;
        const created: q.UserRow = {
          id: randomUUID(),
          user_name: userName,
          full_name: cn ?? "",
          email: null,
          client_dn: toOneline(dn),
          dn_key: dnKey,
          suspended: 0,
          quota_bytes: 0,
          created: new Date().toISOString(),
        };
        await q.insertUser(trx, created);
        if (users) await q.addMember(trx, users.id, created.id);
        return created;
      });
      if (row) return row;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      const holder = await q.findUserByDnKey(db, dnKey);
      if (holder) return holder;
    }
  }
  throw conflict(`no free user name like '${base}' for ${dn}`);
}
