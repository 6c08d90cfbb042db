// Images: metadata slots, sharing, and the metadata half of uploads and downloads. Bytes move
// through the BlobStore; this module decides which blob an image points at, in one transaction.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as qi from "../db/images.js";
import * as qu from "../db/users.js";
import { isUniqueViolation } from "../db/errors.js";
import type { Actor } from "../policy/actor.js";
import { authorizeOrThrow, imageScope, maySeeImage, maySeeShares, type ImageRef } from "../policy/authorize.js";
import { badRequest, conflict, gone, notFound, RepomanError } from "../errors.js";
import { requireUser } from "./users.js";
import { collectGarbage, type Storage } from "./housekeeping.js";
import { difference, recordChange } from "./audit.js";
import type { DiskFormat, DiskInfo } from "./disk-formats.js";

export { SORT_KEYS, type SortKey } from "../db/images.js";

export interface ImageFile {
  hypervisor: string;
  version: number;
  size: number;
  sha256: string;
  uploaded: string; // when this version became current
  format: DiskFormat | null; // null: uploaded before formats were detected
  virtualSize: number | null;
}

export interface VersionView extends ImageFile {
  current: boolean;
  uploader: string | null;
  comment: string | null;
  restoredFrom: number | null;
}

export interface ImageView {
  id: string;
  name: string;
  ownerName: string;
  description: string;
  osVariant: string | null;
  osType: string | null;
  osArch: string | null;
  hypervisors: string[];
  readOnly: boolean;
  public: boolean;
  expires: string | null;
  version: number;
  keepVersions: number | null; // null: the server's default
  created: string;
  modified: string;
  uploaded: string | null;
  files: ImageFile[];
  sharedWithUsers: string[];
  sharedWithGroups: string[];
}

export interface ImageFields {
  description?: string | undefined;
  osVariant?: string | undefined;
  osType?: string | undefined;
  osArch?: string | undefined;
  hypervisors?: string[] | undefined;
  readOnly?: boolean | undefined;
  public?: boolean | undefined;
  expires?: string | null | undefined; // ISO 8601; null clears
  keepVersions?: number | null | undefined; // null: back to the server's default
}

export interface NewImage extends ImageFields {
  name: string;
  ownerName?: string | undefined;
}

export interface ImageChanges extends ImageFields {
  name?: string | undefined;
  ownerName?: string | undefined;
}

const now = () => new Date().toISOString();
const fileOf = (v: qi.VersionRow): ImageFile => ({
  hypervisor: v.hypervisor,
  version: v.version,
  size: v.size,
  sha256: v.sha256,
  uploaded: v.created,
  format: (v.format as DiskFormat | null) ?? null,
  virtualSize: v.virtual_size ?? null,
});
const isExpired = (row: { expires: string | null }, at: string) => row.expires !== null && row.expires <= at;

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

// Everything policy and views need about a set of images, in a fixed number of queries.
async function load(db: qu.Executor, rows: qi.ImageRow[]) {
  const ids = rows.map((r) => r.id);
  const owners = [...new Set(rows.map((r) => r.owner_id))];
  const [files, users, groups, ownerGroups] = await Promise.all([qi.currentFiles(db, ids), qi.userSharesOf(db, ids), qi.groupSharesOf(db, ids), qu.groupIdsOfUsers(db, owners)]);
  const filesBy = groupBy(files, (f) => f.image_id);
  const usersBy = groupBy(users, (u) => u.image_id);
  const groupsBy = groupBy(groups, (g) => g.image_id);
  const at = now();
  return rows.map((row) => {
    const u = usersBy.get(row.id) ?? [];
    const g = groupsBy.get(row.id) ?? [];
    const ref: ImageRef = {
      ownerId: row.owner_id,
      ownerGroupIds: ownerGroups.get(row.owner_id) ?? [],
      sharedWithUserIds: u.map((s) => s.id),
      sharedWithGroupIds: g.map((s) => s.id),
      public: row.unauthenticated_access !== 0,
      expired: isExpired(row, at),
      readOnly: row.read_only !== 0,
    };
    const order = row.hypervisors.split(",");
    const current = (filesBy.get(row.id) ?? []).sort((a, b) => order.indexOf(a.hypervisor) - order.indexOf(b.hypervisor));
    const view: ImageView = {
      id: row.id,
      name: row.name,
      ownerName: row.owner_name,
      description: row.description,
      osVariant: row.os_variant,
      osType: row.os_type,
      osArch: row.os_arch,
      hypervisors: order,
      readOnly: row.read_only !== 0,
      public: row.unauthenticated_access !== 0,
      expires: row.expires,
      version: row.version,
      keepVersions: row.keep_versions,
      created: row.created,
      modified: row.modified,
      uploaded: row.uploaded,
      files: current.map(fileOf),
      sharedWithUsers: u.map((s) => s.name),
      sharedWithGroups: g.map((s) => s.name),
    };
    return { row, ref, view, current };
  });
}

