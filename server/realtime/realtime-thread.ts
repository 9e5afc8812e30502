/**
 * One realtime worker thread: a `RealtimeGateway` on the shared WS_PORT whose store and bus are
 * proxies over the MessagePort to the main thread, which owns the real ones (`RealtimeThreads`) and
 * turns the thread's counts into metrics.
 * Started by `RealtimeThreads` only; it does nothing when imported anywhere else.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { KeyCache } from '../access/key-cache.js';
import type { ControlMessage } from '../bus/control-message.js';
import { deliver } from '../bus/listeners.js';
import type { BusKind, ComponentLogger, StockBus } from '../bus/stock-bus.js';
import type { PublicStock, StockChange } from '../stock/types.js';
import { SharedConnectionCounter } from './connection-counter.js';
import { noCounts } from './realtime-counts.js';
import { RealtimeGateway, type RealtimeStore } from './realtime-gateway.js';
import { ThreadMerchantSockets } from './thread-merchant-sockets.js';
import { lowerThreadPriority } from './thread-priority.js';
import type { FromThread, RealtimeThreadInit, ThreadAnswers, ThreadRequest, ToThread } from './thread-messages.js';

/**
 * How long a thread trusts a grant the main thread gave it. The main thread's own cache may already
 * have held it a while, so a revocation that never arrived is bounded by both lifetimes together.
 */
const THREAD_KEY_TTL_MS = 10_000;

/** Requests to the main thread, answered by id. */
class MainThread {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(private readonly port: MessagePort) {}

  post(message: FromThread): void {
    this.port.postMessage(message);
  }

  ask<R extends ThreadRequest>(request: R): Promise<ThreadAnswers[R['op']]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.post({ kind: 'request', id, request });
    });
  }

  answered(message: Extract<ToThread, { kind: 'reply' }>): void {
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    this.pending.delete(message.id);
    if (message.ok) waiting.resolve(message.value);
    else waiting.reject(new Error(message.error));
  }
}

/** The thread's side of the main thread's bus: demand and cache reads go there, changes come back. */
class ThreadBus implements StockBus {
  private readonly changeListeners = new Set<(change: StockChange) => void>();
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private readonly connectionListeners = new Set<(state: 'up' | 'down') => void>();
  connected: boolean;

  constructor(
    private readonly main: MainThread,
    readonly kind: BusKind,
    connected: boolean,
  ) {
    this.connected = connected;
  }

  publish(change: StockChange): void {
    this.main.post({ kind: 'publish', change });
  }

  cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    // The port never fails; a main-thread error answers "not cached", as the bus itself would.
    return this.main.ask({ op: 'cached', merchantId, skus }).catch(() => skus.map(() => undefined));
  }

  watch(merchantId: string, sku: string): Promise<void> {
    return this.main.ask({ op: 'watch', merchantId, sku }).then(
      () => undefined,
      () => undefined,
    );
  }

  unwatch(merchantId: string, sku: string): void {
    this.main.post({ kind: 'unwatch', merchantId, sku });
  }

  /**
   * Only viewer counts: the other control messages are the main thread's business, and it tells the
   * thread what they mean (`forgetKeys`, `closeMerchant`).
   */
  broadcast(message: ControlMessage): void {
    if (message.type === 'viewers') this.main.post({ kind: 'broadcast', message });
  }

  onControl(listener: (message: ControlMessage) => void): () => void {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  control(message: ControlMessage): void {
    deliver(this.controlListeners, message);
  }

  onChange(listener: (change: StockChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onConnection(listener: (state: 'up' | 'down') => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  changed(change: StockChange): void {
    deliver(this.changeListeners, change);
  }

  connection(state: 'up' | 'down'): void {
    this.connected = state === 'up';
    deliver(this.connectionListeners, state);
  }

  close(): Promise<void> {
    this.changeListeners.clear();
    this.controlListeners.clear();
    this.connectionListeners.clear();
    return Promise.resolve();
  }
}

async function run(init: RealtimeThreadInit, port: MessagePort): Promise<void> {
  const main = new MainThread(port);
  const bus = new ThreadBus(main, init.busKind, init.busConnected);
  const store: RealtimeStore = {
    publicViews: (merchantId, skus) => main.ask({ op: 'publicViews', merchantId, skus }),
    viewerProducts: (merchantId, skus) => main.ask({ op: 'viewerProducts', merchantId, skus }),
  };
  // A thread's own cache over the process's one (on the main thread), so a known key is decided
  // inside the upgrade handler; the main thread tells every thread when a merchant's keys change.
  const keys = new KeyCache(
    {
      resolvePublishableKey: (key) => main.ask({ op: 'resolveKey', key }),
      resolveSecretKey: () => Promise.reject(new Error('realtime threads resolve publishable keys only')),
    },
    { ttlMs: THREAD_KEY_TTL_MS },
  );
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: object, msg?: string): void =>
      main.post({ kind: 'log', level, obj, ...(msg === undefined ? {} : { msg }) });
  const logger: ComponentLogger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  if (init.nice > 0) {
    const priority = lowerThreadPriority(init.nice);
    // Every thread would say the same; one line is enough.
    if (!priority.applied && init.thread === 0) logger.warn({ reason: priority.reason }, 'WS_THREAD_NICE not applied: realtime threads share the CPU equally with the API');
  }
  // Limits and usage per merchant live on the main thread too.
  const merchantSockets = new ThreadMerchantSockets(main);
  // Set once listening; messages may arrive before (a close during start-up).
  const running: { gateway?: RealtimeGateway; closing?: boolean } = {};
  const close = async (gateway: RealtimeGateway) => {
    await gateway.close();
    merchantSockets.close();
    main.post({ kind: 'closed' });
    // Nothing else keeps the thread alive: it ends once its last socket has gone.
    port.close();
  };

  port.on('message', (message: ToThread) => {
    switch (message.kind) {
      case 'reply':
        return main.answered(message);
      case 'changes':
        for (const change of message.changes) bus.changed(change);
        return;
      case 'control':
        return bus.control(message.message);
      case 'connection':
        return bus.connection(message.state);
      case 'collect':
        main.post({ kind: 'collected', id: message.id, counts: running.gateway?.counts() ?? noCounts });
        return;
      case 'forgetKeys':
        keys.forget(message.merchantId);
        merchantSockets.forget(message.merchantId);
        return;
      case 'closeMerchant':
        running.gateway?.closeMerchant(message.merchantId);
        return;
      case 'close':
        running.closing = true;
        if (running.gateway !== undefined) void close(running.gateway);
        return;
    }
  });

  running.gateway = await RealtimeGateway.start({
    ...init.settings,
    store,
    keys,
    merchantSockets,
    bus,
    logger,
    connectionCounter: new SharedConnectionCounter(init.connectionCounts),
    thread: init.thread,
  });
  main.post({ kind: 'listening', port: running.gateway.port });
  // Told to close while starting: a thread must never end with its listen socket open.
  if (running.closing) await close(running.gateway);
}

if (!isMainThread && parentPort !== null) await run(workerData as RealtimeThreadInit, parentPort);
