import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends, realDatabaseUrl } from '../../test/backends.js';
import { loadConfig, type Config } from '../config.js';
import type { Database } from '../store/schema.js';
import { StockStore } from '../store/stock-store.js';
import { ApiMetrics } from './api-metrics.js';
import { buildApp } from './app.js';

const ADMIN = 'test-admin-token-0123456789';

function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RESERVATION_SWEEP_INTERVAL_MS: '3600000', ...env });
}

function appFor(store: StockStore, config: Config = testConfig()): FastifyInstance {
  return buildApp({ store, http: config.http, adminToken: config.adminToken, publicWsUrl: config.publicWsUrl });
}

interface Call {
  key?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

function call(app: FastifyInstance, method: string, url: string, options: Call = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let payload: string | undefined;
  if (options.raw !== undefined) payload = options.raw;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
}

interface TestMerchant {
  id: string;
  sk: string;
  pk: string;
}

async function newMerchant(app: FastifyInstance, allowedOrigins?: string[]): Promise<TestMerchant> {
  const res = await call(app, 'POST', '/v1/merchants', {
    key: ADMIN,
    body: { name: 'Test shop', ...(allowedOrigins ? { allowedOrigins } : {}) },
  });
  expect(res.statusCode).toBe(201);
  const body = res.json<{ id: string; secretKey: string; publishableKey: string }>();
  return { id: body.id, sk: body.secretKey, pk: body.publishableKey };
}

function expectError(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, body: res.json() }).toMatchObject({ status, body: { error: { code } } });
  expect(Object.keys(res.json<{ error: object }>().error).sort()).toEqual(['code', 'message']);
}

