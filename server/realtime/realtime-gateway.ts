import type { Registry } from 'prom-client';
import { keyKind } from '../access/credentials.js';
import type { KeyCache } from '../access/key-cache.js';
import { originAllowed } from '../access/origin-rule.js';
import type { RealtimeLimits } from '../config.js';
import { errorCodes, type ErrorCode } from '../errors.js';
import { silentLogger, type ComponentLogger, type StockBus } from '../bus/stock-bus.js';
import type { PublicStock, StockChange } from '../stock/types.js';
import { isValidSku } from '../stock/sku.js';
import { topicOf, unknownView } from '../stock/views.js';
import { clientAddress } from './client-address.js';
import { LocalConnectionCounter, type ConnectionCounter } from './connection-counter.js';
import { FoldingScheduler } from './folding-scheduler.js';
import { RealtimeMetrics } from './realtime-metrics.js';
import { loadUws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket, type us_socket_context_t, type UwsModule, type WebSocket } from './uws.js';
import { closeCodes, decodeClientMessage, encodeError, encodePong, encodeSnapshot, encodeStock, type ClientMessage } from './protocol.js';

/** What the gateway reads from the store (the `StockStore` satisfies it). */
export interface RealtimeStore {
  publicViews(merchantId: string, skus: readonly string[]): Promise<PublicStock[]>;
}

export interface RealtimeGatewayOptions {
  readonly host: string;
  /** 0 picks a free port; `port` tells which. */
  readonly port: number;
  readonly publishIntervalMs: number;
  readonly limits: RealtimeLimits;
  readonly skuMaxLength: number;
  /** Load balancers in front whose `X-Forwarded-For` names the shopper (TRUST_PROXY_HOPS); 0 trusts none. */
  readonly trustProxyHops?: number;
  readonly store: RealtimeStore;
  /** The process's one key cache (`server/access`), shared with the API. */
  readonly keys: Pick<KeyCache, 'publishable'>;
  readonly bus: StockBus;
  readonly logger?: ComponentLogger;
  /** The process's one metrics registry; the gateway's own when omitted. */
  readonly metricsRegistry?: Registry;
  /** Sockets per IP; shared by every realtime thread of the process when there are several. */
  readonly connectionCounter?: ConnectionCounter;
  /** Which realtime thread this gateway runs on, reported by `/healthz` (absent: sockets on the main thread). */
  readonly thread?: number;
}

export interface RealtimeStats {
  readonly connections: number;
  readonly topics: number;
  readonly framesPushed: number;
}

interface SocketData {
  readonly merchantId: string;
  readonly ip: string;
  readonly skus: Set<string>;
  closed: boolean;
  windowStart: number;
  messagesInWindow: number;
  toldRateLimited: boolean;
  /** SKUs named in `sub` frames in the current one-second window (new subscriptions and snapshot reads). */
  readonly subscribeBudget: Budget;
}

/** One client IP: its open sockets and its shared budget of new subscriptions and snapshot reads. */
interface AddressState {
  connections: number;
  readonly subscribeBudget: Budget;
}

interface Budget {
  windowStart: number;
  used: number;
}

interface ActiveTopic {
  readonly merchantId: string;
  readonly sku: string;
  sockets: number;
  /** Resolves once bus events for the topic flow: a snapshot read after it cannot miss a change. */
  readonly watching: Promise<void>;
}

type Socket = WebSocket<SocketData>;

/**
 * How long a SKU the store does not know is remembered as unknown: repeated subscriptions to it
 * cost no store reads meanwhile. Still correct when the product is created: every write publishes
 * to the bus, whose latest-value cache is read before this, and subscribers get the change itself.
 */
const UNKNOWN_SKU_TTL_MS = 5000;
const UNKNOWN_SKU_MAX = 100_000;
/** Chunk size of store reads during a resync (the store's multi-get limit). */
const RESYNC_CHUNK = 100;
/** Frames past maxFrameBytes up to this multiple get an error and the socket lives; beyond it uWS closes the connection. */
const HARD_FRAME_FACTOR = 4;

