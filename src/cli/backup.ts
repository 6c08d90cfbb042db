// `repoman-server backup --to DIR` and `restore --from DIR`: a repository on SQLite, with its image
// files in any blob store, copied while servers run, and put back into an empty data directory.
//
// DIR/repoman.db         the metadata, from SQLite's online backup (one consistent snapshot)
// DIR/images/blobs/KEY   every image file a version in that snapshot names (the blob-store layout)
// DIR/dev-pki/           the development PKI, when the server has one
// DIR/manifest.json      written last: the blobs with their sizes and SHA-256, checked both ways
//
// Blobs are immutable and named by ids, so the snapshot comes first and then the files it names:
// every file copied is the one the snapshot means. A file that a server deleted meanwhile (a pruned
// version) is caught by taking a new snapshot and copying what it names that is still missing.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BlobStore } from "../blobs/blob-store.js";
import { FsBlobStore } from "../blobs/fs-store.js";
import { openStore } from "../blobs/open-store.js";
import { one, type RawConfig } from "../config.js";
import { snapshotSqlite, sqlitePath, type BlobRecord } from "../db/backup.js";
import { defaultDatabaseUrl, openDatabase } from "../db/connect.js";
import { VERSION } from "./repoman/version.js";

// A refusal or failure (exit 1), as opposed to a command line it cannot parse (exit 2).
export class BackupError extends Error {}

const FORMAT = "repoman-backup 1";
const SNAPSHOT_ATTEMPTS = 3;

interface Manifest {
  format: string;
  repoman: string; // the version that wrote it
  created: string;
  database: string;
  blobs: BlobRecord[];
  devPki: boolean;
}

interface Repository {
  dataDir: string;
  databaseUrl: string;
  db: string; // the SQLite file
  store: BlobStore;
}

const POSTGRES_ADVICE =
  "the metadata is in PostgreSQL, which this command cannot snapshot together with the image files: back it up with pg_dump (or your PostgreSQL backups) and the image files with your storage's own tools, database first (see docs/deploy/backup.md)";

function repository(c: RawConfig): Repository {
  const dataDir = resolve(one(c, "data-dir")!);
  const databaseUrl = one(c, "database") ?? defaultDatabaseUrl(dataDir);
  const db = sqlitePath(databaseUrl);
  if (!db) throw new BackupError(databaseUrl.startsWith("sqlite:") ? "an in-memory database has nothing to back up" : POSTGRES_ADVICE);
  return { dataDir, databaseUrl, db: resolve(db), store: openStore(one(c, "storage") ?? join(dataDir, "images")).blobs };
}

const isEmptyDir = (dir: string) => !existsSync(dir) || readdirSync(dir).length === 0;

async function copyBlob(from: BlobStore, to: BlobStore, b: BlobRecord): Promise<void> {
  const r = await to.put(b.key, await from.get(b.key), { expectedSize: b.size });
  if (r.sha256 !== b.sha256) {
    await to.delete(b.key);
    throw new BackupError(`image file ${b.key}: its SHA-256 is ${r.sha256}, the metadata says ${b.sha256}: the stored file is damaged`);
  }
}

export async function backup(c: RawConfig, to: string): Promise<string[]> {
  const repo = repository(c);
  const dir = resolve(to);
  if (!existsSync(repo.db)) throw new BackupError(`there is no database at ${repo.db}: is --data-dir (or --database) the server's?`);
  if (!isEmptyDir(dir)) throw new BackupError(`${dir} is not empty: back up into a new directory`);
  mkdirSync(dir, { recursive: true });
  const target = new FsBlobStore(join(dir, "images"));
  const copied = new Set<string>();
  let blobs: BlobRecord[] = [];
  for (let attempt = 1; ; attempt++) {
    rmSync(join(dir, "repoman.db"), { force: true });
    blobs = await snapshotSqlite(repo.db, join(dir, "repoman.db"));
    let vanished: string | undefined;
    for (const b of blobs) {
      if (copied.has(b.key)) continue;
      try {
        await copyBlob(repo.store, target, b);
        copied.add(b.key);
      } catch (e) {
        if ((await repo.store.size(b.key).catch(() => undefined)) !== null) throw e;
        vanished ??= b.key;
      }
    }
    if (!vanished) break;
    if (attempt === SNAPSHOT_ATTEMPTS) throw new BackupError(`image file ${vanished} is missing from the store although the metadata names it (after ${attempt} snapshots)`);
  }
  // Files an earlier snapshot named that the final one no longer does.
  const named = new Set(blobs.map((b) => b.key));
  for (const key of copied) if (!named.has(key)) await target.delete(key);
  const devPki = existsSync(join(repo.dataDir, "dev-pki"));
  if (devPki) cpSync(join(repo.dataDir, "dev-pki"), join(dir, "dev-pki"), { recursive: true });
  const manifest: Manifest = { format: FORMAT, repoman: VERSION, created: new Date().toISOString(), database: "repoman.db", blobs, devPki };
  writeFileSync(join(dir, "manifest.json.tmp"), JSON.stringify(manifest, null, 1) + "\n");
  renameSync(join(dir, "manifest.json.tmp"), join(dir, "manifest.json"));
  const bytes = blobs.reduce((n, b) => n + b.size, 0);
  return [`Backed up the metadata and ${blobs.length} image file${blobs.length === 1 ? "" : "s"} (${bytes} bytes) of ${repo.dataDir} to ${dir}.`];
}

function readManifest(dir: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
  } catch (e) {
    throw new BackupError(`${dir} is not a complete backup: ${(e as Error).message}`);
  }
  if (m.format !== FORMAT) throw new BackupError(`${dir}/manifest.json: unknown format "${m.format}" (this is ${FORMAT})`);
  return m;
}

export async function restore(c: RawConfig, from: string): Promise<string[]> {
  const dir = resolve(from);
  const m = readManifest(dir);
  const repo = repository(c);
  if (!isEmptyDir(repo.dataDir)) throw new BackupError(`${repo.dataDir} is not empty: restore into a new data directory (--data-dir)`);
  if (existsSync(repo.db)) throw new BackupError(`${repo.db} exists: restore into a new database`);
  const source = new FsBlobStore(join(dir, "images"));
  for (const b of m.blobs) await copyBlob(source, repo.store, b);
  if (m.devPki) cpSync(join(dir, "dev-pki"), join(repo.dataDir, "dev-pki"), { recursive: true });
  // The database last, under its name only once complete: a restore cut short leaves no
  // repository that a server would start on.
  mkdirSync(resolve(repo.db, ".."), { recursive: true });
  const partial = `${repo.db}.restoring`;
  cpSync(join(dir, m.database), partial);
  renameSync(partial, repo.db);
  const db = await openDatabase(repo.databaseUrl, { poolSize: 1 }); // brings an older backup's schema up to date
  await db.close();
  return [`Restored the metadata and ${m.blobs.length} image file${m.blobs.length === 1 ? "" : "s"} of the backup of ${m.created} into ${repo.dataDir}.`];
}
