import { describe, expect, it } from 'vitest';
import { StockwireError } from '../errors.js';
import { isRetryableConflict, isStorageUnavailable } from '../store/storage-errors.js';
import { toStockwireError } from './errors.js';

describe('toStockwireError', () => {
  it('keeps contract errors', () => {
    const error = new StockwireError('insufficient_stock', 'only 2');
    expect(toStockwireError(error)).toBe(error);
  });

  it('maps framework refusals of client input to 4xx contract codes', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'payload_too_large'],
      [{ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }, 'validation_failed'],
      [{ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, 'validation_failed'],
      [{ code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 }, 'validation_failed'],
      [{ validation: [{ instancePath: '/delta', message: 'must be integer' }], validationContext: 'body' }, 'validation_failed'],
      [{ statusCode: 429 }, 'rate_limited'],
    ];
    for (const [fields, code] of cases) {
      expect(toStockwireError(Object.assign(new Error('x'), fields)).code).toBe(code);
    }
    expect(
      toStockwireError(Object.assign(new Error('x'), { validation: [{ instancePath: '/delta', message: 'must be integer' }], validationContext: 'body' }))
        .message,
    ).toBe('body.delta must be integer');
  });

  it('answers 503 for an unreachable database and 500 without details for our own bugs', () => {
    expect(toStockwireError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })).code).toBe(
      'storage_unavailable',
    );
    // A deadlock or serialization failure that outlasted the store's retries: retryable, not a bug.
    for (const conflict of [{ code: '40P01' }, { code: '40001' }, { code: 'ER_LOCK_DEADLOCK', errno: 1213 }, { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }]) {
      expect(toStockwireError(Object.assign(new Error('deadlock'), conflict)).status).toBe(503);
    }
    const bug = toStockwireError(new TypeError("Cannot read properties of undefined (reading 'sku')"));
    expect(bug.status).toBe(500);
    expect(bug.toBody()).toEqual({ error: { code: 'internal_error', message: 'Internal error.' } });
  });
});

describe('isStorageUnavailable', () => {
  it('tells connection trouble from query errors', () => {
    const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(isStorageUnavailable(withCode('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isStorageUnavailable(withCode('08006'))).toBe(true);
    expect(isStorageUnavailable(withCode('3D000', 'database "x" does not exist'))).toBe(true);
    expect(isStorageUnavailable(withCode('53300', 'too many connections'))).toBe(true);
    expect(isStorageUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStorageUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isStorageUnavailable(new Error('PGlite database is closed'))).toBe(true);
    expect(isStorageUnavailable(withCode('23514', 'violates check constraint'))).toBe(false);
    expect(isStorageUnavailable(withCode('42601', 'syntax error'))).toBe(false);
    expect(isStorageUnavailable('not an error')).toBe(false);
  });

  it('tells MySQL connection trouble from query errors', () => {
    const mysql = (code: string, errno: number, message = 'x') => Object.assign(new Error(message), { code, errno });
    expect(isStorageUnavailable(mysql('PROTOCOL_CONNECTION_LOST', 0, 'Connection lost: The server closed the connection.'))).toBe(true);
    expect(isStorageUnavailable(mysql('ER_SERVER_SHUTDOWN', 1053, 'Server shutdown in progress'))).toBe(true);
    expect(isStorageUnavailable(mysql('ER_CON_COUNT_ERROR', 1040, 'Too many connections'))).toBe(true);
    expect(isStorageUnavailable(new Error("Can't add new command when connection is in closed state"))).toBe(true);
    expect(isStorageUnavailable(new Error('Pool is closed.'))).toBe(true);
    expect(isStorageUnavailable(mysql('ER_CONSTRAINT_FAILED', 4025, 'CONSTRAINT `stock_available_non_negative` failed'))).toBe(false);
    expect(isStorageUnavailable(mysql('ER_DUP_ENTRY', 1062, 'Duplicate entry'))).toBe(false);
    expect(isRetryableConflict(mysql('ER_LOCK_DEADLOCK', 1213, 'Deadlock found when trying to get lock'))).toBe(true);
    expect(isRetryableConflict(mysql('ER_LOCK_WAIT_TIMEOUT', 1205, 'Lock wait timeout exceeded'))).toBe(true);
    expect(isRetryableConflict(mysql('ER_DUP_ENTRY', 1062))).toBe(false);
  });
});
