// SQL for resumable uploads: their sessions, chunks, and the claim of the request writing one.
import { sql } from "kysely";
import type { Executor } from "./users.js";
import type { UploadSessionsTable } from "./schema.js";

export type SessionRow = UploadSessionsTable;

export async function insertSession(db: Executor, row: SessionRow): Promise<void> {
  await db.insertInto("upload_sessions").values(row).execute();
}

export const findSession = (db: Executor, id: string) => db.selectFrom("upload_sessions").selectAll().where("id", "=", id).executeTakeFirst();

// One request at a time writes a session's next chunk, at its current offset. A claim whose
// process is no longer registered as alive has lapsed. False: the offset differs or it is taken.
export async function claimWriter(db: Executor, id: string, offset: number, server: string, token: string): Promise<boolean> {
  const r = await db
    .updateTable("upload_sessions")
    .set({ writer_server: server, writer_token: token })
    .where("id", "=", id)
    .where("offset", "=", offset)
    .where((eb) => eb.or([eb("writer_token", "is", null), eb.not(eb.exists(eb.selectFrom("servers").select(sql`1`.as("x")).whereRef("servers.id", "=", "upload_sessions.writer_server")))]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function releaseWriter(db: Executor, id: string, token: string): Promise<void> {
  await db.updateTable("upload_sessions").set({ writer_server: null, writer_token: null }).where("id", "=", id).where("writer_token", "=", token).execute();
}

// Records a written chunk, if this request still holds the claim, and extends the session's life.
// False: it lost the claim.
export async function addChunk(db: Executor, id: string, token: string, chunk: { chunk: number; size: number; etag: string }, expires: string): Promise<boolean> {
  const r = await db
    .updateTable("upload_sessions")
    .set((eb) => ({ offset: eb("offset", "+", chunk.size), chunks: chunk.chunk, expires, writer_server: null, writer_token: null }))
    .where("id", "=", id)
    .where("writer_token", "=", token)
    .where("chunks", "=", chunk.chunk - 1)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return false;
  await db.insertInto("upload_chunks").values({ upload_id: id, ...chunk }).execute();
  return true;
}

export async function chunkEtags(db: Executor, id: string): Promise<string[]> {
  return (await db.selectFrom("upload_chunks").select("etag").where("upload_id", "=", id).orderBy("chunk").execute()).map((r) => r.etag);
}

// False when it was already gone (completed, terminated or swept by another request).
export async function deleteSession(db: Executor, id: string): Promise<boolean> {
  const r = await db.deleteFrom("upload_sessions").where("id", "=", id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export const sessionBlobKeys = async (db: Executor) => (await db.selectFrom("upload_sessions").select("blob_key").execute()).map((r) => r.blob_key);

// Sessions past their expiry, or whose image is gone.
export const abandonedSessions = (db: Executor, now: string) =>
  db
    .selectFrom("upload_sessions")
    .selectAll()
    .where((eb) => eb.or([eb("expires", "<", now), eb.not(eb.exists(eb.selectFrom("images").select(sql`1`.as("x")).whereRef("images.id", "=", "upload_sessions.image_id")))]))
    .execute();
