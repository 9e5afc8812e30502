import { randomUUID } from 'node:crypto';
import type { ConnectionShare } from '../realtime/merchant-connections.js';
import { connectRedis, type RedisClient, type RedisEndpoint } from './redis-endpoint.js';

/** How long one exchange waits for a connection before it fails (and the next interval tries again). */
const CONNECT_WAIT_MS = 1000;

export interface RedisConnectionShareOptions {
  readonly keyPrefix: string;
  /** A node not heard from for this long stops counting (three share intervals). */
  readonly ttlMs: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * Per-merchant socket counts shared between realtime nodes in Redis: each node replaces its own
 * hash (expiring after `ttlMs`) and lists itself in a sorted set by time; the counts of nodes in that
 * set and not expired are summed. Every key has one hash tag, so a Redis Cluster keeps them on one
 * slot and a MULTI may hold them all.
 */
export class RedisConnectionShare implements ConnectionShare {
  private readonly redis: RedisClient;
  private readonly nodeId = randomUUID();
  private readonly nodesKey: string;

  constructor(
    endpoint: RedisEndpoint,
    private readonly options: RedisConnectionShareOptions,
  ) {
    this.nodesKey = `${options.keyPrefix}{merchant-connections}:nodes`;
    this.redis = connectRedis(endpoint, {
      connectionName: 'stockwire-merchant-connections',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 1000,
      failFast: true,
      retryDelayMs: (times: number) => Math.min(100 * times, 1000),
    });
    this.redis.on('error', (error: Error) => options.onError?.(error));
  }

  async exchange(own: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    await this.connected();
    const now = Date.now();
    const ownKey = this.nodeKey(this.nodeId);
    const write = this.redis.multi().del(ownKey);
    if (own.size > 0) write.hset(ownKey, Object.fromEntries(own)).pexpire(ownKey, this.options.ttlMs);
    write.zadd(this.nodesKey, now, this.nodeId).zremrangebyscore(this.nodesKey, '-inf', String(now - this.options.ttlMs)).zrange(this.nodesKey, '0', '-1');
    const results = await write.exec();
    const last = results?.[results.length - 1];
    if (results === null || last === undefined || last[0] !== null) throw last?.[0] ?? new Error('merchant connection share: transaction discarded');
    const others = (last[1] as string[]).filter((id) => id !== this.nodeId);
    const totals = new Map<string, number>();
    if (others.length === 0) return totals;
    const read = this.redis.multi();
    for (const id of others) read.hgetall(this.nodeKey(id));
    for (const [error, counts] of (await read.exec()) ?? []) {
      if (error !== null) throw error;
      for (const [merchantId, count] of Object.entries(counts as Record<string, string>)) {
        totals.set(merchantId, (totals.get(merchantId) ?? 0) + Number(count));
      }
    }
    return totals;
  }

  /** Leaves at once, so the others stop counting this node's sockets before its keys expire. */
  async close(): Promise<void> {
    await this.redis
      .multi()
      .del(this.nodeKey(this.nodeId))
      .zrem(this.nodesKey, this.nodeId)
      .exec()
      .catch(() => undefined);
    this.redis.disconnect();
  }

  /** Waits a moment for a connection under way (commands are not queued while there is none). */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, CONNECT_WAIT_MS);
      this.redis.once('ready', done);
    });
  }

  private nodeKey(id: string): string {
    return `${this.options.keyPrefix}{merchant-connections}:node:${id}`;
  }
}
