// Turns an authenticated certificate identity into an Actor: the registered user, their groups
// and what those groups grant.
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as q from "../db/users.js";
import type { Actor, ActorGroup } from "../policy/actor.js";
import { ADMINS_GROUP, isPermission, type Permission } from "../policy/permissions.js";

export type ActorLookup =
  | { status: "ok"; actor: Actor }
  | { status: "unregistered" }
  | { status: "suspended"; userName: string };

export async function loadActorByDnKey(db: Kysely<Database>, dnKey: string, readOnly: boolean): Promise<ActorLookup> {
  const user = await q.findUserByDnKey(db, dnKey);
  if (!user) return { status: "unregistered" };
  if (user.suspended) return { status: "suspended", userName: user.user_name };
  return { status: "ok", actor: await buildActor(db, user, readOnly) };
}

export async function buildActor(db: q.Executor, user: q.UserRow, readOnly: boolean): Promise<Actor> {
  const groups = new Map<string, { id: string; name: string; permissions: Set<Permission> }>();
  const all = new Set<Permission>();
  for (const { group_id, group_name, permission } of await q.grantsOfUser(db, user.id)) {
    let group = groups.get(group_id);
    if (!group) groups.set(group_id, (group = { id: group_id, name: group_name, permissions: new Set() }));
    if (permission === null || !isPermission(permission)) continue;
    group.permissions.add(permission);
    all.add(permission);
  }
  const actorGroups: ActorGroup[] = [...groups.values()];
  return {
    userId: user.id,
    userName: user.user_name,
    groups: actorGroups,
    permissions: all,
    isAdmin: actorGroups.some((g) => g.name === ADMINS_GROUP),
    readOnly,
  };
}
