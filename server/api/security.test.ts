import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { realDatabaseUrl } from '../../test/backends.js';
import { KeyCache } from '../access/key-cache.js';
import { loadConfig, type Config } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { buildApp, type AppDeps } from './app.js';
import { RedisBus } from '../bus/redis-bus.js';
import { TestRedisServer } from '../../test/support/test-redis-server.js';

const ADMIN = 'security-admin-token-0123456789';

function config(env: Record<string, string> = {}): Config {
  return loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RESERVATION_SWEEP_INTERVAL_MS: '3600000', ...env });
}

function appFor(store: StockStore, cfg: Config = config(), extra: Partial<AppDeps> = {}): FastifyInstance {
  return buildApp({ store, http: cfg.http, adminToken: cfg.adminToken, publicWsUrl: cfg.publicWsUrl, ...extra });
}

function memoryStore(): Promise<StockStore> {
  return StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
}

interface Call {
  key?: string;
  body?: unknown;
  headers?: Record<string, string>;
  ip?: string;
}

function call(app: FastifyInstance, method: string, url: string, options: Call = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(options.ip ? { remoteAddress: options.ip } : {}),
    ...(payload === undefined ? {} : { payload }),
  });
}

let ipCounter = 0;
/** A fresh client address, so one test's requests never use up another's per-IP budget. */
function freshIp(): string {
  ipCounter += 1;
  return `10.9.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
}

async function newMerchant(app: FastifyInstance, allowedOrigins?: string[]) {
  const res = await call(app, 'POST', '/v1/merchants', {
    key: ADMIN,
    ip: freshIp(),
    body: { name: 'Sec shop', ...(allowedOrigins ? { allowedOrigins } : {}) },
  });
  expect(res.statusCode).toBe(201);
  const body = res.json<{ id: string; secretKey: string; publishableKey: string }>();
  return { id: body.id, sk: body.secretKey, pk: body.publishableKey };
}

function expectError(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, body: res.json() }).toMatchObject({ status, body: { error: { code } } });
}

describe('security headers and CORS', () => {
  let store: StockStore;
  let app: FastifyInstance;
  let shop: { id: string; sk: string; pk: string };

  beforeAll(async () => {
    store = await memoryStore();
    app = appFor(store);
    shop = await newMerchant(app, ['https://shop.example']);
    expect((await call(app, 'PUT', '/v1/stock/A', { key: shop.sk, body: { onHand: 9 } })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('puts the security headers on every kind of answer: success, refusal, 404, bad URL, docs', async () => {
    const answers = [
      await call(app, 'GET', '/healthz'),
      await call(app, 'GET', '/readyz'),
      await call(app, 'GET', `/v1/stock/A?key=${shop.pk}`),
      await call(app, 'GET', '/v1/stock/A', { key: shop.sk }),
      await call(app, 'GET', '/v1/stock/A', { key: 'sk_forged' }),
      await call(app, 'PUT', '/v1/stock/A', { key: shop.sk, body: { onHand: 'x' } }),
      await call(app, 'GET', '/nowhere'),
      await call(app, 'GET', '/v1/stock/%E0%A4%A'),
      await call(app, 'GET', '/docs/'),
      await call(app, 'GET', '/docs/json'),
      await call(app, 'POST', '/v1/merchants', { body: { name: 'x' } }),
    ];
    for (const res of answers) {
      expect(res.statusCode, res.body.slice(0, 200)).toBeLessThan(500);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['strict-transport-security']).toContain('max-age=');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('lets other sites load /widget.js (CORP cross-origin) and keeps /docs working under its CSP', async () => {
    const widget = await call(app, 'GET', '/widget.js');
    // 200 once the bundle is built, 503 before; either way other origins may load it.
    if (widget.statusCode === 200) expect(widget.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(widget.headers['x-content-type-options']).toBe('nosniff');
    const docs = await call(app, 'GET', '/docs/');
    expect(docs.statusCode).toBe(200);
    // Swagger UI's page loads only its own scripts: no inline <script> body the CSP would block.
    expect(docs.body).not.toMatch(/<script>(?!\s*<\/script>)[^<]+<\/script>/);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('answers CORS exactly for the allowed origins on publishable reads, and never on secret-key or admin routes', async () => {
    const allowed = await call(app, 'GET', `/v1/stock/A?key=${shop.pk}`, { headers: { origin: 'https://shop.example' } });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(allowed.json()).toEqual({ sku: 'A', status: 'in_stock', available: 9, version: 1 });

    for (const origin of ['https://evil.example', 'https://shop.example.evil.example', 'http://shop.example', 'null']) {
      const res = await call(app, 'GET', `/v1/stock/A?key=${shop.pk}`, { headers: { origin } });
      expectError(res, 403, 'forbidden_origin');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
    const secretRead = await call(app, 'GET', '/v1/stock/A', { key: shop.sk, headers: { origin: 'https://shop.example' } });
    expect(secretRead.statusCode).toBe(200);
    expect(secretRead.headers['access-control-allow-origin']).toBeUndefined();
    const write = await call(app, 'POST', '/v1/stock/A/adjust', { key: shop.sk, body: { delta: -1 }, headers: { origin: 'https://shop.example' } });
    expect(write.headers['access-control-allow-origin']).toBeUndefined();
    for (const [method, url] of [
      ['PUT', '/v1/stock/A'],
      ['POST', '/v1/stock/batch'],
      ['POST', '/v1/merchants'],
      ['POST', `/v1/merchants/${shop.id}/keys/rotate`],
      ['DELETE', '/v1/reservations/x'],
    ] as const) {
      const preflight = await app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin: 'https://shop.example', 'access-control-request-method': method, 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.headers['access-control-allow-origin'], `${method} ${url}`).toBeUndefined();
    }
    const admin = await call(app, 'POST', '/v1/merchants', { key: ADMIN, body: { name: 'y' }, headers: { origin: 'https://shop.example' } });
    expect(admin.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('lets a publishable key read only public views: every write and full read is 401', async () => {
    const refused = [
      await call(app, 'PUT', '/v1/stock/A', { key: shop.pk, body: { onHand: 1 } }),
      await call(app, 'POST', '/v1/stock/A/adjust', { key: shop.pk, body: { delta: 1 } }),
      await call(app, 'POST', '/v1/stock/batch', { key: shop.pk, body: { items: [{ sku: 'A', delta: 1 }] } }),
      await call(app, 'PUT', '/v1/products/A', { key: shop.pk, body: { display: 'exact' } }),
      await call(app, 'GET', '/v1/products', { key: shop.pk }),
      await call(app, 'POST', '/v1/reservations', { key: shop.pk, body: { sku: 'A', quantity: 1 } }),
      await call(app, 'POST', '/v1/merchants', { key: shop.pk, body: { name: 'x' } }),
      await call(app, 'POST', `/v1/merchants/${shop.id}/keys/rotate`, { key: shop.pk }),
    ];
    for (const res of refused) expect(res.statusCode).toBe(401);
    const read = await call(app, 'GET', '/v1/stock?skus=A,B', { key: shop.pk });
    expect(read.json()).toEqual({ items: [expect.not.objectContaining({ onHand: expect.anything() }), expect.objectContaining({ status: 'unknown' })] });
    // A secret key in the query string is never accepted (it would end up in logs).
    expectError(await call(app, 'GET', `/v1/stock/A?key=${shop.sk}`), 401, 'unauthorized');
  });
});

describe('logs', () => {
  it('are JSON lines with the request id (also answered as x-request-id) and never carry a key', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const store = await memoryStore();
    const app = appFor(store, config(), { logger });
    try {
      const m = await newMerchant(app);
      const refused = await call(app, 'PUT', '/v1/stock/A', { key: `${m.sk}x`, body: { onHand: 1 } });
      expect(refused.statusCode).toBe(401);
      const requestId = refused.headers['x-request-id'];
      expect(requestId).toBeTruthy();
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.find((e) => e.reqId === requestId)).toMatchObject({ level: 30, code: 'unauthorized', msg: 'request refused' });
      const all = lines.join('\n');
      expect(all).not.toContain(m.sk);
      expect(all).not.toContain(ADMIN);
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('key rotation', () => {
  let store: StockStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await memoryStore();
    app = appFor(store);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers new keys and refuses the old secret key at once (even right after it was cached)', async () => {
    const m = await newMerchant(app);
    expect((await call(app, 'GET', '/v1/products', { key: m.sk })).statusCode).toBe(200);
    const res = await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const fresh = res.json<{ id: string; secretKey: string; publishableKey: string }>();
    expect(fresh.id).toBe(m.id);
    expect(fresh.secretKey).toMatch(/^sk_/);
    expect(fresh.secretKey).not.toBe(m.sk);
    expect(fresh.publishableKey).toBe(m.pk);
    expectError(await call(app, 'GET', '/v1/products', { key: m.sk }), 401, 'unauthorized');
    expectError(await call(app, 'PUT', '/v1/stock/R', { key: m.sk, body: { onHand: 1 } }), 401, 'unauthorized');
    expect((await call(app, 'PUT', '/v1/stock/R', { key: fresh.secretKey, body: { onHand: 1 } })).statusCode).toBe(200);
    // The publishable key stays unless asked: shop pages keep working.
    expect((await call(app, 'GET', `/v1/stock/R?key=${m.pk}`)).statusCode).toBe(200);
  });

  it('rotates the publishable key too when asked; the old one is refused once PUBLISHABLE_KEY_GRACE_HOURS is over', async () => {
    const noGrace = appFor(store, config({ PUBLISHABLE_KEY_GRACE_HOURS: '0' }));
    try {
      const m = await newMerchant(noGrace);
      expect((await call(noGrace, 'GET', `/v1/stock/R?key=${m.pk}`)).statusCode).toBe(200);
      const res = await call(noGrace, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN, body: { publishable: true } });
      const fresh = res.json<{ secretKey: string; publishableKey: string }>();
      expect(fresh.publishableKey).not.toBe(m.pk);
      expectError(await call(noGrace, 'GET', `/v1/stock/R?key=${m.pk}`), 401, 'unauthorized');
      expect((await call(noGrace, 'GET', `/v1/stock/R?key=${fresh.publishableKey}`)).statusCode).toBe(200);
    } finally {
      await noGrace.close();
    }
    // Inside the grace period (default 24 h) the old publishable key still works: shop pages are edited by hand.
    const m = await newMerchant(app);
    const fresh = (await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN, body: { publishable: true } })).json<{ publishableKey: string }>();
    expect((await call(app, 'GET', `/v1/stock/R?key=${m.pk}`)).statusCode).toBe(200);
    expect((await call(app, 'GET', `/v1/stock/R?key=${fresh.publishableKey}`)).statusCode).toBe(200);
  });

  it('needs the admin token, and answers 404 for an unknown merchant and 400 for a bad body', async () => {
    const m = await newMerchant(app);
    expectError(await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`), 401, 'unauthorized');
    expectError(await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: m.sk }), 401, 'unauthorized');
    expectError(await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: `${ADMIN}x` }), 401, 'unauthorized');
    expectError(await call(app, 'POST', '/v1/merchants/m_00/keys/rotate', { key: ADMIN }), 404, 'not_found');
    expectError(await call(app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN, body: { publishable: 'yes' } }), 400, 'validation_failed');
    const off = appFor(store, config({ ADMIN_TOKEN: '' }));
    try {
      expectError(await call(off, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN }), 403, 'admin_disabled');
    } finally {
      await off.close();
    }
  });
});

