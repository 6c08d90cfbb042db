// create-image, modify-image, list-images, remove-image and the four sharing commands.
import { hypervisorsOf, nameFromUrl, type ImageJson, type RepomanApi, type VersionJson } from "../../client/api.js";
import { ApiError, ClientError } from "../../client/errors.js";
import { formatBytes } from "../../client/progress.js";
import { IMAGE_NAME } from "../../catalog/names.js";
import { arg, checkName, commaList, confirmed, flag, InvalidArgument, opt, print, printJson, write, type Ctx, type Handler } from "./context.js";
import { byName, dumpImage, localCtime, okLine, pyPformat, pyStr, table } from "./output.js";

export const IMAGE_RULE = "Image names are 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'.";

// --expires: an ISO date or date-time as it is, "never", or a time from now such as 30d.
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
export function expiresValue(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  if (text === "never") return "";
  const m = /^(\d+)([mhdw])$/.exec(text);
  if (m) return new Date(now + Number(m[1]) * UNIT_MS[m[2]!]!).toISOString();
  if (!/^\d{4}-\d\d-\d\d/.test(text)) throw new InvalidArgument(`'${text}' is not a valid expiry`, "Give an ISO date or date-time (2027-06-30, 2027-06-30T12:00:00Z), a time from now (90m, 12h, 30d, 8w), or never.");
  return text;
}

function keepVersionsValue(text: string | undefined): string | undefined {
  if (text === undefined || text === "default" || /^\d+$/.test(text)) return text;
  throw new InvalidArgument(`'${text}' is not a valid number of versions`, "Give a whole number (0 keeps every version), or default for the server's setting.");
}

const metadataForm = (ctx: Ctx) => ({
  description: opt(ctx, "description"),
  os_arch: opt(ctx, "os_arch"),
  os_type: opt(ctx, "os_type"),
  os_variant: opt(ctx, "os_variant"),
  read_only: opt(ctx, "read_only"),
  expires: expiresValue(opt(ctx, "expires")),
  keep_versions: keepVersionsValue(opt(ctx, "keep_versions")),
});

// An image to read: in the owner's namespace with -o, else the caller's own, else the only image
// of that name the caller can see (one shared with them, say). The server's answer names the
// owners when there are several.
export async function imageToRead(ctx: Ctx, api: RepomanApi, name: string): Promise<ImageJson> {
  const owner = opt(ctx, "owner");
  try {
    return await api.image(owner, name);
  } catch (e) {
    if (owner !== undefined || !(e instanceof ApiError) || e.status !== 404) throw e;
    const found = await api.imagesNamed(name);
    if (found.length !== 1) throw e;
    ctx.session.log("INFO", `found ${found[0]!.owner_user_name}/${name}, the only image of that name you can see`);
    return found[0]!;
  }
}

const createImage: Handler = async (ctx) => {
  const name = arg(ctx, "image")!;
  checkName(name, IMAGE_NAME, "image name", IMAGE_RULE);
  const owner = opt(ctx, "owner");
  await (await ctx.session.api()).createImage({
    name,
    ...metadataForm(ctx),
    hypervisor: opt(ctx, "hypervisor") ?? "xen",
    owner,
    user_name: owner,
    // As in the original, "-a false" is the default and sends nothing.
    unauthenticated_access: opt(ctx, "unauthenticated_access") === "true" ? "true" : undefined,
  });
  print(okLine(`Created new image '${name}'`));
};

// Size and number of the versions that go with these hypervisors' files.
function describeVersions(versions: VersionJson[]): string {
  const blobs = new Map(versions.map((v) => [v.checksum.value, v.size]));
  const bytes = [...blobs.values()].reduce((a, b) => a + b, 0);
  return `${versions.length} version${versions.length === 1 ? "" : "s"}, ${formatBytes(bytes)}`;
}


// Dropping a hypervisor from the list deletes its file and every version of it: say what goes
// and ask, unless -f.
async function confirmDroppedFiles(ctx: Ctx, api: RepomanApi, name: string, hypervisors: string[]): Promise<boolean> {
  const image = await api.image(opt(ctx, "owner"), name);
  const dropped = Object.keys(image.files ?? {}).filter((h) => !hypervisors.includes(h));
  if (dropped.length === 0 || flag(ctx, "force")) return true;
  const versions = await api.versions(image.owner_user_name, name);
  print(`WARNING: -h ${hypervisors.join(",")} leaves out ${dropped.join(", ")}: this deletes from image '${image.owner_user_name}/${name}':`);
  for (const h of dropped) print(`  ${h}: its file and ${describeVersions(versions.filter((v) => v.hypervisor === h))}`);
  print("This cannot be undone.");
  return confirmed(ctx, "changed");
}

