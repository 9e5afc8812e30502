import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import type { HttpLimits, MerchantSettings } from '../config.js';
import type { FaultMetrics } from '../fault-metrics.js';
import type { Logger } from '../log.js';
import type { StockStore } from '../store/stock-store.js';
import { randomUUID } from 'node:crypto';
import { KeyCache } from '../access/key-cache.js';
import { LimitCache } from '../access/merchant-limits.js';
import { MerchantLimitStore } from '../store/merchant-limit-store.js';
import { UsageStore } from '../store/usage-store.js';
import type { UsageMeter } from '../usage/usage-meter.js';
import { originAllowed } from '../access/origin-rule.js';
import { requestKey } from './auth.js';
import { ApiMetrics } from './api-metrics.js';
import { consoleRoutes, type ConsoleRoutesOptions } from './console-routes.js';
import { clientErrorHandler, errorHandler, notFoundHandler } from './errors.js';
import { installDocs } from './docs-routes.js';
import { parseJsonBody } from './json-body.js';
import { installDrainOnClose } from './drain-on-close.js';
import { healthRoutes } from './health-routes.js';
import { keyRotationRoutes } from './key-rotation-routes.js';
import type { KeyRevocations } from './key-revocations.js';
import { merchantRoutes } from './merchant-routes.js';
import { installMetrics } from './metrics-routes.js';
import { productRoutes } from './product-routes.js';
import { installRateLimits, type RateLimitOptions } from './rate-limit.js';
import { reservationRoutes } from './reservation-routes.js';
import { sharedSchemas } from './schemas.js';
import { badgeRoutes } from './badge-routes.js';
import { applySecurityHeaders, installSecurityHeaders } from './security-headers.js';
import { stockRoutes } from './stock-routes.js';
import { installUsageCounting } from './usage-counting.js';
import { usageRoutes } from './usage-routes.js';
import { webhookRoutes, type WebhookRoutesOptions } from './webhook-routes.js';
import { widgetRoute } from './widget-route.js';
import type { BusKind } from '../bus/stock-bus.js';

export interface AppDeps {
  readonly store: StockStore;
  readonly http: HttpLimits;
  /** Unset: the admin routes answer 403 admin_disabled. */
  readonly adminToken: string | undefined;
  /** The socket address browsers are told to use (for the widget route). */
  readonly publicWsUrl: string;
  /** Omitted: the app logs nothing. */
  readonly logger?: Logger;
  /** Pages a caller adds beside the API (the demo registers `/demo` this way); the API knows nothing of them. */
  readonly extraRoutes?: readonly FastifyPluginAsync[];
  /** Where `/metrics` counts; a fresh registry when omitted. */
  readonly metrics?: ApiMetrics;
  /** Set (REDIS_URL or REDIS_CLUSTER_NODES): rate-limit counters live in Redis, so limits hold across API nodes. */
  readonly rateLimitRedis?: RateLimitOptions['redis'];
  /** The process's one key cache (shared with the socket); a fresh one over the store when omitted. */
  readonly keys?: KeyCache;
  /** Tells every node about key rotations; omitted, only this node forgets the old keys. */
  readonly keyRevocations?: KeyRevocations;
  /** Counts Redis and PostgreSQL errors (in the process's one registry). */
  readonly faults?: FaultMetrics;
  /** The node's bus: /readyz reports Redis reachability. */
  readonly bus?: { readonly kind: BusKind; readonly connected: boolean };
  /** Omitted: no `/v1/webhooks` routes. */
  readonly webhooks?: Omit<WebhookRoutesOptions, 'keys'>;
  /** Platform default limits and usage settings; omitted: no limits by default, usage kept 90 days. */
  readonly merchants?: Pick<MerchantSettings, 'defaultLimits' | 'usageKeepDays'>;
  /** The process's one cache of merchant limits (shared with the socket); a fresh one over the store when omitted. */
  readonly limits?: LimitCache;
  /** Counts each merchant's calls and writes; omitted: nothing is counted (usage is still answered). */
  readonly usage?: Pick<UsageMeter, 'apiCall' | 'write'>;
  /** Omitted: no merchant console (`/console`, `/v1/console/…`), and no session is accepted anywhere. */
  readonly console?: Omit<ConsoleRoutesOptions, 'keys' | 'store'>;
}

const NO_LIMITS = { connections: 0, products: 0, writesPerMinute: 0 } as const;

