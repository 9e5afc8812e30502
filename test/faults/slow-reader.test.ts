import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { ADMIN, createMerchant, metricValue, type Merchant } from './helpers.js';

/**
 * A client that stops reading while its products change fast: the server drops it at the
 * backpressure limit instead of buffering without bound, and the reader next to it gets everything.
 */
const SKUS = Array.from({ length: 100 }, (_, i) => `S-${i}`);
const ROUNDS = 1500;

/** A lean reader that keeps only the newest version per SKU (no growing frame log in the test process). */
class CountingReader {
  readonly latest = new Map<string, number>();
  frames = 0;
  closeCode: number | undefined;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.frames += 1;
      const frame = JSON.parse(data.toString('utf8')) as { t: string; sku?: string; version?: number; items?: Array<{ sku: string; version: number }> };
      if (frame.t === 'stock' && frame.sku !== undefined) this.latest.set(frame.sku, frame.version ?? 0);
      if (frame.t === 'snapshot') for (const item of frame.items ?? []) this.latest.set(item.sku, item.version);
    });
    socket.on('close', (code: number) => {
      this.closeCode = code;
    });
  }

  static open(url: string): Promise<CountingReader> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const reader = new CountingReader(socket);
      socket.once('open', () => resolve(reader));
      socket.once('error', reject);
    });
  }
}

describe('fault: a client that stops reading', () => {
  let node: RunningStockwire;
  let shop: Merchant;

  beforeAll(async () => {
    node = await startStockwire(
      loadConfig({
        METRICS_PORT: String(await freePort()),
        PORT: '0',
        WS_PORT: '0',
        DATA_DIR: 'memory://',
        ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: 'silent',
        PUBLISH_INTERVAL_MS: '0',
        WS_MAX_BACKPRESSURE_BYTES: String(64 * 1024),
      }),
    );
    shop = await createMerchant(node.apiUrl!);
  }, 60_000);

  afterAll(async () => {
    await node?.close();
  });

  it('is dropped at the backpressure limit; the other reader gets every newest value; memory stays bounded', async () => {
    const url = `${node.wsUrl!}/v1/ws?key=${shop.publishableKey}`;
    const good = await CountingReader.open(url);
    const slow = await CountingReader.open(url);
    for (const reader of [good, slow]) reader.socket.send(JSON.stringify({ op: 'sub', skus: SKUS }));
    await waitFor(() => good.latest.size === SKUS.length && slow.latest.size === SKUS.length, 5000, 'both snapshots');
    const metricsUrl = `${node.metricsUrl!}/metrics`;
    expect(metricValue(await fetch(metricsUrl).then((r) => r.text()), 'stockwire_realtime_connections')).toBe(2);

    // Stop reading: the kernel buffers fill, then the server-side backpressure.
    (slow.socket as unknown as { _socket: Socket })._socket.pause();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    for (let version = 1; version <= ROUNDS; version++) {
      for (const sku of SKUS) {
        node.bus.publish({ merchantId: shop.id, view: { sku, status: 'in_stock', available: 10 + (version % 50), version } });
      }
      // The good reader runs on this event loop: yield every round so it keeps reading (about 8 KB of
      // frames a round) and never itself falls behind by the backpressure limit while this loop publishes.
      await new Promise((resolve) => setImmediate(resolve));
      if (good.closeCode !== undefined) throw new Error(`the good reader was closed (${good.closeCode}) at version ${version}`);
      if (version % 50 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    await waitFor(() => SKUS.every((sku) => good.latest.get(sku) === ROUNDS), 20_000, 'the good reader to see every newest value');
    await waitFor(
      async () => metricValue(await fetch(metricsUrl).then((r) => r.text()), 'stockwire_realtime_connections') === 1,
      5000,
      'the slow reader to be dropped',
    );
    expect(good.closeCode).toBeUndefined();
    expect(good.frames).toBeGreaterThanOrEqual(ROUNDS * SKUS.length);
    // 150,000 frames went out to the slow reader's topics; it was cut off long before holding them.
    const grownMb = (rssPeak - rssBefore) / 1024 / 1024;
    expect(grownMb).toBeLessThan(150);
    console.log(`[faults] slow reader dropped; good reader got ${good.frames} frames; RSS grew by ${grownMb.toFixed(1)} MB at most`);

    (slow.socket as unknown as { _socket: Socket })._socket.resume();
    await waitFor(() => slow.closeCode !== undefined, 5000, 'the slow reader to see its socket closed');
    expect(slow.latest.get('S-0') ?? 0).toBeLessThan(ROUNDS);
    good.socket.terminate();
  }, 60_000);
});
