/**
 * The six scenarios. Each starts every requested system in turn as a child process, drives it with
 * the same generator and writer, and answers one result per system. Every phase is bounded in time.
 */
import cliProgress from 'cli-progress';
import { loadavg } from 'node:os';
import pg from 'pg';
import { type Worker } from 'node:worker_threads';
import { openBackends, type BenchBackends } from './backends.js';
import { readProc, readTreeRss, type ProcSample } from './child.js';
import { nowMs, sleep, waitFor } from './clock.js';
import { loadConfig } from '../../server/config.js';
import type { ChurnInit, ChurnResult } from './churn-protocol.js';
import { ServerMetricsProbe, type ServerPhase } from './server-metrics.js';
import { skuName } from './frames.js';
import type { ClientKind } from './load-protocol.js';
import { LoadGenerator, createWriteClock, type WriteClock } from './generator.js';
import { limitsRun } from './limits-scenario.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { machineInfo, raiseFileLimit, type MachineInfo } from './machine.js';
import { freePort } from '../../test/support/ports.js';
import { nextMessage, spawnTsWorker } from './spawn-worker.js';
import { startSystem, stockwireNames, type RunningSystem, type SystemName } from './systems.js';
import type { WriterInit, WriterResult } from './write-protocol.js';

export const scenarioNames = ['fanout', 'hot-product', 'connect-storm', 'capacity', 'writes', 'flash-sale', 'churn-attack', 'limits'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface ScenarioOptions {
  readonly systems: readonly SystemName[];
  readonly connections: number;
  readonly products: number;
  readonly perConn: number;
  /** Writes per second (open loop) for fanout and hot-product. */
  readonly rate: number;
  readonly durationS: number;
  /** How long after the last write clients may take to converge before they count as lost (capacity: idle wait before reading RSS). */
  readonly settleS: number;
  readonly workers: number;
  readonly client: ClientKind;
  readonly sourceAddresses: number;
  readonly connectConcurrency: number;
  readonly publishIntervalMs: number;
  /** Stockwire's WRITE_COMBINE_MAX_ITEMS (1: combining off); unset, the server's default. */
  readonly writeCombineMaxItems?: number;
  /** The `stockwire-node-flags` system's node flags and environment variables (`--optimize-for-size`, `MALLOC_ARENA_MAX=2`). */
  readonly nodeFlags?: readonly string[];
  /** writes: closed-loop lanes, and the number of SKUs of the spread phase. */
  readonly concurrency: number;
  readonly skus: number;
  /** limits: alone / flooded pairs of phases (default 2). */
  readonly phases?: number;
  /** limits: seconds of writes and flood before the first phase, not counted (default 0). */
  readonly warmupS?: number;
  /** A server above this RSS is killed and its run marked failed (bounds a baseline that buffers without limit). */
  readonly rssCapMb: number;
  readonly progress: boolean;
  readonly redisUrl: string;
  readonly postgresAdminUrl: string;
  /** RabbitMQ broker for the `stockwire-amqp` system. */
  readonly amqpUrl?: string;
  /** Use this database instead of creating one (tests). */
  readonly databaseUrl?: string;
  /** Redis key prefix of the run (tests pass theirs). */
  readonly prefix?: string;
}

export interface SystemResult {
  readonly system: SystemName;
  readonly label: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly metrics: Metrics;
}

export interface Metrics {
  connections?: {
    requested: number;
    open: number;
    failed: number;
    /** Closed by the server after opening (e.g. as a slow reader); such a client reconnects, as the SDK does. */
    dropped: number;
    reconnects?: number;
    errors: Record<string, number>;
  };
  framesDelivered?: number;
  framesExpectedUnfolded?: number;
  framesPerSec?: number;
  /** Frames delivered per CPU-second the server spent (user + system): the per-core frame rate. */
  framesPerServerCpuSecond?: number | null;
  latency?: LatencySummary | null;
  untimedFrames?: number;
  lost?: number;
  regressions?: number;
  convergeMs?: number | null;
  writes?: {
    issued: number;
    ok: number;
    failed: number;
    behind: number;
    perSec: number;
    latency: LatencySummary | null;
    errors: Record<string, number>;
  };
  writesSpread?: Metrics['writes'];
  /** flash-sale: closed-loop adjusts of one hot SKU with nobody watching, then with every connection watching it. */
  flashSale?: {
    unwatched: NonNullable<Metrics['writes']>;
    watched: NonNullable<Metrics['writes']>;
    /** Watched adjusts/s over unwatched adjusts/s. */
    kept: number | null;
    /** PostgreSQL transactions committed per acknowledged adjust (pg_stat_database.xact_commit delta). */
    xactPerAdjustUnwatched: number | null;
    xactPerAdjustWatched: number | null;
  };
  /** churn-attack: the same open-loop adjusts while one address churns subscriptions. */
  writesUnderAttack?: Metrics['writes'];
  attack?: ChurnResult & { readonly sockets: number; readonly skusPerSub: number; readonly intervalMs: number };
  /** churn-attack: the adjusts and event loop as the server saw them, alone and under attack. */
  serverAlone?: ServerPhase;
  serverUnderAttack?: ServerPhase;
  /** churn-attack: adjust p99 under attack / without it, in the same run (target ≤ 2). */
  attackP99Ratio?: number | null;
  /** limits: one merchant's writes and frames alone and while another floods past its limits. */
  limits?: {
    alone: { writes: NonNullable<Metrics['writes']>; frames: LatencySummary | null };
    flooded: { writes: NonNullable<Metrics['writes']>; frames: LatencySummary | null };
    /** Flooded p99 / alone p99, in the same run (target ≤ 1.2). */
    writeP99Ratio: number | null;
    frameP99Ratio: number | null;
    flooder: {
      writesPerMinute: number;
      connections: number;
      writesOk: number;
      writes429: number;
      writesOther: number;
      sockets: { opened: number; refused429: number; failed: number; maxOpen: number };
    };
    /** Each phase in run order (a flooder's accepted writes come in a burst at the start of its minute). */
    phases: Array<{ flooded: boolean; writeP99Ms: number | null; frameP99Ms: number | null; floodWritesOk: number }>;
  };
  connectAllMs?: number | null;
  idleConnections?: number;
  /** RSS of the server's whole process tree, idle with no clients (capacity). */
  rssBeforeMb?: number;
  /** The same with every client connected and subscribed, after the settle time. */
  rssAfterMb?: number;
  bytesPerConnection?: number | null;
  server?: { cpuSeconds: number; cpuPercent: number; peakRssMb: number; killedOverRssCap: boolean };
  generator?: { cpuSeconds: number; shareOfMachine: number };
  redisCpuSeconds?: number | null;
  wallSeconds?: number;
}

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  readonly options: Omit<ScenarioOptions, 'redisUrl' | 'postgresAdminUrl' | 'amqpUrl' | 'databaseUrl' | 'prefix' | 'progress'>;
  readonly notes: string[];
  readonly results: SystemResult[];
}

