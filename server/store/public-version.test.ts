import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, MysqlDialect, PostgresDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { createDatabase, createMysqlDatabase, dropDatabase, dropMysqlDatabase } from '../../test/support/throwaway-services.js';
import { faceKey, publicFace } from '../stock/public-face.js';
import type { StockRecord } from '../stock/types.js';
import { publicView } from '../stock/views.js';
import { migrations } from './migrations.js';
import { migrateToLatest } from './open-database.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { StaticMigrationProvider } from './static-migration-provider.js';
import { StockStore } from './stock-store.js';

/**
 * The public version on every write path: it moves only when the public face does, one per
 * committed write, and only such writes are announced (`onPublicChange`).
 */
describe.each(databaseBackends())('public version on $name', ({ name, databaseUrl }) => {
  let store: StockStore;
  let merchantId: string;
  const announced: StockRecord[] = [];

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    merchantId = (await store.createMerchant({ name: 'public versions' })).id;
    store.onPublicChange((records) => announced.push(...records));
  });
  afterAll(async () => {
    await store?.close();
  });

  const view = async (sku: string) => publicView((await store.getStock(merchantId, sku))!);
  const announcedFor = (sku: string) => announced.filter((r) => r.merchantId === merchantId && r.sku === sku).map((r) => r.publicVersion);

  it('keeps one public version while a status product sells 9 units one by one, until it sells out', async () => {
    await store.upsertProduct(merchantId, 'ST', { display: 'status', lowStockThreshold: 0 });
    await store.setStock(merchantId, 'ST', { onHand: 9 });
    const seen: number[] = [];
    for (let i = 0; i < 9; i++) {
      const record = await store.adjustStock(merchantId, 'ST', { delta: -1 });
      seen.push(publicView(record).version);
    }
    // Internal versions count every sale; the public one only the change to sold out.
    expect((await store.getStock(merchantId, 'ST'))!.version).toBe(11);
    expect(seen).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 3]);
    expect(await view('ST')).toEqual({ sku: 'ST', status: 'sold_out', version: 3 });
    expect(announcedFor('ST')).toEqual([1, 2, 3]);
  });

  it('keeps the public version of a threshold product while it is in stock', async () => {
    await store.upsertProduct(merchantId, 'TH', { display: 'threshold', lowStockThreshold: 5 });
    await store.setStock(merchantId, 'TH', { onHand: 40 });
    const start = await view('TH');
    for (let i = 0; i < 30; i++) await store.adjustStock(merchantId, 'TH', { delta: -1 });
    expect(await view('TH')).toEqual(start);
    await store.adjustStock(merchantId, 'TH', { delta: -5 });
    expect(await view('TH')).toEqual({ sku: 'TH', status: 'low_stock', available: 5, version: start.version + 1 });
  });

  it('moves once per transaction, and not at all when a batch leaves the face as it was', async () => {
    await store.upsertProduct(merchantId, 'B', { display: 'exact' });
    await store.setStock(merchantId, 'B', { onHand: 10 });
    const start = await view('B');
    const before = announced.length;
    await store.applyBatch(merchantId, [
      { sku: 'B', delta: -1 },
      { sku: 'B', delta: -1 },
      { sku: 'B', delta: 2 },
    ]);
    expect(await view('B')).toEqual(start);
    expect(announced.length).toBe(before);
    await store.applyBatch(merchantId, [
      { sku: 'B', delta: -1 },
      { sku: 'B', onHand: 4 },
    ]);
    expect(await view('B')).toEqual({ sku: 'B', status: 'low_stock', available: 4, version: start.version + 1 });
    expect(announcedFor('B').at(-1)).toBe(start.version + 1);
  });

  it('applies the rule to holds, commits, releases and expiry', async () => {
    await store.upsertProduct(merchantId, 'H', { display: 'threshold', lowStockThreshold: 2 });
    await store.setStock(merchantId, 'H', { onHand: 10 });
    const start = await view('H');
    const hold = await store.holdReservation(merchantId, { sku: 'H', quantity: 3, ttlSeconds: 60 });
    await store.commitReservation(merchantId, hold.id);
    const released = await store.holdReservation(merchantId, { sku: 'H', quantity: 2, ttlSeconds: 60 });
    await store.releaseReservation(merchantId, released.id);
    expect(await view('H')).toEqual(start);
    const low = await store.holdReservation(merchantId, { sku: 'H', quantity: 6, ttlSeconds: 60 });
    expect(await view('H')).toEqual({ sku: 'H', status: 'low_stock', available: 1, version: start.version + 1 });
    await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', low.id).execute();
    // The sweep takes due holds of every merchant: suites running beside this one share the database.
    expect(await store.expireDueReservations()).toBeGreaterThanOrEqual(1);
    expect(await view('H')).toEqual({ sku: 'H', status: 'in_stock', version: start.version + 2 });
    // A hidden hold that runs out is no news either.
    const hidden = await store.holdReservation(merchantId, { sku: 'H', quantity: 1, ttlSeconds: 60 });
    await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', hidden.id).execute();
    const quiet = announcedFor('H').length;
    expect(await store.expireDueReservations()).toBeGreaterThanOrEqual(1);
    expect(announcedFor('H').length).toBe(quiet);
    expect(await view('H')).toEqual({ sku: 'H', status: 'in_stock', version: start.version + 2 });
  });

  it('moves on a settings change only when the face changes with it', async () => {
    await store.upsertProduct(merchantId, 'P', { display: 'status', lowStockThreshold: 5 });
    await store.setStock(merchantId, 'P', { onHand: 20 });
    const start = await view('P');
    await store.upsertProduct(merchantId, 'P', { name: 'renamed', lowStockThreshold: 10 });
    await store.upsertProduct(merchantId, 'P', { display: 'threshold' });
    expect(await view('P')).toEqual(start);
    await store.upsertProduct(merchantId, 'P', { display: 'exact' });
    expect(await view('P')).toEqual({ sku: 'P', status: 'in_stock', available: 20, version: start.version + 1 });
    await store.upsertProduct(merchantId, 'P', { display: 'status', lowStockThreshold: 25 });
    expect(await view('P')).toEqual({ sku: 'P', status: 'low_stock', version: start.version + 2 });
    expect(announcedFor('P').slice(-2)).toEqual([start.version + 1, start.version + 2]);
  });

  it('keeps the internal version for secret keys and ifVersion', async () => {
    await store.upsertProduct(merchantId, 'I', { display: 'status', lowStockThreshold: 0 });
    await store.setStock(merchantId, 'I', { onHand: 5 });
    await store.adjustStock(merchantId, 'I', { delta: -1 });
    const record = (await store.getStock(merchantId, 'I'))!;
    expect([record.version, record.publicVersion]).toEqual([3, 2]);
    await expect(store.setStock(merchantId, 'I', { onHand: 7, ifVersion: 1 })).rejects.toMatchObject({ code: 'version_conflict' });
    expect((await store.setStock(merchantId, 'I', { onHand: 7, ifVersion: 3 })).version).toBe(4);
  });

  it(`migrates an existing database: public versions start at the internal ones (${name})`, async () => {
    const fresh = await freshDatabase(databaseUrl);
    try {
      const migrator = new Migrator({ db: fresh.db, provider: new StaticMigrationProvider() });
      const first = Object.keys(migrations)[0]!;
      expect((await migrator.migrateTo(first)).error).toBeUndefined();
      // The schema as the previous release left it, with some history behind each product.
      await sql`insert into merchants (id, name, publishable_key, secret_key_hash) values ('m1', 'old', 'pk_old', 'hash')`.execute(fresh.db);
      await sql`insert into products (merchant_id, sku, display, low_stock_threshold) values
        ('m1', 'S', 'status', 5), ('m1', 'T', 'threshold', 5), ('m1', 'E', 'exact', 5)`.execute(fresh.db);
      await sql`insert into stock (merchant_id, sku, on_hand, reserved, version) values
        ('m1', 'S', 9, 0, 7), ('m1', 'T', 3, 1, 12), ('m1', 'E', 0, 0, 4)`.execute(fresh.db);

      await migrateToLatest(fresh.db);
      const rows = await fresh.db.selectFrom('stock').select(['sku', 'version', 'public_version', 'public_face', 'public_changed_version']).orderBy('sku').execute();
      expect(rows).toEqual([
        { sku: 'E', version: 4, public_version: 4, public_face: faceKey(publicFace(0, 5, 'exact')), public_changed_version: 4 },
        { sku: 'S', version: 7, public_version: 7, public_face: 'in_stock', public_changed_version: 7 },
        { sku: 'T', version: 12, public_version: 12, public_face: 'low_stock:2', public_changed_version: 12 },
      ]);

      // A client holding version 7 of S (all it could hold) never goes back, and hears the next change.
      const migrated = new StockStore(fresh.db, store.backend, { idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
      const hidden = await migrated.adjustStock('m1', 'S', { delta: -1 });
      expect(publicView(hidden)).toEqual({ sku: 'S', status: 'in_stock', version: 7 });
      const low = await migrated.adjustStock('m1', 'S', { delta: -3 });
      expect(publicView(low)).toEqual({ sku: 'S', status: 'low_stock', version: 8 });
    } finally {
      await fresh.close();
    }
  });
});

/** An empty database of the same kind, never migrated. */
async function freshDatabase(databaseUrl: string | undefined): Promise<{ db: Kysely<Database>; close(): Promise<void> }> {
  if (databaseUrl === undefined) {
    const db = new Kysely<Database>({ dialect: new PGliteDialect({ database: await PGlite.create('memory://') }) });
    return { db, close: () => db.destroy() };
  }
  const name = `sw_migrate_${process.pid}_${Date.now()}`;
  if (databaseUrl.startsWith('mysql://')) {
    const server = new URL(databaseUrl);
    server.pathname = '/';
    const url = await createMysqlDatabase(server.toString(), name);
    const db = new Kysely<Database>({
      dialect: new MysqlDialect({ pool: createPool({ uri: url, connectionLimit: 2, timezone: 'Z' }) }),
    });
    return {
      db,
      close: async () => {
        await db.destroy();
        await dropMysqlDatabase(server.toString(), name);
      },
    };
  }
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const url = await createDatabase(admin.toString(), name);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  return {
    db,
    close: async () => {
      await db.destroy();
      await dropDatabase(admin.toString(), name);
    },
  };
}
