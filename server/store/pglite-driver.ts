import { CompiledQuery, type DatabaseConnection, type Driver, type TransactionSettings } from 'kysely';
import { ConnectionMutex } from './connection-mutex.js';
import { PGliteConnection } from './pglite-connection.js';
import type { PGliteDatabase, PGliteDialectConfig } from './pglite-dialect-config.js';

/**
 * Kysely driver for embedded PGlite. PGlite is one backend process with one session, so the driver
 * hands out its single connection to one holder at a time: a transaction runs alone from BEGIN to
 * COMMIT, and concurrent writers queue instead of interleaving statements inside each other's transaction.
 */
export class PGliteDriver implements Driver {
  readonly #config: PGliteDialectConfig;
  readonly #mutex = new ConnectionMutex();
  #database: PGliteDatabase | undefined;
  #connection: PGliteConnection | undefined;

  constructor(config: PGliteDialectConfig) {
    this.#config = Object.freeze({ ...config });
  }

  async init(): Promise<void> {
    const source = this.#config.database;
    this.#database = typeof source === 'function' ? await source() : source;
    this.#connection = new PGliteConnection(this.#database);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    if (!this.#connection || !this.#database || this.#database.closed) {
      this.#mutex.unlock();
      throw new Error('PGlite database is closed');
    }
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel || settings.accessMode) {
      statement = 'start transaction';
      if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) statement += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const { rows } = await connection.executeQuery<{ command?: string }>(CompiledQuery.raw('commit'));
    // PostgreSQL completes COMMIT with a ROLLBACK tag when an earlier statement aborted the transaction.
    if (rows[0]?.command === 'ROLLBACK') throw new Error('transaction was aborted and rolled back');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    const database = this.#database;
    this.#database = undefined;
    this.#connection = undefined;
    if (database && !database.closed) {
      // Wait for the current holder so close never cuts a transaction in half.
      await this.#mutex.lock();
      try {
        await database.close();
      } finally {
        this.#mutex.unlock();
      }
    }
  }
}
