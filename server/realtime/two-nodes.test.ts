import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseBackends, realAmqpUrl, realDatabaseUrl, realRedisUrl } from '../../test/backends.js';
import { freePort } from '../../test/support/ports.js';
import { inject } from 'vitest';
import { loadConfig } from '../config.js';
import { startStockwire, type RunningStockwire } from '../main.js';
import { TestRedisServer } from '../../test/support/test-redis-server.js';
import { restCall, type TestMerchant } from '../../test/support/rest-call.js';
import { TestSocket, upgradeStatus } from '../../test/support/test-client.js';

const databaseUrl = realDatabaseUrl();
const redisUrl = realRedisUrl();
const amqpUrl = realAmqpUrl();
const adminToken = 'two-nodes-admin-token';

type Merchant = TestMerchant;
// The suite's name for the shared helper.
const api = restCall;

function startNode(env: Record<string, string | undefined>): Promise<RunningStockwire> {
  return startStockwire(
    loadConfig({ METRICS_PORT: '0', PORT: '0', WS_PORT: '0', DATABASE_URL: databaseUrl ?? undefined, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', ...env }),
  );
}

describe.skipIf(databaseUrl === null || redisUrl === null)('two nodes on PostgreSQL and Redis (or RabbitMQ)', () => {
  const nodes: RunningStockwire[] = [];
  const sockets: TestSocket[] = [];
  let redis: TestRedisServer | undefined;
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all(nodes.map((node) => node.close()));
    await redis?.kill();
  });

  // The same node-to-node assertions over each shared bus: Redis alone, and RabbitMQ with Redis as its cache.
  const sharedBuses = [
    { name: 'Redis', env: { REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: inject('redisPrefix') } },
    ...(amqpUrl === null
      ? []
      : [{ name: 'RabbitMQ', env: { AMQP_URL: amqpUrl, AMQP_EXCHANGE: inject('amqpExchange'), REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: inject('redisPrefix') } }]),
  ];
  describe.each(sharedBuses)('sharing the test $name', ({ env }) => {
    let apiNode: RunningStockwire;
    let wsNode: RunningStockwire;
    let merchant: Merchant;
    beforeAll(async () => {
      // No grace for a rotated publishable key: the rotation test below checks it is refused at once.
      apiNode = await startNode({ ROLE: 'api', ...env, PUBLISHABLE_KEY_GRACE_HOURS: '0' });
      wsNode = await startNode({ ROLE: 'realtime', ...env });
      nodes.push(apiNode, wsNode);
      merchant = (await api(apiNode.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'two nodes' })).body as unknown as Merchant;
    });

    it('has one role each: the API node has no socket port, the realtime node answers /healthz on its own', async () => {
      expect(apiNode.wsUrl).toBeUndefined();
      expect(wsNode.apiUrl).toBeUndefined();
      const health = () => fetch(`${wsNode.wsUrl!.replace('ws://', 'http://')}/healthz`);
      expect((await health()).status).toBe(200);
      // Start-up does not wait for the bus (writes never do): it comes up on its own.
      await expect.poll(async () => (await health()).json(), { timeout: 5000 }).toMatchObject({ status: 'ok', bus: 'up' });
    });

    it("delivers a write through node A's REST API to a subscriber on node B", async () => {
      const put = await api(apiNode.apiUrl!, 'PUT', '/v1/stock/TWO-1', merchant.secretKey, { onHand: 12 });
      expect(put.status).toBe(200);
      const socket = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
      sockets.push(socket);
      socket.send({ op: 'sub', skus: ['TWO-1'] });
      expect(await socket.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'TWO-1', available: 12, version: put.body.version }] });
      const adjust = await api(apiNode.apiUrl!, 'POST', '/v1/stock/TWO-1/adjust', merchant.secretKey, { delta: -10 });
      expect(adjust.status).toBe(200);
      expect(await socket.next((f) => f.t === 'stock')).toEqual({ t: 'stock', sku: 'TWO-1', status: 'low_stock', available: 2, version: adjust.body.version });
    });
    it('refuses a rotated publishable key at the next upgrade on node B, although node B had it cached', async () => {
      const shop = (await api(apiNode.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'rotating' })).body as unknown as Merchant;
      const oldUrl = `${wsNode.wsUrl}/v1/ws?key=${shop.publishableKey}`;
      (await TestSocket.open(oldUrl)).close(); // node B now holds the grant in its key cache
      const rotated = await api(apiNode.apiUrl!, 'POST', `/v1/merchants/${shop.id}/keys/rotate`, adminToken, { publishable: true });
      expect(rotated.status).toBe(200);
      // Well inside the key cache's lifetime: only the revocation message can make this pass.
      await expect.poll(() => upgradeStatus(oldUrl), { timeout: 1000, interval: 50 }).toBe(401);
      const fresh = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${rotated.body.publishableKey as string}`);
      fresh.close();
    });

    it("refuses the old origin at the next upgrade on node B once the merchant changed its origins on node A", async () => {
      const shop = (await api(apiNode.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'moving', allowedOrigins: ['https://old.example'] }))
        .body as unknown as Merchant;
      const url = `${wsNode.wsUrl}/v1/ws?key=${shop.publishableKey}`;
      (await TestSocket.open(url, { origin: 'https://old.example' })).close(); // node B caches the grant with its origins
      const changed = await api(apiNode.apiUrl!, 'PATCH', '/v1/merchant', shop.secretKey, { allowedOrigins: ['https://new.example'] });
      expect(changed.status).toBe(200);
      const status = async (origin: string): Promise<number> => {
        try {
          (await TestSocket.open(url, { origin })).close();
          return 101;
        } catch (error) {
          return (error as { status?: number }).status ?? -1;
        }
      };
      // Well inside the key cache's lifetime: only the merchant_changed message can make this pass.
      await expect.poll(() => status('https://old.example'), { timeout: 1000, interval: 50 }).toBe(403);
      expect(await status('https://new.example')).toBe(101);
    });

    it("closes a deleted merchant's socket on node B with 1008 and refuses its keys on both nodes", async () => {
      const shop = (await api(apiNode.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'leaving' })).body as unknown as Merchant;
      const url = `${wsNode.wsUrl}/v1/ws?key=${shop.publishableKey}`;
      const socket = await TestSocket.open(url);
      sockets.push(socket);
      const bystander = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
      sockets.push(bystander);
      expect((await api(apiNode.apiUrl!, 'GET', '/v1/merchant', shop.secretKey)).status).toBe(200); // node A caches the secret key
      const res = await fetch(`${apiNode.apiUrl!}/v1/merchants/${shop.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
      expect(res.status).toBe(204);
      expect(await socket.closed(2000)).toBe(1008);
      expect(await upgradeStatus(url)).toBe(401);
      expect((await api(apiNode.apiUrl!, 'GET', '/v1/merchant', shop.secretKey)).status).toBe(401);
      // Another merchant's socket stays open.
      bystander.send({ op: 'ping', id: 7 });
      expect(await bystander.next((f) => f.t === 'pong')).toEqual({ t: 'pong', id: 7 });
    });

    it('folds a burst of 100 writes through node A into at most one frame per publish interval on node B, ending with the newest', async () => {
      await api(apiNode.apiUrl!, 'PUT', '/v1/stock/BURST', merchant.secretKey, { onHand: 1000 });
      const socket = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
      sockets.push(socket);
      socket.send({ op: 'sub', skus: ['BURST'] });
      await socket.next((f) => f.t === 'snapshot');
      // 100 writes of their own (one batch would be one transaction: one public version).
      const started = Date.now();
      const adjusts = await Promise.all(
        Array.from({ length: 100 }, () => api(apiNode.apiUrl!, 'POST', '/v1/stock/BURST/adjust', merchant.secretKey, { delta: -1 })),
      );
      expect(adjusts.every((a) => a.status === 200)).toBe(true);
      const writing = Date.now() - started;
      const last = (await api(apiNode.apiUrl!, 'GET', '/v1/stock/BURST', merchant.publishableKey)).body.version;
      await socket.next((f) => f.t === 'stock' && f.version === last);
      expect(Date.now() - started - writing).toBeLessThan(2000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const frames = socket.frames.filter((f) => f.t === 'stock');
      // The default 100 ms window: one push opens it, one trailing push closes it.
      expect(frames.length).toBeLessThanOrEqual(Math.ceil(writing / 100) + 2);
      expect(frames.length).toBeLessThan(50);
      expect(frames.at(-1)).toMatchObject({ version: last, available: 900 });
    });
  });

  it('converges after Redis is killed and restarted mid-test, and writes keep working meanwhile', async () => {
    redis = await TestRedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'restart2:' };
    const apiNode = await startNode({ ...env, ROLE: 'api' });
    const wsNode = await startNode({ ...env, ROLE: 'realtime' });
    nodes.push(apiNode, wsNode);
    const merchant = (await api(apiNode.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'restart' })).body as unknown as Merchant;
    await api(apiNode.apiUrl!, 'PUT', '/v1/stock/R-1', merchant.secretKey, { onHand: 50 });
    const socket = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
    sockets.push(socket);
    socket.send({ op: 'sub', skus: ['R-1', 'R-2'] });
    await socket.next((f) => f.t === 'snapshot');
    const wsHealth = `${wsNode.wsUrl!.replace('ws://', 'http://')}/healthz`;

    await redis.kill();
    // Writes never depend on Redis.
    const during = await api(apiNode.apiUrl!, 'POST', '/v1/stock/R-1/adjust', merchant.secretKey, { delta: -45 });
    expect(during.status).toBe(200);
    const created = await api(apiNode.apiUrl!, 'PUT', '/v1/stock/R-2', merchant.secretKey, { onHand: 0 });
    expect(created.status).toBe(200);
    await expect.poll(async () => ((await (await fetch(wsHealth)).json()) as { bus: string }).bus, { timeout: 5000 }).toBe('down');

    await redis.restart();
    const back = Date.now();
    await socket.next((f) => f.t === 'stock' && f.sku === 'R-1' && f.version === during.body.version, { timeoutMs: 5000 });
    await socket.next((f) => f.t === 'stock' && f.sku === 'R-2' && f.status === 'sold_out', { timeoutMs: 5000 });
    expect(Date.now() - back).toBeLessThan(5000);

    // A shopper arriving after the restart gets the latest, though Redis lost its cache.
    const late = await TestSocket.open(`${wsNode.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
    sockets.push(late);
    late.send({ op: 'sub', skus: ['R-1'] });
    expect(await late.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'R-1', available: 5, version: during.body.version }] });
  });
});

describe.each(databaseBackends())('one node (ROLE=all) on $name with the in-process bus', ({ databaseUrl: url }) => {
  let node: RunningStockwire | undefined;
  afterAll(async () => {
    await node?.close();
  });

  it('pushes its own REST writes to its own sockets', async () => {
    node = await startStockwire(
      loadConfig({ METRICS_PORT: '0', PORT: '0', WS_PORT: '0', DATABASE_URL: url, DATA_DIR: 'memory://', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', PUBLISH_INTERVAL_MS: '0' }),
    );
    expect(node.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(node.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(node.wsUrl).not.toMatch(/:0$/);
    expect(node.bus.kind).toBe('memory');
    const merchant = (await api(node.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'one node' })).body as unknown as Merchant;
    const socket = await TestSocket.open(`${node.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
    try {
      socket.send({ op: 'sub', skus: ['ONE'] });
      expect(await socket.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'ONE', status: 'unknown', version: 0 }] });
      const put = await api(node.apiUrl!, 'PUT', '/v1/stock/ONE', merchant.secretKey, { onHand: 4 });
      expect(await socket.next((f) => f.t === 'stock')).toEqual({ t: 'stock', sku: 'ONE', status: 'low_stock', available: 4, version: put.body.version });
      // Delivery-only: straight onto the node's bus, no REST, no database.
      node.bus.publish({ merchantId: merchant.id, view: { sku: 'ONE', status: 'sold_out', available: 0, version: 1000 } });
      expect(await socket.next((f) => f.t === 'stock' && f.version === 1000)).toMatchObject({ status: 'sold_out' });
    } finally {
      socket.close();
    }
  });
});

describe.skipIf(databaseUrl === null)('stockwire serve', () => {
  it('closes sockets with 1001 and exits 0 on SIGTERM', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], {
      env: { ...process.env, PORT: String(port), WS_PORT: String(wsPort), METRICS_PORT: '0', DATABASE_URL: databaseUrl!, REDIS_URL: '', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await expect.poll(() => fetch(`${base}/healthz`).then((r) => r.status, () => 0), { timeout: 20_000, interval: 200 }).toBe(200);
      const merchant = (await api(base, 'POST', '/v1/merchants', adminToken, { name: 'sigterm' })).body as unknown as Merchant;
      const socket = await TestSocket.open(`ws://127.0.0.1:${wsPort}/v1/ws?key=${merchant.publishableKey}`);
      child.kill('SIGTERM');
      expect(await socket.closed(10_000)).toBe(1001);
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
