import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { statusOf } from '../stock/public-face.js';
import { stockEventType } from '../stock/stock-events.js';
import { stockEventSql } from './stock-event-outbox.js';
import { StockStore } from './stock-store.js';

describe.each(databaseBackends())('stockEventSql on $name', ({ databaseUrl }) => {
  let store: StockStore;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('decides the same event as the TypeScript rule for every pair of counts around the threshold', async () => {
    const cases: Array<{ before: number; after: number; threshold: number }> = [];
    for (const threshold of [0, 1, 5]) {
      for (const before of [0, 1, 4, 5, 6, 100]) for (const after of [0, 1, 4, 5, 6, 100]) cases.push({ before, after, threshold });
    }
    // Literal rows, so the same query runs on every database; the inputs are sums, as in the hot path.
    const rows = cases.map((c) => sql`select ${sql.lit(c.before)} as b, ${sql.lit(c.after)} as a, ${sql.lit(c.threshold)} as t`);
    const { rows: events } = await sql<{ event: string | null }>`
      select ${stockEventSql(sql`t.b + 0`, sql`0 + t.a`, sql`t.t`)} as event
        from (${sql.join(rows, sql` union all `)}) as t`.execute(store.db);
    expect(events.map((e) => e.event)).toEqual(
      cases.map((c) => stockEventType(statusOf(c.before, c.threshold), statusOf(c.after, c.threshold))),
    );
  });

  it('tells onEventsWritten of a write whose status moved the way an event is sent for, and of no other', async () => {
    const merchant = await store.createMerchant({ name: 'events written' });
    await store.upsertProduct(merchant.id, 'WAKE', { display: 'exact', lowStockThreshold: 2 });
    await store.setStock(merchant.id, 'WAKE', { onHand: 10 });
    let told = 0;
    const stop = store.onEventsWritten(() => (told += 1));
    await store.adjustStock(merchant.id, 'WAKE', { delta: -1 }); // in stock, 9
    expect(told).toBe(0);
    await store.adjustStock(merchant.id, 'WAKE', { delta: -7 }); // low stock, 2
    expect(told).toBe(1);
    await store.adjustStock(merchant.id, 'WAKE', { delta: -2 }); // sold out
    expect(told).toBe(2);
    stop();
  });
});
