import { backoffDelay } from './backoff.js';
import { decodeJson, decodeStockView, encodeFrames, isRecord, itemsOf } from './codec.js';
import { StockwireError } from './errors.js';
import { openWebSocket, type Connection, type WebSocketConstructor } from './transport.js';
import type { ConnectionState, StockView } from './types.js';

/** The subset of `fetch` the polling fallback uses (the global one in browsers and Node 20). */
export type FetchLike = (url: string) => Promise<{ readonly status: number; json(): Promise<unknown> }>;

export interface StockClientOptions {
  /** Publishable key `pk_…`. A secret key is refused: it must never reach a browser. */
  readonly key: string;
  /** REST origin, e.g. `https://stock.example.com`. Default: the page's origin. Needed for polling. */
  readonly apiUrl?: string;
  /**
   * Socket address, e.g. `wss://ws.example.com` (`/v1/ws` is added when the URL has no path).
   * Default: `apiUrl` with `ws(s):` and path `/v1/ws`, for servers behind one reverse proxy.
   */
  readonly wsUrl?: string;
  /** WebSocket constructor; default `globalThis.WebSocket`. In Node 20 pass `WebSocket` from `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** `fetch` for polling; default `globalThis.fetch`. */
  readonly fetch?: FetchLike;
  /** Smallest reconnect delay (default 500 ms); delays double per failed attempt up to the max. */
  readonly reconnectMinDelayMs?: number;
  /** Largest reconnect delay (default 20 s). */
  readonly reconnectMaxDelayMs?: number;
  /** Failed socket attempts in a row before falling back to HTTP polling (default 2). */
  readonly failuresBeforePolling?: number;
  /** Poll period while the socket is unavailable (default 5 s). */
  readonly pollIntervalMs?: number;
  /** Heartbeat period on an open socket (default 20 s). */
  readonly pingIntervalMs?: number;
  /**
   * A socket that does not open, or does not answer a ping, within this long is dead: it is dropped
   * and retried (default 10 s). Catches proxies that swallow connections and half-open TCP.
   */
  readonly timeoutMs?: number;
}

/** Typed events: `client.on('state', ({ newState, oldState }) => …)`. */
export interface StockClientEvents {
  /** Every connection state change, exactly once per change. */
  state: { readonly newState: ConnectionState; readonly oldState: ConnectionState };
  /** Every view the client accepts (newer than the one shown before), for any SKU. */
  stock: StockView;
  /** A reconnect is scheduled: `attempt` counts failures in a row, `delayMs` is the backoff chosen. */
  retry: { readonly attempt: number; readonly delayMs: number };
  /** Something went wrong; the client keeps trying unless it was closed. */
  error: StockwireError;
  /** How many people look at a SKU subscribed with `{ viewers: true }`: honest, never padded. */
  viewers: { readonly sku: string; readonly count: number };
}

export type StockListener = (view: StockView) => void;

/** What `subscribe` may also ask for. */
export interface SubscribeOptions {
  /**
   * Also count viewers: the server sends `viewers` events with the number of open connections
   * subscribed to the SKU on every node (this one included), within 2 s and then on change, for
   * products the merchant opted in to viewer counts. Kept while the SKU stays subscribed.
   */
  readonly viewers?: boolean;
}

/** The public face of the client. */
export interface StockClient {
  /** Current connection state. */
  readonly state: ConnectionState;
  /**
   * Follow one SKU. The listener gets the current view at once when the client has one, then every
   * newer view; never an older one. Returns the function that stops following. With
   * `{ viewers: true }` the client also gets `viewers` events for the SKU.
   *
   * @example
   * ```ts
   * const stop = client.subscribe('SKU-1', (view) => console.log(view.status, view.available));
   * stop();
   * client.on('viewers', ({ sku, count }) => console.log(`${count} people are viewing ${sku}`));
   * client.subscribe('SKU-1', () => {}, { viewers: true });
   * ```
   */
  subscribe(sku: string, listener: StockListener, options?: SubscribeOptions): () => void;
  /**
   * The newest view the client holds for a SKU, if any.
   *
   * @example
   * ```ts
   * if (client.get('SKU-1')?.status === 'sold_out') disableBuyButton();
   * ```
   */
  get(sku: string): StockView | undefined;
  /**
   * Listen to a typed event; returns the function that removes the listener.
   *
   * @example
   * ```ts
   * const off = client.on('state', ({ newState }) => console.log('stock feed is', newState));
   * ```
   */
  on<K extends keyof StockClientEvents>(event: K, listener: (payload: StockClientEvents[K]) => void): () => void;
  /**
   * Close the socket, stop polling and timers; the state becomes `closed` for good.
   *
   * @example
   * ```ts
   * window.addEventListener('pagehide', () => client.close());
   * ```
   */
  close(): void;
}

