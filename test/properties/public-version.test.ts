import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../server/api/app.js';
import { loadConfig } from '../../server/config.js';
import { TestSocket } from '../support/test-client.js';
import { startTestNode, type TestNode } from '../support/test-node.js';
import { faceKey, publicFace } from '../../server/stock/public-face.js';
import { displayPolicies, type DisplayPolicy } from '../../server/stock/types.js';
import { StockStore } from '../../server/store/stock-store.js';
import { databaseBackends } from '../backends.js';

/**
 * The public-version property: for every display policy, any sequence of changes that leaves the
 * public face unchanged leaves every public answer byte-identical — REST (status, body, ETag,
 * Cache-Control, no Last-Modified), the socket snapshot — and pushes no frame.
 *
 * Operations are generated freely; each goes through the real API (or the sweeper) only when a model
 * of the product says the face after it equals the face before the sequence. A batch counts by its
 * end state, whatever its items do on the way.
 */
type Op =
  | { readonly kind: 'adjust'; readonly delta: number; readonly idempotent: boolean }
  | { readonly kind: 'set'; readonly onHand: number }
  | { readonly kind: 'batch'; readonly items: ReadonlyArray<{ readonly delta: number } | { readonly onHand: number }> }
  | { readonly kind: 'hold'; readonly quantity: number }
  | { readonly kind: 'commit' | 'release' | 'expire'; readonly pick: number }
  | { readonly kind: 'threshold'; readonly lowStockThreshold: number }
  | { readonly kind: 'rename'; readonly name: string };

const deltaArb = fc.integer({ min: -6, max: 6 }).filter((delta) => delta !== 0);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('adjust' as const), delta: deltaArb, idempotent: fc.boolean() }),
  fc.record({ kind: fc.constant('set' as const), onHand: fc.integer({ min: 0, max: 20 }) }),
  fc.record({
    kind: fc.constant('batch' as const),
    items: fc.array(fc.oneof(fc.record({ delta: deltaArb }), fc.record({ onHand: fc.integer({ min: 0, max: 20 }) })), {
      minLength: 1,
      maxLength: 4,
    }),
  }),
  fc.record({ kind: fc.constant('hold' as const), quantity: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constantFrom('commit' as const, 'release' as const, 'expire' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('threshold' as const), lowStockThreshold: fc.integer({ min: 0, max: 12 }) }),
  fc.record({ kind: fc.constant('rename' as const), name: fc.string({ maxLength: 8 }) }),
);

interface Model {
  onHand: number;
  reserved: number;
  threshold: number;
  holds: Array<{ id: string; quantity: number }>;
}

/** The model after an op (null: the op would be refused and change nothing). */
function after(model: Model, op: Op): { onHand: number; reserved: number; threshold: number } | null {
  const { onHand, reserved, threshold } = model;
  switch (op.kind) {
    case 'adjust':
      return onHand + op.delta >= reserved ? { onHand: onHand + op.delta, reserved, threshold } : null;
    case 'set':
      return op.onHand >= reserved ? { onHand: op.onHand, reserved, threshold } : null;
    case 'batch': {
      let next = onHand;
      for (const item of op.items) {
        const candidate = 'delta' in item ? next + item.delta : item.onHand;
        if (candidate >= reserved) next = candidate;
      }
      return { onHand: next, reserved, threshold };
    }
    case 'hold':
      return onHand - reserved >= op.quantity ? { onHand, reserved: reserved + op.quantity, threshold } : null;
    case 'commit':
    case 'release':
    case 'expire': {
      const hold = model.holds[op.pick % Math.max(1, model.holds.length)];
      if (hold === undefined) return null;
      return { onHand: op.kind === 'commit' ? onHand - hold.quantity : onHand, reserved: reserved - hold.quantity, threshold };
    }
    case 'threshold':
      return { onHand, reserved, threshold: op.lowStockThreshold };
    case 'rename':
      return { onHand, reserved, threshold };
  }
}

/** What "identical" compares: everything a public reader can observe of one REST answer. */
function observed(res: LightMyRequestResponse) {
  return {
    status: res.statusCode,
    body: res.payload,
    etag: res.headers.etag,
    cacheControl: res.headers['cache-control'],
    lastModified: res.headers['last-modified'],
  };
}

