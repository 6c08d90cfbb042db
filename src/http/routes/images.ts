// /api/images: list, create, show, modify, delete, share — in the owner's namespace
// (/api/images/{user}/{image}) and the caller's own (/api/images/{image}).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import * as images from "../../catalog/images.js";
import type { Storage } from "../../catalog/housekeeping.js";
import { DESCRIPTION_MAX, GROUP_NAME, HYPERVISORS, IMAGE_NAME, OS_ARCHES, OS_FIELD, USER_NAME, VERSION_COMMENT_MAX } from "../../catalog/names.js";
import { authorizeOrThrow } from "../../policy/authorize.js";
import { badRequest } from "../../errors.js";
import { actorOf } from "../app.js";
import { imageJson, versionJson } from "../representations.js";
import { boolean, integer, list, nullable, object, oneOf, optional, string, timestamp } from "../schema.js";
import { imageUrl } from "../urls.js";

const imageName = () => string({ pattern: IMAGE_NAME, patternHelp: "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'" });
const osField = () => optional(string({ pattern: OS_FIELD, patternHelp: "up to 64 letters, digits, spaces and . _ + -" }));
const metadata = {
  description: optional(string({ max: DESCRIPTION_MAX })),
  os_variant: osField(),
  os_type: osField(),
  os_arch: optional(oneOf(OS_ARCHES)),
  hypervisor: optional(list(oneOf(HYPERVISORS), `comma-separated, from ${HYPERVISORS.join(", ")}`)),
  read_only: optional(boolean("refuse every change (files, metadata, deletion) until cleared by the owner or an admin")),
  unauthenticated_access: optional(boolean("anyone may download, without a certificate")),
  expires: optional(timestamp("after this time only the owner and admins see the image")),
  keep_versions: optional(nullable(integer({ min: 0, max: 100_000 }), "versions kept per hypervisor; 0 = all, null = the server's default")),
};

export const createImageBody = object({
  name: imageName(),
  user_name: optional(string({ pattern: USER_NAME, description: "create in this user's namespace (admins only)" })),
  owner: optional(string({ pattern: USER_NAME, description: "the original client's alias of user_name" })),
  ...metadata,
});

export const modifyImageBody = object({
  name: optional(imageName()),
  owner: optional(string({ pattern: USER_NAME, description: "transfer to this user" })),
  ...metadata,
});

const SORTS = images.SORT_KEYS.flatMap((k) => [k, `-${k}`] as const);

export const listImagesQuery = object({
  owner: optional(string({ pattern: USER_NAME })),
  name: optional(string({ max: 128, description: "only images of exactly this name, of any owner" })),
  os_arch: optional(string({ max: 64 })),
  os_type: optional(string({ max: 64 })),
  os_variant: optional(string({ max: 64 })),
  hypervisor: optional(string({ max: 64 })),
  q: optional(string({ max: 256, description: "substring of the name or description" })),
  limit: optional(integer({ min: 1, max: 1000 })),
  marker: optional(string({ pattern: /^[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9._-]{1,128}$/, description: "owner/name of the last image of the previous page" })),
  unauthenticated_access: optional(boolean("only public (true) or only non-public (false) images")),
  sort: optional(oneOf(SORTS, "owner (the default, then name), name, size (of the latest upload), uploaded (latest upload), modified; a leading '-' sorts descending")),
  detail: optional(boolean("image objects instead of URLs")),
  timestamps: optional(oneOf(["ctime", "iso"] as const)),
});

type ListWhich = Pick<images.ListQuery, "ownedByUser" | "sharedWithUser" | "sharedWithGroup" | "sharingByUser">;

function fields(b: { description?: string | undefined; os_variant?: string | undefined; os_type?: string | undefined; os_arch?: string | undefined; hypervisor?: string[] | undefined; read_only?: boolean | undefined; unauthenticated_access?: boolean | undefined; expires?: string | null | undefined; keep_versions?: number | null | undefined }): images.ImageFields {
  if (b.hypervisor !== undefined && b.hypervisor.length === 0) throw badRequest("hypervisor: at least one");
  return {
    description: b.description,
    osVariant: b.os_variant,
    osType: b.os_type,
    osArch: b.os_arch,
    hypervisors: b.hypervisor,
    readOnly: b.read_only,
    public: b.unauthenticated_access,
    expires: b.expires,
    keepVersions: b.keep_versions,
  };
}

export const rollbackBody = object({
  hypervisor: optional(oneOf(HYPERVISORS, "needed when more than one hypervisor has files")),
  version: optional(integer({ min: 1, description: "default: the version before the current one" })),
  comment: optional(string({ max: VERSION_COMMENT_MAX })),
});

