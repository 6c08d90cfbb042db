// Opens the metadata database named by a URL: SQLite (the embedded default) or PostgreSQL.
import { CompiledQuery, Kysely, sql, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from "kysely";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Database } from "./schema.js";
import { migrateTo, migrateToLatest } from "./migrations.js";

export type Dialect = "sqlite" | "postgres";

// Every transaction here reads, then writes. Started DEFERRED, two processes (--workers) that
// both read and then try to write get SQLITE_BUSY at once, with no wait; IMMEDIATE takes the
// write lock up front, so the second simply waits (busy_timeout) for the first.
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqliteConfig: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(sqliteConfig);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig);
  }
}
export interface MetadataDb {
  db: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
  // Connections of the PostgreSQL pool, for /metrics; SQLite has no pool.
  poolStats?: () => { total: number; idle: number; waiting: number };
}

export function defaultDatabaseUrl(dataDir: string): string {
  return `sqlite:${resolve(dataDir, "repoman.db")}`;
}

// better-sqlite3 compiles a statement on every prepare(), and Kysely prepares every query it runs:
// on a request path of a few queries that compilation was the largest cost. Kysely runs each
// statement to completion synchronously, so reusing one is safe.
function withStatementCache(sqlite: SqliteDatabase.Database, max = 500) {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql); // re-insert: Map order is recency order
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
  };
}

// sqlite:/abs/path, sqlite:relative/path, sqlite::memory:, postgres://… / postgresql://…
// `upTo` stops the migrations at that one: how tests make a database as an earlier release left it.
export async function openDatabase(url: string, opts: { poolSize?: number; upTo?: string } = {}): Promise<MetadataDb> {
  let db: Kysely<Database>;
  let dialect: Dialect;
  let poolStats: MetadataDb["poolStats"];
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
    dialect = "sqlite";
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    // int8 columns (sizes, quotas) stay below 2^53, so numbers are safe and match SQLite's rows.
    pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = "postgres";
    poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
  } else {
    throw new Error(`unsupported database URL "${url}": use sqlite:PATH or postgres://…`);
  }
  await (opts.upTo === undefined ? migrateToLatest(db) : migrateTo(db, opts.upTo));
  return { db, dialect, close: () => db.destroy(), ...(poolStats ? { poolStats } : {}) };
}

// One round trip to the database: the readiness probe.
export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
