// /api/groups: list, create (with members and permissions), show, rename, delete, members and
// permissions.
import type { FastifyPluginAsync } from "fastify";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import * as groups from "../../catalog/groups.js";
import { GROUP_NAME, USER_NAME } from "../../catalog/names.js";
import { actorOf } from "../app.js";
import { authorizeOrThrow } from "../../policy/authorize.js";
import { ALL_PERMISSIONS, PERMISSIONS } from "../../policy/permissions.js";
import { groupJson } from "../representations.js";
import { list, object, optional, string } from "../schema.js";
import { groupUrl, userUrl } from "../urls.js";

const groupName = () => string({ pattern: GROUP_NAME, patternHelp: "1-64 letters, digits, '_' or '-'" });

export const createGroupBody = object({
  name: groupName(),
  users: optional(list(string({ pattern: USER_NAME }))),
  permissions: optional(list(string({ min: 1 }))),
});

export const modifyGroupBody = object({ new_name: groupName() });

type G = { Params: { group: string } };
type GU = { Params: { group: string; user: string } };
type GP = { Params: { group: string; permission: string } };

export const groupRoutes: FastifyPluginAsync<{ db: Kysely<Database> }> = async (app, { db }) => {
  app.get("/api/groups", { config: { doc: { summary: "URLs of all groups" } } }, async (req) => (await groups.listGroupNames(db, actorOf(req))).map((n) => groupUrl(req.urls, n)));

  app.post("/api/groups", { config: { doc: { summary: "Create a group, optionally with users and permissions (group_create)", body: createGroupBody }, precheck: (req) => authorizeOrThrow(actorOf(req), { do: "group.create" }) } }, async (req, reply) => {
    const actor = actorOf(req);
    const b = createGroupBody.parse(req.body);
    const v = await groups.createGroup(db, actor, b);
    reply.code(201).header("location", groupUrl(req.urls, v.name));
    return groupJson(req.urls, v);
  });

  app.get<G>("/api/groups/:group", { config: { doc: { summary: "A group" } } }, async (req) => groupJson(req.urls, await groups.getGroup(db, actorOf(req), req.params.group)));

  app.post<G>("/api/groups/:group", { config: { doc: { summary: "Rename a group (group_modify)", body: modifyGroupBody }, precheck: (req) => groups.precheckRenameGroup(db, actorOf(req), (req.params as { group: string }).group) } }, async (req) => {
    const actor = actorOf(req);
    const b = modifyGroupBody.parse(req.body);
    return groupJson(req.urls, await groups.renameGroup(db, actor, req.params.group, b.new_name));
  });

  app.delete<G>("/api/groups/:group", { config: { doc: { summary: "Delete a group (group_delete; not admins or users)" } } }, async (req) => {
    await groups.deleteGroup(db, actorOf(req), req.params.group);
    return { deleted: groupUrl(req.urls, req.params.group) };
  });

  app.get<G>("/api/groups/:group/users", { config: { doc: { summary: "URLs of a group's members" } } }, async (req) => {
    const v = await groups.getGroup(db, actorOf(req), req.params.group);
    return v.users.map((u) => userUrl(req.urls, u));
  });

  app.post<GU>("/api/groups/:group/users/:user", { config: { doc: { summary: "Add a member (group_modify_membership; admins only for admins)" } } }, async (req) =>
    groupJson(req.urls, await groups.addGroupMember(db, actorOf(req), req.params.group, req.params.user)),
  );

  app.delete<GU>("/api/groups/:group/users/:user", { config: { doc: { summary: "Remove a member (group_modify_membership)" } } }, async (req) =>
    groupJson(req.urls, await groups.removeGroupMember(db, actorOf(req), req.params.group, req.params.user)),
  );

  // So that clients (the web page's permission lists) never carry a copy of the names and meanings.
  app.get("/api/permissions", { config: { anonymous: true, doc: { summary: "The permissions groups can grant, with what each allows" } } }, async () =>
    ALL_PERMISSIONS.map((name) => ({ name, description: PERMISSIONS[name] })),
  );

  app.get<G>("/api/groups/:group/permissions", { config: { doc: { summary: "A group's permissions" } } }, async (req) => (await groups.getGroup(db, actorOf(req), req.params.group)).permissions);

  app.post<GP>("/api/groups/:group/permissions/:permission", { config: { doc: { summary: "Grant a permission (group_modify_permissions, and you must hold it)" } } }, async (req) =>
    groupJson(req.urls, await groups.grantPermission(db, actorOf(req), req.params.group, req.params.permission)),
  );

  app.delete<GP>("/api/groups/:group/permissions/:permission", { config: { doc: { summary: "Revoke a permission (group_modify_permissions, and you must hold it)" } } }, async (req) =>
    groupJson(req.urls, await groups.revokePermission(db, actorOf(req), req.params.group, req.params.permission)),
  );
};
