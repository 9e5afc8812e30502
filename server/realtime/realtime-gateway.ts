import { keyKind } from '../access/credentials.js';
import type { KeyCache, PublishableKeyGrant } from '../access/key-cache.js';
import { roomForOneMore } from '../access/merchant-limits.js';
import { originAllowed, webOrigin } from '../access/origin-rule.js';
import type { FoldingSettings, RealtimeLimits, ViewerCountSettings } from '../config.js';
import { errorCodes, type ErrorCode } from '../errors.js';
import { silentLogger, type ComponentLogger, type StockBus } from '../bus/stock-bus.js';
import type { PublicStock } from '../stock/types.js';
import { isValidSku } from '../stock/sku.js';
import { topicOf, unknownView } from '../stock/views.js';
import { clientAddress } from './client-address.js';
import type { ConnectionCounter } from './connection-counter.js';
import { ConnectionLimits, type ConnectionBudgets } from './connection-limits.js';
import type { MerchantSockets } from './merchant-connections.js';
import { FoldingScheduler } from './folding-scheduler.js';
import { RealtimeCounts, type RealtimeCountsSnapshot } from './realtime-counts.js';
import { SnapshotReader, type RealtimeStore as SnapshotStore } from './snapshot-reader.js';
import { TopicRegistry } from './topic-registry.js';
import { ViewerCounts, type ViewerStore } from './viewer-counts.js';
import { loadUws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket, type us_socket_context_t, type UwsModule, type WebSocket } from './uws.js';
import { closeCodes, decodeClientMessage, encodeError, encodePong, encodeSnapshot, encodeStock, startsAsSub, type ClientMessage } from './protocol.js';

/** What the gateway reads from the store (the `StockStore` satisfies it). */
export type RealtimeStore = SnapshotStore & ViewerStore;

export interface RealtimeGatewayOptions {
  readonly host: string;
  /** 0 picks a free port; `port` tells which. */
  readonly port: number;
  readonly folding: FoldingSettings;
  readonly limits: RealtimeLimits;
  readonly viewers: ViewerCountSettings;
  readonly skuMaxLength: number;
  /** Load balancers in front whose `X-Forwarded-For` names the shopper (TRUST_PROXY_HOPS); 0 trusts none. */
  readonly trustProxyHops?: number;
  readonly store: RealtimeStore;
  /** The process's one key cache (`server/access`), shared with the API; a realtime thread's own over it. */
  readonly keys: Pick<KeyCache, 'publishable' | 'cachedPublishable'>;
  readonly bus: StockBus;
  readonly logger?: ComponentLogger;
  /** Sockets per IP; shared by every realtime thread of the process when there are several. */
  readonly connectionCounter?: ConnectionCounter;
  /** Which realtime thread this gateway runs on, reported by `/healthz` (absent: sockets on the main thread). */
  readonly thread?: number;
  /** Each merchant's connection limit and usage (absent: no per-merchant limit, nothing counted). */
  readonly merchantSockets?: MerchantSockets;
}

export interface RealtimeStats {
  readonly connections: number;
  readonly topics: number;
  readonly framesPushed: number;
}

interface SocketData {
  readonly merchantId: string;
  readonly ip: string;
  /** The page's origin, for the merchant's "installed on" list (undefined: none usable). */
  readonly origin: string | undefined;
  readonly skus: Set<string>;
  closed: boolean;
  readonly budgets: ConnectionBudgets;
}

type Socket = WebSocket<SocketData>;

/** Frames past maxFrameBytes up to this multiple get an error and the socket lives; beyond it uWS closes the connection. */
const HARD_FRAME_FACTOR = 4;

/**
 * The uWebSockets.js realtime gateway: `/v1/ws?key=pk_…`, one uWS topic per product, snapshots from
 * the node-local latest value, then the bus cache, then the store; pushes folded per topic. It owns
 * the sockets and their frames; the snapshot reads (`snapshot-reader.ts`), the watched topics
 * (`topic-registry.ts`) and the per-IP and per-connection budgets (`connection-limits.ts`) live apart.
 */
