import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { TestSocket } from '../support/test-client.js';
import { waitFor } from '../support/wait.js';
import { freePort } from '../support/ports.js';
import { ADMIN, api, createMerchant, journalAgreesWithStock, metricValue, type Merchant } from './helpers.js';

/** A database server of the suite's own, which it may stop and start at will. */
export interface ThrowawayDatabase {
  readonly url: string;
  /** Stops the server cleanly: connected clients are cut off, like a restart for maintenance. */
  stop(): void | Promise<void>;
  start(): Promise<void>;
  destroy(): void | Promise<void>;
}

/**
 * The database restarted under a running node (our own throwaway server, never the shared one):
 * the API answers 503 storage_unavailable meanwhile, sockets stay open, and everything recovers
 * without restarting Stockwire. One suite for every database server kind.
 */
export function databaseRestartSuite(label: string, create: () => Promise<ThrowawayDatabase>): void {
  describe(`fault: ${label} restarted`, () => {
    let db: ThrowawayDatabase;
    let node: RunningStockwire;
    let base: string;
    let shop: Merchant;

    beforeAll(async () => {
      db = await create();
      node = await startStockwire(
        loadConfig({ METRICS_PORT: String(await freePort()), PORT: '0', WS_PORT: '0', DATABASE_URL: db.url, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', PUBLISH_INTERVAL_MS: '0' }),
      );
      base = node.apiUrl!;
      shop = await createMerchant(base);
    }, 90_000);

    afterAll(async () => {
      await node?.close();
      await db?.destroy();
    });

    it('answers 503 with Retry-After while it is down, keeps sockets open, and recovers on its own', async () => {
      expect((await api(base, 'PUT', '/v1/stock/DB-1', shop.secretKey, { onHand: 10 })).status).toBe(200);
      const socket = await TestSocket.open(`${node.wsUrl!}/v1/ws?key=${shop.publishableKey}`);
      socket.send({ op: 'sub', skus: ['DB-1'] });
      await socket.next((f) => f.t === 'snapshot');

      await db.stop();
      const write = await api(base, 'POST', '/v1/stock/DB-1/adjust', shop.secretKey, { delta: -1 });
      expect(write.status).toBe(503);
      expect(write.body).toMatchObject({ error: { code: 'storage_unavailable' } });
      expect(Number(write.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await api(base, 'GET', `/v1/stock/DB-1?key=${shop.publishableKey}`)).status).toBe(503);
      expect((await api(base, 'GET', '/readyz')).status).toBe(503);
      expect((await api(base, 'GET', '/healthz')).status).toBe(200);
      await socket.roundTrip();
      expect(socket.closeCode).toBeUndefined();
      const metrics = await fetch(`${node.metricsUrl!}/metrics`).then((r) => r.text());
      // The storage-outage counter keeps its first name whatever the database.
      expect(metricValue(metrics, 'stockwire_postgres_errors_total')).toBeGreaterThan(0);

      await db.start();
      // No restart of ours: the pool reconnects on the next request.
      await waitFor(async () => (await api(base, 'GET', '/readyz')).status === 200, 20_000, '/readyz back to 200');
      const from = socket.frames.length;
      const after = await api(base, 'POST', '/v1/stock/DB-1/adjust', shop.secretKey, { delta: -3 });
      expect(after.status).toBe(200);
      expect(after.body).toMatchObject({ onHand: 7, version: 2 });
      // The refused write left nothing behind, and the socket hears of the new one.
      expect(await socket.next((f) => f.t === 'stock', { from })).toMatchObject({ sku: 'DB-1', available: 7, version: 2 });
      expect(await journalAgreesWithStock(db.url, shop.id)).toEqual([{ sku: 'DB-1', onHand: 7, journal: 7, version: 2, rows: 2 }]);
      socket.close();
    }, 90_000);
  });
}
