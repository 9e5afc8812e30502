import type { Config } from './config.js';
import type { FastifyPluginAsync } from 'fastify';
import { Registry } from 'prom-client';
import { KeyCache } from './access/key-cache.js';
import { LimitCache } from './access/merchant-limits.js';
import { ApiMetrics } from './api/api-metrics.js';
import { buildApp } from './api/app.js';
import { FaultMetrics } from './fault-metrics.js';
import type { KeyRevocations } from './api/key-revocations.js';
import { createLogger, type Logger } from './log.js';
import { startMetricsServer } from './metrics-server.js';
import { MerchantLimitStore } from './store/merchant-limit-store.js';
import { ConsoleSessionStore } from './store/console-session-store.js';
import { StockStore } from './store/stock-store.js';
import { UsageStore } from './store/usage-store.js';
import { UsageMeter } from './usage/usage-meter.js';
import { MerchantConnections } from './realtime/merchant-connections.js';
import { RedisConnectionShare } from './bus/redis-connection-share.js';
import { RedisLatestCache } from './bus/latest-cache.js';
import { MemoryBus } from './bus/memory-bus.js';
import { RedisBus } from './bus/redis-bus.js';
import { redisEndpoint } from './bus/redis-endpoint.js';
import { silentLogger, type ComponentLogger, type StockBus } from './bus/stock-bus.js';
import { RealtimeGateway, type RealtimeGatewayOptions } from './realtime/realtime-gateway.js';
import { RealtimeMetrics } from './realtime/realtime-metrics.js';
import { RealtimeThreads } from './realtime/realtime-threads.js';
import { loadUws } from './realtime/uws.js';
import { publicView } from './stock/views.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { WebhookMetrics } from './webhooks/webhook-metrics.js';
import { ATTEMPTS_KEPT, WebhookStore } from './webhooks/webhook-store.js';

export interface RunningStockwire {
  /** e.g. http://127.0.0.1:8080 (the actual port when PORT=0); undefined for ROLE=realtime. */
  readonly apiUrl: string | undefined;
  /** e.g. ws://127.0.0.1:9501 (the actual port when WS_PORT=0); undefined for ROLE=api. */
  readonly wsUrl: string | undefined;
  /** e.g. http://127.0.0.1:9464 (Prometheus `/metrics`); undefined when METRICS_PORT=0. */
  readonly metricsUrl: string | undefined;
  /** Graceful: stop accepting, close sockets, then the store (and bus). */
  close(): Promise<void>;
  /**
   * The node's bus. `bus.publish({ merchantId, view })` delivers a change to every subscriber on
   * every node without REST or PostgreSQL (delivery-only benchmarks); with Redis, any process can
   * do the same through its own `RedisBus` on the same `REDIS_KEY_PREFIX`.
   */
  readonly bus: StockBus;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Routes added beside the API (`stockwire demo` adds its page); production adds none. */
  readonly extraRoutes?: readonly FastifyPluginAsync[];
}

/**
 * The composition root: the only place that constructs adapters and wires them together.
 * The store is the truth; every committed change goes from it to the bus and out to realtime nodes.
 */
