// SQL for images, their files, shares and upload bookkeeping.
import { sql, type ExpressionBuilder, type RawBuilder } from "kysely";
import type { Database, ImagesTable, ImageVersionsTable } from "./schema.js";
import type { Executor } from "./users.js";
import type { ImageScope } from "../policy/authorize.js";

export type ImageRow = ImagesTable & { owner_name: string };
export type VersionRow = ImageVersionsTable;

const withOwner = (db: Executor) => db.selectFrom("images").innerJoin("users", "users.id", "images.owner_id").selectAll("images").select("users.user_name as owner_name");

export const findImage = (db: Executor, ownerName: string, name: string) =>
  withOwner(db).where("users.user_name", "=", ownerName).where("images.name", "=", name).executeTakeFirst() as Promise<ImageRow | undefined>;

export const findImageById = (db: Executor, id: string) => withOwner(db).where("images.id", "=", id).executeTakeFirst() as Promise<ImageRow | undefined>;

export async function insertImage(db: Executor, row: ImagesTable): Promise<void> {
  await db.insertInto("images").values(row).execute();
}

export async function updateImage(db: Executor, id: string, changes: Partial<Omit<ImagesTable, "id">>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable("images").set(changes).where("id", "=", id).execute();
}

// A new version of the image's files. Updating the row first takes its lock, so concurrent new
// versions of one image run one after the other on PostgreSQL (SQLite's IMMEDIATE transactions
// already do): each sees the versions the previous one wrote. Undefined if the image is gone.
export async function bumpVersion(db: Executor, id: string, at: string) {
  return db
    .updateTable("images")
    .set((eb) => ({ version: eb("version", "+", 1), uploaded: at, modified: at }))
    .where("id", "=", id)
    .returning(["name", "owner_id", "hypervisors", "read_only", "keep_versions"])
    .executeTakeFirst();
}

// Takes the image row's lock, as bumpVersion does, changing nothing: for a commit that may yet be
// refused, and must then leave the image as it was. Undefined if the image is gone.
export async function lockForCommit(db: Executor, id: string) {
  return db
    .updateTable("images")
    .set((eb) => ({ version: eb.ref("version") }))
    .where("id", "=", id)
    .returning(["name", "owner_id", "hypervisors", "read_only", "keep_versions"])
    .executeTakeFirst();
}

// Takes the image row's lock (see bumpVersion) before versions are read and changed.
export async function lockImage(db: Executor, id: string, at: string): Promise<void> {
  await db.updateTable("images").set({ modified: at }).where("id", "=", id).execute();
}

export async function deleteImage(db: Executor, id: string): Promise<void> {
  await db.deleteFrom("images").where("id", "=", id).execute();
}

// ---- versions ----------------------------------------------------------------------------------

// The current file of each hypervisor of these images: its newest version.
export const currentFiles = (db: Executor, imageIds: readonly string[]) =>
  imageIds.length === 0
    ? Promise.resolve([] as VersionRow[])
    : db
        .selectFrom("image_versions as v")
        .selectAll()
        .where("v.image_id", "in", imageIds)
        .where((eb) =>
          eb(
            "v.version",
            "=",
            eb
              .selectFrom("image_versions as w")
              .select((w) => w.fn.max("w.version").as("m"))
              .whereRef("w.image_id", "=", "v.image_id")
              .whereRef("w.hypervisor", "=", "v.hypervisor"),
          ),
        )
        .execute();

// Newest first; every hypervisor's when none is named.
export function versionsOf(db: Executor, imageId: string, hypervisor?: string): Promise<VersionRow[]> {
  let q = db.selectFrom("image_versions").selectAll().where("image_id", "=", imageId);
  if (hypervisor !== undefined) q = q.where("hypervisor", "=", hypervisor);
  return q.orderBy("hypervisor").orderBy("version", "desc").execute();
}

export const findVersion = (db: Executor, imageId: string, hypervisor: string, version: number) =>
  db.selectFrom("image_versions").selectAll().where("image_id", "=", imageId).where("hypervisor", "=", hypervisor).where("version", "=", version).executeTakeFirst();

// The newest version with these bytes (a rollback repeats an older version's checksum).
export const findVersionBySha256 = (db: Executor, imageId: string, hypervisor: string, sha256: string) =>
  db
    .selectFrom("image_versions")
    .selectAll()
    .where("image_id", "=", imageId)
    .where("hypervisor", "=", hypervisor)
    .where("sha256", "=", sha256)
    .orderBy("version", "desc")
    .limit(1)
    .executeTakeFirst();

export async function insertVersion(db: Executor, row: VersionRow): Promise<void> {
  await db.insertInto("image_versions").values(row).execute();
}

