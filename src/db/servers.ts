// SQL for the register of serving processes and their heartbeats.
import type { Executor } from "./users.js";
import type { ServersTable } from "./schema.js";

export async function register(db: Executor, row: ServersTable): Promise<void> {
  await db.insertInto("servers").values(row).onConflict((oc) => oc.column("id").doUpdateSet({ heartbeat: row.heartbeat })).execute();
}

// False when the row is gone: another process has declared this one dead.
export async function beat(db: Executor, id: string, now: string): Promise<boolean> {
  const r = await db.updateTable("servers").set({ heartbeat: now }).where("id", "=", id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function remove(db: Executor, ids: readonly string[]): Promise<void> {
  if (ids.length) await db.deleteFrom("servers").where("id", "in", ids).execute();
}

export async function removeInstance(db: Executor, instance: string): Promise<void> {
  await db.deleteFrom("servers").where("instance", "=", instance).execute();
}

export async function removeSilentSince(db: Executor, before: string): Promise<void> {
  await db.deleteFrom("servers").where("heartbeat", "<", before).execute();
}

export async function anyAlive(db: Executor, since: string): Promise<boolean> {
  return (await db.selectFrom("servers").select("id").where("heartbeat", ">=", since).limit(1).executeTakeFirst()) !== undefined;
}
