import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { faceKey, publicFace } from '../stock/public-face.js';
import { displayPolicies } from '../stock/types.js';
import { faceSql } from './public-face-sql.js';
import { StockStore } from './stock-store.js';

describe.each(databaseBackends())('faceSql on $name', ({ databaseUrl }) => {
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
    const rows = cases.map(
      (c) => sql`(${c.onHand}::integer, ${c.reserved}::integer, ${c.threshold}::integer, ${c.display}::text)`,
    );
    const { rows: keys } = await sql<{ key: string }>`
      select ${faceSql(sql`t.on_hand + 0`, sql`0 + t.reserved`, sql`t.threshold`, sql`t.display`)} as key
        from (values ${sql.join(rows)}) as t(on_hand, reserved, threshold, display)`.execute(store.db);
    expect(keys.map((k) => k.key)).toEqual(
      cases.map((c) => faceKey(publicFace(c.onHand - c.reserved, c.threshold, c.display as (typeof displayPolicies)[number]))),
    );
  });
});
