import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionMutex } from './connection-mutex.js';
import { PGliteDialect } from './pglite-dialect.js';

interface Counter {
  counter: { id: number; n: number };
}

describe('ConnectionMutex', () => {
  it('hands the lock over in arrival order', async () => {
    const mutex = new ConnectionMutex();
    const order: number[] = [];
    await mutex.lock();
    const waiters = [1, 2, 3].map((i) =>
      mutex.lock().then(() => {
        order.push(i);
        mutex.unlock();
      }),
    );
    mutex.unlock();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });
});

describe('PGliteDialect', () => {
  let db: Kysely<Counter>;

  beforeAll(async () => {
    db = new Kysely<Counter>({ dialect: new PGliteDialect({ database: () => PGlite.create() }) });
    await sql`create table counter (id int primary key, n int not null)`.execute(db);
    await db.insertInto('counter').values({ id: 1, n: 0 }).execute();
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it('runs concurrent transactions one at a time on its single connection', async () => {
    // Read, yield, write: interleaved on one session this would lose updates (or nest BEGINs).
    await Promise.all(
      Array.from({ length: 50 }, () =>
        db.transaction().execute(async (trx) => {
          const { n } = await trx.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
          await new Promise((r) => setTimeout(r, 1));
          await trx.updateTable('counter').set({ n: n + 1 }).where('id', '=', 1).execute();
        }),
      ),
    );
    expect((await db.selectFrom('counter').select('n').executeTakeFirstOrThrow()).n).toBe(50);
  });

  it('rolls back a failed transaction and frees the connection', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.updateTable('counter').set({ n: 1000 }).where('id', '=', 1).execute();
        await sql`select 1/0`.execute(trx);
      }),
    ).rejects.toThrow(/division by zero/);
    expect((await db.selectFrom('counter').select('n').executeTakeFirstOrThrow()).n).toBe(50);
  });

  it('reports affected rows', async () => {
    const result = await db.updateTable('counter').set({ n: 0 }).executeTakeFirst();
    expect(result.numUpdatedRows).toBe(1n);
  });
});
