// Turns an authenticated certificate identity into an Actor: the registered user, their groups
// and what those groups grant.
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as q from "../db/users.js";
import type { Actor, ActorGroup } from "../policy/actor.js";
import { ADMINS_GROUP, isPermission, type Permission } from "../policy/permissions.js";
import { groupsForFqans, type VomsMapping } from "../policy/voms-map.js";
import { registerFromVoms } from "./users.js";

/** What VOMS attributes may do here: --voms-map and --voms-auto-register. */
export interface VomsPolicy {
  map: readonly VomsMapping[];
  autoRegister: boolean;
}

export interface RequestIdentity {
  dn: string;
  dnKey: string;
  limited: boolean;
  vomsFqans: readonly string[];
}

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

/**
 * The actor of one request: the registered user with their stored groups, plus the groups their
 * valid VOMS FQANs map to, for this request only (nothing is stored). With auto-registration on,
 * an unknown DN whose FQANs map to an existing group becomes a user first.
 */
export async function loadActorForIdentity(db: Kysely<Database>, identity: RequestIdentity, voms: VomsPolicy | undefined): Promise<ActorLookup> {
  const mapped = voms ? groupsForFqans(voms.map, identity.vomsFqans) : [];
  const groups = [];
  for (const name of mapped) {
    const g = await q.findGroupByName(db, name);
    if (g) groups.push(g);
  }
  let user = await q.findUserByDnKey(db, identity.dnKey);
  if (!user && voms?.autoRegister && groups.length > 0) user = await registerFromVoms(db, identity.dn, identity.dnKey);
  if (!user) return { status: "unregistered" };
  if (user.suspended) return { status: "suspended", userName: user.user_name };
  const actor = await buildActor(db, user, identity.limited);
  if (identity.vomsFqans.length === 0) return { status: "ok", actor };
  const added = groups.filter((g) => !actor.groups.some((own) => own.id === g.id));
  const grants = await q.permissionsOfGroups(
    db,
    added.map((g) => g.id),
  );
  const permissions = new Set(actor.permissions);
  const extra: ActorGroup[] = added.map((g) => {
    const own = new Set(grants.filter((r) => r.group_id === g.id).map((r) => r.permission).filter(isPermission));
    own.forEach((p) => permissions.add(p));
    return { id: g.id, name: g.name, permissions: own, viaVoms: true };
  });
  return {
    status: "ok",
    actor: { ...actor, groups: [...actor.groups, ...extra], permissions, voms: { fqans: identity.vomsFqans, groups: groups.map((g) => g.name) } },
  };
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
