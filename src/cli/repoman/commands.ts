// Every `repoman` subcommand in one table: argument parsing, `help`, the bash completion and the
// man page are all made from it. Names, aliases and options are the original client's (reference
// §5.4); additions are marked "new" in their help. The first client's dialect, shown on the slides
// that introduced Repoman (list, describe-image, rename; get, save and delete; -H, -P PORT,
// --proxy, --version, --help-all), is here too: its commands are marked "the first client's".
import { HYPERVISORS, OS_ARCHES } from "../../catalog/names.js";
import { CONVERT_FORMATS } from "./convert-image.js";

// What the shell may offer when completing a value.
export type Completion = "file" | "directory" | "hypervisor" | "permission" | "command";

export interface OptionDef {
  short?: string; // one letter
  long: string; // without the dashes; also the key in ParsedArgs.options
  shortOnly?: boolean; // no --long form: `long` is only the key the value is parsed under
  hidden?: boolean; // left out of usage lines, help and completion (documented in the man page)
  help: string;
  metavar?: string; // absent: a flag
  choices?: readonly string[];
  integer?: boolean;
  complete?: Completion;
}

export interface ArgDef {
  name: string;
  help: string;
  arity: "one" | "optional" | "many";
  complete?: Completion;
}

export type Section = "Miscellaneous" | "Images" | "Image lists" | "Users" | "Groups";

export interface CommandDef {
  name: string;
  aliases?: string[]; // the original's short alias first, then the first client's name if it differs
  section: Section;
  summary: string;
  description?: string;
  args: ArgDef[];
  options: OptionDef[];
  // Options (long names) and arguments (names) that may not be given together.
  exclusive?: string[][];
  // Adds --json: machine-readable output for scripts.
  json?: boolean;
}

export const PERMISSIONS = [
  "user_create",
  "user_modify",
  "user_delete",
  "user_modify_self",
  "group_create",
  "group_modify",
  "group_delete",
  "group_modify_membership",
  "group_modify_permissions",
  "image_create",
  "image_modify",
  "image_delete",
  "image_modify_group",
  "image_delete_group",
] as const;

// Before the subcommand. -h is help only here: after a subcommand it is --hypervisor, as in the
// original. -P took a port in the first client and a proxy file in the 2013 one: a value of
// digits only is a port (session.ts, globalsFrom).
export const GLOBAL_OPTIONS: OptionDef[] = [
  { short: "h", long: "help", help: "Show this help and exit. Only before a subcommand: after one, -h is --hypervisor." },
  { long: "help-all", help: "Show this help and the help of every subcommand, one after the other." },
  { long: "version", help: "Print the client's version and exit." },
  { short: "r", long: "repository", metavar: "HOST", help: "Repoman server to use, as HOST or HOST:PORT; overrides [Repository] repository, and no configuration file is needed." },
  { short: "H", long: "host", metavar: "HOST", help: "The same as -r/--repository (the first client's name for it)." },
  { short: "p", long: "port", metavar: "PORT", integer: true, help: "HTTPS port of the server; overrides [Repository] port (default 443)." },
  {
    short: "P",
    long: "port_or_proxy",
    shortOnly: true,
    metavar: "PORT|PROXYFILE",
    complete: "file",
    help: "Digits only: the HTTPS port, as -p (the first client's -P PORT). Anything else: a grid proxy file, as --proxy (the 2013 client's -P PROXYFILE).",
  },
  { long: "proxy", metavar: "PROXYFILE", complete: "file", help: "Grid proxy to log in with (certificate and key in one file); overrides [User] proxy_cert and $X509_USER_PROXY." },
  { long: "insecure", help: "Do not verify the server's certificate (new; not recommended)." },
  { long: "debug", hidden: true, help: "Print what the client does, to standard error." },
];

