import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { appWithConsole } from '../../test/support/console-app.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../access/console-session.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { loadConfig } from '../config.js';
import { StockStore } from '../store/stock-store.js';

const ADMIN = 'console-routes-admin-token-01234';
/** What `app.inject` calls itself: the Origin a page of this API sends. */
const OWN = 'http://localhost:80';

interface Created {
  id: string;
  secretKey: string;
  publishableKey: string;
}

interface Session {
  merchantId: string;
  name: string;
  publishableKey: string;
  csrfToken: string;
  expiresAt: string;
}

/** A browser's view of one console sign-in: the cookie it holds and the CSRF token the page keeps. */
interface SignedIn {
  readonly cookie: string;
  readonly csrf: string;
}

function expectError(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, body: res.json() }).toMatchObject({ status, body: { error: { code } } });
}

describe.each(databaseBackends())('console routes on $name', ({ databaseUrl }) => {
  let store: StockStore;
  let bus: MemoryBus;
  let app: FastifyInstance;
  let a: Created;
  let b: Created;

  function call(
    method: string,
    url: string,
    options: { key?: string; session?: SignedIn; csrf?: string | null; origin?: string | null; body?: unknown } = {},
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = {};
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    if (options.session !== undefined) headers.cookie = `${SESSION_COOKIE}=${options.session.cookie}`;
    const csrf = options.csrf === undefined ? options.session?.csrf : options.csrf;
    if (csrf != null) headers[CSRF_HEADER] = csrf;
    const origin = options.origin === undefined ? OWN : options.origin;
    if (origin !== null) headers.origin = origin;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return app.inject({ method: method as 'GET', url, headers, ...(options.body === undefined ? {} : { payload: JSON.stringify(options.body) }) });
  }

  async function signIn(secretKey: string): Promise<SignedIn> {
    const res = await call('POST', '/v1/console/session', { body: { secretKey } });
    expect(res.statusCode).toBe(201);
    const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/v1' });
    return { cookie: cookie!.value, csrf: res.json<Session>().csrfToken };
  }

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    bus = new MemoryBus();
    app = appWithConsole(store, bus, loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RATE_LIMIT_PER_IP_PER_MINUTE: '0' }));
    await app.ready();
    const create = async (name: string): Promise<Created> => (await call('POST', '/v1/merchants', { key: ADMIN, body: { name } })).json<Created>();
    a = await create('console shop A');
    b = await create('console shop B');
    await call('PUT', '/v1/products/A-ONLY', { key: a.secretKey, body: { name: 'A only' } });
    await call('PUT', '/v1/products/B-ONLY', { key: b.secretKey, body: { name: 'B only' } });
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await store?.close();
  });

  it('signs in with the secret key: a session cookie and a CSRF token, never the key', async () => {
    const res = await call('POST', '/v1/console/session', { body: { secretKey: a.secretKey } });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<Session>();
    expect(body).toMatchObject({ merchantId: a.id, name: 'console shop A', publishableKey: a.publishableKey });
    expect(res.body).not.toContain(a.secretKey);
    const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(cookie.value).not.toContain(a.secretKey);
    expect(cookie.maxAge).toBe(8 * 3600);
    // The session reads the merchant's own settings, as the key would.
    const me = await call('GET', '/v1/merchant', { session: { cookie: cookie.value, csrf: body.csrfToken } });
    expect(me.json()).toMatchObject({ id: a.id });
    // And the page can learn its CSRF token again after a reload.
    const again = await call('GET', '/v1/console/session', { session: { cookie: cookie.value, csrf: body.csrfToken } });
    expect(again.json<Session>().csrfToken).toBe(body.csrfToken);
  });

  it('refuses a wrong, malformed or publishable key at sign-in, and another site signing a browser in', async () => {
    expectError(await call('POST', '/v1/console/session', { body: { secretKey: `sk_${'x'.repeat(32)}` } }), 401, 'unauthorized');
    expectError(await call('POST', '/v1/console/session', { body: { secretKey: 'not a key' } }), 401, 'unauthorized');
    expectError(await call('POST', '/v1/console/session', { body: { secretKey: a.publishableKey } }), 401, 'unauthorized');
    expectError(await call('POST', '/v1/console/session', { body: {} }), 400, 'validation_failed');
    expectError(await call('POST', '/v1/console/session', { origin: 'https://evil.example', body: { secretKey: a.secretKey } }), 403, 'forbidden_origin');
  });

  it('needs the CSRF token and the own Origin on every change, not on reads', async () => {
    const session = await signIn(a.secretKey);
    const body = { allowedOrigins: ['https://shop-a.example'] };
    expectError(await call('PATCH', '/v1/merchant', { session, csrf: null, body }), 403, 'csrf_failed');
    expectError(await call('PATCH', '/v1/merchant', { session, csrf: 'wrong', body }), 403, 'csrf_failed');
    const other = await signIn(a.secretKey);
    expectError(await call('PATCH', '/v1/merchant', { session, csrf: other.csrf, body }), 403, 'csrf_failed');
    expectError(await call('PATCH', '/v1/merchant', { session, origin: 'https://evil.example', body }), 403, 'forbidden_origin');
    expectError(await call('PATCH', '/v1/merchant', { session, origin: null, body }), 403, 'forbidden_origin');
    expectError(await call('PUT', '/v1/stock/A-ONLY', { session, csrf: null, body: { onHand: 5 } }), 403, 'csrf_failed');
    expectError(await call('DELETE', '/v1/console/session', { session, csrf: null }), 403, 'csrf_failed');
    // Nothing of the refused changes happened.
    expect((await call('GET', '/v1/merchant', { key: a.secretKey })).json()).toMatchObject({ allowedOrigins: [] });

    const changed = await call('PATCH', '/v1/merchant', { session, body });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ allowedOrigins: ['https://shop-a.example'] });
    expect((await call('PUT', '/v1/stock/A-ONLY', { session, body: { onHand: 5 } })).statusCode).toBe(200);
    await call('PATCH', '/v1/merchant', { session, body: { allowedOrigins: [] } });
  });

  it('a session reaches products, webhooks routes and key rotation like the key (CSRF included)', async () => {
    const session = await signIn(a.secretKey);
    const products = await call('GET', '/v1/products', { session });
    expect(products.json<{ items: Array<{ sku: string }> }>().items.map((p) => p.sku)).toEqual(['A-ONLY']);
    expectError(await call('POST', '/v1/merchant/keys/rotate', { session, csrf: null }), 403, 'csrf_failed');
  });

  it('signs out: the session ends, also for a copy of the cookie', async () => {
    const session = await signIn(a.secretKey);
    const out = await call('DELETE', '/v1/console/session', { session });
    expect(out.statusCode).toBe(204);
    const cleared = out.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(cleared.value).toBe('');
    expectError(await call('GET', '/v1/merchant', { session }), 401, 'unauthorized');
    expectError(await call('GET', '/v1/console/session', { session }), 401, 'unauthorized');
    expectError(await call('DELETE', '/v1/console/session', { session }), 401, 'unauthorized');
  });

  it('ends a session that sat idle past its time, and one past its maximum however active', async () => {
    const idle = await signIn(a.secretKey);
    const old = await signIn(a.secretKey);
    expect((await call('GET', '/v1/merchant', { session: idle })).statusCode).toBe(200);
    const longAgo = new Date(Date.now() - 31 * 60_000);
    await store.db.updateTable('console_sessions').set({ last_seen_at: longAgo }).where('merchant_id', '=', a.id).where('created_at', '<=', new Date()).execute();
    expectError(await call('GET', '/v1/merchant', { session: idle }), 401, 'unauthorized');
    const fresh = await signIn(a.secretKey);
    expect((await call('GET', '/v1/merchant', { session: fresh })).statusCode).toBe(200);
    await store.db.updateTable('console_sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('merchant_id', '=', a.id).execute();
    expectError(await call('GET', '/v1/merchant', { session: fresh }), 401, 'unauthorized');
    expectError(await call('GET', '/v1/merchant', { session: old }), 401, 'unauthorized');
    expectError(await call('GET', '/v1/merchant', { session: { cookie: 'cs_short', csrf: '' } }), 401, 'unauthorized');
  });

  it('keeps tenants apart: A\'s session never reads B\'s products, webhooks or settings', async () => {
    const session = await signIn(a.secretKey);
    expectError(await call('GET', '/v1/stock/B-ONLY', { session }), 404, 'not_found');
    const products = await call('GET', '/v1/products', { session });
    expect(products.body).not.toContain('B-ONLY');
    expect((await call('GET', '/v1/merchant', { session })).json()).toMatchObject({ id: a.id });
    if (store.backend !== 'mysql') {
      const hook = await call('POST', '/v1/webhooks', { key: b.secretKey, body: { url: 'http://127.0.0.1:9/b-hook', events: ['stock.sold_out'] } });
      expect(hook.statusCode).toBe(201);
      const { id } = hook.json<{ id: string }>();
      const listed = await call('GET', '/v1/webhooks', { session });
      expect(listed.json()).toEqual({ items: [] });
      expectError(await call('GET', `/v1/webhooks/${id}/deliveries`, { session }), 404, 'not_found');
      expectError(await call('DELETE', `/v1/webhooks/${id}`, { session }), 404, 'not_found');
      expect((await call('GET', '/v1/webhooks', { key: b.secretKey })).json<{ items: unknown[] }>().items).toHaveLength(1);
    }
    // B's session is B, even with A's CSRF token it cannot act as A.
    const bSession = await signIn(b.secretKey);
    expectError(await call('PUT', '/v1/stock/A-ONLY', { session: { cookie: bSession.cookie, csrf: session.csrf }, body: { onHand: 1 } }), 403, 'csrf_failed');
    expect((await call('GET', '/v1/stock/A-ONLY', { session: bSession })).statusCode).toBe(404);
    // A key in the header wins over a cookie: B's key with A's cookie is B.
    const mixed = await app.inject({ method: 'GET', url: '/v1/merchant', headers: { authorization: `Bearer ${b.secretKey}`, cookie: `${SESSION_COOKIE}=${session.cookie}` } });
    expect(mixed.json()).toMatchObject({ id: b.id });
  });

  it('counts sign-in attempts against the client IP\'s rate limit, like wrong keys', async () => {
    const limited = appWithConsole(store, bus, loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', RATE_LIMIT_PER_IP_PER_MINUTE: '3' }));
    try {
      const attempt = (secretKey: string) =>
        limited.inject({ method: 'POST', url: '/v1/console/session', remoteAddress: '198.51.100.7', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ secretKey }) });
      expect((await attempt(`sk_${'g'.repeat(32)}`)).statusCode).toBe(401);
      expect((await attempt(`sk_${'h'.repeat(32)}`)).statusCode).toBe(401);
      expect((await attempt(a.secretKey)).statusCode).toBe(201);
      const refused = await attempt(a.secretKey);
      expectError(refused, 429, 'rate_limited');
      expect(refused.headers['retry-after']).toBeDefined();
    } finally {
      await limited.close();
    }
  });

  it('marks the cookie Secure when the API is reached over https (behind a trusted proxy)', async () => {
    const proxied = appWithConsole(store, bus, loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', TRUST_PROXY_HOPS: '1' }));
    try {
      const res = await proxied.inject({
        method: 'POST',
        url: '/v1/console/session',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'stock.example', origin: 'https://stock.example' },
        payload: JSON.stringify({ secretKey: a.secretKey }),
      });
      expect(res.statusCode).toBe(201);
      expect(res.cookies.find((c) => c.name === SESSION_COOKIE)).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict' });
    } finally {
      await proxied.close();
    }
  });

  it('ends every session of a merchant when its keys are rotated, and when it is deleted', async () => {
    const c = (await call('POST', '/v1/merchants', { key: ADMIN, body: { name: 'console shop C' } })).json<Created>();
    const first = await signIn(c.secretKey);
    const second = await signIn(c.secretKey);
    const rotated = await call('POST', '/v1/merchant/keys/rotate', { session: first });
    expect(rotated.statusCode).toBe(200);
    expectError(await call('GET', '/v1/merchant', { session: first }), 401, 'unauthorized');
    expectError(await call('GET', '/v1/merchant', { session: second }), 401, 'unauthorized');
    const after = await signIn(rotated.json<{ secretKey: string }>().secretKey);
    expect((await call('GET', '/v1/merchant', { session: after })).statusCode).toBe(200);
    expect((await call('DELETE', `/v1/merchants/${c.id}`, { key: ADMIN })).statusCode).toBe(204);
    expectError(await call('GET', '/v1/merchant', { session: after })
, 401, 'unauthorized');
    const rows = await store.db.selectFrom('console_sessions').select('token_hash').where('merchant_id', '=', c.id).execute();
    expect(rows).toEqual([]);
  });

  it('serves the console page with a strict CSP and no inline script', async () => {
    const res = await app.inject({ method: 'GET', url: '/console' });
    expect(res.statusCode).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.body).not.toMatch(/<script>|<script [^>]*>[^<]/);
    expect(res.body).toContain('src="/console/console.js"');
  });
});

