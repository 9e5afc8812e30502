import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { StockwireError } from '../errors.js';
import type { StockRecord } from '../stock/types.js';
import { fullView } from '../stock/views.js';
import type { CombinedResult, KeptAnswer } from './stock-store.js';
import { StockStore } from './stock-store.js';

function openStore(databaseUrl: string | undefined, combineMaxItems?: number): Promise<StockStore> {
  return StockStore.open({
    databaseUrl,
    dataDir: 'memory://',
    idempotencyTtlHours: 24,
    reservationSweepIntervalMs: 0,
    ...(combineMaxItems === undefined ? {} : { combineMaxItems }),
  });
}

type Outcome = { ok: true; stock: StockRecord } | { ok: false; code: string };

/** Settles every write, so a refused one is an outcome like the others. */
function settle(write: Promise<StockRecord>): Promise<Outcome> {
  return write.then(
    (stock) => ({ ok: true as const, stock }),
    (error: unknown) => {
      if (error instanceof StockwireError) return { ok: false as const, code: error.code };
      throw error;
    },
  );
}

const adjustAnswer = (result: CombinedResult) => ({
  status: 200,
  body: fullView((result as Extract<CombinedResult, { kind: 'adjust' }>).stock),
});

describe.each(databaseBackends())('write combining on $name', ({ databaseUrl }) => {
  let store: StockStore;
  let merchantId: string;

  beforeAll(async () => {
    store = await openStore(databaseUrl);
    merchantId = (await store.createMerchant({ name: 'Flash' })).id;
  });
  afterAll(async () => {
    await store?.close();
  });

  it('applies the writes that queue behind one in flight as one group: fewer transactions than writes', async () => {
    await store.setStock(merchantId, 'HOT', { onHand: 1000 });
    const before = store.combiningStats;
    const results = await Promise.all(Array.from({ length: 50 }, () => store.adjustStock(merchantId, 'HOT', { delta: -1 })));
    const after = store.combiningStats;
    expect(after.items - before.items).toBe(50);
    // The first goes alone; the 49 that arrived while it was in flight go together.
    expect(after.groups - before.groups).toBe(2);
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(await store.getStock(merchantId, 'HOT')).toMatchObject({ onHand: 950, version: 51 });
  });

  it('gives each write its own answer, version and journal row, in arrival order; a refused one in the middle changes nothing for its neighbours', async () => {
    await store.setStock(merchantId, 'MIX', { onHand: 5 });
    const deltas = [-2, -2, -10, -1, 3, -5, -3];
    const outcomes = await Promise.all(deltas.map((delta, i) => settle(store.adjustStock(merchantId, 'MIX', { delta, reason: `order ${i}` }))));
    // 5 -2=3, -2=1, -10 refused, -1=0, +3=3, -5 refused, -3=0
    expect(outcomes.map((o) => (o.ok ? [o.stock.onHand, o.stock.version] : o.code))).toEqual([
      [3, 2],
      [1, 3],
      'insufficient_stock',
      [0, 4],
      [3, 5],
      'insufficient_stock',
      [0, 6],
    ]);
    const journal = await store.journal(merchantId, 'MIX');
    expect(journal.map((j) => [j.version, j.kind, j.onHandDelta, j.reason])).toEqual([
      [1, 'create', 5, null],
      [2, 'adjust', -2, 'order 0'],
      [3, 'adjust', -2, 'order 1'],
      [4, 'adjust', -1, 'order 3'],
      [5, 'adjust', 3, 'order 4'],
      [6, 'adjust', -3, 'order 6'],
    ]);
    expect(await store.getStock(merchantId, 'MIX')).toMatchObject({ onHand: 0, reserved: 0, version: 6 });
  });

  it('combines holds with adjusts: each hold gets its own reservation and journal row, and never takes available below zero', async () => {
    await store.setStock(merchantId, 'HOLDS', { onHand: 4 });
    const writes: Array<Promise<unknown>> = [
      store.adjustStock(merchantId, 'HOLDS', { delta: -1 }),
      store.holdReservation(merchantId, { sku: 'HOLDS', quantity: 2, ttlSeconds: 60 }),
      store.holdReservation(merchantId, { sku: 'HOLDS', quantity: 2, ttlSeconds: 60 }),
      store.adjustStock(merchantId, 'HOLDS', { delta: 1 }),
      store.holdReservation(merchantId, { sku: 'HOLDS', quantity: 1, ttlSeconds: 60 }),
    ];
    const settled = await Promise.allSettled(writes);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(((settled[2] as PromiseRejectedResult).reason as StockwireError).code).toBe('insufficient_stock');
    const holds = [settled[1], settled[4]].map((s) => (s as PromiseFulfilledResult<{ id: string; quantity: number; state: string }>).value);
    expect(holds.map((h) => [h.quantity, h.state])).toEqual([
      [2, 'held'],
      [1, 'held'],
    ]);
    expect(holds[0]!.id).not.toBe(holds[1]!.id);
    expect(await store.getStock(merchantId, 'HOLDS')).toMatchObject({ onHand: 4, reserved: 3, version: 5 });
    const journal = await store.journal(merchantId, 'HOLDS');
    expect(journal.map((j) => [j.version, j.kind, j.onHandDelta, j.reservedDelta, j.reservationId])).toEqual([
      [1, 'create', 4, 0, null],
      [2, 'adjust', -1, 0, null],
      [3, 'hold', 0, 2, holds[0]!.id],
      [4, 'adjust', 1, 0, null],
      [5, 'hold', 0, 1, holds[1]!.id],
    ]);
    expect(await store.getReservation(merchantId, holds[1]!.id)).toMatchObject({ quantity: 1, state: 'held', sku: 'HOLDS' });
  });

  it('keeps every Idempotency-Key of a group with its own answer: a repeat replays it, another body under the same key is a conflict', async () => {
    await store.setStock(merchantId, 'KEYS', { onHand: 3 });
    const write = (key: string | undefined, delta: number) =>
      store.writeCombinable(
        merchantId,
        'KEYS',
        { kind: 'adjust', delta },
        key === undefined ? undefined : { key, fingerprint: `adjust ${delta}` },
        adjustAnswer,
      );
    const answers: KeptAnswer[] = await Promise.all([
      write(undefined, -1),
      write('k-a', -1),
      write('k-a', -1),
      write('k-b', -5),
      write('k-a', -2),
      write('k-c', -1),
    ]);
    const brief = (a: KeptAnswer) => [a.answer.status, (a.answer.body as { version?: number; error?: { code: string } }).version ?? (a.answer.body as { error: { code: string } }).error.code, a.replayed];
    expect(answers.map(brief)).toEqual([
      [200, 2, false],
      [200, 3, false],
      [200, 3, true],
      [409, 'insufficient_stock', false],
      [409, 'idempotency_conflict', false],
      [200, 4, false],
    ]);
    // Later retries get the kept answers, the refusal included, and change nothing.
    expect((await write('k-a', -1)).answer).toEqual(answers[1]!.answer);
    expect(await write('k-b', -5)).toEqual({ answer: answers[3]!.answer, replayed: true });
    expect((await write('k-c', -2)).answer.status).toBe(409);
    const journal = await store.journal(merchantId, 'KEYS');
    expect(journal.map((j) => [j.version, j.idempotencyKey])).toEqual([
      [1, null],
      [2, null],
      [3, 'k-a'],
      [4, 'k-c'],
    ]);
    expect(await store.getStock(merchantId, 'KEYS')).toMatchObject({ onHand: 0, version: 4 });
  });

  it('moves the public version at most once per group and announces the group once', async () => {
    await store.upsertProduct(merchantId, 'PUB', { display: 'exact' });
    await store.setStock(merchantId, 'PUB', { onHand: 100 });
    const start = (await store.getStock(merchantId, 'PUB'))!;
    const announced: StockRecord[][] = [];
    const stop = store.onPublicChange((records) => announced.push([...records]));
    try {
      await Promise.all(Array.from({ length: 10 }, () => store.adjustStock(merchantId, 'PUB', { delta: -1 })));
    } finally {
      stop();
    }
    const end = (await store.getStock(merchantId, 'PUB'))!;
    expect(end.version - start.version).toBe(10);
    // One write alone, then one group of nine: two committed writes, two public versions.
    expect(end.publicVersion - start.publicVersion).toBe(2);
    expect(announced.map((records) => records.map((r) => [r.onHand, r.publicVersion]))).toEqual([
      [[99, start.publicVersion + 1]],
      [[90, start.publicVersion + 2]],
    ]);
  });

  it('stays exact when 400 buyers race for 100 units with holds and adjusts mixed', async () => {
    await store.setStock(merchantId, 'RACE', { onHand: 100 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 400 }, (_, i) =>
        i % 2 === 0 ? store.adjustStock(merchantId, 'RACE', { delta: -1 }) : store.holdReservation(merchantId, { sku: 'RACE', quantity: 1, ttlSeconds: 60 }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(100);
    const refusals = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as StockwireError).code] : []));
    expect(refusals).toEqual(Array.from({ length: 300 }, () => 'insufficient_stock'));
    const row = (await store.getStock(merchantId, 'RACE'))!;
    expect(row.onHand - row.reserved).toBe(0);
    expect(row.version).toBe(101);
    const journal = await store.journal(merchantId, 'RACE');
    expect(journal.map((j) => j.version)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(journal.reduce((sum, j) => sum + j.onHandDelta, 0)).toBe(row.onHand);
    expect(journal.reduce((sum, j) => sum + j.reservedDelta, 0)).toBe(row.reserved);
  });

  it('answers not_found for every write of a group on an unknown SKU', async () => {
    const outcomes = await Promise.all([1, 2, 3].map(() => settle(store.adjustStock(merchantId, 'NOPE', { delta: 1 }))));
    expect(outcomes).toEqual([1, 2, 3].map(() => ({ ok: false, code: 'not_found' })));
  });
});