/**
 * The REST API as an unstarted Fastify app: `app.inject()` in tests, `app.listen()` in `main.ts`.
 * Every answer that is not a success has the one error shape; one plugin per resource.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { store, http } = deps;
  const keys = deps.keys ?? new KeyCache(store);
  const limitStore = new MerchantLimitStore(store.db);
  const limits = deps.limits ?? new LimitCache(limitStore, deps.merchants?.defaultLimits ?? NO_LIMITS);
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Per-request lines would dominate under load; refusals and failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: http.bodyLimitBytes,
    // Behind load balancers, request.ip (and so the per-IP limit) is the client's, not the balancer's.
    trustProxy: http.trustProxyHops > 0 ? (_address: string, hop: number) => hop < http.trustProxyHops : false,
    // What Node's HTTP parser refuses before routing (headers over its limit: 431) in our shape too.
    clientErrorHandler,
    // Random, so the ids a client sees say nothing about the node's traffic.
    genReqId: () => randomUUID(),
    // Wrong types are errors, not guesses: `"delta": "5"` is refused rather than coerced.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    routerOptions: { maxParamLength: Math.max(200, http.skuMaxLength * 3) },
    // While closing, late requests are still answered (the store closes after the app), never in a foreign shape.
    return503OnClosing: false,
    // Bad URLs and over-long path parameters (absurd SKUs) get the error shape too: 400 validation_failed.
    frameworkErrors: (error, request, reply) => {
      applySecurityHeaders(reply);
      errorHandler(error, request, reply);
    },
  }) as unknown as FastifyInstance;

  app.decorateRequest('caller', null);
  app.decorate('consoleSessions', deps.console?.sessions ?? null);
  void app.register(cookie);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody(parseJson, http.jsonMaxDepth));

  installSecurityHeaders(app);
  installDrainOnClose(app);
  for (const schema of sharedSchemas) app.addSchema(schema);
  installMetrics(app, { metrics: deps.metrics ?? new ApiMetrics(), store, ...(deps.faults ? { faults: deps.faults } : {}) });

  // Swagger UI and the OpenAPI document, loaded on their first request.
  installDocs(app);

  // Only public reads are for browsers: answer CORS for GETs by a publishable key from an
  // allowed origin (and their preflights); secret-key routes set `cors: false` and get none.
  // Decided at once for every request but a publishable read whose key is not cached yet.
  void app.register(cors, {
    delegator: (request: FastifyRequest, callback: (error: Error | null, options: CorsAnswer) => void) => {
      const origin = corsOriginFor(request, keys);
      if (typeof origin !== 'object') callback(null, origin === false ? CORS_CLOSED : corsOpen(origin));
      // Never rejects: a failed lookup leaves CORS closed.
      else void origin.then((allowed) => callback(null, allowed === false ? CORS_CLOSED : corsOpen(allowed)));
    },
  });

  installRateLimits(app, {
    limits: http,
    keys,
    merchantLimits: limits,
    ...(deps.rateLimitRedis ? { redis: deps.rateLimitRedis } : {}),
    onRedisError: () => deps.faults?.redisErrors.inc({ component: 'rate-limit' }),
  });

  void app.register(healthRoutes, { store, ...(deps.bus ? { bus: deps.bus } : {}) });
  const revocations = deps.keyRevocations ? { revocations: deps.keyRevocations } : {};
  if (deps.usage) installUsageCounting(app, deps.usage);
  void app.register(merchantRoutes, { store, keys, adminToken: deps.adminToken, limits: { store: limitStore, cache: limits }, ...revocations });
  void app.register(usageRoutes, { usage: new UsageStore(store.db), keys, keepDays: deps.merchants?.usageKeepDays ?? 90 });
  void app.register(keyRotationRoutes, { store, keys, adminToken: deps.adminToken, publishableKeyGraceHours: http.publishableKeyGraceHours, ...revocations });
  void app.register(productRoutes, { store, keys, limits: http });
  void app.register(stockRoutes, { store, keys, limits: http });
  void app.register(badgeRoutes, { store, keys, limits: http });
  void app.register(reservationRoutes, { store, keys, limits: http });
  void app.register(widgetRoute, { publicWsUrl: deps.publicWsUrl });
  if (deps.webhooks) void app.register(webhookRoutes, { keys, ...deps.webhooks });
  if (deps.console) void app.register(consoleRoutes, { keys, store, ...deps.console });
  for (const routes of deps.extraRoutes ?? []) void app.register(routes);
  return app;
}

type CorsAnswer = { readonly origin: string | false; readonly methods: string; readonly allowedHeaders: string; readonly maxAge: number };
const CORS_CLOSED: CorsAnswer = Object.freeze({ origin: false, methods: 'GET, HEAD', allowedHeaders: 'Authorization', maxAge: 600 });
const corsOpen = (origin: string): CorsAnswer => ({ ...CORS_CLOSED, origin });

/** The origin to allow, or false; a promise only when the publishable key must be looked up. */
function corsOriginFor(request: FastifyRequest, keys: KeyCache): string | false | Promise<string | false> {
  const origin = request.headers.origin;
  // An empty Origin is no origin (the access rule's word): nothing to allow, and @fastify/cors refuses ''.
  if (!origin || !request.url.startsWith('/v1/stock')) return false;
  if (request.method === 'OPTIONS') {
    // A preflight carries no key; the GET that follows is checked against the merchant's origins.
    const wanted = request.headers['access-control-request-method'];
    return wanted === 'GET' || wanted === 'HEAD' ? origin : false;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const presented = requestKey(request);
  if (presented.kind !== 'publishable') return false;
  const cached = keys.cachedPublishable(presented.key);
  if (cached !== undefined) return cached !== null && originAllowed(origin, cached.allowedOrigins) ? origin : false;
  return keys.publishable(presented.key).then(
    (found) => (found && originAllowed(origin, found.allowedOrigins) ? origin : false),
    // Storage trouble is answered by the route itself (503); CORS just stays closed.
    () => false,
  );
}
