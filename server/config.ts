import { availableParallelism } from 'node:os';
import * as v from 'valibot';

/**
 * Every setting Stockwire reads, in one schema with its default. The environment is read once at
 * start-up; a bad value stops start-up with one line that names the variable.
 */
const roles = ['api', 'realtime', 'all'] as const;
export type Role = (typeof roles)[number];

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const NO_MAX = Number.MAX_SAFE_INTEGER;

/** A whole number from `min` to `max` (written as text in the environment), `fallback` when unset. */
function wholeNumber(fallback: number, { min = 0, max = NO_MAX }: { min?: number; max?: number } = {}) {
  const range = max === NO_MAX ? `≥ ${min}` : `from ${min} to ${max}`;
  return v.optional(
    v.pipe(
      v.unknown(),
      v.transform(Number),
      v.check((n) => Number.isInteger(n) && n >= min && n <= max, `must be a whole number ${range}`),
    ),
    fallback,
  );
}
const port = (fallback: number) => wholeNumber(fallback, { max: 65535 });
const oneOf = <const T extends readonly [string, ...string[]]>(options: T, fallback: T[number]) =>
  v.optional(v.picklist(options, `must be one of ${options.join(', ')}`), fallback);
const text = (fallback: string) => v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty')), fallback);

/** Unset or blank: undefined; otherwise the value. */
const unsetWhenBlank = v.pipe(
  v.optional(v.string()),
  v.transform((value) => (value === undefined || value.trim() === '' ? undefined : value)),
);
/** `unsetWhenBlank`, and a value must pass `valid`. */
const optionalString = (valid: (value: string) => boolean, message: string) =>
  v.pipe(unsetWhenBlank, v.check((value) => value === undefined || valid(value), message));

