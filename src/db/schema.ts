// Table types for Kysely. Flags are integers (0/1) and timestamps ISO-8601 UTC text in both
// dialects, so SQLite and PostgreSQL return identical rows and no per-dialect mapping is needed.
import type { Generated } from "kysely";

export interface UsersTable {
  id: string;
  user_name: string;
  full_name: string;
  email: string | null;
  client_dn: string; // OpenSSL one-line form, as users type it and the API shows it
  dn_key: string; // canonical form, the only thing identities are compared by
  suspended: number;
  quota_bytes: number; // 0 = unlimited
  created: string;
}

export interface GroupsTable {
  id: string;
  name: string;
  protected: number;
  created: string;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}

export interface GroupPermissionsTable {
  group_id: string;
  permission: string;
}

export interface ImagesTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  os_variant: string | null;
  os_type: string | null;
  os_arch: string | null;
  hypervisors: string; // comma-separated, in the order given
  read_only: number;
  unauthenticated_access: number;
  expires: string | null;
  version: number; // bumped by every upload and rollback (the original's counter)
  keep_versions: number | null; // versions kept per hypervisor; null = the server's default, 0 = all
  created: string;
  modified: string;
  uploaded: string | null;
}

// Every upload (or rollback) of one hypervisor's file is a version; the newest is the current file.
// Versions are never changed; old ones are pruned. A rollback is a new version naming an older
// one's blob, so one blob may back several versions and is garbage only when none is left.
export interface ImageVersionsTable {
  image_id: string;
  hypervisor: string;
  version: number; // 1, 2, … per (image, hypervisor); never reused
  blob_key: string;
  size: number;
  sha256: string;
  created: string; // when it became current
  uploader: string | null; // user name; null for files uploaded before versions existed
  comment: string | null;
  restored_from: number | null; // a rollback: the version whose bytes this one brings back
  sha512: string | null; // computed when an image list first names this version
  format: string | null; // a DiskFormat, detected while uploading; null for versions uploaded before
  virtual_size: number | null; // bytes of the disk it holds; null where the format does not tell
}

export interface ImageUserSharesTable {
  image_id: string;
  user_id: string;
}

export interface ImageGroupSharesTable {
  image_id: string;
  group_id: string;
}

export interface PendingUploadsTable {
  blob_key: string;
  image_id: string;
  hypervisor: string;
  server_id: string;
  started: string;
}

// A resumable (tus) upload in progress: its chunks so far, and which request is writing the next.
export interface UploadSessionsTable {
  id: string; // in the upload's URL
  image_id: string; // no foreign key: a session outlives its image until swept, so its blob is found
  hypervisor: string;
  blob_key: string;
  user_id: string; // only its creator may continue it
  comment: string | null;
  length: number; // Upload-Length
  offset: number; // bytes in chunks that completed
  chunks: number;
  store_handle: string; // the blob store's (S3: the multipart upload id)
  created: string;
  expires: string;
  // The request writing a chunk, if any: its process (a dead one's claim lapses) and a token.
  writer_server: string | null;
  writer_token: string | null;
}

export interface UploadChunksTable {
  upload_id: string;
  chunk: number; // 1, 2, …
  size: number;
  etag: string;
}

export interface BlobGarbageTable {
  blob_key: string;
  since: string;
}

export interface ServersTable {
  id: string; // one serving process
  instance: string; // the configured server it belongs to: its next start reclaims what it left
  started: string;
  heartbeat: string;
}

// One change to the repository: who made it, when, from where, and what it changed. Written in the
// transaction of the change itself, so that no change commits without its record.
export interface AuditEventsTable {
  id: string; // sorts in the order events were recorded (see db/audit.ts)
  time: string;
  actor: string | null; // user name; null for the server itself (bootstrap, expiry)
  dn: string | null; // the certificate identity the change was made with
  remote: string | null; // the client's address, or "local" for repoman-server commands
  request_id: string | null; // the request's log line has the same id
  action: string; // e.g. image.modify, group.member.add, upload.finish
  target: string; // e.g. alice/centos7, group atlas, user bob
  before: string | null; // JSON: the values the change replaced
  after: string | null; // JSON: the values it set
}

// A published image list (HEPiX): a named set of image files that grid sites subscribe to.
export interface ImageListsTable {
  id: string; // dc:identifier, a UUID that stays the list's for good
  owner_id: string;
  name: string; // in its URL, unique per owner
  group_id: string | null; // whose members may change it too
  title: string;
  description: string;
  expires: string; // dc:date:expires
  version: number; // hv:version: raised whenever the content changes, never lowered
  content_sha256: string | null; // of the content (images and fields) version was raised for
  signed_at: string | null; // dc:date:created of that version
  created: string;
  modified: string;
}

export interface ImageListEntriesTable {
  list_id: string;
  position: number;
  image_id: string;
  hypervisor: string;
  version: number | null; // null: whichever version is current
}

export interface Database {
  image_lists: ImageListsTable;
  image_list_entries: ImageListEntriesTable;
  audit_events: AuditEventsTable;
  images: ImagesTable;
  image_versions: ImageVersionsTable;
  image_user_shares: ImageUserSharesTable;
  image_group_shares: ImageGroupSharesTable;
  pending_uploads: PendingUploadsTable;
  upload_sessions: UploadSessionsTable;
  upload_chunks: UploadChunksTable;
  blob_garbage: BlobGarbageTable;
  servers: ServersTable;
  users: UsersTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  group_permissions: GroupPermissionsTable;
}

export type { Generated };