export async function deleteVersions(db: Executor, rows: readonly Pick<VersionRow, "image_id" | "hypervisor" | "version">[]): Promise<void> {
  for (const r of rows) {
    await db.deleteFrom("image_versions").where("image_id", "=", r.image_id).where("hypervisor", "=", r.hypervisor).where("version", "=", r.version).execute();
  }
}

// Of these blobs, those no version names any more.
export async function unreferencedBlobs(db: Executor, blobKeys: readonly string[]): Promise<string[]> {
  const unique = [...new Set(blobKeys)];
  if (unique.length === 0) return [];
  const used = new Set((await db.selectFrom("image_versions").select("blob_key").where("blob_key", "in", unique).execute()).map((r) => r.blob_key));
  return unique.filter((k) => !used.has(k));
}

export const userSharesOf = (db: Executor, imageIds: readonly string[]) =>
  imageIds.length === 0
    ? Promise.resolve([])
    : db
        .selectFrom("image_user_shares")
        .innerJoin("users", "users.id", "image_user_shares.user_id")
        .select(["image_user_shares.image_id", "users.id", "users.user_name as name"])
        .where("image_user_shares.image_id", "in", imageIds)
        .orderBy("users.user_name")
        .execute();

export const groupSharesOf = (db: Executor, imageIds: readonly string[]) =>
  imageIds.length === 0
    ? Promise.resolve([])
    : db
        .selectFrom("image_group_shares")
        .innerJoin("groups", "groups.id", "image_group_shares.group_id")
        .select(["image_group_shares.image_id", "groups.id", "groups.name as name"])
        .where("image_group_shares.image_id", "in", imageIds)
        .orderBy("groups.name")
        .execute();

export async function shareWithUser(db: Executor, imageId: string, userId: string): Promise<void> {
  await db.insertInto("image_user_shares").values({ image_id: imageId, user_id: userId }).onConflict((oc) => oc.doNothing()).execute();
}
export async function unshareWithUser(db: Executor, imageId: string, userId: string): Promise<void> {
  await db.deleteFrom("image_user_shares").where("image_id", "=", imageId).where("user_id", "=", userId).execute();
}
export async function shareWithGroup(db: Executor, imageId: string, groupId: string): Promise<void> {
  await db.insertInto("image_group_shares").values({ image_id: imageId, group_id: groupId }).onConflict((oc) => oc.doNothing()).execute();
}
export async function unshareWithGroup(db: Executor, imageId: string, groupId: string): Promise<void> {
  await db.deleteFrom("image_group_shares").where("image_id", "=", imageId).where("group_id", "=", groupId).execute();
}

// ---- listing -------------------------------------------------------------------------------


export interface ImageFilter {
  owner?: string | undefined;
  name?: string | undefined; // exactly this image name
  osArch?: string | undefined;
  osType?: string | undefined;
  osVariant?: string | undefined;
  hypervisor?: string | undefined;
  q?: string | undefined; // substring of name or description
  sharedWithUserId?: string | undefined;
  sharedWithGroupId?: string | undefined;
  sharedByOwnerId?: string | undefined; // images of this owner shared with anyone
  ownedBy?: string | undefined; // owner user id
  public?: boolean | undefined; // unauthenticated_access
}

