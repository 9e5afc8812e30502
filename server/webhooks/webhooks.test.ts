import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../sdk/webhooks/index.js';
import { databaseBackends } from '../../test/backends.js';
import { waitFor } from '../../test/support/wait.js';
import { buildApp } from '../api/app.js';
import { loadConfig, type Config } from '../config.js';
import { webhookStore } from '../main.js';
import { now, timePlusSeconds } from '../store/sql-dialect.js';
import { StockStore } from '../store/stock-store.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import type { WebhookStore } from './webhook-store.js';

const ADMIN = 'test-admin-token-0123456789';

interface Received {
  readonly event: WebhookEvent;
  readonly eventId: string | undefined;
  readonly signature: string;
  readonly raw: string;
  readonly at: number;
}

/** A webhook receiver on loopback whose answer the test decides per request. */
class Receiver {
  readonly received: Received[] = [];
  requests = 0;
  answer: (request: number) => number = () => 204;
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = receiver;
        r.requests += 1;
        const status = r.answer(r.requests);
        const raw = Buffer.concat(chunks).toString('utf8');
        if (status >= 200 && status < 300) {
          r.received.push({
            event: JSON.parse(raw) as WebhookEvent,
            eventId: req.headers['stockwire-event-id'] as string | undefined,
            signature: String(req.headers['stockwire-signature']),
            raw,
            at: Date.now(),
          });
        }
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // Requests arrive only after listen, so the handler above never sees `receiver` unset.
    const receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function call(app: FastifyInstance, method: string, url: string, key?: string, body?: unknown): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
}

