// save-image: snapshot the running system (or --source DIR) into an image file and upload it
// once per hypervisor (reference §5.5), without loop mounts: rsync into a staging directory,
// mke2fs -d, debugfs for the per-hypervisor grub.conf, and a boot loader only where possible.
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createGzip } from "node:zlib";
import { hypervisorsOf, type Form, type ImageJson } from "../../client/api.js";
import { snapshotPath } from "../../client/config.js";
import { ApiError, ClientError } from "../../client/errors.js";
import { IMAGE_NAME } from "../../catalog/names.js";
import { arg, checkName, commaList, confirmed, flag, opt, print, type Ctx, type Handler } from "./context.js";
import { okLine } from "./output.js";
import { IMAGE_RULE } from "./run-images.js";
import { uploadChecked } from "./run-transfers.js";
import { assembleDisk, installBootloader, makeFilesystem, MIB, replaceFileInImage } from "./save-image/filesystem.js";
import { bytesUsed, copyToStaging, excludesFor, Lock } from "./save-image/staging.js";
import { detectHypervisors, filesystemBytes, isBootable, mountOf } from "./save-image/system.js";
import { Tools } from "./save-image/tools.js";

const isRoot = () => process.getuid?.() === 0;

async function imageName(ctx: Ctx): Promise<string | undefined> {
  let name = arg(ctx, "image")!;
  if (flag(ctx, "gzip") && !name.endsWith(".gz")) {
    name += ".gz";
    print("WARNING: --gzip compresses the image, so its name ends in .gz.");
    print(`New image name: '${name}'`);
  } else if (!flag(ctx, "gzip") && name.endsWith(".gz")) {
    print("WARNING: the image name ends in .gz, but without --gzip the image is not compressed.");
    if (!(await confirmed(ctx, "saved", "Do you want to continue? [yes]/[n]o: "))) return undefined;
  }
  checkName(name, IMAGE_NAME, "image name", IMAGE_RULE);
  return name;
}