// Orders a list can take. Every order ends in (owner, name), which is unique, so a page can
// continue after the last image of the previous one (keyset pagination).
export const SORT_KEYS = ["owner", "name", "size", "uploaded", "modified"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export interface Sort {
  key: SortKey;
  descending: boolean;
}

export interface Page {
  limit?: number | undefined;
  // The last image of the previous page; `value` is its sort key (sortValueOf) unless the key is owner or name.
  after?: { owner: string; name: string; value?: string | number | undefined } | undefined;
  sort?: Sort | undefined;
}

// The sort key as SQL over the list query's "images" and "users". size is the latest upload's
// (as the image object reports it) and -1 without files; uploaded is '' when never.
function sortExpression(key: SortKey): RawBuilder<string | number> {
  switch (key) {
    case "owner":
      return sql<string>`users.user_name`;
    case "name":
      return sql<string>`images.name`;
    case "modified":
      return sql<string>`images.modified`;
    case "uploaded":
      return sql<string>`coalesce(images.uploaded, '')`;
    case "size":
      return sql<number>`coalesce((select v.size from image_versions v where v.image_id = images.id order by v.created desc, v.hypervisor limit 1), -1)`;
  }
}

/** The sort key of one image, to continue a list after it; undefined when there is no such image. */
export async function sortValueOf(db: Executor, key: SortKey, owner: string, name: string): Promise<{ value: string | number } | undefined> {
  const row = await db
    .selectFrom("images")
    .innerJoin("users", "users.id", "images.owner_id")
    .select(sortExpression(key).as("k"))
    .where("users.user_name", "=", owner)
    .where("images.name", "=", name)
    .executeTakeFirst();
  return row ? { value: row.k } : undefined;
}

export async function listImages(db: Executor, scope: ImageScope, f: ImageFilter, page: Page, now: string): Promise<ImageRow[]> {
  return (await listQuery(db, scope, f, page, now).selectAll("images").select("users.user_name as owner_name").execute()) as ImageRow[];
}

// Only the names: from the (owner, name) indexes alone, about six times faster than whole rows.
export function listImageNames(db: Executor, scope: ImageScope, f: ImageFilter, page: Page, now: string): Promise<{ owner_name: string; name: string }[]> {
  return listQuery(db, scope, f, page, now).select(["users.user_name as owner_name", "images.name"]).execute();
}

function listQuery(db: Executor, scope: ImageScope, f: ImageFilter, page: Page, now: string) {
  let query = db.selectFrom("images").innerJoin("users", "users.id", "images.owner_id");
  if (!scope.everything) {
    const userId = scope.userId;
    query = query.where((eb) => {
      const visible = [eb.and([eb("images.unauthenticated_access", "=", 1), notExpired(eb, now)])];
      if (userId) {
        visible.push(eb("images.owner_id", "=", userId));
        visible.push(
          eb.and([
            notExpired(eb, now),
            eb.exists(
              eb
                .selectFrom("image_user_shares")
                .select(sql`1`.as("x"))
                .whereRef("image_user_shares.image_id", "=", "images.id")
                .where("image_user_shares.user_id", "=", userId),
            ),
          ]),
        );
      }
      if (scope.groupIds.length) {
        visible.push(
          eb.and([
            notExpired(eb, now),
            eb.exists(
              eb
                .selectFrom("image_group_shares")
                .select(sql`1`.as("x"))
                .whereRef("image_group_shares.image_id", "=", "images.id")
                .where("image_group_shares.group_id", "in", scope.groupIds),
            ),
          ]),
        );
      }
      if (scope.ownerGroupIds.length) {
        visible.push(
          eb.and([
            notExpired(eb, now),
            eb.exists(
              eb
                .selectFrom("group_members")
                .select(sql`1`.as("x"))
                .whereRef("group_members.user_id", "=", "images.owner_id")
                .where("group_members.group_id", "in", scope.ownerGroupIds),
            ),
          ]),
        );
      }
      return eb.or(visible);
    });
  }
  if (f.owner !== undefined) query = query.where("users.user_name", "=", f.owner);
  if (f.name !== undefined) query = query.where("images.name", "=", f.name);
  if (f.ownedBy !== undefined) query = query.where("images.owner_id", "=", f.ownedBy);
  if (f.osArch !== undefined) query = query.where("images.os_arch", "=", f.osArch);
  if (f.osType !== undefined) query = query.where("images.os_type", "=", f.osType);
  if (f.osVariant !== undefined) query = query.where("images.os_variant", "=", f.osVariant);
  if (f.hypervisor !== undefined) {
    const hv = f.hypervisor;
    query = query.where((eb) => eb.or([eb("images.hypervisors", "=", hv), eb("images.hypervisors", "like", `${hv},%`), eb("images.hypervisors", "like", `%,${hv}`), eb("images.hypervisors", "like", `%,${hv},%`)]));
  }
  if (f.q !== undefined) {
    const pattern = `%${f.q.replace(/[\\%_]/g, (c) => "\\" + c).toLowerCase()}%`;
    query = query.where((eb) =>
      eb.or([eb(eb.fn("lower", ["images.name"]), "like", sql<string>`${pattern} escape '\\'`), eb(eb.fn("lower", ["images.description"]), "like", sql<string>`${pattern} escape '\\'`)]),
    );
  }
  if (f.sharedWithUserId !== undefined) {
    const id = f.sharedWithUserId;
    query = query.where((eb) =>
      eb.or([
        eb.exists(eb.selectFrom("image_user_shares").select(sql`1`.as("x")).whereRef("image_user_shares.image_id", "=", "images.id").where("image_user_shares.user_id", "=", id)),
        eb.exists(
          eb
            .selectFrom("image_group_shares")
            .innerJoin("group_members", "group_members.group_id", "image_group_shares.group_id")
            .select(sql`1`.as("x"))
            .whereRef("image_group_shares.image_id", "=", "images.id")
            .where("group_members.user_id", "=", id),
        ),
      ]),
    );
  }
  if (f.sharedWithGroupId !== undefined) {
    const id = f.sharedWithGroupId;
    query = query.where((eb) =>
      eb.exists(eb.selectFrom("image_group_shares").select(sql`1`.as("x")).whereRef("image_group_shares.image_id", "=", "images.id").where("image_group_shares.group_id", "=", id)),
    );
  }
  if (f.sharedByOwnerId !== undefined) {
    query = query
      .where("images.owner_id", "=", f.sharedByOwnerId)
      .where((eb) =>
        eb.or([
          eb.exists(eb.selectFrom("image_user_shares").select(sql`1`.as("x")).whereRef("image_user_shares.image_id", "=", "images.id")),
          eb.exists(eb.selectFrom("image_group_shares").select(sql`1`.as("x")).whereRef("image_group_shares.image_id", "=", "images.id")),
        ]),
      );
  }
  if (f.public !== undefined) query = query.where("images.unauthenticated_access", "=", f.public ? 1 : 0);
  const sort = page.sort ?? { key: "owner", descending: false };
  const key = sortExpression(sort.key);
  if (page.after) {
    const { owner, name } = page.after;
    const value = sort.key === "owner" ? owner : sort.key === "name" ? name : (page.after.value ?? "");
    query = query.where((eb) => {
      // Ties on the key continue in ascending (owner, name) order.
      const tie =
        sort.key === "owner"
          ? eb("images.name", ">", name)
          : sort.key === "name"
            ? eb("users.user_name", ">", owner)
            : eb.or([eb("users.user_name", ">", owner), eb.and([eb("users.user_name", "=", owner), eb("images.name", ">", name)])]);
      return eb.or([eb(key, sort.descending ? "<" : ">", value), eb.and([eb(key, "=", value), tie])]);
    });
  }
  query = query.orderBy(key, sort.descending ? "desc" : "asc");
  if (sort.key !== "owner") query = query.orderBy("users.user_name");
  if (sort.key !== "name") query = query.orderBy("images.name");
  if (page.limit !== undefined) query = query.limit(page.limit);
  return query;
}

function notExpired(eb: ExpressionBuilder<Database & { users: Database["users"] }, "images" | "users">, now: string) {
  return eb.or([eb("images.expires", "is", null), eb("images.expires", ">", now)]);
}

// ---- upload bookkeeping ----------------------------------------------------------------------

export async function addPendingUpload(db: Executor, row: Database["pending_uploads"]): Promise<void> {
  await db.insertInto("pending_uploads").values(row).execute();
}

// False when the record was already gone: the upload was reclaimed as abandoned.
export async function removePendingUpload(db: Executor, blobKey: string): Promise<boolean> {
  const r = await db.deleteFrom("pending_uploads").where("blob_key", "=", blobKey).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// Uploads whose process is no longer registered as alive.
export const orphanedUploads = (db: Executor) =>
  db
    .selectFrom("pending_uploads")
    .selectAll()
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom("servers").select("servers.id").whereRef("servers.id", "=", "pending_uploads.server_id"))))
    .execute();