const owner = (what: string): OptionDef => ({ short: "o", long: "owner", metavar: "USER", help: `The user who owns the image, for ${what} of images owned by someone else.` });
const force = (what: string): OptionDef => ({ short: "f", long: "force", help: `Do not ask for confirmation before ${what}.` });
const access: OptionDef = { short: "a", long: "unauthenticated_access", metavar: "{true,false}", choices: ["true", "false"], help: "Whether anyone may download the image without a certificate." };
const description: OptionDef = { short: "d", long: "description", metavar: "DESCRIPTION", help: "Description of the image." };
const osArch: OptionDef = { long: "os_arch", metavar: "ARCH", choices: OS_ARCHES, help: `Operating system architecture: ${OS_ARCHES.join(", ")}.` };
const osType: OptionDef = { long: "os_type", metavar: "TYPE", help: "Operating system type, e.g. linux." };
const osVariant: OptionDef = { long: "os_variant", metavar: "VARIANT", help: "Operating system variant, e.g. sl6." };
const readOnly: OptionDef = {
  long: "read_only",
  metavar: "{true,false}",
  choices: ["true", "false"],
  help: "Protect the image (new): no upload, rollback, metadata change or deletion until it is set back to false by its owner or an admin.",
};
const expires: OptionDef = { long: "expires", metavar: "WHEN", help: "When the image expires (new): an ISO date or date-time (2027-06-30), a time from now (90m, 12h, 30d, 8w), or never." };
const keepVersions: OptionDef = { long: "keep_versions", metavar: "N", help: "How many versions of each file to keep (new); 0 keeps all, default goes back to the server's setting." };
const comment: OptionDef = { short: "c", long: "comment", metavar: "TEXT", help: "A note kept with the new version (new), shown by list-images IMAGE --versions." };
const hypervisorOf = (help: string): OptionDef => ({ short: "h", long: "hypervisor", metavar: "HYPERVISOR", complete: "hypervisor", help });
const image: ArgDef = { name: "image", help: "The name of the image.", arity: "one" };
const listName = (rest: string): ArgDef => ({ name: "list", help: `The list, as OWNER/NAME or NAME${rest}`, arity: "one" });
const user: ArgDef = { name: "user", help: "The user name.", arity: "one" };
const group: ArgDef = { name: "group", help: "The group name.", arity: "one" };

const shareCommand = (name: string, alias: string, on: boolean, kind: "user" | "group"): CommandDef => ({
  name,
  aliases: [alias],
  section: "Images",
  summary: `${on ? "Share" : "Stop sharing"} an image with ${kind}s.`,
  args: [image, { name: `${kind}s`, help: `Comma-separated list of ${kind} names.`, arity: "one" }],
  options: [owner(`${on ? "sharing" : "unsharing"}`)],
});