async function existingImage(ctx: Ctx, name: string): Promise<ImageJson | undefined> {
  try {
    return await (await ctx.session.api()).image(opt(ctx, "owner"), name);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}

// The size of the image file: --resize, else (for /) the size of the root filesystem, else the
// copy plus a third and 64 MiB, for the filesystem's own structures and room to grow.
function imageBytes(ctx: Ctx, source: string, used: number): number {
  const resize = ctx.options.resize as number | undefined;
  if (resize !== undefined && resize > 0) {
    if (resize * MIB < used) throw new ClientError(`--resize ${resize} is too small: the copy needs ${Math.ceil(used / MIB)} MB`);
    return resize * MIB;
  }
  if (source === "/") return Math.max(filesystemBytes("/").size, used + 64 * MIB);
  return Math.ceil((used * 1.34 + 64 * MIB) / MIB) * MIB;
}

function metadataFile(metadata: Form): string {
  return (
    Object.entries(metadata)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n") + "\n"
  );
}

export const saveImage: Handler = async (ctx) => {
  const s = ctx.session;
  const config = s.config;
  const source = resolve(opt(ctx, "source") ?? "/");
  if (!existsSync(source) || !statSync(source).isDirectory()) throw new ClientError(`Source directory not found: ${source}`);
  if (source === "/" && !isRoot()) throw new ClientError("Error.  This command requires root privileges, try again with sudo.", "Or snapshot a directory you may read with --source DIR.");
  const tools = new Tools(config.get("Security", "restricted_path"), flag(ctx, "verbose"));
  tools.require("rsync", "to copy the system");
  tools.require("mke2fs", "to build the image's filesystem");
  tools.require("du", "to measure the copy");

  const name = await imageName(ctx);
  if (name === undefined) return print("Aborting snapshot");
  const owner = opt(ctx, "owner");
  const staging = snapshotPath(config, "mountpoint");
  const image = snapshotPath(config, "snapshot");
  const disk = `${image}.disk`;
  const lockFile = snapshotPath(config, "lockfile");
  // The snapshot stays until every hypervisor's upload is done: a run that was killed or lost its
  // connection leaves it, with what is left to do, and the same command continues its uploads
  // (resumable, from where the server has bytes) instead of taking a new snapshot.
  let pending = readPending(image, name, owner, flag(ctx, "clean"));
  const existing = await existingImage(ctx, name);
  if (existing && !pending && !flag(ctx, "force")) {
    print(`Image '${existing.owner_user_name}/${name}' already exists.`);
    if (!(await confirmed(ctx, "saved", "Do you want to overwrite? [yes]/[n]o: "))) return print("Aborting snapshot");
  }
  const wanted = commaList(opt(ctx, "hypervisor"));
  const hypervisors = wanted.length ? wanted : detectHypervisors(source);
  const metadata: Form = {
    name,
    hypervisor: hypervisors.join(",") || undefined,
    unauthenticated_access: opt(ctx, "unauthenticated_access"),
    description: opt(ctx, "description"),
    owner,
    os_arch: opt(ctx, "os_arch"),
    os_type: opt(ctx, "os_type"),
    os_variant: opt(ctx, "os_variant"),
  };

  for (const p of [staging, image, lockFile]) mkdirSync(dirname(p), { recursive: true });
  const lock = Lock.take(lockFile);
  try {
    if (pending) {
      print(`Continuing the interrupted upload of the snapshot taken at ${pending.taken} (--clean takes a new one).`);
    } else {
      print("Starting the snapshot process.  Please be patient, this will take a while.");
      rmSync(pendingFile(image), { force: true });
      if (flag(ctx, "clean")) rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true, mode: 0o700 });
      const sourceUsed = source === "/" ? filesystemBytes("/").used : await bytesUsed(tools, source);
      const room = filesystemBytes(dirname(staging)).free + (await bytesUsed(tools, staging));
      if (sourceUsed > room) throw new ClientError(`not enough space in ${dirname(staging)} for a copy of ${source}`, `${Math.ceil(sourceUsed / MIB)} MB needed, ${Math.floor(room / MIB)} MB available; set [ThisImage] snapshot_dir to a larger filesystem.`);
      const patterns = [config.get("ThisImage", "system_excludes"), config.get("ThisImage", "user_excludes")].join(" ").split(/\s+/).filter(Boolean);
      await copyToStaging(tools, source, staging, excludesFor(source, patterns, [staging, image, disk, lockFile, pendingFile(image)]), { progress: process.stdout.isTTY === true, verbose: flag(ctx, "verbose") });
      writeFileSync(join(staging, ".image.metadata"), metadataFile(metadata));

      const used = await bytesUsed(tools, staging);
      const bytes = imageBytes(ctx, source, used);
      if (filesystemBytes(dirname(image)).free < used) throw new ClientError(`not enough space in ${dirname(image)} for the image file`, `${Math.ceil(used / MIB)} MB needed; set [ThisImage] snapshot_dir to a larger filesystem.`);
      const fstype = mountOf(source)?.fstype ?? "";
      await makeFilesystem(tools, staging, image, bytes, { fstype: /^ext[234]$/.test(fstype) ? fstype : "ext4", label: "/" });

      const bootable = isBootable(staging);
      const bootloader = bootable && isRoot() && ["grub-install", "losetup", "mount"].every((t) => tools.find(t));
      if (bootable && !bootloader) print("WARNING: the system is bootable, but installing a boot loader needs root, grub-install and loop devices: the image is a plain filesystem, for hypervisors that boot the kernel themselves.");

      const api = await s.api();
      let target: ImageJson;
      if (existing) {
        // The image stays where it is: sending `owner` would ask to transfer it (the original's 409).
        target = await api.modifyImage(owner, name, { ...metadata, name: undefined, owner: undefined });
        print("[OK]    Updating image metadata on server.");
      } else {
        target = await api.createImage({ ...metadata, owner: undefined, user_name: owner });
        print("[OK]    Creating image metadata on server.");
      }
      pending = { name, owner: target.owner_user_name, taken: new Date().toISOString(), hypervisors: hypervisorsOf(target), prepared: null, bootloader };
      writePending(image, pending);
    }
    const target = await (await s.api()).image(pending.owner, name);
    const several = hypervisorsOf(target).length > 1;
    for (const hv of [...pending.hypervisors]) {
      // The snapshot is made ready for this hypervisor once: a continued upload must send the same bytes.
      if (pending.prepared !== hv) {
        if (several) {
          const conf = join(staging, "boot/grub", `grub.conf-${hv}`);
          if (!existsSync(conf)) throw new ClientError(`${join(source, "boot/grub", `grub.conf-${hv}`)} not found`, "An image for several hypervisors needs /boot/grub/grub.conf-<hypervisor> for each of them.");
          await replaceFileInImage(tools, image, "/boot/grub/grub.conf", conf);
        }
        if (pending.bootloader) {
          assembleDisk(image, disk);
          await installBootloader(tools, disk);
        }
        pending = { ...pending, prepared: hv };
        writePending(image, pending);
      }
      print(`Uploading snapshot for hypervisor ${hv}`);
      const file = pending.bootloader ? disk : image;
      const gzip = flag(ctx, "gzip");
      await uploadChecked(ctx, target, hv, name, gzip ? { stream: () => createReadStream(file).pipe(createGzip()) } : { file });
      print(okLine(`Snapshot uploaded to image '${name}', hypervisor ${hv}`));
      pending = { ...pending, hypervisors: pending.hypervisors.filter((h) => h !== hv), prepared: null };
      writePending(image, pending);
    }
    pending = undefined;
  } finally {
    if (pending) {
      print(`The snapshot is kept in ${image} until its upload is complete: run the same command again to continue it.`);
    } else {
      for (const f of [image, disk, pendingFile(image)]) rmSync(f, { force: true });
    }
    lock.release();
  }
};

// What is left to do with a snapshot whose upload was interrupted.
interface Pending {
  name: string;
  owner: string;
  taken: string;
  hypervisors: string[]; // not uploaded yet
  prepared: string | null; // the hypervisor the snapshot was last made ready for
  bootloader: boolean;
}

const pendingFile = (image: string) => `${image}.pending.json`;

function readPending(image: string, name: string, owner: string | undefined, clean: boolean): Pending | undefined {
  if (clean || !existsSync(image)) return undefined;
  try {
    const p = JSON.parse(readFileSync(pendingFile(image), "utf8")) as Pending;
    return p.name === name && (owner === undefined || owner === p.owner) && p.hypervisors.length > 0 ? p : undefined;
  } catch {
    return undefined;
  }
}

const writePending = (image: string, p: Pending) => writeFileSync(pendingFile(image), JSON.stringify(p), { mode: 0o600 });


