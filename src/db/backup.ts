// A consistent copy of a SQLite metadata database while servers use it (SQLite's online backup:
// one snapshot, however many writers), and what the copy needs from the blob store.
import SqliteDatabase from "better-sqlite3";

export interface BlobRecord {
  key: string;
  size: number;
  sha256: string;
}

// sqlite:PATH → PATH; undefined for any other database.
export function sqlitePath(url: string): string | undefined {
  if (!url.startsWith("sqlite:")) return undefined;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  return path === ":memory:" ? undefined : path;
}

// Copies the database at `from` to the new file `to`, then makes the copy a repository at rest:
// uploads in progress are left out (their bytes are not in a backup; clients start them again),
// and so are the processes that were serving. Returns the blobs the copy's image versions name.
export async function snapshotSqlite(from: string, to: string): Promise<BlobRecord[]> {
  // Not readonly: a read-only connection to a WAL database leaves -wal and -shm files behind, which
  // under sudo would be root's, and a server running as its own user could not open them. A
  // read-write one removes them on close when it was the only connection.
  const source = new SqliteDatabase(from, { fileMustExist: true });
  try {
    source.pragma("busy_timeout = 5000");
    await source.backup(to);
  } finally {
    source.close();
  }
  const copy = new SqliteDatabase(to, { fileMustExist: true });
  try {
    copy.transaction(() => {
      for (const table of ["upload_chunks", "upload_sessions", "pending_uploads", "servers"]) copy.prepare(`delete from ${table}`).run();
    })();
    copy.pragma("journal_mode = DELETE"); // one self-contained file, no -wal beside it
    return copy.prepare("select blob_key as key, max(size) as size, max(sha256) as sha256 from image_versions group by blob_key order by blob_key").all() as BlobRecord[];
  } finally {
    copy.close();
  }
}
