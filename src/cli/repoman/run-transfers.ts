// put-image and get-image: streamed, with progress on a terminal and SHA-256 checked both ways.
import { createReadStream, existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import { hypervisorsOf, rawPath, type ImageJson } from "../../client/api.js";
import { ClientError } from "../../client/errors.js";
import { Progress } from "../../client/progress.js";
import { download, partialFile, upload } from "../../client/transfers.js";
import { arg, flag, opt, print, type Ctx, type Handler } from "./context.js";
import { okLine } from "./output.js";

export function chooseHypervisor(image: ImageJson, wanted: string | undefined): string {
  const supported = hypervisorsOf(image);
  if (wanted === undefined) {
    if (supported.length === 1) return supported[0]!;
    throw new ClientError(`This ${image.name} image is a multi-hypervisor image.  You must specify an hypervisor with -h.`, `Supported hypervisors for this image are: ${supported.join(", ")}`);
  }
  if (!supported.includes(wanted)) throw new ClientError("The given hypervisor is not supported by this image.", `Supported hypervisors for this image are: ${supported.join(", ")}`);
  return wanted;
}

function localFile(file: string): number {
  if (!existsSync(file)) throw new ClientError(`Specified source not found: ${file}`);
  const st = statSync(file);
  if (st.isDirectory()) throw new ClientError(`Specified source is a directory: ${file}`);
  return st.size;
}

// Uploads one file and checks that the server stored exactly what was sent.
export async function uploadChecked(ctx: Ctx, image: ImageJson, hypervisor: string, label: string, source: () => Readable, size: number | undefined): Promise<ImageJson> {
  const api = await ctx.session.api();
  const progress = new Progress(label, size);
  const result = await upload(api.connection, rawPath(image.owner_user_name, hypervisor, image.name), source, size, progress.update);
  progress.finish();
  const stored = result.image.files?.[hypervisor]?.checksum.value;
  if (stored !== result.sha256) throw new ClientError(`the server's checksum of the upload differs from the local one`, `sent sha256 ${result.sha256}, the server stored ${stored ?? "no checksum"}`);
  ctx.session.log("INFO", `uploaded ${result.bytes} bytes to ${image.owner_user_name}/${image.name} (${hypervisor}), sha256 ${result.sha256}`);
  return result.image;
}

const putImage: Handler = async (ctx) => {
  const file = arg(ctx, "file")!;
  const name = arg(ctx, "image")!;
  const size = localFile(file);
  const api = await ctx.session.api();
  const image = await api.image(opt(ctx, "owner"), name);
  const hypervisor = chooseHypervisor(image, opt(ctx, "hypervisor"));
  if (image.files?.[hypervisor] && !flag(ctx, "force")) {
    const answer = await ctx.session.terminal.confirm(`Image '${name}' already contains an image file for hypervisor ${hypervisor}.  Overwrite? [yes]/[n]o: `);
    if (answer === undefined) throw new ClientError(`Image '${name}' already contains an image file for hypervisor ${hypervisor}; it was not overwritten`, "Answer the question on a terminal, or pass -f/--force to overwrite it.");
    if (!answer) return print("Aborting upload");
  }
  print(`Uploading ${file} to image '${name}', hypervisor ${hypervisor} ...`);
  await uploadChecked(ctx, image, hypervisor, basename(file), () => createReadStream(file), size);
  print(okLine(`${file} uploaded to image '${name}', hypervisor ${hypervisor}`));
};

const getImage: Handler = async (ctx) => {
  const name = arg(ctx, "image")!;
  const api = await ctx.session.api();
  const image = await api.image(opt(ctx, "owner"), name);
  const hypervisor = chooseHypervisor(image, opt(ctx, "hypervisor"));
  const file = image.files?.[hypervisor];
  if (!file) throw new ClientError(`Image '${name}' has no file for hypervisor ${hypervisor} yet`, "Its owner can upload one with put-image.");
  let dest = opt(ctx, "path") ?? image.name;
  if (existsSync(dest) && statSync(dest).isDirectory()) dest = join(dest, image.name);
  if (existsSync(dest) && !flag(ctx, "force")) throw new ClientError(`${dest} already exists`, "Pass -f/--force to replace it, or choose another file with -p PATH.");
  const resuming = existsSync(partialFile(dest));
  print(`Downloading image '${name}', hypervisor ${hypervisor}, to ${dest} ...`);
  const progress = new Progress(basename(dest), file.size);
  const offset = await download(api.connection, rawPath(image.owner_user_name, hypervisor, image.name), dest, { size: file.size, sha256: file.checksum.value, onProgress: progress.update });
  progress.finish();
  if (resuming && offset > 0) print(`Resumed the partial download ${partialFile(dest)} at byte ${offset}`);
  print(okLine(`Downloaded image '${name}', hypervisor ${hypervisor}, to ${dest}`));
};

export const transferHandlers: Record<string, Handler> = {
  "put-image": putImage,
  "get-image": getImage,
};