const MB = 1024 * 1024;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

export async function runScenario(scenario: ScenarioName, requested: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = new Date().toISOString();
  const limit = raiseFileLimit();
  const notes: string[] = [];
  // On a shared machine the other load is part of every figure: say how much there was.
  notes.push(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1 / 5 / 15 min) on ${machineInfo().cpus} cores`);
  // Each connection costs one descriptor in the generator and one in the server; both processes live
  // under the same per-process limit, so the run is capped below it (listen sockets, Redis, PostgreSQL, workers).
  const maxConnections = Math.max(1, Math.min(limit.soft, limit.hard) - 400);
  let connections = requested.connections;
  if (connections > maxConnections) {
    notes.push(
      `connections capped at ${maxConnections} (asked ${requested.connections}): the open-files limit is ${limit.soft} per process and cannot be raised here`,
    );
    connections = maxConnections;
  }
  const options = { ...requested, connections };
  const needDatabase = options.systems.some((s) => stockwireNames.includes(s));
  const backends = await openBackends({
    redisUrl: options.redisUrl,
    postgresAdminUrl: options.postgresAdminUrl,
    needDatabase,
    ...(options.systems.some((s) => s.startsWith('stockwire-amqp')) && options.amqpUrl ? { amqpUrl: options.amqpUrl } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.prefix ? { prefix: options.prefix } : {}),
  });
  const results: SystemResult[] = [];
  try {
    for (const system of options.systems) {
      // stockwire-node-flags is the same server under other node flags: it runs wherever stockwire does.
      if ((scenario === 'writes' || scenario === 'churn-attack' || scenario === 'limits') && system !== 'stockwire' && system !== 'stockwire-node-flags') {
        notes.push(`${scenario} measures Stockwire's REST → PostgreSQL path only; ${system} skipped`);
        continue;
      }
      if (scenario === 'flash-sale' && (!stockwireNames.includes(system) || system === 'stockwire-delivery')) {
        notes.push(`flash-sale measures REST adjusts against watchers of one node; ${system} has no REST path, skipped`);
        continue;
      }
      if ((scenario === 'connect-storm' || scenario === 'capacity') && system !== 'stockwire' && system !== 'stockwire-node-flags' && stockwireNames.includes(system)) {
        notes.push(`${scenario} has no writes: ${system} is the same realtime server as stockwire, skipped`);
        continue;
      }
      results.push(await runOne(scenario, system, options, backends));
      await sleep(500); // let sockets in TIME_WAIT and the last child's memory go before the next system
    }
  } finally {
    await backends.dispose();
  }
  const { redisUrl: _r, postgresAdminUrl: _p, amqpUrl: _a, databaseUrl: _d, prefix: _x, progress: _g, ...shown } = options;
  return { scenario, startedAt, finishedAt: new Date().toISOString(), machine: machineInfo(), options: shown, notes, results };
}