// The image as it is now, after a change in this transaction.
const viewById = async (db: qu.Executor, id: string) => (await load(db, [(await qi.findImageById(db, id))!]))[0]!.view;

// Finds an image the actor may see; one they may not see does not exist, so names do not leak.
// An expired one says so to those who could see it otherwise; a name the actor sees under other
// owners is named in the answer, so that "does not exist" is never the whole truth.
async function visible(db: qu.Executor, actor: Actor | null, ownerName: string, name: string) {
  const row = await qi.findImage(db, ownerName, name);
  const loaded = row ? (await load(db, [row]))[0] : undefined;
  if (loaded && maySeeImage(actor, loaded.ref)) return loaded;
  if (loaded && maySeeImage(actor, { ...loaded.ref, expired: false })) throw gone(`image '${ownerName}/${name}' expired at ${loaded.row.expires}; its owner can extend it (modify-image --expires)`);
  const elsewhere = actor ? (await qi.listImageNames(db, imageScope(actor), { name }, { limit: 10 }, now())).filter((r) => r.owner_name !== ownerName) : [];
  if (elsewhere.length === 0) throw notFound(`image '${ownerName}/${name}' does not exist`);
  const owners = elsewhere.map((r) => r.owner_name);
  const hint = owners.length === 1 ? `-o ${owners[0]}` : "-o OWNER";
  throw notFound(`image '${ownerName}/${name}' does not exist, but you can see ${owners.map((o) => `${o}/${name}`).join(", ")} (name the owner: ${hint} with the repoman client, /api/images/OWNER/${name} in the API)`);
}

// An image the actor may see, with what policy needs to know about it (for decisions made
// elsewhere in the catalog: image lists).
export async function imageWithRef(db: qu.Executor, actor: Actor | null, ownerName: string, name: string): Promise<{ view: ImageView; ref: ImageRef }> {
  const { view, ref } = await visible(db, actor, ownerName, name);
  return { view, ref };
}

export async function getImage(db: Kysely<Database>, actor: Actor | null, ownerName: string, name: string): Promise<ImageView> {
  return viewFor(actor, (await visible(db, actor, ownerName, name)).view);
}

// The view as this actor may see it.
const viewFor = (actor: Actor | null, v: ImageView): ImageView => (maySeeShares(actor) ? v : { ...v, sharedWithUsers: [], sharedWithGroups: [] });

export interface ListQuery extends Omit<qi.ImageFilter, "sharedWithUserId" | "sharedWithGroupId" | "sharedByOwnerId" | "ownedBy"> {
  ownedByUser?: string | undefined;
  sharedWithUser?: string | undefined;
  sharedWithGroup?: string | undefined;
  sharingByUser?: string | undefined;
}

export interface ImageName {
  ownerName: string;
  name: string;
}

