// The 14 named permissions of the original Repoman, with the meaning its man page gives them.
// A user holds the union of the permissions of their groups; members of `admins` may do anything.

export const PERMISSIONS = {
  user_create: "create users",
  user_modify: "modify any user",
  user_delete: "delete users",
  user_modify_self: "modify your own full name and email",
  group_create: "create groups",
  group_modify: "rename groups",
  group_delete: "delete groups",
  group_modify_membership: "add and remove group members",
  group_modify_permissions: "grant and revoke group permissions",
  image_create: "create images in your own namespace",
  image_modify: "modify, upload to and share your own images",
  image_delete: "delete your own images",
  image_modify_group: "modify, upload to and share images owned by members of the group granting it",
  image_delete_group: "delete images owned by members of the group granting it",
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

// The original gave `users` only user_modify_self and image_create, but let owners manage their
// images regardless. Enforcing image_modify/image_delete as "own images" keeps that behaviour
// only if `users` holds them, so new repositories grant them; admins may revoke them.
export const DEFAULT_USER_PERMISSIONS: Permission[] = ["user_modify_self", "image_create", "image_modify", "image_delete"];

export const ADMINS_GROUP = "admins";
export const USERS_GROUP = "users";

export function isPermission(name: string): name is Permission {
  return Object.prototype.hasOwnProperty.call(PERMISSIONS, name);
}