async function runOne(scenario: ScenarioName, name: SystemName, options: ScenarioOptions, backends: BenchBackends): Promise<SystemResult> {
  const products = scenario === 'hot-product' || scenario === 'flash-sale' ? 1 : scenario === 'writes' ? options.skus : options.products;
  // churn-attack measures the shipped socket limits; every other scenario turns them off (load from one address).
  // It also reads the server's own metrics, so its port is on.
  const metricsPort = scenario === 'churn-attack' ? await freePort() : 0;
  const extraEnv = {
    ...(scenario === 'churn-attack' ? { ...shippedSocketLimits(), METRICS_PORT: String(metricsPort) } : {}),
    ...(options.writeCombineMaxItems === undefined ? {} : { WRITE_COMBINE_MAX_ITEMS: String(options.writeCombineMaxItems) }),
  };
  const skus = Array.from({ length: products }, (_, i) => skuName(i));
  let system: RunningSystem | undefined;
  const metrics: Metrics = {};
  try {
    system = await startSystem(name, backends, { publishIntervalMs: options.publishIntervalMs, skus, extraEnv, ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}) });
    const watchdog = watchRss(system, options.rssCapMb);
    try {
      switch (scenario) {
        case 'fanout':
        case 'hot-product':
          await deliveryRun(scenario, system, options, backends, products, metrics, watchdog);
          break;
        case 'connect-storm':
          await connectStormRun(system, options, metrics, watchdog);
          break;
        case 'capacity':
          await capacityRun(system, options, metrics, watchdog);
          break;
        case 'writes':
          await writesRun(system, options, backends, metrics, watchdog);
          break;
        case 'flash-sale':
          await flashSaleRun(system, options, backends, metrics, watchdog);
          break;
        case 'churn-attack':
          await churnAttackRun(system, options, backends, new ServerMetricsProbe(`http://127.0.0.1:${metricsPort}/metrics`), metrics, watchdog);
          break;
        case 'limits':
          await limitsRun(system, options, backends, metrics, watchdog);
          break;
      }
    } finally {
      watchdog.stop();
      if (metrics.server) metrics.server.killedOverRssCap = watchdog.killed;
    }
    if (watchdog.killed) throw new Error(`server killed: RSS above the ${options.rssCapMb} MB cap`);
    return { system: name, label: system.label, ok: true, metrics };
  } catch (error) {
    const tail = system?.child.stderrTail().trim().split('\n').slice(-3).join(' | ');
    const message = (error as Error).message + (tail ? ` (server stderr: ${tail})` : '');
    if (options.progress) console.error(`\n${name}: ${message}`);
    return { system: name, label: system?.label ?? name, ok: false, error: message, metrics };
  } finally {
    await system?.stop();
  }
}

export interface Watchdog {
  readonly killed: boolean;
  peakRssBytes: number;
  stop(): void;
}