// The images the actor may see: their names only (what the original's lists return), which needs
// nothing beyond the one listing query, or full views.
export async function listImages(db: Kysely<Database>, actor: Actor | null, query: ListQuery, page: qi.Page, detail: true): Promise<ImageView[]>;
export async function listImages(db: Kysely<Database>, actor: Actor | null, query: ListQuery, page: qi.Page, detail: false): Promise<ImageName[]>;
export async function listImages(db: Kysely<Database>, actor: Actor | null, query: ListQuery, page: qi.Page, detail: boolean): Promise<ImageName[] | ImageView[]> {
  const filter: qi.ImageFilter = { owner: query.owner, name: query.name, osArch: query.osArch, osType: query.osType, osVariant: query.osVariant, hypervisor: query.hypervisor, q: query.q, public: query.public };
  const key = page.sort?.key;
  if (page.after && key !== undefined && key !== "owner" && key !== "name") {
    // Continue after the marker image's sort key. One the caller may not see counts as missing,
    // so markers cannot probe for names.
    const { owner, name } = page.after;
    let found: { value: string | number } | undefined;
    try {
      await visible(db, actor, owner, name);
      found = await qi.sortValueOf(db, key, owner, name);
    } catch (e) {
      if (!(e instanceof RepomanError && e.kind === "not_found")) throw e;
    }
    if (!found) throw badRequest(`marker: image '${owner}/${name}' does not exist (any more); start again from the first page`);
    page = { ...page, after: { owner, name, value: found.value } };
  }
  // The caller's own lists (whoami's among them) need no lookup: the actor was loaded for this request.
  const userId = async (name: string) => (name === actor?.userName ? actor.userId : (await requireUser(db, name)).id);
  if (query.ownedByUser !== undefined) filter.ownedBy = await userId(query.ownedByUser);
  if (query.sharedWithUser !== undefined) filter.sharedWithUserId = await userId(query.sharedWithUser);
  if (query.sharingByUser !== undefined) filter.sharedByOwnerId = await userId(query.sharingByUser);
  if (query.sharedWithGroup !== undefined) {
    const g = await qu.findGroupByName(db, query.sharedWithGroup);
    if (!g) throw notFound(`group '${query.sharedWithGroup}' does not exist`);
    filter.sharedWithGroupId = g.id;
  }
  const scope = imageScope(actor, filter.ownedBy);
  if (!detail) return (await qi.listImageNames(db, scope, filter, page, now())).map((r) => ({ ownerName: r.owner_name, name: r.name }));
  return (await load(db, await qi.listImages(db, scope, filter, page, now()))).map((l) => viewFor(actor, l.view));
}

function fieldsToColumns(f: ImageFields): Partial<Database["images"]> {
  const set: Partial<Database["images"]> = {};
  if (f.description !== undefined) set.description = f.description;
  if (f.osVariant !== undefined) set.os_variant = f.osVariant || null;
  if (f.osType !== undefined) set.os_type = f.osType || null;
  if (f.osArch !== undefined) set.os_arch = f.osArch || null;
  if (f.hypervisors !== undefined) set.hypervisors = [...new Set(f.hypervisors)].join(",");
  if (f.readOnly !== undefined) set.read_only = f.readOnly ? 1 : 0;
  if (f.public !== undefined) set.unauthenticated_access = f.public ? 1 : 0;
  if (f.expires !== undefined) set.expires = f.expires;
  if (f.keepVersions !== undefined) set.keep_versions = f.keepVersions;
  return set;
}

// The image's fields (as the API names them) that these column values really change.
const FIELD_OF_COLUMN: Record<string, string> = { name: "name", owner_id: "owner", hypervisors: "hypervisor", unauthenticated_access: "unauthenticated_access" };
function changedFields(row: Database["images"], set: Partial<Database["images"]>): string[] {
  return Object.entries(set)
    .filter(([column, value]) => row[column as keyof Database["images"]] !== value)
    .map(([column]) => FIELD_OF_COLUMN[column] ?? column);
}

// An image's metadata as the audit log shows it (the API's names).
const audited = (row: Database["images"], owner: string) => ({
  owner,
  name: row.name,
  description: row.description,
  os_variant: row.os_variant,
  os_type: row.os_type,
  os_arch: row.os_arch,
  hypervisor: row.hypervisors,
  read_only: row.read_only !== 0,
  unauthenticated_access: row.unauthenticated_access !== 0,
  expires: row.expires,
  keep_versions: row.keep_versions,
});

