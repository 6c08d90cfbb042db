// SQL for users, groups, memberships and permissions. Every function takes the executor to run on,
// so catalog services can compose them inside one transaction.
import type { Kysely, Transaction } from "kysely";
import type { Database, GroupsTable, UsersTable } from "./schema.js";

export type Executor = Kysely<Database> | Transaction<Database>;
export type UserRow = UsersTable;
export type GroupRow = GroupsTable;

export const findUserByName = (db: Executor, userName: string) =>
  db.selectFrom("users").selectAll().where("user_name", "=", userName).executeTakeFirst();

export const findUserById = (db: Executor, id: string) => db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();

export const findUserByDnKey = (db: Executor, dnKey: string) =>
  db.selectFrom("users").selectAll().where("dn_key", "=", dnKey).executeTakeFirst();

export const findUserByEmail = (db: Executor, email: string) =>
  db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();

export const listUsers = (db: Executor) => db.selectFrom("users").selectAll().orderBy("user_name").execute();

export async function insertUser(db: Executor, row: UserRow): Promise<void> {
  await db.insertInto("users").values(row).execute();
}

export async function updateUser(db: Executor, id: string, changes: Partial<Omit<UserRow, "id">>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable("users").set(changes).where("id", "=", id).execute();
}

export async function deleteUser(db: Executor, id: string): Promise<void> {
  await db.deleteFrom("users").where("id", "=", id).execute();
}

export const findGroupByName = (db: Executor, name: string) =>
  db.selectFrom("groups").selectAll().where("name", "=", name).executeTakeFirst();

export const listGroups = (db: Executor) => db.selectFrom("groups").selectAll().orderBy("name").execute();

export async function insertGroup(db: Executor, row: GroupRow): Promise<void> {
  await db.insertInto("groups").values(row).execute();
}

export async function renameGroup(db: Executor, id: string, name: string): Promise<void> {
  await db.updateTable("groups").set({ name }).where("id", "=", id).execute();
}

export async function deleteGroup(db: Executor, id: string): Promise<void> {
  await db.deleteFrom("groups").where("id", "=", id).execute();
}

// Memberships of many users in one query: user id → group ids.
export async function groupIdsOfUsers(db: Executor, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return out;
  const rows = await db.selectFrom("group_members").select(["user_id", "group_id"]).where("user_id", "in", userIds).execute();
  for (const r of rows) out.get(r.user_id)!.push(r.group_id);
  return out;
}

// A user's groups with what each grants, in one query: one row per (group, permission), and one
// row with a null permission for a group that grants nothing. Ordered by group name.
export const grantsOfUser = (db: Executor, userId: string) =>
  db
    .selectFrom("group_members")
    .innerJoin("groups", "groups.id", "group_members.group_id")
    .leftJoin("group_permissions", "group_permissions.group_id", "groups.id")
    .select(["groups.id as group_id", "groups.name as group_name", "group_permissions.permission"])
    .where("group_members.user_id", "=", userId)
    .orderBy("groups.name")
    .orderBy("group_permissions.permission")
    .execute();

export const membersOfGroup = (db: Executor, groupId: string) =>
  db
    .selectFrom("users")
    .innerJoin("group_members", "group_members.user_id", "users.id")
    .selectAll("users")
    .where("group_members.group_id", "=", groupId)
    .orderBy("users.user_name")
    .execute();

export async function addMember(db: Executor, groupId: string, userId: string): Promise<void> {
  await db
    .insertInto("group_members")
    .values({ group_id: groupId, user_id: userId })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function removeMember(db: Executor, groupId: string, userId: string): Promise<void> {
  await db.deleteFrom("group_members").where("group_id", "=", groupId).where("user_id", "=", userId).execute();
}

export async function permissionsOfGroups(db: Executor, groupIds: string[]): Promise<{ group_id: string; permission: string }[]> {
  if (groupIds.length === 0) return [];
  return db
    .selectFrom("group_permissions")
    .select(["group_id", "permission"])
    .where("group_id", "in", groupIds)
    .orderBy("permission")
    .execute();
}

export async function addPermission(db: Executor, groupId: string, permission: string): Promise<void> {
  await db
    .insertInto("group_permissions")
    .values({ group_id: groupId, permission })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function removePermission(db: Executor, groupId: string, permission: string): Promise<void> {
  await db.deleteFrom("group_permissions").where("group_id", "=", groupId).where("permission", "=", permission).execute();
}

// Active (not suspended) members of `admins`: the "last admin" invariant counts these.
export async function countActiveAdmins(db: Executor): Promise<number> {
  const row = await db
    .selectFrom("users")
    .innerJoin("group_members", "group_members.user_id", "users.id")
    .innerJoin("groups", "groups.id", "group_members.group_id")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("groups.name", "=", "admins")
    .where("users.suspended", "=", 0)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