function watchRss(system: RunningSystem, capMb: number): Watchdog {
  const state = { killed: false, peakRssBytes: 0 };
  const timer = setInterval(() => {
    const sample = readProc(system.child.pid);
    if (!sample) return;
    state.peakRssBytes = Math.max(state.peakRssBytes, sample.rssBytes);
    if (sample.rssBytes > capMb * MB && !state.killed) {
      state.killed = true;
      system.child.process.kill('SIGKILL');
    }
  }, 200);
  return {
    get killed() {
      return state.killed;
    },
    get peakRssBytes() {
      return state.peakRssBytes;
    },
    set peakRssBytes(v: number) {
      state.peakRssBytes = v;
    },
    stop: () => clearInterval(timer),
  };
}

/** CPU of the server, this process (the generator and writer threads) and Redis over one window. */
export class Window {
  private readonly startedAt = nowMs();
  private readonly server: ProcSample | null;
  private readonly redisCpuAtStart: number | null;
  private readonly self = process.cpuUsage();
  private readonly redisPids: readonly number[];

  constructor(
    private readonly system: RunningSystem,
    redisPid: number | null,
  ) {
    this.server = this.sample();
    // A system with Redis processes of its own (the cluster variant) is charged for those instead.
    this.redisPids = system.redisPids ?? (redisPid === null ? [] : [redisPid]);
    this.redisCpuAtStart = this.redisCpu();
  }

  private redisCpu(): number | null {
    if (this.redisPids.length === 0) return null;
    let seconds = 0;
    for (const pid of this.redisPids) seconds += readProc(pid)?.cpuSeconds ?? 0;
    return seconds;
  }

  /** CPU summed over every process of the system; memory of the one clients connect to. */
  private sample(): ProcSample | null {
    const main = readProc(this.system.child.pid);
    if (!main) return null;
    let cpuSeconds = 0;
    for (const pid of this.system.pids) cpuSeconds += readProc(pid)?.cpuSeconds ?? 0;
    return { ...main, cpuSeconds };
  }

  finish(metrics: Metrics, watchdog: Watchdog): void {
    const wall = (nowMs() - this.startedAt) / 1000;
    const server = this.sample();
    const redisCpu = this.redisCpu();
    const self = process.cpuUsage(this.self);
    const serverCpu = server && this.server ? server.cpuSeconds - this.server.cpuSeconds : 0;
    const generatorCpu = (self.user + self.system) / 1e6;
    metrics.wallSeconds = round(wall, 2);
    metrics.server = {
      cpuSeconds: round(serverCpu, 2),
      cpuPercent: round((serverCpu / wall) * 100),
      peakRssMb: round(Math.max(server?.peakRssBytes ?? 0, watchdog.peakRssBytes) / MB),
      killedOverRssCap: watchdog.killed,
    };
    metrics.generator = {
      cpuSeconds: round(generatorCpu, 2),
      shareOfMachine: round(generatorCpu / (wall * machineInfo().cpus), 3),
    };
    metrics.redisCpuSeconds = redisCpu !== null && this.redisCpuAtStart !== null ? round(redisCpu - this.redisCpuAtStart, 2) : null;
  }
}

function progressBar(options: ScenarioOptions, system: RunningSystem, total: number) {
  if (!options.progress) return { update: (_v: number, _p?: object) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${system.name.padEnd(18)} |{bar}| {phase} {value}/{total} · open {open} · frames {frames}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { phase: 'start', open: 0, frames: 0 });
  return { update: (value: number, payload?: object) => bar.update(value, payload), stop: () => bar.stop() };
}

export async function openClients(
  system: RunningSystem,
  options: ScenarioOptions,
  clock: WriteClock,
  products: number,
  perConn: number,
  recordLatency: boolean,
  concurrency: number,
): Promise<{ generator: LoadGenerator; connectMs: number }> {
  const generator = await LoadGenerator.start(
    {
      url: system.wsUrl,
      ...(system.origin ? { origin: system.origin } : {}),
      protocol: system.protocol,
      client: options.client,
      connections: options.connections,
      perConn,
      products,
      workers: options.workers,
      sourceAddresses: options.sourceAddresses,
      connectTimeoutMs: 30_000,
      connectBudgetMs: 180_000,
      recordLatency,
    },
    clock,
  );
  const bar = progressBar(options, system, options.connections);
  const timer = setInterval(() => {
    const c = generator.counters();
    bar.update(c.snapshots, { phase: 'subscribed', open: c.open, frames: c.frames });
  }, 250);
  const started = nowMs();
  try {
    await generator.connect(concurrency);
    await waitFor(() => {
      const c = generator.counters();
      return c.snapshots >= c.open;
    }, 60_000);
    const c = generator.counters();
    bar.update(c.snapshots, { phase: 'subscribed', open: c.open, frames: c.frames });
  } finally {
    clearInterval(timer);
    bar.stop();
  }
  return { generator, connectMs: nowMs() - started };
}