export async function createImage(db: Kysely<Database>, actor: Actor, input: NewImage): Promise<ImageView> {
  try {
    return await db.transaction().execute(async (trx) => {
      const owner = input.ownerName === undefined ? await requireUser(trx, actor.userName) : await qu.findUserByName(trx, input.ownerName);
      if (!owner) throw badRequest(`user_name: user '${input.ownerName}' does not exist`);
      authorizeOrThrow(actor, { do: "image.create", ownerId: owner.id });
      if (await qi.findImage(trx, owner.user_name, input.name)) throw conflict(`image '${owner.user_name}/${input.name}' already exists`);
      const at = now();
      const id = randomUUID().replace(/-/g, "");
      const row: Database["images"] = {
        id,
        owner_id: owner.id,
        name: input.name,
        description: "",
        os_variant: null,
        os_type: null,
        os_arch: null,
        hypervisors: "xen",
        read_only: 0,
        unauthenticated_access: 0,
        expires: null,
        version: 0,
        keep_versions: null,
        created: at,
        modified: at,
        uploaded: null,
        ...fieldsToColumns(input),
      };
      await qi.insertImage(trx, row);
      await recordChange(trx, actor, { action: "image.create", target: `${owner.user_name}/${input.name}`, after: audited(row, owner.user_name) });
      return (await visible(trx, actor, owner.user_name, input.name)).view;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`image '${input.ownerName ?? actor.userName}/${input.name}' already exists`);
    throw e;
  }
}

// Metadata only: renames and transfers never touch bytes, because blobs are keyed by image id.
// Dropping a hypervisor deletes its versions; lowering keep_versions prunes at once.
export async function modifyImage(s: Storage, actor: Actor, ownerName: string, name: string, changes: ImageChanges): Promise<ImageView> {
  try {
    const view = await s.db.transaction().execute(async (trx) => {
      const { row, ref } = await visible(trx, actor, ownerName, name);
      const set = fieldsToColumns(changes);
      let newOwnerName = row.owner_name;
      if (changes.ownerName !== undefined && changes.ownerName !== row.owner_name) {
        const target = await qu.findUserByName(trx, changes.ownerName);
        if (!target) throw badRequest(`owner: user '${changes.ownerName}' does not exist`);
        set.owner_id = target.id;
        newOwnerName = target.user_name;
      }
      const newName = changes.name ?? row.name;
      if (newName !== row.name) set.name = newName;
      const fields = changedFields(row, set);
      authorizeOrThrow(actor, { do: "image.modify", image: ref, fields });
      // A request that changes nothing leaves the image as it was, its modification time too.
      if (fields.length === 0) return await viewById(trx, row.id);
      if ((newName !== row.name || newOwnerName !== row.owner_name) && (await qi.findImage(trx, newOwnerName, newName))) {
        throw conflict(`image '${newOwnerName}/${newName}' already exists`);
      }
      set.modified = now();
      await qi.updateImage(trx, row.id, set);
      const removed: string[] = [];
      if (set.hypervisors !== undefined) {
        const keep = new Set(set.hypervisors.split(","));
        removed.push(...(await retire(trx, (await qi.versionsOf(trx, row.id)).filter((v) => !keep.has(v.hypervisor)))));
      }
      if (set.keep_versions !== undefined) {
        for (const hypervisor of (set.hypervisors ?? row.hypervisors).split(",")) removed.push(...(await prune(trx, row.id, hypervisor, set.keep_versions ?? s.keepVersions)));
      }
      const changed = difference(audited(row, row.owner_name), audited({ ...row, ...set }, newOwnerName));
      if (Object.keys(changed.after).length || removed.length) {
        await recordChange(trx, actor, { action: "image.modify", target: `${row.owner_name}/${row.name}`, before: changed.before, after: { ...changed.after, ...(removed.length ? { versions_deleted: removed } : {}) } });
      }
      return await viewById(trx, row.id);
    });
    await collectGarbage(s);
    return view;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an image of that name already exists for that owner`);
    throw e;
  }
}

export async function deleteImage(s: Storage, actor: Actor, ownerName: string, name: string): Promise<void> {
  await s.db.transaction().execute(async (trx) => {
    const { row, ref } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.delete", image: ref });
    await qi.lockImage(trx, row.id, now());
    const versions = await retire(trx, await qi.versionsOf(trx, row.id));
    await qi.deleteImage(trx, row.id);
    await recordChange(trx, actor, { action: "image.delete", target: `${row.owner_name}/${row.name}`, before: { ...audited(row, row.owner_name), versions } });
  });
  await collectGarbage(s);
}

export type ShareTarget = { kind: "user"; name: string } | { kind: "group"; name: string };

export async function setShare(db: Kysely<Database>, actor: Actor, ownerName: string, name: string, target: ShareTarget, shared: boolean): Promise<ImageView> {
  return db.transaction().execute(async (trx) => {
    const { row, ref } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.share", image: ref });
    if (target.kind === "user") {
      const user = await qu.findUserByName(trx, target.name);
      if (!user) throw badRequest(`the user you are trying to share the image with does not exist: '${target.name}'`);
      await (shared ? qi.shareWithUser : qi.unshareWithUser)(trx, row.id, user.id);
      await recordChange(trx, actor, { action: shared ? "image.share" : "image.unshare", target: `${row.owner_name}/${row.name}`, [shared ? "after" : "before"]: { user: target.name } });
    } else {
      const group = await qu.findGroupByName(trx, target.name);
      if (!group) throw badRequest(`the group you are trying to share the image with does not exist: '${target.name}'`);
      if (shared) authorizeOrThrow(actor, { do: "image.share_with_group", image: ref, groupId: group.id });
      await (shared ? qi.shareWithGroup : qi.unshareWithGroup)(trx, row.id, group.id);
      await recordChange(trx, actor, { action: shared ? "image.share" : "image.unshare", target: `${row.owner_name}/${row.name}`, [shared ? "after" : "before"]: { group: target.name } });
    }
    return (await load(trx, [row]))[0]!.view;
  });
}

// ---- versions --------------------------------------------------------------------------------

// Removes these versions; the blobs no version names any more become garbage (deleted after the
// commit by collectGarbage). The caller holds the image's lock. Returns what went, as
// HYPERVISOR:VERSION, for the audit log.
async function retire(trx: qu.Executor, versions: readonly qi.VersionRow[]): Promise<string[]> {
  if (versions.length === 0) return [];
  await qi.deleteVersions(trx, versions);
  await qi.addGarbage(trx, await qi.unreferencedBlobs(trx, versions.map((v) => v.blob_key)), now());
  return versions.map((v) => `${v.hypervisor}:${v.version}`);
}

// Keeps the newest `keep` versions of one hypervisor (0: all of them).
async function prune(trx: qu.Executor, imageId: string, hypervisor: string, keep: number): Promise<string[]> {
  return keep > 0 ? retire(trx, (await qi.versionsOf(trx, imageId, hypervisor)).slice(keep)) : [];
}

// The bytes that adding one version would free by pruning: blobs only the pruned versions name.
function freedByNextVersion(versions: readonly qi.VersionRow[], keep: number): number {
  if (keep === 0) return 0;
  const staying = new Set(versions.slice(0, keep - 1).map((v) => v.blob_key));
  const freed = new Map(versions.slice(keep - 1).filter((v) => !staying.has(v.blob_key)).map((v) => [v.blob_key, v.size]));
  return [...freed.values()].reduce((a, b) => a + b, 0);
}

const viewOfVersion = (v: qi.VersionRow, current: boolean): VersionView => ({ ...fileOf(v), current, uploader: v.uploader, comment: v.comment, restoredFrom: v.restored_from });

// The versions kept of one image, newest first for each hypervisor.
export async function listVersions(db: Kysely<Database>, actor: Actor | null, ownerName: string, name: string, hypervisor?: string): Promise<{ image: ImageView; versions: VersionView[] }> {
  const { row, view } = await visible(db, actor, ownerName, name);
  const rows = await qi.versionsOf(db, row.id, hypervisor);
  return { image: view, versions: rows.map((v, i) => viewOfVersion(v, i === 0 || rows[i - 1]!.hypervisor !== v.hypervisor)) };
}

// The hypervisor an operation on files means: the one asked for, or the only one with files.
function hypervisorWithFiles(view: ImageView, wanted: string | undefined): string {
  if (wanted !== undefined) return wanted;
  const withFiles = view.files.map((f) => f.hypervisor);
  if (withFiles.length === 1) return withFiles[0]!;
  if (withFiles.length === 0) throw notFound(`image '${view.ownerName}/${view.name}' has no files yet`);
  throw badRequest(`image '${view.ownerName}/${view.name}' has files for ${withFiles.join(", ")}: name the hypervisor`);
}

function noSuchVersion(view: ImageView, hypervisor: string, what: string, kept: readonly qi.VersionRow[]) {
  const which = kept.length ? `versions kept: ${kept.map((v) => v.version).sort((a, b) => a - b).join(", ")}` : "it has no versions";
  return notFound(`image '${view.ownerName}/${view.name}' has no ${what} for hypervisor '${hypervisor}' (${which})`);
}

export interface Rollback {
  hypervisor?: string | undefined;
  version?: number | undefined; // default: the version before the current one
  comment?: string | undefined;
}

// Makes an older version current again as a new version naming the same blob: nothing is copied,
// and the history keeps every step.
export async function rollbackImage(s: Storage, actor: Actor, ownerName: string, name: string, r: Rollback): Promise<{ image: ImageView; version: VersionView }> {
  const result = await s.db.transaction().execute(async (trx) => {
    const { row, ref, view } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.upload", image: ref });
    const hypervisor = hypervisorWithFiles(view, r.hypervisor);
    const at = now();
    const locked = (await qi.bumpVersion(trx, row.id, at))!;
    const versions = await qi.versionsOf(trx, row.id, hypervisor);
    const current = versions[0];
    if (!current) throw noSuchVersion(view, hypervisor, "file", versions);
    const target = r.version === undefined ? versions[1] : versions.find((v) => v.version === r.version);
    if (!target) throw r.version === undefined ? conflict(`image '${ownerName}/${name}' has no version before ${current.version} for '${hypervisor}' to roll back to`) : noSuchVersion(view, hypervisor, `version ${r.version}`, versions);
    if (target.version === current.version) throw conflict(`version ${target.version} is already the current one`);
    const added: qi.VersionRow = { ...target, version: current.version + 1, created: at, uploader: actor.userName, comment: r.comment ?? null, restored_from: target.version };
    await qi.insertVersion(trx, added);
    const pruned = await prune(trx, row.id, hypervisor, locked.keep_versions ?? s.keepVersions);
    await recordChange(trx, actor, {
      action: "image.rollback",
      target: `${row.owner_name}/${row.name}`,
      before: { hypervisor, version: current.version, sha256: current.sha256 },
      after: { hypervisor, version: added.version, sha256: added.sha256, restored_from: target.version, comment: added.comment, ...(pruned.length ? { versions_deleted: pruned } : {}) },
    });
    return { image: await viewById(trx, row.id), version: viewOfVersion(added, true) };
  });
  await collectGarbage(s);
  return result;
}

// ---- uploads ---------------------------------------------------------------------------------

export interface UploadTicket {
  imageId: string;
  hypervisor: string;
  blobKey: string;
  maxBytes: number | undefined; // remaining quota
  by: Actor;
  comment: string | null;
}

// Everything that can refuse an upload is decided here, before a byte of the body is read: who,
// which image and hypervisor, and the quota (from the announced length). The ticket names a new blob.
export async function prepareUpload(
  trx: qu.Executor,
  s: Storage,
  actor: Actor,
  target: { ownerName: string; name: string; hypervisor: string },
  contentLength: number | undefined,
  comment?: string,
): Promise<UploadTicket> {
  const { ownerName, name, hypervisor } = target;
  const { row, ref, view } = await visible(trx, actor, ownerName, name);
  authorizeOrThrow(actor, { do: "image.upload", image: ref });
  if (!view.hypervisors.includes(hypervisor)) {
    throw badRequest(`image '${ownerName}/${name}' is for ${view.hypervisors.join(", ")}, not '${hypervisor}'; change its hypervisor list first`);
  }
  const owner = (await qu.findUserByName(trx, row.owner_name))!;
  let maxBytes: number | undefined;
  if (owner.quota_bytes > 0) {
    // Versions pruned by this upload free their bytes, so they do not count against it.
    const freed = freedByNextVersion(await qi.versionsOf(trx, row.id, hypervisor), row.keep_versions ?? s.keepVersions);
    maxBytes = Math.max(0, owner.quota_bytes - (await qi.usedBytes(trx, owner.id)) + freed);
    if (contentLength !== undefined && contentLength > maxBytes) {
      throw new RepomanError("too_large", `upload of ${contentLength} bytes exceeds ${owner.user_name}'s storage quota (${maxBytes} bytes left, counting every version kept)`);
    }
  }
  const blobKey = `images/${row.id}/${hypervisor}/${randomUUID()}`;
  return { imageId: row.id, hypervisor, blobKey, maxBytes, by: actor, comment: comment ?? null };
}

