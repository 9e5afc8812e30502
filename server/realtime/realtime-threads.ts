import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ComponentLogger, StockBus } from '../bus/stock-bus.js';
import type { PublicStock, StockChange } from '../stock/types.js';
import { topicOf } from '../stock/views.js';
import { SharedConnectionCounter } from './connection-counter.js';
import type { RealtimeStore } from './realtime-gateway.js';
import { noCounts, sumCounts, type RealtimeCountsSnapshot } from './realtime-counts.js';
import type { KeyCache } from '../access/key-cache.js';
import type { MerchantConnections } from './merchant-connections.js';
import type { FromThread, RealtimeThreadInit, ThreadAnswers, ThreadRequest, ThreadStats, ToThread } from './thread-messages.js';

/** One thread's answer to a scrape. */
interface ThreadCounts {
  readonly thread: number;
  readonly counts: RealtimeCountsSnapshot;
}

export interface RealtimeThreadsOptions {
  readonly threads: number;
  /** Each thread's nice value, so the threads yield the CPU to the main thread, which answers the API (absent: 0, no change). */
  readonly nice?: number;
  readonly settings: RealtimeThreadInit['settings'];
  readonly store: RealtimeStore;
  /** The process's one key cache: threads ask it, so a revocation (`forget`) reaches every thread at once. */
  readonly keys: Pick<KeyCache, 'publishable'>;
  readonly bus: StockBus;
  readonly logger: ComponentLogger;
  /** Each merchant's connection limit and usage, for every thread's sockets (absent: none). */
  readonly merchantSockets?: MerchantConnections;
}

/** How long a thread may take to close its sockets before it is stopped. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Sockets on every core: `threads` uWS worker threads listen on one WS_PORT (SO_REUSEPORT: the
 * kernel spreads connections), each running a `RealtimeGateway` whose store and bus live
 * here on the main thread. The main thread watches each product on the bus once however many
 * threads want it, hands each change to the threads that watch it, shares one store read per
 * product among every thread's snapshot reads, and tells every thread about key revocations.
 */
export class RealtimeThreads {
  private readonly workers: Worker[] = [];
  /** Products some thread watches, and which threads. */
  private readonly topics = new Map<string, { merchantId: string; sku: string; threads: Set<number>; watching: Promise<void> }>();
  /** Snapshot reads under way across threads, per topic (a connect storm costs one store read per product). */
  private readonly reads = new Map<string, Promise<PublicStock | undefined>>();
  /** Threads started and not ended: only they are asked for their counts. */
  private readonly live = new Set<number>();
  private readonly collecting = new Map<number, { thread: number; resolve: (answer: ThreadCounts) => void }>();
  private readonly unsubscribe: Array<() => void> = [];
  /** Changes heard this event-loop turn, per thread: each thread gets them as one message (`flushChanges`). */
  private readonly pendingChanges = new Map<number, StockChange[]>();
  private flushScheduled: NodeJS.Immediate | undefined;
  private nextCollect = 1;
  private scrape: Promise<ThreadCounts[]> | undefined;
  private closing: Promise<void> | undefined;
  private boundPort = 0;

  private constructor(private readonly options: RealtimeThreadsOptions) {
    this.unsubscribe.push(
      options.bus.onChange((change) => this.changed(change)),
      options.bus.onConnection((state) => this.broadcast({ kind: 'connection', state })),
      options.bus.onControl((message) => {
        // Each thread counts viewers on its own; the counts of all threads add up like those of nodes.
        if (message.type === 'viewers') this.broadcast({ kind: 'control', message });
        // As for the process's key cache (main.ts): a merchant's change drops its grants in every thread.
        else this.broadcast({ kind: 'forgetKeys', merchantId: message.merchantId });
      }),
    );
  }

  /** Starts every thread; rejects (with every started thread closed) when one cannot listen. */
  static async start(options: RealtimeThreadsOptions): Promise<RealtimeThreads> {
    const threads = new RealtimeThreads(options);
    try {
      // Every thread must bind the same port: port 0 is resolved once here, not by each thread.
      const port = options.settings.port === 0 ? await freePort(options.settings.host) : options.settings.port;
      const counts = SharedConnectionCounter.allocate();
      threads.boundPort = await threads.spawn(0, port, counts);
      await Promise.all(Array.from({ length: options.threads - 1 }, (_, i) => threads.spawn(i + 1, port, counts)));
    } catch (error) {
      await threads.close();
      throw error;
    }
    return threads;
  }

  get port(): number {
    return this.boundPort;
  }

  /** The merchant was deleted: every thread closes its sockets with 1008. */
  closeMerchant(merchantId: string): void {
    this.broadcast({ kind: 'closeMerchant', merchantId });
  }