export function startWriter(init: WriterInit): { worker: Worker; done: Promise<WriterResult> } {
  const worker = spawnTsWorker(new URL('./write-worker.ts', import.meta.url), init);
  const done = (async () => {
    await nextMessage<unknown>(worker, (m) => m === 'ready', 60_000);
    const result = nextMessage<WriterResult | string>(worker, (m) => typeof m === 'object', init.durationMs + 120_000);
    worker.postMessage('start');
    const answer = (await result) as WriterResult;
    await worker.terminate();
    return answer;
  })();
  return { worker, done };
}

export function writeMetrics(result: WriterResult): NonNullable<Metrics['writes']> {
  const span = Math.max(1e-3, (result.lastDoneAt - result.firstIssueAt) / 1000);
  return {
    issued: result.issued,
    ok: result.ok,
    failed: result.failed,
    behind: result.behind,
    perSec: round(result.ok / span),
    latency: mergeSummary(result.latency),
    errors: result.errors,
  };
}

function mergeSummary(latency: WriterResult['latency']): LatencySummary | null {
  const h = new Histogram();
  h.merge(latency);
  return h.summary();
}

/** fanout and hot-product: connect, write at a fixed rate, wait for convergence, count what arrived. */
async function deliveryRun(
  scenario: 'fanout' | 'hot-product',
  system: RunningSystem,
  options: ScenarioOptions,
  _backends: BenchBackends,
  products: number,
  metrics: Metrics,
  watchdog: Watchdog,
): Promise<void> {
  const perConn = scenario === 'hot-product' ? 1 : Math.min(options.perConn, products);
  const timed = scenario === 'fanout';
  const clock = createWriteClock(products);
  const finals = new Int32Array(clock.finalVersions);
  system.startVersions.forEach((v, p) => (finals[p] = v));
  const { generator } = await openClients(system, options, clock, products, perConn, timed, options.connectConcurrency);
  try {
    const before = generator.counters();
    metrics.connections = { requested: options.connections, open: before.open, failed: before.failed, dropped: before.dropped, errors: {} };
    await generator.resetMeasurements();
    const window = new Window(system, _backends.redisPid);
    const durationMs = options.durationS * 1000;
    const writer = startWriter({
      target: system.writeTarget,
      skus: Array.from({ length: products }, (_, i) => skuName(i)),
      startVersions: system.startVersions,
      mode: 'open',
      rate: options.rate,
      durationMs,
      maxInFlight: timed ? products : 256,
      timed,
      concurrency: 1,
      ...clock,
    });
    const bar = progressBar(options, system, options.durationS);
    const started = nowMs();
    const timer = setInterval(() => {
      const c = generator.counters();
      bar.update(Math.min(options.durationS, Math.floor((nowMs() - started) / 1000)), { phase: 'writing', open: c.open, frames: c.frames });
    }, 250);
    let written: WriterResult;
    try {
      written = await writer.done;
    } finally {
      clearInterval(timer);
      bar.update(options.durationS, { phase: 'converging', open: generator.counters().open, frames: generator.counters().frames });
      bar.stop();
    }
    // Stockwire: watchers end on the public version, which moves once per combined group of writes.
    (await system.publicVersions?.(Array.from({ length: products }, (_, i) => skuName(i))))?.forEach((v, p) => (finals[p] = v));
    const converged = await generator.converge(nowMs() + options.settleS * 1000);
    const counters = generator.counters();
    window.finish(metrics, watchdog);
    const { latency, errors } = await generator.collect();
    // Subscribers per product follow the assignment rule in load-worker.ts.
    const subscribers = new Float64Array(products);
    for (let i = 0; i < options.connections; i++) for (let k = 0; k < perConn; k++) subscribers[(i * perConn + k) % products]! += 1;
    const meanSubscribers = subscribers.reduce((a, b) => a + b, 0) / products;
    metrics.connections = {
      ...metrics.connections,
      open: counters.open,
      dropped: counters.dropped,
      reconnects: counters.reconnects,
      failed: counters.failed,
      errors,
    };
    metrics.writes = writeMetrics(written);
    metrics.framesDelivered = counters.frames;
    metrics.framesExpectedUnfolded = Math.round(written.ok * meanSubscribers);
    const span = (counters.lastFrameAt - written.firstIssueAt) / 1000;
    metrics.framesPerSec = span > 0 ? Math.round(counters.frames / span) : 0;
    const serverCpu = metrics.server?.cpuSeconds ?? 0;
    metrics.framesPerServerCpuSecond = serverCpu > 0 ? Math.round(counters.frames / serverCpu) : null;
    metrics.latency = timed ? latency.summary() : null;
    metrics.untimedFrames = counters.untimed;
    metrics.lost = converged.lagging;
    metrics.regressions = counters.regressions;
    metrics.convergeMs = converged.lagging === 0 ? round(Math.max(0, counters.lastFrameAt - written.lastIssueAt)) : null;
  } finally {
    await generator.close();
  }
}

