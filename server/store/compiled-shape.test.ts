import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { CompiledShape } from './compiled-shape.js';
import { isMysql } from './sql-dialect.js';
import { StockStore } from './stock-store.js';

describe.each(databaseBackends())('CompiledShape on $name', ({ databaseUrl }) => {
  let store: StockStore;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('builds once, binds each call its own values, a placeholder used twice in both places, literals kept', async () => {
    let builds = 0;
    const shape = new CompiledShape<{ name: string; n: number }>(['name', 'n'], (db, p) => {
      builds += 1;
      // PostgreSQL must be told a parameter's type where nothing else says it; MySQL takes no `::`.
      const typed = (value: unknown, type: string) => (isMysql(db) ? sql`${value}` : sql`${value}::${sql.raw(type)}`);
      const label = sql<string>`concat(${typed(p.name, 'text')}, '-', ${typed(p.n, 'integer')}, '-', ${typed(p.name, 'text')}, '-', ${typed('fixed', 'text')})`;
      return db.selectFrom('merchants').select(label.as('label')).limit(1).compile();
    });
    await store.createMerchant({ name: 'shape' });
    for (const [name, n] of [['a', 1], ['b', 22]] as const) {
      const { rows } = await store.db.executeQuery<{ label: string }>(shape.bind(store.db, { name, n }));
      expect(rows).toEqual([{ label: `${name}-${n}-${name}-fixed` }]);
    }
    expect(builds).toBe(1);
    // The text never holds a value: the same for every call.
    expect(shape.sql(store.db)).not.toContain('fixed');
  });

  it('binds inside a transaction as on the database', async () => {
    const shape = new CompiledShape<{ n: number }>(['n'], (db, p) =>
      db
        .selectFrom('merchants')
        .select(sql<number>`${p.n} + 1`.as('next'))
        .where('name', '=', 'shape')
        .limit(1)
        .compile(),
    );
    const next = await store.db.transaction().execute(async (trx) => (await trx.executeQuery<{ next: number | string }>(shape.bind(trx, { n: 41 }))).rows[0]?.next);
    expect(Number(next)).toBe(42);
  });

  it('refuses a shape that does not place a placeholder as a parameter', () => {
    const shape = new CompiledShape<{ n: number; unused: string }>(['n', 'unused'], (db, p) => db.selectFrom('merchants').select(sql<number>`${p.n}`.as('n')).compile());
    expect(() => shape.bind(store.db, { n: 1, unused: 'x' })).toThrow(/unused not placed/);
  });
});
