import { roomForOneMore, type LimitCache } from '../access/merchant-limits.js';
import type { UsageMeter } from '../usage/usage-meter.js';

/** How long a place promised to a thread's upgrade is held for its socket to open. */
const RESERVATION_MS = 5000;

/**
 * What the gateway tells about each merchant's sockets, and asks before it opens one: the
 * merchant's connection limit and how many sockets it holds on every node.
 */
export interface MerchantSockets {
  /** The merchant's `connections` limit (0: none); rejects when it cannot be read. */
  connectionLimit(merchantId: string): Promise<number>;
  /**
   * The limit without waiting, when it is known well enough to decide with `connections` at once;
   * undefined: ask `connectionLimit`.
   */
  cachedConnectionLimit(merchantId: string): number | undefined;
  /** Sockets the merchant holds on every node: this node's exactly, the others' as they last shared them. */
  connections(merchantId: string): number;
  /** A socket opened, from a page on `origin` (undefined: not a browser, or no usable origin). */
  opened(merchantId: string, origin: string | undefined): void;
  closed(merchantId: string): void;
  /** Frames sent to the merchant's sockets. */
  frames(merchantId: string, count: number): void;
}

/** How nodes learn each other's per-merchant socket counts (Redis); absent with the in-process bus (one node). */
export interface ConnectionShare {
  /** Publishes this node's counts and answers the other live nodes' counts, summed per merchant. */
  exchange(own: ReadonlyMap<string, number>): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export interface MerchantConnectionsOptions {
  readonly limits: Pick<LimitCache, 'of' | 'cached'>;
  readonly share?: ConnectionShare;
  /** MERCHANT_CONNECTIONS_SHARE_INTERVAL_MS. */
  readonly shareIntervalMs: number;
  readonly usage?: Pick<UsageMeter, 'connections' | 'frames' | 'originSeen'>;
  readonly onError?: (error: unknown) => void;
}

/**
 * One node's sockets per merchant, and the other nodes' as last shared: the connection limit holds
 * across nodes within what the others opened since their last share. A node that stops sharing
 * (it died) drops out of the others' counts when its shared counts expire. Usage peaks are taken
 * here too: the most sockets a merchant held on every node at once, as this node sees it.
 */
export class MerchantConnections implements MerchantSockets {
  private readonly local = new Map<string, number>();
  /**
   * Places promised to upgrades on worker threads whose sockets have not opened yet (expiry times,
   * oldest first): counted like sockets, so a storm of upgrades across threads cannot pass the limit
   * between the check and the open. An upgrade that never opens gives its place back by expiring.
   */
  private readonly reserved = new Map<string, number[]>();
  private remote = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sharing: Promise<void> | undefined;

  constructor(private readonly options: MerchantConnectionsOptions) {}

  /** Shares at once (so a node starting knows the others' sockets), then every interval. */
  start(): void {
    this.timer ??= setInterval(() => void this.share(), this.options.shareIntervalMs).unref();
    void this.share();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sharing;
    await this.options.share?.close();
  }

  connectionLimit(merchantId: string): Promise<number> {
    return this.options.limits.of(merchantId).then((limits) => limits.connections);
  }

  cachedConnectionLimit(merchantId: string): number | undefined {
    return this.options.limits.cached(merchantId)?.connections;
  }

  connections(merchantId: string): number {
    return (this.local.get(merchantId) ?? 0) + (this.remote.get(merchantId) ?? 0) + this.reservedFor(merchantId);
  }

  /**
   * For an upgrade on a worker thread: the merchant's limit, and whether it has room for one more
   * socket; if so the place is held until the socket opens (or `RESERVATION_MS` passes).
   */
  async reserve(merchantId: string): Promise<{ readonly limit: number; readonly admitted: boolean }> {
    const limit = await this.connectionLimit(merchantId);
    if (limit <= 0) return { limit, admitted: true };
    if (!roomForOneMore(this.connections(merchantId), limit)) return { limit, admitted: false };
    const list = this.reserved.get(merchantId) ?? [];
    list.push(Date.now() + RESERVATION_MS);
    this.reserved.set(merchantId, list);
    return { limit, admitted: true };
  }

  opened(merchantId: string, origin: string | undefined): void {
    this.reserved.get(merchantId)?.shift();
    this.local.set(merchantId, (this.local.get(merchantId) ?? 0) + 1);
    this.options.usage?.connections(merchantId, this.connections(merchantId));
    if (origin !== undefined) this.options.usage?.originSeen(merchantId, origin);
  }

  closed(merchantId: string): void {
    const left = (this.local.get(merchantId) ?? 0) - 1;
    if (left > 0) this.local.set(merchantId, left);
    else this.local.delete(merchantId);
  }

  private reservedFor(merchantId: string): number {
    const list = this.reserved.get(merchantId);
    if (list === undefined) return 0;
    const now = Date.now();
    while (list.length > 0 && list[0]! <= now) list.shift();
    if (list.length === 0) this.reserved.delete(merchantId);
    return list.length;
  }

  frames(merchantId: string, count: number): void {
    this.options.usage?.frames(merchantId, count);
  }

  /** One exchange with the other nodes now (the timer does it every interval). */
  share(): Promise<void> {
    this.sharing ??= this.shareOnce().finally(() => {
      this.sharing = undefined;
    });
    return this.sharing;
  }

  private async shareOnce(): Promise<void> {
    if (this.options.share !== undefined) {
      try {
        this.remote = await this.options.share.exchange(this.local);
      } catch (error) {
        // Redis away: go on with the last counts heard (they only ever err towards admitting).
        this.options.onError?.(error);
      }
    }
    // Each day gets its peak even when nobody connects or leaves that day.
    for (const merchantId of this.local.keys()) this.options.usage?.connections(merchantId, this.connections(merchantId));
  }
}