/** connect-storm: every client connects and subscribes at once; time until all hold a snapshot. */
async function connectStormRun(system: RunningSystem, options: ScenarioOptions, metrics: Metrics, watchdog: Watchdog): Promise<void> {
  const clock = createWriteClock(options.products);
  const window = new Window(system, null);
  const { generator, connectMs } = await openClients(system, options, clock, options.products, Math.min(options.perConn, options.products), false, options.connections);
  try {
    const c = generator.counters();
    window.finish(metrics, watchdog);
    const { errors } = await generator.collect();
    metrics.connections = { requested: options.connections, open: c.open, failed: c.failed, dropped: c.dropped, errors };
    const startedAt = nowMs() - connectMs;
    metrics.connectAllMs = c.snapshots >= options.connections ? round(c.lastSnapshotAt - startedAt) : null;
    metrics.lost = options.connections - c.snapshots;
  } finally {
    await generator.close();
  }
}

/** capacity: idle subscribed connections; server memory per connection from RSS before and after. */
async function capacityRun(system: RunningSystem, options: ScenarioOptions, metrics: Metrics, watchdog: Watchdog): Promise<void> {
  await sleep(options.settleS * 1000); // idle, no clients: start-up garbage collected
  const before = readTreeRss(system.child.pid);
  const window = new Window(system, null);
  const clock = createWriteClock(options.products);
  const { generator } = await openClients(system, options, clock, options.products, Math.min(options.perConn, options.products), false, options.connectConcurrency);
  try {
    await sleep(options.settleS * 1000); // idle: let allocations settle (and a GC run) before reading RSS
    const after = readTreeRss(system.child.pid);
    const c = generator.counters();
    window.finish(metrics, watchdog);
    const { errors } = await generator.collect();
    metrics.connections = { requested: options.connections, open: c.open, failed: c.failed, dropped: c.dropped, errors };
    metrics.idleConnections = c.snapshots;
    metrics.rssBeforeMb = round(before / MB);
    metrics.rssAfterMb = round(after / MB);
    metrics.bytesPerConnection = before > 0 && after > 0 && c.snapshots > 0 ? Math.round((after - before) / c.snapshots) : null;
  } finally {
    await generator.close();
  }
}

/** writes: closed-loop REST adjusts on one hot SKU, then spread over `skus` SKUs. */
async function writesRun(
  system: RunningSystem,
  options: ScenarioOptions,
  backends: BenchBackends,
  metrics: Metrics,
  watchdog: Watchdog,
): Promise<void> {
  const window = new Window(system, backends.redisPid);
  const phase = async (skuCount: number) =>
    writeMetrics(await showWriting(options, system, `adjusts on ${skuCount} sku`, startAdjusts(system, skuCount, closedLoopOf(options))));
  metrics.writes = await phase(1);
  metrics.writesSpread = await phase(options.skus);
  window.finish(metrics, watchdog);
}

/**
 * PostgreSQL's count of committed transactions in the run's database. Backends report their counts
 * when idle at most every PG_STATS_FLUSH_MS, so a reading taken that long after the load has them all.
 */
