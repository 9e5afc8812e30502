import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import type { PGliteDatabase } from './pglite-dialect-config.js';

const countedCommands = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** The single connection to an embedded PGlite database. */
export class PGliteConnection implements DatabaseConnection {
  constructor(private readonly database: PGliteDatabase) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.database.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    const command = result.command ?? '';
    if (command === 'COMMIT' || command === 'ROLLBACK') {
      return { rows: [{ command } as R] };
    }
    return {
      rows: result.rows,
      numAffectedRows: countedCommands.has(command) ? BigInt(result.rowCount ?? result.affectedRows ?? 0) : undefined,
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite dialect does not support streaming queries');
  }
}