describe.each(databaseBackends())('write combining limits on $name', ({ databaseUrl }) => {
  it('takes the same one-statement adjust with the statement prepared per connection or not', async () => {
    for (const preparedStatements of [true, false]) {
      const store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0, preparedStatements });
      try {
        const m = await store.createMerchant({ name: `prepared ${preparedStatements}` });
        await store.setStock(m.id, 'ONE', { onHand: 2 });
        // One at a time: each goes alone, down the one-statement path, on the pool's connections in turn.
        for (let i = 0; i < 12; i++) await store.adjustStock(m.id, 'ONE', { delta: i % 2 === 0 ? -1 : 1, reason: `r${i}` });
        await expect(store.adjustStock(m.id, 'ONE', { delta: -3 })).rejects.toMatchObject({ code: 'insufficient_stock' });
        expect(await store.getStock(m.id, 'ONE')).toMatchObject({ onHand: 2, version: 13 });
        expect((await store.journal(m.id, 'ONE')).at(-1)).toMatchObject({ version: 13, reason: 'r11', onHandDelta: 1 });
      } finally {
        await store.close();
      }
    }
  });

  it('bounds a group by combineMaxItems, and 1 turns combining off', async () => {
    for (const [max, groups] of [
      [4, 1 + 3],
      [1, 10],
    ] as const) {
      const store = await openStore(databaseUrl, max);
      try {
        const m = await store.createMerchant({ name: `max ${max}` });
        await store.setStock(m.id, 'HOT', { onHand: 100 });
        const before = store.combiningStats;
        await Promise.all(Array.from({ length: 10 }, () => store.adjustStock(m.id, 'HOT', { delta: -1 })));
        // max 4: one alone, then 9 queued in groups of 4, 4 and 1.
        expect(store.combiningStats.groups - before.groups).toBe(groups);
        expect(await store.getStock(m.id, 'HOT')).toMatchObject({ onHand: 90, version: 11 });
      } finally {
        await store.close();
      }
    }
  });
});