const databaseUrl = optionalString((value) => /^(postgres(ql)?|mysql):\/\//.test(value), 'must be a postgres:// or mysql:// URL');
const redisUrl = optionalString((value) => /^rediss?:\/\//.test(value), 'must be a redis:// or rediss:// URL');
/** `host:port,host:port,…` (IPv6 hosts in brackets): the seed nodes of a Redis Cluster. */
const redisClusterNodes = v.pipe(
  unsetWhenBlank,
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    if (dataset.value === undefined) return undefined;
    const nodes: RedisNodeAddress[] = [];
    for (const part of dataset.value.split(',')) {
      const match = /^\s*(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})\s*$/.exec(part);
      const nodePort = Number(match?.[2]);
      if (match === null || !(nodePort > 0 && nodePort <= 65535)) {
        addIssue({ message: 'must be host:port,host:port,… (a list of Redis Cluster nodes)' });
        return NEVER;
      }
      nodes.push({ host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: nodePort });
    }
    return nodes;
  }),
);
const amqpUrl = optionalString((value) => /^amqps?:\/\//.test(value) && URL.canParse(value), 'must be an amqp:// or amqps:// URL');
const wsUrl = optionalString((value) => /^wss?:\/\//.test(value), 'must be a ws:// or wss:// URL');
const flag = (fallback: 'true' | 'false') => oneOf(['true', 'false'], fallback);

const envSchema = v.object({
  PORT: port(8080),
  WS_PORT: port(9501),
  HOST: text('127.0.0.1'),
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  REDIS_CLUSTER_NODES: redisClusterNodes,
  REDIS_KEY_PREFIX: v.optional(
    v.pipe(
      v.string(),
      v.maxLength(64, 'must be at most 64 characters'),
      v.regex(/^[^{}\s]*$/, 'must not contain braces or spaces (they would break the hash tags)'),
    ),
    'stockwire:',
  ),
  AMQP_URL: amqpUrl,
  // AMQP exchange names: letters, digits, '-', '_', '.', ':'; the `amq.` prefix is the broker's own.
  AMQP_EXCHANGE: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[\w.:-]{1,255}$/, "must be 1-255 letters, digits, '-', '_', '.' or ':'"),
      v.check((value) => !value.startsWith('amq.'), "must not start with 'amq.' (reserved by the broker)"),
    ),
    'stockwire',
  ),
  DATA_DIR: text('./.stockwire'),
  ADMIN_TOKEN: optionalString((value) => value.length >= 16, 'must be at least 16 characters'),
  ROLE: oneOf(roles, 'all'),
  PUBLISH_INTERVAL_MS: wholeNumber(100, { max: 60_000 }),
  // A hot product's fold window grows until each realtime thread pushes about this many frames a second, up to the longest window.
  PUBLISH_INTERVAL_MAX_MS: wholeNumber(1000, { max: 60_000 }),
  PUBLISH_THREAD_FRAMES_PER_SECOND: wholeNumber(10_000, { min: 1 }),
  PUBLIC_WS_URL: wsUrl,
  LOG_LEVEL: oneOf(logLevels, 'info'),
  METRICS_PORT: port(9464),
  METRICS_HOST: text('127.0.0.1'),

  // HTTP limits
  BODY_LIMIT_BYTES: wholeNumber(256 * 1024, { min: 1 }),
  MULTI_GET_MAX_SKUS: wholeNumber(100, { min: 1 }),
  BATCH_MAX_ITEMS: wholeNumber(1000, { min: 1 }),
  SKU_MAX_LENGTH: wholeNumber(128, { min: 1, max: 512 }),
  JSON_MAX_DEPTH: wholeNumber(32, { min: 1, max: 1000 }),
  RATE_LIMIT_PER_KEY_PER_MINUTE: wholeNumber(120_000),
  RATE_LIMIT_PER_IP_PER_MINUTE: wholeNumber(6000),
  TRUST_PROXY_HOPS: wholeNumber(0, { max: 10 }),
  IDEMPOTENCY_TTL_HOURS: wholeNumber(24, { min: 1 }),
  PUBLISHABLE_KEY_GRACE_HOURS: wholeNumber(24),
  RESERVATION_DEFAULT_TTL_SECONDS: wholeNumber(600, { min: 1 }),
  RESERVATION_MAX_TTL_SECONDS: wholeNumber(86_400, { min: 1 }),
  RESERVATION_SWEEP_INTERVAL_MS: wholeNumber(1000, { min: 1 }),
  WRITE_COMBINE_MAX_ITEMS: wholeNumber(100, { min: 1, max: 10_000 }),
  DATABASE_PREPARED_STATEMENTS: flag('true'),

  // Realtime limits
  WS_MAX_SUBSCRIPTIONS: wholeNumber(500, { min: 1 }),
  WS_MAX_FRAME_BYTES: wholeNumber(16 * 1024, { min: 1 }),
  WS_IDLE_TIMEOUT_SECONDS: wholeNumber(120, { min: 8 }),
  WS_MAX_BACKPRESSURE_BYTES: wholeNumber(256 * 1024, { min: 1 }),
  WS_MAX_MESSAGES_PER_SECOND: wholeNumber(50, { min: 1 }),
  // Sized for carrier-grade NAT, where many shoppers (and their tabs) share one public address.
  WS_MAX_CONNECTIONS_PER_IP: wholeNumber(500),
  WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: wholeNumber(1000),
  WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: wholeNumber(2000),
  // A client that keeps sending past its limits is closed (1008) rather than read and refused forever.
  WS_MAX_REFUSED_FRAMES: wholeNumber(10),
  WS_ABUSE_WAIT_SECONDS: wholeNumber(30),
  WS_THREADS: wholeNumber(Math.min(availableParallelism(), 256), { min: 1, max: 256 }),
  // The realtime threads' nice value (Linux): they yield the CPU to the API's main thread.
  WS_THREAD_NICE: wholeNumber(19, { min: 0, max: 19 }),
  // Live viewer counts: frames per product at most this often, and a node's counts expire this long after its last report.
  VIEWERS_INTERVAL_MS: wholeNumber(2000, { min: 100, max: 60_000 }),
  VIEWERS_EXPIRY_MS: wholeNumber(6000, { min: 1, max: 600_000 }),

  // Webhooks
  WEBHOOK_TIMEOUT_MS: wholeNumber(10_000, { min: 1, max: 60_000 }),
  WEBHOOK_RETRY_BASE_MS: wholeNumber(1000, { min: 1 }),
  WEBHOOK_RETRY_MAX_DELAY_MS: wholeNumber(3_600_000, { min: 1 }),
  WEBHOOK_RETRY_HOURS: wholeNumber(24, { min: 1 }),
  WEBHOOK_DISABLE_AFTER_HOURS: wholeNumber(72, { min: 1 }),
  WEBHOOK_ALLOW_PRIVATE: flag('false'),
  WEBHOOKS_PER_MERCHANT: wholeNumber(10, { min: 1 }),
  WEBHOOK_POLL_INTERVAL_MS: wholeNumber(500, { min: 1 }),
  WEBHOOK_BATCH_SIZE: wholeNumber(50, { min: 1, max: 1000 }),

  // Per-merchant limits (platform defaults; an admin sets a merchant's own) and usage
  MERCHANT_MAX_CONNECTIONS: wholeNumber(0),
  MERCHANT_MAX_PRODUCTS: wholeNumber(0),
  MERCHANT_WRITES_PER_MINUTE: wholeNumber(0),
  MERCHANT_CONNECTIONS_SHARE_INTERVAL_MS: wholeNumber(2000, { min: 100, max: 60_000 }),
  USAGE_FLUSH_INTERVAL_MS: wholeNumber(5000, { min: 100, max: 300_000 }),
  USAGE_KEEP_DAYS: wholeNumber(90, { min: 1, max: 3650 }),
  USAGE_ORIGINS_PER_MERCHANT: wholeNumber(100, { min: 1, max: 10_000 }),
  // Merchant console
  CONSOLE_SESSION_IDLE_MINUTES: wholeNumber(30, { min: 1, max: 24 * 60 }),
  CONSOLE_SESSION_MAX_HOURS: wholeNumber(8, { min: 1, max: 24 * 7 }),
  CONSOLE_STREAMS_PER_MERCHANT: wholeNumber(10, { min: 1 }),
  CONSOLE_STREAM_MAX_PRODUCTS: wholeNumber(1000, { min: 1, max: 10_000 }),
  CONSOLE_STREAM_REFRESH_SECONDS: wholeNumber(10, { min: 1, max: 3600 }),
});