/**
 * The uWebSockets.js realtime gateway: `/v1/ws?key=pk_…`, one uWS topic per product, snapshots from
 * the node-local latest value, then the bus cache, then the store; pushes folded per topic.
 */
export class RealtimeGateway {
  private readonly uws: UwsModule;
  /** npm name and version of the native uWebSockets.js build in use. */
  readonly uwsBuild: string;
  private readonly app: TemplatedApp;
  private readonly logger: ComponentLogger;
  private readonly scheduler: FoldingScheduler;
  private readonly metrics: RealtimeMetrics;
  private readonly sockets = new Set<Socket>();
  private readonly deletedMerchants = new Set<string>();
  private readonly active = new Map<string, ActiveTopic>();
  private readonly connectionsPerIp: ConnectionCounter;
  /** This thread's view of each address: its subscription budget, kept while it has sockets here. */
  private readonly addresses = new Map<string, AddressState>();
  /** Topics the store did not know, until when (see UNKNOWN_SKU_TTL_MS). */
  private readonly unknownUntil = new Map<string, number>();
  private readonly unsubscribeBus: Array<() => void> = [];
  private listenSocket: us_listen_socket | undefined;
  /** False from a bus outage until the resync finished: the local cache may be stale meanwhile. */
  private localCacheTrusted = true;
  /** Snapshot reads under way, per topic: a connect storm shares one read per product, not one per socket. */
  private readonly pendingReads = new Map<string, Promise<PublicStock>>();
  private framesPushed = 0;
  private closing = false;
  private boundPort = 0;
  /** Drops addresses without sockets once their budget window is over. */
  private readonly addressSweep = setInterval(() => {
    const now = Date.now();
    for (const [ip, address] of this.addresses) {
      if (address.connections <= 0 && now - address.subscribeBudget.windowStart >= 1000) this.addresses.delete(ip);
    }
  }, 5000).unref();

