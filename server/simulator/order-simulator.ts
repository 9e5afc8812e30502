/**
 * The order simulator's core: drives shop-like traffic through Stockwire's REST API with a secret
 * key — steady sales, flash-sale bursts, restocks of sold-out products, and reservations that are
 * held and then committed or released. It is bounded (duration and request count), stoppable, and
 * importable: `npm start`'s demo runs the same stream.
 *
 * @example
 * const sim = startOrderSimulator({ apiUrl: 'http://127.0.0.1:8080', secretKey: 'sk_…', skus: ['TEE-1'] });
 * setTimeout(() => sim.stop(), 10_000);
 * console.log(await sim.done);
 */

import { errorCodeOf, idOf, stockOf, type StockLike } from './answers.js';
import { SimulatorApi, SimulatorError } from './simulator-api.js';
import { Tasks } from './tasks.js';

export { SimulatorError } from './simulator-api.js';

/** A product to drive; a bare string is `{ sku }`. */
export interface SimulatedSku {
  readonly sku: string;
  /** What a restock sets `onHand` to. Default: the stock found at start (at least `defaultParLevel`). */
  readonly parLevel?: number;
  /** Relative popularity; default follows a long tail (the first SKU sells most). */
  readonly weight?: number;
  /** Display name used when the simulator has to create the product. */
  readonly name?: string;
}

export interface OrderSimulatorOptions {
  /** Base URL of the REST API, e.g. `http://127.0.0.1:8080`. */
  readonly apiUrl: string;
  /** `sk_…`: the simulator writes stock. */
  readonly secretKey: string;
  readonly skus: readonly (string | SimulatedSku)[];
  /** Orders started per second (bursts come on top). Default 5. */
  readonly rate?: number;
  /** Stop after this long. Default: never (call `stop()`). */
  readonly durationMs?: number;
  /** Stop after this many HTTP requests in all. Default: no limit. */
  readonly maxRequests?: number;
  /** Hold → commit/release flows. Default true. */
  readonly reservations?: boolean;
  /** Occasional flash-sale bursts on one product. Default true. */
  readonly bursts?: boolean;
  /** Create products (and stock them) that do not exist yet. Default true. */
  readonly createMissing?: boolean;
  /** Restock target for products that start sold out and have no `parLevel`. Default 20. */
  readonly defaultParLevel?: number;
  /** How long a sold-out product stays sold out before the "delivery" arrives, [min, max] ms. */
  readonly restockDelayMs?: readonly [number, number];
  /** First order number; reasons read "order 1042". Default 1001. */
  readonly firstOrderNumber?: number;
  readonly onEvent?: (event: SimulatorEvent) => void;
  /** Injectable for tests: a number in [0, 1). */
  readonly random?: () => number;
  readonly signal?: AbortSignal;
}

export type SimulatorEvent =
  | { readonly type: 'ready'; readonly skus: readonly string[]; readonly created: readonly string[] }
  | { readonly type: 'sale'; readonly sku: string; readonly quantity: number; readonly order: number; readonly available: number | undefined }
  | { readonly type: 'refused'; readonly sku: string; readonly quantity: number; readonly order: number }
  | { readonly type: 'sold_out'; readonly sku: string }
  | { readonly type: 'restock'; readonly sku: string; readonly onHand: number }
  | { readonly type: 'burst'; readonly sku: string; readonly orders: number }
  | { readonly type: 'hold'; readonly sku: string; readonly reservationId: string }
  | { readonly type: 'commit'; readonly sku: string; readonly reservationId: string }
  | { readonly type: 'release'; readonly sku: string; readonly reservationId: string }
  | { readonly type: 'error'; readonly message: string };

export interface SimulatorStats {
  /** Every HTTP request sent, setup included. */
  requests: number;
  sales: number;
  unitsSold: number;
  /** Sales the API refused with `409 insufficient_stock` (someone else bought the last one). */
  refused: number;
  soldOut: number;
  restocks: number;
  bursts: number;
  holds: number;
  commits: number;
  releases: number;
  rateLimited: number;
  errors: number;
  elapsedMs: number;
}

