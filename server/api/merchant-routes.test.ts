import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { loadConfig } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { buildApp } from './app.js';

const ADMIN = 'merchant-routes-admin-token-0123';

function appFor(store: StockStore, env: Record<string, string> = {}): FastifyInstance {
  const config = loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RESERVATION_SWEEP_INTERVAL_MS: '3600000', ...env });
  return buildApp({ store, http: config.http, adminToken: config.adminToken, publicWsUrl: config.publicWsUrl });
}

function call(app: FastifyInstance, method: string, url: string, key?: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: method as 'GET',
    url,
    headers: {
      ...headers,
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function expectError(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, body: res.json() }).toMatchObject({ status, body: { error: { code } } });
  expect(Object.keys(res.json<{ error: object }>().error).sort()).toEqual(['code', 'message']);
}

interface Created {
  id: string;
  secretKey: string;
  publishableKey: string;
}

async function newMerchant(app: FastifyInstance, name: string, allowedOrigins: string[] = []): Promise<Created> {
  const res = await call(app, 'POST', '/v1/merchants', ADMIN, { name, allowedOrigins });
  expect(res.statusCode).toBe(201);
  return res.json<Created>();
}

describe.each(databaseBackends())('merchant routes on $name', ({ databaseUrl }) => {
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

  it('lists merchants a page at a time with a cursor, and reads one', async () => {
    const made = [await newMerchant(app, 'list a'), await newMerchant(app, 'list b'), await newMerchant(app, 'list c')];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(app, 'GET', `/v1/merchants?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, ADMIN);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: Array<{ id: string; name: string; createdAt: string }>; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(made.map((m) => m.id)));
    const one = await call(app, 'GET', `/v1/merchants/${made[1]!.id}`, ADMIN);
    expect(one.json()).toMatchObject({ id: made[1]!.id, name: 'list b', allowedOrigins: [] });
    expect(JSON.stringify(one.json())).not.toMatch(/sk_|pk_/);
    expectError(await call(app, 'GET', '/v1/merchants/m_0000', ADMIN), 404, 'not_found');
    // An id that cannot be one we issued never reaches the database (NUL once answered 500 on PostgreSQL).
    expectError(await call(app, 'GET', '/v1/merchants/%00', ADMIN), 400, 'validation_failed');
    expectError(await call(app, 'POST', '/v1/merchants/%00/keys/rotate', ADMIN), 400, 'validation_failed');
    expectError(await call(app, 'GET', '/v1/merchants?cursor=%25%25', ADMIN), 400, 'validation_failed');
    expectError(await call(app, 'GET', '/v1/merchants?limit=0', ADMIN), 400, 'validation_failed');
  });

  it('refuses every admin route without the admin token, a secret key included', async () => {
    const m = await newMerchant(app, 'no admin');
    for (const [method, url] of [
      ['GET', '/v1/merchants'],
      ['GET', `/v1/merchants/${m.id}`],
      ['PATCH', `/v1/merchants/${m.id}`],
      ['DELETE', `/v1/merchants/${m.id}`],
    ] as const) {
      const res = await call(app, method, url, m.secretKey, method === 'PATCH' ? { name: 'x' } : undefined);
      expect(res.statusCode).toBe(401);
      expectError(res, 401, 'unauthorized');
    }
    expect((await call(app, 'GET', `/v1/merchants/${m.id}`, ADMIN)).statusCode).toBe(200);
  });

  it('changes name and allowed origins (admin), validated like creation', async () => {
    const m = await newMerchant(app, 'patch me');
    const res = await call(app, 'PATCH', `/v1/merchants/${m.id}`, ADMIN, { name: 'patched', allowedOrigins: ['https://Shop.Example'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: m.id, name: 'patched', allowedOrigins: ['https://shop.example'] });
    expectError(await call(app, 'PATCH', `/v1/merchants/${m.id}`, ADMIN, { allowedOrigins: ['https://shop.example/path'] }), 400, 'validation_failed');
    expectError(await call(app, 'PATCH', `/v1/merchants/${m.id}`, ADMIN, {}), 400, 'validation_failed');
    expectError(await call(app, 'PATCH', `/v1/merchants/${m.id}`, ADMIN, { publishableKey: 'pk_x' }), 400, 'validation_failed');
    expectError(await call(app, 'PATCH', '/v1/merchants/m_0000', ADMIN, { name: 'x' }), 404, 'not_found');
  });

  it('lets a merchant read and change only its own origins with its secret key; the publishable key is refused', async () => {
    const a = await newMerchant(app, 'self a', ['https://a.example']);
    const b = await newMerchant(app, 'self b', ['https://b.example']);
    expect((await call(app, 'GET', '/v1/merchant', a.secretKey)).json()).toMatchObject({ id: a.id, allowedOrigins: ['https://a.example'] });
    const changed = await call(app, 'PATCH', '/v1/merchant', a.secretKey, { allowedOrigins: ['https://new.example'] });
    expect(changed.json()).toMatchObject({ id: a.id, allowedOrigins: ['https://new.example'] });
    // The change reaches the key cache at once: the old origin is refused on the next read.
    const origin = (o: string) => ({ origin: o });
    expectError(await call(app, 'GET', `/v1/stock/X?key=${a.publishableKey}`, undefined, undefined, origin('https://a.example')), 403, 'forbidden_origin');
    expect((await call(app, 'GET', `/v1/stock/X?key=${a.publishableKey}`, undefined, undefined, origin('https://new.example'))).statusCode).toBe(200);
    // b is untouched, and no field of the body can name another merchant.
    expect((await call(app, 'GET', `/v1/merchants/${b.id}`, ADMIN)).json()).toMatchObject({ name: 'self b', allowedOrigins: ['https://b.example'] });
    expectError(await call(app, 'PATCH', '/v1/merchant', a.secretKey, { id: b.id, allowedOrigins: [] }), 400, 'validation_failed');
    expectError(await call(app, 'PATCH', '/v1/merchant', a.secretKey, { name: 'renamed' }), 400, 'validation_failed');
    expectError(await call(app, 'PATCH', '/v1/merchant', a.secretKey, { allowedOrigins: ['ftp://a.example'] }), 400, 'validation_failed');
    expectError(await call(app, 'GET', '/v1/merchant', a.publishableKey), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/v1/merchant'), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/v1/merchant', ADMIN), 401, 'unauthorized');
  });

  it('deletes a merchant and all its data; its keys are refused at once, others are untouched', async () => {
    const gone = await newMerchant(app, 'delete me');
    const kept = await newMerchant(app, 'keep me');
    for (const m of [gone, kept]) expect((await call(app, 'PUT', '/v1/stock/D-1', m.secretKey, { onHand: 3 })).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/stock/D-1', gone.publishableKey)).statusCode).toBe(200); // both keys now cached
    const res = await call(app, 'DELETE', `/v1/merchants/${gone.id}`, ADMIN);
    expect(res.statusCode).toBe(204);
    expectError(await call(app, 'GET', '/v1/stock/D-1', gone.secretKey), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/v1/stock/D-1', gone.publishableKey), 401, 'unauthorized');
    expect(await store.listProducts(gone.id, { limit: 10 })).toEqual({ items: [], nextCursor: null });
    expect(await store.journal(gone.id, 'D-1')).toEqual([]);
    expectError(await call(app, 'GET', `/v1/merchants/${gone.id}`, ADMIN), 404, 'not_found');
    expectError(await call(app, 'DELETE', `/v1/merchants/${gone.id}`, ADMIN), 404, 'not_found');
    expect((await call(app, 'GET', '/v1/stock/D-1', kept.secretKey)).json()).toMatchObject({ onHand: 3 });
  });

  it('rotates its own keys: the old secret key stops at once, the old publishable key works through the grace period', async () => {
    const m = await newMerchant(app, 'rotate self');
    const other = await newMerchant(app, 'rotate other');
    expect((await call(app, 'GET', '/v1/stock/R-1', m.publishableKey)).statusCode).toBe(200);
    const res = await call(app, 'POST', '/v1/merchant/keys/rotate', m.secretKey);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const rotated = res.json<Created>();
    expect(rotated.id).toBe(m.id);
    expect(rotated.publishableKey).not.toBe(m.publishableKey);
    expectError(await call(app, 'GET', '/v1/merchant', m.secretKey), 401, 'unauthorized');
    expect((await call(app, 'GET', '/v1/merchant', rotated.secretKey)).json()).toMatchObject({ id: m.id });
    expect((await call(app, 'GET', '/v1/stock/R-1', m.publishableKey)).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/stock/R-1', rotated.publishableKey)).statusCode).toBe(200);
    // The other merchant's keys are untouched.
    expect((await call(app, 'GET', '/v1/merchant', other.secretKey)).json()).toMatchObject({ id: other.id });
    // A second rotation ends the first grace: only the key just replaced is still honoured.
    const again = (await call(app, 'POST', '/v1/merchant/keys/rotate', rotated.secretKey)).json<Created>();
    expectError(await call(app, 'GET', '/v1/stock/R-1', m.publishableKey), 401, 'unauthorized');
    expect((await call(app, 'GET', '/v1/stock/R-1', rotated.publishableKey)).statusCode).toBe(200);
    expect((await call(app, 'GET', '/v1/stock/R-1', again.publishableKey)).statusCode).toBe(200);
    expectError(await call(app, 'POST', '/v1/merchant/keys/rotate', m.publishableKey), 401, 'unauthorized');
  });

  it('with PUBLISHABLE_KEY_GRACE_HOURS=0 refuses the old publishable key at once', async () => {
    const strict = appFor(store, { PUBLISHABLE_KEY_GRACE_HOURS: '0' });
    try {
      const m = await newMerchant(strict, 'no grace');
      const rotated = (await call(strict, 'POST', '/v1/merchant/keys/rotate', m.secretKey)).json<Created>();
      expectError(await call(strict, 'GET', '/v1/stock/G-1', m.publishableKey), 401, 'unauthorized');
      expect((await call(strict, 'GET', '/v1/stock/G-1', rotated.publishableKey)).statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });
});