/**
 * Creates a live stock client: one socket for any number of SKUs, reconnecting with capped,
 * jittered exponential backoff, resubscribing with the versions it holds, and polling
 * `GET /v1/stock?skus=` when the socket cannot be opened. The socket opens at once.
 *
 * @example
 * ```ts
 * import { createStockClient } from 'stockwire';
 *
 * const client = createStockClient({ key: 'pk_live_123', apiUrl: 'https://stock.example.com', wsUrl: 'wss://ws.example.com' });
 * client.on('state', ({ newState }) => console.log(newState));
 * const stop = client.subscribe('SKU-1', (view) => console.log(view.status, view.available));
 * ```
 *
 * @example
 * ```ts
 * // Node 20 has no global WebSocket: pass the `ws` package's constructor.
 * import WebSocket from 'ws';
 * const client = createStockClient({ key: 'pk_live_123', apiUrl: 'http://127.0.0.1:8080', wsUrl: 'ws://127.0.0.1:9501', WebSocket });
 * ```
 */
export function createStockClient(options: StockClientOptions): StockClient {
  return new Client(options);
}


/** REST multi-get cap: the server's default `MULTI_GET_MAX_SKUS`. */
const skusPerPoll = 100;

type AnyListener = (payload: never) => void;
type Timer = ReturnType<typeof setTimeout>;

/**
 * The state machine. Private members start with `_` so the widget build can shorten them; timers
 * are cleared with `clearTimeout(undefined)` freely, which is a no-op.
 */
class Client implements StockClient {
  private _state: ConnectionState = 'connecting';
  private readonly _key: string;
  private readonly _apiUrl: string | undefined;
  private readonly _socketUrl: string;
  private readonly _ws: WebSocketConstructor | undefined;
  private readonly _fetch: FetchLike | undefined;
  private readonly _minDelay: number;
  private readonly _maxDelay: number;
  private readonly _failuresBeforePolling: number;
  private readonly _pollInterval: number;
  private readonly _pingInterval: number;
  private readonly _timeout: number;
  private readonly _events = new Map<keyof StockClientEvents, Set<AnyListener>>();
  /** SKU → listeners; a SKU is subscribed on the server exactly while it has listeners. */
  private readonly _subs = new Map<string, Set<StockListener>>();
  /** The newest view shown per SKU: the version guard, and the `since` of every resubscribe. */
  private readonly _latest = new Map<string, StockView>();
  /** SKUs subscribed with `viewers: true`, until they are unsubscribed. */
  private readonly _counted = new Set<string>();
  private _conn: Connection | undefined;
  private _failures = 0;
  private _pending = new Set<string>();
  private _retryTimer: Timer | undefined;
  private _pingTimer: Timer | undefined;
  /** Armed while waiting for the socket to open or for any frame after a ping; firing means dead. */
  private _deadline: Timer | undefined;
  private _pollTimer: Timer | undefined;

  constructor(options: StockClientOptions) {
    const key = options?.key;
    // Only publishable keys: a secret key must never reach a browser or a socket.
    if (!/^pk_/.test(key)) throw new StockwireError('invalid_options', 'key: a publishable key (pk_…) is required');
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
    const apiUrl = (options.apiUrl ?? (origin && origin !== 'null' ? origin : undefined))?.replace(/\/+$/, '');
    const wsUrl = options.wsUrl ?? apiUrl?.replace(/^http/, 'ws');
    if (!wsUrl) throw new StockwireError('invalid_options', 'apiUrl or wsUrl is required');
    const positive = (value: number | undefined, fallback: number): number => (value! > 0 && value! < Infinity ? value! : fallback);
    this._key = key;
    this._apiUrl = apiUrl;
    this._socketUrl = socketUrl(wsUrl, key);
    this._ws = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this._fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this._minDelay = positive(options.reconnectMinDelayMs, 500);
    this._maxDelay = Math.max(this._minDelay, positive(options.reconnectMaxDelayMs, 20_000));
    this._failuresBeforePolling = positive(options.failuresBeforePolling, 2);
    this._pollInterval = positive(options.pollIntervalMs, 5000);
    this._pingInterval = positive(options.pingIntervalMs, 20_000);
    this._timeout = positive(options.timeoutMs, 10_000);
    this._connect();
    // Phones suspend background tabs and drop their sockets: when the page is shown again, the
    // network returns or the page comes back from the back/forward cache, connect now instead of
    // waiting out a backoff that may have grown to 20 s. On `pagehide` the socket is closed, since
    // an open one keeps the page out of that cache.
    if (globalThis.document) {
      for (const type of ['online', 'pageshow', 'visibilitychange']) addEventListener(type, this._wake);
      addEventListener('pagehide', this._sleep);
    }
  }

