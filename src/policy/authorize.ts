// The one place that decides who may do what. Callers describe the action; this answers
// allow or deny with a reason. Deny by default: an action not listed here is never allowed.
import type { Actor } from "./actor.js";
import { ADMINS_GROUP, type Permission } from "./permissions.js";
import { conflict, forbidden } from "../errors.js";

interface UserRef {
  userId: string;
}
interface GroupRef {
  name: string;
  protected: boolean;
}
// What policy needs to know about an image: whose it is and whom it is shared with.
export interface ImageRef {
  ownerId: string;
  ownerGroupIds: readonly string[];
  sharedWithUserIds: readonly string[];
  sharedWithGroupIds: readonly string[];
  public: boolean;
  expired: boolean;
  readOnly: boolean;
}

export type Action =
  | { do: "user.list" }
  | { do: "user.read"; target: UserRef }
  | { do: "user.read_private"; target: UserRef } // email and quota of someone else
  | { do: "user.create"; fields: readonly string[] }
  | { do: "user.modify"; target: UserRef; fields: readonly string[] }
  | { do: "user.delete"; target: UserRef }
  | { do: "group.list" }
  | { do: "group.read"; group: GroupRef }
  | { do: "group.create" }
  | { do: "group.rename"; group: GroupRef }
  | { do: "group.delete"; group: GroupRef }
  | { do: "group.membership"; group: GroupRef }
  | { do: "group.permission"; group: GroupRef; permission: Permission }
  | { do: "image.create"; ownerId: string }
  // `fields`: the image's fields (JSON keys) the change really alters.
  | { do: "image.modify"; image: ImageRef; fields: readonly string[] }
  | { do: "image.upload"; image: ImageRef } // new content: an upload or a rollback
  | { do: "image.share"; image: ImageRef }
  | { do: "image.delete"; image: ImageRef }
  | { do: "image.share_with_group"; image: ImageRef; groupId: string }
  | { do: "audit.read" }
  | { do: "list.create" }
  | { do: "list.modify"; list: ListRef } // also deleting it
  | { do: "list.add_image"; image: ImageRef }
  | { do: "list.give_to_group"; groupId: string }; // whose members may then change the list

// What policy needs to know about an image list: whose it is, and which group may manage it too.
export interface ListRef {
  ownerId: string;
  groupId: string | null;
}

// `conflict`: refused because of the resource's state (read-only), not for lack of a right.
export type Decision = { allowed: true } | { allowed: false; reason: string; conflict?: boolean };

const ALLOW: Decision = { allowed: true };
const deny = (reason: string): Decision => ({ allowed: false, reason });

const READS = new Set<Action["do"]>(["user.list", "user.read", "user.read_private", "group.list", "group.read", "audit.read"]);

// Fields a user may change on their own record with user_modify_self.
const SELF_EDITABLE = new Set(["full_name", "email"]);
// Fields only admins may change: they decide who may use the repository and how much.
const ADMIN_ONLY_FIELDS = new Set(["suspended", "quota"]);

function adminOnlyField(fields: readonly string[]): Decision | undefined {
  const f = fields.find((f) => ADMIN_ONLY_FIELDS.has(f));
  return f === undefined ? undefined : deny(`only admins may set '${f}'`);
}

function need(actor: Actor, p: Permission): Decision {
  return actor.permissions.has(p) ? ALLOW : deny(`requires the '${p}' permission`);
}

export function authorize(actor: Actor, action: Action): Decision {
  // Protected groups keep their names and existence even for admins: the server refers to them by name.
  if ((action.do === "group.rename" || action.do === "group.delete") && action.group.protected) {
    return deny(`group '${action.group.name}' is protected`);
  }
  if (actor.readOnly && !READS.has(action.do)) return deny("a limited proxy grants read-only access");
  const frozen = readOnlyImage(actor, action);
  if (frozen) return frozen;
  // Sites download anonymously: a list names only images anyone may download, whoever lists them.
  if (action.do === "list.add_image" && (!action.image.public || action.image.expired)) {
    return deny("only public images (unauthenticated_access true) that have not expired can be listed: grid sites download them anonymously");
  }
  if (actor.isAdmin) return ALLOW;

  switch (action.do) {
    case "user.list":
    case "user.read":
    case "group.list":
    case "group.read":
      return ALLOW;
    case "user.read_private":
      return action.target.userId === actor.userId ? ALLOW : need(actor, "user_modify");
    case "user.create":
      return adminOnlyField(action.fields) ?? need(actor, "user_create");
    case "user.modify": {
      const adminOnly = adminOnlyField(action.fields);
      if (adminOnly) return adminOnly;
      if (actor.permissions.has("user_modify")) return ALLOW;
      if (action.target.userId !== actor.userId) return deny("requires the 'user_modify' permission");
      const other = action.fields.find((f) => !SELF_EDITABLE.has(f));
      if (other) return deny(`changing your own '${other}' requires the 'user_modify' permission`);
      return need(actor, "user_modify_self");
    }
    case "user.delete":
      return need(actor, "user_delete");
    case "group.create":
      return need(actor, "group_create");
    case "group.rename":
      return need(actor, "group_modify");
    case "group.delete":
      return need(actor, "group_delete");
    case "group.membership":
      if (action.group.name === ADMINS_GROUP) return deny("only admins may change the members of 'admins'");
      return need(actor, "group_modify_membership");
    case "image.create":
      return action.ownerId === actor.userId ? need(actor, "image_create") : deny("only admins may create images in another user's namespace");
    case "image.modify":
    case "image.upload":
    case "image.share":
      return imagePower(actor, action.image, "image_modify", "image_modify_group");
    case "image.delete":
      return imagePower(actor, action.image, "image_delete", "image_delete_group");
    case "image.share_with_group": {
      const d = imagePower(actor, action.image, "image_modify", "image_modify_group");
      if (!d.allowed) return d;
      return actor.groups.some((g) => g.id === action.groupId) ? ALLOW : deny("you may share only with groups you belong to");
    }
    case "audit.read":
      return deny("only admins may read the audit log");
    // Publishing lists images for grid sites: as much a right as creating images is.
    case "list.create":
      return need(actor, "image_create");
    case "list.modify":
      if (action.list.ownerId === actor.userId) return ALLOW;
      return actor.groups.some((g) => g.id === action.list.groupId) ? ALLOW : deny("only the list's owner, members of its group and admins may change it");
    case "list.add_image":
      return ALLOW; // public, as checked for everyone above
    case "list.give_to_group":
      return actor.groups.some((g) => g.id === action.groupId) ? ALLOW : deny("you may give a list only to groups you belong to");
    case "group.permission":
      if (action.group.name === ADMINS_GROUP) return deny("only admins may change the permissions of 'admins'");
      // Granting what you do not hold would let a permission manager escalate to anything.
      if (!actor.permissions.has(action.permission)) return deny(`you cannot grant or revoke '${action.permission}', which you do not hold`);
      return need(actor, "group_modify_permissions");
  }
}

