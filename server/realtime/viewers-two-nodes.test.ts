import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { realAmqpUrl, realDatabaseUrl, realRedisUrl } from '../../test/backends.js';
import { freePort } from '../../test/support/ports.js';
import { TestSocket, type ServerFrame } from '../../test/support/test-client.js';
import { loadConfig } from '../config.js';
import { startStockwire, type RunningStockwire } from '../main.js';

/**
 * Live viewer counts across real nodes: two nodes in this process on the test PostgreSQL and the test
 * Redis (or RabbitMQ), and a third `stockwire serve` process that is killed to show that a node that
 * dies drops out of the count.
 */
const databaseUrl = realDatabaseUrl();
const redisUrl = realRedisUrl();
const amqpUrl = realAmqpUrl();
const adminToken = 'viewers-two-nodes-admin-token';
// Short, so the suite is quick; the contract's 2 s is the default.
const viewers = { VIEWERS_INTERVAL_MS: '500', VIEWERS_EXPIRY_MS: '1500' };

interface Merchant {
  readonly id: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

async function api(base: string, method: string, path: string, token: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
  return answer;
}

function startNode(env: Record<string, string | undefined>): Promise<RunningStockwire> {
  return startStockwire(
    loadConfig({ METRICS_PORT: '0', PORT: '0', WS_PORT: '0', DATABASE_URL: databaseUrl ?? undefined, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', ...viewers, ...env }),
  );
}

const isViewers = (sku: string) => (frame: ServerFrame) => frame.t === 'viewers' && frame.sku === sku;

/** The last count the socket got for the SKU (undefined: none yet). */
function lastCount(socket: TestSocket, sku: string): number | undefined {
  return socket.frames.filter(isViewers(sku)).at(-1)?.count as number | undefined;
}

describe.skipIf(databaseUrl === null || redisUrl === null)('live viewer counts across nodes', () => {
  const sockets: TestSocket[] = [];
  afterAll(() => {
    for (const socket of sockets) socket.close();
  });

  async function watch(node: RunningStockwire, merchant: Merchant, sku: string, counts: boolean): Promise<TestSocket> {
    const socket = await TestSocket.open(`${node.wsUrl}/v1/ws?key=${merchant.publishableKey}`);
    sockets.push(socket);
    socket.send({ op: 'sub', skus: [sku], ...(counts ? { viewers: true } : {}) });
    await socket.next((frame) => frame.t === 'snapshot');
    return socket;
  }

  const sharedBuses = [
    { name: 'Redis', env: { REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: inject('redisPrefix') } },
    ...(amqpUrl === null
      ? []
      : [{ name: 'RabbitMQ', env: { AMQP_URL: amqpUrl, AMQP_EXCHANGE: inject('amqpExchange'), REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: inject('redisPrefix') } }]),
  ];
  describe.each(sharedBuses)('sharing the test $name', ({ name, env }) => {
    let nodeA: RunningStockwire;
    let nodeB: RunningStockwire;
    let merchant: Merchant;
    beforeAll(async () => {
      nodeA = await startNode(env);
      nodeB = await startNode({ ...env, ROLE: 'realtime' });
      merchant = (await api(nodeA.apiUrl!, 'POST', '/v1/merchants', adminToken, { name: 'viewers' })) as unknown as Merchant;
      await api(nodeA.apiUrl!, 'PUT', '/v1/products/SOFA', merchant.secretKey, { viewers: true });
      await api(nodeA.apiUrl!, 'PUT', '/v1/products/LAMP', merchant.secretKey, {});
    });
    afterAll(async () => {
      await Promise.all([nodeA, nodeB].map((node) => node?.close()));
    });

    it('counts every open connection watching the product on both nodes, the asking one included, and falls as they close', async () => {
      const asker = await watch(nodeA, merchant, 'SOFA', true);
      await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(1);
      // A page on node B that shows the stock only: counted, though it gets no counts itself.
      const quiet = await watch(nodeB, merchant, 'SOFA', false);
      await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(2);
      const other = await watch(nodeB, merchant, 'SOFA', true);
      await expect.poll(() => [lastCount(asker, 'SOFA'), lastCount(other, 'SOFA')], { timeout: 5000 }).toEqual([3, 3]);
      quiet.close();
      await expect.poll(() => [lastCount(asker, 'SOFA'), lastCount(other, 'SOFA')], { timeout: 5000 }).toEqual([2, 2]);
      other.close();
      await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(1);
      expect(quiet.frames.filter((frame) => frame.t === 'viewers')).toEqual([]);
      // Only on change, and at most once per interval: every frame differs from the one before it.
      const counts = asker.frames.filter(isViewers('SOFA')).map((frame) => frame.count);
      expect(counts).toEqual([1, 2, 3, 2, 1]);
      const arrivals = asker.frames.flatMap((frame, i) => (isViewers('SOFA')(frame) ? [asker.arrivals[i]!] : []));
      // Sent at least 500 ms apart; half of that leaves room for a busy test machine's delivery jitter.
      for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThan(250);
      asker.close();
    }, 30_000);

    it('sends no viewers frame for a product that did not opt in', async () => {
      const asker = await watch(nodeA, merchant, 'LAMP', true);
      await watch(nodeB, merchant, 'LAMP', true);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await asker.roundTrip();
      expect(asker.frames.filter((frame) => frame.t === 'viewers')).toEqual([]);
    });

    it.skipIf(name !== 'Redis')('drops a node that died from the count within the expiry', async () => {
      const asker = await watch(nodeA, merchant, 'SOFA', true);
      await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(1);
      const wsPort = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], {
        env: { ...process.env, ...viewers, ...env, ROLE: 'realtime', WS_PORT: String(wsPort), METRICS_PORT: '0', DATABASE_URL: databaseUrl!, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      try {
        await expect.poll(() => fetch(`http://127.0.0.1:${wsPort}/healthz`).then((r) => r.status, () => 0), { timeout: 20_000, interval: 200 }).toBe(200);
        const node = { wsUrl: `ws://127.0.0.1:${wsPort}` } as RunningStockwire;
        await watch(node, merchant, 'SOFA', false);
        await watch(node, merchant, 'SOFA', false);
        await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(3);
        // No goodbye: its sockets and its reports just stop.
        child.kill('SIGKILL');
        await expect.poll(() => lastCount(asker, 'SOFA'), { timeout: 5000 }).toBe(1);
      } finally {
        child.kill('SIGKILL');
      }
    }, 40_000);
  });
});
