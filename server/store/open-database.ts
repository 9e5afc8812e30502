import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { DataDirLock } from './data-dir-lock.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { StaticMigrationProvider } from './static-migration-provider.js';

export type DatabaseBackendName = 'postgres' | 'pglite';

export interface DatabaseOptions {
  /** `postgres://…` selects PostgreSQL through `pg`; unset selects embedded PGlite. */
  readonly databaseUrl: string | undefined;
  /** PGlite's files go to `DATA_DIR/pgdata`; `memory://` keeps the embedded database in memory (tests). */
  readonly dataDir: string;
  /** PostgreSQL pool size. */
  readonly poolSize?: number;
  /** How long a request waits for a PostgreSQL connection before storage counts as unavailable. */
  readonly connectTimeoutMs?: number;
  /** Told about pool errors that happen between queries (a dropped idle connection). */
  readonly onPoolError?: (error: Error) => void;
}

export interface OpenedDatabase {
  readonly db: Kysely<Database>;
  readonly backend: DatabaseBackendName;
}

/** Opens the database the options select and migrates it to the latest schema. */
export async function openDatabase(options: DatabaseOptions): Promise<OpenedDatabase> {
  const opened = options.databaseUrl ? openPostgres(options.databaseUrl, options) : await openPGlite(options.dataDir);
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
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), backend: 'postgres' };
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
