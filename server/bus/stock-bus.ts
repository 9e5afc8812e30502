import type { PublicStock, StockChange } from '../stock/types.js';
import type { ControlMessage } from './control-message.js';

export type BusKind = 'redis' | 'amqp' | 'memory';

/**
 * The bus between writers and realtime nodes: a latest-value cache per product (version-guarded,
 * an older version never overwrites a newer one), change events, and control messages that every
 * node hears. Three adapters share this port: `RedisBus` and `AmqpBus` (many nodes) and `MemoryBus` (one process).
 * Only our own types cross it.
 */
export interface StockBus {
  readonly kind: BusKind;

  /**
   * Hands a committed change to the bus. Never throws and never waits: while the bus is down the
   * change waits in a latest-per-product outbox and goes out as soon as the bus is back.
   */
  publish(change: StockChange): void;

  /** Cached latest views, one per sku in order (`undefined` when not cached or the bus is unreachable). Never rejects. */
  cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>>;

  /**
   * Declares local demand for one product's events (reference-counted). Resolves once events for it
   * are flowing, so a snapshot read after it cannot miss a change; also resolves when the bus is down
   * (a resync follows when it comes back). Never rejects.
   */
  watch(merchantId: string, sku: string): Promise<void>;
  /** Drops one reference taken by `watch`. */
  unwatch(merchantId: string, sku: string): void;

  /**
   * Tells every node, this one included (at once, and only once), e.g. that a merchant's keys were
   * rotated. Never throws and never waits. Sent while the bus is down, it waits and goes out when
   * the bus is back; a node that was cut off itself may still miss it, so listeners treat what they
   * cached as stale on `up`, and what a control message invalidates also expires on its own.
   */
  broadcast(message: ControlMessage): void;

  /** Every control message broadcast by any node, this one included. */
  onControl(listener: (message: ControlMessage) => void): () => void;

  /** Every change for a watched product (and, on the memory bus, every change). */
  onChange(listener: (change: StockChange) => void): () => void;

  /**
   * Connection changes of the event stream. `up` after an outage means events may have been missed:
   * listeners re-read their watched products from the store. `down` means cached state may go stale.
   */
  onConnection(listener: (state: 'up' | 'down') => void): () => void;

  /** True while changes flow (always true for the memory bus). */
  readonly connected: boolean;

  close(): Promise<void>;
}

/** The part of a pino logger the bus and gateway use; declared here so no logger type leaks in. */
export interface ComponentLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: ComponentLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
