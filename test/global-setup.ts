import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

/**
 * One PostgreSQL database and one Redis key prefix per test run, removed at the end.
 * With CI=true both services are required: a missing one fails the run instead of skipping suites.
 */
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const required = process.env.CI === 'true';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string | null;
    redisUrl: string | null;
    redisPrefix: string;
  }
}

export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbName = `stockwire_test_${runId}`;
  const redisPrefix = `swtest:${runId}:`;
  const left: string[] = [];

  let databaseUrl: string | null = null;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${dbName}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
  } catch (error) {
    if (required) throw new Error(`CI=true but PostgreSQL at ${adminUrl} is not usable: ${(error as Error).message}`);
    left.push(`PostgreSQL (${adminUrl}: ${(error as Error).message})`);
  } finally {
    await admin.end().catch(() => {});
  }

  let redisAvailable = false;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    redisAvailable = true;
  } catch (error) {
    if (required) throw new Error(`CI=true but Redis at ${redisUrl} is not reachable: ${(error as Error).message}`);
    left.push(`Redis (${redisUrl}: ${(error as Error).message})`);
  } finally {
    redis.disconnect();
  }

  if (left.length > 0) {
    console.warn(
      `\n[stockwire tests] Left out, service not reachable: ${left.join('; ')}.\n` +
        '[stockwire tests] Suites for those backends are skipped; the embedded database and in-process bus still run.\n',
    );
  }

  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisAvailable ? redisUrl : null);
  project.provide('redisPrefix', redisPrefix);

  return async () => {
    if (databaseUrl) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await client.end();
    }
    if (redisAvailable) {
      const client = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
      client.disconnect();
    }
  };
}
