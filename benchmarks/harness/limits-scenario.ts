/**
 * limits: one merchant's writes and frames while another merchant floods past its own limits.
 * The measured merchant writes at `rate`/s (open loop, timed) to `connections` watchers; the flooder
 * has `writesPerMinute` and `connections` limits and sends 10× its write rate and tries to hold 10×
 * its connections. After a warm-up with both (`warmupS`, not counted: the server's refusal paths and
 * the measured writes are compiled by then), phases alternate alone / flooded, `phases` times each,
 * in one run; the answer is the ratio of the measured merchant's p99s flooded to alone (target ≤ 1.2).
 */
import type { BenchBackends } from './backends.js';
import { nowMs, sleep } from './clock.js';
import type { FloodInit, FloodResult } from './flood-protocol.js';
import { skuName } from './frames.js';
import { createWriteClock } from './generator.js';
import { Histogram } from './histogram.js';
import { JsonClient } from './http-client.js';
import { Window, openClients, startWriter, writeMetrics, type Metrics, type ScenarioOptions, type Watchdog } from './scenarios.js';
import { nextMessage, spawnTsWorker } from './spawn-worker.js';
import { prepareProducts, type RunningSystem } from './systems.js';
import type { WriterResult } from './write-protocol.js';

/** The flooder's limits: 10 writes/s and 20 sockets; it tries 100 writes/s and 200 sockets. */
export const FLOODER_LIMITS = { writesPerMinute: 600, connections: 20 } as const;
const FLOOD_FACTOR = 10;
const FLOOD_PRODUCTS = 20;
/** A refused flood socket tries again after this long (a page reconnecting without backoff). */
const FLOOD_RETRY_MS = 1000;

interface Flooder {
  readonly id: string;
  readonly secretKey: string;
  readonly publishableKey: string;
  readonly skus: readonly string[];
  readonly startVersions: readonly number[];
}

async function createFlooder(system: RunningSystem): Promise<Flooder> {
  const admin = system.admin;
  if (!admin) throw new Error('limits needs Stockwire with its admin API');
  const client = new JsonClient(admin.apiUrl, `Bearer ${admin.token}`);
  try {
    const created = await client.request('POST', '/v1/merchants', { name: 'bench flooder' });
    if (created.status !== 201) throw new Error(`creating the flooder answered ${created.status}`);
    const flooder = created.body as { id: string; secretKey: string; publishableKey: string };
    const skus = Array.from({ length: FLOOD_PRODUCTS }, (_, i) => `flood-${skuName(i)}`);
    const startVersions = await prepareProducts(admin.apiUrl, flooder.secretKey, skus);
    const limited = await client.request('PATCH', `/v1/merchants/${flooder.id}`, { limits: FLOODER_LIMITS });
    if (limited.status !== 200) throw new Error(`setting the flooder's limits answered ${limited.status}`);
    return { ...flooder, skus, startVersions };
  } finally {
    client.close();
  }
}

/** Both floods for `durationMs`: REST writes at 10× the limit and 10× the sockets; `done` answers what happened. */
function startFlood(system: RunningSystem, flooder: Flooder, durationMs: number): { done: Promise<FloodResult> } {
  const init: FloodInit = {
    apiUrl: system.admin!.apiUrl,
    secretKey: flooder.secretKey,
    skus: flooder.skus,
    writeRate: (FLOOD_FACTOR * FLOODER_LIMITS.writesPerMinute) / 60,
    wsUrl: system.wsUrl.replace(/\?key=.*$/, `?key=${encodeURIComponent(flooder.publishableKey)}`),
    sockets: FLOOD_FACTOR * FLOODER_LIMITS.connections,
    retryMs: FLOOD_RETRY_MS,
    durationMs,
  };
  const worker = spawnTsWorker(new URL('./flood-worker.ts', import.meta.url), init);
  const done = (async () => {
    await nextMessage<unknown>(worker, (m) => m === 'ready', 60_000);
    const answer = nextMessage<FloodResult | string>(worker, (m) => typeof m === 'object', durationMs + 60_000);
    worker.postMessage('start');
    const result = (await answer) as FloodResult;
    await worker.terminate();
    return result;
  })();
  return { done };
}