// A read-only image keeps its content and metadata, for admins too, until read_only is cleared,
// which only its owner or an admin may do (a request that clears it may change other fields too:
// clearing is the deliberate act). Sharing stays open: it changes who sees the image, not the
// image. Deleting is refused rather than allowed to admins, so that nothing is lost by a slip.
function readOnlyImage(actor: Actor, action: Action): Decision | undefined {
  if (!("image" in action) || !action.image.readOnly) return undefined;
  const frozen = (what: string): Decision => ({ allowed: false, conflict: true, reason: `the image is read-only: ${what}; clear read_only first (modify-image --read_only false)` });
  switch (action.do) {
    case "image.upload":
      return frozen("its files cannot be replaced or rolled back");
    case "image.delete":
      return frozen("it cannot be deleted");
    case "image.modify":
      if (action.fields.includes("read_only")) return actor.isAdmin || action.image.ownerId === actor.userId ? undefined : deny("only the image's owner or an admin may clear read_only");
      return action.fields.length === 0 ? undefined : frozen(`'${action.fields[0]}' cannot be changed`);
    default:
      return undefined;
  }
}

// Owners act on their own images with the plain permission; the _group permission reaches images
// owned by members of the group that grants it.
function imagePower(actor: Actor, image: ImageRef, own: Permission, group: Permission): Decision {
  if (image.ownerId === actor.userId) return need(actor, own);
  const owners = new Set(image.ownerGroupIds);
  if (actor.groups.some((g) => g.permissions.has(group) && owners.has(g.id))) return ALLOW;
  return deny(`requires ownership or the '${group}' permission in a group of the owner`);
}

// Who may see an image and download its files. Anonymous callers (null) see public images only.
// Expired images are hidden from everyone but their owner and admins.
export function maySeeImage(actor: Actor | null, image: ImageRef): boolean {
  if (actor && (actor.isAdmin || actor.userId === image.ownerId)) return true;
  if (image.expired) return false;
  if (image.public) return true;
  if (!actor) return false;
  if (image.sharedWithUserIds.includes(actor.userId)) return true;
  const mine = new Set(actor.groups.map((g) => g.id));
  return image.sharedWithGroupIds.some((g) => mine.has(g)) || imagePower(actor, image, "image_modify", "image_modify_group").allowed;
}

// Whom an image is shared with is for users of the repository, not for anonymous viewers of a
// public image.
export const maySeeShares = (actor: Actor | null): boolean => actor !== null;

// maySeeImage for many images at once: the same rules as a description the metadata store turns
// into a query (public and not expired; own; shared with me or my groups; owned by members of a
// group that gives me an _group permission; admins see everything).
export interface ImageScope {
  everything: boolean;
  userId: string | null;
  groupIds: readonly string[];
  ownerGroupIds: readonly string[];
}

// `ownerId`: the listing is limited to this owner's images (everything, when it is the actor).
export function imageScope(actor: Actor | null, ownerId?: string): ImageScope {
  if (!actor) return { everything: false, userId: null, groupIds: [], ownerGroupIds: [] };
  return {
    everything: actor.isAdmin || ownerId === actor.userId,
    userId: actor.userId,
    groupIds: actor.groups.map((g) => g.id),
    ownerGroupIds: actor.groups.filter((g) => g.permissions.has("image_modify_group")).map((g) => g.id),
  };
}

export function authorizeOrThrow(actor: Actor, action: Action): void {
  const d = authorize(actor, action);
  if (!d.allowed) throw d.conflict ? conflict(d.reason) : forbidden(`not allowed: ${d.reason}`);
}
