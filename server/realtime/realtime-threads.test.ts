import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busBackends, databaseBackends } from '../../test/backends.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { AmqpBus } from '../bus/amqp-bus.js';
import { RedisBus } from '../bus/redis-bus.js';
import { silentLogger, type StockBus } from '../bus/stock-bus.js';
import { loadConfig } from '../config.js';
import { gatewaySettings, startStockwire, type RunningStockwire } from '../main.js';
import { publicView } from '../stock/views.js';
import { StockStore } from '../store/stock-store.js';
import { RealtimeMetrics } from './realtime-metrics.js';
import { RealtimeThreads } from './realtime-threads.js';
import { KeyCache } from '../access/key-cache.js';
import { freePortOutsideEphemeralRange } from '../../test/support/ports.js';
import { TestSocket, UpgradeRefused, upgradeStatus } from '../../test/support/test-client.js';

const database = databaseBackends()[0]!;
const MAX_PER_IP = 4;

/** The upgrade's status, and the socket kept open when it succeeded (it counts against the per-IP limit). */
async function openOrRefused(url: string, headers: Record<string, string> = {}): Promise<{ status: number; socket?: TestSocket }> {
  try {
    const socket = await TestSocket.open(url, headers);
    return { status: 101, socket };
  } catch (error) {
    if (error instanceof UpgradeRefused) return { status: error.status };
    throw error;
  }
}

