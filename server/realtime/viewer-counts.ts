import { randomBytes } from 'node:crypto';
import { MAX_VIEWER_COUNTS_PER_MESSAGE, type ControlMessage, type ViewerCount } from '../bus/control-message.js';
import { silentLogger, type ComponentLogger, type StockBus } from '../bus/stock-bus.js';
import type { ViewerCountSettings } from '../config.js';
import { topicOf } from '../stock/views.js';
import { encodeViewers } from './protocol.js';

/** What viewer counts read from the store (the `StockStore` satisfies it). */
export interface ViewerStore {
  /** Which of these SKUs name products opted in to live viewer counts. */
  viewerProducts(merchantId: string, skus: readonly string[]): Promise<string[]>;
}

export interface ViewerCountsOptions<A> {
  readonly settings: ViewerCountSettings;
  readonly bus: Pick<StockBus, 'broadcast' | 'onControl' | 'connected'>;
  /** Open connections subscribed to the product here, with or without `viewers`. */
  readonly connections: (merchantId: string, sku: string) => number;
  /** Which of these SKUs name products opted in to viewer counts (the store). */
  readonly optedIn: (merchantId: string, skus: readonly string[]) => Promise<string[]>;
  /** Sends a frame to one connection that asked. */
  readonly send: (asker: A, frame: string) => void;
  readonly logger?: ComponentLogger;
}

/** A product someone here asked counts for. */
interface AskedProduct<A> {
  readonly merchantId: string;
  readonly sku: string;
  readonly askers: Set<A>;
  /** Askers that got no frame yet: the next frame time sends them the count even when it did not change. */
  readonly waiting: Set<A>;
  /** The count every asker holds (sent at the last frame time). */
  sent: number | undefined;
  /** Undefined until the store answered. */
  optedIn: boolean | undefined;
  checkedAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** What other counters last reported for one product. */
interface HeardProduct {
  readonly merchantId: string;
  readonly sku: string;
  readonly counters: Map<string, { count: number; asks: boolean; until: number }>;
}

/** A product's opt-in is read again this often while someone here asks for it (an opt-out stops its frames). */
const OPT_IN_RECHECK_MS = 30_000;
/** Reports a new count request (or the first answer to one) this soon, so the first frame already holds every node. */
const PROMPT_REPORT_MS = 50;
/** Counts per message: half the codec's limit. */
const REPORT_CHUNK = MAX_VIEWER_COUNTS_PER_MESSAGE / 2;

/**
 * Live viewer counts of one realtime gateway (a "counter": a node, or one of its worker threads).
 *
 * Counts cost nothing until a connection asks (`sub` with `viewers: true`) for a product that opted
 * in. Then every counter reports, every `intervalMs` over the bus's control messages, how many of its
 * connections are subscribed to that product, and marks the products its own connections asked for;
 * a counter reports only products someone asked for. Each counter sums what it heard with its own
 * count. A report holds for `expiryMs`: a node that died (or a thread that ended) drops out of the
 * sum on its own. The count is the number of connections, never more: nothing is rounded or padded.
 *
 * Frames: each asked product has its own frame time every `intervalMs` (the first a moment after the
 * first ask, when the other counters have answered): the count goes to every asker when it changed,
 * else only to askers that have none yet. So a connection gets at most one frame per product per
 * interval, and its first within one interval of asking.
 */
export class ViewerCounts<A> {
  /** This counter's id in reports: its own reports come back to it and are skipped. */
  readonly id = randomBytes(8).toString('hex');
  private readonly intervalMs: number;
  private readonly expiryMs: number;
  private readonly logger: ComponentLogger;
  private readonly asked = new Map<string, AskedProduct<A>>();
  private readonly heard = new Map<string, HeardProduct>();
  /** What this counter last reported per product, so a count that fell to nothing is reported once as 0. */
  private readonly reported = new Map<string, ViewerCount>();
  /** Products to report before the next regular report. */
  private readonly prompt = new Set<string>();
  private promptTimer: NodeJS.Timeout | undefined;
  private readonly reportTimer: NodeJS.Timeout;
  private readonly offControl: () => void;
  private closed = false;

