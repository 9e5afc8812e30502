import type { ViewerCountsMessage } from '../bus/control-message.js';
import type { StockBus } from '../bus/stock-bus.js';
import type { FullStock, StockRecord } from '../stock/types.js';
import { fullView } from '../stock/views.js';
import type { StockStore } from '../store/stock-store.js';
import { productJson, type ProductJson } from './answers.js';

/** What a console's stream carries: every product once, then each change as a full view. */
export type ConsoleFeedEvent =
  | { readonly type: 'snapshot'; readonly products: readonly ProductJson[] }
  | { readonly type: 'stock'; readonly stock: FullStock }
  /** Shoppers watching a product on every node, for products whose viewer counts shoppers' pages asked for. */
  | { readonly type: 'viewers'; readonly sku: string; readonly count: number }
  /** The merchant's keys were rotated or the merchant deleted: the stream is over. */
  | { readonly type: 'ended' };

export interface ConsoleFeedOptions {
  readonly store: Pick<StockStore, 'listProducts' | 'getStocks' | 'onCommitted'>;
  readonly bus: Pick<StockBus, 'watch' | 'unwatch' | 'onChange' | 'onControl'>;
  /** Products watched: the first ones by SKU. */
  readonly maxProducts: number;
  /** Re-read every product this often (hidden counts never travel on the bus). */
  readonly refreshMs: number;
  /** How long a node's viewer count report holds (VIEWERS_EXPIRY_MS): a node that stopped reporting drops out. */
  readonly viewerExpiryMs: number;
  readonly send: (event: ConsoleFeedEvent) => void;
  /** Reading the store failed (the stream ends; the browser reconnects). */
  readonly onError: (error: unknown) => void;
}

/** Changes of several products that arrive together are read back in one query after this. */
const COALESCE_MS = 25;

/**
 * One merchant console's live view of its own products, with counts. It never goes through the
 * socket gateway, so it is never counted as a viewer and never checked against allowed origins.
 * Changes reach it three ways: a write on this node (`onCommitted`, hidden counts included), a public
 * change on any node (the bus, for the products it watches), and a periodic re-read that catches
 * hidden counts changed on other nodes. It sends a product only when its internal version moved.
 */
export class ConsoleFeed {
  private readonly versions = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly unsubscribe: Array<() => void> = [];
  /** Per product, the latest report of each counting node (or thread) and until when it holds. */
  private readonly viewerReports = new Map<string, Map<string, { count: number; until: number }>>();
  private readonly viewersSent = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private relist = false;
  private closed = false;

  private constructor(
    private readonly merchantId: string,
    private readonly options: ConsoleFeedOptions,
  ) {}

