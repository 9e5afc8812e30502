import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { realDatabaseUrl, realRedisUrl } from '../../test/backends.js';
import { restCall, type TestMerchant } from '../../test/support/rest-call.js';
import { TestSocket, upgradeStatus } from '../../test/support/test-client.js';
import { RedisConnectionShare } from '../bus/redis-connection-share.js';
import { loadConfig } from '../config.js';
import { startStockwire, type RunningStockwire } from '../main.js';

const databaseUrl = realDatabaseUrl();
const redisUrl = realRedisUrl();
const adminToken = 'merchant-limits-two-nodes-token';


describe.skipIf(databaseUrl === null || redisUrl === null)('per-merchant limits and usage across two nodes (PostgreSQL and Redis)', () => {
  const env = {
    METRICS_PORT: '0',
    PORT: '0',
    WS_PORT: '0',
    DATABASE_URL: databaseUrl ?? undefined,
    REDIS_URL: redisUrl ?? undefined,
    REDIS_KEY_PREFIX: `${inject('redisPrefix')}limits:`,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'silent',
    WS_MAX_CONNECTIONS_PER_IP: '0',
    MERCHANT_CONNECTIONS_SHARE_INTERVAL_MS: '100',
    USAGE_FLUSH_INTERVAL_MS: '200',
  };
  let a: RunningStockwire;
  let b: RunningStockwire;
  const sockets: TestSocket[] = [];

  const merchant = async (name: string, limits?: Record<string, number>): Promise<TestMerchant> => {
    const created = (await restCall(a.apiUrl!, 'POST', '/v1/merchants', adminToken, { name })).body as unknown as TestMerchant;
    if (limits !== undefined) expect((await restCall(a.apiUrl!, 'PATCH', `/v1/merchants/${created.id}`, adminToken, { limits })).status).toBe(200);
    return created;
  };
  const socketUrl = (node: RunningStockwire, shop: TestMerchant) => `${node.wsUrl}/v1/ws?key=${shop.publishableKey}`;
  const open = async (node: RunningStockwire, shop: TestMerchant, origin?: string): Promise<TestSocket> => {
    const socket = await TestSocket.open(socketUrl(node, shop), origin === undefined ? {} : { origin });
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    a = await startStockwire(loadConfig(env));
    b = await startStockwire(loadConfig(env));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it("holds a merchant's connection limit over both nodes, and no other merchant's", async () => {
    const shop = await merchant('three sockets', { connections: 3 });
    const other = await merchant('no socket limit');
    const onA = [await open(a, shop), await open(a, shop)];
    await open(b, shop);
    // Node B hears of A's two sockets within a share interval or so; until then it may admit (and
    // this poll closes what it admitted).
    await expect.poll(() => upgradeStatus(socketUrl(b, shop)), { timeout: 5000, interval: 100 }).toBe(429);
    await expect.poll(() => upgradeStatus(socketUrl(a, shop)), { timeout: 5000, interval: 100 }).toBe(429);
    for (const node of [a, b]) for (let i = 0; i < 4; i++) await open(node, other);
    // One socket leaves node A: node B has room again once it heard.
    onA[0]!.close();
    await expect.poll(async () => {
      try {
        await open(b, shop);
        return true;
      } catch {
        return false;
      }
    }, { timeout: 5000, interval: 100 }).toBe(true);
    await expect.poll(() => upgradeStatus(socketUrl(a, shop)), { timeout: 5000, interval: 100 }).toBe(429);
  });

  it('applies a lowered connection limit on the other node at once', async () => {
    const shop = await merchant('lowered');
    await open(b, shop);
    await open(b, shop); // node B has read (and cached) the merchant's limits: none
    expect((await restCall(a.apiUrl!, 'PATCH', `/v1/merchants/${shop.id}`, adminToken, { limits: { connections: 2 } })).status).toBe(200);
    // Well inside the limit cache's lifetime: only the merchant_changed message can make this pass.
    await expect.poll(() => upgradeStatus(socketUrl(b, shop)), { timeout: 1000, interval: 50 }).toBe(429);
  });

  it('holds writesPerMinute over both nodes with one counter, for that merchant only', async () => {
    const shop = await merchant('four writes', { writesPerMinute: 4 });
    const other = await merchant('many writes');
    for (const node of [a, b, a, b]) expect((await restCall(node.apiUrl!, 'PUT', '/v1/stock/TW-1', shop.secretKey, { onHand: 5 })).status).toBe(200);
    for (const node of [a, b]) {
      const refused = await restCall(node.apiUrl!, 'POST', '/v1/stock/TW-1/adjust', shop.secretKey, { delta: -1 });
      expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    }
    for (const node of [a, b, a, b, a, b]) expect((await restCall(node.apiUrl!, 'PUT', '/v1/stock/TW-1', other.secretKey, { onHand: 5 })).status).toBe(200);
  });

  it("adds both nodes' usage into one day: calls, writes, frames, the peak over both, and where the tag is installed", async () => {
    const shop = await merchant('usage on two nodes');
    await open(a, shop, 'https://a-shop.example');
    await open(a, shop, 'https://a-shop.example');
    const watcher = await open(b, shop, 'https://b-shop.example');
    watcher.send({ op: 'sub', skus: ['TU-1'] });
    await watcher.next((f) => f.t === 'snapshot');
    expect((await restCall(a.apiUrl!, 'PUT', '/v1/stock/TU-1', shop.secretKey, { onHand: 9 })).status).toBe(200);
    expect((await restCall(b.apiUrl!, 'POST', '/v1/stock/TU-1/adjust', shop.secretKey, { delta: -1 })).status).toBe(200);
    await watcher.next((f) => f.t === 'stock' && f.available === 8);
    expect((await restCall(b.apiUrl!, 'GET', '/v1/stock/TU-1', shop.publishableKey)).status).toBe(200);
    const usage = async () => (await restCall(a.apiUrl!, 'GET', '/v1/merchant/usage', shop.secretKey)).body as { days: Array<{ writes: number; apiCalls: number; frames: number; peakConnections: number }>; installedOn: Array<{ origin: string }> };
    // Each node flushes on its own: wait until both have.
    await expect
      .poll(
        async () => {
          const { days, installedOn } = await usage();
          return days.length === 1 && days[0]!.writes === 2 && days[0]!.apiCalls >= 3 && days[0]!.frames >= 2 && installedOn.length === 2;
        },
        { timeout: 8000, interval: 200 },
      )
      .toBe(true);
    const { days, installedOn } = await usage();
    // Two writes (one per node), the peak over both nodes (2 on A and 1 on B at once), frames on B
    // (the snapshot and the stock pushes), three calls of the merchant's keys and the usage reads.
    expect(days[0]).toMatchObject({ writes: 2, peakConnections: 3 });
    expect(installedOn.map((o) => o.origin).sort()).toEqual(['https://a-shop.example', 'https://b-shop.example']);
  });
});

describe.skipIf(redisUrl === null)('per-merchant socket counts shared in Redis', () => {
  it('stops counting a node that stopped sharing once its counts expire, and at once when it leaves', async () => {
    const options = { keyPrefix: `${inject('redisPrefix')}share-test:`, ttlMs: 300 };
    const first = new RedisConnectionShare({ url: redisUrl! }, options);
    const second = new RedisConnectionShare({ url: redisUrl! }, options);
    const third = new RedisConnectionShare({ url: redisUrl! }, options);
    try {
      await first.exchange(new Map([['m_1', 4], ['m_2', 1]]));
      await third.exchange(new Map([['m_1', 2]]));
      expect(await second.exchange(new Map([['m_1', 5]]))).toEqual(new Map([['m_1', 6], ['m_2', 1]]));
      // The third leaves cleanly; the first goes silent (as a node that died would).
      await third.close();
      expect(await second.exchange(new Map())).toEqual(new Map([['m_1', 4], ['m_2', 1]]));
      await expect.poll(() => second.exchange(new Map()), { timeout: 3000, interval: 100 }).toEqual(new Map());
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});

describe('a merchant connection limit on one node with the in-process bus', () => {
  it('refuses the upgrade past the limit with 429, for that merchant only', async () => {
    const node = await startStockwire(
      loadConfig({ METRICS_PORT: '0', PORT: '0', WS_PORT: '0', DATA_DIR: 'memory://', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', MERCHANT_MAX_CONNECTIONS: '2' }),
    );
    const opened: TestSocket[] = [];
    try {
      const create = async (name: string) => (await restCall(node.apiUrl!, 'POST', '/v1/merchants', adminToken, { name })).body as unknown as TestMerchant;
      const [limited, roomy] = [await create('platform default'), await create('own limit')];
      expect((await restCall(node.apiUrl!, 'PATCH', `/v1/merchants/${roomy.id}`, adminToken, { limits: { connections: 0 } })).status).toBe(200);
      const url = (shop: TestMerchant) => `${node.wsUrl}/v1/ws?key=${shop.publishableKey}`;
      for (let i = 0; i < 2; i++) opened.push(await TestSocket.open(url(limited)));
      expect(await upgradeStatus(url(limited))).toBe(429);
      // 0 of its own: no limit, past the platform default.
      for (let i = 0; i < 4; i++) opened.push(await TestSocket.open(url(roomy)));
      opened.shift()!.close();
      await expect.poll(() => upgradeStatus(url(limited)), { timeout: 2000, interval: 50 }).toBe(101);
    } finally {
      for (const socket of opened) socket.close();
      await node.close();
    }
  });
});

describe('a merchant connection limit over the sockets of every realtime thread', () => {
  it('counts sockets on two threads together, and counts their frames for usage', async () => {
    const node = await startStockwire(
      loadConfig({
        METRICS_PORT: '0',
        PORT: '0',
        WS_PORT: '0',
        WS_THREADS: '2',
        DATA_DIR: 'memory://',
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: 'silent',
        MERCHANT_MAX_CONNECTIONS: '3',
        USAGE_FLUSH_INTERVAL_MS: '200',
      }),
    );
    const opened: TestSocket[] = [];
    try {
      const shop = (await restCall(node.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'threads' })).body as unknown as TestMerchant;
      const url = `${node.wsUrl}/v1/ws?key=${shop.publishableKey}`;
      // The kernel spreads these over both threads; the limit counts them all.
      for (let i = 0; i < 3; i++) opened.push(await TestSocket.open(url, { origin: 'https://threads.example' }));
      expect(await upgradeStatus(url)).toBe(429);
      opened[0]!.send({ op: 'sub', skus: ['TH-1'] });
      await opened[0]!.next((f) => f.t === 'snapshot');
      await expect
        .poll(async () => (await restCall(node.apiUrl!, 'GET', '/v1/merchant/usage', shop.secretKey)).body, { timeout: 8000, interval: 200 })
        .toMatchObject({ days: [{ peakConnections: 3, frames: 1 }], installedOn: [{ origin: 'https://threads.example' }] });
    } finally {
      for (const socket of opened) socket.close();
      await node.close();
    }
  });
});