// A plain upload: one request, recorded as this process's until it commits or is abandoned.
export async function beginUpload(s: Storage, actor: Actor, ownerName: string, name: string, hypervisor: string, contentLength: number | undefined, comment?: string): Promise<UploadTicket> {
  return s.db.transaction().execute(async (trx) => {
    const ticket = await prepareUpload(trx, s, actor, { ownerName, name, hypervisor }, contentLength, comment);
    await qi.addPendingUpload(trx, { blob_key: ticket.blobKey, image_id: ticket.imageId, hypervisor, server_id: s.serverId, started: now() });
    return ticket;
  });
}

// Whether the actor may still upload to this image (a resumable upload asks again for every
// chunk: the image may have been deleted, frozen or unshared since it began).
export async function authorizeUploadTo(db: qu.Executor, actor: Actor, imageId: string, hypervisor: string): Promise<void> {
  const row = await qi.findImageById(db, imageId);
  const loaded = row ? (await load(db, [row]))[0] : undefined;
  if (!loaded || !maySeeImage(actor, loaded.ref)) throw notFound("the image of this upload no longer exists");
  authorizeOrThrow(actor, { do: "image.upload", image: loaded.ref });
  if (!loaded.view.hypervisors.includes(hypervisor)) throw conflict(`image '${loaded.view.ownerName}/${loaded.view.name}' is no longer for '${hypervisor}'`);
}

