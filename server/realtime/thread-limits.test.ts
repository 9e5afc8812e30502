import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseBackends } from '../../test/backends.js';
import { freePortOutsideEphemeralRange } from '../../test/support/ports.js';
import { TestSocket, UpgradeRefused } from '../../test/support/test-client.js';
import { KeyCache } from '../access/key-cache.js';
import { LimitCache } from '../access/merchant-limits.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { silentLogger } from '../bus/stock-bus.js';
import { loadConfig } from '../config.js';
import { gatewaySettings } from '../main.js';
import { MerchantLimitStore } from '../store/merchant-limit-store.js';
import { StockStore } from '../store/stock-store.js';
import { waitFor } from '../../test/support/wait.js';
import { MerchantConnections } from './merchant-connections.js';
import { RealtimeMetrics } from './realtime-metrics.js';
import { RealtimeThreads } from './realtime-threads.js';
import { FULL_KEPT_MS, ThreadMerchantSockets } from './thread-merchant-sockets.js';
import type { ThreadAnswers } from './thread-messages.js';

const database = databaseBackends()[0]!;

/** One address's limits are the node's, not each thread's: its sockets land on both threads. */
describe('per-address limits over two realtime threads', () => {
  let store: StockStore;
  let threads: RealtimeThreads;
  const registry = new Registry();
  let url: string;
  const sockets: TestSocket[] = [];
  /** Every socket from the one shopper named by X-Forwarded-For (the balancer is trusted). */
  const shopper = { 'x-forwarded-for': '203.0.113.7' };
  const open = async () => {
    const socket = await TestSocket.open(url, shopper);
    sockets.push(socket);
    return socket;
  };
  const upgradeStatus = () =>
    TestSocket.open(url, shopper).then(
      (socket) => {
        socket.close();
        return 101;
      },
      (error: unknown) => (error instanceof UpgradeRefused ? error.status : -1),
    );

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: database.databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const config = loadConfig({
      WS_PORT: String(await freePortOutsideEphemeralRange()),
      LOG_LEVEL: 'silent',
      TRUST_PROXY_HOPS: '1',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '0',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '30',
      WS_MAX_REFUSED_FRAMES: '3',
      WS_ABUSE_WAIT_SECONDS: '30',
    });
    threads = await RealtimeThreads.start({
      threads: 2,
      settings: gatewaySettings(config),
      store,
      keys: new KeyCache(store),
      bus: new MemoryBus(),
      logger: silentLogger,
    });
    new RealtimeMetrics(registry, () => threads.counts());
    const merchant = await store.createMerchant({ name: 'thread limits' });
    url = `ws://127.0.0.1:${threads.port}/v1/ws?key=${merchant.publishableKey}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await threads?.close();
    await store?.close();
  });

  it('spends one subscription budget per address on every thread, and makes the address wait on every thread', async () => {
    // The kernel spreads connections by source port, so 8 may all land on one thread (1 run in 128):
    // open more until both threads hold one.
    const group: TestSocket[] = [];
    const bothThreadsHoldOne = async () => (await threads.stats()).every((s) => s.connections > 0);
    while (group.length < 8 || (group.length < 16 && !(await bothThreadsHoldOne()))) group.push(await open());
    for (const count of (await threads.stats()).map((s) => s.connections)) expect(count).toBeGreaterThan(0);
    const started = Date.now();
    for (const [i, socket] of group.entries()) socket.send({ op: 'sub', skus: Array.from({ length: 10 }, (_, k) => `S${i}-${k}`) });
    const answers = await Promise.all(group.map((socket) => socket.next((f) => f.t === 'snapshot' || f.t === 'error')));
    // 30 a second for the address: three subs of 10, whichever threads they reached (each thread alone would allow three).
    if (Date.now() - started < 900) expect(answers.filter((f) => f.t === 'snapshot')).toHaveLength(3);
    // A churner refused three times is closed, and then no thread lets its address in.
    const churner = group.find((_, i) => answers[i]!.t === 'error')!;
    // Each of these is over the address's 30 a second whenever another went through in that second.
    for (let i = 0; i < 6; i++) churner.send({ op: 'sub', skus: Array.from({ length: 20 }, (_, k) => `more-${i}-${k}`) });
    expect(await churner.closed()).toBe(1008);
    const statuses = await Promise.all(Array.from({ length: 8 }, () => upgradeStatus()));
    expect(statuses.every((status) => status === 429)).toBe(true);
    // The threads' counts reach the process's metrics, summed (the main thread alone registers them).
    const metrics = await registry.metrics();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(value('stockwire_realtime_closed_for_abuse_total')).toBe(1);
    expect(value('stockwire_realtime_frames_refused_total')).toBeGreaterThanOrEqual(3);
    expect(value('stockwire_realtime_upgrades_refused_total{code="rate_limited"}')).toBe(8);
    expect(value('stockwire_realtime_connections')).toBe(group.length - 1);
    expect(metrics).toContain('# TYPE stockwire_realtime_errors_sent_total counter');
  });
});

/** A thread's side of the merchant connection limit, against a main thread that answers "full". */
describe('ThreadMerchantSockets: a merchant found at its limit', () => {
  let now = 1_000_000;
  let asks = 0;
  let answer: ThreadAnswers['merchantConnections'] = { limit: 2, admitted: false };
  const posted: unknown[] = [];
  const main = {
    post: (message: unknown) => void posted.push(message),
    ask: () => {
      asks += 1;
      return Promise.resolve(answer) as never;
    },
  };
  let sockets: ThreadMerchantSockets;
  beforeAll(() => {
    vi.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => sockets.close());
  afterAll(() => vi.restoreAllMocks());

  it('is refused without asking the main thread for FULL_KEPT_MS, then asked again', async () => {
    sockets = new ThreadMerchantSockets(main);
    asks = 0;
    answer = { limit: 2, admitted: false };
    expect(sockets.cachedConnectionLimit('m_a')).toBeUndefined();
    expect(await sockets.connectionLimit('m_a')).toBe(2);
    expect(asks).toBe(1);
    // Known full: decided at once (the limit, and as many sockets as it allows), for this merchant only.
    now += FULL_KEPT_MS - 1;
    expect(sockets.cachedConnectionLimit('m_a')).toBe(2);
    expect(sockets.connections('m_a')).toBe(2);
    expect(sockets.cachedConnectionLimit('m_b')).toBeUndefined();
    now += 1;
    expect(sockets.cachedConnectionLimit('m_a')).toBeUndefined();
  });

  it("forgets it when one of the merchant's sockets closes, when the merchant changes, and when the main thread admits one", async () => {
    sockets = new ThreadMerchantSockets(main);
    answer = { limit: 2, admitted: false };
    await sockets.connectionLimit('m_a');
    sockets.closed('m_a');
    expect(sockets.cachedConnectionLimit('m_a')).toBeUndefined();
    await sockets.connectionLimit('m_a');
    sockets.forget('m_a');
    expect(sockets.cachedConnectionLimit('m_a')).toBeUndefined();
    await sockets.connectionLimit('m_a');
    answer = { limit: 2, admitted: true };
    await sockets.connectionLimit('m_a');
    expect(sockets.cachedConnectionLimit('m_a')).toBeUndefined();
    expect(sockets.connections('m_a')).toBe(0);
  });
});

/** An upgrade storm past a merchant's connection limit does not ask the main thread per upgrade. */
describe('a merchant at its connection limit over two realtime threads', () => {
  let store: StockStore;
  let threads: RealtimeThreads;
  let merchantSockets: MerchantConnections;
  let url: string;
  let reserves = 0;
  const held: TestSocket[] = [];
  const upgradeStatus = () =>
    TestSocket.open(url).then(
      (socket) => {
        held.push(socket);
        return 101;
      },
      (error: unknown) => (error instanceof UpgradeRefused ? error.status : -1),
    );

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: database.databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const config = loadConfig({ WS_PORT: String(await freePortOutsideEphemeralRange()), LOG_LEVEL: 'silent' });
    const limitStore = new MerchantLimitStore(store.db);
    merchantSockets = new MerchantConnections({ limits: new LimitCache(limitStore, { connections: 0, products: 0, writesPerMinute: 0 }), shareIntervalMs: 60_000 });
    const reserve = merchantSockets.reserve.bind(merchantSockets);
    merchantSockets.reserve = (merchantId) => {
      reserves += 1;
      return reserve(merchantId);
    };
    threads = await RealtimeThreads.start({
      threads: 2,
      settings: gatewaySettings(config),
      store,
      keys: new KeyCache(store),
      merchantSockets,
      bus: new MemoryBus(),
      logger: silentLogger,
    });
    const merchant = await store.createMerchant({ name: 'full merchant' });
    await limitStore.setOverrides(merchant.id, { connections: 1 });
    url = `ws://127.0.0.1:${threads.port}/v1/ws?key=${merchant.publishableKey}`;
  });
  afterAll(async () => {
    for (const socket of held) socket.close();
    await threads?.close();
    await merchantSockets?.close();
    await store?.close();
  });

  it('refuses the storm with 429, asking the main thread about once a second per thread, and admits again once the socket closes', async () => {
    expect(await upgradeStatus()).toBe(101);
    reserves = 0;
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(...(await Promise.all([upgradeStatus(), upgradeStatus()])));
    const seconds = Math.ceil((Date.now() - started) / FULL_KEPT_MS);
    expect(statuses.every((status) => status === 429)).toBe(true);
    // Each thread asks once, then again only after FULL_KEPT_MS (a few asks may overlap the first).
    expect(reserves).toBeLessThanOrEqual(2 * (seconds + 1) + 4);
    held.splice(0).forEach((socket) => socket.close());
    // The thread that held it forgets at once, the other within FULL_KEPT_MS.
    await waitFor(async () => (await upgradeStatus()) === 101, 3 * FULL_KEPT_MS, 'an upgrade admitted again');
  });
});
