/**
 * The systems under test and how each is started, prepared and written to. Stockwire is measured two
 * ways: `stockwire` end to end (REST → PostgreSQL → Redis → socket) and `stockwire-delivery`
 * (changes put straight onto its bus). The three baselines take a Redis publish as their write path.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestRedisCluster } from '../../test/support/redis-cluster.js';
import type { BenchBackends } from './backends.js';
import { freePort } from '../../test/support/ports.js';
import { waitFor } from '../../test/support/wait.js';
import { startChild, startProcess, type ChildServer } from './child.js';
import { START_STOCK } from './frames.js';
import { JsonClient, versionOf } from './http-client.js';
import type { ClientProtocol } from './load-protocol.js';
import type { WriteTarget } from './write-protocol.js';

export const systemNames = ['stockwire', 'stockwire-delivery', 'stockwire-split', 'stockwire-cluster', 'stockwire-1-thread', 'stockwire-2-threads', 'stockwire-fixed-fold', 'stockwire-equal-priority', 'stockwire-node-flags', 'stockwire-amqp', 'stockwire-amqp-delivery', 'seed', 'socketio', 'uws'] as const;
export type SystemName = (typeof systemNames)[number];

export const systemLabels: Record<SystemName, string> = {
  stockwire: 'Stockwire (end to end)',
  'stockwire-delivery': 'Stockwire (delivery only)',
  'stockwire-split': 'Stockwire (end to end, API and realtime processes)',
  'stockwire-cluster': 'Stockwire (end to end, on a Redis Cluster: 3 primaries, 3 replicas)',
  'stockwire-1-thread': 'Stockwire (end to end, WS_THREADS=1)',
  'stockwire-2-threads': 'Stockwire (end to end, WS_THREADS=2)',
  'stockwire-fixed-fold': 'Stockwire (end to end, fixed fold windows)',
  'stockwire-equal-priority': 'Stockwire (end to end, WS_THREAD_NICE=0)',
  'stockwire-node-flags': 'Stockwire (end to end, plain node with --node-flags)',
  'stockwire-amqp': 'Stockwire (end to end, RabbitMQ bus)',
  'stockwire-amqp-delivery': 'Stockwire (delivery only, RabbitMQ bus)',
  seed: 'Seed design (ws + ioredis)',
  socketio: 'Socket.IO + redis-adapter',
  uws: 'Bare uWebSockets.js',
};

export const baselineNames: readonly SystemName[] = ['seed', 'socketio', 'uws'];
/** What a scenario runs when --systems is not given (the split, cluster and RabbitMQ variants are opt-in). */
export const defaultSystemNames: readonly SystemName[] = ['stockwire', 'stockwire-delivery', 'seed', 'socketio', 'uws'];
export const stockwireNames: readonly SystemName[] = ['stockwire', 'stockwire-delivery', 'stockwire-split', 'stockwire-cluster', 'stockwire-1-thread', 'stockwire-2-threads', 'stockwire-fixed-fold', 'stockwire-equal-priority', 'stockwire-node-flags', 'stockwire-amqp', 'stockwire-amqp-delivery'];
/** The variants that pin WS_THREADS; the others run with the default (one thread per core). */
const pinnedThreads: Partial<Record<SystemName, string>> = { 'stockwire-1-thread': '1', 'stockwire-2-threads': '2' };
/** The variants whose events travel over RabbitMQ. */
const amqpNames: readonly SystemName[] = ['stockwire-amqp', 'stockwire-amqp-delivery'];

