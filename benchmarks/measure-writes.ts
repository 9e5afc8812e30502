/**
 * Adjusts per second against real PostgreSQL (and/or MariaDB), straight through the store (one
 * transaction per adjust: conditional update + journal row), on one hot SKU and spread over 1,000 SKUs.
 *
 *   npx tsx benchmarks/measure-writes.ts [--seconds 10] [--concurrency 16] [--via store|http] [--pool-size 10] [--admin-url postgres://…/postgres]
 *     [--rate-limit compare [--redis-url redis://127.0.0.1:6379]]
 *     [--stores postgres,mariadb [--mysql-url mysql://root@127.0.0.1:3306]]
 *     [--combine compare [--combine-max 100]] [--prepared compare]
 *
 * `--via http` sends the same adjusts as `POST /v1/stock/:sku/adjust` to the real API (buildApp on a
 * local port, keep-alive fetch from the same process), so it includes Fastify, auth and JSON.
 * `--rate-limit compare` (with `--via http`) measures in the same run with the rate limiter off, on
 * (in-process counters) and, given `--redis-url`, on with Redis counters, in interleaved one-second
 * rounds (`--seconds` of them per mode and workload); limits are set so high that nothing is refused,
 * so the difference is the limiter's cost alone.
 * `--prepared compare` measures adjusts spread over `--skus` SKUs with the adjust statement prepared
 * per connection (DATABASE_PREPARED_STATEMENTS) and without, the same way.
 * `--combine compare` measures hot-SKU adjusts with write combining on (`--combine-max`, the
 * WRITE_COMBINE_MAX_ITEMS default) and off (1), in interleaved rounds of `--seconds` each (three per
 * mode), and counts PostgreSQL transactions per adjust: `pg_stat_database.xact_commit` of the scratch
 * database before and after each round, the round's store closed first so its backends exit and
 * report their counts.
 * `--stores postgres,mariadb` measures both databases in the same run, in interleaved one-second
 * rounds like `--rate-limit compare` (with the limiter off), and reports MariaDB's rates as a ratio of PostgreSQL's.
 * It creates a scratch database, measures, and drops it. Not a test: numbers depend on the machine.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { createDatabase, createMysqlDatabase, dropDatabase, dropMysqlDatabase } from '../test/support/throwaway-services.js';
import { buildApp } from '../server/api/app.js';
import { loadConfig } from '../server/config.js';
import { StockwireError } from '../server/errors.js';
import { StockStore } from '../server/store/stock-store.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    skus: { type: 'string', default: '1000' },
    via: { type: 'string', default: 'store' },
    'pool-size': { type: 'string', default: '10' },
    'rate-limit': { type: 'string', default: 'off' },
    'redis-url': { type: 'string' },
    stores: { type: 'string', default: 'postgres' },
    combine: { type: 'string', default: 'off' },
    prepared: { type: 'string', default: 'on' },
    'combine-max': { type: 'string', default: '100' },
    'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
  },
});
const viaHttp = values.via === 'http';
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const skuCount = Number(values.skus);

interface Result {
  readonly ok: number;
  readonly refused: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

type Adjust = (sku: string, delta: number) => Promise<'ok' | 'refused'>;

function storeAdjust(store: StockStore, merchantId: string): Adjust {
  return async (sku, delta) => {
    try {
      await store.adjustStock(merchantId, sku, { delta, reason: 'measure' });
      return 'ok';
    } catch (error) {
      if (error instanceof StockwireError && error.code === 'insufficient_stock') return 'refused';
      throw error;
    }
  };
}

function httpAdjust(apiUrl: string, secretKey: string): Adjust {
  return async (sku, delta) => {
    const res = await fetch(`${apiUrl}/v1/stock/${encodeURIComponent(sku)}/adjust`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ delta, reason: 'measure' }),
    });
    await res.arrayBuffer();
    if (res.status === 200) return 'ok';
    if (res.status === 409) return 'refused';
    throw new Error(`adjust answered ${res.status}`);
  };
}

async function run(adjust: Adjust, pick: () => string, forSeconds = seconds): Promise<Result> {
  const latencies: number[] = [];
  let ok = 0;
  let refused = 0;
  const end = performance.now() + forSeconds * 1000;
  const started = performance.now();
  let flip = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        // Alternate -1/+1 so the stock neither runs out nor grows without bound.
        const delta = flip++ % 2 === 0 ? -1 : 1;
        if ((await adjust(pick(), delta)) === 'ok') ok++;
        else refused++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 100) / 100;
  return { ok, refused, perSecond: Math.round((ok + refused) / elapsed), p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** Rounds merged: summed counts and rate; p50/p99 as the median of the rounds' (a fair summary for equal rounds). */
