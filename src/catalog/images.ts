// Images: metadata slots, sharing, and the metadata half of uploads and downloads. Bytes move
// through the BlobStore; this module decides which blob an image points at, in one transaction.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as qi from "../db/images.js";
import * as qu from "../db/users.js";
import { isUniqueViolation } from "../db/errors.js";
import type { Actor } from "../policy/actor.js";
import { authorizeOrThrow, imageScope, maySeeImage, type ImageRef } from "../policy/authorize.js";
import { badRequest, conflict, notFound, RepomanError } from "../errors.js";
import { requireUser } from "./users.js";
import { collectGarbage, type Storage } from "./housekeeping.js";

export { SORT_KEYS, type SortKey } from "../db/images.js";

export interface ImageFile {
  hypervisor: string;
  size: number;
  sha256: string;
  uploaded: string;
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
  const [files, users, groups, ownerGroups] = await Promise.all([qi.filesOf(db, ids), qi.userSharesOf(db, ids), qi.groupSharesOf(db, ids), qu.groupIdsOfUsers(db, owners)]);
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
    };
    const order = row.hypervisors.split(",");
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
      created: row.created,
      modified: row.modified,
      uploaded: row.uploaded,
      files: (filesBy.get(row.id) ?? [])
        .map((f) => ({ hypervisor: f.hypervisor, size: f.size, sha256: f.sha256, uploaded: f.uploaded }))
        .sort((a, b) => order.indexOf(a.hypervisor) - order.indexOf(b.hypervisor)),
      sharedWithUsers: u.map((s) => s.name),
      sharedWithGroups: g.map((s) => s.name),
    };
    return { row, ref, view };
  });
}

// Finds an image the actor may see; one they may not see does not exist, so names do not leak.
async function visible(db: qu.Executor, actor: Actor | null, ownerName: string, name: string) {
  const row = await qi.findImage(db, ownerName, name);
  const loaded = row ? (await load(db, [row]))[0] : undefined;
  if (!loaded || !maySeeImage(actor, loaded.ref)) throw notFound(`image '${ownerName}/${name}' does not exist`);
  return loaded;
}

export async function getImage(db: Kysely<Database>, actor: Actor | null, ownerName: string, name: string): Promise<ImageView> {
  return (await visible(db, actor, ownerName, name)).view;
}

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
  const filter: qi.ImageFilter = { owner: query.owner, osArch: query.osArch, osType: query.osType, osVariant: query.osVariant, hypervisor: query.hypervisor, q: query.q, public: query.public };
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
  return (await load(db, await qi.listImages(db, scope, filter, page, now()))).map((l) => l.view);
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
  return set;
}

