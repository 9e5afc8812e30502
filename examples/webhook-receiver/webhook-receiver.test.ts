import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WebhookEvent } from 'stockwire/webhooks';
import { loadConfig, startStockwire, type RunningStockwire } from 'stockwire-server';
import { freePort } from '../../test/support/ports.js';
import { waitFor } from '../../test/support/wait.js';
import { startWebhookReceiver } from './receiver-server.js';

const adminToken = 'examples-test-admin-token-0123456789';
let stockwire: RunningStockwire;

beforeAll(async () => {
  stockwire = await startStockwire(
    loadConfig({ PORT: '0', METRICS_PORT: '0', ROLE: 'api', DATA_DIR: 'memory://', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', WEBHOOK_ALLOW_PRIVATE: 'true' }),
  );
});
afterAll(async () => {
  await stockwire?.close();
});

async function api(path: string, key: string, body: unknown): Promise<Record<string, string>> {
  const response = await fetch(`${stockwire.apiUrl}${path}`, {
    method: path.includes('/adjust') || path === '/v1/merchants' || path === '/v1/webhooks' ? 'POST' : 'PUT',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await response.json()) as Record<string, string>;
}

it('the webhook receiver example verifies and prints each event once; unsigned requests get 401', async () => {
  const shop = await api('/v1/merchants', adminToken, { name: 'Receiver shop' });
  const events: WebhookEvent[] = [];
  // The secret is known only after subscribing: subscribe the URL first, then start the receiver there.
  const port = await freePort();
  const hook = await api('/v1/webhooks', shop.secretKey!, { url: `http://127.0.0.1:${port}/webhooks`, events: ['stock.sold_out'] });
  const receiver = await startWebhookReceiver({ secret: hook.secret!, port: Number(port), onEvent: (e) => events.push(e) });
  try {
    await api('/v1/stock/EX-1', shop.secretKey!, { onHand: 1 });
    await api('/v1/stock/EX-1/adjust', shop.secretKey!, { delta: -1 });
    await waitFor(() => events.length === 1, 5000, 'the sold_out event');
    expect(events[0]).toMatchObject({ type: 'stock.sold_out', data: { sku: 'EX-1', available: 0 } });
    const unsigned = await fetch(receiver.url, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(401);
  } finally {
    await receiver.close();
  }
});
