import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { StockwireError } from '../errors.js';
import { StockStore } from './stock-store.js';

/**
 * A deadlock or serialization failure that every retry meets again: the database itself raises it
 * (a trigger on one product's stock row, with the SQLSTATE and MySQL error number of the real thing),
 * so the error travels through the real driver and the store's real retry loop.
 */
describe.each(databaseBackends())('conflicts that outlast the retries on $name', ({ name, databaseUrl }) => {
  let store: StockStore;
  let merchantId: string;
  const trigger = `sw_conflict_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const mysql = name === 'mariadb';

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    merchantId = (await store.createMerchant({ name: 'Conflicts' })).id;
    await store.setStock(merchantId, 'HOT', { onHand: 10 });
    if (mysql) {
      await sql
        .raw(
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON stock FOR EACH ROW BEGIN
             IF NEW.merchant_id = '${merchantId}' AND NEW.sku = 'HOT' THEN
               SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found when trying to get lock';
             END IF;
           END`,
        )
        .execute(store.db);
    } else {
      await sql
        .raw(
          `CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$`,
        )
        .execute(store.db);
      await sql
        .raw(
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON stock FOR EACH ROW
           WHEN (NEW.merchant_id = '${merchantId}' AND NEW.sku = 'HOT') EXECUTE FUNCTION ${trigger}()`,
        )
        .execute(store.db);
    }
  });

  afterAll(async () => {
    if (!store) return;
    await sql.raw(mysql ? `DROP TRIGGER IF EXISTS ${trigger}` : `DROP TRIGGER IF EXISTS ${trigger} ON stock`).execute(store.db);
    if (!mysql) await sql.raw(`DROP FUNCTION IF EXISTS ${trigger}()`).execute(store.db);
    await store.close();
  });

  async function refusal(write: Promise<unknown>): Promise<StockwireError> {
    const error = await write.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StockwireError);
    return error as StockwireError;
  }

  it('answers storage_unavailable (503, retryable) and writes nothing', async () => {
    const writes = [
      () => store.setStock(merchantId, 'HOT', { onHand: 3 }),
      () => store.adjustStock(merchantId, 'HOT', { delta: -1 }),
      () => store.applyBatch(merchantId, [{ sku: 'HOT', delta: -2 }]),
    ];
    for (const write of writes) {
      const error = await refusal(write());
      expect(error.code).toBe('storage_unavailable');
      expect(error.status).toBe(503);
      expect(error.message).toMatch(/try again/);
    }
    const stock = await store.getStock(merchantId, 'HOT');
    expect(stock).toMatchObject({ onHand: 10, version: 1 });
  });

  it('leaves other products alone', async () => {
    const other = await store.setStock(merchantId, 'CALM', { onHand: 4 });
    expect((await store.adjustStock(merchantId, 'CALM', { delta: -1 })).onHand).toBe(other.onHand - 1);
  });
});
