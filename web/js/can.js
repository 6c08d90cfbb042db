// What the page offers whom. This mirrors src/policy/authorize.ts so that the page never shows
// an action the server would refuse; the server's 403 remains the real guard.
import { get, lastSegment, paths } from "./api.js";

// Lists the server owns and the page must not copy, each fetched once (again after a failure).
const fetched = new Map();
function once(path) {
  if (!fetched.has(path)) {
    fetched.set(
      path,
      get(path).catch((e) => {
        fetched.delete(path);
        throw e;
      }),
    );
  }
  return fetched.get(path);
}
/** Every permission a group can grant, as [{ name, description }]. */
export const permissions = () => once("/api/permissions");
/** The JSON Schema of an image's fields: allowed architectures and hypervisors, limits. */
export const imageSchema = () => once("/api/schemas/image");
/** The architectures and hypervisors an image may declare, from that schema. */
export const imageChoices = (schema) => ({ osArches: schema.properties.os_arch.enum, hypervisors: schema.properties.hypervisor.items.enum });
const PROTECTED_GROUPS = new Set(["admins", "users"]);

/**
 * The signed-in user, from /api/whoami, or an anonymous session (me = null) with the reason the
 * server gave (no certificate, unregistered DN, suspended account).
 */
export function makeSession(me, problem = null) {
  const groups = me ? me.groups.map(lastSegment) : [];
  return {
    me,
    problem,
    name: me?.user_name ?? null,
    groups,
    isAdmin: groups.includes("admins"),
    perms: new Set(me?.permissions ?? []),
    groupPerms: null, // Map group → Set(permission), loaded on demand
  };
}

const has = (s, p) => !!s.me && (s.isAdmin || s.perms.has(p));

export const can = {
  signedIn: (s) => !!s.me,
  createImage: (s) => has(s, "image_create"),
  createImageForOthers: (s) => !!s.me && s.isAdmin,
  // Users
  createUser: (s) => has(s, "user_create"),
  deleteUser: (s, name) => has(s, "user_delete") && name !== s.name,
  editUserDn: (s) => has(s, "user_modify"),
  editUserProfile: (s, name) => has(s, "user_modify") || (!!s.me && name === s.name && s.perms.has("user_modify_self")),
  suspendUser: (s, name) => !!s.me && s.isAdmin && name !== s.name,
  setQuota: (s) => !!s.me && s.isAdmin,
  seeUserPrivate: (s, name) => has(s, "user_modify") || name === s.name,
  // Groups
  createGroup: (s) => has(s, "group_create"),
  renameGroup: (s, g) => !PROTECTED_GROUPS.has(g) && has(s, "group_modify"),
  deleteGroup: (s, g) => !PROTECTED_GROUPS.has(g) && has(s, "group_delete"),
  changeMembers: (s, g) => !!s.me && (s.isAdmin || (g !== "admins" && s.perms.has("group_modify_membership"))),
  changePermission: (s, g, p) => !!s.me && (s.isAdmin || (g !== "admins" && s.perms.has("group_modify_permissions") && s.perms.has(p))),
  shareWithGroup: (s, g) => !!s.me && (s.isAdmin || s.groups.includes(g)),
  /** Groups the user may share images with. */
  shareableGroups: (s, allGroups) => (s.isAdmin ? allGroups : s.groups),
  // Image lists: publishing one is as much a right as creating images; its owner, the members of
  // its group and admins change it.
  createList: (s) => has(s, "image_create"),
  changeList: (s, list) => !!s.me && (s.isAdmin || list.owner === s.name || (list.group !== null && s.groups.includes(list.group))),
  // Audit log
  readAudit: (s) => !!s.me && s.isAdmin,
};

async function groupPermissions(s) {
  if (!s.groupPerms) {
    const entries = await Promise.all(s.groups.map(async (g) => [g, new Set(await get(`${paths.group(g)}/permissions`))]));
    s.groupPerms = new Map(entries);
  }
  return s.groupPerms;
}

/**
 * What the session may do to an image: { modify, delete } (modify covers editing, uploading,
 * sharing, renaming and publishing). Owners need image_modify / image_delete; others need the
 * _group permission from a group the owner belongs to; admins may do everything.
 */
export async function imagePowers(s, image) {
  if (!s.me) return { modify: false, delete: false };
  if (s.isAdmin) return { modify: true, delete: true };
  if (image.owner_user_name === s.name) return { modify: s.perms.has("image_modify"), delete: s.perms.has("image_delete") };
  if (!s.perms.has("image_modify_group") && !s.perms.has("image_delete_group")) return { modify: false, delete: false };
  try {
    const [mine, ownerGroups] = await Promise.all([groupPermissions(s), get(`${paths.user(image.owner_user_name)}/groups`)]);
    const shared = ownerGroups.map(lastSegment).filter((g) => mine.has(g));
    return {
      modify: shared.some((g) => mine.get(g).has("image_modify_group")),
      delete: shared.some((g) => mine.get(g).has("image_delete_group")),
    };
  } catch {
    return { modify: false, delete: false };
  }
}
