// create-group, list-groups, modify-group, remove-group, and membership and permission changes.
import { nameFromUrl, type GroupJson, type RepomanApi } from "../../client/api.js";
import { GROUP_NAME, USER_NAME } from "../../catalog/names.js";
import { PERMISSIONS } from "./commands.js";
import { arg, args, checkName, commaList, confirmed, flag, InvalidArgument, opt, print, printJson, write, type Handler } from "./context.js";
import { byName, dumpGroup, okLine, table } from "./output.js";
import { fetchAll } from "./run-users.js";

const NAME_RULE = "Names are 1-64 letters, digits, '_' or '-'.";

function checkPermissions(list: string[]): void {
  const unknown = list.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (unknown.length) throw new InvalidArgument(`unknown permission${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`, `Permissions are: ${PERMISSIONS.join(", ")}.`);
}

const addedUser = (u: string, g: string) => okLine(`Adding user: \`${u}\` to group: '${g}'\t\t`);
const removedUser = (u: string, g: string) => okLine(`Removing user: \`${u}\` from  group: '${g}'\t\t`);
const addedPermission = (p: string, g: string) => okLine(`Adding permission: '${p}' to group: '${g}'`);
const removedPermission = (p: string, g: string) => okLine(`Removing permission: '${p}' from group: '${g}'`);

const createGroup: Handler = async (ctx) => {
  const group = arg(ctx, "group")!;
  const permissions = commaList(opt(ctx, "permissions"));
  const users = commaList(opt(ctx, "users"));
  checkName(group, GROUP_NAME, "group name", NAME_RULE);
  checkPermissions(permissions);
  users.forEach((u) => checkName(u, USER_NAME, "user name", NAME_RULE));
  // One request: the group appears with all its members and permissions, or not at all.
  await (await ctx.session.api()).createGroup({ name: group, permissions: permissions.join(",") || undefined, users: users.join(",") || undefined });
  print(okLine(`Creating new group: '${group}'`));
  permissions.forEach((p) => print(addedPermission(p, group)));
  users.forEach((u) => print(addedUser(u, group)));
};

async function groupNames(api: RepomanApi, all: boolean, user: string | undefined): Promise<string[]> {
  if (all) return (await api.groupUrls()).map(nameFromUrl);
  if (user) return (await api.userGroupUrls(user)).map(nameFromUrl);
  return (await api.whoami()).groups.map(nameFromUrl);
}

const listGroups: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const one = arg(ctx, "group");
  if (one !== undefined) {
    const g = await api.group(one);
    return flag(ctx, "json") ? printJson(g) : write(dumpGroup(g));
  }
  const names = (await groupNames(api, flag(ctx, "all"), opt(ctx, "user"))).sort(byName);
  if (flag(ctx, "short") && !flag(ctx, "json")) return names.forEach((n) => print(n));
  const groups = await fetchAll<GroupJson>(names, api.group);
  if (flag(ctx, "json")) return printJson(groups);
  write(table(["Group Name", "Members"], groups.map((g) => [g.name, g.users.map(nameFromUrl).sort(byName).join(", ")])));
};

// -p and -u make the group's permissions and members exactly the lists given.
const modifyGroup: Handler = async (ctx) => {
  const group = arg(ctx, "group")!;
  const newName = opt(ctx, "new_name");
  const permissions = opt(ctx, "permissions") === undefined ? undefined : commaList(opt(ctx, "permissions"));
  const users = opt(ctx, "users") === undefined ? undefined : commaList(opt(ctx, "users"));
  if (newName !== undefined) checkName(newName, GROUP_NAME, "group name", NAME_RULE);
  if (permissions) checkPermissions(permissions);
  users?.forEach((u) => checkName(u, USER_NAME, "user name", NAME_RULE));
  if (newName === undefined && !permissions && !users) throw new InvalidArgument("nothing to change", "Give -n NEW_NAME, -p PERMISSIONS and/or -u USERS.");
  const api = await ctx.session.api();
  const current = await api.group(group);
  if (permissions) {
    for (const p of permissions.filter((p) => !current.permissions.includes(p))) {
      await api.grant(group, p);
      print(addedPermission(p, group));
    }
    for (const p of current.permissions.filter((p) => !permissions.includes(p))) {
      await api.revoke(group, p);
      print(removedPermission(p, group));
    }
  }
  if (users) {
    const members = current.users.map(nameFromUrl);
    for (const u of users.filter((u) => !members.includes(u))) {
      await api.addMember(group, u);
      print(addedUser(u, group));
    }
    for (const u of members.filter((u) => !users.includes(u))) {
      await api.removeMember(group, u);
      print(removedUser(u, group));
    }
  }
  if (newName !== undefined && newName !== group) {
    await api.renameGroup(group, newName);
    print(okLine(`Renamed group: '${group}' to '${newName}'`));
  }
  print(okLine("Modifying group."));
};

const removeGroup: Handler = async (ctx) => {
  const group = arg(ctx, "group")!;
  if (!flag(ctx, "force") && !(await confirmed(ctx, "deleted"))) return print("Aborting group deletion");
  await (await ctx.session.api()).deleteGroup(group);
  print(okLine(`Removed group ${group}.`));
};

// One request per item, stopping at the first failure, as the original did.
const eachItem =
  (items: (ctx: Parameters<Handler>[0]) => string[], act: (api: RepomanApi, group: string, item: string) => Promise<unknown>, line: (item: string, group: string) => string): Handler =>
  async (ctx) => {
    const group = arg(ctx, "group")!;
    const api = await ctx.session.api();
    for (const item of items(ctx)) {
      await act(api, group, item);
      print(line(item, group));
    }
  };

export const groupHandlers: Record<string, Handler> = {
  "create-group": createGroup,
  "list-groups": listGroups,
  "modify-group": modifyGroup,
  "remove-group": removeGroup,
  "add-users-to-group": eachItem((ctx) => args(ctx, "users"), (api, g, u) => api.addMember(g, u), addedUser),
  "remove-users-from-group": eachItem((ctx) => args(ctx, "users"), (api, g, u) => api.removeMember(g, u), removedUser),
  "add-permissions-to-group": eachItem((ctx) => commaList(arg(ctx, "permissions")), (api, g, p) => api.grant(g, p), addedPermission),
  "remove-permissions-from-group": eachItem((ctx) => commaList(arg(ctx, "permissions")), (api, g, p) => api.revoke(g, p), removedPermission),
};
