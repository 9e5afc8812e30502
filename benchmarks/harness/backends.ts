/**
 * The real services a bench run uses: one fresh PostgreSQL database per run (dropped afterwards),
 * one Redis key prefix per run (its keys deleted afterwards) and, for the RabbitMQ variant, one
 * exchange per run (deleted afterwards). Loopback only.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { checkAmqp, createDatabase, deleteAmqpExchange, deleteRedisPrefix, dropDatabase } from '../../test/support/throwaway-services.js';

export interface BenchBackends {
  readonly redisUrl: string;
  /** Unique per run; every baseline channel and Stockwire key starts with it. */
  readonly prefix: string;
  /** Null when PostgreSQL is not wanted (baseline-only runs). */
  readonly databaseUrl: string | null;
  readonly redisPid: number | null;
  /** Set when the run measures the RabbitMQ variant. */
  readonly amqpUrl: string | undefined;
  readonly amqpExchange: string;
  dispose(): Promise<void>;
}

export interface BackendOptions {
  readonly redisUrl: string;
  readonly postgresAdminUrl: string;
  readonly needDatabase: boolean;
  /** Set: the RabbitMQ variant runs on this broker, on an exchange of its own. */
  readonly amqpUrl?: string;
  /** Use this database as is (tests pass the per-run test database) instead of creating one. */
  readonly databaseUrl?: string;
  readonly prefix?: string;
}

export async function openBackends(options: BackendOptions): Promise<BenchBackends> {
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const prefix = options.prefix ? `${options.prefix}bench${runId}:` : `swbench:${runId}:`;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000 });
  const info = await redis.info('server');
  const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? NaN);
  await redis.quit();

  let databaseUrl: string | null = options.databaseUrl ?? null;
  let created: string | null = null;
  if (options.needDatabase && !databaseUrl) {
    const name = `stockwire_bench_${runId}`;
    databaseUrl = await createDatabase(options.postgresAdminUrl, name);
    created = name;
  }
  const amqpExchange = `swbench.${runId}`;
  if (options.amqpUrl) await checkAmqp(options.amqpUrl, 3000);
  return {
    redisUrl: options.redisUrl,
    prefix,
    databaseUrl,
    redisPid: Number.isFinite(redisPid) ? redisPid : null,
    amqpUrl: options.amqpUrl,
    amqpExchange,
    async dispose() {
      if (created) await dropDatabase(options.postgresAdminUrl, created);
      await deleteRedisPrefix(options.redisUrl, prefix);
      if (options.amqpUrl) await deleteAmqpExchange(options.amqpUrl, amqpExchange);
    },
  };
}
