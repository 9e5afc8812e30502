import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { faceKey, publicFace } from '../stock/public-face.js';
import { displayPolicies } from '../stock/types.js';
import { faceExpression } from './public-face-sql.js';
import { StockStore } from './stock-store.js';

describe.each(databaseBackends())('faceExpression on $name', ({ databaseUrl }) => {
  let store: StockStore;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
  });

  // The inputs are sums, as in the write paths (`s.on_hand + $1`): the rule must group them.
  it('computes the same face key as the TypeScript rule, for every policy', async () => {
    const cases: Array<{ onHand: number; reserved: number; threshold: number; display: string }> = [];
    for (const display of displayPolicies) {
      for (const threshold of [0, 1, 5]) {
        for (const onHand of [0, 1, 2, 5, 6, 7, 100, 1_000_000_000]) {
          for (const reserved of [0, 1, 5]) if (reserved <= onHand) cases.push({ onHand, reserved, threshold, display });
        }
      }
    }
    // Literal rows, so the same query runs on every database (no casts, no VALUES-list dialects).
    const rows = cases.map(
      (c) => sql`select ${sql.lit(c.onHand)} as on_hand, ${sql.lit(c.reserved)} as reserved, ${sql.lit(c.threshold)} as threshold, ${sql.lit(c.display)} as display`,
    );
    const { rows: keys } = await sql<{ key: string }>`
      select ${faceExpression(store.db, sql`t.on_hand + 0`, sql`0 + t.reserved`, sql`t.threshold`, sql`t.display`)} as ${sql.id('key')}
        from (${sql.join(rows, sql` union all `)}) as t`.execute(store.db);
    expect(keys.map((k) => k.key)).toEqual(
      cases.map((c) => faceKey(publicFace(c.onHand - c.reserved, c.threshold, c.display as (typeof displayPolicies)[number]))),
    );
  });
});