export interface RunningSystem {
  readonly name: SystemName;
  readonly label: string;
  readonly protocol: ClientProtocol;
  readonly wsUrl: string;
  readonly origin: string | undefined;
  /** The process clients connect to (its RSS is what `capacity` and the RSS cap read). */
  readonly child: ChildServer;
  /** Every process of the system, for CPU seconds (the split variant has an API process too). */
  readonly pids: readonly number[];
  /** Redis processes of its own (the cluster variant's), counted instead of the shared Redis. */
  readonly redisPids?: readonly number[];
  readonly writeTarget: WriteTarget;
  /** Stockwire: its admin API (the limits scenario makes a second merchant). */
  readonly admin?: { readonly apiUrl: string; readonly token: string };
  /** Version of each product before the run, in the order of `skus`. */
  readonly startVersions: number[];
  /**
   * Stockwire over REST: the public version of each product now, what watchers must end on. A write
   * answers the internal version, and a combined group of writes moves the public version only once.
   */
  publicVersions?(skus: readonly string[]): Promise<number[]>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  readonly publishIntervalMs: number;
  /** Product setup (Stockwire): every sku gets START_STOCK, display `exact`. Baselines need none. */
  readonly skus: readonly string[];
  readonly extraEnv?: Record<string, string>;
  /**
   * `stockwire-node-flags`: what `node` runs the compiled server with instead of the bin's first line,
   * words such as `--optimize-for-size` and `MALLOC_ARENA_MAX=2` (an environment variable); none: node's defaults.
   */
  readonly nodeFlags?: readonly string[];
}

const serverFile = (name: string) => new URL(`../servers/${name}`, import.meta.url);

export async function startSystem(name: SystemName, backends: BenchBackends, options: SystemOptions): Promise<RunningSystem> {
  const label = systemLabels[name];
  if (stockwireNames.includes(name)) return startStockwire(name, backends, options);
  const channelPrefix = `${backends.prefix}stock:`;
  const file = name === 'seed' ? 'seed-server.ts' : name === 'socketio' ? 'socketio-server.ts' : 'uws-server.ts';
  const child = await startChild(serverFile(file), {
    BENCH_REDIS_URL: backends.redisUrl,
    BENCH_PREFIX: backends.prefix,
    ...options.extraEnv,
  });
  const writeTarget: WriteTarget =
    name === 'socketio'
      ? { kind: 'socketio', redisUrl: backends.redisUrl, key: `${backends.prefix}sio` }
      : { kind: 'redis', redisUrl: backends.redisUrl, channelPrefix };
  return {
    name,
    label,
    protocol: name === 'socketio' ? 'socketio' : 'stockwire',
    wsUrl: child.ready.wsUrl,
    origin: undefined,
    child,
    pids: [child.pid],
    writeTarget,
    startVersions: options.skus.map(() => 0),
    stop: () => child.stop(),
  };
}