export class RealtimeGateway {
  private readonly uws: UwsModule;
  /** npm name and version of the native uWebSockets.js build in use. */
  readonly uwsBuild: string;
  private readonly app: TemplatedApp;
  private readonly logger: ComponentLogger;
  private readonly scheduler: FoldingScheduler;
  private readonly counted = new RealtimeCounts();
  private readonly sockets = new Set<Socket>();
  private readonly deletedMerchants = new Set<string>();
  private readonly topics: TopicRegistry;
  private readonly snapshots: SnapshotReader;
  private readonly limits: ConnectionLimits;
  private readonly viewers: ViewerCounts<Socket>;
  private readonly unsubscribeBus: Array<() => void> = [];
  private listenSocket: us_listen_socket | undefined;
  private closing = false;
  private boundPort = 0;

  private constructor(private readonly options: RealtimeGatewayOptions) {
    this.logger = options.logger ?? silentLogger;
    this.limits = new ConnectionLimits(options.limits, options.connectionCounter);
    this.scheduler = new FoldingScheduler(options.folding, {
      push: (topic, view) => {
        this.counted.framesPushed += 1;
        const merchantId = this.topics.merchantOf(topic);
        if (merchantId !== undefined) this.options.merchantSockets?.frames(merchantId, this.app.numSubscribers(topic));
        this.app.publish(topic, encodeStock(view), false, false);
      },
      subscribers: (topic) => this.app.numSubscribers(topic),
      onFolded: () => {
        this.counted.updatesFolded += 1;
      },
    });
    this.topics = new TopicRegistry(options.bus, this.scheduler);
    this.snapshots = new SnapshotReader({ store: options.store, bus: options.bus, scheduler: this.scheduler, topics: this.topics, logger: this.logger });
    this.viewers = new ViewerCounts<Socket>({
      settings: options.viewers,
      bus: options.bus,
      connections: (merchantId, sku) => this.topics.subscribers(merchantId, sku),
      optedIn: (merchantId, skus) => options.store.viewerProducts(merchantId, skus),
      send: (ws, frame) => this.send(ws, ws.getUserData(), frame),
      logger: this.logger,
    });
    const { uws, build } = loadUws();
    this.uws = uws;
    this.uwsBuild = build.name;
    this.app = uws.App();
    this.app.ws<SocketData>('/v1/ws', {
      maxPayloadLength: options.limits.maxFrameBytes * HARD_FRAME_FACTOR,
      idleTimeout: options.limits.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      maxBackpressure: options.limits.maxBackpressureBytes,
      // A reader that cannot keep up is closed rather than silently skipped (it would stay stale);
      // its client reconnects and resubscribes with `since`.
      closeOnBackpressureLimit: true,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      close: (ws) => this.closed(ws),
    });
    this.app.get('/healthz', (res) => {
      res.cork(() => {
        res.writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store');
        const thread = this.options.thread === undefined ? {} : { thread: this.options.thread };
        res.end(JSON.stringify({ status: 'ok', bus: this.options.bus.connected ? 'up' : 'down', ...thread }));
      });
    });
    this.app.any('/*', (res) => {
      res.cork(() => {
        res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ error: { code: 'not_found', message: errorCodes.not_found.message } }));
      });
    });
    this.unsubscribeBus.push(
      options.bus.onChange((change) => this.snapshots.learn(change.merchantId, change.view)),
      options.bus.onConnection((state) => this.snapshots.onBusConnection(state)),
    );
  }

  /** Starts listening; rejects when the port cannot be bound. */
  static async start(options: RealtimeGatewayOptions): Promise<RealtimeGateway> {
    const gateway = new RealtimeGateway(options);
    await gateway.listen();
    return gateway;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `ws://${this.options.host}:${this.boundPort}`;
  }

  /** Summed at scrape time only: cheap enough for a gauge, free on the hot path. */
  private subscriptionCount(): number {
    let count = 0;
    for (const ws of this.sockets) count += ws.getUserData().skus.size;
    return count;
  }

  stats(): RealtimeStats {
    return { connections: this.sockets.size, topics: this.topics.size, framesPushed: this.counted.framesPushed };
  }

  /** Everything the gateway counts, for the process's metrics (`realtime-metrics.ts`). */
  counts(): RealtimeCountsSnapshot {
    return this.counted.snapshot({
      connections: this.sockets.size,
      topics: this.topics.size,
      subscriptions: this.subscriptionCount(),
      countedProducts: this.viewers.countedProducts,
      busUp: this.options.bus.connected,
    });
  }

  /**
   * The merchant was deleted: its open sockets close with 1008 now, and one whose upgrade was
   * already past the key check when this ran is closed as it opens.
   */
  closeMerchant(merchantId: string): void {
    // Merchant ids are never reused and deletes are rare admin acts, so the set stays small.
    this.deletedMerchants.add(merchantId);
    for (const ws of [...this.sockets]) {
      if (ws.getUserData().merchantId !== merchantId) continue;
      try {
        ws.end(closeCodes.policy, 'merchant deleted');
      } catch {
        // Already closed by the peer meanwhile.
      }
    }
  }

  /** Graceful: stop listening, close every socket with 1001 going away, drop bus demand. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.listenSocket !== undefined) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    for (const ws of [...this.sockets]) {
      try {
        ws.end(closeCodes.goingAway, 'server going away');
      } catch {
        // Already closed by the peer meanwhile.
      }
    }
    for (const off of this.unsubscribeBus) off();
    this.viewers.close();
    this.topics.close();
    this.snapshots.close();
    this.scheduler.close();
    // Let the close frames leave before the caller closes the bus and store.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.options.host, this.options.port, (listenSocket) => {
        if (listenSocket === false) {
          reject(new Error(`realtime gateway could not listen on ${this.options.host}:${this.options.port}`));
          return;
        }
        this.listenSocket = listenSocket;
        this.boundPort = this.uws.us_socket_local_port(listenSocket);
        resolve();
      });
    });
  }

  // ---- upgrade: key and origin are checked before the socket opens -----------------------------

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    // Everything from `req` must be read now: it is gone after the first await.
    const key = req.getQuery('key') ?? '';
    const origin = req.getHeader('origin');
    const connection = req.getHeader('connection');
    const secWebSocketKey = req.getHeader('sec-websocket-key');
    const secWebSocketProtocol = req.getHeader('sec-websocket-protocol');
    const secWebSocketExtensions = req.getHeader('sec-websocket-extensions');
    const ip = clientAddress(
      Buffer.from(res.getRemoteAddressAsText()).toString('utf8'),
      req.getHeader('x-forwarded-for'),
      this.options.trustProxyHops ?? 0,
    );

    const refuse = (code: ErrorCode, detail: { readonly message?: string; readonly retryAfterSeconds?: number } = {}) => {
      this.counted.upgradeRefused(code);
      if (aborted) return;
      const { status } = errorCodes[code];
      const { message = errorCodes[code].message, retryAfterSeconds } = detail;
      res.cork(() => {
        res.writeStatus(`${status} ${httpReason(status)}`).writeHeader('Content-Type', 'application/json');
        if (retryAfterSeconds !== undefined) res.writeHeader('Retry-After', String(retryAfterSeconds));
        res.end(JSON.stringify({ error: { code, message } }), true);
      });
    };

    if (this.closing) return refuse('storage_unavailable');
    // RFC 6455 wants `Connection: Upgrade`. Without it uWS marks the connection as closing, and an
    // upgrade after a key lookup (below) would open a socket that no close event ever ends.
    if (!hasUpgradeToken(connection)) return refuse('validation_failed');
    // An address one of whose connections was closed for abuse waits, before any other work.
    const wait = this.limits.waitSeconds(ip);
    if (wait > 0) return refuse('rate_limited', { retryAfterSeconds: wait });
    if (this.limits.atConnectionLimit(ip)) return refuse('rate_limited');
    // The key's format is checked before any lookup: a malformed key is a plain 401.
    if (keyKind(key) !== 'publishable') return refuse('unauthorized');

    const merchants = this.options.merchantSockets;
    const lookupFailed = (error: unknown) => {
      this.logger.warn({ err: (error as Error).message }, 'key or limit lookup failed at upgrade');
      refuse('storage_unavailable');
    };
    const upgradeWith = (grant: PublishableKeyGrant | null, merchantLimit: number) => {
      if (grant === null) return refuse('unauthorized');
      if (!originAllowed(origin, grant.allowedOrigins)) return refuse('forbidden_origin');
      // A merchant's sockets grow only when one opens, and it opens within `res.upgrade` below.
      if (merchants !== undefined && !roomForOneMore(merchants.connections(grant.merchantId), merchantLimit)) {
        return refuse('rate_limited', { message: `This merchant may hold at most ${merchantLimit} connections.` });
      }
      // The place is taken in one step with the check: upgrades of one address on several threads, or
      // overlapping one lookup, all passed the first check above.
      if (!this.limits.admit(ip)) return refuse('rate_limited');
      const data: SocketData = {
        merchantId: grant.merchantId,
        ip,
        origin: webOrigin(origin),
        skus: new Set(),
        closed: false,
        budgets: this.limits.newConnection(),
      };
      res.upgrade(data, secWebSocketKey, secWebSocketProtocol, secWebSocketExtensions, context);
    };

    // A key and a limit this process knows are decided at once, inside uWS's own (corked) upgrade handler.
    const cached = this.options.keys.cachedPublishable(key);
    if (cached === null) return upgradeWith(null, 0);
    if (cached !== undefined) {
      const limit = merchants === undefined ? 0 : merchants.cachedConnectionLimit(cached.merchantId);
      if (limit !== undefined) return upgradeWith(cached, limit);
    }
    this.options.keys.publishable(key).then(
      async (grant) => {
        if (aborted) return;
        let merchantLimit = 0;
        if (grant !== null && merchants !== undefined) {
          try {
            merchantLimit = await merchants.connectionLimit(grant.merchantId);
          } catch (error) {
            return lookupFailed(error);
          }
          if (aborted) return;
        }
        // Not inside res.cork: after an upgrade there, uWS (v20.30 and v20.57) goes on to read the
        // request's HTTP state from memory the WebSocket now owns, and at times closes the socket it
        // just opened (1006, no close frame). Uncorked, the 101 leaves in a few small writes and uWS
        // prints a warning; both happen only for a key or limit this process has not read lately.
        upgradeWith(grant, merchantLimit);
      },
      lookupFailed,
    );
  }

  private open(ws: Socket): void {
    const data = ws.getUserData();
    if (this.closing) {
      ws.end(closeCodes.goingAway, 'server going away');
      return;
    }
    if (this.deletedMerchants.has(data.merchantId)) {
      ws.end(closeCodes.policy, 'merchant deleted');
      return;
    }
    this.sockets.add(ws);
    this.options.merchantSockets?.opened(data.merchantId, data.origin);
  }

  private closed(ws: Socket): void {
    const data = ws.getUserData();
    if (data.closed) return;
    data.closed = true;
    // Its address's place was taken at the upgrade, also when `open` ended it at once; the merchant's
    // count only when it opened.
    this.limits.closed(data.ip);
    if (this.sockets.delete(ws)) this.options.merchantSockets?.closed(data.merchantId);
    for (const sku of data.skus) {
      this.viewers.drop(ws, data.merchantId, sku);
      this.topics.release(data.merchantId, sku);
    }
    data.skus.clear();
  }

  // ---- messages -------------------------------------------------------------------------------

  private message(ws: Socket, raw: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    if (!this.limits.chargeMessage(data.budgets)) return this.refuse(ws, data, this.limits.messageRateRefusal);
    // A `sub` while a budget is spent is refused from its first bytes: a client churning
    // subscriptions costs no decoding or parsing of the SKU lists it keeps sending.
    const spent = startsAsSub(raw) ? this.limits.subscriptionsSpent(data.ip, data.budgets) : undefined;
    if (spent !== undefined) return this.refuse(ws, data, spent);
    const decoded = decodeClientMessage(raw, isBinary, {
      maxFrameBytes: this.options.limits.maxFrameBytes,
      skuMaxLength: this.options.skuMaxLength,
    });
    if (!decoded.ok) {
      this.sendError(ws, data, decoded.code, decoded.message);
      return;
    }
    this.handle(ws, data, decoded.message).catch((error: unknown) => {
      this.logger.error({ err: (error as Error).message }, 'realtime message handler failed');
      this.sendError(ws, data, 'internal_error');
    });
  }

  /** A frame over a limit: answered `rate_limited` once a second, else dropped; too many close the connection. */
  private refuse(ws: Socket, data: SocketData, message: string): void {
    this.counted.framesRefused += 1;
    const action = this.limits.refused(data.ip, data.budgets);
    if (action === 'tell') this.sendError(ws, data, 'rate_limited', message);
    else if (action === 'close' && !data.closed) {
      this.counted.closedForAbuse += 1;
      ws.end(closeCodes.policy, 'too many refused frames');
    }
  }

  private async handle(ws: Socket, data: SocketData, message: ClientMessage): Promise<void> {
    if (message.op === 'ping') {
      this.send(ws, data, encodePong(message.id));
      return;
    }
    if (message.op === 'unsub') {
      for (const sku of message.skus) {
        if (!data.skus.delete(sku)) continue;
        this.viewers.drop(ws, data.merchantId, sku);
        ws.unsubscribe(topicOf(data.merchantId, sku));
        this.topics.release(data.merchantId, sku);
      }
      return;
    }
    await this.subscribe(ws, data, message.skus, message.since, message.viewers);
  }

  private async subscribe(
    ws: Socket,
    data: SocketData,
    listed: readonly string[],
    since: Readonly<Record<string, number>>,
    viewers: boolean,
  ): Promise<void> {
    const distinct = [...new Set(listed)];
    // Charged first: a refused `sub` costs nothing more.
    const refusal = this.limits.chargeSubscriptions(data.ip, data.budgets, distinct.length);
    if (refusal !== undefined) return this.refuse(ws, data, refusal);
    // REST's SKU rule: a SKU outside it names no product and never will (writes refuse it), so it is
    // answered unknown without a subscription, a bus watch or a read. A page holding one odd SKU
    // still gets the others (the widget sends all of a page's SKUs in one frame).
    const skus = distinct.filter((sku) => isValidSku(sku, this.options.skuMaxLength));
    const outside = distinct.filter((sku) => !isValidSku(sku, this.options.skuMaxLength));
    const added = skus.filter((sku) => !data.skus.has(sku));
    const max = this.options.limits.maxSubscriptions;
    if (data.skus.size + added.length > max) {
      // All or nothing: a refused `sub` changes no subscription.
      this.sendError(ws, data, 'too_many_subscriptions', `At most ${max} subscriptions per connection.`);
      return;
    }
    for (const sku of added) {
      data.skus.add(sku);
      ws.subscribe(topicOf(data.merchantId, sku));
      this.topics.retain(data.merchantId, sku);
    }
    if (viewers) this.viewers.ask(ws, data.merchantId, skus);
    await Promise.all(skus.map((sku) => this.topics.watching(data.merchantId, sku)));
    if (data.closed) return;
    let views: PublicStock[];
    try {
      views = await this.snapshots.read(data.merchantId, skus);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'snapshot read failed');
      // Still subscribed: changes flow as soon as they happen; the client may retry the snapshot.
      this.sendError(ws, data, 'storage_unavailable');
      return;
    }
    if (data.closed) return;
    const answered = [...views, ...outside.map((sku) => unknownView(sku))];
    this.send(ws, data, encodeSnapshot(answered.filter((view) => since[view.sku] !== view.version)));
  }

  private sendError(ws: Socket, data: SocketData, code: ErrorCode, message?: string): void {
    this.counted.errorSent(code);
    this.send(ws, data, encodeError(code, message));
  }

  /** Sends on one socket; a frame dropped for backpressure closes the socket, never leaving it stale. */
  private send(ws: Socket, data: SocketData, frame: string): void {
    if (data.closed) return;
    this.options.merchantSockets?.frames(data.merchantId, 1);
    try {
      const result = ws.send(frame, false, false);
      if (result === 2 && !data.closed) ws.end(closeCodes.backpressure, 'too slow: frames were dropped');
    } catch {
      // Closed between the check and the send.
    }
  }
}

/** Whether a `Connection` header names the `upgrade` token (a comma-separated list, any case). */
function hasUpgradeToken(connection: string): boolean {
  return connection.split(',').some((token) => token.trim().toLowerCase() === 'upgrade');
}

function httpReason(status: number): string {
  const reasons: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };
  return reasons[status] ?? 'Error';
}