const versionsQuery = object({
  hypervisor: optional(string({ max: 64 })),
  timestamps: optional(oneOf(["ctime", "iso"] as const)),
});

export async function sendImageList(storage: Storage, req: FastifyRequest, reply: FastifyReply, which: ListWhich) {
  const q = listImagesQuery.parse(req.query);
  const [markerOwner, markerName] = q.marker?.split("/") ?? [];
  const query = { owner: q.owner, name: q.name, osArch: q.os_arch, osType: q.os_type, osVariant: q.os_variant, hypervisor: q.hypervisor, q: q.q, public: q.unauthenticated_access, ...which };
  const page = {
    limit: q.limit,
    after: markerOwner && markerName ? { owner: markerOwner, name: markerName } : undefined,
    sort: q.sort ? { key: q.sort.replace(/^-/, "") as images.SortKey, descending: q.sort.startsWith("-") } : undefined,
  };
  const found = q.detail ? await images.listImages(storage.db, req.actor, query, page, true) : await images.listImages(storage.db, req.actor, query, page, false);
  const last = found[found.length - 1];
  if (q.limit !== undefined && found.length === q.limit && last) {
    const next = new URL(req.url, "http://x");
    next.searchParams.set("marker", `${last.ownerName}/${last.name}`);
    reply.header("link", `<${req.urls.base}${next.pathname}${next.search}>; rel="next"`);
  }
  return q.detail ? (found as images.ImageView[]).map((v) => imageJson(req.urls, v)) : found.map((v) => imageUrl(req.urls, v.ownerName, v.name));
}

type UI = { Params: { user: string; image: string } };
type I = { Params: { image: string } };
type Share = { Params: { user: string; image: string; kind: string; target: string } };
type OwnShare = { Params: { image: string; kind: string; target: string } };