export interface OrderSimulator {
  /** Settles when the stream has stopped and every hold it made is resolved; rejects on a fatal error (bad key, API unreachable). */
  readonly done: Promise<SimulatorStats>;
  /** A live copy of the counters. */
  stats(): SimulatorStats;
  /** Stops scheduling, waits for requests in flight, releases open holds. Same promise as `done`. */
  stop(): Promise<SimulatorStats>;
}

interface SkuState {
  readonly sku: string;
  readonly weight: number;
  parLevel: number;
  available: number | undefined;
  status: string | undefined;
  restockTimer: NodeJS.Timeout | undefined;
}

const maxInFlight = 32;

export function startOrderSimulator(options: OrderSimulatorOptions): OrderSimulator {
  const rate = options.rate ?? 5;
  if (!(rate > 0 && rate <= 1000)) throw new RangeError('rate must be in (0, 1000] orders per second');
  if (options.skus.length === 0) throw new RangeError('at least one SKU is needed');
  const random = options.random ?? Math.random;
  const [restockMin, restockMax] = options.restockDelayMs ?? [3000, 8000];
  const runId = Date.now().toString(36) + Math.floor(random() * 1e6).toString(36);

  const skus: SkuState[] = options.skus.map((entry, index) => {
    const s = typeof entry === 'string' ? { sku: entry } : entry;
    return {
      sku: s.sku,
      weight: s.weight ?? 1 / (index + 1),
      parLevel: s.parLevel ?? 0,
      available: undefined,
      status: undefined,
      restockTimer: undefined,
    };
  });
  const names = new Map(options.skus.map((e) => (typeof e === 'string' ? [e, undefined] : [e.sku, e.name])));

  // Counted here: what the flows saw. Requests, rate limits and transport errors are the API client's.
  const counts = { sales: 0, unitsSold: 0, refused: 0, soldOut: 0, restocks: 0, bursts: 0, holds: 0, commits: 0, releases: 0, errors: 0 };
  const startedAt = Date.now();
  let nextOrder = options.firstOrderNumber ?? 1001;
  let stopping = false;
  let fatal: SimulatorError | undefined;
  const openHolds = new Map<string, string>(); // reservation id -> sku
  const holdWaiters = new Map<string, () => void>(); // wakes a shopper "at checkout" early on stop
  let tickTimer: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const emit = (event: SimulatorEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // a listener's bug must not stop the stream
    }
  };
  const api = new SimulatorApi({
    apiUrl: options.apiUrl,
    secretKey: options.secretKey,
    ...(options.maxRequests !== undefined ? { maxRequests: options.maxRequests } : {}),
    onFatal: (error) => fail(error),
    onBoundReached: () => requestStop(),
    onServerError: (message) => emit({ type: 'error', message }),
  });
  const call = api.call.bind(api);
  const tasks = new Tasks((error: unknown) => {
    counts.errors += 1;
    emit({ type: 'error', message: (error as Error).message });
  });
  const track = tasks.track.bind(tasks);
  const stats = (): SimulatorStats => ({
    ...counts,
    requests: api.requests,
    rateLimited: api.rateLimited,
    errors: counts.errors + api.networkErrors + api.serverErrors,
    elapsedMs: Date.now() - startedAt,
  });

  function observe(state: SkuState, stock: StockLike | undefined): void {
    if (stock === undefined) return;
    const wasSoldOut = state.status === 'sold_out';
    state.available = stock.available;
    state.status = stock.status;
    if (stock.status === 'sold_out') {
      if (!wasSoldOut) {
        counts.soldOut += 1;
        emit({ type: 'sold_out', sku: state.sku });
      }
      scheduleRestock(state);
    } else if (stock.status === 'low_stock' && random() < 0.1) {
      scheduleRestock(state);
    }
  }

  function scheduleRestock(state: SkuState): void {
    if (state.restockTimer !== undefined || stopping) return;
    const delay = restockMin + random() * Math.max(0, restockMax - restockMin);
    state.restockTimer = tasks.later(delay, () => track(() => restock(state)));
  }

  async function restock(state: SkuState): Promise<void> {
    const answer = await call('PUT', `/v1/stock/${encodeURIComponent(state.sku)}`, { onHand: state.parLevel });
    state.restockTimer = undefined;
    if (answer === undefined || answer.status !== 200) return;
    counts.restocks += 1;
    emit({ type: 'restock', sku: state.sku, onHand: state.parLevel });
    const stock = stockOf(answer.body);
    if (stock !== undefined) {
      state.available = stock.available;
      state.status = stock.status;
    } else {
      state.available = undefined;
      state.status = undefined;
    }
  }

  async function sell(state: SkuState, quantity: number): Promise<void> {
    const order = nextOrder++;
    const answer = await call(
      'POST',
      `/v1/stock/${encodeURIComponent(state.sku)}/adjust`,
      { delta: -quantity, reason: `order ${order}` },
      { 'idempotency-key': `sim-${runId}-order-${order}` },
    );
    if (answer === undefined) return;
    if (answer.status === 200) {
      counts.sales += 1;
      counts.unitsSold += quantity;
      const stock = stockOf(answer.body);
      emit({ type: 'sale', sku: state.sku, quantity, order, available: stock?.available });
      observe(state, stock);
    } else if (answer.status === 409) {
      counts.refused += 1;
      emit({ type: 'refused', sku: state.sku, quantity, order });
      // The last units went elsewhere: look again so the product gets restocked.
      const fresh = await call('GET', `/v1/stock/${encodeURIComponent(state.sku)}`);
      if (fresh?.status === 200) observe(state, stockOf(fresh.body));
      else scheduleRestock(state);
    } else if (answer.status !== 429 && answer.status < 500) {
      counts.errors += 1;
      emit({ type: 'error', message: `adjust ${state.sku}: ${answer.status} ${errorCodeOf(answer.body) ?? ''}` });
    }
  }

  async function holdThenDecide(state: SkuState): Promise<void> {
    const answer = await call('POST', '/v1/reservations', { sku: state.sku, quantity: 1, ttlSeconds: 60 });
    if (answer === undefined) return;
    if (answer.status === 409) {
      counts.refused += 1;
      return;
    }
    const id = idOf(answer.body);
    if (answer.status !== 201 || id === undefined) {
      if (answer.status !== 429 && answer.status < 500) counts.errors += 1;
      return;
    }
    counts.holds += 1;
    openHolds.set(id, state.sku);
    emit({ type: 'hold', sku: state.sku, reservationId: id });
    // A shopper at checkout: most pay within a few seconds, some abandon the cart.
    // Stopped meanwhile: no wait, the hold is released below (a stopped Tasks fires no timer).
    if (!stopping) await new Promise<void>((resolve) => {
      const t = tasks.later(1000 + random() * 3000, resolve);
      holdWaiters.set(id, () => {
        tasks.cancel(t);
        resolve();
      });
    });
    holdWaiters.delete(id);
    if (!openHolds.has(id)) return;
    const commit = !stopping && random() < 0.7;
    await resolveHold(id, state, commit);
  }
  async function resolveHold(id: string, state: SkuState, commit: boolean): Promise<void> {
    openHolds.delete(id);
    const path = `/v1/reservations/${encodeURIComponent(id)}`;
    // Sent even past the request bound: a hold taken must be resolved, never left to expire.
    const answer = commit ? await call('POST', `${path}/commit`, undefined, {}, true) : await call('DELETE', path, undefined, {}, true);
    if (answer === undefined || answer.status >= 300) return;
    if (commit) {
      counts.commits += 1;
      counts.unitsSold += 1;
      emit({ type: 'commit', sku: state.sku, reservationId: id });
      const stock = stockOf(answer.body);
      if (stock !== undefined) observe(state, stock);
    } else {
      counts.releases += 1;
      emit({ type: 'release', sku: state.sku, reservationId: id });
    }
  }

  function pick(): SkuState | undefined {
    const open = skus.filter((s) => s.status !== 'sold_out');
    if (open.length === 0) return undefined;
    const total = open.reduce((sum, s) => sum + s.weight, 0);
    let r = random() * total;
    for (const s of open) {
      r -= s.weight;
      if (r <= 0) return s;
    }
    return open[open.length - 1];
  }

  function tick(): void {
    if (stopping) return;
    if (Date.now() >= api.pausedUntil && tasks.running < maxInFlight) {
      const state = pick();
      const r = random();
      if (state === undefined) {
        // Everything is sold out: wait for the deliveries.
      } else if (options.bursts !== false && r < 0.03) {
        const orders = 4 + Math.floor(random() * 7);
        counts.bursts += 1;
        emit({ type: 'burst', sku: state.sku, orders });
        for (let i = 0; i < orders; i += 1) track(() => sell(state, 1));
      } else if (options.reservations !== false && r < 0.15) {
        track(() => holdThenDecide(state));
      } else {
        track(() => sell(state, random() < 0.75 ? 1 : 2));
      }
    }
    // Jittered spacing (exponential, mean 1/rate) reads like real arrivals rather than a metronome.
    const gap = Math.min(5000, (-Math.log(1 - random()) * 1000) / rate);
    tickTimer = setTimeout(tick, gap);
  }

  async function setup(): Promise<void> {
    const created: string[] = [];
    for (const state of skus) {
      let answer = await call('GET', `/v1/stock/${encodeURIComponent(state.sku)}`);
      // A server that is still starting (or a busy machine) gets a few seconds before we give up.
      for (let attempt = 1; answer === undefined && attempt < 5 && !stopping; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        answer = await call('GET', `/v1/stock/${encodeURIComponent(state.sku)}`);
      }
      if (fatal || stopping) return;
      if (answer === undefined) {
        throw new SimulatorError('unreachable', `Cannot reach the API at ${api.apiUrl}. Is Stockwire running (npm start)?`);
      }
      const par = Math.max(state.parLevel, options.defaultParLevel ?? 20);
      if (answer.status === 404 && options.createMissing !== false) {
        const name = names.get(state.sku) ?? `Simulated ${state.sku}`;
        await call('PUT', `/v1/products/${encodeURIComponent(state.sku)}`, { name, lowStockThreshold: 3, display: 'exact' });
        const put = await call('PUT', `/v1/stock/${encodeURIComponent(state.sku)}`, { onHand: par });
        if (fatal) return;
        state.parLevel = par;
        observe(state, stockOf(put?.body));
        created.push(state.sku);
      } else if (answer.status === 200) {
        const stock = stockOf(answer.body);
        if (state.parLevel === 0) state.parLevel = Math.max(stock?.onHand ?? 0, options.defaultParLevel ?? 20);
        observe(state, stock);
      } else {
        throw new SimulatorError('bad_response', `GET /v1/stock/${state.sku} answered ${answer.status} ${errorCodeOf(answer.body) ?? ''}`);
      }
    }
    emit({ type: 'ready', skus: skus.map((s) => s.sku), created });
  }

  function fail(error: SimulatorError): void {
    if (fatal === undefined) fatal = error;
    requestStop();
  }

  function requestStop(): void {
    if (stopping) return;
    stopping = true;
    if (tickTimer !== undefined) clearTimeout(tickTimer);
    if (durationTimer !== undefined) clearTimeout(durationTimer);
    tasks.stop();
    for (const s of skus) s.restockTimer = undefined;
    // Shoppers waiting at checkout decide now; their holds are released below.
    for (const wake of [...holdWaiters.values()]) wake();
    finish();
  }

  const done = (async (): Promise<SimulatorStats> => {
    try {
      await setup();
    } catch (error) {
      fail(error instanceof SimulatorError ? error : new SimulatorError('bad_response', (error as Error).message));
    }
    if (!stopping) {
      if (options.durationMs !== undefined && Number.isFinite(options.durationMs)) {
        durationTimer = setTimeout(requestStop, Math.max(0, options.durationMs - (Date.now() - startedAt)));
      }
      tick();
    }
    await finished;
    await tasks.settled();
    // Holds whose shopper never decided (the stream stopped first) are released, never left to expire.
    if (fatal === undefined) {
      for (const [id, sku] of [...openHolds]) {
        const state = skus.find((s) => s.sku === sku)!;
        await resolveHold(id, state, false);
      }
    }
    if (fatal !== undefined) throw fatal;
    return stats();
  })();
  // Callers that only use stop() still see fatal errors there; avoid an unhandled rejection here.
  done.catch(() => {});

  const onAbort = (): void => requestStop();
  if (options.signal?.aborted) requestStop();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  void done.finally(() => options.signal?.removeEventListener('abort', onAbort)).catch(() => {});

  return {
    done,
    stats,
    stop: () => {
      requestStop();
      return done;
    },
  };
}