describe.each(databaseBackends())('webhooks on $name', ({ databaseUrl }) => {
  const env = {
    ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'silent',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_RETRY_MAX_DELAY_MS: '200',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_POLL_INTERVAL_MS: '50',
    WEBHOOKS_PER_MERCHANT: '3',
  };
  let config: Config;
  let store: StockStore;
  let webhooks: WebhookStore;
  let app: FastifyInstance;
  let strictApp: FastifyInstance;
  let dispatchers: WebhookDispatcher[] = [];

  function dispatcher(): WebhookDispatcher {
    const d = new WebhookDispatcher(webhooks, { ...config.webhooks });
    store.onPublicChange(() => d.wake());
    d.start();
    dispatchers.push(d);
    return d;
  }

  async function merchant(): Promise<{ id: string; sk: string }> {
    const res = await call(app, 'POST', '/v1/merchants', ADMIN, { name: 'Hooks shop' });
    const body = res.json<{ id: string; secretKey: string }>();
    return { id: body.id, sk: body.secretKey };
  }

  async function subscribe(sk: string, url: string, events = ['stock.low_stock', 'stock.sold_out', 'stock.back_in_stock']) {
    const res = await call(app, 'POST', '/v1/webhooks', sk, { url, events });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string; secret: string; url: string; events: string[] }>();
  }

  /** The endpoint's outbox, oldest first, as `SKU type vVERSION aAVAILABLE`. */
  async function outbox(webhookId: string): Promise<string[]> {
    const rows = await store.db
      .selectFrom('webhook_outbox')
      .select(['type', 'sku', 'version', 'available'])
      .where('webhook_id', '=', webhookId)
      .orderBy('id')
      .execute();
    return rows.map((r) => `${r.sku} ${r.type} v${r.version} a${r.available}`);
  }

  beforeAll(async () => {
    config = loadConfig(env);
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    webhooks = webhookStore(config, store);
    const deps = { store, http: config.http, adminToken: ADMIN, publicWsUrl: config.publicWsUrl };
    app = buildApp({ ...deps, webhooks: { webhooks, perMerchant: 3, allowPrivate: true } });
    strictApp = buildApp({ ...deps, webhooks: { webhooks, perMerchant: 3, allowPrivate: false } });
    await app.ready();
    await strictApp.ready();
  });
  beforeEach(async () => {
    await Promise.all(dispatchers.map((d) => d.stop()));
    dispatchers = [];
  });
  afterAll(async () => {
    await Promise.all(dispatchers.map((d) => d.stop()));
    await app?.close();
    await strictApp?.close();
    await store?.close();
  });

  it('creates, lists, rotates and deletes webhooks of the caller only, within the limit', async () => {
    const m = await merchant();
    const other = await merchant();
    const created = await subscribe(m.sk, 'http://127.0.0.1:9/hook', ['stock.sold_out']);
    expect(created).toMatchObject({ id: expect.stringMatching(/^wh_/), secret: expect.stringMatching(/^whsec_/), events: ['stock.sold_out'] });
    const listed = (await call(app, 'GET', '/v1/webhooks', m.sk)).json<{ items: Array<Record<string, unknown>> }>();
    expect(listed.items).toEqual([expect.objectContaining({ id: created.id, disabled: false })]);
    expect(listed.items[0]).not.toHaveProperty('secret');
    // Another merchant sees none of it.
    expect((await call(app, 'GET', '/v1/webhooks', other.sk)).json()).toEqual({ items: [] });
    for (const [method, url] of [
      ['DELETE', `/v1/webhooks/${created.id}`],
      ['POST', `/v1/webhooks/${created.id}/rotate-secret`],
      ['GET', `/v1/webhooks/${created.id}/deliveries`],
    ] as const) {
      expect((await call(app, method, url, other.sk)).json()).toMatchObject({ error: { code: 'not_found' } });
    }
    // Publishable keys and bad bodies are refused in the error shape.
    const bad = await call(app, 'POST', '/v1/webhooks', m.sk, { url: 'ftp://example.com', events: ['stock.sold_out'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'validation_failed' } });
    expect((await call(app, 'POST', '/v1/webhooks', m.sk, { url: 'http://127.0.0.1:9/', events: ['stock.nope'] })).statusCode).toBe(400);
    const rotated = (await call(app, 'POST', `/v1/webhooks/${created.id}/rotate-secret`, m.sk)).json<{ secret: string }>();
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    await subscribe(m.sk, 'http://127.0.0.1:9/b');
    await subscribe(m.sk, 'http://127.0.0.1:9/c');
    const over = await call(app, 'POST', '/v1/webhooks', m.sk, { url: 'http://127.0.0.1:9/d', events: ['stock.sold_out'] });
    expect(over.statusCode).toBe(409);
    expect(over.json()).toMatchObject({ error: { code: 'too_many_webhooks' } });
    expect((await call(app, 'DELETE', `/v1/webhooks/${created.id}`, m.sk)).statusCode).toBe(204);
    expect((await call(app, 'GET', '/v1/webhooks', m.sk)).json<{ items: unknown[] }>().items).toHaveLength(2);
    const spec = (await call(app, 'GET', '/docs/json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/webhooks', '/v1/webhooks/{id}', '/v1/webhooks/{id}/deliveries/{deliveryId}/retry']),
    );
  });

  it('refuses loopback, private and link-local URLs without WEBHOOK_ALLOW_PRIVATE', async () => {
    const m = await merchant();
    for (const url of ['http://127.0.0.1:8080/', 'http://localhost/', 'http://10.1.2.3/', 'http://192.168.0.1/', 'http://169.254.169.254/', 'http://[::1]/', 'http://[fe80::1]/', 'http://[::ffff:127.0.0.1]/']) {
      const res = await call(strictApp, 'POST', '/v1/webhooks', m.sk, { url, events: ['stock.sold_out'] });
      expect({ url, status: res.statusCode, code: res.json<{ error: { code: string } }>().error.code }).toEqual({ url, status: 400, code: 'validation_failed' });
    }
  });

  it('emits one event per public status transition of each committed write, on every write path', async () => {
    const m = await merchant();
    const hook = await subscribe(m.sk, 'http://127.0.0.1:9/none');
    await store.setStock(m.id, 'A', { onHand: 10 }); // first write: from unknown, none
    await store.adjustStock(m.id, 'A', { delta: -7 }); // one statement: in_stock → low_stock (threshold 5)
    await store.adjustStock(m.id, 'A', { delta: -1 }); // low → low: none
    await store.applyBatch(m.id, [{ sku: 'A', delta: -2 }]); // low → sold_out
    await store.setStock(m.id, 'A', { onHand: 0 }); // unchanged: none
    await store.adjustStock(m.id, 'A', { delta: 20 }); // sold_out → in_stock: back in stock
    await store.upsertProduct(m.id, 'A', { lowStockThreshold: 50 }); // settings: in_stock → low_stock
    const held = await store.holdReservation(m.id, { sku: 'A', quantity: 20, ttlSeconds: 1 }); // → sold_out
    expect(held.state).toBe('held');
    await waitFor(async () => (await store.expireDueReservations()) > 0, 5000, 'the hold to expire'); // → back in stock
    expect(await outbox(hook.id)).toEqual([
      'A stock.low_stock v2 a3',
      'A stock.sold_out v4 a0',
      'A stock.back_in_stock v5 a20',
      'A stock.low_stock v6 a20',
      'A stock.sold_out v7 a0',
      'A stock.back_in_stock v8 a20',
    ]);
    // Only subscribed types are written.
    const n = await merchant();
    const onlySoldOut = await subscribe(n.sk, 'http://127.0.0.1:9/none', ['stock.sold_out']);
    await store.setStock(n.id, 'B', { onHand: 10 });
    await store.adjustStock(n.id, 'B', { delta: -8 });
    await store.adjustStock(n.id, 'B', { delta: -2 });
    expect(await outbox(onlySoldOut.id)).toEqual(['B stock.sold_out v3 a0']);
    // A rolled-back write leaves no event: the outbox is written in the write's own transaction.
    await expect(store.adjustStock(n.id, 'B', { delta: -1 })).rejects.toMatchObject({ code: 'insufficient_stock' });
    expect(await outbox(onlySoldOut.id)).toHaveLength(1);
    expect(await webhooks.dropMerchantEvents(n.id)).toBe(1);
  });

  it('emits an event for each item of a combined write group, in order, with the public version it answers with', async () => {
    const m = await merchant();
    const hook = await subscribe(m.sk, 'http://127.0.0.1:9/none');
    const adjust = (delta: number) => store.adjustStock(m.id, 'HOT', { delta });
    await store.setStock(m.id, 'HOT', { onHand: 10 });
    const groups = store.combiningStats.groups;
    // The first write goes alone (10 → 9); the two that queue behind it are one group: in stock → low → sold out.
    const first = await Promise.all([adjust(-1), adjust(-4), adjust(-5)]);
    await adjust(1); // alone, 0 → 1: back in stock (low)
    // Alone 1 → 0 (sold out), then one group: back in stock and sold out again, the public face as it began.
    const second = await Promise.all([adjust(-1), adjust(4), adjust(-4)]);
    expect(store.combiningStats.groups - groups).toBe(5);
    expect(first.map((r) => [r.onHand, r.publicVersion])).toEqual([[9, 2], [5, 3], [0, 3]]);
    // The lone -1 sells out (v5); the group's +4 and -4 leave the public face as it was: no new public version.
    expect(second.map((r) => [r.onHand, r.publicVersion])).toEqual([[0, 5], [4, 5], [0, 5]]);
    expect(await outbox(hook.id)).toEqual([
      'HOT stock.low_stock v3 a5',
      'HOT stock.sold_out v3 a0',
      'HOT stock.back_in_stock v4 a1',
      'HOT stock.sold_out v5 a0',
      'HOT stock.back_in_stock v5 a4',
      'HOT stock.sold_out v5 a0',
    ]);
  });

  it('drops the pending events of a deleted merchant', async () => {
    const m = await merchant();
    const kept = await merchant();
    for (const { sk, id } of [m, kept]) {
      await subscribe(sk, 'http://127.0.0.1:9/none');
      await store.setStock(id, 'D', { onHand: 1 });
      await store.adjustStock(id, 'D', { delta: -1 });
    }
    const pending = async (merchantId: string) =>
      (await store.db.selectFrom('webhook_outbox').select('id').where('merchant_id', '=', merchantId).execute()).length;
    expect([await pending(m.id), await pending(kept.id)]).toEqual([1, 1]);
    expect((await call(app, 'DELETE', `/v1/merchants/${m.id}`, ADMIN)).statusCode).toBe(204);
    expect([await pending(m.id), await pending(kept.id)]).toEqual([0, 1]);
    expect(await store.db.selectFrom('webhooks').select('id').where('merchant_id', '=', m.id).execute()).toEqual([]);
  });

  it('delivers stock.sold_out within 2 s of the write, signed so that verifyWebhook accepts it', async () => {
    const receiver = await Receiver.start();
    try {
      const m = await merchant();
      const hook = await subscribe(m.sk, receiver.url);
      await store.setStock(m.id, 'LAST', { onHand: 1 });
      dispatcher();
      const wrote = Date.now();
      await store.adjustStock(m.id, 'LAST', { delta: -1 });
      await waitFor(() => receiver.received.length === 1, 2000, 'the sold_out event');
      const got = receiver.received[0]!;
      expect(got.at - wrote).toBeLessThan(2000);
      const event = verifyWebhook(hook.secret, got.raw, got.signature);
      expect(event).toMatchObject({ id: expect.stringMatching(/^evt_/), type: 'stock.sold_out', data: { sku: 'LAST', status: 'sold_out', available: 0, onHand: 0, version: 2 } });
      expect(got.eventId).toBe(event.id);
      expect(() => verifyWebhook('whsec_forged', got.raw, got.signature)).toThrow(expect.objectContaining({ code: 'invalid_signature' }));

      // After a rotation both secrets sign, for a day.
      const rotated = (await call(app, 'POST', `/v1/webhooks/${hook.id}/rotate-secret`, m.sk)).json<{ secret: string }>();
      await store.adjustStock(m.id, 'LAST', { delta: 1 });
      await waitFor(() => receiver.received.length === 2, 2000, 'the back_in_stock event');
      const second = receiver.received[1]!;
      expect(second.signature.match(/v1=/g)).toHaveLength(2);
      expect(verifyWebhook(rotated.secret, second.raw, second.signature).type).toBe('stock.back_in_stock');
      expect(verifyWebhook(hook.secret, second.raw, second.signature).type).toBe('stock.back_in_stock');
    } finally {
      await receiver.close();
    }
  });

  it('retries a receiver answering 500 and delivers on the 4th attempt; the attempts are listed and can be sent again', async () => {
    const receiver = await Receiver.start();
    receiver.answer = (n) => (n <= 3 ? 500 : 200);
    try {
      const m = await merchant();
      const hook = await subscribe(m.sk, receiver.url);
      await store.setStock(m.id, 'R', { onHand: 1 });
      dispatcher();
      await store.adjustStock(m.id, 'R', { delta: -1 });
      await waitFor(() => receiver.received.length === 1, 10_000, 'the 4th attempt');
      expect(receiver.requests).toBe(4);
      await waitFor(async () => (await webhooks.attempts(hook.id)).some((a) => a.state === 'delivered'), 5000, 'settled');
      const listed = (await call(app, 'GET', `/v1/webhooks/${hook.id}/deliveries`, m.sk)).json<{
        items: Array<{ id: string; statusCode: number; attempt: number; durationMs: number; state: string; eventId: string }>;
      }>();
      expect(listed.items.map((a) => [a.attempt, a.statusCode])).toEqual([[4, 200], [3, 500], [2, 500], [1, 500]]);
      expect(new Set(listed.items.map((a) => a.eventId)).size).toBe(1);
      const hookState = (await call(app, 'GET', '/v1/webhooks', m.sk)).json<{ items: Array<{ failingSince: string | null }> }>();
      expect(hookState.items[0]!.failingSince).toBeNull();

      const retry = await call(app, 'POST', `/v1/webhooks/${hook.id}/deliveries/${listed.items[0]!.id}/retry`, m.sk);
      expect(retry.statusCode).toBe(202);
      await waitFor(() => receiver.received.length === 2, 5000, 'the event sent again');
      expect(receiver.received[1]!.event.id).toBe(receiver.received[0]!.event.id);
      expect((await call(app, 'POST', `/v1/webhooks/${hook.id}/deliveries/whd_nope/retry`, m.sk)).statusCode).toBe(404);
    } finally {
      await receiver.close();
    }
  });

  it('gives an event up after WEBHOOK_RETRY_HOURS, disables an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS, keeps the last 100 attempts', async () => {
    const receiver = await Receiver.start();
    receiver.answer = () => 500;
    const ago = (seconds: number) => timePlusSeconds(store.db, now, -seconds);
    try {
      const m = await merchant();
      const hook = await subscribe(m.sk, receiver.url);
      await store.setStock(m.id, 'G', { onHand: 1 });
      await store.adjustStock(m.id, 'G', { delta: -1 });
      // The event was written a day ago and the endpoint has failed for three days: time travel in the rows.
      await store.db.updateTable('webhook_outbox').set({ created_at: ago(25 * 3600) }).where('webhook_id', '=', hook.id).execute();
      await store.db.updateTable('webhooks').set({ failing_since: ago(73 * 3600) }).where('id', '=', hook.id).execute();
      dispatcher();
      await waitFor(async () => (await webhooks.attempts(hook.id)).length === 1, 5000, 'one failed attempt');
      const listed = (await call(app, 'GET', '/v1/webhooks', m.sk)).json<{ items: Array<{ disabled: boolean; disabledReason: string }> }>();
      expect(listed.items[0]).toMatchObject({ disabled: true, disabledReason: expect.stringContaining('72 hours') });
      expect((await webhooks.attempts(hook.id))[0]!.state).toBe('failed');
      // A disabled endpoint gets no new events.
      await store.adjustStock(m.id, 'G', { delta: 1 });
      expect(await outbox(hook.id)).toHaveLength(1);

      const { id: outboxId } = await store.db.selectFrom('webhook_outbox').select('id').where('webhook_id', '=', hook.id).executeTakeFirstOrThrow();
      await store.db
        .insertInto('webhook_attempts')
        .values(
          Array.from({ length: 150 }, (_, i) => ({
            id: `whd_old${i + 1}`,
            webhook_id: hook.id,
            outbox_id: outboxId,
            attempt: i + 1,
            status_code: 500,
            error: null,
            duration_ms: 1,
            at: ago((i + 1) * 60),
          })),
        )
        .execute();
      await webhooks.prune();
      const kept = await store.db.selectFrom('webhook_attempts').select('id').where('webhook_id', '=', hook.id).execute();
      expect(kept).toHaveLength(100);
      expect((await webhooks.attempts(hook.id)).length).toBe(100);
    } finally {
      await receiver.close();
    }
  });

  it('a receiver that was down gets every event afterwards, in order per product', async () => {
    const receiver = await Receiver.start();
    let down = true;
    receiver.answer = () => (down ? 503 : 200);
    try {
      const m = await merchant();
      await subscribe(m.sk, receiver.url);
      const skus = ['P1', 'P2', 'P3'];
      for (const sku of skus) await store.setStock(m.id, sku, { onHand: 1 });
      dispatcher();
      for (let round = 0; round < 3; round++) {
        for (const sku of skus) {
          await store.adjustStock(m.id, sku, { delta: -1 });
          await store.adjustStock(m.id, sku, { delta: 1 });
        }
      }
      await waitFor(() => receiver.requests >= 6, 10_000, 'failed attempts while down');
      down = false;
      await waitFor(() => receiver.received.length >= 18, 20_000, 'every event after the receiver came back');
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const sku of skus) {
        const mine = receiver.received.filter((r) => r.event.data.sku === sku).map((r) => r.event);
        const unique = [...new Map(mine.map((e) => [e.id, e])).values()];
        expect(unique.map((e) => e.data.version)).toEqual([2, 3, 4, 5, 6, 7]);
        expect(unique.map((e) => e.type)).toEqual(['stock.sold_out', 'stock.back_in_stock', 'stock.sold_out', 'stock.back_in_stock', 'stock.sold_out', 'stock.back_in_stock']);
      }
    } finally {
      await receiver.close();
    }
  });

  it('two dispatchers (two API nodes) never deliver one event twice', async () => {
    const receiver = await Receiver.start();
    try {
      const m = await merchant();
      await subscribe(m.sk, receiver.url);
      const skus = Array.from({ length: 20 }, (_, i) => `N${i}`);
      for (const sku of skus) await store.setStock(m.id, sku, { onHand: 1 });
      for (const sku of skus) {
        await store.adjustStock(m.id, sku, { delta: -1 });
        await store.adjustStock(m.id, sku, { delta: 1 });
      }
      dispatcher();
      dispatcher();
      await waitFor(() => receiver.received.length >= 40, 10_000, 'every event');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const ids = receiver.received.map((r) => r.event.id);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    } finally {
      await receiver.close();
    }
  });
});