export const COMMANDS: CommandDef[] = [
  { name: "help", section: "Miscellaneous", summary: "Show help for repoman or one of its subcommands.", args: [{ name: "subcommand", help: "The subcommand to describe.", arity: "optional", complete: "command" }], options: [] },
  { name: "version", section: "Miscellaneous", summary: "Print the client's version.", args: [], options: [] },
  { name: "whoami", section: "Miscellaneous", summary: "Print the user name the server knows you by.", args: [], options: [], json: true },
  { name: "about", section: "Miscellaneous", summary: "Show the client's configuration: server, credential, snapshot settings and logging.", args: [], options: [] },
  {
    name: "make-config",
    aliases: ["mc"],
    section: "Miscellaneous",
    summary: "Write a configuration file template to ~/.repoman/repoman.conf.",
    description: "Every key is commented out at its default. An existing file is kept as repoman.conf.bak.",
    args: [],
    options: [{ long: "stdout", help: "Print the template instead of writing it." }],
  },
  {
    name: "completion",
    section: "Miscellaneous",
    summary: "Print the bash completion script (new): eval \"$(repoman completion)\".",
    args: [],
    options: [],
  },

  {
    name: "create-image",
    aliases: ["ci"],
    section: "Images",
    summary: "Create a new image slot on the server (its files are uploaded with put-image).",
    args: [image],
    options: [
      access,
      description,
      { short: "h", long: "hypervisor", metavar: "HYPERVISOR", complete: "hypervisor", help: `Comma-separated hypervisors the image runs on (${HYPERVISORS.join(", ")}); default xen.` },
      { short: "o", long: "owner", metavar: "USER", help: "Create the image in another user's namespace (admins)." },
      osArch,
      osType,
      osVariant,
      readOnly,
      expires,
      keepVersions,
    ],
  },
  {
    name: "modify-image",
    aliases: ["mi"],
    section: "Images",
    summary: "Change an image's metadata, name or owner.",
    args: [image],
    options: [
      access,
      description,
      force("deleting the files of hypervisors left out of -h"),
      hypervisorOf("Comma-separated hypervisors; a hypervisor left out loses its file and its versions (after a confirmation)."),
      { short: "n", long: "new_name", metavar: "NAME", help: "Rename the image." },
      { short: "N", long: "new_owner", metavar: "USER", help: "Give the image to another user." },
      owner("changes"),
      osArch,
      osType,
      osVariant,
      readOnly,
      expires,
      keepVersions,
    ],
  },
  {
    name: "rename",
    section: "Images",
    summary: "Rename an image (the first client's command): the same as modify-image -n NEW OLD.",
    description: "Renaming never touches the image's files, versions or sharing; a read-only image cannot be renamed.",
    args: [
      { name: "old", help: "The image's name.", arity: "one" },
      { name: "new", help: "Its new name.", arity: "one" },
    ],
    options: [owner("renaming")],
  },
  {
    name: "list-images",
    aliases: ["li"],
    section: "Images",
    summary: "List your images, or describe one.",
    description: "Without arguments: your images. With an image name: all its metadata, or with --versions the versions kept of its files. An image shared with you is found without -o when you can see only one image of that name.",
    args: [{ name: "image", help: "Describe this image.", arity: "optional" }],
    options: [
      { short: "a", long: "all", help: "Your images and those shared with you." },
      { short: "g", long: "group", metavar: "GROUP", help: "Images shared with GROUP (you must be a member)." },
      { short: "u", long: "user", metavar: "USER", help: "Images you share with USER and USER shares with you." },
      { short: "o", long: "owner", metavar: "USER", help: "The owner of the image to describe; without an image, list USER's images." },
      { short: "s", long: "short", help: "Only owner/name, one per line." },
      { short: "U", long: "urls", help: "The download URLs of each image." },
      { short: "l", long: "long", help: "Two more columns: the format and virtual size of each image's latest upload (new)." },
      { long: "versions", help: "With an image name: the versions kept of its files, newest first, with their formats and virtual sizes (new)." },
    ],
    exclusive: [
      ["short", "urls", "versions", "long"],
      ["all", "group", "user", "image"],
    ],
    json: true,
  },
  {
    name: "list",
    section: "Images",
    summary: "List the images you can see, one owner/name per line (the first client's command).",
    description: "Your own images and those shared with you, directly or through one of your groups, sorted by name: the same as list-images -a -s. Public images of others are not listed; list-images -o USER lists a user's images.",
    args: [],
    options: [],
  },
  {
    name: "describe-image",
    aliases: ["di"],
    section: "Images",
    summary: "Print an image's metadata as a Python dictionary (the first client's command).",
    description:
      "The server's JSON of the image, printed exactly as the first client printed it with Python 2's pprint: keys sorted, one per line when the whole does not fit in 80 columns, strings as u'...', None, True and False, times as the server's ctime strings. list-images IMAGE shows the same metadata as a key : value table. An image shared with you is found without -o when you can see only one image of that name.",
    args: [{ name: "image", help: "The name of the image.", arity: "one" }],
    options: [owner("describing")],
  },
  {
    name: "put-image",
    aliases: ["pi"],
    section: "Images",
    summary: "Upload an image file into an image slot.",
    description:
      "The file goes in chunks, each checked by the server's SHA-256, with progress on a terminal; a chunk lost with the connection is sent again, and if the command is killed, running it again continues where the server has bytes. The whole file is checked against the server's SHA-256 of what it stored, and becomes the image's next version.",
    args: [
      { name: "file", help: "The local image file.", arity: "one", complete: "file" },
      image,
    ],
    options: [
      comment,
      force("uploading a new version over the image's existing file"),
      hypervisorOf("Hypervisor of this file; needed when the image has several."),
      owner("uploads"),
      { long: "chunk_size", metavar: "MB", integer: true, help: "Send the file in chunks of this many MB (default 32); a lost connection costs at most one chunk (new)." },
      { long: "restart", help: "Start the upload over instead of continuing an interrupted one of this file (new)." },
    ],
  },
  {
    name: "get-image",
    aliases: ["gi", "get"],
    section: "Images",
    summary: "Download an image file (new).",
    description:
      "The download is pinned to one version: the current one, or --version N. An interrupted download is resumed by running the same command again, from NAME.part, as long as that version is kept; if the image has changed meanwhile it starts again and says so. The file is checked against the server's SHA-256 before it gets its name.",
    args: [image],
    options: [
      { short: "p", long: "path", metavar: "PATH", complete: "file", help: "Where to save the file (default: the image name, in the current directory)." },
      hypervisorOf("Which hypervisor's file; needed when the image has several."),
      owner("downloads"),
      force("replacing an existing file at PATH"),
      { long: "version", metavar: "N", integer: true, help: "Download version N instead of the current one (list-images IMAGE --versions lists them)." },
      {
        long: "format",
        metavar: "FORMAT",
        choices: CONVERT_FORMATS,
        help: "Convert the file to raw or qcow2 once it is downloaded and checked, with qemu-img (which must be on your PATH); the converted file replaces the download at PATH (new).",
      },
    ],
  },
  {
    name: "rollback-image",
    aliases: ["rbi"],
    section: "Images",
    summary: "Make an older version of an image's file current again (new).",
    description: "The older version becomes the newest, as a new entry in the history: nothing is copied, and nothing is lost. list-images IMAGE --versions shows the history.",
    args: [image],
    options: [
      comment,
      hypervisorOf("Which hypervisor's file; needed when several have files."),
      owner("rollbacks"),
      { long: "version", metavar: "N", integer: true, help: "The version to go back to (default: the one before the current one)." },
    ],
  },
  {
    name: "remove-image",
    aliases: ["ri", "delete"],
    section: "Images",
    summary: "Delete an image, its files and all their versions.",
    description: "Before asking, it says whether the image is public, whom it is shared with, and how many versions go with it. A read-only image cannot be deleted.",
    args: [image],
    options: [force("deleting"), owner("deleting")],
  },
  {
    name: "save-image",
    aliases: ["si", "save"],
    section: "Images",
    summary: "Snapshot this system (or a directory) into an image and upload it.",
    description:
      "Copies the source with rsync into a staging directory (kept between runs), builds an ext filesystem from it with mke2fs -d, partitioned and with a boot loader when the source is bootable and grub-install is available, and uploads it once per hypervisor. [ThisImage] system_excludes and user_excludes are left out, relative to the source.",
    args: [image],
    options: [
      access,
      { long: "clean", help: "Start from an empty staging directory." },
      comment,
      description,
      force("overwriting an existing image"),
      { long: "gzip", help: "Upload the image gzip-compressed (compressed while uploading; the name gets .gz)." },
      { short: "h", long: "hypervisor", metavar: "HYPERVISOR", complete: "hypervisor", help: "Comma-separated hypervisors (new; default: detected from the running system and /boot/grub/grub.conf-<hypervisor>)." },
      owner("saving into an image owned by someone else"),
      osArch,
      osType,
      osVariant,
      { long: "resize", metavar: "SIZE", integer: true, help: "Size of the image file in MB (default: the size of the root filesystem for /, the used space plus room to grow for --source)." },
      { long: "source", metavar: "DIR", complete: "directory", help: "Snapshot this directory instead of the running system / (new)." },
      { long: "verbose", help: "Show what rsync and mke2fs do." },
    ],
  },
  shareCommand("share-image-with-groups", "sig", true, "group"),
  shareCommand("share-image-with-users", "siu", true, "user"),
  shareCommand("unshare-image-with-groups", "uig", false, "group"),
  shareCommand("unshare-image-with-users", "uiu", false, "user"),

  {
    name: "publish-list",
    aliases: ["pl"],
    section: "Image lists",
    summary: "Publish an image list for grid sites, or update one (new).",
    description:
      "Creates the list, or updates it when it exists: the images given replace its entries, and the other fields change only when given. Sites subscribe to the signed list (image.list) with vmcatcher or cloudkeeper; its version rises whenever a listed image changes. Only public images can be listed. The list's owner, the members of its group and admins may change it.",
    args: [
      listName(" for your own; a new list is always yours."),
      { name: "images", help: "The image files listed: OWNER/IMAGE[:HYPERVISOR][@VERSION], or IMAGE[:HYPERVISOR][@VERSION] for your own. The hypervisor is needed when the image has files for several; @VERSION pins the entry to that version, else it follows the current one.", arity: "many" },
    ],
    options: [
      { short: "t", long: "title", metavar: "TITLE", help: "The list's title (needed to create it)." },
      { short: "d", long: "description", metavar: "DESCRIPTION", help: "Description of the list." },
      { long: "expires", metavar: "WHEN", help: "When subscribers stop trusting the list: an ISO date or date-time (2027-06-30), or a time from now (90m, 12h, 30d, 8w); a new list expires in 28 days, and an update keeps the expiry unless this is given. Sites refuse an expired list." },
      { short: "g", long: "group", metavar: "GROUP", help: "A group of yours whose members may change the list too; '' for none." },
    ],
  },
  {
    name: "list-lists",
    aliases: ["ll"],
    section: "Image lists",
    summary: "List the image lists published on the server (new).",
    args: [],
    options: [],
    json: true,
  },
  {
    name: "show-list",
    aliases: ["sl"],
    section: "Image lists",
    summary: "Show an image list: its fields, and what each entry lists now or why it lists nothing (new).",
    description: "NAME alone is your own list, or the only list of that name. --signed prints the signed document sites subscribe to: repoman show-list site --signed > image.list, checked with openssl smime -verify -in image.list -CApath /etc/grid-security/certificates.",
    args: [listName(" for your own or the only one of that name.")],
    options: [{ long: "signed", help: "Print the signed S/MIME document (image.list) instead." }],
    exclusive: [["signed", "json"]],
    json: true,
  },
  {
    name: "remove-list",
    aliases: ["rl"],
    section: "Image lists",
    summary: "Withdraw an image list (new); the images in it are not touched.",
    description: "Sites subscribed to it get no more updates. The list's owner, the members of its group and admins may remove it.",
    args: [listName(" for your own.")],
    options: [force("removing")],
  },

  {
    name: "create-user",
    aliases: ["cu"],
    section: "Users",
    summary: "Register a new user.",
    args: [user, { name: "client_dn", help: "The DN of the user's certificate, e.g. '/C=CA/O=Grid/CN=Jane Doe'.", arity: "one" }],
    options: [
      { short: "e", long: "email", metavar: "EMAIL", help: "The user's email address." },
      { short: "f", long: "full_name", metavar: "FULL_NAME", help: "The user's full name." },
    ],
  },
  {
    name: "list-users",
    aliases: ["lu"],
    section: "Users",
    summary: "List users, or describe one.",
    args: [{ name: "user", help: "Describe this user.", arity: "optional" }],
    options: [
      { short: "g", long: "group", metavar: "GROUP", help: "Only the members of GROUP." },
      { short: "s", long: "short", help: "Only user names." },
    ],
    exclusive: [["group", "user"]],
    json: true,
  },
  {
    name: "modify-user",
    aliases: ["mu"],
    section: "Users",
    summary: "Change a user's certificate DN, email or full name.",
    args: [user],
    options: [
      { short: "c", long: "client_dn", metavar: "DN", help: "The DN of the user's new certificate." },
      { short: "e", long: "email", metavar: "EMAIL", help: "New email address." },
      { short: "f", long: "full_name", metavar: "FULL_NAME", help: "New full name." },
      { short: "n", long: "new_name", metavar: "NAME", help: "Not supported: users cannot be renamed." },
    ],
  },
  {
    name: "remove-user",
    aliases: ["ru"],
    section: "Users",
    summary: "Delete a user and all their images.",
    args: [user],
    options: [force("deleting")],
  },

  {
    name: "create-group",
    aliases: ["cg"],
    section: "Groups",
    summary: "Create a group, with permissions and members.",
    args: [group],
    options: [
      { short: "p", long: "permissions", metavar: "PERMISSIONS", complete: "permission", help: `Comma-separated permissions: ${PERMISSIONS.join(", ")}.` },
      { short: "u", long: "users", metavar: "USERS", help: "Comma-separated user names." },
    ],
  },
  {
    name: "list-groups",
    aliases: ["lg"],
    section: "Groups",
    summary: "List your groups, or describe one.",
    args: [{ name: "group", help: "Describe this group.", arity: "optional" }],
    options: [
      { short: "a", long: "all", help: "All groups." },
      { short: "u", long: "user", metavar: "USER", help: "The groups USER belongs to." },
      { short: "s", long: "short", help: "Only group names." },
    ],
    exclusive: [["all", "user", "group"]],
    json: true,
  },
  {
    name: "modify-group",
    aliases: ["mg"],
    section: "Groups",
    summary: "Rename a group, or set its permissions or members.",
    description: "-p and -u replace the group's permissions or members with exactly the given lists.",
    args: [group],
    options: [
      { short: "n", long: "new_name", metavar: "NAME", help: "Rename the group." },
      { short: "p", long: "permissions", metavar: "PERMISSIONS", complete: "permission", help: "Comma-separated permissions the group should have." },
      { short: "u", long: "users", metavar: "USERS", help: "Comma-separated user names the group should have." },
    ],
  },
  {
    name: "remove-group",
    aliases: ["rg"],
    section: "Groups",
    summary: "Delete a group.",
    args: [group],
    options: [force("deleting")],
  },
  {
    name: "add-users-to-group",
    aliases: ["aug"],
    section: "Groups",
    summary: "Add users to a group.",
    args: [group, { name: "users", help: "User names, separated by spaces.", arity: "many" }],
    options: [],
  },
  {
    name: "remove-users-from-group",
    aliases: ["rug"],
    section: "Groups",
    summary: "Remove users from a group.",
    args: [group, { name: "users", help: "User names, separated by spaces.", arity: "many" }],
    options: [],
  },
  {
    name: "add-permissions-to-group",
    aliases: ["apg"],
    section: "Groups",
    summary: "Grant permissions to a group.",
    args: [group, { name: "permissions", help: "Comma-separated permissions.", arity: "one", complete: "permission" }],
    options: [],
  },
  {
    name: "remove-permissions-from-group",
    aliases: ["rpg"],
    section: "Groups",
    summary: "Revoke permissions from a group.",
    args: [group, { name: "permissions", help: "Comma-separated permissions.", arity: "one", complete: "permission" }],
    options: [],
  },
];

export const findCommand = (name: string): CommandDef | undefined => COMMANDS.find((c) => c.name === name || !!c.aliases?.includes(name));

// The name and every alias of a command.
export const namesOf = (c: CommandDef): string[] => [c.name, ...(c.aliases ?? [])];

// Every subcommand takes --help; list and describe commands take --json.
export function optionsOf(c: CommandDef): OptionDef[] {
  const extra: OptionDef[] = [{ long: "help", help: "Show this help." }];
  if (c.json) extra.unshift({ long: "json", help: "Print JSON instead of text (new), for scripts." });
  return [...c.options, ...extra];
}
