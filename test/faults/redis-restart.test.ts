import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRedisServer } from '../support/test-redis-server.js';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { TestSocket } from '../support/test-client.js';
import { realDatabaseUrl } from '../backends.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { ADMIN, api, createMerchant, journalAgreesWithStock, metricValue, type Merchant } from './helpers.js';

/**
 * Redis killed (SIGKILL, cache lost) and restarted under an API node and a separate realtime node:
 * writes keep being accepted, /readyz says degraded, and subscribers converge to the newest value
 * once Redis is back. Our own redis-server child on a free port, never the shared one.
 */
const databaseUrl = realDatabaseUrl();

describe.skipIf(databaseUrl === null)('fault: Redis killed and restarted', () => {
  let redis: TestRedisServer;
  let apiNode: RunningStockwire;
  let wsNode: RunningStockwire;
  let base: string;
  let shop: Merchant;

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    const env = {
      PORT: '0',
      WS_PORT: '0',
      DATABASE_URL: databaseUrl!,
      REDIS_URL: redis.url,
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'silent',
      PUBLISH_INTERVAL_MS: '0',
    };
    apiNode = await startStockwire(loadConfig({ ...env, METRICS_PORT: String(await freePort()), ROLE: 'api' }));
    wsNode = await startStockwire(loadConfig({ ...env, METRICS_PORT: String(await freePort()), ROLE: 'realtime' }));
    base = apiNode.apiUrl!;
    shop = await createMerchant(base);
  }, 60_000);

  afterAll(async () => {
    await wsNode?.close();
    await apiNode?.close();
    await redis?.kill();
  });

  it('accepts every write while Redis is down and delivers the newest value within 5 s of its return', async () => {
    expect((await api(base, 'PUT', '/v1/stock/R-1', shop.secretKey, { onHand: 50 })).status).toBe(200);
    const socket = await TestSocket.open(`${wsNode.wsUrl!}/v1/ws?key=${shop.publishableKey}`);
    socket.send({ op: 'sub', skus: ['R-1'] });
    expect(await socket.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'R-1', version: 1 }] });
    expect((await api(base, 'GET', '/readyz')).body).toEqual({ status: 'ready', postgres: 'up', redis: 'up' });

    await redis.kill();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await api(base, 'POST', '/v1/stock/R-1/adjust', shop.secretKey, { delta: -1 })).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    await waitFor(async () => (await api(base, 'GET', '/readyz')).body.redis === 'down', 5000, '/readyz to report Redis down');
    const ready = await api(base, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'degraded', postgres: 'up', redis: 'down' });
    // The socket stays open through the outage.
    await socket.roundTrip();

    const backAt = Date.now();
    await redis.restart();
    const latest = await socket.next((f) => f.t === 'stock' && f.version === 21, { timeoutMs: 5000 });
    expect(latest).toMatchObject({ sku: 'R-1', available: 30, version: 21 });
    expect(Date.now() - backAt).toBeLessThan(5000);
    await waitFor(async () => (await api(base, 'GET', '/readyz')).body.redis === 'up', 5000, '/readyz to report Redis up');

    // And the normal path works again: a new write reaches the socket through Redis.
    const from = socket.frames.length;
    expect((await api(base, 'POST', '/v1/stock/R-1/adjust', shop.secretKey, { delta: -5 })).status).toBe(200);
    expect(await socket.next((f) => f.t === 'stock', { from })).toMatchObject({ available: 25, version: 22 });

    const metrics = await fetch(`${apiNode.metricsUrl!}/metrics`).then((r) => r.text());
    expect(metricValue(metrics, 'stockwire_redis_errors_total')).toBeGreaterThan(0);
    const wsMetrics = await fetch(`${wsNode.metricsUrl!}/metrics`).then((r) => r.text());
    expect(metricValue(wsMetrics, 'stockwire_redis_errors_total')).toBeGreaterThan(0);
    expect(await journalAgreesWithStock(databaseUrl!, shop.id)).toEqual([{ sku: 'R-1', onHand: 25, journal: 25, version: 22, rows: 22 }]);
    socket.close();
  }, 60_000);
});