  /** Sockets, topics and frames per thread, as each thread counts them now. */
  async stats(): Promise<ThreadStats[]> {
    return (await this.collect()).map(({ thread, counts }) => ({ thread, connections: counts.connections, topics: counts.topics, framesPushed: counts.framesPushed }));
  }

  /** Graceful: every thread closes its listen socket and its sockets (1001) and ends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const off of this.unsubscribe) off();
      if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
      await Promise.all(this.workers.map((worker, thread) => stopWorker(worker, () => this.post(thread, { kind: 'close' }))));
      for (const topic of this.topics.values()) this.options.bus.unwatch(topic.merchantId, topic.sku);
      this.topics.clear();
    })();
    return this.closing;
  }

  private spawn(thread: number, port: number, connectionCounts: SharedArrayBuffer): Promise<number> {
    const { bus } = this.options;
    const init: RealtimeThreadInit = {
      thread,
      settings: { ...this.options.settings, port },
      nice: this.options.nice ?? 0,
      busKind: bus.kind,
      busConnected: bus.connected,
      connectionCounts,
    };
    const worker = startThreadModule(new URL(`./realtime-thread${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url), init);
    this.workers[thread] = worker;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: FromThread) => {
        if (message.kind === 'listening') {
          listening = true;
          this.live.add(thread);
          resolve(message.port);
          return;
        }
        this.received(thread, message);
      });
      worker.on('error', (error) => {
        if (!listening) reject(error);
        else this.options.logger.error({ err: error.message, thread }, 'realtime thread failed');
      });
      worker.on('exit', (code) => {
        this.live.delete(thread);
        this.forgetThread(thread);
        // A scrape waiting on this thread gets nothing from it rather than waiting for ever.
        for (const [id, waiting] of this.collecting) {
          if (waiting.thread !== thread) continue;
          this.collecting.delete(id);
          waiting.resolve({ thread, counts: noCounts });
        }
        if (!listening) reject(new Error(`realtime thread ${thread} ended before listening (exit ${code})`));
        else if (this.closing === undefined) this.options.logger.error({ thread, code }, 'realtime thread ended');
      });
    });
  }

  private received(thread: number, message: FromThread): void {
    switch (message.kind) {
      case 'request':
        this.answer(thread, message.request).then(
          (value) => this.post(thread, { kind: 'reply', id: message.id, ok: true, value }),
          (error: unknown) => this.post(thread, { kind: 'reply', id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case 'unwatch':
        return this.unwatch(thread, message.merchantId, message.sku);
      case 'publish':
        return this.options.bus.publish(message.change);
      case 'broadcast':
        return this.options.bus.broadcast(message.message);
      case 'log':
        return this.options.logger[message.level]({ ...message.obj, thread }, message.msg);
      case 'collected':
        this.collecting.get(message.id)?.resolve({ thread, counts: message.counts });
        this.collecting.delete(message.id);
        return;
      case 'merchantSocket':
        if (message.opened) this.options.merchantSockets?.opened(message.merchantId, message.origin);
        else this.options.merchantSockets?.closed(message.merchantId);
        return;
      case 'merchantFrames':
        for (const [merchantId, count] of message.counts) this.options.merchantSockets?.frames(merchantId, count);
        return;
      case 'listening':
      case 'closed':
        return;
    }
  }

  private answer(thread: number, request: ThreadRequest): Promise<ThreadAnswers[ThreadRequest['op']]> {
    const { keys, bus } = this.options;
    switch (request.op) {
      case 'publicViews':
        return this.publicViews(request.merchantId, request.skus);
      case 'viewerProducts':
        return this.options.store.viewerProducts(request.merchantId, request.skus);
      case 'resolveKey':
        return keys.publishable(request.key);
      case 'cached':
        return bus.cached(request.merchantId, request.skus);
      case 'watch':
        return this.watch(thread, request.merchantId, request.sku).then(() => null);
      case 'merchantConnections':
        return this.merchantConnections(request.merchantId);
    }
  }

  private async merchantConnections(merchantId: string): Promise<ThreadAnswers['merchantConnections']> {
    const sockets = this.options.merchantSockets;
    if (sockets === undefined) return { limit: 0, admitted: true };
    return sockets.reserve(merchantId);
  }

  // ---- bus demand: one watch per product for the whole process ------------------------------------

  private watch(thread: number, merchantId: string, sku: string): Promise<void> {
    const topic = topicOf(merchantId, sku);
    let entry = this.topics.get(topic);
    if (entry === undefined) {
      entry = { merchantId, sku, threads: new Set(), watching: this.options.bus.watch(merchantId, sku) };
      this.topics.set(topic, entry);
    }
    entry.threads.add(thread);
    return entry.watching;
  }

  private unwatch(thread: number, merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const entry = this.topics.get(topic);
    if (entry === undefined || !entry.threads.delete(thread) || entry.threads.size > 0) return;
    this.topics.delete(topic);
    this.options.bus.unwatch(merchantId, sku);
  }

  private forgetThread(thread: number): void {
    for (const entry of [...this.topics.values()]) this.unwatch(thread, entry.merchantId, entry.sku);
  }

  /**
   * A change goes to each thread that watches its product, batched: each postMessage is a structured
   * clone and a wake-up of the thread, so the changes of one event-loop turn travel as one message.
   * Anything else posted to a thread flushes its batch first (`post`), so a thread hears every
   * message in the order the main thread sent it.
   */
  private changed(change: StockChange): void {
    const entry = this.topics.get(topicOf(change.merchantId, change.view.sku));
    if (entry === undefined) return;
    for (const thread of entry.threads) {
      const pending = this.pendingChanges.get(thread);
      if (pending === undefined) this.pendingChanges.set(thread, [change]);
      else pending.push(change);
    }
    this.flushScheduled ??= setImmediate(() => {
      this.flushScheduled = undefined;
      for (const thread of [...this.pendingChanges.keys()]) this.flushChanges(thread);
    });
  }