export const imageRoutes: FastifyPluginAsync<{ storage: Storage }> = async (app, { storage }) => {
  const db = storage.db;
  // What a new image's metadata may hold, as JSON Schema (as Glance's /v2/schemas/image): clients
  // such as the web page read the allowed architectures and hypervisors here instead of copying them.
  const imageSchema = { $schema: "https://json-schema.org/draft/2020-12/schema", title: "image", ...createImageBody.json };
  app.get("/api/schemas/image", { config: { anonymous: true, doc: { summary: "JSON Schema of a new image's fields: allowed values and limits" } } }, async () => imageSchema);

  app.get("/api/images", { config: { anonymous: true, doc: { summary: "Images the caller may see (URLs, or objects with detail=true)", query: listImagesQuery } } }, (req, reply) => sendImageList(storage, req, reply, {}));

  app.post("/api/images", { config: { doc: { summary: "Create an image slot (image_create; admins in other namespaces)", body: createImageBody }, precheck: (req) => authorizeOrThrow(actorOf(req), { do: "image.create", ownerId: actorOf(req).userId }) } }, async (req, reply) => {
    const actor = actorOf(req);
    const b = createImageBody.parse(req.body);
    if (b.user_name !== undefined && b.owner !== undefined && b.user_name !== b.owner) throw badRequest("user_name and owner differ");
    const v = await images.createImage(db, actor, { name: b.name, ownerName: b.user_name ?? b.owner, ...fields(b) });
    reply.code(201).header("location", imageJson(req.urls, v).file_url);
    return imageJson(req.urls, v);
  });

  const show = (req: FastifyRequest, owner: string, name: string) => images.getImage(db, req.actor, owner, name).then((v) => imageJson(req.urls, v));
  const modify = async (req: FastifyRequest, owner: string, name: string) => {
    const b = modifyImageBody.parse(req.body);
    const v = await images.modifyImage(storage, actorOf(req), owner, name, { name: b.name, ownerName: b.owner, ...fields(b) });
    return imageJson(req.urls, v);
  };
  const remove = async (req: FastifyRequest, owner: string, name: string) => {
    await images.deleteImage(storage, actorOf(req), owner, name);
    return { deleted: imageUrl(req.urls, owner, name) };
  };
  const share = async (req: FastifyRequest, owner: string, name: string, kind: string, target: string, shared: boolean) => {
    if (kind !== "user" && kind !== "group") throw badRequest(`share with 'user' or 'group', not '${kind}'`);
    const pattern = kind === "user" ? USER_NAME : GROUP_NAME;
    if (!pattern.test(target)) throw badRequest(`'${target}' is not a valid ${kind} name`);
    const v = await images.setShare(storage.db, actorOf(req), owner, name, { kind, name: target }, shared);
    return imageJson(req.urls, v);
  };
  const versions = async (req: FastifyRequest, owner: string, name: string) => {
    const q = versionsQuery.parse(req.query);
    const found = await images.listVersions(db, req.actor, owner, name, q.hypervisor);
    return found.versions.map((v) => versionJson(req.urls, found.image, v));
  };
  const rollback = async (req: FastifyRequest, owner: string, name: string) => {
    const b = rollbackBody.parse(req.body);
    const done = await images.rollbackImage(storage, actorOf(req), owner, name, b);
    return { ...imageJson(req.urls, done.image), restored: versionJson(req.urls, done.image, done.version) };
  };
  const me = (req: FastifyRequest) => actorOf(req).userName;

  app.get<UI>("/api/images/:user/:image/versions", { config: { anonymous: true, doc: { summary: "The versions kept of an image's files, newest first per hypervisor", query: versionsQuery } } }, (req) => versions(req, req.params.user, req.params.image));
  app.get<I>("/api/images/:image/versions", { config: { doc: { summary: "The versions kept of one of your images' files", query: versionsQuery } } }, (req) => versions(req, me(req), req.params.image));
  app.post<UI>("/api/images/:user/:image/rollback", { config: { doc: { summary: "Make an older version current again, as a new version (nothing is copied)", body: rollbackBody } } }, (req) => rollback(req, req.params.user, req.params.image));
  app.post<I>("/api/images/:image/rollback", { config: { doc: { summary: "Roll back one of your images", body: rollbackBody } } }, (req) => rollback(req, me(req), req.params.image));

  app.get<UI>("/api/images/:user/:image", { config: { anonymous: true, doc: { summary: "An image's metadata" } } }, (req) => show(req, req.params.user, req.params.image));
  app.post<UI>("/api/images/:user/:image", { config: { doc: { summary: "Modify, rename or transfer an image", body: modifyImageBody } } }, (req) => modify(req, req.params.user, req.params.image));
  app.delete<UI>("/api/images/:user/:image", { config: { doc: { summary: "Delete an image and its files" } } }, (req) => remove(req, req.params.user, req.params.image));
  app.get<I>("/api/images/:image", { config: { doc: { summary: "One of your images' metadata" } } }, (req) => show(req, me(req), req.params.image));
  app.post<I>("/api/images/:image", { config: { doc: { summary: "Modify one of your images", body: modifyImageBody } } }, (req) => modify(req, me(req), req.params.image));
  app.delete<I>("/api/images/:image", { config: { doc: { summary: "Delete one of your images" } } }, (req) => remove(req, me(req), req.params.image));

  app.post<Share>("/api/images/:user/:image/share/:kind/:target", { config: { doc: { summary: "Share with a user or a group (kind = user | group)" } } }, (req) => share(req, req.params.user, req.params.image, req.params.kind, req.params.target, true));
  app.delete<Share>("/api/images/:user/:image/share/:kind/:target", { config: { doc: { summary: "Stop sharing with a user or a group" } } }, (req) => share(req, req.params.user, req.params.image, req.params.kind, req.params.target, false));
  app.post<OwnShare>("/api/images/:image/share/:kind/:target", { config: { doc: { summary: "Share one of your images" } } }, (req) => share(req, me(req), req.params.image, req.params.kind, req.params.target, true));
  app.delete<OwnShare>("/api/images/:image/share/:kind/:target", { config: { doc: { summary: "Stop sharing one of your images" } } }, (req) => share(req, me(req), req.params.image, req.params.kind, req.params.target, false));

  // Image lists hanging off users and groups (original §1.5, §1.6), filtered to what the caller may see.
  app.get<{ Params: { user: string } }>("/api/users/:user/images", { config: { doc: { summary: "A user's images", query: listImagesQuery } } }, (req, reply) => sendImageList(storage, req, reply, { ownedByUser: req.params.user }));
  app.get<{ Params: { user: string } }>("/api/users/:user/shared", { config: { doc: { summary: "Images shared with a user, directly or through groups", query: listImagesQuery } } }, (req, reply) => sendImageList(storage, req, reply, { sharedWithUser: req.params.user }));
  app.get<{ Params: { user: string } }>("/api/users/:user/sharing", { config: { doc: { summary: "A user's images that are shared with someone", query: listImagesQuery } } }, (req, reply) => sendImageList(storage, req, reply, { sharingByUser: req.params.user }));
  app.get<{ Params: { group: string } }>("/api/groups/:group/shared", { config: { doc: { summary: "Images shared with a group", query: listImagesQuery } } }, (req, reply) => sendImageList(storage, req, reply, { sharedWithGroup: req.params.group }));
};
