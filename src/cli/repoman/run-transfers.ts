// put-image and get-image: streamed, with progress on a terminal and SHA-256 checked both ways.
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { hypervisorsOf, rawPath, type ImageJson, type RepomanApi } from "../../client/api.js";
import { ClientError } from "../../client/errors.js";
import { Progress } from "../../client/progress.js";
import { download, partialFile, upload } from "../../client/transfers.js";
import { DEFAULT_CHUNK_MIB, resumableUpload } from "../../client/resumable.js";
import { arg, flag, InvalidArgument, opt, print, type Ctx, type Handler } from "./context.js";
import { okLine } from "./output.js";
import { imageToRead } from "./run-images.js";
import { cannotConvert, convertInPlace, findQemuImg } from "./convert-image.js";

export function chooseHypervisor(image: ImageJson, wanted: string | undefined): string {
  const supported = hypervisorsOf(image);
  if (wanted === undefined) {
    if (supported.length === 1) return supported[0]!;
    throw new ClientError(`This ${image.name} image is a multi-hypervisor image.  You must specify an hypervisor with -h.`, `Supported hypervisors for this image are: ${supported.join(", ")}`);
  }
  if (!supported.includes(wanted)) throw new ClientError("The given hypervisor is not supported by this image.", `Supported hypervisors for this image are: ${supported.join(", ")}`);
  return wanted;
}

function checkLocalFile(file: string): void {
  if (!existsSync(file)) throw new ClientError(`Specified source not found: ${file}`);
  const st = statSync(file);
  if (st.isDirectory()) throw new ClientError(`Specified source is a directory: ${file}`);
}

// What to upload: a file, sent in chunks that survive a lost connection and a killed client
// (resumable), or a stream of unknown length (compressed on the fly), sent in one request.
export type UploadSource = { file: string } | { stream: () => Readable };

// Uploads one file and checks that the server stored exactly what was sent.
export async function uploadChecked(ctx: Ctx, image: ImageJson, hypervisor: string, label: string, source: UploadSource): Promise<ImageJson> {
  const api = await ctx.session.api();
  const comment = opt(ctx, "comment");
  let result: { image: ImageJson; sha256: string };
  if ("file" in source) {
    const size = statSync(source.file).size;
    const progress = new Progress(label, size);
    const chunkMiB = (ctx.options.chunk_size as number | undefined) ?? DEFAULT_CHUNK_MIB;
    if (chunkMiB < 1) throw new InvalidArgument(`--chunk_size ${chunkMiB}: at least 1 MB`);
    result = await resumableUpload(api.connection, { owner: image.owner_user_name, image: image.name, hypervisor, comment }, source.file, {
      stateDir: join(ctx.session.environment.home, ".repoman", "uploads"),
      chunkBytes: chunkMiB * 1024 * 1024,
      restart: flag(ctx, "restart"),
      retries: 6,
      onResume: (offset) => print(`Resuming the upload at byte ${offset} of ${size} (${Math.floor((offset / size) * 100)}%): the server has the rest of an earlier try`),
      onRetry: (why, attempt) => ctx.session.log("WARNING", `chunk failed (try ${attempt}): ${why}; trying again`),
      onProgress: progress.update,
    });
    progress.finish();
  } else {
    const progress = new Progress(label, undefined);
    const path = rawPath(image.owner_user_name, hypervisor, image.name) + (comment === undefined ? "" : `?comment=${encodeURIComponent(comment)}`);
    result = await upload(api.connection, path, source.stream, undefined, progress.update);
    progress.finish();
  }
  const stored = result.image.files?.[hypervisor]?.checksum.value;
  if (stored !== result.sha256) throw new ClientError(`the server's checksum of the upload differs from the local one`, `sent sha256 ${result.sha256}, the server stored ${stored ?? "no checksum"}`);
  ctx.session.log("INFO", `uploaded ${label} to ${image.owner_user_name}/${image.name} (${hypervisor}), sha256 ${result.sha256}, now version ${result.image.files?.[hypervisor]?.version}`);
  return result.image;
}

const putImage: Handler = async (ctx) => {
  const file = arg(ctx, "file")!;
  const name = arg(ctx, "image")!;
  checkLocalFile(file);
  const api = await ctx.session.api();
  const image = await api.image(opt(ctx, "owner"), name);
  const hypervisor = chooseHypervisor(image, opt(ctx, "hypervisor"));
  if (image.files?.[hypervisor] && !flag(ctx, "force")) {
    // The file it replaces stays a version of the image (rollback-image brings it back), as long as it is kept.
    const answer = await ctx.session.terminal.confirm(`Image '${name}' already contains an image file for hypervisor ${hypervisor}.  Overwrite? [yes]/[n]o: `);
    if (answer === undefined) throw new ClientError(`Image '${name}' already contains an image file for hypervisor ${hypervisor}; it was not overwritten`, "Answer the question on a terminal, or pass -f/--force to overwrite it.");
    if (!answer) return print("Aborting upload");
  }
  print(`Uploading ${file} to image '${name}', hypervisor ${hypervisor} ...`);
  await uploadChecked(ctx, image, hypervisor, basename(file), { file });
  print(okLine(`${file} uploaded to image '${name}', hypervisor ${hypervisor}`));
};