function merge(results: readonly Result[]): Result {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return {
    ok: results.reduce((sum, r) => sum + r.ok, 0),
    refused: results.reduce((sum, r) => sum + r.refused, 0),
    perSecond: Math.round(results.reduce((sum, r) => sum + r.perSecond, 0) / results.length),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
  };
}

const name = `stockwire_measure_${randomBytes(3).toString('hex')}`;
if (values.combine === 'compare' || values.prepared === 'compare') {
  const databaseUrl = await createDatabase(values['admin-url']!, name);
  try {
    console.log(JSON.stringify(await compareStores(databaseUrl, values.combine === 'compare' ? 'combine' : 'prepared'), null, 2));
  } finally {
    await dropDatabase(values['admin-url']!, name);
  }
  process.exit(0);
}

const storeNames = values.stores!.split(',').map((s) => s.trim());
for (const storeName of storeNames) {
  if (storeName !== 'postgres' && storeName !== 'mariadb') throw new Error(`--stores: unknown store ${storeName}`);
}
if (storeNames.length > 1 && values['rate-limit'] === 'compare') throw new Error('--stores with several stores and --rate-limit compare: one comparison per run');

interface Opened {
  readonly store: StockStore;
  readonly merchant: { id: string; secretKey: string };
  readonly drop: () => Promise<void>;
}

/** A scratch database on the named server, migrated, with a merchant, the hot SKU and the spread SKUs. */
async function openScratch(storeName: string): Promise<Opened> {
  const mysql = storeName === 'mariadb';
  const databaseUrl = mysql ? await createMysqlDatabase(values['mysql-url']!, name) : await createDatabase(values['admin-url']!, name);
  const drop = () => (mysql ? dropMysqlDatabase(values['mysql-url']!, name) : dropDatabase(values['admin-url']!, name));
  const store = await StockStore.open({
    databaseUrl,
    dataDir: 'memory://',
    idempotencyTtlHours: 24,
    reservationSweepIntervalMs: 0,
    // The production default (10): a node never has more than that many transactions on one row.
    poolSize: Number(values['pool-size']),
  });
  // How a benchmark sets up: a merchant and its products straight through the store.
  const merchant = await store.createMerchant({ name: 'measure' });
  await store.setStock(merchant.id, 'HOT', { onHand: 1_000_000 });
  for (let i = 0; i < skus.length; i += 500) {
    await store.applyBatch(merchant.id, skus.slice(i, i + 500).map((sku) => ({ sku, onHand: 1_000_000 })));
  }
  return { store, merchant, drop };
}

