// Opens the metadata database named by a URL: SQLite (the embedded default) or PostgreSQL.
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Database } from "./schema.js";
import { migrateToLatest } from "./migrations.js";

export type Dialect = "sqlite" | "postgres";
export interface MetadataDb {
  db: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

export function defaultDatabaseUrl(dataDir: string): string {
  return `sqlite:${resolve(dataDir, "repoman.db")}`;
}

// sqlite:/abs/path, sqlite:relative/path, sqlite::memory:, postgres://… / postgresql://…
export async function openDatabase(url: string, opts: { poolSize?: number } = {}): Promise<MetadataDb> {
  let db: Kysely<Database>;
  let dialect: Dialect;
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    dialect = "sqlite";
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    // int8 columns (sizes, quotas) stay below 2^53, so numbers are safe and match SQLite's rows.
    pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = "postgres";
  } else {
    throw new Error(`unsupported database URL "${url}": use sqlite:PATH or postgres://…`);
  }
  await migrateToLatest(db);
  return { db, dialect, close: () => db.destroy() };
}