describe.each(databaseBackends())('REST API on $name', ({ databaseUrl }) => {
  let store: StockStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    app = appFor(store);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  describe('health and docs', () => {
    it('answers /healthz, /readyz and /docs', async () => {
      expect((await call(app, 'GET', '/healthz')).json()).toEqual({ status: 'ok' });
      expect((await call(app, 'GET', '/readyz')).json()).toEqual({ status: 'ready' });
      expect((await call(app, 'GET', '/docs')).statusCode).toBeLessThan(400);
      const spec = (await call(app, 'GET', '/docs/json')).json<{ paths: Record<string, unknown> }>();
      expect(Object.keys(spec.paths)).toEqual(
        expect.arrayContaining([
          '/v1/stock/{sku}',
          '/v1/stock',
          '/v1/stock/{sku}/adjust',
          '/v1/stock/batch',
          '/v1/products/{sku}',
          '/v1/products',
          '/v1/reservations',
          '/v1/reservations/{id}/commit',
          '/v1/reservations/{id}',
          '/v1/merchants',
        ]),
      );
    });

    it('serves the docs from an app built on first use: the API\'s 404 for a path it lacks, redirects without a body, the routes hidden', async () => {
      expectError(await call(app, 'GET', '/docs/no-such-page'), 404, 'not_found');
      const redirect = await call(app, 'GET', '/docs/static/index.html');
      expect(redirect.statusCode).toBe(302);
      expect(redirect.headers['content-type']).toBeUndefined();
      expect((await call(app, 'GET', '/docs/static/swagger-ui.css')).headers['content-type']).toMatch(/^text\/css/);
      const spec = (await call(app, 'GET', '/docs/json')).json<{ paths: Record<string, unknown> }>();
      expect(Object.keys(spec.paths).filter((path) => path.startsWith('/docs'))).toEqual([]);
    });

    it('counts Prometheus metrics by route pattern, and never serves them on the API port', async () => {
      const metrics = new ApiMetrics();
      const counted = buildApp({ store, http: testConfig().http, adminToken: ADMIN, publicWsUrl: 'ws://127.0.0.1:1', metrics });
      const m = await newMerchant(counted);
      await call(counted, 'PUT', '/v1/stock/METRIC-1', { key: m.sk, body: { onHand: 1 } });
      await call(counted, 'GET', '/v1/stock/METRIC-1', { key: m.pk });
      expectError(await call(counted, 'GET', '/metrics'), 404, 'not_found');
      await counted.close();
      const res = { body: await metrics.registry.metrics() };
      expect(res.body).toMatch(/stockwire_api_requests_total\{method="GET",route="\/v1\/stock\/:sku",status="200"\} [1-9]/);
      expect(res.body).toMatch(/stockwire_stock_changes_total [1-9]/);
      expect(res.body).not.toContain('METRIC-1');
    });

    it('answers unknown routes with the error shape', async () => {
      expectError(await call(app, 'GET', '/nope'), 404, 'not_found');
    });
  });

  describe('merchants', () => {
    it('creates a merchant with both keys', async () => {
      const res = await call(app, 'POST', '/v1/merchants', {
        key: ADMIN,
        body: { name: 'Shop', allowedOrigins: ['https://Shop.example'] },
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        id: expect.stringMatching(/^m_/),
        name: 'Shop',
        allowedOrigins: ['https://shop.example'],
        publishableKey: expect.stringMatching(/^pk_/),
        secretKey: expect.stringMatching(/^sk_/),
      });
    });

    it('refuses a wrong admin token and bad bodies', async () => {
      expectError(await call(app, 'POST', '/v1/merchants', { key: 'wrong-token-1234567890', body: { name: 'x' } }), 401, 'unauthorized');
      expectError(await call(app, 'POST', '/v1/merchants', { body: { name: 'x' } }), 401, 'unauthorized');
      expectError(await call(app, 'POST', '/v1/merchants', { key: ADMIN, body: {} }), 400, 'validation_failed');
      expectError(
        await call(app, 'POST', '/v1/merchants', { key: ADMIN, body: { name: 'x', allowedOrigins: ['https://a.example/path'] } }),
        400,
        'validation_failed',
      );
      const m = await newMerchant(app);
      expectError(await call(app, 'POST', '/v1/merchants', { key: m.sk, body: { name: 'x' } }), 401, 'unauthorized');
    });

    it('answers admin_disabled without ADMIN_TOKEN', async () => {
      const config = loadConfig({ LOG_LEVEL: 'silent' });
      const closed = appFor(store, config);
      try {
        expectError(await call(closed, 'POST', '/v1/merchants', { key: ADMIN, body: { name: 'x' } }), 403, 'admin_disabled');
      } finally {
        await closed.close();
      }
    });
  });

  describe('stock', () => {
    it('sets, reads (full and public), adjusts and multi-gets', async () => {
      const m = await newMerchant(app);
      const set = await call(app, 'PUT', '/v1/stock/TEE-BLK/L', { key: m.sk, body: { onHand: 10 } });
      expect(set.statusCode).toBe(404); // a slash needs encoding in the path
      const put = await call(app, 'PUT', '/v1/stock/TEE-BLK%2FL', { key: m.sk, body: { onHand: 10 } });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({ sku: 'TEE-BLK/L', onHand: 10, reserved: 0, available: 10, status: 'in_stock', version: 1 });
      expect(put.json<{ updatedAt: string }>().updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

      const adjust = await call(app, 'POST', '/v1/stock/TEE-BLK%2FL/adjust', { key: m.sk, body: { delta: -7, reason: 'order 1001' } });
      expect(adjust.json()).toMatchObject({ onHand: 3, available: 3, status: 'low_stock', version: 2 });

      expect((await call(app, 'GET', '/v1/stock/TEE-BLK%2FL', { key: m.sk })).json()).toMatchObject({ onHand: 3, version: 2 });
      expect((await call(app, 'GET', '/v1/stock/TEE-BLK%2FL', { key: m.pk })).json()).toEqual({
        sku: 'TEE-BLK/L',
        status: 'low_stock',
        available: 3,
        version: 2,
      });
      expect((await call(app, 'GET', `/v1/stock/TEE-BLK%2FL?key=${m.pk}`)).json()).toMatchObject({ available: 3 });
      expect((await call(app, 'GET', '/v1/stock/NEW-1', { key: m.pk })).json()).toEqual({ sku: 'NEW-1', status: 'unknown', version: 0 });
      expectError(await call(app, 'GET', '/v1/stock/NEW-1', { key: m.sk }), 404, 'not_found');

      const many = await call(app, 'GET', '/v1/stock?skus=TEE-BLK/L,NEW-1,TEE-BLK/L', { key: m.pk });
      expect(many.json()).toEqual({
        items: [
          { sku: 'TEE-BLK/L', status: 'low_stock', available: 3, version: 2 },
          { sku: 'NEW-1', status: 'unknown', version: 0 },
        ],
      });
      const full = await call(app, 'GET', '/v1/stock?skus=TEE-BLK/L,NEW-1', { key: m.sk });
      expect(full.json()).toMatchObject({ items: [{ sku: 'TEE-BLK/L', onHand: 3 }], missing: ['NEW-1'] });
    });

    it('answers 409 insufficient_stock rather than go below zero, and 404 for unknown SKUs', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/A', { key: m.sk, body: { onHand: 2 } });
      expectError(await call(app, 'POST', '/v1/stock/A/adjust', { key: m.sk, body: { delta: -3 } }), 409, 'insufficient_stock');
      expectError(await call(app, 'POST', '/v1/stock/B/adjust', { key: m.sk, body: { delta: 1 } }), 404, 'not_found');
      expect((await call(app, 'GET', '/v1/stock/A', { key: m.sk })).json()).toMatchObject({ onHand: 2, version: 1 });
    });

    it('checks ifVersion', async () => {
      const m = await newMerchant(app);
      expectError(await call(app, 'PUT', '/v1/stock/V', { key: m.sk, body: { onHand: 1, ifVersion: 4 } }), 409, 'version_conflict');
      expect((await call(app, 'PUT', '/v1/stock/V', { key: m.sk, body: { onHand: 1, ifVersion: 0 } })).json()).toMatchObject({ version: 1 });
      expectError(await call(app, 'PUT', '/v1/stock/V', { key: m.sk, body: { onHand: 5, ifVersion: 0 } }), 409, 'version_conflict');
      expect((await call(app, 'PUT', '/v1/stock/V', { key: m.sk, body: { onHand: 5, ifVersion: 1 } })).json()).toMatchObject({
        onHand: 5,
        version: 2,
      });
      expectError(await call(app, 'PUT', '/v1/stock/V', { key: m.sk, body: { onHand: 6, ifVersion: 1 } }), 409, 'version_conflict');
    });

    it('applies a batch item by item, in order', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/B1', { key: m.sk, body: { onHand: 1 } });
      const res = await call(app, 'POST', '/v1/stock/batch', {
        key: m.sk,
        body: {
          items: [
            { sku: 'B2', onHand: 5 },
            { sku: 'B1', delta: -2 },
            { sku: 'B1', delta: -1, reason: 'order' },
            { sku: 'GHOST', delta: -1 },
          ],
        },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        results: [
          { sku: 'B2', ok: true, stock: { onHand: 5, version: 1 } },
          { sku: 'B1', ok: false, error: { code: 'insufficient_stock' } },
          { sku: 'B1', ok: true, stock: { onHand: 0, status: 'sold_out', version: 2 } },
          { sku: 'GHOST', ok: false, error: { code: 'not_found' } },
        ],
      });
      const tooMany = { items: Array.from({ length: 1001 }, (_, i) => ({ sku: `S${i}`, onHand: 1 })) };
      expectError(await call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: tooMany }), 400, 'validation_failed');
      expectError(await call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: { items: [] } }), 400, 'validation_failed');
      expectError(
        await call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: { items: [{ sku: 'X', onHand: 1, delta: 1 }] } }),
        400,
        'validation_failed',
      );
    });

    it('never oversells: 400 concurrent delta -1 on 100 give exactly 100 ok and 300 insufficient_stock, combined', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/HOT', { key: m.sk, body: { onHand: 100 } });
      const before = store.combiningStats;
      const answers = await Promise.all(
        Array.from({ length: 400 }, () => call(app, 'POST', '/v1/stock/HOT/adjust', { key: m.sk, body: { delta: -1 } })),
      );
      const odd = answers.filter((r) => r.statusCode !== 200 && r.statusCode !== 409);
      expect(odd.map((r) => `${r.statusCode} ${r.body}`).slice(0, 3)).toEqual([]);
      // The race ran through write combining: on PostgreSQL, buyers that queued behind one in flight went
      // together. Embedded PGlite finishes each injected request's write before the next one reaches the store.
      expect(store.combiningStats.items - before.items).toBe(400);
      if (databaseUrl !== undefined) expect(store.combiningStats.groups - before.groups).toBeLessThan(400);
      expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(100);
      const refused = answers.filter((r) => r.statusCode === 409);
      expect(refused).toHaveLength(300);
      expect(refused.every((r) => r.json<{ error: { code: string } }>().error.code === 'insufficient_stock')).toBe(true);
      expect((await call(app, 'GET', '/v1/stock/HOT', { key: m.sk })).json()).toMatchObject({ onHand: 0, available: 0, version: 101 });
      const journal = await store.journal(m.id, 'HOT');
      expect(journal).toHaveLength(101);
      expect(journal.reduce((sum, j) => sum + j.onHandDelta, 0)).toBe(0);
      expect(journal.filter((j) => j.kind === 'adjust')).toHaveLength(100);
    });
  });

  describe('products and display policy', () => {
    it('answers publishable reads with the public version, an ETag of the public answer and no-cache; secret reads are no-store', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/products/QUIET', { key: m.sk, body: { display: 'status', lowStockThreshold: 0 } });
      await call(app, 'PUT', '/v1/stock/QUIET', { key: m.sk, body: { onHand: 9 } });
      const first = await call(app, 'GET', '/v1/stock/QUIET?key=' + m.pk);
      expect(first.json()).toEqual({ sku: 'QUIET', status: 'in_stock', version: 2 });
      expect(first.headers['cache-control']).toBe('no-cache');
      expect(first.headers.etag).toMatch(/^"[\w-]+"$/);
      expect(first.headers['last-modified']).toBeUndefined();
      for (let i = 0; i < 8; i++) await call(app, 'POST', '/v1/stock/QUIET/adjust', { key: m.sk, body: { delta: -1 } });
      const again = await call(app, 'GET', '/v1/stock/QUIET?key=' + m.pk);
      expect([again.payload, again.headers.etag]).toEqual([first.payload, first.headers.etag]);
      const notModified = await call(app, 'GET', '/v1/stock/QUIET?key=' + m.pk, { headers: { 'if-none-match': first.headers.etag as string } });
      expect(notModified.statusCode).toBe(304);
      const full = await call(app, 'GET', '/v1/stock/QUIET', { key: m.sk });
      expect(full.json()).toMatchObject({ onHand: 1, version: 10 });
      expect(full.headers['cache-control']).toBe('private, no-store');
      expect(full.headers.etag).toBeUndefined();
      await call(app, 'POST', '/v1/stock/QUIET/adjust', { key: m.sk, body: { delta: -1 } });
      const soldOut = await call(app, 'GET', '/v1/stock/QUIET?key=' + m.pk);
      expect(soldOut.json()).toEqual({ sku: 'QUIET', status: 'sold_out', version: 3 });
      expect(soldOut.headers.etag).not.toBe(first.headers.etag);
    });

    it('upserts, bumps the version on what shoppers see, and enforces display on public reads', async () => {
      const m = await newMerchant(app);
      const created = await call(app, 'PUT', '/v1/products/MUG', { key: m.sk, body: { name: 'Mug', display: 'threshold', lowStockThreshold: 5 } });
      expect(created.statusCode).toBe(200);
      expect(created.json()).toMatchObject({
        sku: 'MUG',
        name: 'Mug',
        display: 'threshold',
        lowStockThreshold: 5,
        stock: { onHand: 0, version: 1, status: 'sold_out' },
      });
      await call(app, 'PUT', '/v1/stock/MUG', { key: m.sk, body: { onHand: 20 } });
      expect((await call(app, 'GET', '/v1/stock/MUG', { key: m.pk })).json()).toEqual({ sku: 'MUG', status: 'in_stock', version: 2 });
      const renamed = await call(app, 'PUT', '/v1/products/MUG', { key: m.sk, body: { name: 'Big mug' } });
      expect(renamed.json()).toMatchObject({ name: 'Big mug', stock: { version: 2 } });
      const lowered = await call(app, 'PUT', '/v1/products/MUG', { key: m.sk, body: { lowStockThreshold: 25 } });
      expect(lowered.json()).toMatchObject({ stock: { version: 3, status: 'low_stock' } });
      expect((await call(app, 'GET', '/v1/stock/MUG', { key: m.pk })).json()).toEqual({
        sku: 'MUG',
        status: 'low_stock',
        available: 20,
        version: 3,
      });
      await call(app, 'PUT', '/v1/products/MUG', { key: m.sk, body: { display: 'status' } });
      const hidden = (await call(app, 'GET', '/v1/stock?skus=MUG', { key: m.pk })).json<{ items: object[] }>();
      expect(hidden.items).toEqual([{ sku: 'MUG', status: 'low_stock', version: 4 }]);
      expectError(await call(app, 'PUT', '/v1/products/MUG', { key: m.sk, body: { display: 'everything' } }), 400, 'validation_failed');
      expectError(await call(app, 'PUT', '/v1/products/MUG', { key: m.pk, body: { name: 'x' } }), 401, 'unauthorized');
    });

    it('opts a product in to live viewer counts and out again, without a new version', async () => {
      const m = await newMerchant(app);
      const plain = await call(app, 'PUT', '/v1/products/SOFA', { key: m.sk, body: { name: 'Sofa' } });
      expect(plain.json()).toMatchObject({ sku: 'SOFA', viewers: false, stock: { version: 1 } });
      const counted = await call(app, 'PUT', '/v1/products/SOFA', { key: m.sk, body: { viewers: true } });
      // Nothing a shopper's stock view shows changed: the versions stay.
      expect(counted.json()).toMatchObject({ sku: 'SOFA', name: 'Sofa', viewers: true, stock: { version: 1 } });
      await call(app, 'PUT', '/v1/products/LAMP', { key: m.sk, body: { viewers: true } });
      await call(app, 'PUT', '/v1/products/RUG', { key: m.sk, body: {} });
      const listed = (await call(app, 'GET', '/v1/products', { key: m.sk })).json<{ items: Array<{ sku: string; viewers: boolean }> }>();
      expect(listed.items.map(({ sku, viewers }) => ({ sku, viewers }))).toEqual([
        { sku: 'LAMP', viewers: true },
        { sku: 'RUG', viewers: false },
        { sku: 'SOFA', viewers: true },
      ]);
      expect((await store.viewerProducts(m.id, ['SOFA', 'RUG', 'LAMP', 'NONE', 'bad\u0000sku'])).sort()).toEqual(['LAMP', 'SOFA']);
      const off = await call(app, 'PUT', '/v1/products/SOFA', { key: m.sk, body: { viewers: false } });
      expect(off.json()).toMatchObject({ viewers: false });
      expect(await store.viewerProducts(m.id, ['SOFA'])).toEqual([]);
      expectError(await call(app, 'PUT', '/v1/products/SOFA', { key: m.sk, body: { viewers: 'yes' } }), 400, 'validation_failed');
    });

    it('lists products a page at a time', async () => {
      const m = await newMerchant(app);
      for (const sku of ['P3', 'P1', 'P2']) await call(app, 'PUT', `/v1/products/${sku}`, { key: m.sk, body: {} });
      const first = (await call(app, 'GET', '/v1/products?limit=2', { key: m.sk })).json<{ items: { sku: string }[]; nextCursor: string }>();
      expect(first.items.map((p) => p.sku)).toEqual(['P1', 'P2']);
      const second = (
        await call(app, 'GET', `/v1/products?limit=2&cursor=${first.nextCursor}`, { key: m.sk })
      ).json<{ items: { sku: string }[]; nextCursor: null }>();
      expect(second).toMatchObject({ items: [{ sku: 'P3' }], nextCursor: null });
      expectError(await call(app, 'GET', '/v1/products?limit=0', { key: m.sk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/products?limit=abc', { key: m.sk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/products?cursor=%25%25', { key: m.sk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/products', { key: m.pk }), 401, 'unauthorized');
    });
  });

  describe('reservations', () => {
    it('holds, commits and releases', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/R', { key: m.sk, body: { onHand: 5 } });
      const hold = await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'R', quantity: 2, ttlSeconds: 60 } });
      expect(hold.statusCode).toBe(201);
      const held = hold.json<{ id: string; expiresAt: string }>();
      expect(hold.json()).toEqual({ id: held.id, sku: 'R', quantity: 2, expiresAt: held.expiresAt, state: 'held' });
      expect(Date.parse(held.expiresAt) - Date.now()).toBeGreaterThan(50_000);
      expect((await call(app, 'GET', '/v1/stock/R', { key: m.pk })).json()).toMatchObject({ available: 3, version: 2 });
      expectError(
        await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'R', quantity: 4 } }),
        409,
        'insufficient_stock',
      );
      expectError(await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'NONE', quantity: 1 } }), 404, 'not_found');

      const commit = await call(app, 'POST', `/v1/reservations/${held.id}/commit`, { key: m.sk });
      expect(commit.json()).toMatchObject({ id: held.id, state: 'committed' });
      expect((await call(app, 'GET', '/v1/stock/R', { key: m.sk })).json()).toMatchObject({ onHand: 3, reserved: 0, version: 3 });
      expectError(await call(app, 'POST', `/v1/reservations/${held.id}/commit`, { key: m.sk }), 409, 'reservation_not_held');
      expectError(await call(app, 'DELETE', `/v1/reservations/${held.id}`, { key: m.sk }), 409, 'reservation_not_held');

      const second = (await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'R', quantity: 3 } })).json<{
        id: string;
        expiresAt: string;
      }>();
      expect(Date.parse(second.expiresAt) - Date.now()).toBeGreaterThan(590_000); // RESERVATION_DEFAULT_TTL_SECONDS
      const release = await call(app, 'DELETE', `/v1/reservations/${second.id}`, {
        key: m.sk,
        headers: { 'content-type': 'application/json' },
      });
      expect(release.json()).toMatchObject({ state: 'released' });
      expect((await call(app, 'GET', `/v1/reservations/${second.id}`, { key: m.sk })).json()).toMatchObject({ state: 'released' });
      expect((await call(app, 'GET', '/v1/stock/R', { key: m.sk })).json()).toMatchObject({ onHand: 3, reserved: 0, version: 5 });
      expectError(await call(app, 'POST', '/v1/reservations/res_missing/commit', { key: m.sk }), 404, 'not_found');
      expectError(await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'R', quantity: 0 } }), 400, 'validation_failed');
      expectError(
        await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'R', quantity: 1, ttlSeconds: 86_401 } }),
        400,
        'validation_failed',
      );
    });

    it('expires holds: reads show them released, commit refuses them', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/E', { key: m.sk, body: { onHand: 1 } });
      const held = (await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'E', quantity: 1, ttlSeconds: 1 } })).json<{
        id: string;
      }>();
      expect((await call(app, 'GET', '/v1/stock/E', { key: m.pk })).json()).toMatchObject({ status: 'sold_out', version: 2 });
      await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', held.id).execute();
      expect((await call(app, 'GET', '/v1/stock/E', { key: m.pk })).json()).toEqual({ sku: 'E', status: 'low_stock', available: 1, version: 3 });
      expectError(await call(app, 'POST', `/v1/reservations/${held.id}/commit`, { key: m.sk }), 409, 'reservation_not_held');
      expect((await call(app, 'GET', `/v1/reservations/${held.id}`, { key: m.sk })).json()).toMatchObject({ state: 'expired' });
    });
  });

  describe('keys, origins and tenants', () => {
    it('refuses missing, forged and wrong-kind keys', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/K', { key: m.sk, body: { onHand: 1 } });
      expectError(await call(app, 'GET', '/v1/stock/K'), 401, 'unauthorized');
      expectError(await call(app, 'GET', '/v1/stock/K', { key: 'sk_forged' }), 401, 'unauthorized');
      expectError(await call(app, 'GET', '/v1/stock/K', { key: 'pk_forged' }), 401, 'unauthorized');
      expectError(await call(app, 'GET', '/v1/stock/K', { key: 'nonsense' }), 401, 'unauthorized');
      expectError(await call(app, 'GET', '/v1/stock/K', { headers: { authorization: `Basic ${m.sk}` } }), 401, 'unauthorized');
      expectError(await call(app, 'PUT', '/v1/stock/K', { key: m.pk, body: { onHand: 9 } }), 401, 'unauthorized');
      expectError(await call(app, 'POST', '/v1/stock/K/adjust', { key: m.pk, body: { delta: 1 } }), 401, 'unauthorized');
      expectError(await call(app, 'POST', '/v1/stock/batch', { key: m.pk, body: { items: [{ sku: 'K', delta: 1 }] } }), 401, 'unauthorized');
      expectError(await call(app, 'POST', '/v1/reservations', { key: m.pk, body: { sku: 'K', quantity: 1 } }), 401, 'unauthorized');
      // A secret key is never taken from the query string.
      expectError(await call(app, 'GET', `/v1/stock/K?key=${m.sk}`), 401, 'unauthorized');
    });

    it('checks the Origin of publishable reads and answers CORS only for allowed origins', async () => {
      const m = await newMerchant(app, ['https://shop.example']);
      await call(app, 'PUT', '/v1/stock/O', { key: m.sk, body: { onHand: 1 } });
      const ok = await call(app, 'GET', '/v1/stock/O', { key: m.pk, headers: { origin: 'https://shop.example' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
      const evil = await call(app, 'GET', '/v1/stock/O', { key: m.pk, headers: { origin: 'https://evil.example' } });
      expectError(evil, 403, 'forbidden_origin');
      expect(evil.headers['access-control-allow-origin']).toBeUndefined();
      expectError(await call(app, 'GET', `/v1/stock?skus=O&key=${m.pk}`, { headers: { origin: 'https://evil.example' } }), 403, 'forbidden_origin');
      expect((await call(app, 'GET', '/v1/stock/O', { key: m.pk })).statusCode).toBe(200); // no Origin: not a browser
      const emptyOrigin = await call(app, 'GET', '/v1/stock/O', { key: m.pk, headers: { origin: '' } });
      expect(emptyOrigin.statusCode).toBe(200); // an empty Origin is no Origin, never a CORS error
      expect(emptyOrigin.headers['access-control-allow-origin']).toBeUndefined();
      const secret = await call(app, 'PUT', '/v1/stock/O', { key: m.sk, body: { onHand: 2 }, headers: { origin: 'https://shop.example' } });
      expect(secret.statusCode).toBe(200);
      expect(secret.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await call(app, 'OPTIONS', '/v1/stock/O', {
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-headers']).toBe('Authorization');
      const writePreflight = await call(app, 'OPTIONS', '/v1/stock/O', {
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'PUT' },
      });
      expect(writePreflight.headers['access-control-allow-origin']).toBeUndefined();
      // Any origin may read a merchant without an allow-list.
      const open = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/O', { key: open.sk, body: { onHand: 1 } });
      const anywhere = await call(app, 'GET', `/v1/stock/O?key=${open.pk}`, { headers: { origin: 'https://any.example' } });
      expect(anywhere.headers['access-control-allow-origin']).toBe('https://any.example');
    });

    it('keeps merchants apart', async () => {
      const a = await newMerchant(app);
      const b = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/SHARED', { key: a.sk, body: { onHand: 7 } });
      const hold = (await call(app, 'POST', '/v1/reservations', { key: a.sk, body: { sku: 'SHARED', quantity: 1 } })).json<{ id: string }>();
      expectError(await call(app, 'GET', '/v1/stock/SHARED', { key: b.sk }), 404, 'not_found');
      expect((await call(app, 'GET', '/v1/stock/SHARED', { key: b.pk })).json()).toEqual({ sku: 'SHARED', status: 'unknown', version: 0 });
      expectError(await call(app, 'POST', '/v1/stock/SHARED/adjust', { key: b.sk, body: { delta: -1 } }), 404, 'not_found');
      expectError(await call(app, 'POST', `/v1/reservations/${hold.id}/commit`, { key: b.sk }), 404, 'not_found');
      expectError(await call(app, 'DELETE', `/v1/reservations/${hold.id}`, { key: b.sk }), 404, 'not_found');
      expectError(await call(app, 'GET', `/v1/reservations/${hold.id}`, { key: b.sk }), 404, 'not_found');
      expect((await call(app, 'GET', '/v1/products', { key: b.sk })).json()).toEqual({ items: [], nextCursor: null });
      // B creating the same SKU is its own product.
      await call(app, 'PUT', '/v1/stock/SHARED', { key: b.sk, body: { onHand: 1 } });
      expect((await call(app, 'GET', '/v1/stock/SHARED', { key: a.sk })).json()).toMatchObject({ onHand: 7, reserved: 1, version: 2 });
      const batch = await call(app, 'POST', '/v1/stock/batch', { key: b.sk, body: { items: [{ sku: 'SHARED', delta: -1 }] } });
      expect(batch.json()).toMatchObject({ results: [{ ok: true, stock: { onHand: 0 } }] });
      expect((await call(app, 'GET', '/v1/stock/SHARED', { key: a.sk })).json()).toMatchObject({ onHand: 7 });
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first answer for the same key and body, and changes nothing', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/I', { key: m.sk, body: { onHand: 10 } });
      const send = (body: unknown, key = 'order-1001') =>
        call(app, 'POST', '/v1/stock/I/adjust', { key: m.sk, body, headers: { 'idempotency-key': key } });
      const first = await send({ delta: -2, reason: 'order 1001' });
      expect(first.json()).toMatchObject({ onHand: 8, version: 2 });
      const again = await send({ reason: 'order 1001', delta: -2 });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(first.json());
      expect(again.headers['idempotent-replayed']).toBe('true');
      expectError(await send({ delta: -3 }), 409, 'idempotency_conflict');
      expectError(
        await call(app, 'PUT', '/v1/stock/I', { key: m.sk, body: { onHand: 1 }, headers: { 'idempotency-key': 'order-1001' } }),
        409,
        'idempotency_conflict',
      );
      expect((await call(app, 'GET', '/v1/stock/I', { key: m.sk })).json()).toMatchObject({ onHand: 8, version: 2 });
      const journal = await store.journal(m.id, 'I');
      expect(journal.map((j) => j.idempotencyKey)).toEqual([null, 'order-1001']);

      // A refused write keeps its answer too.
      const refused = await send({ delta: -100 }, 'order-1002');
      expectError(refused, 409, 'insufficient_stock');
      await call(app, 'PUT', '/v1/stock/I', { key: m.sk, body: { onHand: 500 } });
      expectError(await send({ delta: -100 }, 'order-1002'), 409, 'insufficient_stock');
      // Keys are per merchant.
      const other = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/I', { key: other.sk, body: { onHand: 10 } });
      const theirs = await call(app, 'POST', '/v1/stock/I/adjust', {
        key: other.sk,
        body: { delta: -2, reason: 'order 1001' },
        headers: { 'idempotency-key': 'order-1001' },
      });
      expect(theirs.headers['idempotent-replayed']).toBeUndefined();
      expect(theirs.json()).toMatchObject({ onHand: 8, version: 2 });
    });

    it('replays holds, commits, batches and product upserts', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/H', { key: m.sk, body: { onHand: 3 } });
      const hold = () =>
        call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: 'H', quantity: 2 }, headers: { 'idempotency-key': 'cart-1' } });
      const first = await hold();
      const second = await hold();
      expect(second.statusCode).toBe(201);
      expect(second.json()).toEqual(first.json());
      const id = first.json<{ id: string }>().id;
      const commit = () => call(app, 'POST', `/v1/reservations/${id}/commit`, { key: m.sk, headers: { 'idempotency-key': 'pay-1' } });
      expect((await commit()).json()).toMatchObject({ state: 'committed' });
      expect((await commit()).statusCode).toBe(200);
      const batch = () =>
        call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: { items: [{ sku: 'H', delta: 5 }] }, headers: { 'idempotency-key': 'b-1' } });
      expect((await batch()).json()).toEqual((await batch()).json());
      const upsert = () =>
        call(app, 'PUT', '/v1/products/H', { key: m.sk, body: { lowStockThreshold: 1 }, headers: { 'idempotency-key': 'p-1' } });
      expect((await upsert()).json()).toEqual((await upsert()).json());
      expect((await call(app, 'GET', '/v1/stock/H', { key: m.sk })).json()).toMatchObject({ onHand: 6, reserved: 0, version: 5 });
      expectError(
        await call(app, 'POST', '/v1/stock/H/adjust', { key: m.sk, body: { delta: 1 }, headers: { 'idempotency-key': 'bad key' } }),
        400,
        'validation_failed',
      );
    });
  });

  describe('what clients send', () => {
    it('refuses malformed JSON, wrong types and unknown fields with 400 validation_failed', async () => {
      const m = await newMerchant(app);
      await call(app, 'PUT', '/v1/stock/J', { key: m.sk, body: { onHand: 1 } });
      const bad: Array<[string, string, Call]> = [
        ['PUT', '/v1/stock/J', { raw: '{"onHand": 1' }],
        ['PUT', '/v1/stock/J', { raw: 'not json' }],
        ['PUT', '/v1/stock/J', { raw: '' }],
        ['PUT', '/v1/stock/J', { raw: '[1,2]' }],
        ['PUT', '/v1/stock/J', { raw: 'null' }],
        ['PUT', '/v1/stock/J', { body: { onHand: '5' } }],
        ['PUT', '/v1/stock/J', { body: { onHand: 1.5 } }],
        ['PUT', '/v1/stock/J', { body: { onHand: -1 } }],
        ['PUT', '/v1/stock/J', { body: { onHand: 1e12 } }],
        ['PUT', '/v1/stock/J', { body: { onHand: null } }],
        ['PUT', '/v1/stock/J', { body: { onhand: 1 } }],
        ['PUT', '/v1/stock/J', { body: { onHand: 1, extra: true } }],
        ['PUT', '/v1/stock/J', { body: { onHand: 1, ifVersion: 'x' } }],
        ['PUT', '/v1/stock/J', { raw: 'onHand=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
        ['PUT', '/v1/stock/J', { raw: '{"onHand":1}', headers: { 'content-type': 'text/plain' } }],
        ['PUT', '/v1/stock/J', { raw: '{"__proto__":{"x":1},"onHand":1}' }],
        ['POST', '/v1/stock/J/adjust', { body: { delta: 0 } }],
        ['POST', '/v1/stock/J/adjust', { body: { delta: true } }],
        ['POST', '/v1/stock/J/adjust', { body: { delta: 1, reason: 'x'.repeat(501) } }],
        ['POST', '/v1/stock/J/adjust', { body: {} }],
        ['POST', '/v1/stock/batch', { body: { items: 'all' } }],
        ['POST', '/v1/stock/batch', { body: { items: [{ sku: 'J' }] } }],
        ['POST', '/v1/reservations', { body: { sku: 'J', quantity: '1' } }],
        ['PUT', '/v1/products/J', { body: { lowStockThreshold: -1 } }],
        ['PUT', '/v1/products/J', { body: { name: 5 } }],
      ];
      for (const [method, url, options] of bad) {
        const res = await call(app, method, url, { key: m.sk, ...options, headers: { ...options.headers } });
        expect({ method, url, options, status: res.statusCode, code: res.json<{ error: { code: string } }>().error?.code }).toMatchObject({
          status: 400,
          code: 'validation_failed',
        });
      }
      expect((await call(app, 'GET', '/v1/stock/J', { key: m.sk })).json()).toMatchObject({ onHand: 1, version: 1 });
    });

    it('refuses absurd SKUs', async () => {
      const m = await newMerchant(app);
      const absurd = [
        'x'.repeat(129),
        'has space',
        'comma,sku',
        '-leading-dash',
        '.hidden',
        'quote"s',
        'emoji😀',
        'tab\tsku',
        'semi;colon',
        '%00',
        'a'.repeat(5000),
      ];
      for (const sku of absurd) {
        const path = `/v1/stock/${encodeURIComponent(sku)}`;
        const put = await call(app, 'PUT', path, { key: m.sk, body: { onHand: 1 } });
        expect({ sku, status: put.statusCode, code: put.json<{ error: { code: string } }>().error?.code }).toMatchObject({
          status: 400,
          code: 'validation_failed',
        });
        expectError(await call(app, 'GET', path, { key: m.pk }), 400, 'validation_failed');
        // A comma is the multi-get separator: `comma,sku` there is two good SKUs.
        if (!sku.includes(',')) {
          expectError(await call(app, 'GET', `/v1/stock?skus=ok,${encodeURIComponent(sku)}`, { key: m.pk }), 400, 'validation_failed');
        }
      }
      expectError(await call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: { items: [{ sku: 'bad sku', delta: 1 }] } }), 400, 'validation_failed');
      expectError(await call(app, 'POST', '/v1/reservations', { key: m.sk, body: { sku: '', quantity: 1 } }), 400, 'validation_failed');
      const longest = 'S'.repeat(128);
      expect((await call(app, 'PUT', `/v1/stock/${longest}`, { key: m.sk, body: { onHand: 1 } })).statusCode).toBe(200);
      for (const sku of ['a', 'A-1_b.c:d/e', '4006381333931']) {
        expect((await call(app, 'PUT', `/v1/stock/${encodeURIComponent(sku)}`, { key: m.sk, body: { onHand: 1 } })).statusCode).toBe(200);
      }
      const tooMany = Array.from({ length: 101 }, (_, i) => `S${i}`).join(',');
      expectError(await call(app, 'GET', `/v1/stock?skus=${tooMany}`, { key: m.pk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/stock?skus=', { key: m.pk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/stock', { key: m.pk }), 400, 'validation_failed');
      expectError(await call(app, 'GET', '/v1/stock?skus=A,,B', { key: m.pk }), 400, 'validation_failed');
    });

    it('answers 413 payload_too_large for bodies over the limit', async () => {
      const m = await newMerchant(app);
      const huge = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ sku: `SKU-${i}`, delta: 1 })) });
      expect(huge.length).toBeGreaterThan(256 * 1024);
      expectError(await call(app, 'POST', '/v1/stock/batch', { key: m.sk, raw: huge }), 413, 'payload_too_large');
    });
  });
});

