// Groups, their members and their permissions: the domain operations behind /api/groups.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as q from "../db/users.js";
import { isUniqueViolation } from "../db/errors.js";
import type { Actor } from "../policy/actor.js";
import { authorizeOrThrow } from "../policy/authorize.js";
import { isPermission, type Permission } from "../policy/permissions.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { requireUser } from "./users.js";
import { recordChange } from "./audit.js";

export interface GroupView {
  name: string;
  protected: boolean;
  permissions: Permission[];
  users: string[];
}

const ref = (g: q.GroupRow) => ({ name: g.name, protected: g.protected !== 0 });

async function requireGroup(db: q.Executor, name: string): Promise<q.GroupRow> {
  const g = await q.findGroupByName(db, name);
  if (!g) throw notFound(`group '${name}' does not exist`);
  return g;
}

function requirePermission(name: string): Permission {
  if (!isPermission(name)) throw notFound(`permission '${name}' does not exist`);
  return name;
}

async function view(db: q.Executor, g: q.GroupRow): Promise<GroupView> {
  const perms = await q.permissionsOfGroups(db, [g.id]);
  const members = await q.membersOfGroup(db, g.id);
  return {
    name: g.name,
    protected: g.protected !== 0,
    permissions: perms.map((p) => p.permission).filter(isPermission),
    users: members.map((u) => u.user_name),
  };
}

export async function listGroupNames(db: Kysely<Database>, actor: Actor): Promise<string[]> {
  authorizeOrThrow(actor, { do: "group.list" });
  return (await q.listGroups(db)).map((g) => g.name);
}

export async function getGroup(db: Kysely<Database>, actor: Actor, name: string): Promise<GroupView> {
  const g = await requireGroup(db, name);
  authorizeOrThrow(actor, { do: "group.read", group: ref(g) });
  return view(db, g);
}

export async function createGroup(
  db: Kysely<Database>,
  actor: Actor,
  input: { name: string; users?: string[] | undefined; permissions?: string[] | undefined },
): Promise<GroupView> {
  authorizeOrThrow(actor, { do: "group.create" });
  const newRef = { name: input.name, protected: false };
  if (input.users?.length) authorizeOrThrow(actor, { do: "group.membership", group: newRef });
  const permissions = (input.permissions ?? []).map((p) => {
    if (!isPermission(p)) throw badRequest(`permissions: '${p}' is not a permission`);
    authorizeOrThrow(actor, { do: "group.permission", group: newRef, permission: p });
    return p;
  });
  try {
    return await db.transaction().execute(async (trx) => {
      if (await q.findGroupByName(trx, input.name)) throw conflict(`group '${input.name}' already exists`);
      const row: q.GroupRow = { id: randomUUID(), name: input.name, protected: 0, created: new Date().toISOString() };
      await q.insertGroup(trx, row);
      for (const userName of new Set(input.users ?? [])) {
        const user = await q.findUserByName(trx, userName);
        if (!user) throw badRequest(`users: user '${userName}' does not exist`);
        await q.addMember(trx, row.id, user.id);
      }
      for (const p of permissions) await q.addPermission(trx, row.id, p);
      await recordChange(trx, actor, { action: "group.create", target: `group ${row.name}`, after: { users: [...new Set(input.users ?? [])], permissions } });
      return view(trx, row);
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`group '${input.name}' already exists`);
    throw e;
  }
}

// Whether the actor may rename this group at all: decided before the body is read.
export async function precheckRenameGroup(db: Kysely<Database>, actor: Actor, name: string): Promise<void> {
  authorizeOrThrow(actor, { do: "group.rename", group: ref(await requireGroup(db, name)) });
}

export async function renameGroup(db: Kysely<Database>, actor: Actor, name: string, newName: string): Promise<GroupView> {
  try {
    return await db.transaction().execute(async (trx) => {
      const g = await requireGroup(trx, name);
      authorizeOrThrow(actor, { do: "group.rename", group: ref(g) });
      if (newName !== name && (await q.findGroupByName(trx, newName))) throw conflict(`group '${newName}' already exists`);
      await q.renameGroup(trx, g.id, newName);
      if (newName !== name) await recordChange(trx, actor, { action: "group.rename", target: `group ${name}`, before: { name }, after: { name: newName } });
      return view(trx, { ...g, name: newName });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`group '${newName}' already exists`);
    throw e;
  }
}

export async function deleteGroup(db: Kysely<Database>, actor: Actor, name: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const g = await requireGroup(trx, name);
    authorizeOrThrow(actor, { do: "group.delete", group: ref(g) });
    const { users, permissions } = await view(trx, g);
    await q.deleteGroup(trx, g.id);
    await recordChange(trx, actor, { action: "group.delete", target: `group ${name}`, before: { users, permissions } });
  });
}

export async function addGroupMember(db: Kysely<Database>, actor: Actor, name: string, userName: string): Promise<GroupView> {
  return db.transaction().execute(async (trx) => {
    const g = await requireGroup(trx, name);
    const user = await requireUser(trx, userName);
    authorizeOrThrow(actor, { do: "group.membership", group: ref(g) });
    await q.addMember(trx, g.id, user.id);
    await recordChange(trx, actor, { action: "group.member.add", target: `group ${name}`, after: { user: userName } });
    return view(trx, g);
  });
}

export async function removeGroupMember(db: Kysely<Database>, actor: Actor, name: string, userName: string): Promise<GroupView> {
  return db.transaction().execute(async (trx) => {
    const g = await requireGroup(trx, name);
    const user = await requireUser(trx, userName);
    authorizeOrThrow(actor, { do: "group.membership", group: ref(g) });
    await q.removeMember(trx, g.id, user.id);
    if ((await q.countActiveAdmins(trx)) === 0) throw conflict(`'${userName}' is the last active admin and cannot leave 'admins'`);
    await recordChange(trx, actor, { action: "group.member.remove", target: `group ${name}`, before: { user: userName } });
    return view(trx, g);
  });
}

export async function grantPermission(db: Kysely<Database>, actor: Actor, name: string, permission: string): Promise<GroupView> {
  return changePermission(db, actor, name, permission, q.addPermission, "group.permission.grant");
}

export async function revokePermission(db: Kysely<Database>, actor: Actor, name: string, permission: string): Promise<GroupView> {
  return changePermission(db, actor, name, permission, q.removePermission, "group.permission.revoke");
}

async function changePermission(
  db: Kysely<Database>,
  actor: Actor,
  name: string,
  permission: string,
  apply: (db: q.Executor, groupId: string, p: Permission) => Promise<void>,
  action: "group.permission.grant" | "group.permission.revoke",
): Promise<GroupView> {
  return db.transaction().execute(async (trx) => {
    const g = await requireGroup(trx, name);
    const p = requirePermission(permission);
    authorizeOrThrow(actor, { do: "group.permission", group: ref(g), permission: p });
    await apply(trx, g.id, p);
    await recordChange(trx, actor, { action, target: `group ${name}`, [action === "group.permission.grant" ? "after" : "before"]: { permission: p } });
    return view(trx, g);
  });
}