const databaseUrl = realDatabaseUrl();
const redisUrl = inject('redisUrl');
const redisPrefix = inject('redisPrefix');

describe.skipIf(databaseUrl === null || redisUrl === null)('across two API nodes (PostgreSQL + Redis)', () => {
  const nodes: Array<{ store: StockStore; app: FastifyInstance; bus: RedisBus }> = [];
  const prefix = `${redisPrefix}sec${randomBytes(3).toString('hex')}:`;

  beforeAll(async () => {
    const cfg = config({ RATE_LIMIT_PER_KEY_PER_MINUTE: '5', RATE_LIMIT_PER_IP_PER_MINUTE: '4' });
    for (let i = 0; i < 2; i++) {
      const store = await StockStore.open({ databaseUrl: databaseUrl!, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
      const keys = new KeyCache(store);
      const bus = new RedisBus({ url: redisUrl!, keyPrefix: prefix });
      bus.onControl((message) => {
        if (message.type === 'keys_revoked') keys.forget(message.merchantId);
      });
      const keyRevocations = { announce: (merchantId: string) => bus.broadcast({ type: 'keys_revoked', merchantId }) };
      const app = appFor(store, cfg, { keys, keyRevocations, rateLimitRedis: { url: redisUrl!, keyPrefix: prefix } });
      await app.ready();
      // Both subscribers are in place before anything is announced.
      expect(await bus.ready()).toBe(true);
      nodes.push({ store, app, bus });
    }
  });
  afterAll(async () => {
    for (const node of nodes) {
      await node.app.close();
      await node.bus.close();
      await node.store.close();
    }
  });

  it('refuses a rotated secret key on the other node at once, although that node had it cached', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const m = await newMerchant(a.app);
    expect((await call(b.app, 'GET', '/v1/products', { key: m.sk, ip: '10.0.0.1' })).statusCode).toBe(200);
    const fresh = (await call(a.app, 'POST', `/v1/merchants/${m.id}/keys/rotate`, { key: ADMIN, ip: '10.0.0.2' })).json<{ secretKey: string }>();
    await expect
      .poll(async () => (await call(b.app, 'GET', '/v1/products', { key: m.sk, ip: freshIp() })).statusCode, { timeout: 1000, interval: 20 })
      .toBe(401);
    expect((await call(b.app, 'GET', '/v1/products', { key: fresh.secretKey, ip: '10.0.0.3' })).statusCode).toBe(200);
  });

  it('counts a secret key across both nodes in Redis and answers 429 rate_limited with Retry-After', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const m = await newMerchant(a.app);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const node = i % 2 === 0 ? a : b;
      const res = await call(node.app, 'PUT', '/v1/stock/L', { key: m.sk, body: { onHand: i }, ip: `10.1.0.${i}` });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expectError(res, 429, 'rate_limited');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // The keys are under the configured prefix and hold a merchant id, never the key itself.
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl!);
    try {
      const keys = await redis.keys(`${prefix}rate-limit:*`);
      expect(keys.some((k) => k.includes(m.id))).toBe(true);
      expect(keys.some((k) => k.includes(m.sk))).toBe(false);
    } finally {
      redis.disconnect();
    }
  });

  it('counts made-up secret keys per IP, so spraying keys does not dodge the IP limit', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const node = i % 2 === 0 ? a : b;
      statuses.push((await call(node.app, 'GET', '/v1/products', { key: `sk_made_up_${i}`, ip: '10.2.0.9' })).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
  });
});