  private constructor(private readonly options: RealtimeGatewayOptions) {
    this.logger = options.logger ?? silentLogger;
    this.connectionsPerIp = options.connectionCounter ?? new LocalConnectionCounter();
    this.metrics = new RealtimeMetrics(
      () => ({ connections: this.sockets.size, topics: this.active.size, subscriptions: this.subscriptionCount(), busUp: options.bus.connected }),
      options.metricsRegistry,
    );
    this.scheduler = new FoldingScheduler(
      options.publishIntervalMs,
      (topic, view) => {
        this.framesPushed += 1;
        this.metrics.framesPushed.inc();
        this.app.publish(topic, encodeStock(view), false, false);
      },
      () => this.metrics.updatesFolded.inc(),
    );
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
      options.bus.onChange((change) => this.onBusChange(change)),
      options.bus.onConnection((state) => this.onBusConnection(state)),
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
    return { connections: this.sockets.size, topics: this.active.size, framesPushed: this.framesPushed };
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
    for (const topic of this.active.values()) this.options.bus.unwatch(topic.merchantId, topic.sku);
    this.active.clear();
    this.scheduler.close();
    clearInterval(this.addressSweep);
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
    const secWebSocketKey = req.getHeader('sec-websocket-key');
    const secWebSocketProtocol = req.getHeader('sec-websocket-protocol');
    const secWebSocketExtensions = req.getHeader('sec-websocket-extensions');
    const ip = clientAddress(
      Buffer.from(res.getRemoteAddressAsText()).toString('utf8'),
      req.getHeader('x-forwarded-for'),
      this.options.trustProxyHops ?? 0,
    );

    const refuse = (code: ErrorCode) => {
      this.metrics.upgradesRefused.inc({ code });
      if (aborted) return;
      const { status, message } = errorCodes[code];
      res.cork(() => {
        res.writeStatus(`${status} ${httpReason(status)}`).writeHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ error: { code, message } }), true);
      });
    };

    if (this.closing) return refuse('storage_unavailable');
    const max = this.options.limits.maxConnectionsPerIp;
    if (max > 0 && this.connectionsPerIp.count(ip) >= max) return refuse('rate_limited');
    // The key's format is checked before any lookup: a malformed key is a plain 401.
    if (keyKind(key) !== 'publishable') return refuse('unauthorized');

    this.options.keys.publishable(key).then(
      (grant) => {
        if (aborted) return;
        if (grant === null) return refuse('unauthorized');
        if (!originAllowed(origin, grant.allowedOrigins)) return refuse('forbidden_origin');
        // Again now: upgrades of one address that overlapped the lookup all passed the first check,
        // and the count grows only when a socket opens (synchronously, inside res.upgrade).
        if (max > 0 && this.connectionsPerIp.count(ip) >= max) return refuse('rate_limited');
        const data: SocketData = {
          merchantId: grant.merchantId,
          ip,
          skus: new Set(),
          closed: false,
          windowStart: Date.now(),
          messagesInWindow: 0,
          toldRateLimited: false,
          subscribeBudget: { windowStart: 0, used: 0 },
        };
        res.cork(() => res.upgrade(data, secWebSocketKey, secWebSocketProtocol, secWebSocketExtensions, context));
      },
      (error: unknown) => {
        this.logger.warn({ err: (error as Error).message }, 'publishable key lookup failed at upgrade');
        refuse('storage_unavailable');
      },
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
    this.connectionsPerIp.add(data.ip, 1);
    const address = this.addresses.get(data.ip);
    if (address !== undefined) address.connections += 1;
    else this.addresses.set(data.ip, { connections: 1, subscribeBudget: { windowStart: 0, used: 0 } });
  }

  private closed(ws: Socket): void {
    const data = ws.getUserData();
    if (data.closed) return;
    data.closed = true;
    if (this.sockets.delete(ws)) {
      this.connectionsPerIp.add(data.ip, -1);
      const address = this.addresses.get(data.ip);
      // An address that just spent its budget keeps it until the window ends: reconnecting must not refill it.
      if (address !== undefined && --address.connections <= 0 && Date.now() - address.subscribeBudget.windowStart >= 1000) {
        this.addresses.delete(data.ip);
      }
    }
    for (const sku of data.skus) this.release(data.merchantId, sku);
    data.skus.clear();
  }

  // ---- messages -------------------------------------------------------------------------------

  private message(ws: Socket, raw: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    if (!this.withinRate(ws, data)) return;
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

  /** Fixed one-second windows; the first frame over the limit is answered once, the rest are dropped. */
  private withinRate(ws: Socket, data: SocketData): boolean {
    const now = Date.now();
    if (now - data.windowStart >= 1000) {
      data.windowStart = now;
      data.messagesInWindow = 0;
      data.toldRateLimited = false;
    }
    data.messagesInWindow += 1;
    if (data.messagesInWindow <= this.options.limits.maxMessagesPerSecond) return true;
    if (!data.toldRateLimited) {
      data.toldRateLimited = true;
      this.sendError(ws, data, 'rate_limited', `At most ${this.options.limits.maxMessagesPerSecond} messages per second.`);
    }
    return false;
  }

  private async handle(ws: Socket, data: SocketData, message: ClientMessage): Promise<void> {
    if (message.op === 'ping') {
      this.send(ws, data, encodePong(message.id));
      return;
    }
    if (message.op === 'unsub') {
      for (const sku of message.skus) {
        if (!data.skus.delete(sku)) continue;
        ws.unsubscribe(topicOf(data.merchantId, sku));
        this.release(data.merchantId, sku);
      }
      return;
    }
    await this.subscribe(ws, data, message.skus, message.since);
  }

  private async subscribe(ws: Socket, data: SocketData, listed: readonly string[], since: Readonly<Record<string, number>>): Promise<void> {
    const distinct = [...new Set(listed)];
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
    const refusal = this.chargeSubscribeBudget(data, distinct.length);
    if (refusal !== undefined) {
      this.sendError(ws, data, 'rate_limited', refusal);
      return;
    }
    for (const sku of added) {
      data.skus.add(sku);
      ws.subscribe(topicOf(data.merchantId, sku));
      this.retain(data.merchantId, sku);
    }
    await Promise.all(skus.map((sku) => this.active.get(topicOf(data.merchantId, sku))?.watching));
    if (data.closed) return;
    let views: PublicStock[];
    try {
      views = await this.readViews(data.merchantId, skus);
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

  /**
   * Each SKU a `sub` names costs one unit of the connection's and the IP's budget per second: it is
   * a new subscription (a bus watch) or a snapshot read, or both. Subscription churn from one place
   * thus costs the store and the bus a bounded amount, however many sockets it opens. Both budgets
   * are charged only when both allow (a refused `sub` changes nothing). Undefined: allowed.
   */
  private chargeSubscribeBudget(data: SocketData, cost: number): string | undefined {
    const { maxNewSubscriptionsPerSecond: perConnection, maxNewSubscriptionsPerIpPerSecond: perIp } = this.options.limits;
    const now = Date.now();
    const address = this.addresses.get(data.ip);
    const ipBudget = perIp > 0 ? address?.subscribeBudget : undefined;
    const connectionBudget = perConnection > 0 ? data.subscribeBudget : undefined;
    for (const budget of [connectionBudget, ipBudget]) {
      if (budget !== undefined && now - budget.windowStart >= 1000) {
        budget.windowStart = now;
        budget.used = 0;
      }
    }
    if (connectionBudget !== undefined && connectionBudget.used + cost > perConnection) {
      return `At most ${perConnection} subscriptions and snapshot reads per second on a connection.`;
    }
    if (ipBudget !== undefined && ipBudget.used + cost > perIp) {
      return `At most ${perIp} subscriptions and snapshot reads per second from one address.`;
    }
    if (connectionBudget !== undefined) connectionBudget.used += cost;
    if (ipBudget !== undefined) ipBudget.used += cost;
    return undefined;
  }

  /**
   * One view per sku: node-local latest value, then the bus cache, then the store. Values learned
   * from the bus or store seed the local cache; the answer is never older than what this node
   * already pushed on the topic. Concurrent reads of one product share a single read.
   */
  private async readViews(merchantId: string, skus: readonly string[]): Promise<PublicStock[]> {
    const found = new Map<string, PublicStock>();
    if (this.localCacheTrusted) {
      for (const sku of skus) {
        const local = this.scheduler.latest(topicOf(merchantId, sku));
        if (local !== undefined) found.set(sku, local);
      }
    }
    const waits: Array<Promise<unknown>> = [];
    const toRead: string[] = [];
    for (const sku of skus) {
      if (found.has(sku)) continue;
      const pending = this.pendingReads.get(topicOf(merchantId, sku));
      if (pending) waits.push(pending.then((view) => found.set(sku, view)));
      else toRead.push(sku);
    }
    if (toRead.length > 0) {
      const batch = this.readThrough(merchantId, toRead);
      for (const sku of toRead) {
        const topic = topicOf(merchantId, sku);
        const read = batch.then((views) => views.get(sku) ?? unknownView(sku));
        this.pendingReads.set(topic, read);
        const forget = () => {
          if (this.pendingReads.get(topic) === read) this.pendingReads.delete(topic);
        };
        read.then(forget, forget);
        waits.push(read.then((view) => found.set(sku, view)));
      }
    }
    await Promise.all(waits);
    return skus.map((sku) => {
      const read = found.get(sku) ?? unknownView(sku);
      const local = this.scheduler.latest(topicOf(merchantId, sku));
      return local !== undefined && local.version > read.version ? local : read;
    });
  }

  /** The bus cache, then the store for what it lacks; what is learned seeds this node's cache. */
  private async readThrough(merchantId: string, skus: readonly string[]): Promise<Map<string, PublicStock>> {
    const found = new Map<string, PublicStock>();
    const cached = await this.options.bus.cached(merchantId, skus);
    skus.forEach((sku, i) => {
      const view = cached[i];
      if (view !== undefined) {
        found.set(sku, view);
        this.learn(merchantId, view);
      }
    });
    const now = Date.now();
    const missing = skus.filter((sku) => !found.has(sku) && !((this.unknownUntil.get(topicOf(merchantId, sku)) ?? 0) > now));
    if (missing.length > 0) {
      const fromStore = await this.options.store.publicViews(merchantId, missing);
      for (const view of fromStore) {
        found.set(view.sku, view);
        this.learn(merchantId, view);
        // Warm the bus cache (e.g. after a Redis restart emptied it); version-guarded, so harmless.
        if (view.status === 'unknown') this.rememberUnknown(topicOf(merchantId, view.sku), now);
        else if (view.version > 0) this.options.bus.publish({ merchantId, view });
      }
    }
    return found;
  }

  private rememberUnknown(topic: string, now: number): void {
    if (this.unknownUntil.size >= UNKNOWN_SKU_MAX) {
      for (const [key, until] of this.unknownUntil) if (until <= now) this.unknownUntil.delete(key);
      if (this.unknownUntil.size >= UNKNOWN_SKU_MAX) this.unknownUntil.clear();
    }
    this.unknownUntil.set(topic, now + UNKNOWN_SKU_TTL_MS);
  }

  /** Feeds a value into the topic's scheduler, if anyone on this node still watches it. */
  private learn(merchantId: string, view: PublicStock): void {
    const topic = topicOf(merchantId, view.sku);
    if (view.status !== 'unknown') this.unknownUntil.delete(topic);
    if (this.active.has(topic)) this.scheduler.offer(topic, view);
  }

  private onBusChange(change: StockChange): void {
    this.learn(change.merchantId, change.view);
  }

  private onBusConnection(state: 'up' | 'down'): void {
    if (state === 'down') {
      this.localCacheTrusted = false;
      return;
    }
    void this.resync();
  }

  /** After a bus outage, re-reads every active product from the store (the truth) and pushes what changed. */
  private async resync(): Promise<void> {
    const byMerchant = new Map<string, string[]>();
    for (const topic of this.active.values()) {
      const list = byMerchant.get(topic.merchantId) ?? [];
      list.push(topic.sku);
      byMerchant.set(topic.merchantId, list);
    }
    let failed = false;
    for (const [merchantId, skus] of byMerchant) {
      for (let i = 0; i < skus.length; i += RESYNC_CHUNK) {
        try {
          const views = await this.options.store.publicViews(merchantId, skus.slice(i, i + RESYNC_CHUNK));
          for (const view of views) {
            this.learn(merchantId, view);
            if (view.version > 0) this.options.bus.publish({ merchantId, view });
          }
        } catch (error) {
          failed = true;
          this.logger.warn({ err: (error as Error).message }, 'resync read failed');
        }
      }
    }
    if (this.options.bus.connected && !failed) this.localCacheTrusted = true;
    else if (!this.closing && failed) setTimeout(() => void this.resync(), 1000).unref();
    this.logger.info({ topics: this.active.size, failed }, 'realtime resync after bus reconnect');
  }

  // ---- topics ---------------------------------------------------------------------------------

  private retain(merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const existing = this.active.get(topic);
    if (existing !== undefined) {
      existing.sockets += 1;
      return;
    }
    this.active.set(topic, { merchantId, sku, sockets: 1, watching: this.options.bus.watch(merchantId, sku) });
  }

  private release(merchantId: string, sku: string): void {
    const topic = topicOf(merchantId, sku);
    const entry = this.active.get(topic);
    if (entry === undefined) return;
    entry.sockets -= 1;
    if (entry.sockets > 0) return;
    this.active.delete(topic);
    this.scheduler.forget(topic);
    this.options.bus.unwatch(merchantId, sku);
  }

  private sendError(ws: Socket, data: SocketData, code: ErrorCode, message?: string): void {
    this.metrics.errorsSent.inc({ code });
    this.send(ws, data, encodeError(code, message));
  }

  /** Sends on one socket; a frame dropped for backpressure closes the socket, never leaving it stale. */
  private send(ws: Socket, data: SocketData, frame: string): void {
    if (data.closed) return;
    try {
      const result = ws.send(frame, false, false);
      if (result === 2 && !data.closed) ws.end(closeCodes.backpressure, 'too slow: frames were dropped');
    } catch {
      // Closed between the check and the send.
    }
  }
}

function httpReason(status: number): string {
  const reasons: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };
  return reasons[status] ?? 'Error';
}
