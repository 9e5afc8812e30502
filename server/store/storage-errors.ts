import { StockwireError } from '../errors.js';

/** SQLSTATE classes that mean "the database is not there right now", not "this query is wrong". */
const unavailableStates = /^(08|57P|53|3D000|28|58)/;
const unavailableErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);
const unavailableMessages =
  /connection terminated|timeout exceeded when trying to connect|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end|driver has already been destroyed|PGlite (database )?is closed|not connected|Connection refused/i;

/** Whether an error from the database driver means storage is unreachable (answered as 503). */
export function isStorageUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && (unavailableStates.test(code) || unavailableErrnos.has(code))) return true;
  if (error instanceof AggregateError && error.errors.some(isStorageUnavailable)) return true;
  return unavailableMessages.test(error.message);
}

/** PostgreSQL asks the client to retry the whole transaction: deadlock or serialization failure. */
export function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** Contract errors pass through; an unreachable database becomes `storage_unavailable`; anything else is a bug. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StockwireError) return error;
  if (isStorageUnavailable(error)) return new StockwireError('storage_unavailable', undefined, { cause: error });
  return error;
}