const skus = Array.from({ length: skuCount }, (_, i) => `SKU-${String(i).padStart(4, '0')}`);
const pickSpread = () => skus[Math.floor(Math.random() * skus.length)]!;
const opened = new Map<string, Opened>();
const apps: FastifyInstance[] = [];
try {
  for (const storeName of storeNames) opened.set(storeName, await openScratch(storeName));
  const compare = viaHttp && values['rate-limit'] === 'compare';
  const limiters = compare ? ['off', 'memory', ...(values['redis-url'] ? ['redis'] : [])] : ['off'];
  // One mode per store and limiter: `postgres/off`, `postgres/memory`, `mariadb/off`, …
  const adjusters = new Map<string, Adjust>();
  for (const [storeName, { store, merchant }] of opened) {
    for (const limiter of limiters) {
      const mode = `${storeName}/${limiter}`;
      if (!viaHttp) {
        adjusters.set(mode, storeAdjust(store, merchant.id));
        continue;
      }
      // On: every request is counted, but the limits are too high to refuse any.
      const limit = limiter === 'off' ? '0' : '1000000000';
      const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_KEY_PER_MINUTE: limit, RATE_LIMIT_PER_IP_PER_MINUTE: limit });
      const app = buildApp({
        store,
        http: config.http,
        adminToken: undefined,
        publicWsUrl: config.publicWsUrl,
        ...(limiter === 'redis' ? { rateLimitRedis: { url: values['redis-url']!, keyPrefix: `${name}:` } } : {}),
      });
      apps.push(app);
      adjusters.set(mode, httpAdjust(await app.listen({ port: 0, host: '127.0.0.1' }), merchant.secretKey));
    }
  }
  const modes = [...adjusters.keys()];
  const byMode: Record<string, { hotSku: Result; spread: Result }> = {};
  if (modes.length > 1) {
    // Interleaved one-second rounds (after a discarded warm-up), so a busy machine's drift hits every
    // mode alike; each mode's result merges its rounds.
    for (const adjust of adjusters.values()) await run(adjust, pickSpread, 1);
    const rounds = new Map<string, { hot: Result[]; spread: Result[] }>(modes.map((m) => [m, { hot: [], spread: [] }]));
    for (let round = 0; round < seconds; round++) {
      for (const mode of modes) rounds.get(mode)!.hot.push(await run(adjusters.get(mode)!, () => 'HOT', 1));
      for (const mode of modes) rounds.get(mode)!.spread.push(await run(adjusters.get(mode)!, pickSpread, 1));
    }
    for (const [mode, r] of rounds) byMode[mode] = { hotSku: merge(r.hot), spread: merge(r.spread) };
  } else {
    const adjust = adjusters.get(modes[0]!)!;
    byMode[modes[0]!] = { hotSku: await run(adjust, () => 'HOT'), spread: await run(adjust, pickSpread) };
  }
  const journalAgrees: Record<string, boolean> = {};
  for (const [storeName, { store, merchant }] of opened) {
    const row = await store.getStock(merchant.id, 'HOT');
    const journal = await store.journal(merchant.id, 'HOT');
    journalAgrees[storeName] = journal.reduce((s, j) => s + j.onHandDelta, 0) === row!.onHand;
  }
  const first = `${storeNames[0]}/off`;
  const { hotSku: hot, spread } = byMode[first]!;
  const byStore = storeNames.length > 1 ? Object.fromEntries(storeNames.map((s) => [s, byMode[`${s}/off`]!])) : undefined;
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const vsFirst = byStore
    ? Object.fromEntries(
        storeNames.slice(1).map((s) => [
          s,
          { hotSkuRate: ratio(byStore[s]!.hotSku.perSecond, hot.perSecond), spreadRate: ratio(byStore[s]!.spread.perSecond, spread.perSecond) },
        ]),
      )
    : undefined;
  const rateLimiter = limiters.length > 1 ? Object.fromEntries(limiters.map((l) => [l, byMode[`${storeNames[0]}/${l}`]!])) : undefined;
  const os = await import('node:os');
  console.log(
    JSON.stringify(
      {
        via: viaHttp ? 'http' : 'store',
        seconds,
        concurrency,
        poolSize: Number(values['pool-size']),
        load1: os.loadavg()[0],
        cores: os.cpus().length,
        store: storeNames[0],
        hotSku: hot,
        [`${skuCount}Skus`]: spread,
        journalAgrees: storeNames.length > 1 ? journalAgrees : journalAgrees[storeNames[0]!],
        ...(byStore ? { stores: byStore, [`ratioTo_${storeNames[0]}`]: vsFirst } : {}),
        ...(rateLimiter ? { rateLimiter } : {}),
        load1After: os.loadavg()[0],
      },
      null,
      2,
    ),
  );
} finally {
  for (const app of apps) await app.close();
  for (const { store, drop } of opened.values()) {
    await store.close();
    await drop();
  }
}

