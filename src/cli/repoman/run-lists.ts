// publish-list, list-lists, show-list and remove-list: image lists (HEPiX) for grid sites.
import type { ListJson, RepomanApi } from "../../client/api.js";
import { ApiError, ClientError } from "../../client/errors.js";
import { arg, args, confirmed, flag, InvalidArgument, opt, print, printJson, write, type Ctx, type Handler } from "./context.js";
import { byName, dump, localCtime, okLine, table } from "./output.js";
import { expiresValue } from "./run-images.js";

const LIST_KEYS = ["owner", "name", "title", "description", "group", "identifier", "version", "expires", "signed", "created", "modified", "url", "json_url"] as const;

// [OWNER/]NAME; without an owner, `me`'s.
function splitName(text: string): { owner: string | undefined; name: string } {
  const slash = text.indexOf("/");
  return slash === -1 ? { owner: undefined, name: text } : { owner: text.slice(0, slash), name: text.slice(slash + 1) };
}

const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;

// Lists are published documents that anyone may read, so NAME alone may name someone else's list
// when it is the only one of that name; the error names the owners when there are several.
async function listToRead(ctx: Ctx, api: RepomanApi, text: string): Promise<ListJson> {
  const { owner, name } = splitName(text);
  if (owner !== undefined) return api.list(owner, name);
  try {
    return await api.list((await api.whoami()).user_name, name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    const found = (await api.lists()).filter((l) => l.name === name);
    if (found.length === 1) {
      ctx.session.log("INFO", `found ${found[0]!.owner}/${name}, the only image list of that name`);
      return api.list(found[0]!.owner, name);
    }
    if (found.length > 1) throw new ClientError(`You have no image list '${name}'`, `Lists of that name: ${found.map((l) => `${l.owner}/${name}`).join(", ")}; give OWNER/NAME.`);
    throw e;
  }
}

// What each entry lists now, or why it lists nothing.
function entriesTable(l: ListJson): string {
  if (l.images.length === 0) return "No images listed.\n";
  const rows = l.images.map((e) => [
    e.image,
    e.hypervisor,
    e.pinned === null ? "current" : `version ${e.pinned}`,
    e.omitted !== undefined ? `omitted: ${e.omitted}` : `version ${e.version} (${e.size} bytes, sha512:${(e.sha512 ?? "").slice(0, 12)})`,
  ]);
  return table(["Image", "Hypervisor", "Follows", "Listed"], rows);
}

// Sites refuse an expired list: say so whenever it is shown to someone who can renew it.
function expiryWarning(l: ListJson): string | undefined {
  if (Date.parse(l.expires) > Date.now()) return undefined;
  return `WARNING: the list expired on ${localCtime(l.expires)}; sites refuse it until it is published again with a later --expires.`;
}

const publishList: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const me = (await api.whoami()).user_name;
  const { owner = me, name } = splitName(arg(ctx, "list")!);
  const images = args(ctx, "images").map((spec) => (spec.includes("/") ? spec : `${me}/${spec}`));
  const expires = opt(ctx, "expires");
  // The HEPiX tools refuse a list without an expiry date.
  if (expires === "never") throw new InvalidArgument("an image list cannot be published without an expiry", "Give --expires as an ISO date or date-time (2027-06-30), or a time from now (90m, 12h, 30d, 8w).");
  const form = { title: opt(ctx, "title"), description: opt(ctx, "description"), expires: expiresValue(expires), group: opt(ctx, "group"), images: images.join(",") };
  let existing: ListJson | undefined;
  try {
    existing = await api.list(owner, name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  let l: ListJson;
  if (existing) {
    l = await api.modifyList(owner, name, form);
    print(okLine(`Updated image list '${owner}/${name}' (version ${l.version})`));
  } else {
    if (owner !== me) throw new ClientError(`Image list '${owner}/${name}' does not exist`, "A new list is always yours: give its NAME without an owner.");
    if (form.title === undefined) throw new InvalidArgument("a new image list needs a title", `Give it with --title: repoman publish-list ${name} --title "Worker images" ${args(ctx, "images").join(" ")}`);
    l = await api.createList({ name, ...form });
    print(okLine(`Created image list '${owner}/${name}' (version ${l.version})`));
  }
  print(`Sites subscribe to: ${l.url}`);
  print(`Expires: ${localCtime(l.expires)}`);
  const warning = expiryWarning(l);
  if (warning) print(warning);
  write(entriesTable(l));
};

const listLists: Handler = async (ctx) => {
  const lists = (await (await ctx.session.api()).lists()).sort((a, b) => byName(`${a.owner}/${a.name}`, `${b.owner}/${b.name}`));
  if (flag(ctx, "json")) return printJson(lists);
  write(table(["List", "Version", "Expires", "Title"], lists.map((l) => [`${l.owner}/${l.name}`, String(l.version), localCtime(l.expires) ?? "", l.title]), [1]));
};

const showList: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const l = await listToRead(ctx, api, arg(ctx, "list")!);
  if (flag(ctx, "json")) return printJson(l);
  if (flag(ctx, "signed")) return void process.stdout.write(await api.signedList(l.owner, l.name));
  write(dump({ ...l, expires: localCtime(l.expires), signed: localCtime(l.signed), created: localCtime(l.created), modified: localCtime(l.modified) }, LIST_KEYS));
  const warning = expiryWarning(l);
  if (warning) print(warning);
  write(entriesTable(l));
};

const removeList: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const given = splitName(arg(ctx, "list")!);
  const owner = given.owner ?? (await api.whoami()).user_name;
  const full = `${owner}/${given.name}`;
  if (!flag(ctx, "force")) {
    const l = await api.list(owner, given.name);
    print(`WARNING: Removing image list ${full} withdraws it: sites subscribed to ${l.url} get no more updates.  This cannot be undone.`);
    print(`  It lists ${l.images.length} image file${l.images.length === 1 ? "" : "s"}; the images themselves are kept.`);
    if (!(await confirmed(ctx, "deleted"))) return print("Aborting image list deletion");
  }
  await api.deleteList(owner, given.name);
  print(okLine(`Removed image list ${full}.`));
};

export const listHandlers: Record<string, Handler> = {
  "publish-list": publishList,
  "list-lists": listLists,
  "show-list": showList,
  "remove-list": removeList,
};
