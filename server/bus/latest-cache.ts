import type { PublicStock, StockChange } from '../stock/types.js';
import { decodeChange, encodeChange } from './bus-codec.js';
import { BusKeys } from './bus-keys.js';
import { connectRedis, type RedisClient, type RedisEndpoint } from './redis-endpoint.js';
import { silentLogger, type ComponentLogger } from './stock-bus.js';

/**
 * Sets the cached value only when the version is newer, and publishes it in the same atomic step:
 * a reader that misses the new value in the cache is sure to get the event (it subscribed first).
 * KEYS[1] latest key; ARGV: version, payload, channel, ttl seconds. Returns 1 when set, 0 when older.
 * An empty channel only sets the value (the RabbitMQ bus's cache, whose events travel over the broker).
 */
const setLatestLua = `
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'p', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[3] ~= '' then redis.call('SPUBLISH', ARGV[3], ARGV[2]) end
return 1
`;

/** A Redis client that knows the version-guarded write of the latest value. */
export type LatestValueClient = RedisClient & {
  stockwireSetLatest(key: string, version: number, payload: string, channel: string, ttlSeconds: number): Promise<unknown>;
};

/** Teaches the client the version-guarded write, so `RedisBus` and `RedisLatestCache` run the one script. */
export function withSetLatest(client: RedisClient): LatestValueClient {
  client.defineCommand('stockwireSetLatest', { numberOfKeys: 1, lua: setLatestLua });
  return client as LatestValueClient;
}

/**
 * The cached views of these skus, `undefined` where missing, unreadable, for another product, or
 * when Redis answers slower than `timeoutMs` (the caller then reads the store). Never rejects.
 */
export async function readCachedViews(
  redis: RedisClient,
  keys: BusKeys,
  merchantId: string,
  skus: readonly string[],
  timeoutMs: number,
): Promise<Array<PublicStock | undefined>> {
  const misses = skus.map(() => undefined);
  if (skus.length === 0 || redis.status !== 'ready') return misses;
  let timer: NodeJS.Timeout | undefined;
  try {
    const raws = await Promise.race([
      readPayloads(redis, skus.map((sku) => keys.latestKey(merchantId, sku))),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    if (raws === null) return misses;
    return skus.map((sku, i) => {
      const change = decodeChange(raws[i] ?? null);
      return change !== undefined && change.merchantId === merchantId && change.view.sku === sku ? change.view : undefined;
    });
  } finally {
    clearTimeout(timer);
  }
}

/** The cached payloads under these latest keys, `null` where missing or unreadable. Never rejects. */
export function readPayloads(redis: RedisClient, latestKeys: readonly string[]): Promise<Array<Buffer | null>> {
  return Promise.all(latestKeys.map((key) => redis.hgetBuffer(key, 'p').catch(() => null)));
}

/**
 * The latest public value per product, version-guarded: an older version never overwrites a newer
 * one. A bus whose events travel elsewhere (RabbitMQ) keeps its cache behind this port; the Redis
 * half writes through the very script `RedisBus` uses (`withSetLatest`), so the version rule lives
 * once. Never rejects: an unreachable cache answers misses and the caller reads the store.
 */
export interface LatestCache {
  /** Cached views, one per sku in order (`undefined` when not cached or unreachable). */
  get(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>>;
  /** Stores each change whose version is newer than the cached one; answers the changes that could not be stored. */
  put(changes: readonly StockChange[]): Promise<StockChange[]>;
  /** True while the cache answers. */
  readonly ready: boolean;
  close(): Promise<void>;
}

/** No cache (RabbitMQ without Redis): every read misses, so snapshots come from the store. */
export class NoLatestCache implements LatestCache {
  readonly ready = true;

  get(_merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    return Promise.resolve(skus.map(() => undefined));
  }

  put(): Promise<StockChange[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface RedisLatestCacheOptions {
  /** Every key starts with it (`REDIS_KEY_PREFIX`). */
  readonly keyPrefix: string;
  readonly logger?: ComponentLogger;
  /** Cached values expire after this long without a change, so abandoned products do not stay in Redis forever. */
  readonly ttlSeconds?: number;
  /** A read slower than this counts as a miss; the caller falls back to the store. */
  readonly readTimeoutMs?: number;
}

/**
 * The latest-value cache in Redis (one server or a Cluster): one hash per product (`v` version, `p`
 * payload through the bus codec) under `BusKeys.latestKey`, the keys `RedisBus` writes, so both buses
 * read one cache. Commands go one by one and the client pipelines those of one tick per node, as a
 * cluster requires. Commands fail fast while Redis is down: the caller keeps what must be retried.
 */
export class RedisLatestCache implements LatestCache {
  private readonly keys: BusKeys;
  private readonly ttlSeconds: number;
  private readonly readTimeoutMs: number;
  private readonly redis: LatestValueClient;

  constructor(endpoint: RedisEndpoint, options: RedisLatestCacheOptions) {
    const logger = options.logger ?? silentLogger;
    this.keys = new BusKeys(options.keyPrefix);
    this.ttlSeconds = options.ttlSeconds ?? 86_400;
    this.readTimeoutMs = options.readTimeoutMs ?? 500;
    this.redis = withSetLatest(
      connectRedis(endpoint, {
        connectionName: 'stockwire-cache',
        connectTimeoutMs: 2000,
        retryDelayMs: (times: number) => Math.min(100 * times, 1000),
      }),
    );
    this.redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'latest-value cache connection error'));
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  get(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    return readCachedViews(this.redis, this.keys, merchantId, skus, this.readTimeoutMs);
  }

  async put(changes: readonly StockChange[]): Promise<StockChange[]> {
    if (changes.length === 0) return [];
    if (this.redis.status !== 'ready') return [...changes];
    const results = await Promise.allSettled(
      changes.map((change) =>
        this.redis.stockwireSetLatest(this.keys.latestKey(change.merchantId, change.view.sku), change.view.version, encodeChange(change), '', this.ttlSeconds),
      ),
    );
    return changes.filter((_, i) => results[i]?.status === 'rejected');
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}
