// Deleting blobs nothing points at any more. The metadata transaction that orphans a blob records
// it in blob_garbage; the blob is deleted after the commit, and only then its record, so a crash
// in between leaves a record to retry, never a dangling pointer.
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import * as qi from "../db/images.js";
import type { BlobStore } from "../blobs/blob-store.js";

export interface Storage {
  db: Kysely<Database>;
  blobs: BlobStore;
  serverId: string; // this process, for upload bookkeeping
}

export async function collectGarbage(s: Storage): Promise<number> {
  const keys = await qi.garbage(s.db);
  for (const { blob_key } of keys) {
    await s.blobs.delete(blob_key);
    await qi.removeGarbage(s.db, blob_key);
  }
  return keys.length;
}

// Uploads that were in flight when a process died are abandoned and their partial or
// complete-but-uncommitted blobs deleted; then the garbage is collected. With `serverIds`, only
// those (dead) processes' uploads; without, all of them — only while no process is serving.
export async function recoverInterruptedUploads(s: Storage, serverIds?: readonly string[]): Promise<{ uploads: number; partial: number; garbage: number }> {
  const pending = await qi.pendingUploads(s.db, serverIds);
  for (const p of pending) {
    await s.db.transaction().execute(async (trx) => {
      await qi.removePendingUpload(trx, p.blob_key);
      await qi.addGarbage(trx, [p.blob_key], new Date().toISOString());
    });
  }
  const partial = serverIds ? 0 : await s.blobs.cleanupIncomplete();
  return { uploads: pending.length, partial, garbage: await collectGarbage(s) };
}