async function startStockwire(name: SystemName, backends: BenchBackends, options: SystemOptions): Promise<RunningSystem> {
  if (!backends.databaseUrl) throw new Error('Stockwire needs PostgreSQL');
  const amqp = amqpNames.includes(name) ? { url: backends.amqpUrl, exchange: backends.amqpExchange } : undefined;
  if (amqp && !amqp.url) throw new Error(`${name} needs RabbitMQ (--amqp-url)`);
  const adminToken = randomBytes(16).toString('hex');
  const keyPrefix = `${backends.prefix}sw:`;
  // The cluster variant runs on a Redis Cluster of its own, started for it and stopped with it.
  const cluster = name === 'stockwire-cluster' ? await TestRedisCluster.start() : undefined;
  const env = {
    HOST: '127.0.0.1',
    ROLE: 'all',
    DATABASE_URL: backends.databaseUrl,
    ...(cluster ? { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.seeds } : { REDIS_URL: backends.redisUrl }),
    REDIS_KEY_PREFIX: keyPrefix,
    ADMIN_TOKEN: adminToken,
    // BENCH_SERVER_LOG=warn (or info…) shows the server's log lines on stderr while it runs.
    LOG_LEVEL: process.env.BENCH_SERVER_LOG ?? 'silent',
    PUBLISH_INTERVAL_MS: String(options.publishIntervalMs),
    // The fixed-fold variant: every window lasts PUBLISH_INTERVAL_MS, however many watch (no adaptive folding).
    ...(name === 'stockwire-fixed-fold' ? { PUBLISH_INTERVAL_MAX_MS: String(options.publishIntervalMs) } : {}),
    RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
    RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    WS_MAX_MESSAGES_PER_SECOND: '1000',
    // Load comes from one loopback address: the per-IP socket limits would measure themselves.
    WS_MAX_CONNECTIONS_PER_IP: '0',
    ...(pinnedThreads[name] ? { WS_THREADS: pinnedThreads[name] } : {}),
    // The equal-priority variant: realtime threads do not yield the CPU to the API's main thread.
    ...(name === 'stockwire-equal-priority' ? { WS_THREAD_NICE: '0' } : {}),
    WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '0',
    WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '0',
    WS_MAX_REFUSED_FRAMES: '0',
    METRICS_PORT: '0',
    // The RabbitMQ variant: events over the run's own exchange, Redis still the latest-value cache.
    ...(amqp ? { AMQP_URL: amqp.url, AMQP_EXCHANGE: amqp.exchange } : {}),
    ...options.extraEnv,
  };
  const split = name === 'stockwire-split';
  // The node-flags variant runs `node [flags] cli.js serve`, so flag sets can be compared with the bin's in one run.
  const nodeFlags = name === 'stockwire-node-flags' ? splitNodeFlags(options.nodeFlags ?? []) : undefined;
  const label = nodeFlags ? `Stockwire (end to end, node ${(options.nodeFlags ?? []).join(' ') || 'without flags'})` : systemLabels[name];
  let child: ChildServer;
  try {
    child = await startServe({ ...env, ...nodeFlags?.env, ROLE: split ? 'realtime' : 'all' }, nodeFlags?.flags);
  } catch (error) {
    await cluster?.stop();
    throw error;
  }
  let api: ChildServer | undefined;
  const stop = async () => {
    await Promise.all([child.stop(), api?.stop()]);
    await cluster?.stop();
  };
  try {
    if (split) api = await startServe({ ...env, ROLE: 'api' });
    const apiUrl = (api ?? child).ready.apiUrl!;
    const admin = new JsonClient(apiUrl, `Bearer ${adminToken}`);
    const created = await admin.request('POST', '/v1/merchants', { name: `bench ${name}` });
    admin.close();
    if (created.status !== 201) throw new Error(`creating the bench merchant answered ${created.status}: ${JSON.stringify(created.body)}`);
    const merchant = created.body as { id: string; publishableKey: string; secretKey: string };
    const startVersions = await prepareProducts(apiUrl, merchant.secretKey, options.skus);
    const wsUrl = `${child.ready.wsUrl}?key=${encodeURIComponent(merchant.publishableKey)}`;
    const writeTarget: WriteTarget =
      name !== 'stockwire-delivery' && name !== 'stockwire-amqp-delivery'
        ? { kind: 'rest', apiUrl, secretKey: merchant.secretKey }
        : { kind: 'bus', redisUrl: backends.redisUrl, keyPrefix, merchantId: merchant.id, ...(amqp ? { amqp: { url: amqp.url!, exchange: amqp.exchange } } : {}) };
    return {
      name,
      label,
      protocol: 'stockwire',
      wsUrl,
      origin: undefined,
      child,
      pids: api ? [child.pid, api.pid] : [child.pid],
      ...(cluster ? { redisPids: cluster.pids } : {}),
      writeTarget,
      admin: { apiUrl, token: adminToken },
      startVersions,
      ...(writeTarget.kind === 'rest' ? { publicVersions: (skus: readonly string[]) => readPublicVersions(apiUrl, merchant.publishableKey, skus) } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function readPublicVersions(apiUrl: string, publishableKey: string, skus: readonly string[]): Promise<number[]> {
  const client = new JsonClient(apiUrl, `Bearer ${publishableKey}`);
  try {
    const versions: number[] = [];
    for (let i = 0; i < skus.length; i += 100) {
      const chunk = skus.slice(i, i + 100);
      const read = await client.request('GET', `/v1/stock?skus=${chunk.map(encodeURIComponent).join(',')}`);
      const items = (read.body as { items?: Array<{ sku: string; version: number }> }).items ?? [];
      const bySku = new Map(items.map((item) => [item.sku, item.version]));
      versions.push(...chunk.map((sku) => bySku.get(sku) ?? 0));
    }
    return versions;
  } finally {
    client.close();
  }
}

/** The compiled bin, as production runs it (`stockwire serve`, with the node flags of its own first line). */
const cli = fileURLToPath(new URL('../../server/dist/cli.js', import.meta.url));

/** Node flags (`--…`) and environment variables (`NAME=value`) apart. */
function splitNodeFlags(words: readonly string[]): { flags: string[]; env: Record<string, string> } {
  const flags: string[] = [];
  const env: Record<string, string> = {};
  for (const word of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else if (word.startsWith('--')) flags.push(word);
    else throw new Error(`--node-flags: "${word}" is neither a --flag nor NAME=value`);
  }
  return { flags, env };
}

/**
 * `stockwire serve` on ports of its own; ready when its roles answer `/healthz`. With `nodeFlags`,
 * `node` runs it with those flags instead of the bin's first line.
 */
async function startServe(env: Record<string, string>, nodeFlags?: readonly string[]): Promise<ChildServer> {
  if (!existsSync(cli)) throw new Error('The benchmarks run the compiled server: `npm run build` first.');
  const [port, wsPort] = [await freePort(), await freePort()];
  const apiUrl = env.ROLE === 'realtime' ? undefined : `http://127.0.0.1:${port}`;
  const wsUrl = env.ROLE === 'api' ? '' : `ws://127.0.0.1:${wsPort}/v1/ws`;
  const healthz = [apiUrl, wsUrl && `http://127.0.0.1:${wsPort}`].filter(Boolean).map((base) => `${base}/healthz`);
  const ready = async () => {
    await waitFor(async () => (await Promise.all(healthz.map((url) => fetch(url).then((r) => r.ok, () => false)))).every(Boolean), 60_000, 'stockwire serve');
    return { wsUrl, ...(apiUrl ? { apiUrl } : {}) };
  };
  const command = nodeFlags ? [process.execPath, ...nodeFlags, cli, 'serve'] : [cli, 'serve'];
  return startProcess({ name: 'stockwire serve', command, ready }, { ...env, PORT: String(port), WS_PORT: String(wsPort) });
}

/** Every product `exact` with START_STOCK in stock (so frames carry the same fields as the baselines'). */
export async function prepareProducts(apiUrl: string, secretKey: string, skus: readonly string[]): Promise<number[]> {
  const client = new JsonClient(apiUrl, `Bearer ${secretKey}`, 16);
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < skus.length) {
          const sku = skus[next++]!;
          const answer = await client.request('PUT', `/v1/products/${encodeURIComponent(sku)}`, { name: sku, display: 'exact' });
          if (answer.status >= 300) throw new Error(`PUT /v1/products/${sku} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
      }),
    );
    const versions: number[] = [];
    for (let i = 0; i < skus.length; i += 1000) {
      const chunk = skus.slice(i, i + 1000);
      const answer = await client.request('POST', '/v1/stock/batch', { items: chunk.map((sku) => ({ sku, onHand: START_STOCK })) });
      if (answer.status !== 200) throw new Error(`POST /v1/stock/batch answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const results = (answer.body as { results: { ok: boolean; stock?: unknown; error?: unknown }[] }).results;
      for (const [j, result] of results.entries()) {
        const version = versionOf(result.stock);
        if (!result.ok || version === undefined) throw new Error(`setting stock of ${chunk[j]} failed: ${JSON.stringify(result)}`);
        versions.push(version);
      }
    }
    return versions;
  } finally {
    client.close();
  }
}