const modifyImage: Handler = async (ctx) => {
  const newName = opt(ctx, "new_name");
  if (newName !== undefined) checkName(newName, IMAGE_NAME, "image name", IMAGE_RULE);
  const api = await ctx.session.api();
  const hypervisors = opt(ctx, "hypervisor");
  if (hypervisors !== undefined && !(await confirmDroppedFiles(ctx, api, arg(ctx, "image")!, commaList(hypervisors)))) return print("Aborting image modification");
  await api.modifyImage(opt(ctx, "owner"), arg(ctx, "image")!, {
    ...metadataForm(ctx),
    name: newName,
    owner: opt(ctx, "new_owner"),
    hypervisor: opt(ctx, "hypervisor"),
    unauthenticated_access: opt(ctx, "unauthenticated_access"),
  });
  print(okLine("Modifying image."));
};

async function selectImages(ctx: Ctx, api: RepomanApi): Promise<ImageJson[]> {
  const owner = opt(ctx, "owner");
  if (owner !== undefined && !flag(ctx, "all") && opt(ctx, "group") === undefined && opt(ctx, "user") === undefined) return api.imagesOwnedBy(owner);
  const me = await api.whoami();
  const group = opt(ctx, "group");
  if (group !== undefined) {
    if (!me.groups.map(nameFromUrl).includes(group)) throw new ClientError(`You are not a member of group '${group}'`, "list-images -g lists images shared with one of your groups.");
    return api.imagesSharedWithGroup(group);
  }
  const other = opt(ctx, "user");
  if (other !== undefined) {
    const [toThem, toMe] = await Promise.all([api.imagesSharedWithUser(other), api.imagesSharedWithUser(me.user_name)]);
    return [...toThem.filter((i) => i.owner_user_name === me.user_name), ...toMe.filter((i) => i.owner_user_name === other)];
  }
  const own = await api.imagesOwnedBy(me.user_name);
  return flag(ctx, "all") ? [...own, ...(await api.imagesSharedWithUser(me.user_name))] : own;
}

function urlLines(i: ImageJson): string[] {
  const perHypervisor = (template: string | null) => (template ? hypervisorsOf(i).map((h) => `  ${template.replace("__hypervisor__", h)}`) : []);
  return [`${i.owner_user_name}/${i.name}`, ...perHypervisor(i.http_file_url), ...perHypervisor(i.file_url), ""];
}

function versionRows(versions: VersionJson[]): string[][] {
  return versions.map((v) => [
    v.hypervisor,
    `${v.version}${v.current ? " *" : ""}`,
    String(v.size),
    v.format ?? "",
    v.virtual_size === null || v.virtual_size === undefined ? "" : String(v.virtual_size),
    `sha256:${(v.checksum.value ?? "").slice(0, 12)}`,
    pyStr(localCtime(v.uploaded)),
    v.uploader ?? "",
    [v.restored_from !== null ? `(rollback to ${v.restored_from})` : "", v.comment ?? ""].filter(Boolean).join(" "),
  ]);
}

const listImages: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const one = arg(ctx, "image");
  if (flag(ctx, "versions") && one === undefined) throw new InvalidArgument("--versions needs an image name", "list-images IMAGE --versions lists the versions of one image.");
  if (one !== undefined) {
    const i = await imageToRead(ctx, api, one);
    if (flag(ctx, "versions")) {
      const versions = await api.versions(i.owner_user_name, i.name);
      if (flag(ctx, "json")) return printJson(versions);
      print(`Versions of image '${i.owner_user_name}/${i.name}' (* current; kept per hypervisor: ${i.keep_versions ?? "the server's default"}${i.keep_versions === 0 ? " = all" : ""})`);
      return write(table(["Hypervisor", "Version", "Size", "Format", "Virtual Size", "Checksum", "Uploaded", "Uploader", "Comment"], versionRows(versions), [2, 4]));
    }
    return flag(ctx, "json") ? printJson(i) : write(dumpImage(i));
  }
  const seen = new Set<string>();
  const images = (await selectImages(ctx, api)).filter((i) => !seen.has(i.uuid) && !!seen.add(i.uuid)).sort((a, b) => byName(a.name, b.name));
  if (flag(ctx, "json")) return printJson(images);
  if (flag(ctx, "short")) return images.forEach((i) => print(`${i.owner_user_name}/${i.name}`));
  if (flag(ctx, "urls")) return images.forEach((i) => print(`${urlLines(i).join("\n")}\n`));
  // The original's columns; --long adds the latest upload's format and virtual size after Size.
  const long = flag(ctx, "long");
  const rows = images.map((i) => [i.name, i.owner_user_name, i.hypervisor, pyStr(i.size), ...(long ? [pyStr(i.format ?? null), pyStr(i.virtual_size ?? null)] : []), pyStr(localCtime(i.modified)), pyStr(i.description)]);
  write(table(["Image Name", "Owner", "Hypervisor", "Size", ...(long ? ["Format", "Virtual Size"] : []), "Last Modified", "Description"], rows, long ? [3, 5] : [3]));
};