// Makes the new blob the image's next version in one transaction; versions beyond the image's
// retention are pruned, and their blobs become garbage. `claim` takes the upload's record (the
// plain upload's pending record by default) and is false if another process took it first.
export async function commitUpload(
  s: Storage,
  ticket: UploadTicket,
  stored: { size: number; sha256: string; disk: DiskInfo },
  claim: (trx: qu.Executor) => Promise<boolean> = (trx) => qi.removePendingUpload(trx, ticket.blobKey),
): Promise<ImageView> {
  const started = performance.now();
  const outcome = await s.db
    .transaction()
    .execute(async (trx) => {
      if (!(await claim(trx))) {
        // A peer took this process for dead and reclaimed the upload; its blob is garbage already.
        throw conflict("the upload took so long that the server was presumed dead, or it was cancelled; nothing was stored, please retry");
      }
      const at = now();
      // Refused before the image's version moves: a refused file leaves no trace on the image.
      if (stored.disk.references !== null && !s.allowBackingFiles) {
        await qi.addGarbage(trx, [ticket.blobKey], at);
        return { refusal: unsafeImage(stored.disk) };
      }
      const image = await qi.lockForCommit(trx, ticket.imageId);
      // Deleted, changed or frozen while the bytes were arriving: keep nothing, and leave the image
      // as it is. (Returned, not thrown, so that the garbage record commits.)
      const refusal =
        image === undefined || !image.hypervisors.split(",").includes(ticket.hypervisor)
          ? conflict("the image was deleted, or lost this hypervisor, during the upload; nothing was stored")
          : image.read_only !== 0
            ? conflict("the image was made read-only during the upload; nothing was stored")
            : undefined;
      if (refusal) {
        await qi.addGarbage(trx, [ticket.blobKey], at);
        return { refusal };
      }
      await qi.bumpVersion(trx, ticket.imageId, at);
      const previous = (await qi.versionsOf(trx, ticket.imageId, ticket.hypervisor))[0];
      const version = (previous?.version ?? 0) + 1;
      await qi.insertVersion(trx, {
        image_id: ticket.imageId,
        hypervisor: ticket.hypervisor,
        version,
        blob_key: ticket.blobKey,
        size: stored.size,
        sha256: stored.sha256,
        created: at,
        uploader: ticket.by.userName,
        comment: ticket.comment,
        restored_from: null,
        sha512: null,
        format: stored.disk.format,
        virtual_size: stored.disk.virtualSize,
      });
      const pruned = await prune(trx, ticket.imageId, ticket.hypervisor, image!.keep_versions ?? s.keepVersions);
      const owner = (await qu.findUserById(trx, image!.owner_id))!;
      await recordChange(trx, ticket.by, {
        action: "image.upload",
        target: `${owner.user_name}/${image!.name}`,
        before: previous ? { hypervisor: ticket.hypervisor, version: previous.version, size: previous.size, sha256: previous.sha256 } : undefined,
        after: { hypervisor: ticket.hypervisor, version, size: stored.size, sha256: stored.sha256, format: stored.disk.format, comment: ticket.comment, ...(pruned.length ? { versions_deleted: pruned } : {}) },
      });
      return { view: await viewById(trx, ticket.imageId) };
    })
    .finally(() => collectGarbage(s));
  if (!outcome.view) throw outcome.refusal;
  s.observeCommit?.((performance.now() - started) / 1000);
  return outcome.view;
}

