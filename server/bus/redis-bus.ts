import type { Cluster } from 'ioredis';
import type { PublicStock, StockChange } from '../stock/types.js';
import { topicOf } from '../stock/views.js';
import { encodeChange } from './bus-codec.js';
import { BusKeys } from './bus-keys.js';
import { readCachedViews, readPayloads, withSetLatest, type LatestValueClient } from './latest-cache.js';
import { OutboxBus, type OutboxBusOptions } from './outbox-bus.js';
import { connectRedis, type RedisClient, type RedisEndpoint } from './redis-endpoint.js';
import { WatchedProducts, type WatchedProduct } from './watched-products.js';

/** How long close() waits for unsent changes to reach Redis. */
const CLOSE_FLUSH_MS = 1000;
/** Changes per publish round; ioredis pipelines the round's commands per node. */
const PUBLISH_BATCH = 500;

export type RedisBusOptions = RedisEndpoint &
  OutboxBusOptions & {
    /** Every key and channel starts with it (`REDIS_KEY_PREFIX`). */
    readonly keyPrefix: string;
    /** Cached values expire after this long without a change, so abandoned products do not stay in Redis forever. */
    readonly cacheTtlSeconds?: number;
    /** A cache read slower than this counts as a miss; the caller falls back to the store. */
    readonly readTimeoutMs?: number;
    /**
     * Cluster only: changes stored this recently are sent again when a primary changes, because a
     * primary acknowledges before its replica has the write (asynchronous replication) and may also
     * accept writes for up to the cluster's node timeout while cut off. Cover that timeout.
     */
    readonly failoverReplayMs?: number;
  };

/**
 * Redis adapter (ioredis, Redis 7+ for sharded pub/sub), on one Redis or a Redis Cluster: the same
 * code holds an ioredis `Redis` or `Cluster`. Commands go one by one and ioredis pipelines those of
 * one tick per node, as a cluster requires.
 *
 * Subscription by demand: a node SSUBSCRIBEs to one channel per product that at least one of its
 * sockets watches (reference-counted), so it never receives, let alone parses, events for products
 * nobody on it watches. Per-product channels cost Redis a dict entry each, which is cheap, and with
 * sharded pub/sub on a cluster each event only travels to the shard that owns its slot. Subscribing
 * by shard would need fewer channels but make every node parse the events of its whole shard.
 *
 * No lost update, two halves: (1) `publish` writes into a latest-per-product outbox that is flushed
 * whenever the command connection is ready, so a change committed while Redis was unreachable goes
 * out (cache and event) as soon as it is back; (2) when the subscriber connection comes back it
 * re-subscribes and reports `up`, and the gateway re-reads every active product from the store,
 * which also covers events lost in flight or a writer that died with a full outbox.
 *
 * Control messages travel on one sharded channel every node subscribes to. The outbox, the control
 * outbox and the listeners are `OutboxBus`'s; this adapter adds how they leave (a version-guarded
 * script per change, SPUBLISH per control message) and the Cluster's failover replay.
 */
export class RedisBus extends OutboxBus {
  readonly kind = 'redis';
  private readonly keys: BusKeys;
  private readonly cacheTtlSeconds: number;
  private readonly readTimeoutMs: number;
  private readonly controlChannel: string;
  private readonly cmd: LatestValueClient;
  private readonly sub: RedisClient;
  /** Cluster only: the latest change stored per product, oldest first, for the failover replay. */
  private readonly recent = new Map<string, { readonly change: StockChange; readonly at: number }>();
  private readonly maxRecent: number;
  private readonly failoverReplayMs: number;
  private primaries = '';
  /** Watched products by channel. */
  private readonly watched = new WatchedProducts();
  private flushing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private controlRetryTimer: NodeJS.Timeout | undefined;
  private subUp = false;
  private lastFailureLog = 0;

