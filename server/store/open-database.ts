import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { CompiledQuery, Kysely, Migrator, MysqlDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { DataDirLock } from './data-dir-lock.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { StaticMigrationProvider } from './static-migration-provider.js';

export type DatabaseBackendName = 'postgres' | 'pglite' | 'mysql';

export interface DatabaseOptions {
  /** `postgres://…` selects PostgreSQL through `pg`; `mysql://…` MySQL 8 or MariaDB 10.6+ through `mysql2`; unset selects embedded PGlite. */
  readonly databaseUrl: string | undefined;
  /** PGlite's files go to `DATA_DIR/pgdata`; `memory://` keeps the embedded database in memory (tests). */
  readonly dataDir: string;
  /** PostgreSQL or MySQL pool size. */
  readonly poolSize?: number;
  /** How long a request waits for a new database connection before storage counts as unavailable. */
  readonly connectTimeoutMs?: number;
  /** Told about pool errors that happen between queries (a dropped idle connection). */
  readonly onPoolError?: (error: Error) => void;
  /** PostgreSQL: run the hot-path statement as a named prepared statement (off behind a pooler that cannot keep them). Default true. */
  readonly preparedStatements?: boolean;
}

/**
 * Runs a compiled query as a named prepared statement on a pooled PostgreSQL connection, so each
 * connection parses and plans it once rather than on every request. `name` must stand for one text.
 */
export interface PreparedStatements {
  rows<R>(name: string, query: CompiledQuery): Promise<R[]>;
}

export interface OpenedDatabase {
  readonly db: Kysely<Database>;
  readonly backend: DatabaseBackendName;
  /** Only where the driver can keep prepared statements (PostgreSQL through `pg`). */
  readonly prepared?: PreparedStatements;
}

/** Opens the database the options select and migrates it to the latest schema. */
export async function openDatabase(options: DatabaseOptions): Promise<OpenedDatabase> {
  const url = options.databaseUrl;
  const opened = !url ? await openPGlite(options.dataDir) : /^mysql:\/\//.test(url) ? await openMysql(url, options) : openPostgres(url, options);
  try {
    await migrateToLatest(opened.db);
  } catch (error) {
    await opened.db.destroy().catch(() => {});
    throw error;
  }
  return opened;
}

function openPostgres(url: string, options: DatabaseOptions): OpenedDatabase {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
  });
  // A client losing its server emits 'error' (idle ones on the pool, checked-out ones on themselves);
  // unhandled, that kills the process. The query in flight fails on its own and is answered as 503.
  const report = (error: Error) => options.onPoolError?.(error);
  pool.on('error', report);
  pool.on('connect', (client) => client.on('error', report));
  const prepared: PreparedStatements = {
    async rows<R>(name: string, query: CompiledQuery) {
      return (await pool.query<R & pg.QueryResultRow>({ name, text: query.sql, values: [...query.parameters] })).rows;
    },
  };
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    backend: 'postgres',
    ...(options.preparedStatements === false ? {} : { prepared }),
  };
}

/**
 * Each connection speaks UTC (times are `datetime(6)` in UTC both ways), runs strict (a bad value is
 * an error, never a silent truncation) and reads committed data, as PostgreSQL does by default: a
 * write that waited for a row lock sees the row as it was committed, and fewer gap locks means fewer deadlocks.
 */
const mysqlSession = [
  "set time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION'",
  'set session transaction isolation level read committed',
].map((statement) => CompiledQuery.raw(statement));

async function openMysql(url: string, options: DatabaseOptions): Promise<OpenedDatabase> {
  // Loaded only when chosen, like PGlite: other deployments never hold the MySQL driver.
  const { createPool } = await import('mysql2');
  const pool = createPool({
    uri: url,
    connectionLimit: options.poolSize ?? 10,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    timezone: 'Z',
    charset: 'utf8mb4_bin',
  });
  // As with `pg`: a connection losing its server emits 'error'; the query in flight fails on its own (503).
  const report = (error: Error) => options.onPoolError?.(error);
  pool.on('connection', (connection) => connection.on('error', report));
  const dialect = new MysqlDialect({
    pool,
    onCreateConnection: async (connection) => {
      for (const statement of mysqlSession) await connection.executeQuery(statement);
    },
  });
  return { db: new Kysely<Database>({ dialect }), backend: 'mysql' };
}

async function openPGlite(dataDir: string): Promise<OpenedDatabase> {
  // Loaded only when chosen, so a PostgreSQL deployment never holds the embedded database's code in memory.
  const { PGlite: Embedded } = await import('@electric-sql/pglite');
  if (dataDir.startsWith('memory://')) {
    const database = await Embedded.create(dataDir);
    return { db: new Kysely<Database>({ dialect: new PGliteDialect({ database }) }), backend: 'pglite' };
  }
  // A subdirectory of its own: DATA_DIR also holds other files (the demo's keys), and initdb wants an empty one.
  const root = resolve(dataDir);
  const location = join(root, 'pgdata');
  mkdirSync(location, { recursive: true });
  const lock = DataDirLock.acquire(root);
  let pglite: PGlite;
  try {
    pglite = await Embedded.create(location);
  } catch (error) {
    lock.release();
    throw error;
  }
  const database = {
    query: pglite.query.bind(pglite),
    get closed() {
      return pglite.closed;
    },
    async close() {
      try {
        await pglite.close();
      } finally {
        lock.release();
      }
    },
  };
  return { db: new Kysely<Database>({ dialect: new PGliteDialect({ database }) }), backend: 'pglite' };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`Database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`, {
      cause: error,
    });
  }
}