describe.each(databaseBackends())('public answers on $name', ({ databaseUrl }) => {
  let store: StockStore;
  let app: FastifyInstance;
  let node: TestNode;
  let merchantId: string;
  let sk: string;
  let pk: string;
  let watcher: TestSocket;
  let runs = 0;

  beforeAll(async () => {
    const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_IP_PER_MINUTE: '0', RATE_LIMIT_PER_KEY_PER_MINUTE: '0' });
    store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    app = buildApp({ store, http: config.http, adminToken: undefined, publicWsUrl: config.publicWsUrl });
    await app.ready();
    node = await startTestNode({ PUBLISH_INTERVAL_MS: '0', WS_MAX_MESSAGES_PER_SECOND: '1000' }, store);
    const merchant = await store.createMerchant({ name: 'property' });
    merchantId = merchant.id;
    sk = merchant.secretKey;
    pk = merchant.publishableKey;
    watcher = await TestSocket.open(node.socketUrl(pk));
    await store.upsertProduct(merchant.id, 'SENTINEL', { display: 'exact' });
    watcher.send({ op: 'sub', skus: ['SENTINEL'] });
    await watcher.next((f) => f.t === 'snapshot');
  });
  afterAll(async () => {
    watcher?.close();
    await node?.close();
    await app?.close();
    await store?.close();
  });

  const write = (method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${sk}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });

  async function publicAnswers(sku: string) {
    const one = await app.inject({ method: 'GET', url: `/v1/stock/${sku}?key=${pk}` });
    const many = await app.inject({ method: 'GET', url: `/v1/stock?skus=${sku},NEVER-${sku}&key=${pk}` });
    const fresh = await TestSocket.open(node.socketUrl(pk));
    try {
      fresh.send({ op: 'sub', skus: [sku] });
      const snapshot = await fresh.next((f) => f.t === 'snapshot');
      return { one: observed(one), many: observed(many), snapshot: JSON.stringify(snapshot) };
    } finally {
      fresh.close();
    }
  }

  /** Proves no frame for `sku` is on its way: a later change to another product arrives first. */
  async function settle(): Promise<void> {
    const from = watcher.frames.length;
    runs += 1;
    await write('PUT', '/v1/stock/SENTINEL', { onHand: runs });
    await watcher.next((f) => f.t === 'stock' && f.sku === 'SENTINEL' && f.available === runs, { from });
  }

  async function apply(sku: string, model: Model, op: Op): Promise<void> {
    const ok = (res: LightMyRequestResponse) => expect(res.statusCode, res.payload).toBeLessThan(300);
    switch (op.kind) {
      case 'adjust':
        ok(await write('POST', `/v1/stock/${sku}/adjust`, { delta: op.delta }, op.idempotent ? { 'idempotency-key': `k-${sku}-${Math.random()}` } : {}));
        break;
      case 'set':
        ok(await write('PUT', `/v1/stock/${sku}`, { onHand: op.onHand }));
        break;
      case 'batch':
        ok(await write('POST', '/v1/stock/batch', { items: op.items.map((item) => ({ sku, ...item })) }));
        break;
      case 'hold': {
        const res = await write('POST', '/v1/reservations', { sku, quantity: op.quantity, ttlSeconds: 600 });
        ok(res);
        model.holds.push({ id: res.json<{ id: string }>().id, quantity: op.quantity });
        break;
      }
      case 'commit':
      case 'release':
      case 'expire': {
        const [hold] = model.holds.splice(op.pick % model.holds.length, 1);
        if (op.kind === 'commit') ok(await write('POST', `/v1/reservations/${hold!.id}/commit`));
        else if (op.kind === 'release') ok(await write('DELETE', `/v1/reservations/${hold!.id}`));
        else {
          await store.db.updateTable('reservations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', hold!.id).execute();
          // The sweep takes due holds of every merchant, and suites beside this one share the database
          // (a sweep of theirs may take this hold first): what counts is that this hold expired.
          await store.expireDueReservations();
          expect((await store.getReservation(merchantId, hold!.id))?.state).toBe('expired');
        }
        break;
      }
      case 'threshold':
        ok(await write('PUT', `/v1/products/${sku}`, { lowStockThreshold: op.lowStockThreshold }));
        break;
      case 'rename':
        ok(await write('PUT', `/v1/products/${sku}`, { name: op.name }));
        break;
    }
  }

  it.each(displayPolicies)('%s: a sequence that keeps the public face keeps every public answer', async (display: DisplayPolicy) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(opArb, { minLength: 1, maxLength: 10 }),
        async (onHand, threshold, ops) => {
          n += 1;
          const sku = `${display}-${n}-${Date.now()}`;
          expect((await write('PUT', `/v1/products/${sku}`, { display, lowStockThreshold: threshold })).statusCode).toBe(200);
          expect((await write('PUT', `/v1/stock/${sku}`, { onHand })).statusCode).toBe(200);
          const model: Model = { onHand, reserved: 0, threshold, holds: [] };
          const face = (m: { onHand: number; reserved: number; threshold: number }) => faceKey(publicFace(m.onHand - m.reserved, m.threshold, display));
          const start = face(model);

          watcher.send({ op: 'sub', skus: [sku] });
          await watcher.next((f) => f.t === 'snapshot' && (f.items as Array<{ sku: string }>)[0]?.sku === sku);
          const from = watcher.frames.length;
          const before = await publicAnswers(sku);

          for (const op of ops) {
            const next = after(model, op);
            if (next === null || face(next) !== start) continue;
            await apply(sku, model, op);
            Object.assign(model, next);
          }
          await settle();

          expect(await publicAnswers(sku)).toEqual(before);
          expect(watcher.frames.slice(from).filter((f) => f.t === 'stock' && f.sku === sku)).toEqual([]);
          const revalidated = await app.inject({ method: 'GET', url: `/v1/stock/${sku}?key=${pk}`, headers: { 'if-none-match': before.one.etag! } });
          expect(revalidated.statusCode).toBe(304);
          watcher.send({ op: 'unsub', skus: [sku] });
        },
      ),
      { numRuns: 25 },
    );
  });
});
