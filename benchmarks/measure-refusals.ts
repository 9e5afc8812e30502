/**
 * What one refusal over a per-merchant limit costs the server: CPU time of the Stockwire process
 * (every thread, from /proc/<pid>/stat) over N refused requests, divided by N, beside the same for N
 * accepted cheap reads (`GET /v1/stock/:sku`) and N accepted adjusts as yardsticks.
 *
 *   npx tsx benchmarks/measure-refusals.ts [--requests 5000] [--concurrency 16] [--rounds 3] [--only write|upgrade|read|adjust]
 *
 * - refused write: `POST /v1/stock/:sku/adjust` by a merchant whose `writesPerMinute` (1) is spent;
 * - refused upgrade: a WebSocket upgrade by a merchant whose `connections` (1) is held by one socket;
 * - accepted adjust: `POST /v1/stock/:sku/adjust` (delta 1, no Idempotency-Key) by a merchant with no
 *   limits, round-robin over as many SKUs as lanes, so writes are seldom combined: PostgreSQL, the bus and the answer.
 * Kinds alternate in `--rounds` rounds in one run. The server runs like the bench's `stockwire`
 * system (Redis counters, default realtime threads); BENCH_CPU_PROF=<dir> writes its CPU profile
 * (see profile-summary.ts). Not a test: numbers depend on the machine and its load.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { openBackends } from './harness/backends.js';
import { readProc } from './harness/child.js';
import { JsonClient } from './harness/http-client.js';
import { startSystem, prepareProducts } from './harness/systems.js';
import type { Socket } from 'node:net';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

/** CPU seconds (user + system, all threads) of the server so far, and the system part of them. */
function cpuSeconds(pid: number): { all: number; kernel: number } {
  const sample = readProc(pid);
  if (sample === null) throw new Error(`the server (pid ${pid}) is gone`);
  return { all: sample.cpuSeconds, kernel: sample.kernelCpuSeconds };
}

async function closedLoop(n: number, lanes: number, one: () => Promise<number>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) {
        next += 1;
        const status = await one();
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

function upgrade(wsUrl: string, origin: string | undefined, agent: http.Agent | undefined, keep: (socket: Socket) => void = (s) => s.destroy()): Promise<number> {
  const url = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent,
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...(origin ? { origin } : {}) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('upgrade', (_res, socket) => {
      keep(socket);
      resolve(101);
    });
    req.on('error', reject);
    req.end();
  });
}

const backends = await openBackends({ redisUrl: values['redis-url']!, postgresAdminUrl: values['postgres-url']!, needDatabase: true });
const system = await startSystem('stockwire', backends, { publishIntervalMs: 100, skus: ['m-0'] });
const pid = system.pids[0]!;
const admin = new JsonClient(system.admin!.apiUrl, `Bearer ${system.admin!.token}`);
let holder: Socket | undefined;
try {
  const created = (await admin.request('POST', '/v1/merchants', { name: 'refused' })).body as { id: string; secretKey: string; publishableKey: string };
  await prepareProducts(system.admin!.apiUrl, created.secretKey, ['r-0']);
  const writer = (await admin.request('POST', '/v1/merchants', { name: 'writer' })).body as { secretKey: string };
  const writerSkus = Array.from({ length: concurrency }, (_, i) => `w-${i}`);
  await prepareProducts(system.admin!.apiUrl, writer.secretKey, writerSkus);
  const writerClient = new JsonClient(system.admin!.apiUrl, `Bearer ${writer.secretKey}`, concurrency);
  let nextSku = 0;
  const limited = await admin.request('PATCH', `/v1/merchants/${created.id}`, { limits: { writesPerMinute: 1, connections: 1 } });
  if (limited.status !== 200) throw new Error(`limits answered ${limited.status}`);
  const client = new JsonClient(system.admin!.apiUrl, `Bearer ${created.secretKey}`, concurrency);
  const wsUrl = system.wsUrl.replace(/\?key=.*$/, `?key=${encodeURIComponent(created.publishableKey)}`);
  const upgradeAgent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  // Spend the write budget and hold the one socket.
  await client.request('POST', '/v1/stock/r-0/adjust', { delta: 1 });
  const held = await upgrade(wsUrl, system.origin, undefined, (socket) => (holder = socket));
  if (held !== 101) throw new Error(`the one socket answered ${held}`);

  const kinds: Record<string, () => Promise<number>> = {
    'accepted read (yardstick)': () => client.request('GET', '/v1/stock/r-0').then((r) => r.status),
    'refused write (429)': () => client.request('POST', '/v1/stock/r-0/adjust', { delta: 1 }).then((r) => r.status),
    'refused upgrade (429)': () => upgrade(wsUrl, system.origin, upgradeAgent),
    'accepted adjust': () => writerClient.request('POST', `/v1/stock/${writerSkus[nextSku++ % writerSkus.length]}/adjust`, { delta: 1 }).then((r) => r.status),
  };
  const totals = new Map<string, { cpu: number; kernel: number; n: number; statuses: Map<number, number> }>();
  for (let round = 0; round < rounds; round++) {
    for (const [kind, one] of Object.entries(kinds).filter(([k]) => values.only === undefined || k.includes(values.only!))) {
      await closedLoop(200, concurrency, one); // warm
      const before = cpuSeconds(pid);
      const statuses = await closedLoop(requests, concurrency, one);
      const after = cpuSeconds(pid);
      const total = totals.get(kind) ?? { cpu: 0, kernel: 0, n: 0, statuses: new Map() };
      total.cpu += after.all - before.all;
      total.kernel += after.kernel - before.kernel;
      total.n += requests;
      for (const [s, c] of statuses) total.statuses.set(s, (total.statuses.get(s) ?? 0) + c);
      totals.set(kind, total);
    }
  }
  console.log(`| request | server CPU µs each | of which in the kernel | answered |`);
  console.log(`|---|---:|---:|---|`);
  for (const [kind, t] of totals) {
    console.log(`| ${kind} | ${Math.round((t.cpu / t.n) * 1e6)} | ${Math.round((t.kernel / t.n) * 1e6)} | ${[...t.statuses].map(([s, c]) => `${c} × ${s}`).join(', ')} |`);
  }
  client.close();
  writerClient.close();
  upgradeAgent.destroy();
} finally {
  holder?.destroy();
  admin.close();
  await system.stop();
  await backends.dispose();
}
