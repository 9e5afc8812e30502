import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { createStockClient, type StockClient, type WebSocketConstructor } from '../../sdk/index.js';
import { realDatabaseUrl, realRedisUrl } from '../backends.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { ADMIN, api, createMerchant, NodeProcess, type Merchant } from './helpers.js';

/**
 * A realtime node killed with SIGKILL under its clients: the SDK client reconnects to the other
 * node (a round-robin "load balancer" in front of both) and catches up on every change it missed.
 */
const databaseUrl = realDatabaseUrl();
const redisUrl = realRedisUrl();

describe.skipIf(databaseUrl === null || redisUrl === null)('fault: a realtime node killed', () => {
  const prefix = `${inject('redisPrefix')}kill${randomBytes(3).toString('hex')}:`;
  let apiNode: RunningStockwire;
  const realtime: NodeProcess[] = [];
  const wsPorts: number[] = [];
  let base: string;
  let shop: Merchant;

  beforeAll(async () => {
    const env = { DATABASE_URL: databaseUrl!, REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: prefix, PUBLISH_INTERVAL_MS: '0' };
    apiNode = await startStockwire(loadConfig({ METRICS_PORT: '0', ...env, PORT: '0', ROLE: 'api', ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent' }));
    base = apiNode.apiUrl!;
    for (let i = 0; i < 2; i++) {
      const wsPort = await freePort();
      wsPorts.push(wsPort);
      realtime.push(await NodeProcess.start({ ...env, ROLE: 'realtime', WS_PORT: String(wsPort) }));
    }
    shop = await createMerchant(base);
  }, 90_000);

  afterAll(async () => {
    for (const node of realtime) node.kill('SIGKILL');
    await Promise.all(realtime.map((node) => node.exited));
    await apiNode?.close();
  });

  it('moves SDK clients to the surviving node, where they catch up on what changed meanwhile', async () => {
    for (const sku of ['K-1', 'K-2']) expect((await api(base, 'PUT', `/v1/stock/${sku}`, shop.secretKey, { onHand: 20 })).status).toBe(200);

    // Every connection attempt goes to the next node in the list, like DNS round robin.
    let next = 0;
    const connectedTo: number[] = [];
    const Balanced = class extends WebSocket {
      constructor(url: string) {
        const target = wsPorts[next % wsPorts.length]!;
        next += 1;
        connectedTo.push(target);
        super(url.replace(/:\d+\//, `:${target}/`));
      }
    } as unknown as WebSocketConstructor;

    const clients: StockClient[] = [];
    for (let i = 0; i < 4; i++) {
      clients.push(
        createStockClient({
          key: shop.publishableKey,
          wsUrl: `ws://127.0.0.1:${wsPorts[0]}`,
          apiUrl: base,
          WebSocket: Balanced,
          reconnectMinDelayMs: 50,
          reconnectMaxDelayMs: 300,
          failuresBeforePolling: 50,
          timeoutMs: 2000,
        }),
      );
    }
    try {
      for (const client of clients) for (const sku of ['K-1', 'K-2']) client.subscribe(sku, () => {});
      await waitFor(() => clients.every((c) => c.get('K-1')?.version === 1 && c.get('K-2')?.version === 1), 10_000, 'first snapshots');
      // Two clients on each node.
      expect(new Set(connectedTo.slice(0, 4)).size).toBe(2);

      const victim = realtime[0]!;
      victim.kill('SIGKILL');
      await victim.exited;
      // Changes while the clients of the dead node are away.
      for (let i = 0; i < 5; i++) expect((await api(base, 'POST', '/v1/stock/K-1/adjust', shop.secretKey, { delta: -2 })).status).toBe(200);
      expect((await api(base, 'PUT', '/v1/stock/K-2', shop.secretKey, { onHand: 0 })).status).toBe(200);

      await waitFor(
        () => clients.every((c) => c.get('K-1')?.version === 6 && c.get('K-2')?.status === 'sold_out'),
        10_000,
        'every client to catch up on the surviving node',
      );
      for (const client of clients) {
        expect(client.get('K-1')).toMatchObject({ sku: 'K-1', status: 'in_stock', available: 10, version: 6 });
        expect(client.get('K-2')).toMatchObject({ sku: 'K-2', status: 'sold_out', version: 2 });
        expect(client.state).toBe('open');
      }
      // And live pushes flow on the survivor.
      expect((await api(base, 'POST', '/v1/stock/K-1/adjust', shop.secretKey, { delta: -1 })).status).toBe(200);
      await waitFor(() => clients.every((c) => c.get('K-1')?.version === 7), 5000, 'a live push after the failover');
    } finally {
      for (const client of clients) client.close();
    }
  }, 90_000);
});