// A file that makes the host opening it read other files of that host's.
const unsafeImage = (disk: DiskInfo) =>
  new RepomanError(
    "unsafe_image",
    `this ${disk.format} file names ${disk.references}: a host that opens it reads that too, which is a known way to read files off a host; nothing was stored. Make it self-contained first (qemu-img convert -O ${disk.format === "unknown" ? "qcow2" : disk.format} FILE NEW), or ask the server's operator about --allow-backing-files`,
  );

export async function abandonUpload(s: Storage, ticket: UploadTicket): Promise<void> {
  await s.db.transaction().execute(async (trx) => {
    await qi.removePendingUpload(trx, ticket.blobKey);
    await qi.addGarbage(trx, [ticket.blobKey], now());
  });
  await collectGarbage(s);
}

// ---- downloads -------------------------------------------------------------------------------

export interface Download {
  image: ImageView;
  file: ImageFile;
  blobKey: string;
}

// Which version a download wants: the current one, a version number, or the bytes with a checksum.
export type Pin = { version: number } | { sha256: string } | undefined;

// Resolves the blob once: a download streams that version to its end whatever is uploaded meanwhile.
export async function findDownload(db: Kysely<Database>, actor: Actor | null, ownerName: string, name: string, hypervisor: string, pin?: Pin): Promise<Download> {
  const { row, view, current } = await visible(db, actor, ownerName, name);
  let found: qi.VersionRow | undefined;
  if (pin === undefined) {
    found = current.find((f) => f.hypervisor === hypervisor);
    if (!found) throw notFound(`image '${ownerName}/${name}' has no file for hypervisor '${hypervisor}'`);
  } else {
    found = "version" in pin ? await qi.findVersion(db, row.id, hypervisor, pin.version) : await qi.findVersionBySha256(db, row.id, hypervisor, pin.sha256);
    if (!found) throw noSuchVersion(view, hypervisor, "version" in pin ? `version ${pin.version}` : `version with sha256 ${pin.sha256}`, await qi.versionsOf(db, row.id, hypervisor));
  }
  return { image: view, file: fileOf(found), blobKey: found.blob_key };
}