export async function limitsRun(system: RunningSystem, options: ScenarioOptions, backends: BenchBackends, metrics: Metrics, watchdog: Watchdog): Promise<void> {
  const products = options.products;
  const skus = Array.from({ length: products }, (_, i) => skuName(i));
  const flooder = await createFlooder(system);
  const clock = createWriteClock(products);
  const finals = new Int32Array(clock.finalVersions);
  const { generator } = await openClients(system, options, clock, products, 1, true, options.connectConcurrency);
  const phases = { alone: { writes: new Histogram(), frames: new Histogram(), results: [] as WriterResult[] }, flooded: { writes: new Histogram(), frames: new Histogram(), results: [] as WriterResult[] } };
  const flood = { writesOk: 0, writes429: 0, writesOther: 0, sockets: { opened: 0, refused429: 0, failed: 0, maxOpen: 0 } };
  let lost = 0;
  const perPhase: Array<{ flooded: boolean; writeP99Ms: number | null; frameP99Ms: number | null; floodWritesOk: number }> = [];
  const order = [...Array.from({ length: options.phases ?? 2 }, () => [false, true]).flat()];
  // The other merchant's steady writes, the same in the warm-up and in every phase.
  const writeSteadily = (startVersions: Parameters<typeof startWriter>[0]['startVersions'], durationMs: number) =>
    startWriter({
      target: system.writeTarget,
      skus,
      startVersions,
      mode: 'open',
      rate: options.rate,
      durationMs,
      maxInFlight: products,
      timed: true,
      concurrency: 1,
      writeTimes: clock.writeTimes,
      writeVersions: clock.writeVersions,
      finalVersions: clock.finalVersions,
      ring: clock.ring,
    }).done;
  try {
    if ((options.warmupS ?? 0) > 0) {
      const floodRun = startFlood(system, flooder, options.warmupS! * 1000 + 1000);
      const startVersions = (await system.publicVersions?.(skus)) ?? system.startVersions;
      await writeSteadily(startVersions, options.warmupS! * 1000);
      await floodRun.done;
      (await system.publicVersions?.(skus))?.forEach((v, p) => (finals[p] = v));
      await generator.converge(nowMs() + options.settleS * 1000);
    }
    const window = new Window(system, backends.redisPid);
    // Alone, flooded, alone, flooded…: drift of a busy machine falls on both sides alike.
    for (const flooded of order) {
      const startVersions = (await system.publicVersions?.(skus)) ?? system.startVersions;
      startVersions.forEach((v, p) => (finals[p] = v));
      await generator.resetMeasurements();
      const durationMs = options.durationS * 1000;
      // The flood is under way a second before the measured writes start, and ends after them.
      const floodRun = flooded ? startFlood(system, flooder, durationMs + 3000) : undefined;
      if (floodRun) await sleep(1000);
      const written = await writeSteadily(startVersions, durationMs);
      (await system.publicVersions?.(skus))?.forEach((v, p) => (finals[p] = v));
      const converged = await generator.converge(nowMs() + options.settleS * 1000);
      lost += converged.lagging;
      const { latency } = await generator.collect();
      const phase = flooded ? phases.flooded : phases.alone;
      const writeLatency = new Histogram();
      writeLatency.merge(written.latency);
      phase.writes.merge(written.latency);
      phase.frames.merge(latency);
      phase.results.push(written);
      const floodResult = floodRun ? await floodRun.done : undefined;
      perPhase.push({ flooded, writeP99Ms: writeLatency.percentile(99), frameP99Ms: latency.percentile(99), floodWritesOk: floodResult?.writes.ok ?? 0 });
      if (floodResult) {
        const result = floodResult;
        flood.writesOk += result.writes.ok;
        flood.writes429 += result.writes.refused429;
        flood.writesOther += result.writes.failed + result.writes.behind;
        flood.sockets.opened += result.sockets.opened;
        flood.sockets.refused429 += result.sockets.refused429;
        flood.sockets.failed += result.sockets.failed;
        flood.sockets.maxOpen = Math.max(flood.sockets.maxOpen, result.sockets.maxOpen);
      }
    }
    window.finish(metrics, watchdog);
    const counters = generator.counters();
    metrics.connections = { requested: options.connections, open: counters.open, failed: counters.failed, dropped: counters.dropped, reconnects: counters.reconnects, errors: {} };
  } finally {
    await generator.close();
  }
  const summary = (phase: typeof phases.alone) => {
    const merged = phase.results.reduce((a, b) => ({ ...a, ok: a.ok + b.ok, failed: a.failed + b.failed, issued: a.issued + b.issued }));
    return { writes: { ...writeMetrics(merged), latency: phase.writes.summary() }, frames: phase.frames.summary() };
  };
  const alone = summary(phases.alone);
  const flooded = summary(phases.flooded);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100);
  metrics.lost = lost;
  metrics.limits = {
    alone,
    flooded,
    writeP99Ratio: ratio(flooded.writes.latency?.p99Ms, alone.writes.latency?.p99Ms),
    frameP99Ratio: ratio(flooded.frames?.p99Ms, alone.frames?.p99Ms),
    flooder: { ...FLOODER_LIMITS, ...flood },
    phases: perPhase,
  };
}
