/**
 * The load generator's coordinator: splits the connections over worker threads, drives them through
 * connect → measure → converge → collect → close, and reads their shared counters for progress.
 */
import type { Worker } from 'node:worker_threads';
import { Histogram } from './histogram.js';
import {
  RING,
  STAT,
  STAT_SLOTS,
  type ClientKind,
  type ClientProtocol,
  type LoadWorkerInit,
  type WorkerCommand,
  type WorkerReply,
} from './load-protocol.js';
import { nextMessage, spawnTsWorker } from './spawn-worker.js';

export interface GeneratorOptions {
  readonly url: string;
  readonly origin?: string;
  readonly protocol: ClientProtocol;
  readonly client: ClientKind;
  readonly connections: number;
  readonly perConn: number;
  readonly products: number;
  readonly workers: number;
  /** How many loopback source addresses (127.0.0.2 …) to spread connections over. */
  readonly sourceAddresses: number;
  readonly connectTimeoutMs: number;
  readonly connectBudgetMs: number;
  readonly recordLatency: boolean;
}

export interface GeneratorCounters {
  open: number;
  snapshots: number;
  failed: number;
  dropped: number;
  frames: number;
  firstFrameAt: number;
  lastFrameAt: number;
  regressions: number;
  untimed: number;
  lastSnapshotAt: number;
  reconnects: number;
}

/** Shared between the writer and the load workers: when each (product, version) was written. */
export interface WriteClock {
  readonly writeTimes: SharedArrayBuffer;
  readonly writeVersions: SharedArrayBuffer;
  readonly finalVersions: SharedArrayBuffer;
  readonly ring: number;
}

export function createWriteClock(products: number): WriteClock {
  return {
    writeTimes: new SharedArrayBuffer(products * RING * 8),
    writeVersions: new SharedArrayBuffer(products * RING * 4),
    finalVersions: new SharedArrayBuffer(products * 4),
    ring: RING,
  };
}

export class LoadGenerator {
  private readonly workers: Worker[] = [];
  private readonly stats: Float64Array;

  private constructor(
    private readonly options: GeneratorOptions,
    private readonly statsBuffer: SharedArrayBuffer,
  ) {
    this.stats = new Float64Array(statsBuffer);
  }

  static async start(options: GeneratorOptions, clock: WriteClock): Promise<LoadGenerator> {
    const workerCount = Math.max(1, Math.min(options.workers, options.connections));
    const generator = new LoadGenerator(options, new SharedArrayBuffer(workerCount * STAT_SLOTS * 8));
    const localAddresses = Array.from({ length: Math.max(1, options.sourceAddresses) }, (_, i) => `127.0.0.${2 + (i % 250)}`);
    let first = 0;
    for (let w = 0; w < workerCount; w++) {
      const count = Math.floor(options.connections / workerCount) + (w < options.connections % workerCount ? 1 : 0);
      const init: LoadWorkerInit = {
        workerIndex: w,
        url: options.url,
        origin: options.origin,
        protocol: options.protocol,
        client: options.client,
        first,
        count,
        perConn: options.perConn,
        products: options.products,
        localAddresses,
        connectTimeoutMs: options.connectTimeoutMs,
        connectBudgetMs: options.connectBudgetMs,
        recordLatency: options.recordLatency,
        ring: clock.ring,
        stats: generator.statsBuffer,
        writeTimes: clock.writeTimes,
        writeVersions: clock.writeVersions,
        finalVersions: clock.finalVersions,
      };
      first += count;
      const worker = spawnTsWorker(new URL('./load-worker.ts', import.meta.url), init);
      generator.workers.push(worker);
    }
    await Promise.all(generator.workers.map((w) => nextMessage<WorkerReply>(w, (m) => m.type === 'ready', 60_000)));
    return generator;
  }

  private async all<T extends WorkerReply['type']>(command: WorkerCommand, reply: T, timeoutMs?: number) {
    const answers = this.workers.map((w) =>
      nextMessage<WorkerReply>(w, (m) => m.type === reply, timeoutMs) as Promise<Extract<WorkerReply, { type: T }>>,
    );
    for (const w of this.workers) w.postMessage(command);
    return Promise.all(answers);
  }

  /** Opens every connection, at most `concurrency` connecting at once per worker. */
  async connect(concurrency: number): Promise<void> {
    await this.all({ type: 'connect', concurrency }, 'connected', this.options.connectBudgetMs + 120_000);
  }

  counters(): GeneratorCounters {
    const sum: GeneratorCounters = {
      open: 0,
      snapshots: 0,
      failed: 0,
      dropped: 0,
      frames: 0,
      firstFrameAt: 0,
      lastFrameAt: 0,
      regressions: 0,
      untimed: 0,
      lastSnapshotAt: 0,
      reconnects: 0,
    };
    for (let w = 0; w < this.workers.length; w++) {
      const at = (slot: number) => this.stats[w * STAT_SLOTS + slot]!;
      sum.open += at(STAT.open);
      sum.snapshots += at(STAT.snapshots);
      sum.failed += at(STAT.failed);
      sum.dropped += at(STAT.dropped);
      sum.frames += at(STAT.frames);
      sum.regressions += at(STAT.regressions);
      sum.untimed += at(STAT.untimed);
      sum.reconnects += at(STAT.reconnects);
      const firstFrame = at(STAT.firstFrameAt);
      if (firstFrame > 0 && (sum.firstFrameAt === 0 || firstFrame < sum.firstFrameAt)) sum.firstFrameAt = firstFrame;
      sum.lastFrameAt = Math.max(sum.lastFrameAt, at(STAT.lastFrameAt));
      sum.lastSnapshotAt = Math.max(sum.lastSnapshotAt, at(STAT.lastSnapshotAt));
    }
    return sum;
  }

  /** Zeroes frame counters and latency samples (after the warm-up / subscribe phase). */
  async resetMeasurements(): Promise<void> {
    for (let w = 0; w < this.workers.length; w++) {
      for (const slot of [STAT.frames, STAT.firstFrameAt, STAT.lastFrameAt, STAT.regressions, STAT.untimed]) {
        this.stats[w * STAT_SLOTS + slot] = 0;
      }
    }
    await this.all({ type: 'reset-latency' }, 'reset');
  }

  /** Waits until every client holds the final versions, or the deadline passes; answers the clients still behind. */
  async converge(deadlineMs: number): Promise<{ lagging: number; notOpen: number }> {
    const answers = await this.all({ type: 'converge', deadlineMs }, 'converged');
    return answers.reduce((a, b) => ({ lagging: a.lagging + b.lagging, notOpen: a.notOpen + b.notOpen }), {
      lagging: 0,
      notOpen: 0,
    });
  }

  async collect(): Promise<{ latency: Histogram; errors: Record<string, number> }> {
    const answers = await this.all({ type: 'collect' }, 'collected');
    const latency = new Histogram();
    const errors: Record<string, number> = {};
    for (const answer of answers) {
      latency.merge(answer.latency);
      for (const [kind, n] of Object.entries(answer.errors)) errors[kind] = (errors[kind] ?? 0) + n;
    }
    return { latency, errors };
  }

  async close(): Promise<void> {
    try {
      await this.all({ type: 'close' }, 'closed', 60_000);
    } finally {
      await Promise.all(this.workers.map((w) => w.terminate()));
    }
  }
}
