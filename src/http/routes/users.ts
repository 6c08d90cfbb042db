// /api/users: list, create, show, modify (incl. suspend and quota, admins only), delete, and a
// user's groups.
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import * as users from "../../catalog/users.js";
import { listImages } from "../../catalog/images.js";
import type { Storage } from "../../catalog/housekeeping.js";
import { EMAIL, EMAIL_MAX, FULL_NAME_MAX, GROUP_NAME, USER_NAME } from "../../catalog/names.js";
import { actorOf } from "../app.js";
import { authorizeOrThrow } from "../../policy/authorize.js";
import { userJson } from "../representations.js";
import { boolean, integer, list, object, optional, string } from "../schema.js";
import { groupUrl, imageUrl, userUrl } from "../urls.js";

const userName = () => string({ pattern: USER_NAME, patternHelp: "1-64 letters, digits, '_' or '-'" });
const email = () => string({ pattern: EMAIL, max: EMAIL_MAX, patternHelp: "not an email address" });
const dn = () => string({ min: 1, max: 1024, description: "OpenSSL one-line (/C=CA/O=Grid/CN=Jane Doe) or RFC 2253 (CN=Jane Doe,O=Grid,C=CA)" });

export const createUserBody = object({
  user_name: userName(),
  cert_dn: dn(),
  email: optional(email()),
  full_name: optional(string({ max: FULL_NAME_MAX })),
  suspended: optional(boolean("admins only")),
  groups: optional(list(string({ pattern: GROUP_NAME }))),
});

export const modifyUserBody = object({
  full_name: optional(string({ max: FULL_NAME_MAX })),
  email: optional(email()),
  cert_dn: optional(dn()),
  suspended: optional(boolean("admins only; takes effect on the user's next request")),
  quota: optional(integer({ min: 0, description: "storage quota in bytes, 0 = unlimited; admins only" })),
});

export const listUsersQuery = object({ detail: optional(boolean("user objects (without their image lists) instead of URLs")) });

// The user object lists the images they own that the caller may see.
export async function showUser(storage: Storage, req: FastifyRequest, userName: string) {
  const actor = actorOf(req);
  const view = await users.getUser(storage.db, actor, userName);
  const owned = await listImages(storage.db, actor, { ownedByUser: userName }, {}, false);
  return userJson(
    req.urls,
    view,
    owned.map((i) => imageUrl(req.urls, i.ownerName, i.name)),
  );
}

export const userRoutes: FastifyPluginAsync<{ storage: Storage }> = async (app, { storage }) => {
  const db = storage.db;
  app.get("/api/users", { config: { doc: { summary: "URLs of all users, or user objects (without image lists) with detail=true", query: listUsersQuery } } }, async (req) => {
    // Only `detail` is read; other parameters are ignored, as they always were here.
    const { detail } = listUsersQuery.parse({ detail: (req.query as Record<string, unknown> | undefined)?.detail });
    if (!detail) return (await users.listUserNames(db, actorOf(req))).map((n) => userUrl(req.urls, n));
    return (await users.listUserViews(db, actorOf(req))).map((v) => {
      const { images: _images, ...rest } = userJson(req.urls, v);
      return rest;
    });
  });

  app.post("/api/users", { config: { doc: { summary: "Create a user (user_create)", body: createUserBody }, precheck: (req) => authorizeOrThrow(actorOf(req), { do: "user.create", fields: [] }) } }, async (req, reply) => {
    const actor = actorOf(req);
    const b = createUserBody.parse(req.body);
    const v = await users.createUser(db, actor, {
      userName: b.user_name,
      certDn: b.cert_dn,
      email: b.email,
      fullName: b.full_name,
      suspended: b.suspended,
      groups: b.groups,
    });
    reply.code(201).header("location", userUrl(req.urls, v.userName));
    return userJson(req.urls, v);
  });

  app.get<{ Params: { user: string } }>("/api/users/:user", { config: { doc: { summary: "A user" } } }, (req) => showUser(storage, req, req.params.user));

  app.post<{ Params: { user: string } }>(
    "/api/users/:user",
    { config: { doc: { summary: "Modify a user (user_modify; user_modify_self for your own full_name and email; suspended and quota: admins)", body: modifyUserBody }, precheck: (req) => users.precheckModifyUser(db, actorOf(req), (req.params as { user: string }).user) } },
    async (req) => {
    const actor = actorOf(req);
    const b = modifyUserBody.parse(req.body);
    const v = await users.modifyUser(db, actor, req.params.user, {
      fullName: b.full_name,
      email: b.email,
      certDn: b.cert_dn,
      suspended: b.suspended,
      quotaBytes: b.quota,
    });
    return userJson(req.urls, v);
    },
  );

  app.delete<{ Params: { user: string } }>("/api/users/:user", { config: { doc: { summary: "Delete a user and their images (user_delete)" } } }, async (req) => {
    await users.deleteUser(storage, actorOf(req), req.params.user);
    return { deleted: userUrl(req.urls, req.params.user) };
  });

  app.get<{ Params: { user: string } }>("/api/users/:user/groups", { config: { doc: { summary: "URLs of a user's groups" } } }, async (req) => {
    const v = await users.getUser(db, actorOf(req), req.params.user);
    return v.groups.map((g) => groupUrl(req.urls, g));
  });

  // The original routed this but never implemented it (§7 item 15): the user's effective permissions.
  app.get<{ Params: { user: string } }>("/api/users/:user/permissions", { config: { doc: { summary: "A user's effective permissions" } } }, async (req) => {
    const v = await users.getUser(db, actorOf(req), req.params.user);
    return v.permissions;
  });
};
