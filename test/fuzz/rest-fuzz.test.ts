import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { errorCodes } from '../../server/errors.js';
import { MemoryBus } from '../../server/bus/memory-bus.js';
import { StockStore } from '../../server/store/stock-store.js';
import { realDatabaseUrl } from '../backends.js';
import { appWithConsole } from '../support/console-app.js';
import { fuzzJson, hostileString, hugeNumber, nested, runs, wrongType } from './arbitraries.js';

/**
 * Fuzzing the REST schemas through `app.inject()`: random JSON, wrong types, huge numbers, unicode
 * and control characters in SKUs, deep nesting. Every answer must be a success or the one error
 * shape with a documented code and its status — never a 500, never a hang.
 */
const ADMIN = 'fuzz-admin-token-0123456789abcdef';
const TIMEOUT_MS = 5000;
let cases = 0;

interface Shop {
  id: string;
  sk: string;
  pk: string;
}

async function send(
  app: FastifyInstance,
  method: string,
  url: string,
  options: { key?: string; payload?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  cases += 1;
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${method} ${url.slice(0, 80)} took over ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      app.inject({ method: method as 'GET', url, headers, ...(options.payload === undefined ? {} : { payload: options.payload }) }),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A success, or the one error shape with a documented code whose status is the HTTP status. */
function expectContract(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what} → ${res.statusCode} ${res.body.slice(0, 200)}`).toBeLessThan(500);
  // HEAD answers carry no body to check.
  if (res.statusCode < 400 || what.startsWith('HEAD ')) return;
  const body = res.json<{ error?: { code?: string; message?: string } }>();
  const code = body.error?.code as keyof typeof errorCodes;
  expect(errorCodes[code], `${what}: undocumented code ${String(code)}`).toBeDefined();
  expect(res.statusCode, `${what}: ${code}`).toBe(errorCodes[code].status);
  expect(typeof body.error?.message).toBe('string');
}

function expectCode(res: LightMyRequestResponse, code: keyof typeof errorCodes, what: string): void {
  expectContract(res, what);
  expect(res.json<{ error?: { code?: string } }>().error?.code, `${what} → ${res.body.slice(0, 200)}`).toBe(code);
}

/** Percent-encodes the UTF-8 bytes (encodeURIComponent throws on lone surrogates). */
function pathEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

const databaseUrl = realDatabaseUrl() ?? undefined;

describe(`REST fuzz on ${databaseUrl ? 'postgres' : 'pglite'}`, () => {
  let store: StockStore;
  let app: FastifyInstance;
  let bus: MemoryBus;
  let shop: Shop;
  /** Every route the app registers (method, pattern), collected as it registers them. */
  const routes: Array<{ method: string; url: string }> = [];

  beforeAll(async () => {
    const config = loadConfig({
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'silent',
      RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
      RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    });
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    bus = new MemoryBus();
    app = appWithConsole(store, bus, config);
    app.addHook('onRoute', (route) => {
      // The console's live stream never ends on its own (its tests read it over a real socket).
      if (route.url === '/v1/console/events') return;
      for (const method of [route.method].flat()) routes.push({ method, url: route.url });
    });
    const created = await app.inject({
      method: 'POST',
      url: '/v1/merchants',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'Fuzz shop', allowedOrigins: ['https://shop.example'] }),
    });
    const body = created.json<{ id: string; secretKey: string; publishableKey: string }>();
    shop = { id: body.id, sk: body.secretKey, pk: body.publishableKey };
    await app.inject({
      method: 'PUT',
      url: '/v1/stock/REAL-1',
      headers: { authorization: `Bearer ${shop.sk}`, 'content-type': 'application/json' },
      payload: '{"onHand":5}',
    });
  });

  afterAll(async () => {
    await app.close();
    await bus.close();
    await store.close();
    console.log(`[fuzz] REST: ${cases} requests, no 500, no hang`);
  });

  it('any JSON body on every write route: success or a documented error', async () => {
    const routes = [
      ['PUT', '/v1/stock/F-1'],
      ['POST', '/v1/stock/F-1/adjust'],
      ['POST', '/v1/stock/batch'],
      ['PUT', '/v1/products/F-1'],
      ['POST', '/v1/reservations'],
      ['POST', '/v1/merchants'],
    ] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fuzzJson, async ([method, url], body) => {
        const key = url === '/v1/merchants' ? ADMIN : shop.sk;
        expectContract(await send(app, method, url, { key, payload: JSON.stringify(body) }), `${method} ${url} ${JSON.stringify(body).slice(0, 100)}`);
      }),
      { numRuns: runs(1500) },
    );
  });

  it('every registered route, any body (deeply nested included), with and without Idempotency-Key: never a 5xx', async () => {
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'POST /v1/reservations/:id/commit',
        'DELETE /v1/reservations/:id',
        'POST /v1/merchants/:id/keys/rotate',
        'GET /v1/stock/:sku',
        'POST /v1/console/session',
      ]),
    );
    // Admin routes act on a merchant of their own: rotating the shop's keys would blind the other cases.
    const other = await store.createMerchant({ name: 'Fuzz target' });
    const concrete = (url: string) =>
      url.replace(':sku', 'F-9').replace(':id', url.startsWith('/v1/merchants') ? other.id : 'res_fuzz').replace('*', 'x');
    const body = fc.oneof(
      fuzzJson.map((value) => JSON.stringify(value)),
      nested,
      fc.constantFrom(
        `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
        `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`,
        `{"items":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      ),
      fc.constant(undefined),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        body,
        fc.option(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), { nil: undefined }),
        fc.constantFrom('admin', 'sk', 'pk'),
        async (route, payload, idempotency, who) => {
          const key = who === 'admin' ? ADMIN : who === 'sk' ? shop.sk : shop.pk;
          const headers: Record<string, string> = idempotency === undefined ? {} : { 'idempotency-key': idempotency };
          const withBody = route.method !== 'GET' && route.method !== 'HEAD' && payload !== undefined;
          const res = await send(app, route.method, concrete(route.url), { key, headers, ...(withBody ? { payload } : {}) });
          expectContract(res, `${route.method} ${route.url} ${who} idem=${String(idempotency !== undefined)} ${String(payload).slice(0, 60)}`);
        },
      ),
      { numRuns: runs(1500) },
    );
  });

  it('wrong types and huge numbers in the right fields: 400 validation_failed every time', async () => {
    const cases_ = fc.oneof(
      fc.record({ onHand: wrongType }).map((b) => ['PUT', '/v1/stock/F-2', b] as const),
      fc.record({ onHand: hugeNumber }).map((b) => ['PUT', '/v1/stock/F-2', b] as const),
      fc.record({ onHand: fc.constant(1), ifVersion: fc.oneof(wrongType, fc.constantFrom(0.5, -1, 1.5e9 + 0.5)) }).map((b) => ['PUT', '/v1/stock/F-2', b] as const),
      fc.record({ delta: fc.oneof(wrongType, hugeNumber, fc.constant(0)) }).map((b) => ['POST', '/v1/stock/F-2/adjust', b] as const),
      fc.record({ delta: fc.constant(1), reason: fc.oneof(fc.integer(), fc.boolean(), fc.string({ minLength: 501, maxLength: 600 })) }).map(
        (b) => ['POST', '/v1/stock/F-2/adjust', b] as const,
      ),
      fc.record({ items: fc.oneof(wrongType, fc.array(wrongType, { minLength: 1, maxLength: 3 })) }).map((b) => ['POST', '/v1/stock/batch', b] as const),
      fc.record({ lowStockThreshold: fc.oneof(wrongType, hugeNumber) }).map((b) => ['PUT', '/v1/products/F-2', b] as const),
      fc.record({ display: fc.oneof(wrongType, fc.string().filter((s) => !['exact', 'threshold', 'status'].includes(s))) }).map(
        (b) => ['PUT', '/v1/products/F-2', b] as const,
      ),
      fc.record({ sku: fc.constant('F-2'), quantity: fc.oneof(wrongType, hugeNumber, fc.constant(0)) }).map((b) => ['POST', '/v1/reservations', b] as const),
      fc.record({ sku: fc.constant('F-2'), quantity: fc.constant(1), ttlSeconds: fc.oneof(wrongType, hugeNumber) }).map(
        (b) => ['POST', '/v1/reservations', b] as const,
      ),
      fuzzJson.filter((b) => b === null || typeof b !== 'object' || Array.isArray(b)).map((b) => ['PUT', '/v1/stock/F-2', b] as const),
    );
    await fc.assert(
      fc.asyncProperty(cases_, async ([method, url, body]) => {
        const res = await send(app, method, url, { key: shop.sk, payload: JSON.stringify(body) });
        expectCode(res, 'validation_failed', `${method} ${url} ${JSON.stringify(body).slice(0, 120)}`);
      }),
      { numRuns: runs(1500) },
    );
  });

  it('unicode and control characters in SKUs (path, multi-get, batch, reservations): success or 400, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, fc.constantFrom('get-sk', 'get-pk', 'put', 'multi', 'batch', 'hold', 'product'), async (sku, where) => {
        const path = pathEncode(sku);
        let res: LightMyRequestResponse;
        switch (where) {
          case 'get-sk':
            res = await send(app, 'GET', `/v1/stock/${path}`, { key: shop.sk });
            break;
          case 'get-pk':
            res = await send(app, 'GET', `/v1/stock/${path}?key=${shop.pk}`);
            break;
          case 'put':
            res = await send(app, 'PUT', `/v1/stock/${path}`, { key: shop.sk, payload: '{"onHand":1}' });
            break;
          case 'multi':
            res = await send(app, 'GET', `/v1/stock?skus=${path},REAL-1`, { key: shop.pk });
            break;
          case 'batch':
            res = await send(app, 'POST', '/v1/stock/batch', { key: shop.sk, payload: JSON.stringify({ items: [{ sku, delta: 1 }] }) });
            break;
          case 'hold':
            res = await send(app, 'POST', '/v1/reservations', { key: shop.sk, payload: JSON.stringify({ sku, quantity: 1 }) });
            break;
          default:
            res = await send(app, 'PUT', `/v1/products/${path}`, { key: shop.sk, payload: '{"display":"status"}' });
        }
        expectContract(res, `${where} ${JSON.stringify(sku)}`);
        const valid = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(sku) && sku.length <= 128;
        if (!valid && where !== 'get-pk' && where !== 'get-sk' && where !== 'multi') {
          // Writes never store an invalid SKU (`.`/`..` in a path resolve to another URL: 404).
          expect([400, 404], `${where} ${JSON.stringify(sku)} → ${res.body.slice(0, 200)}`).toContain(res.statusCode);
        }
      }),
      { numRuns: runs(1500) },
    );
  });

  it('deep nesting, broken JSON, odd content types and oversized bodies: 400 or 413, never a 500', async () => {
    const raw = fc.oneof(
      nested.map((body) => ({ body, type: 'application/json' })),
      fc.string({ unit: 'binary', maxLength: 300 }).map((body) => ({ body, type: 'application/json' })),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ body: Buffer.from(bytes).toString('latin1'), type: 'application/json' })),
      fuzzJson.map((body) => ({ body: JSON.stringify(body), type: 'text/plain' })),
      fuzzJson.map((body) => ({ body: JSON.stringify(body), type: 'application/x-www-form-urlencoded' })),
      fc.constantFrom(
        { body: '['.repeat(200_000), type: 'application/json' },
        { body: `{"onHand":${'9'.repeat(400)}}`, type: 'application/json' },
        { body: `{"onHand":1,"x":"${'a'.repeat(300_000)}"}`, type: 'application/json' },
        { body: '{"__proto__":{"onHand":1}}', type: 'application/json' },
        { body: '{"constructor":{"prototype":{"polluted":1}}}', type: 'application/json' },
        { body: '\u0000', type: 'application/json' },
      ),
    );
    await fc.assert(
      fc.asyncProperty(raw, fc.constantFrom('/v1/stock/F-3', '/v1/stock/batch', '/v1/products/F-3'), async ({ body, type }, url) => {
        const method = url === '/v1/stock/batch' ? 'POST' : 'PUT';
        const res = await send(app, method, url, { key: shop.sk, payload: body, contentType: type });
        expectContract(res, `${method} ${url} ${type} ${body.slice(0, 80)}`);
      }),
      { numRuns: runs(800) },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('random query strings, ids, headers and keys: success or a documented error', async () => {
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      path: fc.constantFrom(
        '/v1/stock',
        '/v1/stock/REAL-1',
        '/v1/products',
        '/v1/reservations/',
        '/v1/merchants/',
        '/readyz',
        '/v1/stock/REAL-1/adjust',
      ),
      tail: hostileString,
      query: fc.dictionary(fc.constantFrom('skus', 'key', 'limit', 'cursor', 'x'), hostileString, { maxKeys: 3 }),
      key: fc.oneof(fc.constant(shop.sk), fc.constant(shop.pk), fc.constant(ADMIN), hostileString, fc.constant('sk_'), fc.constant('pk_')),
      idempotency: fc.option(hostileString, { nil: undefined }),
      origin: fc.option(fc.oneof(fc.constant('https://shop.example'), hostileString), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const needsTail = r.path.endsWith('/') && !r.path.endsWith('/v1/stock');
        const url = `${r.path}${needsTail ? pathEncode(r.tail) : ''}?${new URLSearchParams(r.query).toString()}`;
        const headers: Record<string, string> = {};
        // Header values with control characters cannot be sent at all; those cases test nothing of ours.
        const safe = (v: string) => /^[\x20-\x7e]*$/.test(v);
        if (r.idempotency !== undefined && safe(r.idempotency)) headers['idempotency-key'] = r.idempotency;
        if (r.origin !== undefined && safe(r.origin)) headers.origin = r.origin;
        const res = await send(app, r.method, url, { key: safe(r.key) ? r.key : 'sk_bad', headers });
        expectContract(res, `${r.method} ${url}`);
      }),
      { numRuns: runs(800) },
    );
  });
});
