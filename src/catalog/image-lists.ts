// Image lists (HEPiX): named sets of public image files that grid sites subscribe to with vmcatcher
// or cloudkeeper. A list names files by image and hypervisor, following the current version or
// pinned to one. Its document is computed from the images as they are: whenever that content
// changes, its version (hv:version) is raised, never lowered, so that subscribers, which refuse a
// lower version, take every change and no replay. SHA-512s, which the format requires, are
// computed once per blob, when a list first names it.
import { createHash, randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as ql from "../db/image-lists.js";
import * as qi from "../db/images.js";
import * as qu from "../db/users.js";
import { isUniqueViolation } from "../db/errors.js";
import type { Actor } from "../policy/actor.js";
import { authorizeOrThrow, type ListRef } from "../policy/authorize.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { getImage, imageWithRef, type ImageView } from "./images.js";
import { recordChange } from "./audit.js";
import type { Storage } from "./housekeeping.js";

// OWNER/IMAGE[:HYPERVISOR][@VERSION]: image names hold neither ':' nor '@'.
export const ENTRY = /^([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})(?::([a-z]{1,32}))?(?:@([1-9]\d{0,9}))?$/;
export const DEFAULT_LIST_EXPIRY_DAYS = 28; // what the HEPiX tools default to

export interface ListFields {
  title?: string | undefined;
  description?: string | undefined;
  expires?: string | undefined; // ISO 8601
  group?: string | null | undefined; // null: no group
  images?: string[] | undefined; // ENTRY each
}

export interface ListSummary {
  identifier: string;
  ownerName: string;
  name: string;
  title: string;
  version: number;
  expires: string;
}

export interface EntryView {
  image: string; // OWNER/IMAGE
  hypervisor: string;
  pinned: number | null;
  // What the document lists for this entry, or why it lists nothing.
  listed: { version: number; size: number; sha512: string } | { omitted: string };
}

export interface ListView extends ListSummary {
  description: string;
  group: string | null;
  created: string;
  modified: string;
  signedAt: string | null;
  entries: EntryView[];
}

// The document's content, as the HTTP layer writes it (it adds the URLs).
export interface ListDocument {
  list: ListView;
  publisher: { dn: string; email: string | null };
  images: { entry: EntryView; image: ImageView; version: number; size: number; format: string | null; sha512: string; comment: string | null; identifier: string }[];
}

const now = () => new Date().toISOString();
const summary = (r: ql.ListRow): ListSummary => ({ identifier: r.id, ownerName: r.owner_name, name: r.name, title: r.title, version: r.version, expires: r.expires });
const listRef = (r: ql.ListRow): ListRef => ({ ownerId: r.owner_id, groupId: r.group_id });

export async function listLists(db: Kysely<Database>): Promise<ListSummary[]> {
  return (await ql.allLists(db)).map(summary);
}

async function requireList(db: qu.Executor, ownerName: string, name: string): Promise<ql.ListRow> {
  const row = await ql.findList(db, ownerName, name);
  if (!row) throw notFound(`image list '${ownerName}/${name}' does not exist`);
  return row;
}

// Entries as given, checked against the images the actor may list; each names one file.
async function resolveEntries(db: qu.Executor, actor: Actor, specs: readonly string[]): Promise<Omit<ql.EntryRow, "list_id" | "position">[]> {
  const out = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const m = ENTRY.exec(spec);
    if (!m) throw badRequest(`images: '${spec}' is not OWNER/IMAGE[:HYPERVISOR][@VERSION]`);
    const [, owner, name, wanted, pinned] = m;
    const { view, ref } = await imageWithRef(db, actor, owner!, name!);
    authorizeOrThrow(actor, { do: "list.add_image", image: ref });
    const withFiles = view.files.map((f) => f.hypervisor);
    const hypervisor = wanted ?? (withFiles.length === 1 ? withFiles[0]! : undefined);
    if (hypervisor === undefined) throw badRequest(`images: '${spec}' has files for ${withFiles.join(", ") || "no hypervisor yet"}: name one (${owner}/${name}:HYPERVISOR)`);
    if (!withFiles.includes(hypervisor)) throw badRequest(`images: '${owner}/${name}' has no file for '${hypervisor}'`);
    const version = pinned === undefined ? null : Number(pinned);
    if (version !== null && !(await qi.findVersion(db, view.id, hypervisor, version))) throw badRequest(`images: '${owner}/${name}' has no version ${version} for '${hypervisor}' (list-images --versions shows those kept)`);
    const key = `${view.id}:${hypervisor}`;
    if (seen.has(key)) throw badRequest(`images: '${owner}/${name}:${hypervisor}' is named twice; a list holds one version of each file`);
    seen.add(key);
    out.push({ image_id: view.id, hypervisor, version });
  }
  return out;
}