export async function startStockwire(config: Config, options: StartOptions = {}): Promise<RunningStockwire> {
  const logger = options.logger ?? createLogger(config.logLevel);
  // No native uWebSockets.js build for this Node: refuse before touching storage.
  if (config.role !== 'api') loadUws();
  // One metrics registry per process, served on METRICS_HOST:METRICS_PORT only.
  const registry = new Registry();
  const faults = new FaultMetrics(registry);
  const store = await StockStore.open({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    idempotencyTtlHours: config.http.idempotencyTtlHours,
    reservationSweepIntervalMs: config.http.reservationSweepIntervalMs,
    combineMaxItems: config.http.writeCombineMaxItems,
    preparedStatements: config.databasePreparedStatements,
    defaultProductLimit: config.merchants.defaultLimits.products,
    onPoolError: (error) => {
      faults.postgresErrors.inc({ source: 'pool' });
      logger.warn({ err: error }, 'database connection lost');
    },
    onBackgroundError: (error, context) => {
      faults.postgresErrors.inc({ source: 'background' });
      logger.error({ err: error }, `${context} failed`);
    },
  });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const redis = redisEndpoint(config);
  const bus = await createBus(config, logger.child({ component: 'bus' }));
  closers.push(() => bus.close());
  // The process's one key cache, for the API and the socket upgrade; key rotations reach it on
  // every node (any role: realtime nodes resolve publishable keys too).
  const keys = new KeyCache(store);
  // Each merchant's limits, for the API and the socket upgrade alike.
  const limits = new LimitCache(new MerchantLimitStore(store.db), config.merchants.defaultLimits);
  // Usage is counted in memory by every role and added to the shared rows every few seconds; it is
  // flushed last on close, after the listeners that count stopped.
  const usage = new UsageMeter(new UsageStore(store.db), {
    flushIntervalMs: config.merchants.usageFlushIntervalMs,
    keepDays: config.merchants.usageKeepDays,
    originsPerMerchant: config.merchants.usageOriginsPerMerchant,
    onError: (error) => logger.warn({ err: error }, 'usage flush failed'),
  });
  usage.start();
  closers.push(() => usage.stop());
  // Every control message drops the merchant's grants and limits (allowed origins travel with the
  // publishable key's); a delete also closes its sockets once the gateway runs (below).
  let closeMerchantSockets: (merchantId: string) => void = () => {};
  bus.onControl((message) => {
    // Viewer counts are the realtime gateways' own business.
    if (message.type === 'viewers') return;
    keys.forget(message.merchantId);
    limits.forget(message.merchantId);
    if (message.type === 'merchant_deleted') closeMerchantSockets(message.merchantId);
  });
  const keyRevocations: KeyRevocations = {
    announce: (merchantId, type = 'keys_revoked') => bus.broadcast({ type, merchantId }),
  };
  bus.onConnection((state) => {
    if (state === 'down') (bus.kind === 'amqp' ? faults.rabbitmqErrors : faults.redisErrors).inc({ component: 'bus' });
  });
  store.onPublicChange((records) => {
    for (const record of records) bus.publish({ merchantId: record.merchantId, view: publicView(record) });
  });
  const close = async (): Promise<void> => {
    // Last opened, first closed: listeners stop before the store they read from.
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error: unknown) => logger.error({ err: error }, 'close failed'));
    }
  };

  try {
    let wsUrl: string | undefined;
    if (config.role !== 'api') {
      const merchantSockets = new MerchantConnections({
        limits,
        usage,
        shareIntervalMs: config.merchants.connectionsShareIntervalMs,
        // Nodes share their sockets per merchant through Redis when there is one; alone, a node counts its own.
        ...(redis
          ? {
              share: new RedisConnectionShare(redis, {
                keyPrefix: config.redisKeyPrefix,
                ttlMs: 3 * config.merchants.connectionsShareIntervalMs,
                onError: () => faults.redisErrors.inc({ component: 'merchant-connections' }),
              }),
            }
          : {}),
        onError: (error) => logger.debug({ err: error }, 'merchant connection share failed'),
      });
      merchantSockets.start();
      closers.push(() => merchantSockets.close());
      const realtime = {
        ...gatewaySettings(config),
        store,
        keys,
        merchantSockets,
        bus,
        logger: logger.child({ component: 'realtime' }),
      };
      // Several threads: the sockets leave the main thread, so pushing frames never stalls the API.
      const gateway =
        config.wsThreads > 1
          ? await RealtimeThreads.start({ ...realtime, settings: gatewaySettings(config), threads: config.wsThreads, nice: config.wsThreadNice })
          : await RealtimeGateway.start(realtime);
      closers.push(() => gateway.close());
      // Only the main thread loads prom-client: a realtime thread sends its counts here when scraped.
      new RealtimeMetrics(registry, () => gateway.counts());
      closeMerchantSockets = (merchantId) => gateway.closeMerchant(merchantId);
      wsUrl = `ws://${urlHost(config.host)}:${gateway.port}`;
      logger.info({ wsUrl, bus: bus.kind, uws: loadUws().build.name, threads: config.wsThreads, ...(config.wsThreads > 1 ? { threadNice: config.wsThreadNice } : {}) }, 'realtime listening');
    }
    // WS_PORT=0 (tests): tell widget.js the port actually bound, unless PUBLIC_WS_URL was set.
    const publicWsUrl =
      wsUrl !== undefined && config.wsPort === 0 && config.publicWsUrl === `ws://${config.host}:0` ? wsUrl : config.publicWsUrl;

    let apiUrl: string | undefined;
    if (config.role !== 'realtime') {
      // The outbox is sent from API nodes; a write on this node wakes it, others find it by polling.
      const webhooks = webhookStore(config, store);
      const dispatcher = new WebhookDispatcher(webhooks, {
        timeoutMs: config.webhooks.timeoutMs,
        allowPrivate: config.webhooks.allowPrivate,
        pollIntervalMs: config.webhooks.pollIntervalMs,
        batchSize: config.webhooks.batchSize,
        metrics: new WebhookMetrics(registry, () => webhooks.oldestPendingAgeSeconds()),
        onError: (error) => logger.warn({ err: error }, 'webhook dispatch failed'),
      });
      const unsubscribe = store.onEventsWritten(() => dispatcher.wake());
      dispatcher.start();
      closers.push(async () => {
        unsubscribe();
        await dispatcher.stop();
      });
      const app = buildApp({
        store,
        http: config.http,
        adminToken: config.adminToken,
        publicWsUrl,
        logger,
        keys,
        keyRevocations,
        metrics: new ApiMetrics(registry),
        faults,
        bus,
        merchants: config.merchants,
        limits,
        usage,
        webhooks: {
          webhooks,
          perMerchant: config.webhooks.perMerchant,
          allowPrivate: config.webhooks.allowPrivate,
          onOutboxChange: () => dispatcher.wake(),
        },
        console: {
          sessions: new ConsoleSessionStore(store.db, { idleMinutes: config.console.sessionIdleMinutes, maxHours: config.console.sessionMaxHours }),
          bus,
          settings: config.console,
          viewerExpiryMs: config.viewers.expiryMs,
        },
        ...(redis ? { rateLimitRedis: { ...redis, keyPrefix: config.redisKeyPrefix } } : {}),
        ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
      });
      closers.push(() => app.close());
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      apiUrl = `http://${urlHost(config.host)}:${port}`;
      logger.info({ apiUrl, storage: store.backend }, 'API listening');
    }

    let metricsUrl: string | undefined;
    if (config.metrics.port > 0) {
      const metricsServer = await startMetricsServer(registry, config.metrics.host, config.metrics.port);
      closers.push(() => metricsServer.close());
      metricsUrl = metricsServer.url;
      logger.info({ metricsUrl }, 'metrics listening');
    }

    let closing: Promise<void> | undefined;
    return {
      apiUrl,
      wsUrl,
      metricsUrl,
      bus,
      close: () => (closing ??= close()),
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * RabbitMQ when AMQP_URL is set (with Redis or a Redis Cluster, if also set, as its latest-value
 * cache), else Redis or a Redis Cluster when set (many nodes), else in-process (one node). Writes
 * never wait for any of them. The RabbitMQ client is loaded only when AMQP_URL is set: a node
 * without it does not hold that code in memory.
 */
export async function createBus(config: Config, busLogger: ComponentLogger = silentLogger): Promise<StockBus> {
  const redis = redisEndpoint(config);
  if (config.amqpUrl) {
    const { AmqpBus } = await import('./bus/amqp-bus.js');
    return new AmqpBus({
      url: config.amqpUrl,
      exchange: config.amqpExchange,
      logger: busLogger,
      ...(redis ? { cache: new RedisLatestCache(redis, { keyPrefix: config.redisKeyPrefix, logger: busLogger }) } : {}),
    });
  }
  if (redis) return new RedisBus({ ...redis, keyPrefix: config.redisKeyPrefix, logger: busLogger });
  return new MemoryBus();
}

/** The gateway's slice of the config; the realtime test node takes the same, so it cannot drift from production. */
export function gatewaySettings(
  config: Config,
): Pick<RealtimeGatewayOptions, 'host' | 'port' | 'folding' | 'limits' | 'viewers' | 'skuMaxLength' | 'trustProxyHops'> {
  return {
    host: config.host,
    port: config.wsPort,
    folding: config.folding,
    limits: config.realtime,
    viewers: config.viewers,
    skuMaxLength: config.http.skuMaxLength,
    trustProxyHops: config.http.trustProxyHops,
  };
}

/** The outbox and subscriptions, on the store's database, with the webhook settings. */
export function webhookStore(config: Config, store: StockStore): WebhookStore {
  const w = config.webhooks;
  return new WebhookStore(store.db, {
    // Longer than any one send, so a live node settles what it claimed before another may take it.
    leaseMs: 2 * w.timeoutMs + 1000,
    retryBaseMs: w.retryBaseMs,
    retryMaxDelayMs: w.retryMaxDelayMs,
    retryHours: w.retryHours,
    disableAfterHours: w.disableAfterHours,
    attemptsKept: ATTEMPTS_KEPT,
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
