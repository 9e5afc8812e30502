import { StockwireError } from '../errors.js';

/** SQLSTATE classes that mean "the database is not there right now", not "this query is wrong". */
const unavailableStates = /^(08|57P|53|3D000|28|58)/;
const unavailableErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);
/** `mysql2`'s codes for a lost or refused server: shut down, connection dropped, killed, too many, bad login or database. */
const unavailableMysqlCodes = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CON_COUNT_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_NET_READ_ERROR',
  'ER_NET_WRITE_INTERRUPTED',
]);
const unavailableMessages =
  /connection terminated|timeout exceeded when trying to connect|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end|driver has already been destroyed|PGlite (database )?is closed|not connected|Connection refused|Pool is closed|connection is in closed state|Connection lost/i;

/** Whether an error from the database driver means storage is unreachable (answered as 503). */
export function isStorageUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && (unavailableStates.test(code) || unavailableErrnos.has(code) || unavailableMysqlCodes.has(code))) return true;
  if (error instanceof AggregateError && error.errors.some(isStorageUnavailable)) return true;
  return unavailableMessages.test(error.message);
}

/**
 * The database asks the client to retry the whole transaction: on PostgreSQL a deadlock or
 * serialization failure; on MySQL a deadlock (1213) or a lock wait timeout (1205), which MySQL
 * answers by rolling back only the statement, so the transaction is rolled back and run again.
 */
export function isRetryableConflict(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  return code === '40P01' || code === '40001' || errno === 1213 || errno === 1205;
}

/** What a client is told when conflicting writes outlasted the store's retries: the same write later will do. */
const CONFLICT_MESSAGE = 'Conflicting writes kept the database busy; try again shortly.';

/**
 * Contract errors pass through; an unreachable database, or a deadlock or serialization failure
 * that outlasted the retries, becomes `storage_unavailable` (503, retryable); anything else is a bug.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StockwireError) return error;
  if (isStorageUnavailable(error)) return new StockwireError('storage_unavailable', undefined, { cause: error });
  if (isRetryableConflict(error)) return new StockwireError('storage_unavailable', CONFLICT_MESSAGE, { cause: error });
  return error;
}

/** Runs one query, answering failures the way `toStoreError` says. */
export async function storeQuery<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    throw toStoreError(error);
  }
}
