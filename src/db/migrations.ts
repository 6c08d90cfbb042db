// Schema migrations, run at start-up. Append new ones; never edit one that has shipped.
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { ALL_PERMISSIONS, DEFAULT_USER_PERMISSIONS } from "../policy/permissions.js";
import { randomUUID } from "node:crypto";

const migrations: Record<string, Migration> = {
  "0001_users_groups": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("users")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("user_name", "text", (c) => c.notNull().unique())
        .addColumn("full_name", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("email", "text", (c) => c.unique())
        .addColumn("client_dn", "text", (c) => c.notNull())
        .addColumn("dn_key", "text", (c) => c.notNull().unique())
        .addColumn("suspended", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("quota_bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("created", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("groups")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("protected", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("group_members")
        .addColumn("group_id", "text", (c) => c.notNull().references("groups.id").onDelete("cascade"))
        .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
        .addPrimaryKeyConstraint("group_members_pk", ["group_id", "user_id"])
        .execute();
      await db.schema.createIndex("group_members_user").on("group_members").column("user_id").execute();
      await db.schema
        .createTable("group_permissions")
        .addColumn("group_id", "text", (c) => c.notNull().references("groups.id").onDelete("cascade"))
        .addColumn("permission", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("group_permissions_pk", ["group_id", "permission"])
        .execute();

      // The two protected groups every repository starts with (reference §2.5). Seeded here, once,
      // so that an admin's later changes to their permissions survive restarts.
      const now = new Date().toISOString();
      for (const [name, perms] of [
        ["admins", ALL_PERMISSIONS],
        ["users", DEFAULT_USER_PERMISSIONS],
      ] as const) {
        const id = randomUUID();
        await db.insertInto("groups").values({ id, name, protected: 1, created: now }).execute();
        for (const permission of perms) {
          await db.insertInto("group_permissions").values({ group_id: id, permission }).execute();
        }
      }
    },
  },
  "0002_images": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("images")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("owner_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("os_variant", "text")
        .addColumn("os_type", "text")
        .addColumn("os_arch", "text")
        .addColumn("hypervisors", "text", (c) => c.notNull())
        .addColumn("read_only", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("unauthenticated_access", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("expires", "text")
        .addColumn("version", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created", "text", (c) => c.notNull())
        .addColumn("modified", "text", (c) => c.notNull())
        .addColumn("uploaded", "text")
        .addUniqueConstraint("images_owner_name", ["owner_id", "name"])
        .execute();
      await db.schema
        .createTable("image_files")
        .addColumn("image_id", "text", (c) => c.notNull().references("images.id").onDelete("cascade"))
        .addColumn("hypervisor", "text", (c) => c.notNull())
        .addColumn("blob_key", "text", (c) => c.notNull().unique())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("sha256", "text", (c) => c.notNull())
        .addColumn("uploaded", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("image_files_pk", ["image_id", "hypervisor"])
        .execute();
      for (const [table, col, ref] of [
        ["image_user_shares", "user_id", "users.id"],
        ["image_group_shares", "group_id", "groups.id"],
      ] as const) {
        await db.schema
          .createTable(table)
          .addColumn("image_id", "text", (c) => c.notNull().references("images.id").onDelete("cascade"))
          .addColumn(col, "text", (c) => c.notNull().references(ref).onDelete("cascade"))
          .addPrimaryKeyConstraint(`${table}_pk`, ["image_id", col])
          .execute();
        await db.schema.createIndex(`${table}_by_${col}`).on(table).column(col).execute();
      }
      // Upload bookkeeping lives in the database, so that any server process can clean up what a
      // crashed one left: uploads in flight, and blobs no image points at any more.
      await db.schema
        .createTable("pending_uploads")
        .addColumn("blob_key", "text", (c) => c.primaryKey())
        .addColumn("image_id", "text", (c) => c.notNull())
        .addColumn("hypervisor", "text", (c) => c.notNull())
        .addColumn("server_id", "text", (c) => c.notNull())
        .addColumn("started", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("blob_garbage")
        .addColumn("blob_key", "text", (c) => c.primaryKey())
        .addColumn("since", "text", (c) => c.notNull())
        .execute();
    },
  },
  // Many processes on many hosts share one repository: each records that it is alive, so that
  // the uploads of one that died can be told from the uploads of one that is merely busy.
  "0003_servers": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("servers")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("instance", "text", (c) => c.notNull())
        .addColumn("started", "text", (c) => c.notNull())
        .addColumn("heartbeat", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("servers_by_instance").on("servers").column("instance").execute();
      await db.schema.createIndex("pending_uploads_by_server").on("pending_uploads").column("server_id").execute();
    },
  },
  // Image files become versions: each current file is version 1 of its hypervisor, keeping its
  // blob, size, checksum and upload time; image_files goes, since the newest version is the file.
  "0004_image_versions": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("image_versions")
        .addColumn("image_id", "text", (c) => c.notNull().references("images.id").onDelete("cascade"))
        .addColumn("hypervisor", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("blob_key", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("sha256", "text", (c) => c.notNull())
        .addColumn("created", "text", (c) => c.notNull())
        .addColumn("uploader", "text")
        .addColumn("comment", "text")
        .addColumn("restored_from", "integer")
        .addPrimaryKeyConstraint("image_versions_pk", ["image_id", "hypervisor", "version"])
        .execute();
      await db.schema.createIndex("image_versions_by_blob").on("image_versions").column("blob_key").execute();
      await sql`insert into image_versions (image_id, hypervisor, version, blob_key, size, sha256, created)
                select image_id, hypervisor, 1, blob_key, size, sha256, uploaded from image_files`.execute(db);
      await db.schema.dropTable("image_files").execute();
      await db.schema.alterTable("images").addColumn("keep_versions", "integer").execute();
    },
  },
  // Resumable uploads (tus): sessions that live across requests, processes and restarts.
  "0005_upload_sessions": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("upload_sessions")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("image_id", "text", (c) => c.notNull())
        .addColumn("hypervisor", "text", (c) => c.notNull())
        .addColumn("blob_key", "text", (c) => c.notNull().unique())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("comment", "text")
        .addColumn("length", "bigint", (c) => c.notNull())
        .addColumn("offset", "bigint", (c) => c.notNull())
        .addColumn("chunks", "integer", (c) => c.notNull())
        .addColumn("store_handle", "text", (c) => c.notNull())
        .addColumn("created", "text", (c) => c.notNull())
        .addColumn("expires", "text", (c) => c.notNull())
        .addColumn("writer_server", "text")
        .addColumn("writer_token", "text")
        .execute();
      await db.schema.createIndex("upload_sessions_by_expiry").on("upload_sessions").column("expires").execute();
      await db.schema
        .createTable("upload_chunks")
        .addColumn("upload_id", "text", (c) => c.notNull().references("upload_sessions.id").onDelete("cascade"))
        .addColumn("chunk", "integer", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("etag", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("upload_chunks_pk", ["upload_id", "chunk"])
        .execute();
    },
  },
  // The audit log: every change, with who, when, from where, and before/after values.
  "0006_audit_events": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("audit_events")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("time", "text", (c) => c.notNull())
        .addColumn("actor", "text")
        .addColumn("dn", "text")
        .addColumn("remote", "text")
        .addColumn("request_id", "text")
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("target", "text", (c) => c.notNull())
        .addColumn("before", "text")
        .addColumn("after", "text")
        .execute();
      await db.schema.createIndex("audit_events_by_time").on("audit_events").column("time").execute();
      await db.schema.createIndex("audit_events_by_actor").on("audit_events").columns(["actor", "id"]).execute();
      await db.schema.createIndex("audit_events_by_target").on("audit_events").columns(["target", "id"]).execute();
    },
  },
  // Image lists (HEPiX), published for grid sites to subscribe to; SHA-512s computed when a list
  // first names a version.
  "0007_image_lists": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("image_lists")
        .addColumn("id", "text", (c) => c.primaryKey()) // dc:identifier, a UUID
        .addColumn("owner_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("group_id", "text", (c) => c.references("groups.id").onDelete("set null"))
        .addColumn("title", "text", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("expires", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("content_sha256", "text")
        .addColumn("signed_at", "text")
        .addColumn("created", "text", (c) => c.notNull())
        .addColumn("modified", "text", (c) => c.notNull())
        .addUniqueConstraint("image_lists_owner_name", ["owner_id", "name"])
        .execute();
      await db.schema
        .createTable("image_list_entries")
        .addColumn("list_id", "text", (c) => c.notNull().references("image_lists.id").onDelete("cascade"))
        .addColumn("position", "integer", (c) => c.notNull())
        .addColumn("image_id", "text", (c) => c.notNull().references("images.id").onDelete("cascade"))
        .addColumn("hypervisor", "text", (c) => c.notNull())
        .addColumn("version", "integer") // null: whichever version is current
        .addPrimaryKeyConstraint("image_list_entries_pk", ["list_id", "position"])
        .execute();
      await db.schema.createIndex("image_list_entries_by_image").on("image_list_entries").column("image_id").execute();
      await db.schema.alterTable("image_versions").addColumn("sha512", "text").execute();
    },
  },
  // Each version's disk format and virtual size, detected from its bytes while they are uploaded.
  // Versions uploaded before stay null (not detected): telling them would mean reading every
  // stored file back at start-up; their next upload has them.
  "0008_disk_formats": {
    async up(db: Kysely<any>) {
      await db.schema.alterTable("image_versions").addColumn("format", "text").execute();
      await db.schema.alterTable("image_versions").addColumn("virtual_size", "bigint").execute();
    },
  },
};

/** The migrations in order, for tests that build a database as an earlier release left it. */
export const MIGRATION_NAMES = Object.keys(migrations);

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<any>): Promise<void> {
  await migrateTo(db, MIGRATION_NAMES[MIGRATION_NAMES.length - 1]!);
}

export async function migrateTo(db: Kysely<any>, name: string): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateTo(name);
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed: ${String(error)}`);
  }
}

export { sql };
