/**
 * Write-to-frame latency across two nodes: a REST write on node A (ROLE=api) until the `stock`
 * frame arrives at a subscriber on node B (ROLE=realtime), through real PostgreSQL and Redis.
 * Each node is its own process (`stockwire serve`), as in production.
 *
 *   npm run measure:latency -- [--writes 2000] [--products 200] [--rate 200]
 *
 * Uses PostgreSQL at TEST_DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres)
 * to create a throw-away database, and Redis at REDIS_URL (default redis://127.0.0.1:6379) under a
 * throw-away key prefix; both are removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { freePort } from '../test/support/ports.js';
import { waitFor } from '../test/support/wait.js';
import { createDatabase, deleteRedisPrefix, dropDatabase } from '../test/support/throwaway-services.js';
import { TestSocket } from '../test/support/test-client.js';

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '2000' },
    products: { type: 'string', default: '200' },
    rate: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '100' },
  },
});
const writes = Number(values.writes);
const products = Number(values.products);
const ratePerSecond = Number(values.rate);
const warmup = Number(values.warmup);
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const adminToken = 'latency-admin-token-0123456789';

const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const dbName = `stockwire_latency_${runId}`;
const prefix = `swlatency:${runId}:`;
const children: ChildProcess[] = [];

async function main(): Promise<void> {
  const dbUrl = await createDatabase(adminUrl, dbName);

  const [apiPort, wsPort, unusedA, unusedB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const common = { DATABASE_URL: dbUrl, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn' };
  startNode({ ...common, ROLE: 'api', PORT: String(apiPort), WS_PORT: String(unusedA), RATE_LIMIT_PER_KEY_PER_MINUTE: '0', RATE_LIMIT_PER_IP_PER_MINUTE: '0' });
  startNode({ ...common, ROLE: 'realtime', PORT: String(unusedB), WS_PORT: String(wsPort) });
  const api = `http://127.0.0.1:${apiPort}`;
  await waitHealthy(`${api}/healthz`);
  await waitHealthy(`http://127.0.0.1:${wsPort}/healthz`);

  const merchant = (await request(api, 'POST', '/v1/merchants', adminToken, { name: 'latency' })) as { publishableKey: string; secretKey: string };
  const skus = Array.from({ length: products }, (_, i) => `LAT-${i}`);
  for (const sku of skus) await request(api, 'PUT', `/v1/stock/${sku}`, merchant.secretKey, { onHand: 1_000_000 });

  const socket = await TestSocket.open(`ws://127.0.0.1:${wsPort}/v1/ws?key=${merchant.publishableKey}`);
  socket.send({ op: 'sub', skus });
  await socket.next((f) => f.t === 'snapshot');

  const sentAt = new Map<string, number>();
  const frameLatency: number[] = [];
  const ackLatency: number[] = [];
  const frameAt = new Map<string, number>();
  const ackAt = new Map<string, number>();
  socket.socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as { t: string; sku?: string; available?: number };
    if (frame.t !== 'stock') return;
    const key = `${frame.sku}:${frame.available}`;
    const start = sentAt.get(key);
    if (start === undefined) return;
    sentAt.delete(key);
    const now = performance.now();
    frameLatency.push(now - start);
    frameAt.set(key, now);
  });

  // Open loop at a fixed rate, rotating over the products so no product is written twice inside one
  // PUBLISH_INTERVAL_MS window: every frame is a first, immediate push (folding would add up to 100 ms).
  const intervalMs = 1000 / ratePerSecond;
  const began = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < warmup + writes; i++) {
    const due = began + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const sku = skus[i % skus.length]!;
    const onHand = 1_000_000 - i - 1;
    const measured = i >= warmup;
    const start = performance.now();
    if (measured) sentAt.set(`${sku}:${onHand}`, start);
    inFlight.push(
      request(api, 'PUT', `/v1/stock/${sku}`, merchant.secretKey, { onHand }).then(() => {
        if (!measured) return;
        const now = performance.now();
        ackLatency.push(now - start);
        ackAt.set(`${sku}:${onHand}`, now);
      }),
    );
  }
  await Promise.all(inFlight);
  const deadline = Date.now() + 5000;
  while (frameLatency.length < writes && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  socket.close();

  const result = {
    setup: 'REST PUT on node A (ROLE=api) -> PostgreSQL commit -> Redis (Lua SET + SPUBLISH) -> node B (ROLE=realtime) -> ws frame',
    writes,
    products,
    ratePerSecond,
    framesReceived: frameLatency.length,
    writeToFrameMs: summarize(frameLatency),
    writeAckMs: summarize(ackLatency),
    // The realtime path's own share: frame arrival minus the HTTP answer's arrival (negative: the
    // frame on node B beat the API's answer on node A).
    frameAfterAckMs: summarize([...frameAt].flatMap(([key, at]) => (ackAt.has(key) ? [at - ackAt.get(key)!] : []))),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
  console.log(JSON.stringify(result, null, 2));
}

function summarize(samples: number[]): Record<string, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(2));
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

function startNode(env: Record<string, string>): void {
  // The compiled server, as production runs it (`npm run measure:latency` builds first).
  const child = spawn(process.execPath, ['server/dist/cli.js', 'serve'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
}

async function request(base: string, method: string, path: string, token: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer: unknown = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

function waitHealthy(url: string): Promise<void> {
  return waitFor(() => fetch(url).then((r) => r.ok, () => false), 30_000, `${url} to become healthy`, 200);
}

async function cleanup(): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await dropDatabase(adminUrl, dbName);
  await deleteRedisPrefix(redisUrl, prefix);
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanup();
}