describe('console stream', () => {
  let store: StockStore;
  let bus: MemoryBus;
  let app: FastifyInstance;
  let base: string;
  let a: Created;
  let b: Created;

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    bus = new MemoryBus();
    store.onPublicChange((records) => {
      for (const record of records) bus.publish({ merchantId: record.merchantId, view: { sku: record.sku, status: 'in_stock', version: record.version } });
    });
    app = appWithConsole(store, bus, loadConfig({ ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', CONSOLE_STREAMS_PER_MERCHANT: '2', CONSOLE_STREAM_REFRESH_SECONDS: '1' }));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    const post = async (name: string): Promise<Created> =>
      (await fetch(`${base}/v1/merchants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) })).json() as Promise<Created>;
    a = await post('stream A');
    b = await post('stream B');
    await store.setStock(a.id, 'A-1', { onHand: 10 });
    await store.upsertProduct(a.id, 'A-HIDDEN', { display: 'status' });
    await store.setStock(a.id, 'A-HIDDEN', { onHand: 50 });
    await store.setStock(b.id, 'B-1', { onHand: 7 });
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await store?.close();
  });

  async function cookieFor(secretKey: string): Promise<string> {
    const res = await fetch(`${base}/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secretKey }) });
    const setCookie = res.headers.getSetCookie()[0]!;
    return setCookie.split(';')[0]!;
  }

  /** Reads server-sent events until `done` says enough; answers them all. */
  async function readEvents(response: Response, done: (events: Array<{ event: string; data: unknown }>) => boolean): Promise<Array<{ event: string; data: unknown }>> {
    const events: Array<{ event: string; data: unknown }> = [];
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffered += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
      }
    }
    await reader.cancel();
    return events;
  }

  it('streams the merchant\'s own products with counts, then changes, hidden counts included', async () => {
    const cookie = await cookieFor(a.secretKey);
    const response = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = readEvents(response, (seen) => seen.filter((e) => e.event === 'stock').length >= 2);
    // Once the snapshot is out, change a shown count and a hidden one.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await store.adjustStock(a.id, 'A-1', { delta: -3 });
    await store.adjustStock(a.id, 'A-HIDDEN', { delta: -1 });
    const seen = await events;
    const snapshot = seen[0]!;
    expect(snapshot.event).toBe('snapshot');
    const products = (snapshot.data as { products: Array<{ sku: string; stock: { onHand: number } }> }).products;
    expect(products.map((p) => p.sku)).toEqual(['A-1', 'A-HIDDEN']);
    expect(JSON.stringify(seen)).not.toContain('B-1');
    const stock = seen.filter((e) => e.event === 'stock').map((e) => e.data as { sku: string; onHand: number });
    expect(stock).toEqual(expect.arrayContaining([expect.objectContaining({ sku: 'A-1', onHand: 7 }), expect.objectContaining({ sku: 'A-HIDDEN', onHand: 49 })]));
  });

  it('refuses a stream without a session, and past the per-merchant stream limit', async () => {
    const none = await fetch(`${base}/v1/console/events`);
    expect(none.status).toBe(401);
    const cookie = await cookieFor(b.secretKey);
    const open = [await fetch(`${base}/v1/console/events`, { headers: { cookie } }), await fetch(`${base}/v1/console/events`, { headers: { cookie } })];
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    const third = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
    expect(third.status).toBe(429);
    for (const response of open) await response.body!.cancel();
    // A browser that went away gives its place back.
    await expect.poll(async () => {
      const next = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
      await next.body?.cancel();
      return next.status;
    }).toBe(200);
  });

  it('passes on viewer counts the realtime nodes report, summed over nodes, for its own products only', async () => {
    const cookie = await cookieFor(a.secretKey);
    const response = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
    const events = readEvents(response, (seen) => seen.some((e) => e.event === 'viewers' && (e.data as { count: number }).count === 5));
    await new Promise((resolve) => setTimeout(resolve, 200));
    bus.broadcast({ type: 'viewers', counter: 'node-1', counts: [{ merchantId: a.id, sku: 'A-1', count: 2, asks: true }, { merchantId: b.id, sku: 'B-1', count: 9, asks: true }] });
    bus.broadcast({ type: 'viewers', counter: 'node-2', counts: [{ merchantId: a.id, sku: 'A-1', count: 3, asks: false }] });
    const viewers = (await events).filter((e) => e.event === 'viewers').map((e) => e.data);
    expect(viewers).toEqual([{ sku: 'A-1', count: 2 }, { sku: 'A-1', count: 5 }]);
  });

  it('ends the stream when its session is signed out (from another tab or node)', async () => {
    const signedIn = await fetch(`${base}/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secretKey: a.secretKey }) });
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const { csrfToken } = (await signedIn.json()) as Session;
    const response = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
    const events = readEvents(response, (seen) => seen.some((e) => e.event === 'ended'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const out = await fetch(`${base}/v1/console/session`, { method: 'DELETE', headers: { cookie, [CSRF_HEADER]: csrfToken, origin: base } });
    expect(out.status).toBe(204);
    expect((await events).at(-1)?.event).toBe('ended');
  });

  it('ends the stream when the merchant\'s keys are rotated', async () => {
    const cookie = await cookieFor(a.secretKey);
    const response = await fetch(`${base}/v1/console/events`, { headers: { cookie } });
    const events = readEvents(response, (seen) => seen.some((e) => e.event === 'ended'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    bus.broadcast({ type: 'keys_revoked', merchantId: a.id });
    const seen = await events;
    expect(seen.at(-1)?.event).toBe('ended');
  });
});