export async function createImage(db: Kysely<Database>, actor: Actor, input: NewImage): Promise<ImageView> {
  try {
    return await db.transaction().execute(async (trx) => {
      const owner = input.ownerName === undefined ? await requireUser(trx, actor.userName) : await qu.findUserByName(trx, input.ownerName);
      if (!owner) throw badRequest(`user_name: user '${input.ownerName}' does not exist`);
      authorizeOrThrow(actor, { do: "image.create", ownerId: owner.id });
      if (await qi.findImage(trx, owner.user_name, input.name)) throw conflict(`image '${owner.user_name}/${input.name}' already exists`);
      const at = now();
      const id = randomUUID().replace(/-/g, "");
      await qi.insertImage(trx, {
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
        created: at,
        modified: at,
        uploaded: null,
        ...fieldsToColumns(input),
      });
      return (await visible(trx, actor, owner.user_name, input.name)).view;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`image '${input.ownerName ?? actor.userName}/${input.name}' already exists`);
    throw e;
  }
}

// Metadata only: renames and transfers never touch bytes, because blobs are keyed by image id.
export async function modifyImage(s: Storage, actor: Actor, ownerName: string, name: string, changes: ImageChanges): Promise<ImageView> {
  try {
    const result = await s.db.transaction().execute(async (trx) => {
      const { row, ref } = await visible(trx, actor, ownerName, name);
      authorizeOrThrow(actor, { do: "image.modify", image: ref });
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
      if ((newName !== row.name || newOwnerName !== row.owner_name) && (await qi.findImage(trx, newOwnerName, newName))) {
        throw conflict(`image '${newOwnerName}/${newName}' already exists`);
      }
      // Files of hypervisors dropped from the list go, with their blobs, after the commit.
      let dropped: string[] = [];
      if (set.hypervisors !== undefined) {
        const keep = new Set(set.hypervisors.split(","));
        const files = await qi.filesOf(trx, [row.id]);
        const gone = files.filter((f) => !keep.has(f.hypervisor));
        dropped = gone.map((f) => f.blob_key);
        await qi.deleteFiles(
          trx,
          row.id,
          gone.map((f) => f.hypervisor),
        );
        await qi.addGarbage(trx, dropped, now());
      }
      set.modified = now();
      await qi.updateImage(trx, row.id, set);
      return { view: (await load(trx, [(await qi.findImageById(trx, row.id))!]))[0]!.view, dropped };
    });
    if (result.dropped.length) await collectGarbage(s);
    return result.view;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an image of that name already exists for that owner`);
    throw e;
  }
}

export async function deleteImage(s: Storage, actor: Actor, ownerName: string, name: string): Promise<void> {
  await s.db.transaction().execute(async (trx) => {
    const { row, ref } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.delete", image: ref });
    const files = await qi.filesOf(trx, [row.id]);
    await qi.addGarbage(
      trx,
      files.map((f) => f.blob_key),
      now(),
    );
    await qi.deleteImage(trx, row.id);
  });
  await collectGarbage(s);
}

export type ShareTarget = { kind: "user"; name: string } | { kind: "group"; name: string };

export async function setShare(db: Kysely<Database>, actor: Actor, ownerName: string, name: string, target: ShareTarget, shared: boolean): Promise<ImageView> {
  return db.transaction().execute(async (trx) => {
    const { row, ref } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.modify", image: ref });
    if (target.kind === "user") {
      const user = await qu.findUserByName(trx, target.name);
      if (!user) throw badRequest(`the user you are trying to share the image with does not exist: '${target.name}'`);
      await (shared ? qi.shareWithUser : qi.unshareWithUser)(trx, row.id, user.id);
    } else {
      const group = await qu.findGroupByName(trx, target.name);
      if (!group) throw badRequest(`the group you are trying to share the image with does not exist: '${target.name}'`);
      if (shared) authorizeOrThrow(actor, { do: "image.share_with_group", image: ref, groupId: group.id });
      await (shared ? qi.shareWithGroup : qi.unshareWithGroup)(trx, row.id, group.id);
    }
    return (await load(trx, [row]))[0]!.view;
  });
}

// ---- uploads ---------------------------------------------------------------------------------

export interface UploadTicket {
  imageId: string;
  hypervisor: string;
  blobKey: string;
  maxBytes: number | undefined; // remaining quota
}

// Everything that can refuse an upload is decided here, before a byte of the body is read.
export async function beginUpload(
  s: Storage,
  actor: Actor,
  ownerName: string,
  name: string,
  hypervisor: string,
  contentLength: number | undefined,
): Promise<UploadTicket> {
  return s.db.transaction().execute(async (trx) => {
    const { row, ref, view } = await visible(trx, actor, ownerName, name);
    authorizeOrThrow(actor, { do: "image.modify", image: ref });
    if (!view.hypervisors.includes(hypervisor)) {
      throw badRequest(`image '${ownerName}/${name}' is for ${view.hypervisors.join(", ")}, not '${hypervisor}'; change its hypervisor list first`);
    }
    if (view.readOnly) throw conflict(`image '${ownerName}/${name}' is read-only`);
    const owner = (await qu.findUserByName(trx, row.owner_name))!;
    let maxBytes: number | undefined;
    if (owner.quota_bytes > 0) {
      // The file being replaced is freed by this upload, so it does not count against it.
      const replaced = view.files.find((f) => f.hypervisor === hypervisor)?.size ?? 0;
      maxBytes = Math.max(0, owner.quota_bytes - (await qi.usedBytes(trx, owner.id)) + replaced);
      if (contentLength !== undefined && contentLength > maxBytes) {
        throw new RepomanError("too_large", `upload of ${contentLength} bytes exceeds ${owner.user_name}'s storage quota (${maxBytes} bytes left)`);
      }
    }
    const blobKey = `images/${row.id}/${hypervisor}/${randomUUID()}`;
    await qi.addPendingUpload(trx, { blob_key: blobKey, image_id: row.id, hypervisor, server_id: s.serverId, started: now() });
    return { imageId: row.id, hypervisor, blobKey, maxBytes };
  });
}

// Points the image at the new blob in one transaction; the blob it replaces becomes garbage.
export async function commitUpload(s: Storage, ticket: UploadTicket, stored: { size: number; sha256: string }): Promise<ImageView> {
  const view = await s.db
    .transaction()
    .execute(async (trx) => {
      if (!(await qi.removePendingUpload(trx, ticket.blobKey))) {
        // A peer took this process for dead and reclaimed the upload; its blob is garbage already.
        throw conflict("the upload took so long that the server was presumed dead; nothing was stored, please retry");
      }
      const at = now();
      // Updating the image row first takes its lock, so concurrent commits to one slot run one
      // after the other on PostgreSQL (SQLite's IMMEDIATE transactions already do): each then
      // sees the blob the previous one installed and retires it, and none is left orphaned.
      const hypervisors = await qi.bumpVersion(trx, ticket.imageId, at);
      if (hypervisors === undefined || !hypervisors.split(",").includes(ticket.hypervisor)) {
        // Deleted or changed while the bytes were arriving: keep nothing.
        await qi.addGarbage(trx, [ticket.blobKey], at);
        return undefined;
      }
      const previous = (await qi.filesOf(trx, [ticket.imageId])).find((f) => f.hypervisor === ticket.hypervisor);
      if (previous) await qi.addGarbage(trx, [previous.blob_key], at);
      await qi.putFile(trx, { image_id: ticket.imageId, hypervisor: ticket.hypervisor, blob_key: ticket.blobKey, size: stored.size, sha256: stored.sha256, uploaded: at });
      return (await load(trx, [(await qi.findImageById(trx, ticket.imageId))!]))[0]!.view;
    })
    .finally(() => collectGarbage(s));
  if (!view) throw conflict("the image was deleted, or lost this hypervisor, during the upload; nothing was stored");
  return view;
}

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

export async function findDownload(db: Kysely<Database>, actor: Actor | null, ownerName: string, name: string, hypervisor: string): Promise<Download> {
  const { row, view } = await visible(db, actor, ownerName, name);
  const file = view.files.find((f) => f.hypervisor === hypervisor);
  if (!file) throw notFound(`image '${ownerName}/${name}' has no file for hypervisor '${hypervisor}'`);
  const blob = (await qi.filesOf(db, [row.id])).find((f) => f.hypervisor === hypervisor)!;
  return { image: view, file, blobKey: blob.blob_key };
}
