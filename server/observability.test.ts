import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startStockwire, type RunningStockwire } from './main.js';
import { TestSocket } from '../test/support/test-client.js';
import { freePort } from '../test/support/ports.js';

const ADMIN = 'observability-admin-token-0123456789';

function metric(text: string, name: string): number | undefined {
  const lines = text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
  return lines.length === 0 ? undefined : lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * One node (ROLE=all): one registry on its own metrics listener (METRICS_PORT), every metric the
 * operator needs, and none of it on the public API or socket ports.
 */
describe('observability of a whole node', () => {
  let node: RunningStockwire;

  beforeAll(async () => {
    node = await startStockwire(
      loadConfig({ PORT: '0', WS_PORT: '0', METRICS_PORT: String(await freePort()), DATA_DIR: 'memory://', ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent', PUBLISH_INTERVAL_MS: '1000' }),
    );
  });
  afterAll(async () => {
    await node?.close();
  });

  it('counts connections, subscriptions, frames, folded updates, write latency and backend errors', async () => {
    const base = node.apiUrl!;
    const post = (url: string, key: string, body: unknown) =>
      fetch(`${base}${url}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const merchant = (await (await post('/v1/merchants', ADMIN, { name: 'Metrics' })).json()) as { secretKey: string; publishableKey: string };
    await post('/v1/stock/batch', merchant.secretKey, { items: [{ sku: 'M-1', onHand: 100 }, { sku: 'M-2', onHand: 100 }] });
    const socket = await TestSocket.open(`${node.wsUrl!}/v1/ws?key=${merchant.publishableKey}`);
    socket.send({ op: 'sub', skus: ['M-1', 'M-2'] });
    await socket.next((f) => f.t === 'snapshot');
    // Ten changes inside one fold window: one push at once, one trailing push, the rest folded.
    for (let i = 0; i < 10; i++) expect((await post('/v1/stock/M-1/adjust', merchant.secretKey, { delta: -1 })).status).toBe(200);
    await socket.next((f) => f.t === 'stock' && f.available === 90, { timeoutMs: 5000 });

    expect(node.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const apiText = await fetch(`${node.metricsUrl!}/metrics`).then((r) => r.text());
    for (const text of [apiText]) {
      expect(metric(text, 'stockwire_realtime_connections')).toBe(1);
      expect(metric(text, 'stockwire_realtime_subscriptions')).toBe(2);
      expect(metric(text, 'stockwire_realtime_frames_pushed_total')).toBeGreaterThanOrEqual(2);
      expect(metric(text, 'stockwire_realtime_updates_folded_total')).toBeGreaterThanOrEqual(1);
      expect(metric(text, 'stockwire_api_write_duration_seconds_count')).toBeGreaterThanOrEqual(12);
      expect(text).toContain('# TYPE stockwire_redis_errors_total counter');
      expect(text).toContain('# TYPE stockwire_postgres_errors_total counter');
    }
    expect(metric(apiText, 'stockwire_realtime_frames_pushed_total')! + metric(apiText, 'stockwire_realtime_updates_folded_total')!).toBe(10);
    expect(await fetch(`${base}/readyz`).then((r) => r.json())).toEqual({ status: 'ready' });
    // The public ports never serve the metrics: they show every tenant's traffic.
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${node.wsUrl!.replace('ws://', 'http://')}/metrics`)).status).toBe(404);
    socket.close();
  });
});