/** Transactions the scratch database has committed, as the statistics collector last heard. */
async function committedTransactions(): Promise<number> {
  const client = new pg.Client({ connectionString: values['admin-url'] });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('select xact_commit as n from pg_stat_database where datname = $1', [name]);
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/**
 * Adjusts with a store setting on and off, interleaved rounds, with PostgreSQL transactions per adjust:
 * `combine` on one hot SKU (combining on and off), `prepared` over `--skus` SKUs (the adjust statement
 * prepared per connection or not; SKUs that are not hot take the one-statement path).
 */
async function compareStores(databaseUrl: string, setting: 'combine' | 'prepared') {
  const modes = setting === 'combine' ? ({ on: Number(values['combine-max']), off: 1 } as const) : ({ on: 1, off: 1 } as const);
  const openFor = (combineMaxItems: number, preparedStatements = true) =>
    StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0, poolSize: Number(values['pool-size']), combineMaxItems, preparedStatements });
  const setup = await openFor(1);
  const merchant = await setup.createMerchant({ name: 'measure' });
  await setup.setStock(merchant.id, 'HOT', { onHand: 1_000_000 });
  const skus = Array.from({ length: skuCount }, (_, i) => `SKU-${String(i).padStart(4, '0')}`);
  if (setting === 'prepared') {
    for (let i = 0; i < skus.length; i += 500) await setup.applyBatch(merchant.id, skus.slice(i, i + 500).map((sku) => ({ sku, onHand: 1_000_000 })));
  }
  await setup.close();
  const pick = setting === 'combine' ? () => 'HOT' : () => skus[Math.floor(Math.random() * skus.length)]!;
  const rounds: Record<keyof typeof modes, Array<Result & { transactions: number; groups: number }>> = { on: [], off: [] };
  for (let round = 0; round < 3; round++) {
    for (const mode of ['on', 'off'] as const) {
      const store = await openFor(modes[mode], setting === 'prepared' ? mode === 'on' : true);
      const apps: FastifyInstance[] = [];
      let adjust = storeAdjust(store, merchant.id);
      if (viaHttp) {
        const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_KEY_PER_MINUTE: '0', RATE_LIMIT_PER_IP_PER_MINUTE: '0' });
        const app = buildApp({ store, http: config.http, adminToken: undefined, publicWsUrl: config.publicWsUrl });
        apps.push(app);
        adjust = httpAdjust(await app.listen({ port: 0, host: '127.0.0.1' }), merchant.secretKey);
      }
      const before = await committedTransactions();
      const result = await run(adjust, pick);
      for (const app of apps) await app.close();
      const { groups } = store.combiningStats;
      // Closing ends the pool's backends, which report their counts as they exit.
      await store.close();
      // The exiting backends report a moment after the pool closed: read until two reads agree.
      let after = await committedTransactions();
      for (let previous = Number.NaN, tries = 0; after !== previous && tries < 50; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        previous = after;
        after = await committedTransactions();
      }
      rounds[mode].push({ ...result, transactions: after - before, groups });
    }
  }
  const summarize = (mode: keyof typeof modes) => {
    const r = rounds[mode];
    const adjusts = r.reduce((sum, x) => sum + x.ok + x.refused, 0);
    const transactions = r.reduce((sum, x) => sum + x.transactions, 0);
    const groups = r.reduce((sum, x) => sum + x.groups, 0);
    const perAdjust = Math.round((transactions / adjusts) * 1000) / 1000;
    return { [setting === 'combine' ? 'combineMaxItems' : 'preparedStatements']: setting === 'combine' ? modes[mode] : mode === 'on', ...merge(r), adjusts, transactions, transactionsPerAdjust: perAdjust, meanGroup: Math.round((adjusts / groups) * 10) / 10 };
  };
  const summary = { on: summarize('on'), off: summarize('off') };
  const os = await import('node:os');
  return {
    via: viaHttp ? 'http' : 'store',
    secondsPerRound: seconds,
    rounds: 3,
    concurrency,
    poolSize: Number(values['pool-size']),
    load1: os.loadavg()[0],
    cores: os.cpus().length,
    [setting === 'combine' ? 'hotSku' : `${skuCount}Skus`]: summary,
    ratios: {
      adjustsPerSecondOnOverOff: Math.round((summary.on.perSecond / summary.off.perSecond) * 100) / 100,
      transactionsPerAdjustOnOverOff: Math.round((summary.on.transactionsPerAdjust / summary.off.transactionsPerAdjust) * 1000) / 1000,
    },
  };
}
