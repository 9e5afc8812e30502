import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import type { LimitCache } from '../access/merchant-limits.js';
import type { HttpLimits } from '../config.js';
import { connectRedis, type RedisClient, type RedisEndpoint } from '../bus/redis-endpoint.js';
import { StockwireError, errorCodes } from '../errors.js';
import { noteResolvedSecretKey, requestKey, resolvedSecretMerchant } from './auth.js';
import { isMerchantWrite } from './merchant-writes.js';

export interface RateLimitOptions {
  readonly limits: Pick<HttpLimits, 'rateLimitPerKeyPerMinute' | 'rateLimitPerIpPerMinute'>;
  readonly keys: Pick<KeyCache, 'secret'>;
  /** Each merchant's `writesPerMinute` (its own, or MERCHANT_WRITES_PER_MINUTE). */
  readonly merchantLimits: Pick<LimitCache, 'of' | 'spentWrites'>;
  /** Set: counters live in Redis (one server or a cluster) under this prefix, so the limits hold across every API node. */
  readonly redis?: RedisEndpoint & { readonly keyPrefix: string };
  /** Told of every Redis connection error (for the error counter). */
  readonly onRedisError?: () => void;
}

const WINDOW_MS = 60_000;

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * Limits on the REST API, for every route whose *matched pattern* is under `/v1/` (so a path
 * spelled `/%76%31/…` is limited like `/v1/…`). One `onRequest` hook runs before any route's own
 * hooks, so before the admin check and every key lookup:
 *
 * - A well-formed secret key that resolves counts against its merchant's budget (an order system
 *   writes fast from one address). The key is looked up only when the caller's IP still has budget,
 *   so a flood of made-up `sk_` keys stops costing lookups at the 429.
 * - Everything else — publishable reads, admin calls with right or wrong tokens, secret keys that
 *   do not resolve, malformed keys — counts per client IP. A limited IP gets 429 for all of it,
 *   right credentials and wrong alike.
 *
 * - A write (`isMerchantWrite`) by a secret key also counts against its merchant's `writesPerMinute`
 *   limit: past it, that merchant alone gets 429 for writes until the window ends. Once the shared
 *   counter said so, this process refuses the rest of the window's writes itself (`spentWrites`),
 *   before any counter and without a log line each: a flood past the limit costs no Redis round
 *   trip and no per-key budget.
 *
 * 0 turns a limit off. Counters are keyed by merchant id or IP, never by a key, so no secret reaches Redis.
 */
export function installRateLimits(app: FastifyInstance, options: RateLimitOptions): void {
  const perKey = options.limits.rateLimitPerKeyPerMinute;
  const perIp = options.limits.rateLimitPerIpPerMinute;
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

  void app.register(rateLimit, {
    global: false,
    timeWindow: WINDOW_MS,
    skipOnError: true,
    ...(redis && options.redis ? { redis, nameSpace: `${options.redis.keyPrefix}rate-limit:` } : {}),
  });

  const spentWrites = options.merchantLimits.spentWrites;
  const writeLimitOf = new WeakMap<FastifyRequest, number>();
  let byIp: Limiter | undefined;
  let byMerchant: Limiter | undefined;
  let writesByMerchant: Limiter | undefined;
  // Created on first use: the plugin's decorator exists once it has loaded.
  const ipLimiter = () =>
    (byIp ??= app.createRateLimit({ max: perIp, timeWindow: WINDOW_MS, skipOnError: true, keyGenerator: (r) => `ip:${r.ip}` }));
  const merchantLimiter = () =>
    (byMerchant ??= app.createRateLimit({
      max: perKey,
      timeWindow: WINDOW_MS,
      skipOnError: true,
      keyGenerator: (r) => `k:${resolvedSecretMerchant(r) ?? r.ip}`,
    }));
  const writeLimiter = () =>
    (writesByMerchant ??= app.createRateLimit({
      max: (r) => writeLimitOf.get(r) ?? 0,
      timeWindow: WINDOW_MS,
      skipOnError: true,
      keyGenerator: (r) => `w:${resolvedSecretMerchant(r) ?? r.ip}`,
    }));

  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url?.startsWith('/v1/')) return;
    const presented = requestKey(request);
    if (presented.kind === 'secret') {
      if (perIp > 0) {
        const peek = await ipLimiter()(request, { increment: false });
        if (!peek.isAllowed && peek.remaining === 0 && peek.ttl > 0) refuse(reply, peek.ttl);
      }
      const merchantId = await options.keys.secret(presented.key).then(
        (found) => found?.merchantId,
        // Storage down: the route answers 503; count the request against the IP meanwhile.
        () => undefined,
      );
      if (merchantId !== undefined) {
        const write = isMerchantWrite(request);
        const spent = write ? spentWrites.spent(merchantId) : undefined;
        if (spent !== undefined) return answerRefused(reply, spent.remainingMs, writeRefusal(spent.limit));
        noteResolvedSecretKey(request, presented.key, merchantId);
        if (perKey > 0) {
          const counted = await merchantLimiter()(request);
          if (!counted.isAllowed && counted.isExceeded) refuse(reply, counted.ttl);
        }
        if (write) {
          // Limits unreadable (storage down): the write itself answers 503.
          const limit = await options.merchantLimits.of(merchantId).then((l) => l.writesPerMinute, () => 0);
          if (limit > 0) {
            writeLimitOf.set(request, limit);
            const counted = await writeLimiter()(request);
            if (!counted.isAllowed && counted.isExceeded) {
              spentWrites.spend(merchantId, limit, counted.ttl);
              refuse(reply, counted.ttl, writeRefusal(limit));
            }
          }
        }
        // Without a per-key limit, a merchant's calls count against the caller's IP like any other.
        if (perKey > 0) return;
      }
    }
    if (perIp <= 0) return;
    const counted = await ipLimiter()(request);
    if (!counted.isAllowed && counted.isExceeded) refuse(reply, counted.ttl);
  });
}

const writeRefusal = (limit: number) => `At most ${limit} writes per minute for this merchant`;

const retrySeconds = (ttlMs: number) => Math.max(1, Math.ceil(ttlMs / 1000));
const refusalMessage = (why: string, seconds: number) => `${why}; retry after ${seconds} s.`;

/** Refused through the error handler, which logs it. */
function refuse(reply: FastifyReply, ttlMs: number, why = 'Too many requests'): never {
  const seconds = retrySeconds(ttlMs);
  reply.header('retry-after', String(seconds));
  throw new StockwireError('rate_limited', refusalMessage(why, seconds));
}

/**
 * The same 429 as `refuse`, sent as it is: no error object (and its stack trace) and no log line
 * per request, for a flood refused within a window whose first refusal was logged.
 */
function answerRefused(reply: FastifyReply, ttlMs: number, why: string): FastifyReply {
  const seconds = retrySeconds(ttlMs);
  const body = { error: { code: 'rate_limited', message: refusalMessage(why, seconds) } } satisfies ReturnType<StockwireError['toBody']>;
  return reply
    .code(errorCodes.rate_limited.status)
    .header('retry-after', String(seconds))
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(body));
}
