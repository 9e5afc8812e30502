import type { StockBus } from '../bus/stock-bus.js';
import type { PublicStock } from '../stock/types.js';
import { topicOf } from '../stock/views.js';
import type { FoldingScheduler } from './folding-scheduler.js';

/** A product someone on this node is subscribed to. */
export interface ActiveTopic {
  readonly merchantId: string;
  readonly sku: string;
  sockets: number;
  /** Resolves once bus events for the topic flow: a snapshot read after it cannot miss a change. */
  readonly watching: Promise<void>;
}

/**
 * The products this node's sockets subscribe to, counted: the first subscriber starts the bus watch,
 * the last one ends it and drops the topic's folded value. Values for watched topics go to the
 * folding scheduler, which pushes them.
 */
export class TopicRegistry {
  readonly #active = new Map<string, ActiveTopic>();
  readonly #bus: Pick<StockBus, 'watch' | 'unwatch'>;
  readonly #scheduler: FoldingScheduler;

  constructor(bus: Pick<StockBus, 'watch' | 'unwatch'>, scheduler: FoldingScheduler) {
    this.#bus = bus;
    this.#scheduler = scheduler;
  }

  get size(): number {
    return this.#active.size;
  }

  /** Every topic watched now. */
  topics(): IterableIterator<ActiveTopic> {
    return this.#active.values();
  }

  /** How many sockets here subscribe to the product. */
  subscribers(merchantId: string, sku: string): number {
    return this.#active.get(topicOf(merchantId, sku))?.sockets ?? 0;
  }

  /** The merchant of a watched topic; undefined when nobody here watches it. */
  merchantOf(topic: string): string | undefined {
    return this.#active.get(topic)?.merchantId;
  }

  /** Resolves once the topic's bus events flow; undefined when nobody here watches it. */
  watching(merchantId: string, sku: string): Promise<void> | undefined {
    return this.#active.get(topicOf(merchantId, sku))?.watching;
  }

  retain(merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const existing = this.#active.get(topic);
    if (existing !== undefined) {
      existing.sockets += 1;
      return;
    }
    this.#active.set(topic, { merchantId, sku, sockets: 1, watching: this.#bus.watch(merchantId, sku) });
  }

  release(merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const entry = this.#active.get(topic);
    if (entry === undefined) return;
    entry.sockets -= 1;
    if (entry.sockets > 0) return;
    this.#active.delete(topic);
    this.#scheduler.forget(topic);
    this.#bus.unwatch(merchantId, sku);
  }

  /** Feeds a value into the topic's scheduler, if anyone on this node still watches it. */
  offer(merchantId: string, view: PublicStock): void {
    const topic = topicOf(merchantId, view.sku);
    if (this.#active.has(topic)) this.#scheduler.offer(topic, view);
  }

  /** Ends every bus watch (the gateway is closing). */
  close(): void {
    for (const topic of this.#active.values()) this.#bus.unwatch(topic.merchantId, topic.sku);
    this.#active.clear();
  }
}
