import { randomBytes } from 'node:crypto';
import type { PublicStock, StockChange } from '../stock/types.js';
import { decodeChange, decodeControl, encodeControl } from './bus-codec.js';
import type { ControlMessage } from './control-message.js';
import { LatestOutbox } from './latest-outbox.js';
import { deliver } from './listeners.js';
import { silentLogger, type BusKind, type ComponentLogger, type StockBus } from './stock-bus.js';

export interface OutboxBusOptions {
  readonly logger?: ComponentLogger;
  /** Products that may wait in the outbox while the bus is down (latest value each). */
  readonly maxOutbox?: number;
  /** Control messages that may wait while the bus is down (oldest dropped past it). */
  readonly maxControlOutbox?: number;
}

/**
 * The half of a networked bus that does not depend on its transport: the latest-per-product outbox
 * `publish` writes into, the control outbox `broadcast` writes into (its sender hears its message at
 * once and skips the echo), the listeners, and the checks every received payload passes through the
 * bus codec. An adapter says how waiting messages leave (`flush`, and `controlWaiting` for control
 * messages that need not wait for it) and how it watches. `RedisBus` and `AmqpBus` are built on it.
 */
export abstract class OutboxBus implements StockBus {
  abstract readonly kind: BusKind;
  abstract readonly connected: boolean;
  protected readonly logger: ComponentLogger;
  protected readonly outbox: LatestOutbox;
  /** Encoded control messages, oldest first. */
  protected readonly controlOutbox: string[] = [];
  protected closed = false;
  private readonly maxControlOutbox: number;
  private readonly nodeId = randomBytes(8).toString('hex');
  private readonly changeListeners = new Set<(change: StockChange) => void>();
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private readonly connectionListeners = new Set<(state: 'up' | 'down') => void>();
  private badPayloads = 0;
  private flushQueued = false;

  protected constructor(
    private readonly name: string,
    options: OutboxBusOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    const maxOutbox = options.maxOutbox ?? 100_000;
    this.outbox = new LatestOutbox(maxOutbox, () => this.logger.warn({ maxOutbox }, `${name} bus outbox full: dropped the oldest pending change`));
    this.maxControlOutbox = options.maxControlOutbox ?? 10_000;
  }

  abstract cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>>;
  abstract watch(merchantId: string, sku: string): Promise<void>;
  abstract unwatch(merchantId: string, sku: string): void;
  abstract close(): Promise<void>;
  /** Sends what waits, when the bus is up; runs one at a time (`queueFlush` coalesces calls). */
  protected abstract flush(): Promise<void>;

  /** A control message was queued; by default it leaves with the next flush. */
  protected controlWaiting(): void {
    this.queueFlush();
  }

  /** One flush per microtask however many changes were published in it. */
  protected queueFlush(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      void this.flush();
    });
  }

  publish(change: StockChange): void {
    if (this.closed) return;
    if (this.outbox.offer(change)) this.queueFlush();
  }

  broadcast(message: ControlMessage): void {
    if (this.closed) return;
    queueMicrotask(() => deliver(this.controlListeners, message, this.logger, 'bus control listener'));
    if (this.controlOutbox.length >= this.maxControlOutbox) this.controlOutbox.shift();
    this.controlOutbox.push(encodeControl(this.nodeId, message));
    this.controlWaiting();
  }

  onControl(listener: (message: ControlMessage) => void): () => void {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  onChange(listener: (change: StockChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onConnection(listener: (state: 'up' | 'down') => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  /** Changes still waiting for the bus (for tests and metrics). */
  get pendingCount(): number {
    return this.outbox.size;
  }

  /** Control messages still waiting for the bus (for tests and metrics). */
  get pendingControlCount(): number {
    return this.controlOutbox.length;
  }

  protected emitConnection(state: 'up' | 'down'): void {
    deliver(this.connectionListeners, state, this.logger, 'bus connection listener');
  }

  protected clearListeners(): void {
    this.changeListeners.clear();
    this.controlListeners.clear();
    this.connectionListeners.clear();
  }

  /** A control message off the wire: delivered unless it is invalid or this node's own echo. */
  protected receiveControl(raw: Buffer, where: string): void {
    const sent = decodeControl(raw);
    if (sent === undefined) this.countBadPayload(where);
    else if (sent.nodeId !== this.nodeId) deliver(this.controlListeners, sent.message, this.logger, 'bus control listener');
  }

  /** A change off the wire for the watched product `expected`: delivered unless invalid or for another product. */
  protected receiveChange(raw: Buffer, expected: { readonly merchantId: string; readonly sku: string }, where: string): void {
    const change = decodeChange(raw);
    if (change === undefined || change.merchantId !== expected.merchantId || change.view.sku !== expected.sku) {
      this.countBadPayload(where);
      return;
    }
    deliver(this.changeListeners, change, this.logger, 'bus change listener');
  }

  private countBadPayload(where: string): void {
    this.badPayloads += 1;
    if (this.badPayloads === 1 || this.badPayloads % 1000 === 0) {
      this.logger.warn({ where, count: this.badPayloads }, `${this.name} bus dropped an invalid payload`);
    }
  }
}