  constructor(private readonly options: ViewerCountsOptions<A>) {
    this.intervalMs = options.settings.intervalMs;
    this.expiryMs = options.settings.expiryMs;
    this.logger = options.logger ?? silentLogger;
    this.offControl = options.bus.onControl((message) => this.heardReport(message));
    this.reportTimer = setInterval(() => this.report(), this.intervalMs).unref();
  }

  /** Products whose viewers this counter reports now (asked for here, or elsewhere while it has subscribers to them). */
  get countedProducts(): number {
    return this.reported.size;
  }

  /** The connection asks for counts of these products (it is subscribed to them). */
  ask(asker: A, merchantId: string, skus: readonly string[]): void {
    const unchecked: string[] = [];
    for (const sku of skus) {
      const topic = topicOf(merchantId, sku);
      let product = this.asked.get(topic);
      if (product === undefined) {
        product = { merchantId, sku, askers: new Set(), waiting: new Set(), sent: undefined, optedIn: undefined, checkedAt: 0, timer: undefined };
        this.asked.set(topic, product);
        product.timer = this.frameTimer(topic, product, Math.min(500, this.intervalMs / 4));
        unchecked.push(sku);
      }
      if (product.askers.has(asker)) continue;
      product.askers.add(asker);
      product.waiting.add(asker);
    }
    if (unchecked.length > 0) this.checkOptIn(merchantId, unchecked);
  }

  /** The connection no longer watches the product (unsubscribed or closed). */
  drop(asker: A, merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const product = this.asked.get(topic);
    if (product === undefined || !product.askers.delete(asker)) return;
    product.waiting.delete(asker);
    if (product.askers.size > 0) return;
    clearTimeout(product.timer);
    this.asked.delete(topic);
  }

  /** Stops; other counters drop this one's counts now rather than at expiry (best effort). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const product of this.asked.values()) clearTimeout(product.timer);
    this.asked.clear();
    this.heard.clear();
    clearInterval(this.reportTimer);
    clearTimeout(this.promptTimer);
    this.report();
    this.offControl();
  }

  // ---- frames -----------------------------------------------------------------------------------

  private frameTimer(topic: string, product: AskedProduct<A>, delayMs: number): NodeJS.Timeout {
    return setTimeout(() => {
      if (this.asked.get(topic) !== product) return;
      product.timer = this.frameTimer(topic, product, this.intervalMs);
      this.frameTime(product);
    }, delayMs).unref();
  }

  private frameTime(product: AskedProduct<A>): void {
    if (Date.now() - product.checkedAt >= OPT_IN_RECHECK_MS) this.checkOptIn(product.merchantId, [product.sku]);
    if (product.optedIn !== true) return;
    const count = this.total(product.merchantId, product.sku);
    const frame = encodeViewers(product.sku, count);
    const to = count === product.sent ? product.waiting : product.askers;
    for (const asker of to) this.options.send(asker, frame);
    product.sent = count;
    product.waiting.clear();
  }

  /** This counter's connections plus every other counter's unexpired report. */
  private total(merchantId: string, sku: string): number {
    const topic = topicOf(merchantId, sku);
    let count = this.options.connections(merchantId, sku);
    const now = Date.now();
    for (const entry of this.heard.get(topic)?.counters.values() ?? []) if (entry.until > now) count += entry.count;
    return count;
  }

