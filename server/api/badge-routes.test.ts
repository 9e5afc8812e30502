import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { buildApp } from './app.js';

/** badge.html, offer and widget.css through `app.inject()` on the embedded database. */
const admin = 'badge-test-admin-token-0123456789';

describe('server-rendered stock: badge.html and offer', () => {
  let store: StockStore;
  let app: FastifyInstance;
  let pk: string;
  let sk: string;

  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
  const put = (url: string, body: unknown) =>
    app.inject({ method: 'PUT', url, headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  beforeAll(async () => {
    const config = loadConfig({ ADMIN_TOKEN: admin, LOG_LEVEL: 'silent' });
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    app = buildApp({ store, http: config.http, adminToken: config.adminToken, publicWsUrl: config.publicWsUrl });
    await app.ready();
    const created = await app.inject({
      method: 'POST',
      url: '/v1/merchants',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'Badge shop', allowedOrigins: ['https://shop.example'] }),
    });
    ({ publishableKey: pk, secretKey: sk } = created.json<{ publishableKey: string; secretKey: string }>());
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it('renders the badge in a declarative shadow root, in the asked language, with the widget stylesheet', async () => {
    await put('/v1/stock/TEE-M', { onHand: 3 });
    const res = await get(`/v1/stock/TEE-M/badge.html?key=${pk}&lang=ko`, { host: 'api.example' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toBe(
      '<stockwire-stock sku="TEE-M" lang="ko"><template shadowrootmode="open"><link rel="stylesheet" href="http://api.example/widget.css">' +
        '<span class="sw low_stock" part="status"><span class="dot"></span><span>3개 남음</span>' +
        '<span class="live" role="status" aria-live="polite"></span></span></template></stockwire-stock>',
    );
    expect(res.headers['cache-control']).toMatch(/max-age=5\b/);
    expect(res.headers['last-modified']).toBeUndefined();
  });

  it('answers the schema.org Offer, with inventoryLevel only when the count is public', async () => {
    await put('/v1/products/CAP', { display: 'status' });
    await put('/v1/stock/CAP', { onHand: 2 });
    const hidden = await get(`/v1/stock/CAP/offer?key=${pk}`);
    expect(hidden.headers['content-type']).toBe('application/ld+json; charset=utf-8');
    expect(hidden.json()).toEqual({ '@context': 'https://schema.org/', '@type': 'Offer', sku: 'CAP', availability: 'https://schema.org/LimitedAvailability' });

    await put('/v1/stock/TEE-L', { onHand: 40 });
    expect((await get(`/v1/stock/TEE-L/offer?key=${pk}`)).json()).toMatchObject({
      availability: 'https://schema.org/InStock',
      inventoryLevel: { '@type': 'QuantitativeValue', value: 40 },
    });
    await put('/v1/stock/TEE-L', { onHand: 0 });
    expect((await get(`/v1/stock/TEE-L/offer?key=${pk}`)).json()).toMatchObject({ availability: 'https://schema.org/OutOfStock' });
    expect((await get(`/v1/stock/NOPE/offer?key=${pk}`)).json()).toEqual({ '@context': 'https://schema.org/', '@type': 'Offer', sku: 'NOPE' });
  });

  it('keeps its ETag while only a hidden count moves, answers 304 to it, and a new one when the public face changes', async () => {
    await put('/v1/products/MUG', { display: 'status', lowStockThreshold: 5 });
    await put('/v1/stock/MUG', { onHand: 50 });
    const first = await get(`/v1/stock/MUG/offer?key=${pk}`);
    const etag = String(first.headers.etag);
    const badge = String((await get(`/v1/stock/MUG/badge.html?key=${pk}`)).headers.etag);
    await put('/v1/stock/MUG', { onHand: 40 });
    expect((await get(`/v1/stock/MUG/offer?key=${pk}`)).headers.etag).toBe(etag);
    expect((await get(`/v1/stock/MUG/badge.html?key=${pk}`)).headers.etag).toBe(badge);
    const revalidated = await get(`/v1/stock/MUG/offer?key=${pk}`, { 'if-none-match': etag });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.body).toBe('');
    await put('/v1/stock/MUG', { onHand: 0 });
    expect((await get(`/v1/stock/MUG/offer?key=${pk}`, { 'if-none-match': etag })).statusCode).toBe(200);
  });

  it('follows the publishable-key rules: no key 401, another origin 403, bad SKU 400, all in the error shape', async () => {
    for (const [url, headers, status, code] of [
      ['/v1/stock/TEE-M/badge.html', {}, 401, 'unauthorized'],
      [`/v1/stock/TEE-M/offer?key=pk_forged`, {}, 401, 'unauthorized'],
      [`/v1/stock/TEE-M/badge.html?key=${pk}`, { origin: 'https://evil.example' }, 403, 'forbidden_origin'],
      [`/v1/stock/%20bad/offer?key=${pk}`, {}, 400, 'validation_failed'],
    ] as const) {
      const res = await get(url, headers);
      expect({ url, status: res.statusCode, body: res.json() }).toMatchObject({ url, status, body: { error: { code } } });
    }
    expect((await get(`/v1/stock/TEE-M/badge.html?key=${pk}`, { origin: 'https://shop.example' })).statusCode).toBe(200);
  });

  it('serves widget.css with an ETag', async () => {
    const res = await get('/widget.css');
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.body).toContain(':host{display:inline-block');
    expect((await get('/widget.css', { 'if-none-match': String(res.headers.etag) })).statusCode).toBe(304);
  });
});