// The first client's `list`: list-images -a -s, its own images and those shared with the caller.
const list: Handler = (ctx) => listImages({ ...ctx, options: { ...ctx.options, all: true, short: true } });

// The first client's `describe-image`: Python 2's pprint of the image's JSON as the server sends it.
const describeImage: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const found = await imageToRead(ctx, api, arg(ctx, "image")!);
  print(pyPformat(await api.imageAsServed(found.owner_user_name, found.name)));
};

// The first client's `rename OLD NEW`.
const rename: Handler = async (ctx) => {
  const [from, to] = [arg(ctx, "old")!, arg(ctx, "new")!];
  checkName(to, IMAGE_NAME, "image name", IMAGE_RULE);
  await (await ctx.session.api()).modifyImage(opt(ctx, "owner"), from, { name: to });
  print(okLine(`Renamed image '${from}' to '${to}'`));
};

// What deleting the image takes away from others, said before the question.
async function deletionWarnings(api: RepomanApi, i: ImageJson): Promise<string[]> {
  const lines: string[] = [];
  if (i.read_only) throw new ClientError(`Image '${i.owner_user_name}/${i.name}' is read-only and cannot be deleted`, `Clear it first: repoman modify-image ${i.name} -o ${i.owner_user_name} --read_only false`);
  if (i.unauthenticated_access) lines.push("It is public: anyone may be downloading it.");
  const users = i.shared_with.users.map(nameFromUrl);
  const groups = i.shared_with.groups.map(nameFromUrl);
  if (users.length || groups.length) lines.push(`It is shared with ${[users.length ? `users ${users.join(", ")}` : "", groups.length ? `groups ${groups.join(", ")}` : ""].filter(Boolean).join(" and ")}.`);
  const versions = await api.versions(i.owner_user_name, i.name);
  if (versions.length) lines.push(`Its files (${describeVersions(versions)}) are deleted with it.`);
  return lines;
}

const removeImage: Handler = async (ctx) => {
  const image = arg(ctx, "image")!;
  const api = await ctx.session.api();
  if (!flag(ctx, "force")) {
    const warnings = await deletionWarnings(api, await api.image(opt(ctx, "owner"), image));
    print(`WARNING: Removing image ${image} deletes it and its files from the repository.  This cannot be undone.`);
    for (const w of warnings) print(`  ${w}`);
    if (!(await confirmed(ctx, "deleted"))) return print("Aborting image deletion");
  }
  await api.deleteImage(opt(ctx, "owner"), image);
  print(okLine(`Removed image ${image}.`));
};

const rollbackImage: Handler = async (ctx) => {
  const name = arg(ctx, "image")!;
  const api = await ctx.session.api();
  const version = ctx.options.version as number | undefined;
  const r = await api.rollback(opt(ctx, "owner"), name, { hypervisor: opt(ctx, "hypervisor"), version: version === undefined ? undefined : String(version), comment: opt(ctx, "comment") });
  print(okLine(`Image '${name}', hypervisor ${r.restored.hypervisor}: version ${r.restored.restored_from} is current again, as version ${r.restored.version}`));
};

const sharing =
  (kind: "user" | "group", on: boolean): Handler =>
  async (ctx) => {
    const image = arg(ctx, "image")!;
    const api = await ctx.session.api();
    for (const target of commaList(arg(ctx, `${kind}s`))) {
      await api.share(opt(ctx, "owner"), image, kind, target, on);
      print(okLine(`${on ? "Shared" : "Unshared"} image: '${image}' with ${kind}: '${target}'`));
    }
  };

export const imageHandlers: Record<string, Handler> = {
  "create-image": createImage,
  "modify-image": modifyImage,
  "list-images": listImages,
  list,
  "describe-image": describeImage,
  rename,
  "remove-image": removeImage,
  "rollback-image": rollbackImage,
  "share-image-with-groups": sharing("group", true),
  "share-image-with-users": sharing("user", true),
  "unshare-image-with-groups": sharing("group", false),
  "unshare-image-with-users": sharing("user", false),
};
