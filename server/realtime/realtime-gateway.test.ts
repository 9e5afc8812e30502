import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busBackends, databaseBackends } from '../../test/backends.js';
import type { ServerFrame } from '../../test/support/test-client.js';
import { TestSocket, UpgradeRefused } from '../../test/support/test-client.js';
import { startTestNode, type TestNode } from '../../test/support/test-node.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { KeyCache } from '../access/key-cache.js';
import { loadConfig } from '../config.js';
import { gatewaySettings } from '../main.js';
import { StockStore } from '../store/stock-store.js';
import { RealtimeGateway } from './realtime-gateway.js';
import { publicView } from '../stock/views.js';

const database = databaseBackends()[0]!;

async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const socket = await TestSocket.open(url, headers);
    socket.close();
    return 101;
  } catch (error) {
    if (error instanceof UpgradeRefused) return error.status;
    throw error;
  }
}

const stockFrames = (socket: TestSocket, sku: string, from = 0): ServerFrame[] =>
  socket.frames.slice(from).filter((f) => f.t === 'stock' && f.sku === sku);

describe.each(busBackends())('realtime gateway on $name bus', ({ redisUrl, keyPrefix, amqpUrl, amqpExchange }) => {
  let node: TestNode;
  let merchantId: string;
  let key: string;
  const sockets: TestSocket[] = [];
  const open = async (headers: Record<string, string> = {}, apiKey = key) => {
    const socket = await TestSocket.open(node.socketUrl(apiKey), headers);
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    node = await startTestNode({
      DATABASE_URL: database.databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: keyPrefix,
      AMQP_URL: amqpUrl,
      AMQP_EXCHANGE: amqpExchange,
      PUBLISH_INTERVAL_MS: '100',
      WS_MAX_MESSAGES_PER_SECOND: '1000',
      // These tests flood on purpose (backpressure); the subscription budgets have their own tests.
      WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '0',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '0',
    });
    const merchant = await node.store.createMerchant({ name: 'gateway test', allowedOrigins: ['https://shop.example'] });
    merchantId = merchant.id;
    key = merchant.publishableKey;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await node?.close();
  });

  it('refuses a missing or wrong key with 401 and a forbidden origin with 403, before the socket opens', async () => {
    expect(await refusedStatus(`${node.gateway.url}/v1/ws`)).toBe(401);
    expect(await refusedStatus(node.socketUrl('pk_nope'))).toBe(401);
    expect(await refusedStatus(node.socketUrl('sk_whatever'))).toBe(401);
    expect(await refusedStatus(node.socketUrl(key), { Origin: 'https://evil.example' })).toBe(403);
    expect(await refusedStatus(node.socketUrl(key), { Origin: 'https://shop.example' })).toBe(101);
    expect(await refusedStatus(node.socketUrl(key))).toBe(101);
  });

  it('answers a sub with one snapshot (each sku once, unknown ones included) and pushes changes', async () => {
    await node.store.upsertProduct(merchantId, 'snap-a', { display: 'exact', lowStockThreshold: 5 });
    const a = await node.store.setStock(merchantId, 'snap-a', { onHand: 10 });
    const socket = await open();
    socket.send({ op: 'sub', skus: ['snap-a', 'snap-a', 'snap-missing'] });
    const snapshot = await socket.next((f) => f.t === 'snapshot');
    expect(snapshot.items).toEqual([
      { sku: 'snap-a', status: 'in_stock', available: 10, version: a.version },
      { sku: 'snap-missing', status: 'unknown', version: 0 },
    ]);
    await node.store.setStock(merchantId, 'snap-a', { onHand: 3 });
    expect(await socket.next((f) => f.t === 'stock' && f.sku === 'snap-a')).toEqual({
      t: 'stock', sku: 'snap-a', status: 'low_stock', available: 3, version: a.version + 1,
    });
    // The unknown sku stays subscribed: creating it is pushed.
    const created = await node.store.setStock(merchantId, 'snap-missing', { onHand: 7 });
    const frame = await socket.next((f) => f.t === 'stock' && f.sku === 'snap-missing');
    expect(frame).toMatchObject({ status: 'in_stock', version: created.version });
  });

  it('answers a resubscribe with since with only what changed', async () => {
    const skus = ['since-a', 'since-b', 'since-c'];
    const versions: Record<string, number> = {};
    for (const sku of skus) versions[sku] = (await node.store.setStock(merchantId, sku, { onHand: 20 })).version;
    const first = await open();
    first.send({ op: 'sub', skus });
    expect(((await first.next((f) => f.t === 'snapshot')).items as unknown[]).length).toBe(3);
    first.close();
    const changed = await node.store.setStock(merchantId, 'since-b', { onHand: 19 });
    const again = await open();
    again.send({ op: 'sub', skus, since: versions });
    const snapshot = await again.next((f) => f.t === 'snapshot');
    expect(snapshot.items).toEqual([{ sku: 'since-b', status: 'in_stock', available: 19, version: changed.version }]);
    again.send({ op: 'sub', skus, since: { ...versions, 'since-b': changed.version } });
    expect((await again.next((f) => f.t === 'snapshot', { from: 1 })).items).toEqual([]);
  });

  it('carries the public version: hidden counts moving send no frame, and since with it answers nothing new', async () => {
    await node.store.upsertProduct(merchantId, 'pv-status', { display: 'status', lowStockThreshold: 0 });
    await node.store.setStock(merchantId, 'pv-status', { onHand: 9 });
    const socket = await open();
    socket.send({ op: 'sub', skus: ['pv-status', 'pv-marker'] });
    const snapshot = await socket.next((f) => f.t === 'snapshot');
    const held = (snapshot.items as Array<{ sku: string; version: number }>).find((i) => i.sku === 'pv-status')!;
    expect(held).toEqual({ sku: 'pv-status', status: 'in_stock', version: 2 });
    const from = socket.frames.length;
    for (let i = 0; i < 8; i++) await node.store.adjustStock(merchantId, 'pv-status', { delta: -1 });
    // A later change to another product arrives after anything the sales could have pushed.
    await node.store.setStock(merchantId, 'pv-marker', { onHand: 1 });
    await socket.next((f) => f.t === 'stock' && f.sku === 'pv-marker', { from });
    expect(stockFrames(socket, 'pv-status', from)).toEqual([]);
    socket.send({ op: 'sub', skus: ['pv-status'], since: { 'pv-status': held.version } });
    expect((await socket.next((f) => f.t === 'snapshot', { from })).items).toEqual([]);
    await node.store.adjustStock(merchantId, 'pv-status', { delta: -1 });
    expect(await socket.next((f) => f.t === 'stock' && f.sku === 'pv-status', { from })).toEqual({
      t: 'stock', sku: 'pv-status', status: 'sold_out', version: 3,
    });
  });

  it('folds 100 changes in 50 ms into a handful of frames ending with the newest', async () => {
    const start = await node.store.setStock(merchantId, 'fold', { onHand: 1000 });
    const socket = await open();
    socket.send({ op: 'sub', skus: ['fold'] });
    await socket.next((f) => f.t === 'snapshot');
    const from = socket.frames.length;
    // Delivery-only: straight onto the bus, as fast as a flash sale could ever commit.
    for (let i = 1; i <= 100; i++) {
      node.bus.publish({ merchantId, view: { sku: 'fold', status: 'in_stock', available: 1000 - i, version: start.version + i } });
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await socket.next((f) => f.t === 'stock' && f.version === start.version + 100);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const frames = stockFrames(socket, 'fold', from);
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames.length).toBeLessThanOrEqual(5);
    expect(frames.at(-1)).toMatchObject({ version: start.version + 100, available: 900 });
    const versions = frames.map((f) => f.version as number);
    expect([...versions].sort((x, y) => x - y)).toEqual(versions);
  });

  it('never shows a hidden count, and a status product in a flash sale sends one frame when it sells out', async () => {
    await node.store.upsertProduct(merchantId, 'hid-status', { display: 'status', lowStockThreshold: 0 });
    await node.store.upsertProduct(merchantId, 'hid-threshold', { display: 'threshold', lowStockThreshold: 3 });
    await node.store.setStock(merchantId, 'hid-status', { onHand: 30 });
    await node.store.setStock(merchantId, 'hid-threshold', { onHand: 8 });
    const socket = await open();
    socket.send({ op: 'sub', skus: ['hid-status', 'hid-threshold'] });
    await socket.next((f) => f.t === 'snapshot');
    const from = socket.frames.length;
    for (let i = 0; i < 30; i++) await node.store.adjustStock(merchantId, 'hid-status', { delta: -1 });
    // Stop at 3 first: with nothing after it to fold into, the low count must be shown.
    for (let i = 0; i < 5; i++) await node.store.adjustStock(merchantId, 'hid-threshold', { delta: -1 });
    await socket.next((f) => f.t === 'stock' && f.sku === 'hid-threshold' && f.available === 3);
    for (let i = 0; i < 3; i++) await node.store.adjustStock(merchantId, 'hid-threshold', { delta: -1 });
    await socket.next((f) => f.t === 'stock' && f.sku === 'hid-status' && f.status === 'sold_out');
    await socket.next((f) => f.t === 'stock' && f.sku === 'hid-threshold' && f.status === 'sold_out');
    await socket.roundTrip();
    expect(stockFrames(socket, 'hid-status', from)).toEqual([expect.objectContaining({ status: 'sold_out' })]);
    for (const frame of socket.frames) {
      const items = frame.t === 'snapshot' ? (frame.items as ServerFrame[]) : [frame];
      for (const item of items) {
        if (item.sku === 'hid-status') expect(item).not.toHaveProperty('available');
        if (item.sku === 'hid-threshold' && item.status === 'in_stock') expect(item).not.toHaveProperty('available');
      }
    }
  });

  it('answers malformed frames, unknown ops and oversize frames with errors, and the socket survives', async () => {
    const socket = await open();
    const cases: Array<[string | Buffer, string]> = [
      ['not json', 'bad_request'],
      ['{"op":"launch"}', 'bad_request'],
      ['{"op":"sub","skus":"A"}', 'bad_request'],
      ['{"op":"sub","skus":["A"],"since":{"A":"x"}}', 'bad_request'],
      [Buffer.from([1, 2, 3]), 'bad_request'],
      [JSON.stringify({ op: 'ping', id: 'x'.repeat(20 * 1024) }), 'payload_too_large'],
    ];
    for (const [frame, code] of cases) {
      const from = socket.frames.length;
      socket.socket.send(frame);
      expect(await socket.next((f) => f.t === 'error', { from })).toMatchObject({ code });
    }
    await socket.roundTrip(7);
    expect(socket.closeCode).toBeUndefined();
  });

  it('closes the connection past the hard frame ceiling', async () => {
    const socket = await open();
    socket.send(JSON.stringify({ op: 'ping', id: 'x'.repeat(100 * 1024) }));
    expect(await socket.closed()).toBeGreaterThanOrEqual(1000);
  });

  it('refuses a sub past 500 subscriptions with too_many_subscriptions and changes nothing', async () => {
    const socket = await open();
    const skus = Array.from({ length: 601 }, (_, i) => `many-${i}`);
    socket.send({ op: 'sub', skus });
    expect(await socket.next((f) => f.t === 'error')).toMatchObject({ code: 'too_many_subscriptions' });
    socket.send({ op: 'sub', skus: skus.slice(0, 500) });
    expect(((await socket.next((f) => f.t === 'snapshot')).items as unknown[]).length).toBe(500);
    const from = socket.frames.length;
    socket.send({ op: 'sub', skus: ['one-more'] });
    expect(await socket.next((f) => f.t === 'error', { from })).toMatchObject({ code: 'too_many_subscriptions' });
    socket.send({ op: 'unsub', skus: ['many-0'] });
    socket.send({ op: 'sub', skus: ['one-more'] });
    expect(await socket.next((f) => f.t === 'snapshot', { from })).toMatchObject({ items: [{ sku: 'one-more', status: 'unknown', version: 0 }] });
  });

  it('stops pushing after unsub', async () => {
    const v = await node.store.setStock(merchantId, 'unsub-a', { onHand: 5 });
    const socket = await open();
    socket.send({ op: 'sub', skus: ['unsub-a'] });
    await socket.next((f) => f.t === 'snapshot');
    socket.send({ op: 'unsub', skus: ['unsub-a'] });
    await socket.roundTrip();
    await node.store.setStock(merchantId, 'unsub-a', { onHand: 0 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await socket.roundTrip();
    expect(stockFrames(socket, 'unsub-a')).toEqual([]);
    expect(v.version).toBeGreaterThan(0);
  });

  it('closes a reader that stops reading once it is past its backpressure limit', async () => {
    const socket = await open();
    // ~15 KB frames whose snapshot answers are ~19 KB each; unread, 900 of them are far past the
    // 256 KiB limit plus what the kernel buffers on loopback.
    const skus = Array.from({ length: 120 }, (_, i) => `bp-${i}-${'x'.repeat(112)}`);
    const tcp = (socket.socket as unknown as { _socket: net.Socket })._socket;
    tcp.pause();
    for (let i = 0; i < 900; i++) socket.send({ op: 'sub', skus });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    tcp.resume();
    // uWS drops the connection at the limit (no close frame fits behind a full buffer): 1006.
    expect(await socket.closed(15_000)).toBe(1006);
    expect(socket.frames.length).toBeLessThan(900);
  });

  it('answers GET /healthz, and 404 elsewhere (/metrics included: it has its own listener)', async () => {
    const base = node.gateway.url.replace('ws://', 'http://');
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });
});

describe('realtime gateway limits', () => {
  let node: TestNode;
  let key: string;
  beforeAll(async () => {
    node = await startTestNode({
      DATABASE_URL: database.databaseUrl,
      WS_MAX_MESSAGES_PER_SECOND: '5',
      WS_MAX_CONNECTIONS_PER_IP: '2',
    });
    key = (await node.store.createMerchant({ name: 'limits' })).publishableKey;
  });
  afterAll(async () => {
    await node?.close();
  });

  it('answers rate_limited past the messages-per-second limit and keeps the socket', async () => {
    const socket = await TestSocket.open(node.socketUrl(key));
    // 7 over the limit: refused (answered once), fewer than WS_MAX_REFUSED_FRAMES (10), so it stays open.
    for (let i = 0; i < 12; i++) socket.send({ op: 'ping', id: i });
    expect(await socket.next((f) => f.t === 'error')).toMatchObject({ code: 'rate_limited' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await socket.roundTrip(99);
    expect(socket.frames.filter((f) => f.t === 'error')).toHaveLength(1);
    expect(socket.frames.filter((f) => f.t === 'pong').length).toBeLessThanOrEqual(6);
    socket.close();
  });

  it('refuses connections past the per-IP limit at upgrade', async () => {
    const a = await TestSocket.open(node.socketUrl(key));
    const b = await TestSocket.open(node.socketUrl(key));
    expect(await refusedStatus(node.socketUrl(key))).toBe(429);
    // No trusted proxy: a forged X-Forwarded-For does not buy another connection.
    expect(await refusedStatus(node.socketUrl(key), { 'x-forwarded-for': '203.0.113.9' })).toBe(429);
    a.close();
    await a.closed();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const c = await TestSocket.open(node.socketUrl(key));
    b.close();
    c.close();
  });

  it('closes sockets with 1001 going away on shutdown and stops listening', async () => {
    const socket = await TestSocket.open(node.socketUrl(key));
    const url = node.socketUrl(key);
    await node.gateway.close();
    expect(await socket.closed()).toBe(1001);
    await expect(TestSocket.open(url)).rejects.toThrow();
  });
});

describe('realtime gateway against a client that keeps sending past its limits', () => {
  let node: TestNode;
  let key: string;
  beforeAll(async () => {
    node = await startTestNode({
      DATABASE_URL: database.databaseUrl,
      WS_MAX_MESSAGES_PER_SECOND: '1000',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '10',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '15',
      WS_MAX_REFUSED_FRAMES: '5',
      WS_ABUSE_WAIT_SECONDS: '2',
    });
    key = (await node.store.createMerchant({ name: 'churner' })).publishableKey;
  });
  afterAll(async () => {
    await node?.close();
  });

  const fresh = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  it('refuses a sub over budget from its first bytes, answers once a second, closes (1008) the churner and makes its address wait', async () => {
    const socket = await TestSocket.open(node.socketUrl(key));
    const neighbour = await TestSocket.open(node.socketUrl(key));
    socket.send({ op: 'sub', skus: fresh('a', 10) });
    await socket.next((f) => f.t === 'snapshot');
    // The budget is spent: a `sub` is refused before it is parsed (this one is not even JSON) …
    socket.send('{"op":"sub", not json at all');
    expect(await socket.next((f) => f.t === 'error')).toMatchObject({ code: 'rate_limited' });
    const told = Date.now();
    // … and the next refusals in the same second get no answer; the fifth closes the connection.
    for (let i = 0; i < 3; i++) socket.send({ op: 'sub', skus: fresh(`b${i}`, 10) });
    await socket.roundTrip();
    // Only meaningful inside that second (a loaded machine may take longer to get here).
    if (Date.now() - told < 900) expect(socket.frames.filter((f) => f.t === 'error')).toHaveLength(1);
    socket.send({ op: 'sub', skus: fresh('c', 10) });
    expect(await socket.closed()).toBe(1008);
    expect(socket.closeReason).toMatch(/refused/);
    // Sockets already open from the address stay; new ones wait, with Retry-After.
    await neighbour.roundTrip();
    const refused = await TestSocket.open(node.socketUrl(key)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect(refused).toMatchObject({ status: 429, retryAfter: expect.stringMatching(/^[12]$/) });
    neighbour.close();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const later = await TestSocket.open(node.socketUrl(key));
    later.send({ op: 'sub', skus: ['later'] });
    expect(await later.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'later' }] });
    later.close();
  });
});

describe('realtime gateway behind a trusted load balancer', () => {
  let node: TestNode;
  let key: string;
  beforeAll(async () => {
    node = await startTestNode({ DATABASE_URL: database.databaseUrl, WS_MAX_CONNECTIONS_PER_IP: '1', TRUST_PROXY_HOPS: '1' });
    key = (await node.store.createMerchant({ name: 'behind a balancer' })).publishableKey;
  });
  afterAll(async () => {
    await node?.close();
  });

  it('counts connections per shopper named by X-Forwarded-For, not per balancer', async () => {
    const first = await TestSocket.open(node.socketUrl(key), { 'x-forwarded-for': '203.0.113.1' });
    const second = await TestSocket.open(node.socketUrl(key), { 'x-forwarded-for': '203.0.113.2' });
    expect(await refusedStatus(node.socketUrl(key), { 'x-forwarded-for': '198.51.100.5, 203.0.113.1' })).toBe(429);
    first.close();
    second.close();
  });
});

describe('realtime gateway under a connect storm', () => {
  let store: StockStore;
  let gateway: RealtimeGateway;
  let storeReads = 0;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    // The real store, counted and slowed down as a busy database would be: every socket's `sub`
    // arrives while the first read is still under way.
    const counted = {
      publicViews: async (merchantId: string, skus: readonly string[]) => {
        storeReads += 1;
        await new Promise((resolve) => setTimeout(resolve, 300));
        return store.publicViews(merchantId, skus);
      },
      viewerProducts: (merchantId: string, skus: readonly string[]) => store.viewerProducts(merchantId, skus),
    };
    gateway = await RealtimeGateway.start({
      ...gatewaySettings(loadConfig({ WS_PORT: '0', LOG_LEVEL: 'silent' })),
      store: counted,
      keys: new KeyCache(store),
      bus: new MemoryBus(),
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await store?.close();
  });

  it('shares one snapshot read per product among sockets subscribing at once', async () => {
    const merchant = await store.createMerchant({ name: 'storm' });
    await store.setStock(merchant.id, 'HOT', { onHand: 7 });
    const url = `${gateway.url}/v1/ws?key=${merchant.publishableKey}`;
    const sockets = await Promise.all(Array.from({ length: 50 }, () => TestSocket.open(url)));
    storeReads = 0;
    for (const socket of sockets) socket.send({ op: 'sub', skus: ['HOT'] });
    const snapshots = await Promise.all(sockets.map((socket) => socket.next((f) => f.t === 'snapshot')));
    for (const snapshot of snapshots) expect(snapshot).toMatchObject({ items: [{ sku: 'HOT', available: 7 }] });
    expect(storeReads).toBe(1);
    for (const socket of sockets) socket.close();
  });
});

describe('realtime gateway upgrading after a key lookup', () => {
  let store: StockStore;
  let gateway: RealtimeGateway;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    // A key nobody used lately is looked up, slowly as from a busy database: every upgrade of a storm
    // on a fresh key is answered after the handler returned.
    const keys = new KeyCache({
      resolveSecretKey: (key) => store.resolveSecretKey(key),
      resolvePublishableKey: async (key) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return store.resolvePublishableKey(key);
      },
    });
    const config = loadConfig({ WS_PORT: '0', LOG_LEVEL: 'silent', WS_MAX_CONNECTIONS_PER_IP: '0' });
    gateway = await RealtimeGateway.start({ ...gatewaySettings(config), store, keys, bus: new MemoryBus() });
  });
  afterAll(async () => {
    await gateway?.close();
    await store?.close();
  });

  it('keeps every socket of a connect storm on a key it had to look up', async () => {
    const merchant = await store.createMerchant({ name: 'cold storm' });
    const url = `${gateway.url}/v1/ws?key=${merchant.publishableKey}`;
    const sockets = await Promise.all(Array.from({ length: 100 }, () => TestSocket.open(url)));
    // A socket closed just after it opened (1006) would fail its round trip.
    await Promise.all(sockets.map((socket, i) => socket.roundTrip(i)));
    expect(sockets.filter((socket) => socket.closeCode !== undefined)).toEqual([]);
    expect(gateway.stats().connections).toBe(100);
    for (const socket of sockets) socket.close();
  });

  it('refuses an upgrade whose Connection header does not name Upgrade with 400', async () => {
    const merchant = await store.createMerchant({ name: 'no upgrade token' });
    const answer = (connection: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(gateway.port, '127.0.0.1', () => {
          socket.write(
            `GET /v1/ws?key=${merchant.publishableKey} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: ${connection}\r\n` +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
        });
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString('latin1')));
        socket.on('close', () => resolve(received.split('\r\n')[0]!));
        socket.on('error', reject);
      });
    expect(await answer('close')).toBe('HTTP/1.1 400 Bad Request');
    expect(await answer('keep-alive')).toBe('HTTP/1.1 400 Bad Request');
    expect(gateway.stats().connections).toBe(0);
  });
});