// The version to download: --version N, or the current one.
async function chosenVersion(ctx: Ctx, api: RepomanApi, image: ImageJson, hypervisor: string): Promise<{ version: number; size: number; sha256: string; format: string | null | undefined }> {
  const wanted = ctx.options.version as number | undefined;
  const current = image.files?.[hypervisor];
  if (wanted === undefined || wanted === current?.version) {
    if (!current?.checksum.value || current.version === undefined) throw new ClientError(`Image '${image.name}' has no file for hypervisor ${hypervisor} yet`, "Its owner can upload one with put-image.");
    return { version: current.version, size: current.size, sha256: current.checksum.value, format: current.format };
  }
  const versions = await api.versions(image.owner_user_name, image.name, hypervisor);
  const v = versions.find((x) => x.version === wanted);
  if (!v?.checksum.value) throw new ClientError(`Image '${image.name}' has no version ${wanted} for hypervisor ${hypervisor}`, versions.length ? `Versions kept: ${versions.map((x) => x.version).reverse().join(", ")}` : "It has no files yet.");
  return { version: v.version, size: v.size, sha256: v.checksum.value, format: v.format };
}

// A destination this computer cannot write to is said to be a local problem, before anything is
// downloaded (not, later, as an interrupted download).
function checkDestination(dest: string): void {
  const dir = dirname(resolve(dest));
  let why = !existsSync(dir) ? "does not exist" : !statSync(dir).isDirectory() ? "is not a directory" : undefined;
  if (!why) why = tryAccess(dir) ? undefined : "is not writable";
  if (why) throw new ClientError(`Cannot save to ${dest}: the directory ${dir} ${why} (a problem on this computer, not on the server)`, "Nothing was downloaded. Choose another file or directory with -p PATH.");
}
const tryAccess = (dir: string) => {
  try {
    return accessSync(dir, constants.W_OK) === undefined;
  } catch {
    return false;
  }
};

const getImage: Handler = async (ctx) => {
  const name = arg(ctx, "image")!;
  const api = await ctx.session.api();
  const image = await imageToRead(ctx, api, name);
  const hypervisor = chooseHypervisor(image, opt(ctx, "hypervisor"));
  const file = await chosenVersion(ctx, api, image, hypervisor);
  // Whether it can be converted is known before a byte is downloaded.
  const to = opt(ctx, "format");
  const qemuImg = to !== undefined && file.format !== to ? findQemuImg() : undefined;
  const refusal = qemuImg ? cannotConvert(file.format) : undefined;
  if (refusal) throw new ClientError(`Image '${name}', hypervisor ${hypervisor}, cannot be converted to ${to}: ${refusal}`, "Nothing was downloaded.");
  let dest = opt(ctx, "path") ?? image.name;
  if (existsSync(dest) && statSync(dest).isDirectory()) dest = join(dest, image.name);
  checkDestination(dest);
  if (existsSync(dest) && !flag(ctx, "force")) throw new ClientError(`${dest} already exists`, "Pass -f/--force to replace it, or choose another file with -p PATH.");
  const pinned = ctx.options.version === undefined ? "" : `, version ${file.version}`;
  print(`Downloading image '${name}', hypervisor ${hypervisor}${pinned}, to ${dest} ...`);
  const progress = new Progress(basename(dest), file.size);
  const path = `${rawPath(image.owner_user_name, hypervisor, image.name)}?version=${file.version}`;
  const offset = await download(api.connection, path, dest, { ...file, onProgress: progress.update, onRestart: (why) => print(`Starting the download again: ${why}.`) });
  progress.finish();
  if (offset > 0) print(`Resumed the partial download ${partialFile(dest)} at byte ${offset}`);
  if (qemuImg && to !== undefined) {
    print(`Converting ${dest} from ${file.format ?? "the format qemu-img detects"} to ${to} ...`);
    await convertInPlace(qemuImg, dest, file.format, to);
    return print(okLine(`Downloaded image '${name}', hypervisor ${hypervisor}, to ${dest}, converted to ${to}`));
  }
  if (to !== undefined) print(`The file is ${to} already: nothing to convert.`);
  print(okLine(`Downloaded image '${name}', hypervisor ${hypervisor}, to ${dest}`));
};

export const transferHandlers: Record<string, Handler> = {
  "put-image": putImage,
  "get-image": getImage,
};