export async function addGarbage(db: Executor, blobKeys: readonly string[], now: string): Promise<void> {
  if (blobKeys.length === 0) return;
  await db
    .insertInto("blob_garbage")
    .values(blobKeys.map((blob_key) => ({ blob_key, since: now })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export const garbage = (db: Executor) => db.selectFrom("blob_garbage").select("blob_key").execute();

export async function removeGarbage(db: Executor, blobKey: string): Promise<void> {
  await db.deleteFrom("blob_garbage").where("blob_key", "=", blobKey).execute();
}

// Every version's bytes count, once per blob: a rollback costs nothing.
export async function usedBytes(db: Executor, ownerId: string): Promise<number> {
  const row = await db
    .selectFrom((eb) =>
      eb
        .selectFrom("image_versions")
        .innerJoin("images", "images.id", "image_versions.image_id")
        .select(["image_versions.blob_key", "image_versions.size"])
        .distinct()
        .where("images.owner_id", "=", ownerId)
        .as("b"),
    )
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("b.size"), sql<number>`0`).as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export const blobKeysOfOwner = (db: Executor, ownerId: string) =>
  db.selectFrom("image_versions").innerJoin("images", "images.id", "image_versions.image_id").select("image_versions.blob_key").distinct().where("images.owner_id", "=", ownerId).execute();

export const imageNamesOfOwner = async (db: Executor, ownerId: string): Promise<string[]> =>
  (await db.selectFrom("images").select("name").where("owner_id", "=", ownerId).orderBy("name").execute()).map((r) => r.name);