const PG_STATS_FLUSH_MS = 11_000;
async function committedTransactions(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const answer = await client.query<{ n: string }>('SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(answer.rows[0]?.n ?? NaN);
  } finally {
    await client.end();
  }
}

/**
 * flash-sale: `concurrency` closed-loop lanes of REST adjusts on one hot SKU for `durationS`, first
 * with nobody watching, then with `connections` sockets watching that product; how many adjusts per
 * second each time, how long after the last sale until every watcher holds the final stock, and how
 * many PostgreSQL transactions each adjust cost.
 */
async function flashSaleRun(
  system: RunningSystem,
  options: ScenarioOptions,
  backends: BenchBackends,
  metrics: Metrics,
  watchdog: Watchdog,
): Promise<void> {
  const databaseUrl = backends.databaseUrl!;
  const clock = createWriteClock(1);
  const finals = new Int32Array(clock.finalVersions);
  finals[0] = system.startVersions[0]!;
  const window = new Window(system, backends.redisPid);
  // The second phase starts where the first one left the product (`finals` is a view of the clock).
  const phase = (name: string) => showWriting(options, system, name, startAdjusts(system, 1, closedLoopOf(options), { clock, startVersions: [finals[0]!] }));
  const perAdjust = (before: number, after: number, ok: number) => (ok > 0 && Number.isFinite(before) && Number.isFinite(after) ? round((after - before) / ok, 3) : null);

  const x0 = await committedTransactions(databaseUrl);
  const unwatched = await phase('adjusts, nobody watching');
  await sleep(PG_STATS_FLUSH_MS);
  const x1 = await committedTransactions(databaseUrl);

  const { generator } = await openClients(system, options, clock, 1, 1, false, options.connectConcurrency);
  try {
    await generator.resetMeasurements();
    const watched = await phase(`adjusts, ${options.connections} watching`);
    const flushed = nowMs() + PG_STATS_FLUSH_MS;
    // Watchers end on the public version, which moves once per combined group of writes.
    (await system.publicVersions?.([skuName(0)]))?.forEach((v, p) => (finals[p] = v));
    const converged = await generator.converge(nowMs() + options.settleS * 1000);
    const counters = generator.counters();
    window.finish(metrics, watchdog);
    const { errors } = await generator.collect();
    await sleep(Math.max(0, flushed - nowMs()));
    const x2 = await committedTransactions(databaseUrl);
    const a = writeMetrics(unwatched);
    const b = writeMetrics(watched);
    metrics.connections = { requested: options.connections, open: counters.open, failed: counters.failed, dropped: counters.dropped, reconnects: counters.reconnects, errors };
    metrics.flashSale = {
      unwatched: a,
      watched: b,
      kept: a.perSec > 0 ? round(b.perSec / a.perSec, 2) : null,
      xactPerAdjustUnwatched: perAdjust(x0, x1, unwatched.ok),
      xactPerAdjustWatched: perAdjust(x1, x2, watched.ok),
    };
    metrics.framesDelivered = counters.frames;
    metrics.lost = converged.lagging;
    metrics.regressions = counters.regressions;
    // From the last sale's answer: a frame may leave before the HTTP answer does (then 0).
    metrics.convergeMs = converged.lagging === 0 ? round(Math.max(0, counters.lastFrameAt - watched.lastDoneAt)) : null;
  } finally {
    await generator.close();
  }
}

interface AdjustLoad {
  readonly mode: 'open' | 'closed';
  readonly rate: number;
  readonly lanes: number;
  readonly durationS: number;
}

/** `options.concurrency` lanes for `durationS`, each issuing its next write when the last one answered. */
function closedLoopOf(options: ScenarioOptions): AdjustLoad {
  return { mode: 'closed', rate: 0, lanes: options.concurrency, durationS: options.durationS };
}

/**
 * REST adjusts of the merchant on its first `skuCount` SKUs, untimed: closed loop over `lanes`, or
 * open loop at `rate`. `from`: the versions the SKUs hold now and the clock their watchers read
 * (by default, the versions the system started with and a clock nobody watches).
 */
