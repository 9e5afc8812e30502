import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { TestSocket } from '../support/test-client.js';
import { realDatabaseUrl } from '../backends.js';
import { freePort } from '../support/ports.js';
import { hasRabbitMqServer, TestRabbitMqServer } from '../support/test-rabbitmq-server.js';
import { waitFor } from '../support/wait.js';
import { ADMIN, api, createMerchant, journalAgreesWithStock, metricValue, type Merchant } from './helpers.js';

/**
 * The RabbitMQ broker stopped and started under an API node and a separate realtime node while
 * writes keep coming: every write is accepted, /readyz says degraded, and the subscriber converges
 * to the newest value within 5 s of the broker's return. A private RabbitMQ node on its own ports,
 * never the shared service; no Redis, so snapshots and the resync come from the store.
 */
const databaseUrl = realDatabaseUrl();
const required = process.env.CI === 'true';

describe.skipIf(databaseUrl === null || (!hasRabbitMqServer && !required))('fault: RabbitMQ stopped and started mid-traffic', () => {
  let broker: TestRabbitMqServer;
  let apiNode: RunningStockwire;
  let wsNode: RunningStockwire;
  let base: string;
  let shop: Merchant;

  beforeAll(async () => {
    broker = await TestRabbitMqServer.start();
    const env = {
      PORT: '0',
      WS_PORT: '0',
      DATABASE_URL: databaseUrl!,
      AMQP_URL: broker.url,
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'silent',
      PUBLISH_INTERVAL_MS: '0',
    };
    apiNode = await startStockwire(loadConfig({ ...env, METRICS_PORT: String(await freePort()), ROLE: 'api' }));
    wsNode = await startStockwire(loadConfig({ ...env, METRICS_PORT: String(await freePort()), ROLE: 'realtime' }));
    await waitFor(() => apiNode.bus.connected && wsNode.bus.connected, 10_000, 'both nodes to reach the private broker');
    base = apiNode.apiUrl!;
    shop = await createMerchant(base);
  }, 120_000);

  afterAll(async () => {
    await wsNode?.close();
    await apiNode?.close();
    await broker?.kill();
  }, 60_000);

  it('accepts every write while the broker is down and delivers the newest value within 5 s of its return', async () => {
    expect((await api(base, 'PUT', '/v1/stock/Q-1', shop.secretKey, { onHand: 1000 })).status).toBe(200);
    const socket = await TestSocket.open(`${wsNode.wsUrl!}/v1/ws?key=${shop.publishableKey}`);
    socket.send({ op: 'sub', skus: ['Q-1'] });
    expect(await socket.next((f) => f.t === 'snapshot')).toMatchObject({ items: [{ sku: 'Q-1', version: 1 }] });
    expect((await api(base, 'GET', '/readyz')).body).toEqual({ status: 'ready', postgres: 'up', rabbitmq: 'up' });

    // Writes run on their own through the stop; the broker goes away under them.
    const statuses: number[] = [];
    let writing = true;
    const traffic = (async () => {
      while (writing) statuses.push((await api(base, 'POST', '/v1/stock/Q-1/adjust', shop.secretKey, { delta: -1 })).status);
    })();
    await waitFor(() => statuses.length >= 10, 10_000, 'writes before the stop');
    await broker.stopApp();
    await waitFor(async () => (await api(base, 'GET', '/readyz')).body.rabbitmq === 'down', 5000, '/readyz to report RabbitMQ down');
    const ready = await api(base, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'degraded', postgres: 'up', rabbitmq: 'down' });
    const atStop = statuses.length;
    await waitFor(() => statuses.length >= atStop + 20, 10_000, 'writes while the broker is down');
    writing = false;
    await traffic;
    expect(statuses.every((s) => s === 200)).toBe(true);
    const newest = 1 + statuses.length;
    // The socket stays open through the outage.
    await socket.roundTrip();

    await broker.startApp();
    const backAt = Date.now();
    const latest = await socket.next((f) => f.t === 'stock' && f.version === newest, { timeoutMs: 5000 });
    expect(latest).toMatchObject({ sku: 'Q-1', available: 1000 - statuses.length, version: newest });
    expect(Date.now() - backAt).toBeLessThan(5000);
    await waitFor(async () => (await api(base, 'GET', '/readyz')).body.rabbitmq === 'up', 5000, '/readyz to report RabbitMQ up');

    // And the normal path works again: a new write reaches the socket through the broker.
    const from = socket.frames.length;
    expect((await api(base, 'POST', '/v1/stock/Q-1/adjust', shop.secretKey, { delta: -5 })).status).toBe(200);
    expect(await socket.next((f) => f.t === 'stock', { from })).toMatchObject({ available: 995 - statuses.length, version: newest + 1 });
    for (const node of [apiNode, wsNode]) {
      const metrics = await fetch(`${node.metricsUrl!}/metrics`).then((r) => r.text());
      expect(metricValue(metrics, 'stockwire_rabbitmq_errors_total')).toBeGreaterThan(0);
    }
    expect(await journalAgreesWithStock(databaseUrl!, shop.id)).toEqual([
      { sku: 'Q-1', onHand: 995 - statuses.length, journal: 995 - statuses.length, version: newest + 1, rows: newest + 1 },
    ]);
    socket.close();
  }, 90_000);
});