  get state(): ConnectionState {
    return this._state;
  }

  subscribe(sku: string, listener: StockListener, options?: SubscribeOptions): () => void {
    // Counts asked for a SKU already subscribed without them: subscribe again, this time with `viewers`.
    if (!this._subs.has(sku) || (options?.viewers && !this._counted.has(sku))) this._queue(sku);
    if (options?.viewers) this._counted.add(sku);
    const own = add(this._subs, sku, listener);
    if (this._latest.has(sku)) {
      queueMicrotask(() => {
        if (own.has(listener)) call(listener, this._latest.get(sku)!);
      });
    }
    return () => {
      if (own.delete(listener) && !own.size && this._subs.get(sku) === own) {
        this._subs.delete(sku);
        this._counted.delete(sku);
        this._queue(sku);
      }
    };
  }

  get(sku: string): StockView | undefined {
    return this._latest.get(sku);
  }

  on<K extends keyof StockClientEvents>(event: K, listener: (payload: StockClientEvents[K]) => void): () => void {
    const own = add(this._events, event, listener);
    return () => {
      own.delete(listener);
    };
  }

  close(): void {
    if (this._state === 'closed') return;
    this._setState('closed');
    this._sleep();
  }

  /** Socket closed, nothing scheduled: what `close()` does, but `_wake` may start again. */
  private readonly _sleep = (): void => {
    this._dropSocket(true);
    clearTimeout(this._retryTimer);
    clearTimeout(this._pollTimer);
    if (this._state !== 'closed') this._setState('reconnecting');
  };

  /**
   * Connect now, unless closed, hidden (no hurry then), or a socket is already open or opening (an
   * open one is pinged, so a socket that died while suspended is noticed). A `pageshow` counts only
   * when the page comes back from the back/forward cache (`persisted`), not on the first load.
   */
  private readonly _wake = (event?: Event): void => {
    if (this._state === 'closed' || document.hidden || (event as PageTransitionEvent | undefined)?.persisted === false) return;
    if (this._conn) {
      if (this._state === 'open') this._ping();
      return;
    }
    clearTimeout(this._retryTimer);
    this._connect();
  };

  /** The one place the state changes, so every change is announced exactly once. */
  private _setState(newState: ConnectionState): void {
    const oldState = this._state;
    if (oldState !== newState) {
      this._state = newState;
      this._emit('state', { newState, oldState });
    }
  }

  private _emit<K extends keyof StockClientEvents>(event: K, payload: StockClientEvents[K]): void {
    for (const listener of [...(this._events.get(event) ?? [])]) call(listener as (payload: StockClientEvents[K]) => void, payload);
  }

  private _connect(): void {
    if (!this._ws) {
      this._startPolling();
      return;
    }
    this._conn = openWebSocket(this._ws, this._socketUrl, {
      _onOpen: () => this._onOpen(),
      _onMessage: (text) => this._onMessage(text),
      _onClose: () => this._onSocketLost(),
    });
    this._arm();
  }

  private _arm(): void {
    this._deadline = setTimeout(() => this._onSocketLost(), this._timeout);
  }

  private _onOpen(): void {
    clearTimeout(this._deadline);
    this._deadline = undefined;
    this._failures = 0;
    clearTimeout(this._pollTimer);
    this._setState('open');
    // Resubscribe everything with the versions shown: the server answers only what changed.
    this._pending.clear();
    this._sendSubs([...this._subs.keys()]);
    this._pingTimer = setInterval(() => this._ping(), this._pingInterval);
  }

  private _onMessage(text: string): void {
    // Any frame proves the connection alive.
    clearTimeout(this._deadline);
    this._deadline = undefined;
    const frame = decodeJson(text);
    if (frame?.t === 'stock') this._accept(frame);
    else if (frame?.t === 'snapshot') itemsOf(frame).forEach(this._accept);
    else if (frame?.t === 'viewers' && (frame.count as number) >= 0) {
      this._emit('viewers', { sku: frame.sku as string, count: frame.count as number });
    }
    else if (frame?.t === 'error' && typeof frame.code === 'string') {
      this._emit('error', new StockwireError(frame.code, String(frame.message ?? frame.code)));
    }
  }

  private _ping(): void {
    if (this._deadline !== undefined) return;
    this._conn?.send('{"op":"ping"}');
    this._arm();
  }