async function groupIdOf(db: qu.Executor, actor: Actor, group: string | null | undefined): Promise<string | null | undefined> {
  if (group === undefined || group === null) return group;
  const g = await qu.findGroupByName(db, group);
  if (!g) throw badRequest(`group: group '${group}' does not exist`);
  authorizeOrThrow(actor, { do: "list.give_to_group", groupId: g.id });
  return g.id;
}

const expiresFrom = (fields: ListFields) => fields.expires ?? new Date(Date.now() + DEFAULT_LIST_EXPIRY_DAYS * 86_400_000).toISOString();

export async function createList(s: Storage, actor: Actor, name: string, fields: ListFields): Promise<ListView> {
  authorizeOrThrow(actor, { do: "list.create" });
  if (!fields.title) throw badRequest("title: required");
  try {
    await s.db.transaction().execute(async (trx) => {
      if (await ql.findList(trx, actor.userName, name)) throw conflict(`image list '${actor.userName}/${name}' already exists`);
      const entries = await resolveEntries(trx, actor, fields.images ?? []);
      const at = now();
      const row = {
        id: randomUUID(),
        owner_id: actor.userId,
        name,
        group_id: (await groupIdOf(trx, actor, fields.group)) ?? null,
        title: fields.title!,
        description: fields.description ?? "",
        expires: expiresFrom(fields),
        version: 0,
        content_sha256: null,
        signed_at: null,
        created: at,
        modified: at,
      };
      await ql.insertList(trx, row);
      await ql.replaceEntries(trx, row.id, entries);
      await recordChange(trx, actor, { action: "list.create", target: `list ${actor.userName}/${name}`, after: { title: row.title, description: row.description, expires: row.expires, group: fields.group ?? null, images: fields.images ?? [] } });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`image list '${actor.userName}/${name}' already exists`);
    throw e;
  }
  return getList(s, actor.userName, name);
}

export async function modifyList(s: Storage, actor: Actor, ownerName: string, name: string, fields: ListFields): Promise<ListView> {
  await s.db.transaction().execute(async (trx) => {
    const row = await requireList(trx, ownerName, name);
    authorizeOrThrow(actor, { do: "list.modify", list: listRef(row) });
    const set: Partial<Database["image_lists"]> = { modified: now() };
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    const change = (key: string, from: unknown, to: unknown) => {
      if (JSON.stringify(from) === JSON.stringify(to)) return;
      before[key] = from;
      after[key] = to;
    };
    if (fields.title !== undefined) change("title", row.title, (set.title = fields.title));
    if (fields.description !== undefined) change("description", row.description, (set.description = fields.description));
    if (fields.expires !== undefined) change("expires", row.expires, (set.expires = fields.expires));
    if (fields.group !== undefined) {
      set.group_id = (await groupIdOf(trx, actor, fields.group)) ?? null;
      change("group", row.group_name, fields.group);
    }
    if (fields.images !== undefined) {
      const old = await ql.entriesOf(trx, row.id);
      await ql.replaceEntries(trx, row.id, await resolveEntries(trx, actor, fields.images));
      change("images", await entrySpecs(trx, old), fields.images);
    }
    await ql.updateList(trx, row.id, set);
    if (Object.keys(after).length) await recordChange(trx, actor, { action: "list.modify", target: `list ${ownerName}/${name}`, before, after });
  });
  return getList(s, ownerName, name);
}

export async function deleteList(db: Kysely<Database>, actor: Actor, ownerName: string, name: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await requireList(trx, ownerName, name);
    authorizeOrThrow(actor, { do: "list.modify", list: listRef(row) });
    const images = await entrySpecs(trx, await ql.entriesOf(trx, row.id));
    await ql.deleteList(trx, row.id);
    await recordChange(trx, actor, { action: "list.delete", target: `list ${ownerName}/${name}`, before: { title: row.title, version: row.version, images } });
  });
}