function startAdjusts(
  system: RunningSystem,
  skuCount: number,
  load: AdjustLoad,
  from: { readonly clock: WriteClock; readonly startVersions: readonly number[] } = {
    clock: createWriteClock(skuCount),
    startVersions: system.startVersions.slice(0, skuCount),
  },
): { worker: Worker; done: Promise<WriterResult> } {
  return startWriter({
    target: system.writeTarget,
    skus: Array.from({ length: skuCount }, (_, i) => skuName(i)),
    startVersions: from.startVersions,
    mode: load.mode,
    rate: load.rate,
    durationMs: load.durationS * 1000,
    maxInFlight: load.mode === 'closed' ? load.lanes : 256,
    timed: false,
    concurrency: load.lanes,
    ...from.clock,
  });
}

/** Waits for a writer while the progress bar shows `label` and the seconds gone. */
async function showWriting(options: ScenarioOptions, system: RunningSystem, label: string, writer: { readonly done: Promise<WriterResult> }): Promise<WriterResult> {
  const bar = progressBar(options, system, options.durationS);
  const started = nowMs();
  const timer = setInterval(() => bar.update(Math.min(options.durationS, Math.floor((nowMs() - started) / 1000)), { phase: label, open: 0, frames: 0 }), 250);
  try {
    return await writer.done;
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

/** The socket limits as shipped (the config schema's defaults), so churn-attack measures what operators get. */
function shippedSocketLimits(): Record<string, string> {
  const limits = loadConfig({}).realtime;
  return {
    WS_MAX_CONNECTIONS_PER_IP: String(limits.maxConnectionsPerIp),
    WS_MAX_MESSAGES_PER_SECOND: String(limits.maxMessagesPerSecond),
    WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: String(limits.maxNewSubscriptionsPerSecond),
    WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: String(limits.maxNewSubscriptionsPerIpPerSecond),
    WS_MAX_REFUSED_FRAMES: String(limits.maxRefusedFrames),
    WS_ABUSE_WAIT_SECONDS: String(limits.abuseWaitSeconds),
  };
}

/** Just under the per-connection message limit (50/s): a sub and an unsub every 45 ms. */
const CHURN_INTERVAL_MS = 45;

/**
 * churn-attack: a merchant's REST adjusts at a fixed rate (open loop) for `durationS`, first alone,
 * then while `connections` sockets from one address, holding only the publishable key, each send
 * sub/unsub of `perConn` fresh SKUs every 45 ms. Both phases in one run; the answer is the ratio of
 * the adjust p99s.
 */
async function churnAttackRun(
  system: RunningSystem,
  options: ScenarioOptions,
  backends: BenchBackends,
  probe: ServerMetricsProbe,
  metrics: Metrics,
  watchdog: Watchdog,
): Promise<void> {
  const window = new Window(system, backends.redisPid);
  const adjusts = async () => {
    const atStart = await probe.start();
    const writes = writeMetrics(await startAdjusts(system, options.products, { mode: 'open', rate: options.rate, lanes: 1, durationS: options.durationS }).done);
    return { writes, server: await probe.finish(atStart) };
  };
  ({ writes: metrics.writes, server: metrics.serverAlone } = await adjusts());
  const init: ChurnInit = {
    url: system.wsUrl,
    sockets: options.connections,
    skusPerSub: options.perConn,
    intervalMs: CHURN_INTERVAL_MS,
    // A little longer than the writes, so the attack covers the whole measured phase.
    durationMs: options.durationS * 1000 + 1500,
  };
  const attacker = spawnTsWorker(new URL('./churn-worker.ts', import.meta.url), init);
  try {
    await nextMessage<unknown>(attacker, (m) => m === 'ready', 60_000);
    const attacked = nextMessage<ChurnResult | string>(attacker, (m) => typeof m === 'object', init.durationMs + 60_000);
    attacker.postMessage('start');
    await sleep(500); // the attack is under way before the measured writes start
    ({ writes: metrics.writesUnderAttack, server: metrics.serverUnderAttack } = await adjusts());
    const result = (await attacked) as ChurnResult;
    metrics.attack = { ...result, sockets: init.sockets, skusPerSub: init.skusPerSub, intervalMs: init.intervalMs };
  } finally {
    await attacker.terminate();
  }
  window.finish(metrics, watchdog);
  const before = metrics.writes.latency?.p99Ms;
  const during = metrics.writesUnderAttack.latency?.p99Ms;
  metrics.attackP99Ratio = before && during !== undefined ? round(during / before, 2) : null;
}