  /** The socket closed, failed to open, timed out opening, or stopped answering: retry with backoff. */
  private _onSocketLost(): void {
    this._dropSocket(false);
    if (this._state === 'closed') return;
    this._failures++;
    if (this._failures >= this._failuresBeforePolling && this._apiUrl && this._fetch) this._startPolling();
    else if (this._state !== 'polling') this._setState('reconnecting');
    const delayMs = backoffDelay(this._failures - 1, this._minDelay, this._maxDelay);
    this._emit('retry', { attempt: this._failures, delayMs });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delayMs);
  }

  private _dropSocket(graceful: boolean): void {
    clearInterval(this._pingTimer);
    clearTimeout(this._deadline);
    this._deadline = undefined;
    this._conn?.close(graceful);
    this._conn = undefined;
  }

  /**
   * The version guard: a view is shown only when it is newer than the one shown before, so a late
   * snapshot, a lagging node or a slow poll can never take the display backwards.
   */
  private readonly _accept = (value: unknown): void => {
    const view = decodeStockView(value);
    const shown = view && this._latest.get(view.sku);
    if (!view || (shown && view.version <= shown.version)) return;
    this._latest.set(view.sku, view);
    for (const listener of [...(this._subs.get(view.sku) ?? [])]) call(listener, view);
    this._emit('stock', view);
  };

  /**
   * (Un)subscriptions made in one tick go out together: a page mounting forty widgets sends one `sub`.
   * Whether a queued SKU is a sub or an unsub is decided at flush time, by whether it has listeners.
   */
  private _queue(sku: string): void {
    if (!this._pending.size) {
      queueMicrotask(() => {
        const skus = [...this._pending];
        this._pending.clear();
        const subs = skus.filter((s) => this._subs.has(s));
        const unsubs = skus.filter((s) => !this._subs.has(s));
        if (this._state === 'open') {
          this._send(encodeFrames(unsubs));
          this._sendSubs(subs);
        }
        else if (this._state === 'polling' && subs.length) this._schedulePoll(0);
      });
    }
    this._pending.add(sku);
  }

  private _send(frames: readonly string[]): void {
    for (const frame of frames) this._conn?.send(frame);
  }

  /** `sub` frames with `since`; SKUs someone counts viewers of go in their own frames with `viewers: true`. */
  private _sendSubs(skus: readonly string[]): void {
    this._send(encodeFrames(skus.filter((sku) => !this._counted.has(sku)), this._latest));
    this._send(encodeFrames(skus.filter((sku) => this._counted.has(sku)), this._latest, true));
  }

  /** Polling runs exactly while the state is `polling`; the socket keeps being retried meanwhile. */
  private _startPolling(): void {
    if (this._state !== 'closed' && this._state !== 'polling') {
      this._setState('polling');
      this._schedulePoll(0);
    }
  }

  private _schedulePoll(delayMs: number): void {
    clearTimeout(this._pollTimer);
    this._pollTimer = setTimeout(() => void this._poll(), delayMs);
  }

  /** One round of `GET /v1/stock?skus=` (100 SKUs a request); every failed request is reported. */
  private async _poll(): Promise<void> {
    const skus = [...this._subs.keys()];
    for (let i = 0; i < skus.length; i += skusPerPoll) {
      try {
        // The key rides in the query (allowed for publishable keys on GET): a simple request, no CORS preflight.
        const list = encodeURIComponent(skus.slice(i, i + skusPerPoll).join(','));
        const response = await this._fetch!(`${this._apiUrl}/v1/stock?key=${encodeURIComponent(this._key)}&skus=${list}`);
        const body = await response.json();
        if (response.status !== 200) {
          const answer = isRecord(body) && isRecord(body.error) ? body.error : {};
          throw new StockwireError(String(answer.code ?? 'poll_failed'), String(answer.message ?? response.status));
        }
        itemsOf(body).forEach(this._accept);
      } catch (error) {
        if (this._state === 'polling') {
          this._emit('error', error instanceof StockwireError ? error : new StockwireError('poll_failed', String(error), { cause: error }));
        }
      }
    }
    if (this._state === 'polling') this._schedulePoll(this._pollInterval);
  }
}

/** `ws://host:9501` → `ws://host:9501/v1/ws?key=pk_…`; a URL with its own path keeps it. */
function socketUrl(base: string, key: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch (cause) {
    throw new StockwireError('invalid_options', `wsUrl is not a URL: ${base}`, { cause });
  }
  if (url.pathname === '/') url.pathname = '/v1/ws';
  url.searchParams.set('key', key);
  return `${url}`;
}

/** Adds a listener to the set under `key`, creating it; returns that set. */
function add<K, F>(map: Map<K, Set<F>>, key: K, listener: F): Set<F> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set.add(listener);
}

/** A listener that throws must not break the client or the other listeners; report it to the host. */
function call<T>(listener: (payload: T) => void, payload: T): void {
  try {
    listener(payload);
  } catch (error) {
    (globalThis.reportError ?? console.error)(error);
  }
}