  /** Sends the snapshot, then every change until `close()`. */
  static async open(merchantId: string, options: ConsoleFeedOptions): Promise<ConsoleFeed> {
    const feed = new ConsoleFeed(merchantId, options);
    const { store, bus } = options;
    // Listen before reading, so a change during the first read is not lost (it is read again).
    feed.unsubscribe.push(
      store.onCommitted((records) => feed.committed(records)),
      bus.onChange((change) => {
        if (change.merchantId === merchantId && feed.versions.has(change.view.sku)) feed.markDirty(change.view.sku);
      }),
      bus.onControl((message) => {
        if (message.type === 'viewers') feed.heardViewers(message);
        else if (message.merchantId === merchantId && message.type !== 'merchant_changed') feed.end();
      }),
    );
    try {
      await feed.snapshot();
    } catch (error) {
      feed.close();
      throw error;
    }
    feed.refreshTimer = setInterval(() => feed.refresh(), options.refreshMs);
    feed.refreshTimer.unref();
    return feed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.flushTimer);
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    for (const sku of this.versions.keys()) this.options.bus.unwatch(this.merchantId, sku);
    this.versions.clear();
  }

  private end(): void {
    if (this.closed) return;
    this.options.send({ type: 'ended' });
    this.close();
  }

  /** Lists the products, watches any new ones on the bus and sends them all. */
  private async snapshot(): Promise<void> {
    const page = await this.options.store.listProducts(this.merchantId, { limit: this.options.maxProducts });
    if (this.closed) return;
    const listed = new Set(page.items.map((p) => p.sku));
    for (const sku of [...this.versions.keys()]) {
      if (!listed.has(sku)) {
        this.versions.delete(sku);
        this.options.bus.unwatch(this.merchantId, sku);
      }
    }
    for (const product of page.items) {
      if (!this.versions.has(product.sku)) void this.options.bus.watch(this.merchantId, product.sku);
      this.versions.set(product.sku, product.stock.version);
    }
    this.options.send({ type: 'snapshot', products: page.items.map(productJson) });
  }

  private committed(records: readonly StockRecord[]): void {
    for (const record of records) {
      if (record.merchantId !== this.merchantId) continue;
      if (this.versions.has(record.sku)) this.sendIfNewer(record);
      // A product this feed has not listed yet (new, or beyond the last listing): list again.
      else if (this.versions.size < this.options.maxProducts) this.relist = true;
    }
    if (this.relist) this.schedule();
  }

  private markDirty(sku: string): void {
    this.dirty.add(sku);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.flushTimer !== undefined) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, COALESCE_MS);
  }

  /**
   * Viewer counts as the realtime nodes report them to each other (`server/realtime/viewer-counts.ts`):
   * each node's connections on the product, summed over the nodes whose report still holds. The
   * console itself is no socket, so it is never among them.
   */
  private heardViewers(message: ViewerCountsMessage): void {
    const until = Date.now() + this.options.viewerExpiryMs;
    const heard = new Set<string>();
    for (const report of message.counts) {
      if (report.merchantId !== this.merchantId || !this.versions.has(report.sku)) continue;
      let counters = this.viewerReports.get(report.sku);
      if (counters === undefined) this.viewerReports.set(report.sku, (counters = new Map()));
      counters.set(message.counter, { count: report.count, until });
      heard.add(report.sku);
    }
    for (const sku of heard) this.sendViewers(sku);
  }

  private sendViewers(sku: string): void {
    const counters = this.viewerReports.get(sku);
    if (counters === undefined) return;
    const now = Date.now();
    let count = 0;
    for (const [counter, report] of counters) {
      if (report.until <= now) counters.delete(counter);
      else count += report.count;
    }
    if (counters.size === 0) this.viewerReports.delete(sku);
    if (this.viewersSent.get(sku) === count) return;
    this.viewersSent.set(sku, count);
    this.options.send({ type: 'viewers', sku, count });
  }

  private refresh(): void {
    // Reports of a node that went away expire: its share leaves the sum.
    for (const sku of [...this.viewerReports.keys()]) this.sendViewers(sku);
    for (const sku of this.versions.keys()) this.dirty.add(sku);
    this.relist = true;
    this.schedule();
  }

  private async flush(): Promise<void> {
    try {
      if (this.relist) {
        this.relist = false;
        this.dirty.clear();
        const before = [...this.versions.keys()].join('\n');
        const page = await this.options.store.listProducts(this.merchantId, { limit: this.options.maxProducts });
        if (this.closed) return;
        if (page.items.map((p) => p.sku).join('\n') !== before) return await this.snapshot();
        for (const product of page.items) this.sendIfNewer(product.stock);
        return;
      }
      const skus = [...this.dirty];
      this.dirty.clear();
      const records = await this.options.store.getStocks(this.merchantId, skus);
      if (this.closed) return;
      for (const record of records) if (record) this.sendIfNewer(record);
    } catch (error) {
      if (!this.closed) this.options.onError(error);
    }
  }

  private sendIfNewer(record: StockRecord): void {
    const known = this.versions.get(record.sku);
    if (known === undefined || record.version <= known) return;
    this.versions.set(record.sku, record.version);
    this.options.send({ type: 'stock', stock: fullView(record) });
  }
}
