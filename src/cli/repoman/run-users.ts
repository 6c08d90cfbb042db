// create-user, list-users, modify-user, remove-user.
import { nameFromUrl, type UserJson } from "../../client/api.js";
import { EMAIL, USER_NAME } from "../../catalog/names.js";
import { arg, checkName, confirmed, flag, InvalidArgument, opt, print, printJson, write, type Handler } from "./context.js";
import { byName, dumpUser, okLine, pyStr, table } from "./output.js";

const USER_RULE = "User names are 1-64 letters, digits, '_' or '-'.";

function checkEmail(email: string | undefined): void {
  if (email !== undefined && !EMAIL.test(email)) throw new InvalidArgument(`'${email}' is not a valid email address`);
}

// Objects for a list of resource URLs, a few requests at a time.
export async function fetchAll<T>(urls: string[], get: (name: string) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(urls.length);
  let next = 0;
  const worker = async () => {
    while (next < urls.length) {
      const i = next++;
      out[i] = await get(nameFromUrl(urls[i]!));
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, urls.length) }, worker));
  return out;
}

const createUser: Handler = async (ctx) => {
  const user = arg(ctx, "user")!;
  checkName(user, USER_NAME, "user name", USER_RULE);
  checkEmail(opt(ctx, "email"));
  await (await ctx.session.api()).createUser({ user_name: user, cert_dn: arg(ctx, "client_dn"), email: opt(ctx, "email"), full_name: opt(ctx, "full_name") });
  print(okLine(`Created new user ${user}.`));
};

const listUsers: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const one = arg(ctx, "user");
  if (one !== undefined) {
    const u = await api.user(one);
    return flag(ctx, "json") ? printJson(u) : write(dumpUser(u));
  }
  const group = opt(ctx, "group");
  const users = (await fetchAll<UserJson>(group ? await api.groupUserUrls(group) : await api.userUrls(), api.user)).sort((a, b) => byName(a.user_name, b.user_name));
  if (flag(ctx, "json")) return printJson(users);
  if (flag(ctx, "short")) return users.forEach((u) => print(u.user_name));
  write(table(["Username", "Full Name", "Client DN"], users.map((u) => [u.user_name, pyStr(u.full_name), u.client_dn])));
};

const modifyUser: Handler = async (ctx) => {
  if (opt(ctx, "new_name") !== undefined) throw new InvalidArgument("Renaming users is not supported.", "Create a new user with the new name instead.");
  checkEmail(opt(ctx, "email"));
  await (await ctx.session.api()).modifyUser(arg(ctx, "user")!, { cert_dn: opt(ctx, "client_dn"), email: opt(ctx, "email"), full_name: opt(ctx, "full_name") });
  print(okLine("Modifying user."));
};

const removeUser: Handler = async (ctx) => {
  const user = arg(ctx, "user")!;
  if (!flag(ctx, "force")) {
    print(`WARNING: Removing user ${user} also removes all of ${user}'s images.  This cannot be undone.`);
    if (!(await confirmed(ctx, "deleted"))) return print("Aborting user deletion");
  }
  await (await ctx.session.api()).deleteUser(user);
  print(okLine(`Removed user ${user}.`));
};

export const userHandlers: Record<string, Handler> = {
  "create-user": createUser,
  "list-users": listUsers,
  "modify-user": modifyUser,
  "remove-user": removeUser,
};