describe('rate limits behind a load balancer', () => {
  it('count the client from X-Forwarded-For with TRUST_PROXY_HOPS=1, and ignore the header without it', async () => {
    const store = await memoryStore();
    const behind = appFor(store, config({ RATE_LIMIT_PER_IP_PER_MINUTE: '2', TRUST_PROXY_HOPS: '1' }));
    const direct = appFor(store, config({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' }));
    try {
      const m = await newMerchant(behind);
      const read = (app: FastifyInstance, client: string) =>
        call(app, 'GET', `/v1/stock/A?key=${m.pk}`, { ip: '10.20.0.1', headers: { 'x-forwarded-for': client } });
      // Behind the balancer: two shoppers, two budgets.
      expect([(await read(behind, '1.1.1.1')).statusCode, (await read(behind, '1.1.1.1')).statusCode]).toEqual([200, 200]);
      expect((await read(behind, '1.1.1.1')).statusCode).toBe(429);
      expect((await read(behind, '2.2.2.2')).statusCode).toBe(200);
      // Not trusted: a forged header does not buy a fresh budget.
      expect([(await read(direct, '3.3.3.3')).statusCode, (await read(direct, '4.4.4.4')).statusCode]).toEqual([200, 200]);
      expect((await read(direct, '5.5.5.5')).statusCode).toBe(429);
    } finally {
      await behind.close();
      await direct.close();
      await store.close();
    }
  });
});

describe.skipIf(redisUrl === null)('rate limiter while its Redis is down', () => {
  it('lets requests through (writes never depend on Redis) and limits again once Redis is back', async () => {
    const redis = await TestRedisServer.start();
    const store = await memoryStore();
    const app = appFor(store, config({ RATE_LIMIT_PER_KEY_PER_MINUTE: '3', RATE_LIMIT_PER_IP_PER_MINUTE: '100' }), {
      rateLimitRedis: { url: redis.url, keyPrefix: 'sec:' },
    });
    try {
      const m = await newMerchant(app);
      await redis.kill();
      for (let i = 0; i < 6; i++) expect((await call(app, 'PUT', '/v1/stock/D', { key: m.sk, body: { onHand: i } })).statusCode).toBe(200);
      await redis.restart();
      await expect
        .poll(async () => (await call(app, 'PUT', '/v1/stock/D', { key: m.sk, body: { onHand: 1 } })).statusCode, { timeout: 10_000, interval: 100 })
        .toBe(429);
    } finally {
      await app.close();
      await store.close();
      await redis.kill();
    }
  });
});
