import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyCache } from '../access/key-cache.js';
import { loadConfig, type Config } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { buildApp, type AppDeps } from './app.js';

/** What an attack review found on the REST port: each test reproduces one finding. */
const ADMIN = 'abuse-admin-token-0123456789';

function config(env: Record<string, string> = {}): Config {
  return loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RESERVATION_SWEEP_INTERVAL_MS: '3600000', ...env });
}

function call(
  app: FastifyInstance,
  method: string,
  url: string,
  options: { key?: string; body?: unknown; ip?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return app.inject({
    method: method as 'GET',
    url,
    headers,
    remoteAddress: options.ip ?? '10.30.0.1',
    ...(payload === undefined ? {} : { payload }),
  });
}

let ipCounter = 0;
function freshIp(): string {
  ipCounter += 1;
  return `10.31.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
}

function randomSecretKey(): string {
  return `sk_${randomBytes(24).toString('base64url')}`;
}

describe('REST under attack', () => {
  let store: StockStore;
  let lookups = 0;
  let keys: KeyCache;
  let shop: { id: string; sk: string; pk: string };
  const apps: FastifyInstance[] = [];

  function appWith(env: Record<string, string>, extra: Partial<AppDeps> = {}): FastifyInstance {
    const cfg = config(env);
    const app = buildApp({ store, keys, http: cfg.http, adminToken: cfg.adminToken, publicWsUrl: cfg.publicWsUrl, ...extra });
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    // The real store, with its key lookups counted: what reaches the database.
    keys = new KeyCache({
      resolveSecretKey: (key) => {
        lookups += 1;
        return store.resolveSecretKey(key);
      },
      resolvePublishableKey: (key) => {
        lookups += 1;
        return store.resolvePublishableKey(key);
      },
    });
    const created = await store.createMerchant({ name: 'Abuse shop' });
    shop = { id: created.id, sk: created.secretKey, pk: created.publishableKey };
    await store.setStock(shop.id, 'A', { onHand: 5 });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await store?.close();
  });

  it('limits a path spelled differently (/%76%31/…) like /v1/…: the limit follows the matched route', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' });
    const ip = freshIp();
    expect((await call(app, 'GET', `/v1/stock/A?key=${shop.pk}`, { ip })).statusCode).toBe(200);
    expect((await call(app, 'GET', `/%76%31/stock/A?key=${shop.pk}`, { ip })).statusCode).toBe(200);
    expect((await call(app, 'GET', `/%76%31/stock/A?key=${shop.pk}`, { ip })).statusCode).toBe(429);
    expect((await call(app, 'GET', `/v1/stock/A?key=${shop.pk}`, { ip })).statusCode).toBe(429);
  });

  it('counts wrong admin tokens toward the limit, and then answers 429 to right and wrong alike', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP_PER_MINUTE: '3' });
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(app, 'POST', '/v1/merchants', { key: `wrong-admin-token-${i}-0123456789`, ip, body: { name: 'x' } })).statusCode);
    expect(statuses).toEqual([401, 401, 401]);
    const right = await call(app, 'POST', '/v1/merchants', { key: ADMIN, ip, body: { name: 'x' } });
    const wrong = await call(app, 'POST', '/v1/merchants', { key: 'wrong-admin-token-x-0123456789', ip, body: { name: 'x' } });
    expect([right.statusCode, wrong.statusCode]).toEqual([429, 429]);
    expect(right.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect(right.headers['retry-after']).toBeDefined();
    const rotate = await call(app, 'POST', `/v1/merchants/${shop.id}/keys/rotate`, { key: 'wrong-admin-token-y-0123456789', ip });
    expect(rotate.statusCode).toBe(429);
  });

  it('counts wrong secret keys per IP, and looks up no key once the IP is limited', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP_PER_MINUTE: '3', RATE_LIMIT_PER_KEY_PER_MINUTE: '1000' });
    const ip = freshIp();
    const before = lookups;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call(app, 'POST', '/v1/stock/A/adjust', { key: randomSecretKey(), ip, body: { delta: 1 } })).statusCode);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(statuses.slice(3))).toEqual(new Set([429]));
    // One lookup per guess until the budget ran out; none after (the IP is checked first).
    expect(lookups - before).toBe(3);
    // The merchant's own key, from that address, is refused too while it is limited...
    expect((await call(app, 'POST', '/v1/stock/A/adjust', { key: shop.sk, ip, body: { delta: 1 } })).statusCode).toBe(429);
    // ...and counted by merchant, not by IP, from anywhere else.
    const elsewhere = freshIp();
    for (let i = 0; i < 5; i++) expect((await call(app, 'GET', '/v1/stock/A', { key: shop.sk, ip: elsewhere })).statusCode).toBe(200);
  });

  it('remembers a missed key briefly: the same made-up key costs one lookup', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP_PER_MINUTE: '0', RATE_LIMIT_PER_KEY_PER_MINUTE: '0' });
    const madeUp = randomSecretKey();
    const before = lookups;
    for (let i = 0; i < 10; i++) expect((await call(app, 'GET', '/v1/stock/A', { key: madeUp })).statusCode).toBe(401);
    expect(lookups - before).toBe(1);
  });

  it('refuses malformed keys (pk_%00) with 401 before any lookup, never 500', async () => {
    const app = appWith({});
    const before = lookups;
    for (const url of ['/v1/stock/A?key=pk_%00', '/v1/stock?skus=A&key=pk_%00', `/v1/stock/A?key=pk_${'%00'.repeat(30)}`]) {
      const res = await call(app, 'GET', url, { ip: freshIp() });
      expect({ url, status: res.statusCode, code: res.json<{ error: { code: string } }>().error.code }).toEqual({ url, status: 401, code: 'unauthorized' });
    }
    for (const key of ['sk_%00', `sk_${'\u00e9'.repeat(32)}`, 'pk_\u0001']) {
      const res = await call(app, 'GET', '/v1/stock/A', { ip: freshIp(), headers: { authorization: `Bearer ${encodeURI(key)}` } });
      expect(res.statusCode).toBe(401);
    }
    expect(lookups).toBe(before);
  });

  it('answers deeply nested JSON with 400 on every route, with or without Idempotency-Key', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP_PER_MINUTE: '0' });
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    for (const [method, url] of [
      ['POST', '/v1/reservations/res_x/commit'],
      ['DELETE', '/v1/reservations/res_x'],
      ['POST', '/v1/stock/A/adjust'],
      ['PUT', '/v1/products/A'],
    ] as const) {
      for (const body of [deep, deepObject]) {
        for (const headers of [{}, { 'idempotency-key': `deep-${randomBytes(4).toString('hex')}` }] as Array<Record<string, string>>) {
          const res = await call(app, method, url, { key: shop.sk, body, headers });
          expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 400 });
          expect(res.json()).toMatchObject({ error: { code: 'validation_failed' } });
        }
      }
    }
  });

  it('answers a malformed URL with a fixed message that quotes neither the URL nor its keys, in the answer or the log', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const app = appWith({}, { logger });
    const res = await call(app, 'GET', `/v1/stock/%E0%A4%A?key=${shop.pk}&secret=${shop.sk}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'validation_failed', message: 'The URL is not valid.' } });
    const all = lines.join('\n');
    expect(all).toContain('request refused');
    expect(all).not.toContain(shop.pk);
    expect(all).not.toContain(shop.sk);
    expect(all).not.toContain('%E0%A4%A');
  });

  it('answers random request ids, not a counter that reveals the traffic', async () => {
    const app = appWith({});
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await call(app, 'GET', '/healthz')).headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(3);
  });

  it('answers headers over Node\'s limit with 431 in the error shape', async () => {
    const app = appWith({});
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const answer = await new Promise<{ status: number; body: string; type: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', headers: { 'x-padding': 'x'.repeat(40_000) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(answer.type).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: 'headers_too_large', message: 'The request headers are too large.' } });
  });
});
