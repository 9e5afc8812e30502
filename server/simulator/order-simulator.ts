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

import { OrderStream } from './order-stream.js';
import type { SimulatedSku } from './shelf.js';

export { SimulatorError } from './simulator-api.js';
export type { SimulatedSku } from './shelf.js';

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

export function startOrderSimulator(options: OrderSimulatorOptions): OrderSimulator {
  const rate = options.rate ?? 5;
  if (!(rate > 0 && rate <= 1000)) throw new RangeError('rate must be in (0, 1000] orders per second');
  if (options.skus.length === 0) throw new RangeError('at least one SKU is needed');
  const stream = new OrderStream(options);
  const done = stream.run();
  // Callers that only use stop() still see fatal errors there; avoid an unhandled rejection here.
  done.catch(() => {});

  const onAbort = (): void => stream.stop();
  if (options.signal?.aborted) stream.stop();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  void done.finally(() => options.signal?.removeEventListener('abort', onAbort)).catch(() => {});

  return {
    done,
    stats: () => stream.stats(),
    stop: () => {
      stream.stop();
      return done;
    },
  };
}