describe.each(busBackends())('realtime on two threads, $name bus', ({ redisUrl, keyPrefix, amqpUrl, amqpExchange }) => {
  let store: StockStore;
  let bus: StockBus;
  let threads: RealtimeThreads;
  let registry: Registry;
  let storeReads = 0;
  let slowReads = false;
  let key: string;
  let merchantId: string;
  const sockets: TestSocket[] = [];
  let url: string;
  let nextIp = 1;
  /** Each socket its own shopper (X-Forwarded-For), so only the per-IP test meets the limit. */
  const open = async () => {
    const socket = await TestSocket.open(url, { 'x-forwarded-for': `198.51.100.${nextIp++}` });
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: database.databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    bus = amqpUrl
      ? new AmqpBus({ url: amqpUrl, exchange: amqpExchange })
      : redisUrl
        ? new RedisBus({ url: redisUrl, keyPrefix: `${keyPrefix}threads:` })
        : new MemoryBus();
    if (bus instanceof RedisBus || bus instanceof AmqpBus) await bus.ready();
    store.onPublicChange((records) => {
      for (const record of records) bus.publish({ merchantId: record.merchantId, view: publicView(record) });
    });
    // The real store, counted, and slowed down on demand as a busy database would be.
    const counted = {
      publicViews: async (merchant: string, skus: readonly string[]) => {
        storeReads += 1;
        if (slowReads) await new Promise((resolve) => setTimeout(resolve, 300));
        return store.publicViews(merchant, skus);
      },
      viewerProducts: (merchantId: string, skus: readonly string[]) => store.viewerProducts(merchantId, skus),
    };
    registry = new Registry();
    const config = loadConfig({ WS_PORT: String(await freePortOutsideEphemeralRange()), LOG_LEVEL: 'silent', WS_MAX_CONNECTIONS_PER_IP: String(MAX_PER_IP), TRUST_PROXY_HOPS: '1' });
    threads = await RealtimeThreads.start({
      threads: 2,
      settings: gatewaySettings(config),
      store: counted,
      keys: new KeyCache(store),
      bus,
      logger: silentLogger,
    });
    new RealtimeMetrics(registry, () => threads.counts());
    const merchant = await store.createMerchant({ name: 'threads' });
    merchantId = merchant.id;
    key = merchant.publishableKey;
    url = `ws://127.0.0.1:${threads.port}/v1/ws?key=${key}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await threads?.close();
    await bus?.close();
    await store?.close();
  });

  it('spreads sockets over both threads and pushes a write to subscribers on every thread', async () => {
    await store.upsertProduct(merchantId, 'SPREAD', { display: 'exact', lowStockThreshold: 5 });
    const first = await store.setStock(merchantId, 'SPREAD', { onHand: 20 });
    const group = await Promise.all(Array.from({ length: 16 }, () => open()));
    const perThread = (await threads.stats()).map((s) => s.connections);
    expect(perThread).toHaveLength(2);
    // The kernel spreads connections by address: 16 on one thread happens once in 32,768 runs.
    for (const count of perThread) expect(count).toBeGreaterThan(0);
    expect(perThread[0]! + perThread[1]!).toBe(16);
    for (const socket of group) socket.send({ op: 'sub', skus: ['SPREAD'] });
    for (const socket of group) expect(await socket.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'SPREAD', available: 20, version: first.version }] });
    const second = await store.setStock(merchantId, 'SPREAD', { onHand: 3 });
    for (const socket of group) {
      expect(await socket.next((f) => f.t === 'stock')).toEqual({ t: 'stock', sku: 'SPREAD', status: 'low_stock', available: 3, version: second.version });
    }
    const metrics = await registry.metrics();
    expect(metrics).toMatch(new RegExp(`^stockwire_realtime_connections ${sockets.length}$`, 'm'));
    expect(metrics).toMatch(/^stockwire_realtime_bus_up 1$/m);
    // The public socket port serves no metrics (they live on METRICS_PORT), whichever thread answers.
    expect((await fetch(`http://127.0.0.1:${threads.port}/metrics`, { headers: { connection: 'close' } })).status).toBe(404);
  });

  it('hands each thread a burst of changes in the order the bus carried them: every socket ends on the latest and never goes back', async () => {
    const skus = ['BURST-0', 'BURST-1', 'BURST-2', 'BURST-3', 'BURST-4'];
    const group = await Promise.all(Array.from({ length: 8 }, () => open()));
    for (const socket of group) socket.send({ op: 'sub', skus });
    for (const socket of group) await socket.next((f) => f.t === 'snapshot');
    const from = group.map((socket) => socket.frames.length);
    // One synchronous burst: many changes of several products reach the threads in the same turn.
    for (let version = 1; version <= 20; version++) {
      for (const sku of skus) bus.publish({ merchantId, view: { sku, status: 'in_stock', available: 100 - version, version } });
    }
    for (const [i, socket] of group.entries()) {
      for (const sku of skus) await socket.next((f) => f.t === 'stock' && f.sku === sku && f.version === 20, { from: from[i]! });
      const seen = new Map<string, number>();
      for (const frame of socket.frames.slice(from[i]!)) {
        if (frame.t !== 'stock') continue;
        const sku = String(frame.sku);
        const version = Number(frame.version);
        expect(version).toBeGreaterThan(seen.get(sku) ?? 0);
        seen.set(sku, version);
      }
    }
  });

  it('adds up the viewer counts of both threads', async () => {
    await store.upsertProduct(merchantId, 'VIEWED', { viewers: true });
    const group = await Promise.all(Array.from({ length: 16 }, () => open()));
    for (const count of (await threads.stats()).map((s) => s.connections)) expect(count).toBeGreaterThan(0);
    for (const socket of group) socket.send({ op: 'sub', skus: ['VIEWED'], viewers: true });
    const counts = () => group.map((socket) => socket.frames.filter((f) => f.t === 'viewers').at(-1)?.count);
    await expect.poll(counts, { timeout: 10_000 }).toEqual(group.map(() => 16));
    for (const socket of group.slice(0, 6)) socket.close();
    await expect.poll(() => counts().slice(6), { timeout: 10_000 }).toEqual(group.slice(6).map(() => 10));
  }, 30_000);

  it('shares one store read per product among sockets of both threads subscribing at once', async () => {
    // A product nobody wrote: not in the bus cache, so every snapshot needs the store. A connect
    // storm: the sockets connect at once, then subscribe at once.
    const group = await Promise.all(Array.from({ length: 50 }, () => open()));
    const perThread = (await threads.stats()).map((s) => s.connections);
    for (const count of perThread) expect(count).toBeGreaterThan(0);
    storeReads = 0;
    slowReads = true;
    try {
      for (const socket of group) socket.send({ op: 'sub', skus: ['STORM'] });
      const snapshots = await Promise.all(group.map((socket) => socket.next((f) => f.t === 'snapshot')));
      for (const snapshot of snapshots) expect(snapshot).toMatchObject({ items: [{ sku: 'STORM', status: 'unknown', version: 0 }] });
      expect(storeReads).toBe(1);
    } finally {
      slowReads = false;
    }
  });

  it('keeps every socket of a connect storm on a key the threads had to look up', async () => {
    // A fresh key: no thread has it, so each upgrade is answered after a round trip to the main thread.
    const shop = await store.createMerchant({ name: 'threads cold storm' });
    const coldUrl = `ws://127.0.0.1:${threads.port}/v1/ws?key=${shop.publishableKey}`;
    const storm = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const socket = await TestSocket.open(coldUrl, { 'x-forwarded-for': `198.18.0.${i + 1}` });
        sockets.push(socket);
        return socket;
      }),
    );
    // A socket closed just after it opened (1006) would fail its round trip.
    await Promise.all(storm.map((socket, i) => socket.roundTrip(i)));
    expect(storm.filter((socket) => socket.closeCode !== undefined)).toEqual([]);
  });

  it('holds the per-IP connection limit across threads', async () => {
    const attempts = await Promise.all(Array.from({ length: 2 * MAX_PER_IP }, () => openOrRefused(url, { 'x-forwarded-for': '203.0.113.9' })));
    for (const attempt of attempts) if (attempt.socket) sockets.push(attempt.socket);
    expect(attempts.filter((a) => a.status === 101)).toHaveLength(MAX_PER_IP);
    expect(attempts.filter((a) => a.status === 429)).toHaveLength(MAX_PER_IP);
    // Closing one frees one place, whichever thread it was on.
    attempts.find((a) => a.socket)!.socket!.close();
    await expect.poll(async () => {
      const again = await openOrRefused(url, { 'x-forwarded-for': '203.0.113.9' });
      if (again.socket) sockets.push(again.socket);
      return again.status;
    }, { timeout: 3000, interval: 50 }).toBe(101);
  });

  it("closes one merchant's sockets with 1008 on every thread, and no one else's", async () => {
    const leaving = await store.createMerchant({ name: 'threads leaving' });
    const leavingUrl = `ws://127.0.0.1:${threads.port}/v1/ws?key=${leaving.publishableKey}`;
    const doomed = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const socket = await TestSocket.open(leavingUrl, { 'x-forwarded-for': `198.51.100.${nextIp++}` });
        sockets.push(socket);
        return socket;
      }),
    );
    const staying = await open();
    threads.closeMerchant(leaving.id);
    for (const socket of doomed) expect(await socket.closed(2000)).toBe(1008);
    staying.send({ op: 'ping', id: 3 });
    expect(await staying.next((f) => f.t === 'pong')).toEqual({ t: 'pong', id: 3 });
  });

  it('answers /healthz on the shared port from every thread', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${threads.port}/healthz`, { headers: { connection: 'close' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { status: string; thread: number };
      expect(body.status).toBe('ok');
      seen.add(body.thread);
    }
    expect([...seen].sort()).toEqual([0, 1]);
  });
});

describe('a node with WS_THREADS=2', () => {
  const adminToken = 'threads-admin-token-0123456789';
  let node: RunningStockwire;
  beforeAll(async () => {
    node = await startStockwire(
      // No grace for a rotated publishable key: the rotation test checks it is refused at once.
      loadConfig({
        PORT: '0',
        WS_PORT: String(await freePortOutsideEphemeralRange()),
        WS_THREADS: '2',
        DATABASE_URL: database.databaseUrl,
        DATA_DIR: 'memory://',
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: 'silent',
        PUBLISHABLE_KEY_GRACE_HOURS: '0',
      }),
    );
  });
  afterAll(async () => {
    await node?.close();
  });

  it('refuses a rotated publishable key at the next upgrade on every thread, although both had it cached', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${node.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    const shop = (await call('POST', '/v1/merchants', { name: 'rotating' })).body;
    const oldUrl = `${node.wsUrl}/v1/ws?key=${shop.publishableKey}`;
    // Enough upgrades that both threads hold the grant in their key caches.
    for (const socket of await Promise.all(Array.from({ length: 16 }, () => TestSocket.open(oldUrl)))) socket.close();
    const rotated = await call('POST', `/v1/merchants/${shop.id}/keys/rotate`, { publishable: true });
    expect(rotated.status).toBe(200);
    // Well inside the key caches' lifetime: only the revocation reaching both threads makes every one refuse.
    await expect.poll(async () => {
      const statuses = await Promise.all(Array.from({ length: 16 }, () => upgradeStatus(oldUrl)));
      return statuses.every((status) => status === 401);
    }, { timeout: 1500, interval: 50 }).toBe(true);
    const fresh = await TestSocket.open(`${node.wsUrl}/v1/ws?key=${rotated.body.publishableKey}`);
    fresh.close();
  });
});
