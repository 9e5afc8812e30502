import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpLimits } from '../config.js';
import { connectRedis, type RedisClient, type RedisEndpoint } from '../bus/redis-endpoint.js';
import { StockwireError } from '../errors.js';
import type { StockStore } from '../store/stock-store.js';
import { presentedKey } from './auth.js';

export interface RateLimitOptions {
  readonly limits: Pick<HttpLimits, 'rateLimitPerKeyPerMinute' | 'rateLimitPerIpPerMinute'>;
  readonly store: Pick<StockStore, 'resolveSecretKey'>;
  /** Set: counters live in Redis (one server or a cluster) under this prefix, so the limits hold across every API node. */
  readonly redis?: RedisEndpoint & { readonly keyPrefix: string };
  /** Told of every Redis connection error (for the error counter). */
  readonly onRedisError?: () => void;
}

const WINDOW_MS = 60_000;

/**
 * Limits on the REST API (`/v1/…` only): a request made with a *valid* secret key counts against
 * its merchant's per-key budget (an order system writes fast from one address); everything else —
 * publishable reads, admin calls, and keys that do not resolve — counts per client IP, so spraying
 * made-up `sk_` keys cannot dodge the IP limit. 0 turns a limit off. Counters are keyed by merchant
 * id, never by the key itself, so no secret reaches Redis.
 */
export function installRateLimits(app: FastifyInstance, options: RateLimitOptions): void {
  const perKey = options.limits.rateLimitPerKeyPerMinute;
  const perIp = options.limits.rateLimitPerIpPerMinute;
  if (perKey <= 0 && perIp <= 0) return;

  let redis: RedisClient | undefined;
  if (options.redis) {
    // While Redis is away a command fails at once and the request goes through (skipOnError):
    // a limiter outage must never refuse or stall writes. Each counter is one key, so any slot does.
    redis = connectRedis(options.redis, {
      connectionName: 'stockwire-rate-limit',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 500,
      failFast: true,
      retryDelayMs: (times: number) => Math.min(100 * times, 1000),
    });
    redis.on('error', (error: Error) => {
      options.onRedisError?.();
      app.log.debug({ err: error.message }, 'rate-limit redis connection error');
    });
    const client = redis;
    app.addHook('onClose', async () => {
      client.disconnect();
    });
  }

  const keyOf = async (request: FastifyRequest): Promise<string> => {
    const key = presentedKey(request);
    if (perKey > 0 && key?.startsWith('sk_')) {
      try {
        const found = await options.store.resolveSecretKey(key);
        if (found) return `k:${found.merchantId}`;
      } catch {
        // Storage down: the route answers 503 anyway; count the request against the IP meanwhile.
      }
    }
    return `ip:${request.ip}`;
  };

  void app.register(rateLimit, {
    global: true,
    timeWindow: WINDOW_MS,
    hook: 'onRequest',
    keyGenerator: keyOf,
    max: (_request, key) => {
      const limit = key.startsWith('k:') ? perKey : perIp;
      return limit > 0 ? limit : Number.MAX_SAFE_INTEGER;
    },
    allowList: (request) => !request.url.startsWith('/v1/'),
    skipOnError: true,
    ...(redis && options.redis ? { redis, nameSpace: `${options.redis.keyPrefix}rate-limit:` } : {}),
    errorResponseBuilder: (_request, context) =>
      new StockwireError('rate_limited', `Too many requests; retry after ${Math.max(1, Math.ceil(context.ttl / 1000))} s.`),
  });
}