  private flushChanges(thread: number): void {
    const changes = this.pendingChanges.get(thread);
    if (changes === undefined) return;
    this.pendingChanges.delete(thread);
    const worker = this.workers[thread];
    if (worker !== undefined) worker.postMessage({ kind: 'changes', changes } satisfies ToThread);
  }

  /** Every thread's snapshot reads of one product share one store read while it is under way. */
  private async publicViews(merchantId: string, skus: readonly string[]): Promise<PublicStock[]> {
    const toRead = [...new Set(skus)].filter((sku) => !this.reads.has(topicOf(merchantId, sku)));
    if (toRead.length > 0) {
      const batch = this.options.store.publicViews(merchantId, toRead).then((views) => new Map(views.map((view) => [view.sku, view])));
      for (const sku of toRead) {
        const topic = topicOf(merchantId, sku);
        const read = batch.then((views) => views.get(sku));
        this.reads.set(topic, read);
        const forget = () => {
          if (this.reads.get(topic) === read) this.reads.delete(topic);
        };
        read.then(forget, forget);
      }
    }
    const views = await Promise.all(skus.map((sku) => this.reads.get(topicOf(merchantId, sku))));
    return views.filter((view): view is PublicStock => view !== undefined);
  }

  // ---- counts: every thread's, summed at scrape time ---------------------------------------------

  /** The realtime counts of the whole process (every thread's, summed), for its metrics. */
  async counts(): Promise<RealtimeCountsSnapshot> {
    return sumCounts((await this.collect()).map((answer) => answer.counts));
  }

  /** One round trip to every thread per scrape, shared by every metric of that scrape. */
  private collect(): Promise<ThreadCounts[]> {
    this.scrape ??= Promise.all(
      [...this.live].map(
        (thread) =>
          new Promise<ThreadCounts>((resolve) => {
            const id = this.nextCollect++;
            this.collecting.set(id, { thread, resolve });
            this.post(thread, { kind: 'collect', id });
          }),
      ),
    ).finally(() => {
      this.scrape = undefined;
    });
    return this.scrape;
  }

  private broadcast(message: ToThread): void {
    for (const thread of this.workers.keys()) this.post(thread, message);
  }

  /** Every message but a batch of changes: the thread's pending changes go first, so order holds. */
  private post(thread: number, message: ToThread): void {
    this.flushChanges(thread);
    this.workers[thread]?.postMessage(message);
  }
}

/**
 * The thread module runs as compiled JavaScript in production; from TypeScript sources (tsx, vitest)
 * the thread registers tsx's loader itself before importing it.
 */
function startThreadModule(url: URL, workerData: RealtimeThreadInit): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })` +
    `.catch((error) => { console.error(error); process.exit(1); });`;
  return new Worker(code, { eval: true, workerData });
}

/** Asks a thread to close and waits for it to end; one that hangs is stopped after CLOSE_TIMEOUT_MS. */
async function stopWorker(worker: Worker, askToClose: () => void): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (worker.threadId === -1) resolve();
    worker.once('exit', () => resolve());
  });
  askToClose();
  const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * A free TCP port on `host`, for the threads to share when WS_PORT is 0 (tests). Taken below Linux's
 * ephemeral range (32768 and up): a port from `listen(0)` could meanwhile go to another process's
 * `listen(0)`, and SO_REUSEPORT (which uWS sets) would let both listen and split the connections.
 */
async function freePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, host, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 20000 and 32000 for WS_PORT=0');
}
