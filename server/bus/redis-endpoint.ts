import { Cluster, Redis } from 'ioredis';
import type { Config, RedisNodeAddress } from '../config.js';

/** Where Redis is: one server (`REDIS_URL`) or the seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`). */
export type RedisEndpoint = { readonly url: string } | { readonly clusterNodes: readonly RedisNodeAddress[] };

/** One Redis or a whole Cluster: both speak the same commands, so the bus and the rate limiter hold either. */
export type RedisClient = Redis | Cluster;

export function redisEndpoint(config: Pick<Config, 'redisUrl' | 'redisClusterNodes'>): RedisEndpoint | undefined {
  if (config.redisClusterNodes !== undefined) return { clusterNodes: config.redisClusterNodes };
  if (config.redisUrl !== undefined) return { url: config.redisUrl };
  return undefined;
}

export interface RedisClientOptions {
  readonly connectionName: string;
  readonly connectTimeoutMs: number;
  /** Reconnect delay after the given number of failed attempts. */
  readonly retryDelayMs: (attempt: number) => number;
  /** A command slower than this fails (unset: no limit). */
  readonly commandTimeoutMs?: number;
  /**
   * Cluster only: a command for a shard without a primary fails at once instead of being retried
   * through the failover (callers on a request's path, like the rate limiter, must never wait for it).
   */
  readonly failFast?: boolean;
  /**
   * A subscriber: no automatic pipelining (SSUBSCRIBE must not travel in a pipeline), and on a
   * cluster SSUBSCRIBE goes to a connection of its own at each slot's primary and follows the slot.
   */
  readonly subscriber?: boolean;
}

/**
 * Slots are re-read this often even when nothing failed, so a subscriber whose slot moved without a
 * command noticing (a reshard seen first by a node that did not know yet) finds it again soon.
 */
const CLUSTER_SLOTS_REFRESH_MS = 1000;

/**
 * A client for the endpoint. Commands fail fast while disconnected (no offline queue): callers keep
 * their own outbox or treat the failure as "Redis is away". On a cluster, commands of one tick are
 * pipelined per node automatically (a hand-made pipeline may not span slots owned by other nodes).
 */
export function connectRedis(endpoint: RedisEndpoint, options: RedisClientOptions): RedisClient {
  const perConnection = {
    connectionName: options.connectionName,
    connectTimeout: options.connectTimeoutMs,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
  };
  if ('url' in endpoint) {
    return new Redis(endpoint.url, {
      ...perConnection,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: options.retryDelayMs,
      enableAutoPipelining: !options.subscriber,
      autoResubscribe: false,
    });
  }
  // Node connections keep ioredis' own defaults (lazy, offline queue on): the cluster client opens them
  // on demand and must be able to queue the first command while one connects.
  return new Cluster(
    endpoint.clusterNodes.map((node) => ({ host: node.host, port: node.port })),
    {
      redisOptions: perConnection,
      enableOfflineQueue: false,
      enableAutoPipelining: !options.subscriber,
      clusterRetryStrategy: options.retryDelayMs,
      slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
      // A failover takes the cluster a few seconds (node timeout plus election): retry within it,
      // unless the caller would rather go without.
      retryDelayOnFailover: options.failFast ? 0 : 200,
      retryDelayOnClusterDown: options.failFast ? 0 : 200,
      retryDelayOnTryAgain: options.failFast ? 0 : 100,
      ...(options.subscriber ? { shardedSubscribers: true } : {}),
    },
  );
}