describe('rate limits', () => {
  it('answers 429 rate_limited with Retry-After', async () => {
    const store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const app = appFor(store, testConfig({ RATE_LIMIT_PER_KEY_PER_MINUTE: '3', RATE_LIMIT_PER_IP_PER_MINUTE: '3' }));
    try {
      const m = await newMerchant(app);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await call(app, 'PUT', '/v1/stock/L', { key: m.sk, body: { onHand: i } }));
      expect(answers.slice(0, 3).map((r) => r.statusCode)).toEqual([200, 200, 200]);
      expectError(answers[3]!, 429, 'rate_limited');
      expect(Number(answers[3]!.headers['retry-after'])).toBeGreaterThan(0);
      // Publishable reads count per IP (shoppers share a key); creating the merchant used one of the 3.
      for (let i = 0; i < 2; i++) expect((await call(app, 'GET', `/v1/stock/L?key=${m.pk}`)).statusCode).toBe(200);
      expectError(await call(app, 'GET', `/v1/stock/L?key=${m.pk}`), 429, 'rate_limited');
      expect((await call(app, 'GET', '/healthz')).statusCode).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('storage outage', () => {
  it('answers 503 storage_unavailable when PostgreSQL cannot be reached', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 1000 });
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const store = new StockStore(db, 'postgres', { idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const app = appFor(store);
    try {
      expectError(await call(app, 'GET', '/readyz'), 503, 'storage_unavailable');
      // A well-formed key: a malformed one is refused (401) before any lookup.
      const someKey = `sk_${'w'.repeat(32)}`;
      expectError(await call(app, 'GET', '/v1/stock/A', { key: someKey }), 503, 'storage_unavailable');
      expectError(await call(app, 'PUT', '/v1/stock/A', { key: someKey, body: { onHand: 1 } }), 503, 'storage_unavailable');
      expectError(await call(app, 'POST', '/v1/merchants', { key: ADMIN, body: { name: 'x' } }), 503, 'storage_unavailable');
      expect((await call(app, 'GET', '/healthz')).statusCode).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('answers 503 when the embedded database is gone', async () => {
    const store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const app = appFor(store);
    try {
      const m = await newMerchant(app);
      await store.close();
      expectError(await call(app, 'PUT', '/v1/stock/A', { key: m.sk, body: { onHand: 1 } }), 503, 'storage_unavailable');
      expectError(await call(app, 'GET', '/readyz'), 503, 'storage_unavailable');
    } finally {
      await app.close();
    }
  });

  it.skipIf(!realDatabaseUrl())('loses no half of a write when PostgreSQL drops the connection mid-transaction', async () => {
    const base = new URL(realDatabaseUrl()!);
    const adminUrl = new URL(base);
    adminUrl.pathname = '/postgres';
    const name = `${base.pathname.slice(1)}_outage_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    const store = await StockStore.open({
      databaseUrl: url.toString(),
      dataDir: 'memory://',
      idempotencyTtlHours: 24,
      reservationSweepIntervalMs: 0,
      connectTimeoutMs: 1000,
    });
    const app = appFor(store);
    try {
      const m = await newMerchant(app);
      const items = Array.from({ length: 1000 }, (_, i) => ({ sku: `S${String(i).padStart(4, '0')}`, onHand: 5 }));
      const setUp = await call(app, 'POST', '/v1/stock/batch', { key: m.sk, body: { items } });
      expect(setUp.statusCode).toBe(200);
      // A batch of 1000 adjusts is one transaction; cut every connection while it runs.
      const batch = call(app, 'POST', '/v1/stock/batch', {
        key: m.sk,
        body: { items: items.map((i) => ({ sku: i.sku, delta: -1 })) },
        headers: { 'idempotency-key': 'cut-1' },
      });
      await new Promise((r) => setTimeout(r, 50));
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      const answer = await batch;
      if (answer.statusCode !== 200) expectError(answer, 503, 'storage_unavailable');
      // The pool reconnects: either every item applied, or none, and the journal agrees with the rows.
      const rows = await store.db.selectFrom('stock').select(['on_hand', 'version']).where('merchant_id', '=', m.id).execute();
      const onHands = new Set(rows.map((r) => r.on_hand));
      expect(onHands.size).toBe(1);
      expect([...onHands][0]).toBe(answer.statusCode === 200 ? 4 : 5);
      const journalRows = await store.db
        .selectFrom('stock_journal')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('merchant_id', '=', m.id)
        .executeTakeFirstOrThrow();
      expect(Number(journalRows.n)).toBe(answer.statusCode === 200 ? 2000 : 1000);
    } finally {
      await app.close();
      await store.close();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