// Entries in the form they are given in.
async function entrySpecs(db: qu.Executor, entries: readonly ql.EntryRow[]): Promise<string[]> {
  const out = [];
  for (const e of entries) {
    const image = await qi.findImageById(db, e.image_id);
    if (image) out.push(`${image.owner_name}/${image.name}:${e.hypervisor}${e.version === null ? "" : `@${e.version}`}`);
  }
  return out;
}

// A stable identifier for one image file across versions and lists (dc:identifier of hv:image),
// so that subscribers see a new version of the same image, not a new image.
function fileIdentifier(imageId: string, hypervisor: string): string {
  const h = createHash("sha1").update(`repoman:${imageId}:${hypervisor}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // UUID version 5 (name-based, SHA-1)
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function sha512Of(s: Storage, v: qi.VersionRow): Promise<string> {
  if (v.sha512) return v.sha512;
  const hash = createHash("sha512");
  for await (const piece of await s.blobs.get(v.blob_key)) hash.update(piece as Buffer);
  const sha512 = hash.digest("hex");
  await ql.setSha512(s.db, v.blob_key, sha512);
  return sha512;
}

// The list's content now: what each entry lists, and why an entry lists nothing (its image is no
// longer public, has expired, or lost the version or hypervisor named).
async function content(s: Storage, row: ql.ListRow) {
  const entries: EntryView[] = [];
  const images: ListDocument["images"] = [];
  for (const e of await ql.entriesOf(s.db, row.id)) {
    const found = await qi.findImageById(s.db, e.image_id);
    const base = { image: found ? `${found.owner_name}/${found.name}` : "(deleted)", hypervisor: e.hypervisor, pinned: e.version };
    let image: ImageView;
    try {
      image = await getImage(s.db, null, found!.owner_name, found!.name);
    } catch {
      entries.push({ ...base, listed: { omitted: "the image is no longer public, or has expired" } });
      continue;
    }
    const versions = await qi.versionsOf(s.db, e.image_id, e.hypervisor);
    const v = e.version === null ? versions[0] : versions.find((x) => x.version === e.version);
    if (!v) {
      entries.push({ ...base, listed: { omitted: e.version === null ? `no file for '${e.hypervisor}'` : `version ${e.version} is no longer kept` } });
      continue;
    }
    const entry: EntryView = { ...base, listed: { version: v.version, size: v.size, sha512: await sha512Of(s, v) } };
    entries.push(entry);
    // The format follows from the bytes, as the SHA-512 does: it needs no place in the digest below.
    images.push({ entry, image, version: v.version, size: v.size, format: v.format, sha512: (entry.listed as { sha512: string }).sha512, comment: v.comment, identifier: fileIdentifier(e.image_id, e.hypervisor) });
  }
  // What subscribers read, apart from the version and signing time that follow from it.
  const digest = createHash("sha256")
    .update(JSON.stringify([row.title, row.description, row.expires, row.owner_dn, images.map((i) => [i.identifier, i.image.name, i.image.description, i.image.osType, i.image.osVariant, i.image.osArch, i.version, i.size, i.sha512, i.comment])]))
    .digest("hex");
  return { entries, images, digest };
}

function view(row: ql.ListRow, entries: EntryView[]): ListView {
  return { ...summary(row), description: row.description, group: row.group_name, created: row.created, modified: row.modified, signedAt: row.signed_at, entries };
}

export async function getList(s: Storage, ownerName: string, name: string): Promise<ListView> {
  return (await document(s, ownerName, name)).list;
}

// The list as subscribers get it: its version raised first if its content changed.
export async function document(s: Storage, ownerName: string, name: string): Promise<ListDocument> {
  for (let attempt = 0; ; attempt++) {
    const row = await requireList(s.db, ownerName, name);
    const c = await content(s, row);
    if (c.digest === row.content_sha256) return { list: view(row, c.entries), publisher: { dn: row.owner_dn, email: row.owner_email }, images: c.images };
    // Seconds only: the HEPiX tools read dates as %Y-%m-%dT%H:%M:%SZ.
    const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    // Another process raising it at the same time computed the same content, or a newer one:
    // read again, and raise it only if it still differs.
    if (!(await ql.raiseVersion(s.db, row.id, row.version, c.digest, at)) && attempt >= 5) throw conflict("the list is changing too fast to be published; try again");
  }
}