  constructor(options: RedisBusOptions) {
    super('redis', options);
    this.keys = new BusKeys(options.keyPrefix);
    this.cacheTtlSeconds = options.cacheTtlSeconds ?? 86_400;
    this.readTimeoutMs = options.readTimeoutMs ?? 500;
    this.maxRecent = options.maxOutbox ?? 100_000;
    this.failoverReplayMs = isClusterEndpoint(options) ? (options.failoverReplayMs ?? 15_000) : 0;
    this.controlChannel = this.keys.controlChannel();

    // Commands fail fast while disconnected: the outbox, not ioredis, holds what must be retried.
    // Reconnect quickly and forever; Redis being back within a second or two keeps the 5 s promise.
    const common = { connectTimeoutMs: 2000, retryDelayMs: (times: number) => Math.min(100 * times, 1000) };
    this.cmd = withSetLatest(connectRedis(options, { ...common, connectionName: 'stockwire-bus' }));
    this.sub = connectRedis(options, { ...common, connectionName: 'stockwire-sub', subscriber: true });

    this.cmd.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'redis bus command connection error'));
    this.sub.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'redis bus subscriber connection error'));
    this.cmd.on('ready', () => {
      void this.checkServerVersion();
      this.queueFlush();
      this.flushControl();
      // The two connections come back independently; whichever is second replays what was missed.
      if (this.subUp) void this.replayCache(this.watched.all());
    });
    this.sub.on('ready', () => void this.onSubscriberReady());
    this.sub.on('close', () => this.onSubscriberDown());
    this.sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString('utf8'), message));
    if (isCluster(this.sub)) this.followShards(this.sub);
    if (isCluster(this.cmd)) this.followPrimaries(this.cmd);
  }

  get connected(): boolean {
    return this.subUp;
  }

  cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    if (this.closed) return Promise.resolve(skus.map(() => undefined));
    return readCachedViews(this.cmd, this.keys, merchantId, skus, this.readTimeoutMs);
  }

  async watch(merchantId: string, sku: string): Promise<void> {
    if (this.closed) return;
    const { product, first } = this.watched.add(merchantId, sku, () => ({ merchantId, sku, address: this.keys.channel(merchantId, sku) }));
    if (!first || this.sub.status !== 'ready') return; // onSubscriberReady subscribes it, then reports `up`.
    try {
      await this.sub.ssubscribe(product.address);
    } catch (error) {
      const err = error instanceof Error ? error.message : String(error);
      this.logger.debug({ err, topic: topicOf(merchantId, sku) }, 'redis bus subscribe failed; will resubscribe on reconnect');
    }
  }

  unwatch(merchantId: string, sku: string): void {
    const product = this.watched.release(merchantId, sku);
    if (product !== undefined && this.sub.status === 'ready' && !this.closed) this.sub.sunsubscribe(product.address).catch(() => {});
  }

  /** Waits until both connections are ready (tests and start-up checks); resolves false on timeout. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.subUp && this.cmd.status === 'ready') return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Best effort: give pending changes up to a second to leave before the connections go, including
    // those queued behind a flush that was already under way (flush() returns at once while one runs).
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    while ((this.outbox.size > 0 || this.flushing) && this.cmd.status === 'ready' && Date.now() < deadline) {
      void this.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.controlRetryTimer);
    this.clearListeners();
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  protected async flush(): Promise<void> {
    if (this.flushing || this.cmd.status !== 'ready') return;
    this.flushing = true;
    let failed = false;
    try {
      while (this.outbox.size > 0 && this.cmd.status === 'ready' && !failed) {
        const batch = this.outbox.take(PUBLISH_BATCH);
        // One command each; ioredis pipelines them per node (products of a batch live on every shard).
        const results = await Promise.allSettled(
          batch.map((change) => {
            const { merchantId, view } = change;
            return this.cmd.stockwireSetLatest(
              this.keys.latestKey(merchantId, view.sku),
              view.version,
              encodeChange(change),
              this.keys.channel(merchantId, view.sku),
              this.cacheTtlSeconds,
            );
          }),
        );
        batch.forEach((change, i) => {
          const result = results[i];
          if (result?.status === 'rejected') {
            const error = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
            failed = true;
            this.outbox.putBack(change);
            if (Date.now() - this.lastFailureLog > 30_000 && this.cmd.status === 'ready') {
              this.lastFailureLog = Date.now();
              this.logger.warn({ err: error.message }, 'redis bus could not publish; retrying');
            }
          } else if (this.failoverReplayMs > 0) {
            this.remember(change);
          }
        });
      }
    } finally {
      this.flushing = false;
    }
    if (this.outbox.size > 0 && !this.closed) {
      // A ready connection that still failed (e.g. a script error mid-restart): try again shortly.
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.queueFlush(), failed ? 250 : 0);
      if (failed) this.logger.debug({ pending: this.outbox.size }, 'redis bus publish failed; will retry');
    }
  }

  /** Control messages leave at once, not with the next flush of changes. */
  protected override controlWaiting(): void {
    this.flushControl();
  }

  /**
   * Sends waiting control messages in order; one that fails goes back to the front and is tried
   * again shortly (on a cluster the client stays `ready` while the control channel's shard fails over).
   */
  private flushControl(): void {
    while (this.controlOutbox.length > 0 && this.cmd.status === 'ready' && !this.closed) {
      const payload = this.controlOutbox.shift()!;
      this.cmd.spublish(this.controlChannel, payload).catch((error: unknown) => {
        this.controlOutbox.unshift(payload);
        this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'redis bus control message not sent; will retry');
        if (this.controlRetryTimer === undefined && !this.closed) {
          this.controlRetryTimer = setTimeout(() => {
            this.controlRetryTimer = undefined;
            this.flushControl();
          }, 250);
        }
      });
    }
  }

  /** Sharded pub/sub (SSUBSCRIBE/SPUBLISH) needs Redis 7; say so loudly instead of failing quietly. */
  private async checkServerVersion(): Promise<void> {
    const info = await this.cmd.info('server').catch(() => '');
    const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? NaN);
    if (major < 7) this.logger.error({ redisVersion: major }, 'Redis < 7: sharded pub/sub is unavailable, realtime events will not flow');
  }

  private remember(change: StockChange): void {
    const topic = topicOf(change.merchantId, change.view.sku);
    const now = Date.now();
    this.recent.delete(topic);
    this.recent.set(topic, { change, at: now });
    for (const [oldest, entry] of this.recent) {
      if (now - entry.at <= this.failoverReplayMs && this.recent.size <= this.maxRecent) break;
      this.recent.delete(oldest);
    }
  }

  /**
   * A primary lost (its connection ended) or replaced (the slot table names other primaries) may
   * have taken acknowledged writes with it: send the recent ones again. The script keeps whichever
   * version is newer, so a change that did survive costs a no-op.
   */
  private followPrimaries(cmd: Cluster): void {
    const replay = (): void => {
      if (this.closed || this.recent.size === 0) return;
      const since = Date.now() - this.failoverReplayMs;
      for (const { change, at } of this.recent.values()) if (at >= since) this.outbox.putBack(change);
      this.logger.info({ changes: this.recent.size }, 'redis cluster primaries changed: sending recent changes again');
      this.queueFlush();
    };
    cmd.on('-node', replay);
    cmd.on('refresh', () => {
      const primaries = [...new Set(cmd.slots.map((nodes) => nodes[0]))].sort().join(',');
      if (this.primaries !== '' && primaries !== this.primaries) replay();
      this.primaries = primaries;
    });
  }

  private async onSubscriberReady(): Promise<void> {
    const entries = this.watched.all();
    // One SSUBSCRIBE per channel: on a cluster, channels of different slots may not share a command.
    await Promise.all([this.controlChannel, ...entries.map((entry) => entry.address)].map((channel) => this.sub.ssubscribe(channel).catch(() => undefined)));
    if (this.closed || this.sub.status !== 'ready') return;
    if (!this.subUp) this.logger.info({ watched: entries.length }, 'redis bus connected');
    this.subUp = true;
    this.emitConnection('up');
    await this.replayCache(entries);
  }

  /**
   * After (re)subscribing, replays the cached value of every watched product: an event published
   * while this node was still resubscribing is in the cache even though its message was missed.
   * Listeners drop what they already have by version.
   */
  private async replayCache(entries: readonly WatchedProduct[]): Promise<void> {
    if (entries.length === 0 || this.cmd.status !== 'ready') return;
    const results = await readPayloads(this.cmd, entries.map((entry) => this.keys.latestKey(entry.merchantId, entry.sku)));
    if (this.closed) return;
    entries.forEach((entry, i) => {
      const raw = results[i];
      if (raw !== null && raw !== undefined) this.onMessage(entry.address, raw);
    });
  }

  /**
   * On a cluster one shard can fail over (or a slot move) while the rest stays up. When a shard's
   * subscriber connection ends, ioredis finds the slot's new primary and subscribes there again, then
   * says `subscribersReady`; events of that shard sent in between are missed. So this node reports
   * `down` when a shard is lost, and after every resubscription in which every primary answers,
   * `up` again: listeners re-read their products from the store and the cached values are replayed.
   */
  private followShards(sub: Cluster): void {
    // A lost subscriber connection names its node; the slot-discovery pool's own '-node' does not.
    sub.on('-node', (_redis: unknown, nodeKey?: string) => {
      if (nodeKey !== undefined) this.onSubscriberDown();
    });
    sub.on('subscribersReady', () => void this.onShardsResubscribed(sub));
  }

  private async onShardsResubscribed(sub: Cluster): Promise<void> {
    if (this.closed || sub.status !== 'ready') return;
    if (!(await everyPrimaryAnswers(sub))) return; // still failing over: a later resubscription follows
    if (this.closed || sub.status !== 'ready') return;
    if (!this.subUp) this.logger.info({ watched: this.watched.size }, 'redis bus shards resubscribed');
    this.subUp = true;
    this.emitConnection('up');
    await this.replayCache(this.watched.all());
  }

  private onSubscriberDown(): void {
    if (!this.subUp) return;
    this.subUp = false;
    if (!this.closed) this.logger.warn({}, 'redis bus connection lost; writes continue, notifications wait for Redis');
    this.emitConnection('down');
  }

  private onMessage(channel: string, message: Buffer): void {
    if (channel === this.controlChannel) {
      this.receiveControl(message, channel);
      return;
    }
    const entry = this.watched.at(channel);
    if (entry === undefined) return; // unsubscribed meanwhile: not ours to parse
    this.receiveChange(message, entry, channel);
  }
}

/** Whether the primary of every slot, as the client last learned them, answers a PING. */
async function everyPrimaryAnswers(cluster: Cluster): Promise<boolean> {
  const owners = new Set(cluster.slots.map((nodes) => nodes[0]).filter((key) => key !== undefined));
  if (owners.size === 0) return false;
  const connections = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  const answers = await Promise.all(
    [...owners].map((key) => connections.get(key)?.ping().then(() => true, () => false) ?? Promise.resolve(false)),
  );
  return answers.every(Boolean);
}

function isClusterEndpoint(endpoint: RedisEndpoint): endpoint is Extract<RedisEndpoint, { clusterNodes: unknown }> {
  return 'clusterNodes' in endpoint;
}

function isCluster(client: RedisClient): client is Cluster {
  return 'isCluster' in client && client.isCluster;
}
