// SQL for image lists and their entries.
import type { Executor } from "./users.js";
import type { ImageListEntriesTable, ImageListsTable } from "./schema.js";

export type ListRow = ImageListsTable & { owner_name: string; owner_dn: string; owner_email: string | null; group_name: string | null };
export type EntryRow = ImageListEntriesTable;

const withNames = (db: Executor) =>
  db
    .selectFrom("image_lists")
    .innerJoin("users", "users.id", "image_lists.owner_id")
    .leftJoin("groups", "groups.id", "image_lists.group_id")
    .selectAll("image_lists")
    .select(["users.user_name as owner_name", "users.client_dn as owner_dn", "users.email as owner_email", "groups.name as group_name"]);

export const findList = (db: Executor, ownerName: string, name: string) =>
  withNames(db).where("users.user_name", "=", ownerName).where("image_lists.name", "=", name).executeTakeFirst() as Promise<ListRow | undefined>;

export const allLists = (db: Executor) => withNames(db).orderBy("users.user_name").orderBy("image_lists.name").execute() as Promise<ListRow[]>;

export async function insertList(db: Executor, row: ImageListsTable): Promise<void> {
  await db.insertInto("image_lists").values(row).execute();
}

export async function updateList(db: Executor, id: string, set: Partial<Omit<ImageListsTable, "id">>): Promise<void> {
  await db.updateTable("image_lists").set(set).where("id", "=", id).execute();
}

// Raises the version for new content, unless another process did first (false then).
export async function raiseVersion(db: Executor, id: string, from: number, contentSha256: string, at: string): Promise<boolean> {
  const r = await db.updateTable("image_lists").set({ version: from + 1, content_sha256: contentSha256, signed_at: at }).where("id", "=", id).where("version", "=", from).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteList(db: Executor, id: string): Promise<void> {
  await db.deleteFrom("image_lists").where("id", "=", id).execute();
}

export const entriesOf = (db: Executor, listId: string) => db.selectFrom("image_list_entries").selectAll().where("list_id", "=", listId).orderBy("position").execute();

export async function replaceEntries(db: Executor, listId: string, entries: readonly Omit<EntryRow, "list_id" | "position">[]): Promise<void> {
  await db.deleteFrom("image_list_entries").where("list_id", "=", listId).execute();
  if (entries.length) await db.insertInto("image_list_entries").values(entries.map((e, position) => ({ ...e, list_id: listId, position }))).execute();
}

// Every version naming this blob gets its SHA-512: a rollback shares its blob with an older one.
export async function setSha512(db: Executor, blobKey: string, sha512: string): Promise<void> {
  await db.updateTable("image_versions").set({ sha512 }).where("blob_key", "=", blobKey).execute();
}
