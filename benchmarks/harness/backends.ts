/**
 * The real services a bench run uses: one fresh PostgreSQL database per run (dropped afterwards)
 * and one Redis key prefix per run (its keys deleted afterwards). Loopback only.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface BenchBackends {
  readonly redisUrl: string;
  /** Unique per run; every baseline channel and Stockwire key starts with it. */
  readonly prefix: string;
  /** Null when PostgreSQL is not wanted (baseline-only runs). */
  readonly databaseUrl: string | null;
  readonly redisPid: number | null;
  dispose(): Promise<void>;
}

export interface BackendOptions {
  readonly redisUrl: string;
  readonly postgresAdminUrl: string;
  readonly needDatabase: boolean;
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
    const admin = new pg.Client({ connectionString: options.postgresAdminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const url = new URL(options.postgresAdminUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    created = name;
  }
  return {
    redisUrl: options.redisUrl,
    prefix,
    databaseUrl,
    redisPid: Number.isFinite(redisPid) ? redisPid : null,
    async dispose() {
      if (created) {
        const admin = new pg.Client({ connectionString: options.postgresAdminUrl });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS "${created}" WITH (FORCE)`);
        await admin.end();
      }
      const client = new Redis(options.redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}
