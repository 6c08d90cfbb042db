// create-image, modify-image, list-images, remove-image and the four sharing commands.
import { hypervisorsOf, nameFromUrl, type ImageJson, type RepomanApi } from "../../client/api.js";
import { ClientError } from "../../client/errors.js";
import { IMAGE_NAME } from "../../catalog/names.js";
import { arg, checkName, commaList, confirmed, flag, opt, print, printJson, write, type Ctx, type Handler } from "./context.js";
import { byName, dumpImage, localCtime, okLine, pyStr, table } from "./output.js";

export const IMAGE_RULE = "Image names are 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'.";

const metadataForm = (ctx: Ctx) => ({
  description: opt(ctx, "description"),
  os_arch: opt(ctx, "os_arch"),
  os_type: opt(ctx, "os_type"),
  os_variant: opt(ctx, "os_variant"),
});

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

const modifyImage: Handler = async (ctx) => {
  const newName = opt(ctx, "new_name");
  if (newName !== undefined) checkName(newName, IMAGE_NAME, "image name", IMAGE_RULE);
  await (await ctx.session.api()).modifyImage(opt(ctx, "owner"), arg(ctx, "image")!, {
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

const listImages: Handler = async (ctx) => {
  const api = await ctx.session.api();
  const one = arg(ctx, "image");
  if (one !== undefined) {
    const i = await api.image(opt(ctx, "owner"), one);
    return flag(ctx, "json") ? printJson(i) : write(dumpImage(i));
  }
  const seen = new Set<string>();
  const images = (await selectImages(ctx, api)).filter((i) => !seen.has(i.uuid) && !!seen.add(i.uuid)).sort((a, b) => byName(a.name, b.name));
  if (flag(ctx, "json")) return printJson(images);
  if (flag(ctx, "short")) return images.forEach((i) => print(`${i.owner_user_name}/${i.name}`));
  if (flag(ctx, "urls")) return images.forEach((i) => print(`${urlLines(i).join("\n")}\n`));
  const rows = images.map((i) => [i.name, i.owner_user_name, i.hypervisor, pyStr(i.size), pyStr(localCtime(i.modified)), pyStr(i.description)]);
  write(table(["Image Name", "Owner", "Hypervisor", "Size", "Last Modified", "Description"], rows, [3]));
};

const removeImage: Handler = async (ctx) => {
  const image = arg(ctx, "image")!;
  if (!flag(ctx, "force")) {
    print(`WARNING: Removing image ${image} deletes it and its files from the repository.  This cannot be undone.`);
    if (!(await confirmed(ctx, "deleted"))) return print("Aborting image deletion");
  }
  await (await ctx.session.api()).deleteImage(opt(ctx, "owner"), image);
  print(okLine(`Removed image ${image}.`));
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
  "remove-image": removeImage,
  "share-image-with-groups": sharing("group", true),
  "share-image-with-users": sharing("user", true),
  "unshare-image-with-groups": sharing("group", false),
  "unshare-image-with-users": sharing("user", false),
};
