import type { ComponentLogger, StockBus } from '../bus/stock-bus.js';
import type { PublicStock } from '../stock/types.js';
import { topicOf, unknownView } from '../stock/views.js';
import type { FoldingScheduler } from './folding-scheduler.js';
import type { TopicRegistry } from './topic-registry.js';

/** What the gateway reads from the store (the `StockStore` satisfies it). */
export interface RealtimeStore {
  publicViews(merchantId: string, skus: readonly string[]): Promise<PublicStock[]>;
}

/**
 * How long a SKU the store does not know is remembered as unknown: repeated subscriptions to it
 * cost no store reads meanwhile. Still correct when the product is created: every write publishes
 * to the bus, whose latest-value cache is read before this, and subscribers get the change itself.
 */
const UNKNOWN_SKU_TTL_MS = 5000;
const UNKNOWN_SKU_MAX = 100_000;
/** Chunk size of store reads during a resync (the store's multi-get limit). */
const RESYNC_CHUNK = 100;

/**
 * Snapshots for subscribers: the node-local latest value, then the bus cache, then the store, with
 * concurrent reads of one product shared. After a bus outage it distrusts the local values until a
 * resync from the store has pushed what changed meanwhile.
 */
export class SnapshotReader {
  readonly #store: RealtimeStore;
  readonly #bus: Pick<StockBus, 'cached' | 'publish' | 'connected'>;
  readonly #scheduler: FoldingScheduler;
  readonly #topics: TopicRegistry;
  readonly #logger: ComponentLogger;
  /** Topics the store did not know, until when (see UNKNOWN_SKU_TTL_MS). */
  readonly #unknownUntil = new Map<string, number>();
  /** Snapshot reads under way, per topic: a connect storm shares one read per product, not one per socket. */
  readonly #pendingReads = new Map<string, Promise<PublicStock>>();
  /** False from a bus outage until the resync finished: the local cache may be stale meanwhile. */
  #localCacheTrusted = true;
  #closed = false;

  constructor(deps: {
    readonly store: RealtimeStore;
    readonly bus: Pick<StockBus, 'cached' | 'publish' | 'connected'>;
    readonly scheduler: FoldingScheduler;
    readonly topics: TopicRegistry;
    readonly logger: ComponentLogger;
  }) {
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#scheduler = deps.scheduler;
    this.#topics = deps.topics;
    this.#logger = deps.logger;
  }

  /**
   * One view per sku: node-local latest value, then the bus cache, then the store. Values learned
   * from the bus or store seed the local cache; the answer is never older than what this node
   * already pushed on the topic. Concurrent reads of one product share a single read.
   */
  async read(merchantId: string, skus: readonly string[]): Promise<PublicStock[]> {
    const found = new Map<string, PublicStock>();
    if (this.#localCacheTrusted) {
      for (const sku of skus) {
        const local = this.#scheduler.latest(topicOf(merchantId, sku));
        if (local !== undefined) found.set(sku, local);
      }
    }
    const waits: Array<Promise<unknown>> = [];
    const toRead: string[] = [];
    for (const sku of skus) {
      if (found.has(sku)) continue;
      const pending = this.#pendingReads.get(topicOf(merchantId, sku));
      if (pending) waits.push(pending.then((view) => found.set(sku, view)));
      else toRead.push(sku);
    }
    if (toRead.length > 0) {
      const batch = this.#readThrough(merchantId, toRead);
      for (const sku of toRead) {
        const topic = topicOf(merchantId, sku);
        const read = batch.then((views) => views.get(sku) ?? unknownView(sku));
        this.#pendingReads.set(topic, read);
        const forget = () => {
          if (this.#pendingReads.get(topic) === read) this.#pendingReads.delete(topic);
        };
        read.then(forget, forget);
        waits.push(read.then((view) => found.set(sku, view)));
      }
    }
    await Promise.all(waits);
    return skus.map((sku) => {
      const read = found.get(sku) ?? unknownView(sku);
      const local = this.#scheduler.latest(topicOf(merchantId, sku));
      return local !== undefined && local.version > read.version ? local : read;
    });
  }

  /** A value learned from the bus or a read: pushed to the topic's watchers, and no longer unknown. */
  learn(merchantId: string, view: PublicStock): void {
    if (view.status !== 'unknown') this.#unknownUntil.delete(topicOf(merchantId, view.sku));
    this.#topics.offer(merchantId, view);
  }

  onBusConnection(state: 'up' | 'down'): void {
    if (state === 'down') {
      this.#localCacheTrusted = false;
      return;
    }
    void this.#resync();
  }

  /** Stops resync retries (the gateway is closing). */
  close(): void {
    this.#closed = true;
  }

  /** The bus cache, then the store for what it lacks; what is learned seeds this node's cache. */
  async #readThrough(merchantId: string, skus: readonly string[]): Promise<Map<string, PublicStock>> {
    const found = new Map<string, PublicStock>();
    const cached = await this.#bus.cached(merchantId, skus);
    skus.forEach((sku, i) => {
      const view = cached[i];
      if (view !== undefined) {
        found.set(sku, view);
        this.learn(merchantId, view);
      }
    });
    const now = Date.now();
    const missing = skus.filter((sku) => !found.has(sku) && !((this.#unknownUntil.get(topicOf(merchantId, sku)) ?? 0) > now));
    if (missing.length > 0) {
      const fromStore = await this.#store.publicViews(merchantId, missing);
      for (const view of fromStore) {
        found.set(view.sku, view);
        this.learn(merchantId, view);
        // Warm the bus cache (e.g. after a Redis restart emptied it); version-guarded, so harmless.
        if (view.status === 'unknown') this.#rememberUnknown(topicOf(merchantId, view.sku), now);
        else if (view.version > 0) this.#bus.publish({ merchantId, view });
      }
    }
    return found;
  }

  #rememberUnknown(topic: string, now: number): void {
    if (this.#unknownUntil.size >= UNKNOWN_SKU_MAX) {
      for (const [key, until] of this.#unknownUntil) if (until <= now) this.#unknownUntil.delete(key);
      if (this.#unknownUntil.size >= UNKNOWN_SKU_MAX) this.#unknownUntil.clear();
    }
    this.#unknownUntil.set(topic, now + UNKNOWN_SKU_TTL_MS);
  }

  /** After a bus outage, re-reads every active product from the store (the truth) and pushes what changed. */
  async #resync(): Promise<void> {
    const byMerchant = new Map<string, string[]>();
    for (const topic of this.#topics.topics()) {
      const list = byMerchant.get(topic.merchantId) ?? [];
      list.push(topic.sku);
      byMerchant.set(topic.merchantId, list);
    }
    let failed = false;
    for (const [merchantId, skus] of byMerchant) {
      for (let i = 0; i < skus.length; i += RESYNC_CHUNK) {
        try {
          const views = await this.#store.publicViews(merchantId, skus.slice(i, i + RESYNC_CHUNK));
          for (const view of views) {
            this.learn(merchantId, view);
            if (view.version > 0) this.#bus.publish({ merchantId, view });
          }
        } catch (error) {
          failed = true;
          this.#logger.warn({ err: (error as Error).message }, 'resync read failed');
        }
      }
    }
    if (this.#bus.connected && !failed) this.#localCacheTrusted = true;
    else if (!this.#closed && failed) setTimeout(() => void this.#resync(), 1000).unref();
    this.#logger.info({ topics: this.#topics.size, failed }, 'realtime resync after bus reconnect');
  }
}
