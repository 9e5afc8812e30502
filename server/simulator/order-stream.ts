import { errorCodeOf, idOf, stockOf, type StockLike } from './answers.js';
import type { OrderSimulatorOptions, SimulatorEvent, SimulatorStats } from './order-simulator.js';
import { Shelf, type ShelfItem } from './shelf.js';
import { SimulatorApi, SimulatorError } from './simulator-api.js';
import { Tasks } from './tasks.js';

const maxInFlight = 32;

/**
 * One run of the order simulator: orders arrive at random (exponential gaps around `rate`), each a
 * sale, a flash-sale burst or a hold that a shopper commits or abandons; sold-out products get a
 * delivery a few seconds later. `run()` sets the products up, streams until stopped, then resolves
 * every hold it made.
 */
export class OrderStream {
  private readonly random: () => number;
  private readonly rate: number;
  private readonly restockDelayMs: readonly [number, number];
  /** Idempotency keys of this run's orders start with it. */
  private readonly runId: string;
  private readonly shelf: Shelf;
  private readonly api: SimulatorApi;
  private readonly tasks: Tasks;
  // Counted here: what the flows saw. Requests, rate limits and transport errors are the API client's.
  private readonly counts = { sales: 0, unitsSold: 0, refused: 0, soldOut: 0, restocks: 0, bursts: 0, holds: 0, commits: 0, releases: 0, errors: 0 };
  private readonly startedAt = Date.now();
  private nextOrder: number;
  private stopping = false;
  private fatal: SimulatorError | undefined;
  /** Reservation id → sku of every hold not yet committed or released. */
  private readonly openHolds = new Map<string, string>();
  /** Wakes a shopper "at checkout" early on stop. */
  private readonly holdWaiters = new Map<string, () => void>();
  private tickTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private finish: () => void = () => {};
  private readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly options: OrderSimulatorOptions) {
    this.rate = options.rate ?? 5;
    this.random = options.random ?? Math.random;
    this.restockDelayMs = options.restockDelayMs ?? [3000, 8000];
    this.runId = Date.now().toString(36) + Math.floor(this.random() * 1e6).toString(36);
    this.nextOrder = options.firstOrderNumber ?? 1001;
    this.shelf = new Shelf(options.skus, this.random);
    this.api = new SimulatorApi({
      apiUrl: options.apiUrl,
      secretKey: options.secretKey,
      ...(options.maxRequests !== undefined ? { maxRequests: options.maxRequests } : {}),
      onFatal: (error) => this.fail(error),
      onBoundReached: () => this.stop(),
      onServerError: (message) => this.emit({ type: 'error', message }),
    });
    this.tasks = new Tasks((error: unknown) => {
      this.counts.errors += 1;
      this.emit({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    });
  }

  stats(): SimulatorStats {
    return {
      ...this.counts,
      requests: this.api.requests,
      rateLimited: this.api.rateLimited,
      errors: this.counts.errors + this.api.networkErrors + this.api.serverErrors,
      elapsedMs: Date.now() - this.startedAt,
    };
  }

  /** Settles when the stream has stopped and every hold it made is resolved; rejects on a fatal error. */
  async run(): Promise<SimulatorStats> {
    try {
      await this.setup();
    } catch (error) {
      this.fail(error instanceof SimulatorError ? error : new SimulatorError('bad_response', error instanceof Error ? error.message : String(error)));
    }
    if (!this.stopping) {
      const { durationMs } = this.options;
      if (durationMs !== undefined && Number.isFinite(durationMs)) {
        this.durationTimer = setTimeout(() => this.stop(), Math.max(0, durationMs - (Date.now() - this.startedAt)));
      }
      this.tick();
    }
    await this.finished;
    await this.tasks.settled();
    // Holds whose shopper never decided (the stream stopped first) are released, never left to expire.
    if (this.fatal === undefined) {
      for (const [id, sku] of [...this.openHolds]) await this.resolveHold(id, this.shelf.get(sku)!, false);
    }
    if (this.fatal !== undefined) throw this.fatal;
    return this.stats();
  }

  /** Stops scheduling; flows in flight run on, shoppers at checkout decide now. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.durationTimer);
    this.tasks.stop();
    for (const item of this.shelf.items) item.restockTimer = undefined;
    // Shoppers waiting at checkout decide now; their holds are released by run().
    for (const wake of [...this.holdWaiters.values()]) wake();
    this.finish();
  }

  private fail(error: SimulatorError): void {
    if (this.fatal === undefined) this.fatal = error;
    this.stop();
  }

  private emit(event: SimulatorEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // a listener's bug must not stop the stream
    }
  }

  /** Finds each product, or creates and stocks it; learns its par level. */
  private async setup(): Promise<void> {
    const created: string[] = [];
    const defaultParLevel = this.options.defaultParLevel ?? 20;
    for (const item of this.shelf.items) {
      const path = `/v1/stock/${encodeURIComponent(item.sku)}`;
      let answer = await this.api.call('GET', path);
      // A server that is still starting (or a busy machine) gets a few seconds before we give up.
      for (let attempt = 1; answer === undefined && attempt < 5 && !this.stopping; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        answer = await this.api.call('GET', path);
      }
      if (this.fatal || this.stopping) return;
      if (answer === undefined) {
        throw new SimulatorError('unreachable', `Cannot reach the API at ${this.api.apiUrl}. Is Stockwire running (npm start)?`);
      }
      const par = Math.max(item.parLevel, defaultParLevel);
      if (answer.status === 404 && this.options.createMissing !== false) {
        const name = item.name ?? `Simulated ${item.sku}`;
        await this.api.call('PUT', `/v1/products/${encodeURIComponent(item.sku)}`, { name, lowStockThreshold: 3, display: 'exact' });
        const put = await this.api.call('PUT', path, { onHand: par });
        if (this.fatal) return;
        item.parLevel = par;
        this.observe(item, stockOf(put?.body));
        created.push(item.sku);
      } else if (answer.status === 200) {
        const stock = stockOf(answer.body);
        if (item.parLevel === 0) item.parLevel = Math.max(stock?.onHand ?? 0, defaultParLevel);
        this.observe(item, stock);
      } else {
        throw new SimulatorError('bad_response', `GET /v1/stock/${item.sku} answered ${answer.status} ${errorCodeOf(answer.body) ?? ''}`);
      }
    }
    this.emit({ type: 'ready', skus: this.shelf.items.map((s) => s.sku), created });
  }

  /** The next order, then the next arrival. Jittered spacing (exponential, mean 1/rate) reads like real arrivals rather than a metronome. */
  private tick(): void {
    if (this.stopping) return;
    if (Date.now() >= this.api.pausedUntil && this.tasks.running < maxInFlight) {
      const item = this.shelf.pick();
      const r = this.random();
      if (item === undefined) {
        // Everything is sold out: wait for the deliveries.
      } else if (this.options.bursts !== false && r < 0.03) {
        const orders = 4 + Math.floor(this.random() * 7);
        this.counts.bursts += 1;
        this.emit({ type: 'burst', sku: item.sku, orders });
        for (let i = 0; i < orders; i += 1) this.tasks.track(() => this.sell(item, 1));
      } else if (this.options.reservations !== false && r < 0.15) {
        this.tasks.track(() => this.holdThenDecide(item));
      } else {
        this.tasks.track(() => this.sell(item, this.random() < 0.75 ? 1 : 2));
      }
    }
    const gap = Math.min(5000, (-Math.log(1 - this.random()) * 1000) / this.rate);
    this.tickTimer = setTimeout(() => this.tick(), gap);
  }

  /** Notes a stock answer; a product that sold out (or, now and then, runs low) gets a delivery. */
  private observe(item: ShelfItem, stock: StockLike | undefined): void {
    if (stock === undefined) return;
    const wasSoldOut = item.status === 'sold_out';
    this.shelf.record(item, stock);
    if (stock.status === 'sold_out') {
      if (!wasSoldOut) {
        this.counts.soldOut += 1;
        this.emit({ type: 'sold_out', sku: item.sku });
      }
      this.scheduleRestock(item);
    } else if (stock.status === 'low_stock' && this.random() < 0.1) {
      this.scheduleRestock(item);
    }
  }

  private scheduleRestock(item: ShelfItem): void {
    if (item.restockTimer !== undefined || this.stopping) return;
    const [min, max] = this.restockDelayMs;
    const delay = min + this.random() * Math.max(0, max - min);
    item.restockTimer = this.tasks.later(delay, () => this.tasks.track(() => this.restock(item)));
  }

  private async restock(item: ShelfItem): Promise<void> {
    const answer = await this.api.call('PUT', `/v1/stock/${encodeURIComponent(item.sku)}`, { onHand: item.parLevel });
    item.restockTimer = undefined;
    if (answer === undefined || answer.status !== 200) return;
    this.counts.restocks += 1;
    this.emit({ type: 'restock', sku: item.sku, onHand: item.parLevel });
    this.shelf.record(item, stockOf(answer.body));
  }

  private async sell(item: ShelfItem, quantity: number): Promise<void> {
    const order = this.nextOrder++;
    const path = `/v1/stock/${encodeURIComponent(item.sku)}`;
    const answer = await this.api.call('POST', `${path}/adjust`, { delta: -quantity, reason: `order ${order}` }, { 'idempotency-key': `sim-${this.runId}-order-${order}` });
    if (answer === undefined) return;
    if (answer.status === 200) {
      this.counts.sales += 1;
      this.counts.unitsSold += quantity;
      const stock = stockOf(answer.body);
      this.emit({ type: 'sale', sku: item.sku, quantity, order, available: stock?.available });
      this.observe(item, stock);
    } else if (answer.status === 409) {
      this.counts.refused += 1;
      this.emit({ type: 'refused', sku: item.sku, quantity, order });
      // The last units went elsewhere: look again so the product gets restocked.
      const fresh = await this.api.call('GET', path);
      if (fresh?.status === 200) this.observe(item, stockOf(fresh.body));
      else this.scheduleRestock(item);
    } else if (answer.status !== 429 && answer.status < 500) {
      this.counts.errors += 1;
      this.emit({ type: 'error', message: `adjust ${item.sku}: ${answer.status} ${errorCodeOf(answer.body) ?? ''}` });
    }
  }

  private async holdThenDecide(item: ShelfItem): Promise<void> {
    const answer = await this.api.call('POST', '/v1/reservations', { sku: item.sku, quantity: 1, ttlSeconds: 60 });
    if (answer === undefined) return;
    if (answer.status === 409) {
      this.counts.refused += 1;
      return;
    }
    const id = idOf(answer.body);
    if (answer.status !== 201 || id === undefined) {
      if (answer.status !== 429 && answer.status < 500) this.counts.errors += 1;
      return;
    }
    this.counts.holds += 1;
    this.openHolds.set(id, item.sku);
    this.emit({ type: 'hold', sku: item.sku, reservationId: id });
    // A shopper at checkout: most pay within a few seconds, some abandon the cart.
    // Stopped meanwhile: no wait, the hold is released by run() (a stopped Tasks fires no timer).
    if (!this.stopping) {
      await new Promise<void>((resolve) => {
        const t = this.tasks.later(1000 + this.random() * 3000, resolve);
        this.holdWaiters.set(id, () => {
          this.tasks.cancel(t);
          resolve();
        });
      });
    }
    this.holdWaiters.delete(id);
    if (!this.openHolds.has(id)) return;
    const commit = !this.stopping && this.random() < 0.7;
    await this.resolveHold(id, item, commit);
  }

  private async resolveHold(id: string, item: ShelfItem, commit: boolean): Promise<void> {
    this.openHolds.delete(id);
    const path = `/v1/reservations/${encodeURIComponent(id)}`;
    // Sent even past the request bound: a hold taken must be resolved, never left to expire.
    const answer = commit ? await this.api.call('POST', `${path}/commit`, undefined, {}, true) : await this.api.call('DELETE', path, undefined, {}, true);
    if (answer === undefined || answer.status >= 300) return;
    if (commit) {
      this.counts.commits += 1;
      this.counts.unitsSold += 1;
      this.emit({ type: 'commit', sku: item.sku, reservationId: id });
      const stock = stockOf(answer.body);
      if (stock !== undefined) this.observe(item, stock);
    } else {
      this.counts.releases += 1;
      this.emit({ type: 'release', sku: item.sku, reservationId: id });
    }
  }
}