/** Settings whose value is never echoed (a typo in a token is still the token). */
const secretSettings: ReadonlySet<string> = new Set(['ADMIN_TOKEN']);
/** Settings that are URLs: echoed with any user:password@ masked. */
const urlSettings: ReadonlySet<string> = new Set(['DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'PUBLIC_WS_URL']);
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly port: number;
  readonly wsPort: number;
  readonly host: string;
  readonly databaseUrl: string | undefined;
  /** Hot-path statements prepared once per PostgreSQL connection (false behind a pooler that cannot keep them). */
  readonly databasePreparedStatements: boolean;
  readonly redisUrl: string | undefined;
  /** Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`), instead of `redisUrl`. */
  readonly redisClusterNodes: readonly RedisNodeAddress[] | undefined;
  /** Every Redis key and channel starts with it, so several deployments (or test runs) can share one Redis. */
  readonly redisKeyPrefix: string;
  /** Set: change events and control messages travel over RabbitMQ (Redis, when set too, keeps only the latest-value cache). */
  readonly amqpUrl: string | undefined;
  /** The topic exchange every node publishes to. */
  readonly amqpExchange: string;
  readonly dataDir: string;
  readonly adminToken: string | undefined;
  readonly role: Role;
  readonly folding: FoldingSettings;
  /** uWS worker threads sharing WS_PORT; 1 keeps the sockets on the main thread. */
  readonly wsThreads: number;
  /** Nice value of the realtime worker threads (Linux; 0: the same priority as the API's main thread). */
  readonly wsThreadNice: number;
  readonly publicWsUrl: string;
  readonly logLevel: (typeof logLevels)[number];
  /** Prometheus `/metrics` on its own listener, never on the public ports; port 0: off. */
  readonly metrics: { readonly port: number; readonly host: string };
  readonly http: HttpLimits;
  readonly realtime: RealtimeLimits;
  readonly viewers: ViewerCountSettings;
  readonly webhooks: WebhookSettings;
  readonly merchants: MerchantSettings;
  readonly console: ConsoleSettings;
}

export interface MerchantSettings {
  /** A merchant's limits where the admin set none (0: no limit). */
  readonly defaultLimits: { readonly connections: number; readonly products: number; readonly writesPerMinute: number };
  /**
   * How often a realtime node shares its per-merchant socket counts with the others (over Redis);
   * a node not heard from for three intervals stops counting.
   */
  readonly connectionsShareIntervalMs: number;
  /** How often each node adds what it counted to `merchant_usage`. */
  readonly usageFlushIntervalMs: number;
  /** Usage rows older than this many days are swept. */
  readonly usageKeepDays: number;
  /** Most origins remembered per merchant for "installed on" (others are not recorded until old ones age out). */
  readonly usageOriginsPerMerchant: number;
}

/** The merchant console at `/console`: its sign-in sessions and live stream. */
export interface ConsoleSettings {
  /** A session unused this long ends. */
  readonly sessionIdleMinutes: number;
  /** A session ends this long after sign-in, however active. */
  readonly sessionMaxHours: number;
  /** Live streams one merchant may hold open on one API node. */
  readonly streamsPerMerchant: number;
  /** Products a stream watches (the first ones by SKU). */
  readonly streamMaxProducts: number;
  /** How often a stream re-reads its products: the bus carries public changes only, so hidden counts arrive this way. */
  readonly streamRefreshSeconds: number;
}

/** How the realtime gateway folds a product's changes into fewer frames (see `FoldingScheduler`). */
export interface FoldingSettings {
  /** The shortest fold window (PUBLISH_INTERVAL_MS); 0: every change is pushed, no windows at all. */
  readonly intervalMs: number;
  /** The longest a crowded topic's window grows (PUBLISH_INTERVAL_MAX_MS; `intervalMs` when that is longer). */
  readonly maxIntervalMs: number;
  /** Frames a second one realtime thread aims to push at most, over all its topics (PUBLISH_THREAD_FRAMES_PER_SECOND). */
  readonly threadFramesPerSecond: number;
}

export interface ViewerCountSettings {
  /** Each node reports its counts this often, and a product's `viewers` frame goes out at most this often. */
  readonly intervalMs: number;
  /** A node's counts are dropped this long after its last report (a node that died stops counting). */
  readonly expiryMs: number;
}

export interface WebhookSettings {
  readonly timeoutMs: number;
  /** First retry delay; each next one doubles (with jitter) up to `retryMaxDelayMs`. */
  readonly retryBaseMs: number;
  readonly retryMaxDelayMs: number;
  /** How long one event is retried before it is given up. */
  readonly retryHours: number;
  /** An endpoint with no successful delivery for this long is disabled. */
  readonly disableAfterHours: number;
  /** Allow URLs on loopback, private and link-local networks (development, tests). */
  readonly allowPrivate: boolean;
  readonly perMerchant: number;
  readonly pollIntervalMs: number;
  /** Events one node claims and sends in parallel per round. */
  readonly batchSize: number;
}

export interface HttpLimits {
  readonly bodyLimitBytes: number;
  readonly multiGetMaxSkus: number;
  readonly batchMaxItems: number;
  readonly skuMaxLength: number;
  /** JSON bodies nested deeper are refused (400) before any route code sees them. */
  readonly jsonMaxDepth: number;
  /** 0 turns the limiter off. */
  readonly rateLimitPerKeyPerMinute: number;
  readonly rateLimitPerIpPerMinute: number;
  /**
   * Proxies in front of the API whose `X-Forwarded-For` is believed (0: none), so per-IP limits
   * see the client's address rather than the load balancer's.
   */
  readonly trustProxyHops: number;
  readonly idempotencyTtlHours: number;
  /** After a rotation the old publishable key keeps working this long (shop pages are edited by hand). */
  readonly publishableKeyGraceHours: number;
  readonly reservationDefaultTtlSeconds: number;
  readonly reservationMaxTtlSeconds: number;
  readonly reservationSweepIntervalMs: number;
  /** Most writes of one SKU applied as one transaction while a write of it is in flight (1: no combining). */
  readonly writeCombineMaxItems: number;
}

export interface RealtimeLimits {
  readonly maxSubscriptions: number;
  readonly maxFrameBytes: number;
  readonly idleTimeoutSeconds: number;
  readonly maxBackpressureBytes: number;
  readonly maxMessagesPerSecond: number;
  /** 0 means no limit. */
  readonly maxConnectionsPerIp: number;
  /** SKUs named in `sub` frames (new subscriptions and snapshot reads) per second and connection; 0: no limit. */
  readonly maxNewSubscriptionsPerSecond: number;
  /** The same over every connection of one client IP; 0: no limit. */
  readonly maxNewSubscriptionsPerIpPerSecond: number;
  /**
   * Frames of one connection refused over the limits above (rate or budget) within 10 s before it
   * is closed with 1008; 0: never closed for it.
   */
  readonly maxRefusedFrames: number;
  /** After such a close, the client IP's new sockets are refused (429) this long; 0: not at all. */
  readonly abuseWaitSeconds: number;
}

/** A configuration problem, worded as the one line start-up prints. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = v.safeParse(envSchema, env, { abortEarly: true });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const variable = v.getDotPath(issue) ?? 'environment';
    throw new ConfigError(`Invalid ${variable}${shownValue(variable, env[variable])}: ${issue.message}`);
  }
  const e = parsed.output;
  if (e.REDIS_URL !== undefined && e.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError('Invalid REDIS_CLUSTER_NODES: set either REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  }
  // A count must outlive at least one missed report, or live nodes would blink out of the sum.
  if (e.VIEWERS_EXPIRY_MS < 2 * e.VIEWERS_INTERVAL_MS) {
    throw new ConfigError(`Invalid VIEWERS_EXPIRY_MS=${e.VIEWERS_EXPIRY_MS}: must be at least twice VIEWERS_INTERVAL_MS (${e.VIEWERS_INTERVAL_MS})`);
  }
  return deepFreeze({
    port: e.PORT,
    wsPort: e.WS_PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS === 'true',
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    amqpUrl: e.AMQP_URL,
    amqpExchange: e.AMQP_EXCHANGE,
    dataDir: e.DATA_DIR,
    adminToken: e.ADMIN_TOKEN,
    role: e.ROLE,
    folding: {
      intervalMs: e.PUBLISH_INTERVAL_MS,
      maxIntervalMs: e.PUBLISH_INTERVAL_MAX_MS,
      threadFramesPerSecond: e.PUBLISH_THREAD_FRAMES_PER_SECOND,
    },
    wsThreads: e.WS_THREADS,
    wsThreadNice: e.WS_THREAD_NICE,
    publicWsUrl: e.PUBLIC_WS_URL ?? `ws://${e.HOST}:${e.WS_PORT}`,
    logLevel: e.LOG_LEVEL,
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST },
    http: {
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      multiGetMaxSkus: e.MULTI_GET_MAX_SKUS,
      batchMaxItems: e.BATCH_MAX_ITEMS,
      skuMaxLength: e.SKU_MAX_LENGTH,
      jsonMaxDepth: e.JSON_MAX_DEPTH,
      rateLimitPerKeyPerMinute: e.RATE_LIMIT_PER_KEY_PER_MINUTE,
      rateLimitPerIpPerMinute: e.RATE_LIMIT_PER_IP_PER_MINUTE,
      trustProxyHops: e.TRUST_PROXY_HOPS,
      idempotencyTtlHours: e.IDEMPOTENCY_TTL_HOURS,
      publishableKeyGraceHours: e.PUBLISHABLE_KEY_GRACE_HOURS,
      reservationDefaultTtlSeconds: e.RESERVATION_DEFAULT_TTL_SECONDS,
      reservationMaxTtlSeconds: e.RESERVATION_MAX_TTL_SECONDS,
      reservationSweepIntervalMs: e.RESERVATION_SWEEP_INTERVAL_MS,
      writeCombineMaxItems: e.WRITE_COMBINE_MAX_ITEMS,
    },
    realtime: {
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      maxFrameBytes: e.WS_MAX_FRAME_BYTES,
      idleTimeoutSeconds: e.WS_IDLE_TIMEOUT_SECONDS,
      maxBackpressureBytes: e.WS_MAX_BACKPRESSURE_BYTES,
      maxMessagesPerSecond: e.WS_MAX_MESSAGES_PER_SECOND,
      maxConnectionsPerIp: e.WS_MAX_CONNECTIONS_PER_IP,
      maxNewSubscriptionsPerSecond: e.WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND,
      maxNewSubscriptionsPerIpPerSecond: e.WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND,
      maxRefusedFrames: e.WS_MAX_REFUSED_FRAMES,
      abuseWaitSeconds: e.WS_ABUSE_WAIT_SECONDS,
    },
    viewers: { intervalMs: e.VIEWERS_INTERVAL_MS, expiryMs: e.VIEWERS_EXPIRY_MS },
    webhooks: {
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxDelayMs: e.WEBHOOK_RETRY_MAX_DELAY_MS,
      retryHours: e.WEBHOOK_RETRY_HOURS,
      disableAfterHours: e.WEBHOOK_DISABLE_AFTER_HOURS,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === 'true',
      perMerchant: e.WEBHOOKS_PER_MERCHANT,
      pollIntervalMs: e.WEBHOOK_POLL_INTERVAL_MS,
      batchSize: e.WEBHOOK_BATCH_SIZE,
    },
    merchants: {
      defaultLimits: {
        connections: e.MERCHANT_MAX_CONNECTIONS,
        products: e.MERCHANT_MAX_PRODUCTS,
        writesPerMinute: e.MERCHANT_WRITES_PER_MINUTE,
      },
      connectionsShareIntervalMs: e.MERCHANT_CONNECTIONS_SHARE_INTERVAL_MS,
      usageFlushIntervalMs: e.USAGE_FLUSH_INTERVAL_MS,
      usageKeepDays: e.USAGE_KEEP_DAYS,
      usageOriginsPerMerchant: e.USAGE_ORIGINS_PER_MERCHANT,
    },
    console: {
      sessionIdleMinutes: e.CONSOLE_SESSION_IDLE_MINUTES,
      sessionMaxHours: e.CONSOLE_SESSION_MAX_HOURS,
      streamsPerMerchant: e.CONSOLE_STREAMS_PER_MERCHANT,
      streamMaxProducts: e.CONSOLE_STREAM_MAX_PRODUCTS,
      streamRefreshSeconds: e.CONSOLE_STREAM_REFRESH_SECONDS,
    },
  });
}

/** How a bad value appears in the start-up line: secrets never, URLs without their password. */
function shownValue(variable: string, value: string | undefined): string {
  if (secretSettings.has(variable)) return ' (value not shown)';
  const text = value ?? '';
  return `=${JSON.stringify(urlSettings.has(variable) ? maskUrlCredentials(text) : text)}`;
}

/**
 * A URL with its userinfo masked (`redis://user:***@host`), for errors and logs. Works on text
 * that is not a valid URL too, since that is exactly what a bad setting or a driver error may hold.
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/]*)@/gi, (_all, scheme: string, userinfo: string) => {
    const user = userinfo.split(':')[0] ?? '';
    return `${scheme}${userinfo.includes(':') ? `${user}:***` : '***'}@`;
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