  private checkOptIn(merchantId: string, skus: readonly string[]): void {
    const checkedAt = Date.now();
    for (const sku of skus) {
      const product = this.asked.get(topicOf(merchantId, sku));
      // Not again while this read is under way.
      if (product !== undefined) product.checkedAt = checkedAt;
    }
    this.options.optedIn(merchantId, skus).then(
      (optedIn) => {
        const yes = new Set(optedIn);
        for (const sku of skus) {
          const topic = topicOf(merchantId, sku);
          const product = this.asked.get(topic);
          if (product === undefined) continue;
          const before = product.optedIn;
          product.optedIn = yes.has(sku);
          // Newly counted: tell the other counters now, so they answer before the first frame.
          if (product.optedIn && before !== true) this.reportPromptly(topic);
        }
      },
      (error: unknown) => {
        // Asked again at the next frame time.
        for (const sku of skus) {
          const product = this.asked.get(topicOf(merchantId, sku));
          if (product !== undefined) product.checkedAt = 0;
        }
        this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'viewer opt-in read failed');
      },
    );
  }

  // ---- reports between counters -----------------------------------------------------------------

  private reportPromptly(topic: string): void {
    this.prompt.add(topic);
    this.promptTimer ??= setTimeout(() => {
      this.promptTimer = undefined;
      const topics = [...this.prompt];
      this.prompt.clear();
      this.report(topics);
    }, PROMPT_REPORT_MS).unref();
  }

  /** Reports this counter's count of every product someone asked for (or only `only`), and drops expired reports heard. */
  private report(only?: readonly string[]): void {
    const now = Date.now();
    if (only === undefined) this.expire(now);
    const topics = only ?? new Set([...this.asked.keys(), ...this.heard.keys(), ...this.reported.keys()]);
    const counts: ViewerCount[] = [];
    for (const topic of topics) {
      const entry = this.countOf(topic, now);
      if (entry !== undefined) counts.push(entry);
    }
    if (counts.length === 0 || !this.options.bus.connected) return;
    for (let i = 0; i < counts.length; i += REPORT_CHUNK) {
      this.options.bus.broadcast({ type: 'viewers', counter: this.id, counts: counts.slice(i, i + REPORT_CHUNK) });
    }
  }

  /** What to report for one product: its count while someone asks for it, a last 0 once nobody does. */
  private countOf(topic: string, now: number): ViewerCount | undefined {
    const product = this.asked.get(topic) ?? this.heard.get(topic) ?? this.reported.get(topic);
    if (product === undefined) return undefined;
    const { merchantId, sku } = product;
    const asks = this.asked.get(topic)?.optedIn === true;
    const count = this.closed ? 0 : this.options.connections(merchantId, sku);
    if (asks || (count > 0 && this.askedElsewhere(topic, now))) {
      const entry = { merchantId, sku, count, asks };
      this.reported.set(topic, entry);
      return entry;
    }
    if (!this.reported.delete(topic)) return undefined;
    return { merchantId, sku, count: 0, asks: false };
  }

  private askedElsewhere(topic: string, now: number): boolean {
    for (const entry of this.heard.get(topic)?.counters.values() ?? []) if (entry.asks && entry.until > now) return true;
    return false;
  }

  private heardReport(message: ControlMessage): void {
    if (message.type !== 'viewers' || message.counter === this.id || this.closed) return;
    const now = Date.now();
    for (const { merchantId, sku, count, asks } of message.counts) {
      const topic = topicOf(merchantId, sku);
      let product = this.heard.get(topic);
      if (count === 0 && !asks) {
        product?.counters.delete(message.counter);
        if (product?.counters.size === 0) this.heard.delete(topic);
        continue;
      }
      const newlyAsked = asks && !this.askedElsewhere(topic, now);
      if (product === undefined) {
        product = { merchantId, sku, counters: new Map() };
        this.heard.set(topic, product);
      }
      product.counters.set(message.counter, { count, asks, until: now + this.expiryMs });
      // A count someone just asked for: answer before its first frame rather than at the next report.
      if (newlyAsked && !this.reported.has(topic) && this.options.connections(merchantId, sku) > 0) this.reportPromptly(topic);
    }
  }

  private expire(now: number): void {
    for (const [topic, product] of this.heard) {
      for (const [counter, entry] of product.counters) if (entry.until <= now) product.counters.delete(counter);
      if (product.counters.size === 0) this.heard.delete(topic);
    }
  }
}
