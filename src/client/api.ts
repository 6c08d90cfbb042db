// The Repoman REST API, typed: one method per operation the command-line client performs.
// Image objects are asked for with ISO timestamps (?timestamps=iso) so they convert exactly.
import { errorFromReply, type Connection } from "./connection.js";

export interface UserJson {
  user_name: string;
  full_name: string | null;
  email: string | null;
  client_dn: string;
  suspended: boolean;
  permissions: string[];
  groups: string[];
  images: string[];
  quota?: number;
  created?: string | null;
  // whoami only: the caller's VOMS FQANs, the groups they give this request, refused ACs.
  voms?: { fqans: string[]; groups: string[]; refused: string[] } | null;
}

export interface GroupJson {
  name: string;
  permissions: string[];
  users: string[];
  protected?: boolean;
}

export interface Checksum {
  type: string | null;
  value: string | null;
}

export interface ImageFileJson {
  size: number;
  checksum: Checksum;
  uploaded: string | null;
  version?: number;
  format?: string | null; // null: uploaded before the server detected formats
  virtual_size?: number | null;
}

export interface VersionJson {
  hypervisor: string;
  version: number;
  current: boolean;
  size: number;
  checksum: Checksum;
  uploaded: string | null;
  uploader: string | null;
  comment: string | null;
  restored_from: number | null;
  format?: string | null;
  virtual_size?: number | null;
  file_url: string;
  digest_url: string;
}

export interface ImageJson {
  uuid: string;
  name: string;
  owner_user_name: string;
  owner: string;
  uploaded: string | null;
  modified: string | null;
  expires: string | null;
  checksum: Checksum;
  os_variant: string | null;
  os_type: string | null;
  os_arch: string | null;
  hypervisor: string;
  description: string | null;
  read_only: boolean;
  unauthenticated_access: boolean;
  http_file_url: string | null;
  raw_file_uploaded: boolean;
  version: number;
  size: number | null;
  file_url: string;
  shared_with: { groups: string[]; users: string[] };
  created?: string | null;
  files?: Record<string, ImageFileJson>;
  keep_versions?: number | null;
  format?: string | null; // of the latest upload, as size is
  virtual_size?: number | null;
}

// An image list (HEPiX) as GET /api/lists/OWNER/NAME shows it: each entry with the version it
// lists now, or why it lists nothing.
export interface ListEntryJson {
  image: string; // OWNER/IMAGE
  hypervisor: string;
  pinned: number | null;
  version?: number;
  size?: number;
  sha512?: string;
  omitted?: string;
}

export interface ListJson {
  owner: string;
  name: string;
  identifier: string;
  title: string;
  description: string;
  group: string | null;
  expires: string;
  version: number;
  signed: string | null;
  created: string;
  modified: string;
  url: string; // the signed image.list, what sites subscribe to
  json_url: string;
  images: ListEntryJson[];
}

export type ListSummaryJson = Pick<ListJson, "owner" | "name" | "title" | "identifier" | "version" | "expires" | "url">;

export type Form = Record<string, string | undefined>;

const seg = encodeURIComponent;
const ISO = "timestamps=iso";

// The last path segment of a resource URL is its name.
export const nameFromUrl = (url: string) => decodeURIComponent(url.replace(/\/+$/, "").split("/").pop() ?? url);

export const hypervisorsOf = (image: ImageJson) => image.hypervisor.split(",").map((h) => h.trim()).filter(Boolean);

export function imagePath(owner: string | undefined, name: string): string {
  return owner ? `/api/images/${seg(owner)}/${seg(name)}` : `/api/images/${seg(name)}`;
}

export function rawPath(owner: string, hypervisor: string, name: string): string {
  return `/api/images/raw/${seg(owner)}/${seg(hypervisor)}/${seg(name)}`;
}

export const listPath = (owner: string, name: string) => `/api/lists/${seg(owner)}/${seg(name)}`;

export class RepomanApi {
  constructor(readonly connection: Connection) {}

  whoami = () => this.connection.json<UserJson>("GET", "/api/whoami");

  user = (u: string) => this.connection.json<UserJson>("GET", `/api/users/${seg(u)}`);
  userUrls = () => this.connection.json<string[]>("GET", "/api/users");
  createUser = (form: Form) => this.connection.json<UserJson>("POST", "/api/users", form);
  modifyUser = (u: string, form: Form) => this.connection.json<UserJson>("POST", `/api/users/${seg(u)}`, form);
  deleteUser = (u: string) => this.connection.json<unknown>("DELETE", `/api/users/${seg(u)}`);
  userGroupUrls = (u: string) => this.connection.json<string[]>("GET", `/api/users/${seg(u)}/groups`);

