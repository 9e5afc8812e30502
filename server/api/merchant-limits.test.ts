import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { loadConfig } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { UsageStore, usageDay } from '../store/usage-store.js';
import { UsageMeter } from '../usage/usage-meter.js';
import { buildApp } from './app.js';

const ADMIN = 'merchant-limits-admin-token-0123';

interface Created {
  id: string;
  secretKey: string;
  publishableKey: string;
}

interface Limits {
  connections: number;
  products: number;
  writesPerMinute: number;
}

function call(app: FastifyInstance, method: string, url: string, key?: string, body?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({
    method: method as 'GET',
    url,
    headers: {
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function expectError(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, body: res.json() }).toMatchObject({ status, body: { error: { code } } });
}

describe.each(databaseBackends())('per-merchant limits and usage on $name', ({ databaseUrl }) => {
  let store: StockStore;
  let app: FastifyInstance;
  let meter: UsageMeter;
  let usageStore: UsageStore;

  async function newMerchant(name: string): Promise<Created> {
    const res = await call(app, 'POST', '/v1/merchants', ADMIN, { name });
    expect(res.statusCode).toBe(201);
    return res.json<Created>();
  }

  async function setLimits(id: string, limits: Partial<Record<keyof Limits, number | null>>): Promise<Limits> {
    const res = await call(app, 'PATCH', `/v1/merchants/${id}`, ADMIN, { limits });
    expect(res.statusCode).toBe(200);
    return res.json<{ limits: Limits }>().limits;
  }

  beforeAll(async () => {
    // Platform defaults: 5 products, no write limit, 100 connections.
    const config = loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', MERCHANT_MAX_PRODUCTS: '5', MERCHANT_MAX_CONNECTIONS: '100' });
    store = await StockStore.open({
      databaseUrl,
      dataDir: 'memory://',
      idempotencyTtlHours: 24,
      reservationSweepIntervalMs: 0,
      defaultProductLimit: config.merchants.defaultLimits.products,
    });
    usageStore = new UsageStore(store.db);
    meter = new UsageMeter(usageStore, { flushIntervalMs: 3_600_000, keepDays: 90, originsPerMerchant: 3 });
    app = buildApp({ store, http: config.http, adminToken: config.adminToken, publicWsUrl: config.publicWsUrl, merchants: config.merchants, usage: meter });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it('shows the limits in force, lets the admin set and reset them, and refuses bad values', async () => {
    const shop = await newMerchant('limits shown');
    const read = await call(app, 'GET', `/v1/merchants/${shop.id}`, ADMIN);
    expect(read.json()).toMatchObject({ id: shop.id, limits: { connections: 100, products: 5, writesPerMinute: 0 } });
    expect(await setLimits(shop.id, { connections: 7, writesPerMinute: 60 })).toEqual({ connections: 7, products: 5, writesPerMinute: 60 });
    // Only what the patch names changes; null goes back to the platform default; 0 is "none".
    expect(await setLimits(shop.id, { connections: null, products: 0 })).toEqual({ connections: 100, products: 0, writesPerMinute: 60 });
    // The merchant sees its own limits and cannot change them.
    expect((await call(app, 'GET', '/v1/merchant', shop.secretKey)).json()).toMatchObject({ limits: { connections: 100, products: 0, writesPerMinute: 60 } });
    expectError(await call(app, 'PATCH', '/v1/merchant', shop.secretKey, { allowedOrigins: [], limits: { products: 1 } }), 400, 'validation_failed');
    const listed = await call(app, 'GET', '/v1/merchants?limit=500', ADMIN);
    expect(listed.json<{ items: Array<{ id: string; limits: Limits }> }>().items.find((m) => m.id === shop.id)?.limits).toEqual({
      connections: 100,
      products: 0,
      writesPerMinute: 60,
    });
    for (const bad of [{ connections: -1 }, { products: 1.5 }, { writesPerMinute: '10' }, { viewers: 3 }, {}]) {
      expectError(await call(app, 'PATCH', `/v1/merchants/${shop.id}`, ADMIN, { limits: bad }), 400, 'validation_failed');
    }
    expectError(await call(app, 'PATCH', `/v1/merchants/${shop.id}`, shop.secretKey, { limits: { products: 1 } }), 401, 'unauthorized');
    expectError(await call(app, 'PATCH', '/v1/merchants/m_00000000', ADMIN, { limits: { products: 1 } }), 404, 'not_found');
  });

  it('refuses a product past the products limit with 403 limit_exceeded, for that merchant only', async () => {
    const small = await newMerchant('small catalogue');
    const other = await newMerchant('other catalogue');
    await setLimits(small.id, { products: 2 });
    expect((await call(app, 'PUT', '/v1/products/P-1', small.secretKey, { name: 'one' })).statusCode).toBe(200);
    expect((await call(app, 'PUT', '/v1/stock/P-2', small.secretKey, { onHand: 3 })).statusCode).toBe(200);
    const refused = await call(app, 'PUT', '/v1/products/P-3', small.secretKey, { name: 'three' });
    expectError(refused, 403, 'limit_exceeded');
    expect(refused.json<{ error: { message: string } }>().error.message).toContain('2');
    expectError(await call(app, 'PUT', '/v1/stock/P-3', small.secretKey, { onHand: 1 }), 403, 'limit_exceeded');
    // A batch refuses the new product alone; the rest of it is written.
    const batch = await call(app, 'POST', '/v1/stock/batch', small.secretKey, { items: [{ sku: 'P-1', onHand: 9 }, { sku: 'P-4', onHand: 1 }] });
    expect(batch.json()).toMatchObject({ results: [{ sku: 'P-1', ok: true }, { sku: 'P-4', ok: false, error: { code: 'limit_exceeded' } }] });
    // Products it has stay writable; nothing half-made is left behind.
    expect((await call(app, 'PUT', '/v1/products/P-1', small.secretKey, { name: 'renamed' })).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/products', small.secretKey)).json<{ items: unknown[] }>().items).toHaveLength(2);
    // The other merchant has the platform default (5), untouched by the first one's limit.
    for (let i = 1; i <= 5; i++) expect((await call(app, 'PUT', `/v1/stock/O-${i}`, other.secretKey, { onHand: 1 })).statusCode).toBe(200);
    expectError(await call(app, 'PUT', '/v1/stock/O-6', other.secretKey, { onHand: 1 }), 403, 'limit_exceeded');
    // Raised by the admin: room again at once.
    await setLimits(small.id, { products: 3 });
    expect((await call(app, 'PUT', '/v1/products/P-3', small.secretKey, {})).statusCode).toBe(200);
  });

  it('answers 429 rate_limited with Retry-After past writesPerMinute, for writes of that merchant only', async () => {
    const busy = await newMerchant('busy writer');
    const calm = await newMerchant('calm writer');
    await setLimits(busy.id, { writesPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await call(app, 'PUT', '/v1/stock/W-1', busy.secretKey, { onHand: 10 + i })).statusCode).toBe(200);
    const refused = await call(app, 'POST', '/v1/stock/W-1/adjust', busy.secretKey, { delta: -1 });
    expectError(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Refused again within the window (by this process alone now), in the same shape.
    const again = await call(app, 'POST', '/v1/stock/W-1/adjust', busy.secretKey, { delta: -1 });
    expectError(again, 429, 'rate_limited');
    expect(again.json<{ error: { message: string } }>().error.message).toBe(refused.json<{ error: { message: string } }>().error.message);
    expect(Number(again.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(again.headers['retry-after'])).toBeLessThanOrEqual(Number(refused.headers['retry-after']));
    expect(again.headers['content-type']).toBe(refused.headers['content-type']);
    // Nothing was written by the refused call; reads are not writes.
    const read = await call(app, 'GET', '/v1/stock/W-1', busy.secretKey);
    expect(read.json()).toMatchObject({ onHand: 12 });
    // The other merchant writes on, well past the first one's limit.
    for (let i = 0; i < 6; i++) expect((await call(app, 'PUT', '/v1/stock/C-1', calm.secretKey, { onHand: i })).statusCode).toBe(200);
    // Raised by the admin: the spent window is forgotten, and writes go through at once.
    await setLimits(busy.id, { writesPerMinute: 100 });
    expect((await call(app, 'POST', '/v1/stock/W-1/adjust', busy.secretKey, { delta: -1 })).statusCode).toBe(200);
  });

  it("counts each merchant's calls and writes, answers them per day, and never shows one merchant another's", async () => {
    const a = await newMerchant('usage a');
    const b = await newMerchant('usage b');
    await meter.flush();
    for (let i = 0; i < 3; i++) expect((await call(app, 'PUT', '/v1/stock/U-1', a.secretKey, { onHand: i })).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/stock/U-1', a.publishableKey)).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/stock/U-1', b.secretKey)).statusCode).toBe(404);
    meter.frames(a.id, 40);
    meter.connections(a.id, 4);
    meter.connections(a.id, 2);
    meter.originSeen(a.id, 'https://shop-a.example');
    await meter.flush();
    const usageA = await call(app, 'GET', '/v1/merchant/usage', a.secretKey);
    expect(usageA.statusCode).toBe(200);
    expect(usageA.headers['cache-control']).toBe('no-store');
    const today = usageDay(new Date());
    const bodyA = usageA.json<{ days: Array<Record<string, unknown>>; installedOn: Array<{ origin: string; lastSeenAt: string }> }>();
    // Four calls before this one: three writes and a publishable read (the usage call itself is counted after its answer).
    expect(bodyA.days).toEqual([{ day: today, apiCalls: 4, writes: 3, peakConnections: 4, frames: 40 }]);
    expect(bodyA.installedOn).toEqual([{ origin: 'https://shop-a.example', lastSeenAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
    await meter.flush();
    const bodyB = (await call(app, 'GET', '/v1/merchant/usage', b.secretKey)).json<{ days: Array<Record<string, unknown>>; installedOn: unknown[] }>();
    expect(bodyB).toEqual({ days: [{ day: today, apiCalls: 1, writes: 0, peakConnections: 0, frames: 0 }], installedOn: [] });
    // A second flush adds to the same day (every node adds its own counts).
    meter.frames(a.id, 2);
    meter.connections(a.id, 3);
    await meter.flush();
    expect((await call(app, 'GET', '/v1/merchant/usage?days=1', a.secretKey)).json()).toMatchObject({ days: [{ day: today, apiCalls: 5, frames: 42, peakConnections: 4 }] });
    for (const bad of ['0', '91', 'x', '-1']) expectError(await call(app, 'GET', `/v1/merchant/usage?days=${bad}`, a.secretKey), 400, 'validation_failed');
    expectError(await call(app, 'GET', '/v1/merchant/usage', a.publishableKey), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/v1/merchant/usage'), 401, 'unauthorized');
  });

  it('answers only the days asked, newest first, and sweeps what is older than it keeps', async () => {
    const shop = await newMerchant('usage history');
    const day = (ago: number) => usageDay(new Date(Date.now() - ago * 86_400_000));
    const row = (ago: number, apiCalls: number) => ({ merchantId: shop.id, day: day(ago), apiCalls, writes: 0, frames: 0, peakConnections: 0 });
    await usageStore.add([row(0, 1), row(1, 2), row(29, 3), row(30, 4), row(89, 5), row(90, 6)]);
    const days = async (query: string) =>
      (await call(app, 'GET', `/v1/merchant/usage${query}`, shop.secretKey)).json<{ days: Array<{ day: string; apiCalls: number }> }>().days.map((d) => d.apiCalls);
    expect(await days('')).toEqual([1, 2, 3]);
    expect(await days('?days=2')).toEqual([1, 2]);
    expect(await days('?days=90')).toEqual([1, 2, 3, 4, 5]);
    // Usage is kept 90 days: day 90 back is swept, day 89 stays.
    await usageStore.sweep(day(89), new Date(Date.now() - 90 * 86_400_000));
    const kept = await usageStore.days(shop.id, day(1000));
    expect(kept.map((d) => d.apiCalls)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps a bounded number of origins per merchant, and drops the usage of a merchant deleted meanwhile', async () => {
    const shop = await newMerchant('many origins');
    const gone = await newMerchant('deleted before the flush');
    for (let i = 0; i < 5; i++) meter.originSeen(shop.id, `https://o${i}.example`);
    meter.apiCall(gone.id);
    meter.originSeen(gone.id, 'https://gone.example');
    expect((await call(app, 'DELETE', `/v1/merchants/${gone.id}`, ADMIN)).statusCode).toBe(204);
    await meter.flush();
    // originsPerMerchant is 3 in this suite.
    const origins = (await call(app, 'GET', '/v1/merchant/usage', shop.secretKey)).json<{ installedOn: unknown[] }>().installedOn;
    expect(origins).toHaveLength(3);
    expect(await usageStore.days(gone.id, '2000-01-01')).toEqual([]);
  });
});