describe('realtime gateway against subscription churn', () => {
  let store: StockStore;
  let gateway: RealtimeGateway;
  let bus: MemoryBus;
  let storeReads = 0;
  let keyLookups = 0;
  let merchantId: string;
  let url: string;
  let offCommitted: () => void;
  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    bus = new MemoryBus();
    offCommitted = store.onCommitted((records) => {
      for (const record of records) bus.publish({ merchantId: record.merchantId, view: publicView(record) });
    });
    const counted = {
      publicViews: (merchant: string, skus: readonly string[]) => {
        storeReads += skus.length;
        return store.publicViews(merchant, skus);
      },
      viewerProducts: (merchantId: string, skus: readonly string[]) => store.viewerProducts(merchantId, skus),
    };
    const keys = new KeyCache({
      resolveSecretKey: (key) => store.resolveSecretKey(key),
      resolvePublishableKey: (key) => {
        keyLookups += 1;
        return store.resolvePublishableKey(key);
      },
    });
    const config = loadConfig({
      WS_PORT: '0',
      LOG_LEVEL: 'silent',
      WS_MAX_MESSAGES_PER_SECOND: '1000',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '20',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '30',
    });
    gateway = await RealtimeGateway.start({ ...gatewaySettings(config), store: counted, keys, bus });
    const merchant = await store.createMerchant({ name: 'churn' });
    merchantId = merchant.id;
    url = `${gateway.url}/v1/ws?key=${merchant.publishableKey}`;
  });
  afterAll(async () => {
    offCommitted?.();
    await gateway?.close();
    await store?.close();
  });

  const skus = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  it('budgets new subscriptions and snapshot reads per connection and per IP (rate_limited, all or nothing)', async () => {
    const a = await TestSocket.open(url);
    const b = await TestSocket.open(url);
    const windowStarted = Date.now();
    a.send({ op: 'sub', skus: skus('a', 20) });
    expect(await a.next((f) => f.t === 'snapshot')).toMatchObject({ items: expect.any(Array) });
    // The connection's budget (20 a second) is spent: one more SKU is refused, and nothing changes.
    a.send({ op: 'sub', skus: ['a-extra'] });
    expect(await a.next((f) => f.t === 'error')).toMatchObject({ code: 'rate_limited' });
    // The IP's budget (30 a second) is shared: the second socket gets only what is left.
    b.send({ op: 'sub', skus: skus('b', 11) });
    expect(await b.next((f) => f.t === 'error')).toMatchObject({ code: 'rate_limited' });
    b.send({ op: 'sub', skus: skus('b', 10) });
    expect(await b.next((f) => f.t === 'snapshot')).toMatchObject({ items: expect.any(Array) });
    expect(gateway.stats().topics).toBe(30);
    // Reconnecting does not refill the address's budget.
    b.close();
    await b.closed();
    const c = await TestSocket.open(url);
    c.send({ op: 'sub', skus: ['c-0'] });
    const answer = await c.next((f) => f.t === 'error' || f.t === 'snapshot');
    // Only meaningful inside the one-second window (a loaded machine may take longer to get here).
    if (Date.now() - windowStarted < 900) expect(answer).toMatchObject({ t: 'error', code: 'rate_limited' });
    c.close();
    // A second later the budgets are back.
    await new Promise((resolve) => setTimeout(resolve, 1050));
    a.send({ op: 'sub', skus: ['a-extra'] });
    expect(await a.next((f) => f.t === 'snapshot', { from: a.frames.length })).toMatchObject({ items: [{ sku: 'a-extra' }] });
    a.close();
    await a.closed();
  });

  it('applies the REST SKU rule to subscriptions: outside it, unknown without a subscription or a read', async () => {
    const socket = await TestSocket.open(url);
    const before = storeReads;
    for (const odd of ['has space', 'A,B', '-leading', 'nul\u0000', '<img src=x>']) {
      const from = socket.frames.length;
      socket.send({ op: 'sub', skus: [odd, 'FINE-1'] });
      const snapshot = await socket.next((f) => f.t === 'snapshot', { from });
      expect(snapshot.items).toEqual(expect.arrayContaining([{ sku: odd, status: 'unknown', version: 0 }, expect.objectContaining({ sku: 'FINE-1' })]));
      socket.send({ op: 'unsub', skus: ['FINE-1'] });
    }
    // Only FINE-1 was ever read (once: then it is remembered as unknown) or watched.
    expect(storeReads - before).toBe(1);
    for (const bad of ['x'.repeat(129), '']) {
      const from = socket.frames.length;
      socket.send({ op: 'sub', skus: [bad] });
      expect(await socket.next((f) => f.t === 'error', { from })).toMatchObject({ code: 'bad_request' });
    }
    await socket.roundTrip();
    expect(gateway.stats().topics).toBe(0);
    socket.close();
  });

  it('reads an unknown SKU from the store once, and still shows it the moment it is created', async () => {
    const socket = await TestSocket.open(url);
    const before = storeReads;
    for (let i = 0; i < 5; i++) {
      const from = socket.frames.length;
      socket.send({ op: 'sub', skus: ['GHOST'] });
      expect(await socket.next((f) => f.t === 'snapshot', { from })).toMatchObject({ items: [{ sku: 'GHOST', status: 'unknown', version: 0 }] });
      socket.send({ op: 'unsub', skus: ['GHOST'] });
    }
    expect(storeReads - before).toBe(1);
    // Created meanwhile (while nobody on this node watched it): the write's bus value answers.
    await store.setStock(merchantId, 'GHOST', { onHand: 4 });
    const from = socket.frames.length;
    socket.send({ op: 'sub', skus: ['GHOST'] });
    expect(await socket.next((f) => f.t === 'snapshot', { from })).toMatchObject({ items: [{ sku: 'GHOST', status: 'low_stock' }] });
    socket.close();
  });

  it('refuses a malformed key (pk_%00) at upgrade with 401 before any lookup', async () => {
    const before = keyLookups;
    expect(await refusedStatus(`${gateway.url}/v1/ws?key=pk_%00`)).toBe(401);
    expect(await refusedStatus(`${gateway.url}/v1/ws?key=pk_${'%00'.repeat(24)}`)).toBe(401);
    expect(keyLookups).toBe(before);
  });

  it('limits sockets per IP by default (sized for carrier NAT)', () => {
    const limits = loadConfig({}).realtime;
    expect(limits.maxConnectionsPerIp).toBeGreaterThanOrEqual(100);
    expect(limits.maxNewSubscriptionsPerSecond).toBeGreaterThan(0);
    expect(limits.maxNewSubscriptionsPerIpPerSecond).toBeGreaterThan(0);
  });
});