  group = (g: string) => this.connection.json<GroupJson>("GET", `/api/groups/${seg(g)}`);
  groupUrls = () => this.connection.json<string[]>("GET", "/api/groups");
  groupUserUrls = (g: string) => this.connection.json<string[]>("GET", `/api/groups/${seg(g)}/users`);
  createGroup = (form: Form) => this.connection.json<GroupJson>("POST", "/api/groups", form);
  renameGroup = (g: string, newName: string) => this.connection.json<GroupJson>("POST", `/api/groups/${seg(g)}`, { new_name: newName });
  deleteGroup = (g: string) => this.connection.json<unknown>("DELETE", `/api/groups/${seg(g)}`);
  addMember = (g: string, u: string) => this.connection.json<GroupJson>("POST", `/api/groups/${seg(g)}/users/${seg(u)}`);
  removeMember = (g: string, u: string) => this.connection.json<GroupJson>("DELETE", `/api/groups/${seg(g)}/users/${seg(u)}`);
  grant = (g: string, p: string) => this.connection.json<GroupJson>("POST", `/api/groups/${seg(g)}/permissions/${seg(p)}`);
  revoke = (g: string, p: string) => this.connection.json<GroupJson>("DELETE", `/api/groups/${seg(g)}/permissions/${seg(p)}`);

  // Lists of image objects in one request each (the original fetched every image separately).
  imagesOwnedBy = (u: string) => this.connection.json<ImageJson[]>("GET", `/api/users/${seg(u)}/images?detail=true&${ISO}`);
  imagesSharedWithUser = (u: string) => this.connection.json<ImageJson[]>("GET", `/api/users/${seg(u)}/shared?detail=true&${ISO}`);
  imagesSharedWithGroup = (g: string) => this.connection.json<ImageJson[]>("GET", `/api/groups/${seg(g)}/shared?detail=true&${ISO}`);

  image = (owner: string | undefined, name: string) => this.connection.json<ImageJson>("GET", `${imagePath(owner, name)}?${ISO}`);
  // The image object as the server sends it by default (times as ctime strings), for describe-image.
  imageAsServed = (owner: string, name: string) => this.connection.json<Record<string, unknown>>("GET", imagePath(owner, name));
  createImage = (form: Form) => this.connection.json<ImageJson>("POST", `/api/images?${ISO}`, form);
  modifyImage = (owner: string | undefined, name: string, form: Form) => this.connection.json<ImageJson>("POST", `${imagePath(owner, name)}?${ISO}`, form);
  // Every image of that name the caller may see, whoever owns it.
  imagesNamed = (name: string) => this.connection.json<ImageJson[]>("GET", `/api/images?name=${seg(name)}&detail=true&${ISO}`);
  versions = (owner: string, name: string, hypervisor?: string) =>
    this.connection.json<VersionJson[]>("GET", `${imagePath(owner, name)}/versions?${ISO}${hypervisor ? `&hypervisor=${seg(hypervisor)}` : ""}`);
  rollback = (owner: string | undefined, name: string, form: Form) => this.connection.json<ImageJson & { restored: VersionJson }>("POST", `${imagePath(owner, name)}/rollback?${ISO}`, form);
  deleteImage = (owner: string | undefined, name: string) => this.connection.json<unknown>("DELETE", imagePath(owner, name));
  share = (owner: string | undefined, name: string, kind: "user" | "group", target: string, on: boolean) =>
    this.connection.json<unknown>(on ? "POST" : "DELETE", `${imagePath(owner, name)}/share/${kind}/${seg(target)}`);

  lists = () => this.connection.json<ListSummaryJson[]>("GET", "/api/lists");
  list = (owner: string, name: string) => this.connection.json<ListJson>("GET", listPath(owner, name));
  createList = (form: Form) => this.connection.json<ListJson>("POST", "/api/lists", form);
  modifyList = (owner: string, name: string, form: Form) => this.connection.json<ListJson>("POST", listPath(owner, name), form);
  deleteList = (owner: string, name: string) => this.connection.json<unknown>("DELETE", listPath(owner, name));
  // The signed S/MIME document, byte for byte as sites get it.
  signedList = async (owner: string, name: string): Promise<Buffer> => {
    const r = await this.connection.request("GET", `${listPath(owner, name)}/image.list`, { headers: { accept: "text/plain" } });
    if (r.status < 200 || r.status > 299) throw errorFromReply(r);
    return r.body;
  };
}
