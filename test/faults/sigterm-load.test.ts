import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSocket } from '../support/test-client.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { api, createMerchant, journalAgreesWithStock, NodeProcess, ThrowawayPostgres } from './helpers.js';

/**
 * SIGTERM to `stockwire serve` in the middle of a write load: every write is either done whole or
 * not at all (the journal sums agree with the stock rows, every acknowledged write is in the
 * journal), socket clients are told with close code 1001, and the process exits 0.
 *
 * It runs on a PostgreSQL cluster of its own, so only this test decides when its database stops:
 * on the shared server it once read "the database system is shutting down", an answer only a
 * server being stopped gives, and nothing in the suite stops that one.
 */
const SKUS = ['T-1', 'T-2', 'T-3', 'T-4', 'T-5'];
const WRITERS = 12;

describe('fault: SIGTERM during load', () => {
  let db: ThrowawayPostgres;
  beforeAll(async () => {
    db = await ThrowawayPostgres.create();
  }, 60_000);
  afterAll(() => db?.destroy());

  it('leaves no write half done and tells socket clients 1001', async () => {
    const databaseUrl = db.url;
    const [port, wsPort] = [await freePort(), await freePort()];
    const node = await NodeProcess.start({ PORT: String(port), WS_PORT: String(wsPort), DATABASE_URL: databaseUrl, PUBLISH_INTERVAL_MS: '20' });
    const base = `http://127.0.0.1:${port}`;
    try {
      const shop = await createMerchant(base);
      for (const sku of SKUS) expect((await api(base, 'PUT', `/v1/stock/${sku}`, shop.secretKey, { onHand: 100_000 })).status).toBe(200);
      const sockets = await Promise.all([0, 1, 2].map(() => TestSocket.open(`ws://127.0.0.1:${wsPort}/v1/ws?key=${shop.publishableKey}`)));
      for (const socket of sockets) socket.send({ op: 'sub', skus: SKUS });
      await Promise.all(sockets.map((socket) => socket.next((f) => f.t === 'snapshot')));

      // Writers: single adjusts and 5-item batches, until the server stops answering.
      const acknowledged: Array<{ sku: string; version: number }> = [];
      const statuses = new Map<number, number>();
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const batch = (i + w) % 4 === 0;
          const res = batch
            ? await api(base, 'POST', '/v1/stock/batch', shop.secretKey, { items: SKUS.map((sku) => ({ sku, delta: -1 })) })
            : await api(base, 'POST', `/v1/stock/${SKUS[(i + w) % SKUS.length]}/adjust`, shop.secretKey, { delta: -((i % 3) + 1) });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) {
            if (batch) {
              for (const r of res.body.results as Array<{ sku: string; ok: boolean; stock?: { version: number } }>) {
                if (r.ok && r.stock) acknowledged.push({ sku: r.sku, version: r.stock.version });
              }
            } else {
              acknowledged.push({ sku: res.body.sku as string, version: res.body.version as number });
            }
          } else if (res.status === 0) {
            return;
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      // Signal mid-load, once the writers are well under way (however busy the machine is).
      await waitFor(() => acknowledged.length >= 100, 30_000, '100 acknowledged writes');
      const acknowledgedBeforeSignal = acknowledged.length;
      node.kill('SIGTERM');
      const codes = await Promise.all(sockets.map((socket) => socket.closed(10_000)));
      expect(await node.exited).toBe(0);
      stop = true;
      await Promise.all(writers);

      expect(codes).toEqual([1001, 1001, 1001]);
      expect(acknowledgedBeforeSignal).toBeGreaterThanOrEqual(100);
      // Nothing but successes, 503s while closing, and refused connections once it is gone.
      for (const status of statuses.keys()) expect([0, 200, 503]).toContain(status);

      const rows = await journalAgreesWithStock(databaseUrl, shop.id);
      expect(rows.map((r) => r.sku)).toEqual(SKUS);
      for (const row of rows) {
        expect(row.journal, `${row.sku}: journal sum = on_hand`).toBe(row.onHand);
        expect(row.rows, `${row.sku}: one journal row per version`).toBe(row.version);
      }
      // Every write we were told succeeded is there.
      const versions = new Map(rows.map((r) => [r.sku, r.version]));
      for (const ack of acknowledged) expect(ack.version).toBeLessThanOrEqual(versions.get(ack.sku)!);
      console.log(
        `[faults] SIGTERM under ${WRITERS} writers: ${acknowledged.length} acknowledged changes, answers ${JSON.stringify(Object.fromEntries(statuses))}, journal agrees on ${rows.length} SKUs, sockets closed ${codes.join(',')}`,
      );
    } finally {
      node.kill('SIGKILL');
    }
  }, 60_000);
});
