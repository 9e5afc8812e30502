import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { StockwireError } from '../errors.js';
import type { StockRecord } from '../stock/types.js';
import { StockStore } from './stock-store.js';

function openStore(databaseUrl: string | undefined, sweepMs = 0): Promise<StockStore> {
  return StockStore.open({
    databaseUrl,
    dataDir: 'memory://',
    idempotencyTtlHours: 24,
    reservationSweepIntervalMs: sweepMs,
  });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StockwireError);
  expect((error as StockwireError).code).toBe(code);
}

describe.each(databaseBackends())('StockStore on $name', ({ databaseUrl }) => {
  let store: StockStore;
  const committed: StockRecord[][] = [];

  beforeAll(async () => {
    store = await openStore(databaseUrl);
    store.onCommitted((records) => committed.push([...records]));
  });
  afterAll(async () => {
    await store?.close();
  });

  it('creates merchants and resolves their keys by kind', async () => {
    const m = await store.createMerchant({ name: 'Shop', allowedOrigins: ['https://shop.example'] });
    expect(m.secretKey).toMatch(/^sk_/);
    expect(m.publishableKey).toMatch(/^pk_/);
    expect(await store.resolveSecretKey(m.secretKey)).toEqual({ merchantId: m.id });
    expect(await store.resolveSecretKey(m.publishableKey)).toBeNull();
    expect(await store.resolvePublishableKey(m.publishableKey)).toEqual({
      merchantId: m.id,
      allowedOrigins: ['https://shop.example'],
    });
    expect(await store.resolvePublishableKey('pk_forged')).toBeNull();
    const row = await store.db.selectFrom('merchants').selectAll().where('id', '=', m.id).executeTakeFirstOrThrow();
    expect(row.secret_key_hash).not.toContain(m.secretKey);
  });

  it('sets, adjusts, versions and journals every change', async () => {
    const m = await store.createMerchant({ name: 'A' });
    const created = await store.setStock(m.id, 'SKU-1', { onHand: 10 });
    expect(created).toMatchObject({ sku: 'SKU-1', onHand: 10, reserved: 0, version: 1, lowStockThreshold: 5, display: 'exact' });
    const same = await store.setStock(m.id, 'SKU-1', { onHand: 10 });
    expect(same.version).toBe(1);
    const adjusted = await store.adjustStock(m.id, 'SKU-1', { delta: -3, reason: 'order 1' });
    expect(adjusted).toMatchObject({ onHand: 7, version: 2 });
    await expectCode(store.adjustStock(m.id, 'SKU-1', { delta: -8 }), 'insufficient_stock');
    await expectCode(store.adjustStock(m.id, 'NOPE', { delta: 1 }), 'not_found');
    await expectCode(store.setStock(m.id, 'SKU-1', { onHand: 1, ifVersion: 1 }), 'version_conflict');
    await expectCode(store.setStock(m.id, 'NEW', { onHand: 1, ifVersion: 3 }), 'version_conflict');
    expect((await store.setStock(m.id, 'SKU-1', { onHand: 1, ifVersion: 2 })).version).toBe(3);
    const journal = await store.journal(m.id, 'SKU-1');
    expect(journal.map((j) => [j.version, j.kind, j.onHandDelta])).toEqual([
      [1, 'create', 10],
      [2, 'adjust', -3],
      [3, 'set', -6],
    ]);
    expect(journal[1]!.reason).toBe('order 1');
  });

  it('announces committed changes only', async () => {
    const m = await store.createMerchant({ name: 'Events' });
    committed.length = 0;
    await store.setStock(m.id, 'E', { onHand: 2 });
    await store.adjustStock(m.id, 'E', { delta: -5 }).catch(() => {});
    await store.upsertProduct(m.id, 'E', { name: 'only a name' });
    await store.upsertProduct(m.id, 'E', { lowStockThreshold: 1 });
    const mine = committed.flat().filter((r) => r.merchantId === m.id);
    expect(mine.map((r) => r.version)).toEqual([1, 2]);
    expect(mine[1]!.lowStockThreshold).toBe(1);
  });

  it('keeps tenants apart', async () => {
    const a = await store.createMerchant({ name: 'A' });
    const b = await store.createMerchant({ name: 'B' });
    await store.setStock(a.id, 'SHARED', { onHand: 5 });
    expect(await store.getStock(b.id, 'SHARED')).toBeNull();
    await expectCode(store.adjustStock(b.id, 'SHARED', { delta: -1 }), 'not_found');
    await store.setStock(b.id, 'SHARED', { onHand: 1 });
    expect((await store.getStock(a.id, 'SHARED'))!.onHand).toBe(5);
    expect(await store.publicViews(b.id, ['SHARED', 'X'])).toEqual([
      { sku: 'SHARED', status: 'low_stock', available: 1, version: 1 },
      { sku: 'X', status: 'unknown', version: 0 },
    ]);
  });

  it('applies display policy in public views and bumps the version on product changes', async () => {
    const m = await store.createMerchant({ name: 'D' });
    await store.setStock(m.id, 'P', { onHand: 50 });
    const p = await store.upsertProduct(m.id, 'P', { display: 'threshold', lowStockThreshold: 10 });
    expect(p.stock.version).toBe(2);
    expect(await store.publicViews(m.id, ['P'])).toEqual([{ sku: 'P', status: 'in_stock', version: 2 }]);
    await store.adjustStock(m.id, 'P', { delta: -45 });
    expect(await store.publicViews(m.id, ['P'])).toEqual([{ sku: 'P', status: 'low_stock', available: 5, version: 3 }]);
    await store.upsertProduct(m.id, 'P', { display: 'status' });
    expect(await store.publicViews(m.id, ['P'])).toEqual([{ sku: 'P', status: 'low_stock', version: 4 }]);
  });

  it('lists products with a cursor', async () => {
    const m = await store.createMerchant({ name: 'L' });
    for (const sku of ['c', 'a', 'b']) await store.upsertProduct(m.id, sku, { name: sku.toUpperCase() });
    const first = await store.listProducts(m.id, { limit: 2 });
    expect(first.items.map((p) => p.sku)).toEqual(['a', 'b']);
    expect(first.nextCursor).toBe('b');
    const second = await store.listProducts(m.id, { limit: 2, after: first.nextCursor! });
    expect(second.items.map((p) => p.sku)).toEqual(['c']);
    expect(second.nextCursor).toBeNull();
  });

  it('applies batch items independently, in order', async () => {
    const m = await store.createMerchant({ name: 'Batch' });
    await store.setStock(m.id, 'B1', { onHand: 1 });
    const results = await store.applyBatch(m.id, [
      { sku: 'B2', onHand: 4 },
      { sku: 'B1', delta: -2 },
      { sku: 'B1', delta: -1 },
      { sku: 'MISSING', delta: 1 },
    ]);
    expect(results.map((r) => (r.ok ? `${r.sku}:${r.stock.onHand}` : `${r.sku}:${r.error.code}`))).toEqual([
      'B2:4',
      'B1:insufficient_stock',
      'B1:0',
      'MISSING:not_found',
    ]);
  });

  it('holds, commits and releases reservations', async () => {
    const m = await store.createMerchant({ name: 'R' });
    await store.setStock(m.id, 'R', { onHand: 5 });
    const hold = await store.holdReservation(m.id, { sku: 'R', quantity: 3, ttlSeconds: 60 });
    expect(hold).toMatchObject({ sku: 'R', quantity: 3, state: 'held' });
    expect(await store.getStock(m.id, 'R')).toMatchObject({ onHand: 5, reserved: 3 });
    await expectCode(store.holdReservation(m.id, { sku: 'R', quantity: 3, ttlSeconds: 60 }), 'insufficient_stock');
    await expectCode(store.adjustStock(m.id, 'R', { delta: -3 }), 'insufficient_stock');
    await expectCode(store.setStock(m.id, 'R', { onHand: 2 }), 'insufficient_stock');
    expect((await store.commitReservation(m.id, hold.id)).state).toBe('committed');
    expect(await store.getStock(m.id, 'R')).toMatchObject({ onHand: 2, reserved: 0 });
    await expectCode(store.commitReservation(m.id, hold.id), 'reservation_not_held');
    await expectCode(store.releaseReservation(m.id, hold.id), 'reservation_not_held');
    const second = await store.holdReservation(m.id, { sku: 'R', quantity: 2, ttlSeconds: 60 });
    expect((await store.releaseReservation(m.id, second.id)).state).toBe('released');
    expect((await store.releaseReservation(m.id, second.id)).state).toBe('released');
    await expectCode(store.commitReservation(m.id, second.id), 'reservation_not_held');
    await expectCode(store.commitReservation(m.id, 'res_nope'), 'not_found');
    const other = await store.createMerchant({ name: 'Other' });
    await expectCode(store.releaseReservation(other.id, second.id), 'not_found');
    expect(await store.getStock(m.id, 'R')).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it('treats an expired hold as released before the sweeper runs, and the sweeper releases it', async () => {
    const m = await store.createMerchant({ name: 'Exp' });
    await store.setStock(m.id, 'X', { onHand: 4 });
    const hold = await store.holdReservation(m.id, { sku: 'X', quantity: 4, ttlSeconds: 1 });
    expect(await store.publicViews(m.id, ['X'])).toEqual([{ sku: 'X', status: 'sold_out', available: 0, version: 2 }]);
    await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', hold.id).execute();
    // A write sees through it...
    expect((await store.adjustStock(m.id, 'X', { delta: -1 })).onHand).toBe(3);
    expect((await store.getReservation(m.id, hold.id))!.state).toBe('expired');
    // ...and a read does too.
    const second = await store.holdReservation(m.id, { sku: 'X', quantity: 3, ttlSeconds: 1 });
    await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', second.id).execute();
    expect(await store.getStock(m.id, 'X')).toMatchObject({ onHand: 3, reserved: 0 });
    await expectCode(store.commitReservation(m.id, second.id), 'reservation_not_held');
    const third = await store.holdReservation(m.id, { sku: 'X', quantity: 1, ttlSeconds: 1 });
    await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', third.id).execute();
    expect(await store.expireDueReservations()).toBeGreaterThanOrEqual(1);
    expect((await store.getReservation(m.id, third.id))!.state).toBe('expired');
    const raw = await store.db.selectFrom('stock').selectAll().where('merchant_id', '=', m.id).executeTakeFirstOrThrow();
    expect(raw.reserved).toBe(0);
    const journal = await store.journal(m.id, 'X');
    expect(journal.map((j) => j.version)).toEqual(journal.map((_, i) => i + 1));
    expect(journal.reduce((s, j) => s + j.reservedDelta, 0)).toBe(0);
  });

  it('runs the sweeper on its interval', async () => {
    const swept = await openStore(databaseUrl, 50);
    try {
      const m = await swept.createMerchant({ name: 'Sweep' });
      await swept.setStock(m.id, 'S', { onHand: 2 });
      const seen = new Promise<StockRecord>((resolve) =>
        swept.onCommitted((records) => {
          const r = records.find((x) => x.merchantId === m.id && x.reserved === 0 && x.version === 3);
          if (r) resolve(r);
        }),
      );
      const hold = await swept.holdReservation(m.id, { sku: 'S', quantity: 2, ttlSeconds: 1 });
      await swept.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', hold.id).execute();
      expect(await seen).toMatchObject({ onHand: 2, reserved: 0 });
    } finally {
      await swept.close();
    }
  });

  it('replays an Idempotency-Key and refuses it for another request', async () => {
    const m = await store.createMerchant({ name: 'Idem' });
    await store.setStock(m.id, 'I', { onHand: 5 });
    const work = () =>
      store.writeOnce(m.id, { key: 'k1', fingerprint: 'f1' }, async (tx) => {
        const r = await tx.adjust('I', { delta: -2 });
        return { status: 200, body: { onHand: r.onHand } };
      });
    expect(await work()).toEqual({ answer: { status: 200, body: { onHand: 3 } }, replayed: false });
    expect(await work()).toEqual({ answer: { status: 200, body: { onHand: 3 } }, replayed: true });
    const other = await store.writeOnce(m.id, { key: 'k1', fingerprint: 'f2' }, async () => ({ status: 200, body: {} }));
    expect(other.answer.status).toBe(409);
    expect(other.answer.body).toMatchObject({ error: { code: 'idempotency_conflict' } });
    expect((await store.getStock(m.id, 'I'))!.onHand).toBe(3);
    // A contract error is the kept answer too, and nothing changed.
    const failing = () =>
      store.writeOnce(m.id, { key: 'k2', fingerprint: 'f' }, async (tx) => {
        await tx.adjust('I', { delta: -1 });
        await tx.adjust('I', { delta: -10 });
        return { status: 200, body: {} };
      });
    expect((await failing()).answer).toMatchObject({ status: 409, body: { error: { code: 'insufficient_stock' } } });
    expect(await failing()).toMatchObject({ replayed: true, answer: { status: 409 } });
    expect((await store.getStock(m.id, 'I'))!.onHand).toBe(3);
    // Concurrent requests with one key: exactly one runs.
    const racing = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.writeOnce(m.id, { key: 'k3', fingerprint: 'f' }, async (tx) => {
          const r = await tx.adjust('I', { delta: -1 });
          return { status: 200, body: { onHand: r.onHand } };
        }),
      ),
    );
    expect(racing.filter((r) => !r.replayed)).toHaveLength(1);
    expect(racing.every((r) => (r.answer.body as { onHand: number }).onHand === 2)).toBe(true);
    expect((await store.getStock(m.id, 'I'))!.onHand).toBe(2);
  });

  it('never oversells: 400 concurrent -1 on 100 give 100 successes and 300 insufficient_stock', async () => {
    const m = await store.createMerchant({ name: 'Race' });
    await store.setStock(m.id, 'HOT', { onHand: 100 });
    const outcomes = await Promise.all(
      Array.from({ length: 400 }, () =>
        store.adjustStock(m.id, 'HOT', { delta: -1 }).then(
          () => 'ok',
          (e: unknown) => (e instanceof StockwireError ? e.code : String(e)),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(100);
    expect(outcomes.filter((o) => o === 'insufficient_stock')).toHaveLength(300);
    const row = await store.getStock(m.id, 'HOT');
    expect(row).toMatchObject({ onHand: 0, reserved: 0, version: 101 });
    const journal = await store.journal(m.id, 'HOT');
    expect(journal).toHaveLength(101);
    expect(journal.reduce((s, j) => s + j.onHandDelta, 0)).toBe(0);
  });

  it('lets an Idempotency-Key past its time be used afresh, and purges expired keys', async () => {
    const m = await store.createMerchant({ name: 'Expiry' });
    await store.setStock(m.id, 'E', { onHand: 5 });
    const write = (fingerprint: string) =>
      store.writeOnce(m.id, { key: 'old', fingerprint }, async (tx) => ({ status: 200, body: { onHand: (await tx.adjust('E', { delta: -1 })).onHand } }));
    expect((await write('a')).answer.body).toEqual({ onHand: 4 });
    const past = new Date(Date.now() - 60_000);
    await store.db.updateTable('idempotency_keys').set({ expires_at: past }).where('merchant_id', '=', m.id).execute();
    // Expired: another request under the key runs, and keeps its own answer.
    expect(await write('b')).toEqual({ answer: { status: 200, body: { onHand: 3 } }, replayed: false });
    expect(await write('b')).toEqual({ answer: { status: 200, body: { onHand: 3 } }, replayed: true });
    await store.db.updateTable('idempotency_keys').set({ expires_at: past }).where('merchant_id', '=', m.id).execute();
    expect(await store.purgeIdempotencyKeys()).toBeGreaterThanOrEqual(1);
    const left = await store.db.selectFrom('idempotency_keys').select('key').where('merchant_id', '=', m.id).execute();
    expect(left).toEqual([]);
  });

  it('keeps the stock CHECK in the database itself: a direct write below zero is refused', async () => {
    const m = await store.createMerchant({ name: 'Check' });
    await store.setStock(m.id, 'C', { onHand: 2 });
    const refused = await store.db
      .updateTable('stock')
      .set({ reserved: 3 })
      .where('merchant_id', '=', m.id)
      .where('sku', '=', 'C')
      .execute()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(Error);
    expect((await store.getStock(m.id, 'C'))!).toMatchObject({ onHand: 2, reserved: 0, version: 1 });
  });

  it('runs crossing batches to the end: rows locked in SKU order, a deadlock retried', async () => {
    const m = await store.createMerchant({ name: 'Batches' });
    const skus = Array.from({ length: 20 }, (_, i) => `B${String(i).padStart(2, '0')}`);
    await store.applyBatch(m.id, skus.map((sku) => ({ sku, onHand: 100 })));
    // Half the batches list the SKUs backwards: without the sorted lock order they would deadlock.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.applyBatch(m.id, (i % 2 === 0 ? skus : [...skus].reverse()).map((sku) => ({ sku, delta: -1 }))),
      ),
    );
    expect(results.flat().every((r) => r.ok)).toBe(true);
    const rows = await store.getStocks(m.id, skus);
    expect(rows.map((r) => r!.onHand)).toEqual(skus.map(() => 90));
  });
});
