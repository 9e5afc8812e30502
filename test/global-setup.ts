import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { checkAmqp, createDatabase, createMysqlDatabase, deleteAmqpExchange, deleteRedisPrefix, dropDatabase, dropMysqlDatabase } from './support/throwaway-services.js';

/**
 * One PostgreSQL database, one MariaDB database, one Redis key prefix and one RabbitMQ exchange per
 * test run, removed at the end. With CI=true every service is required: a missing one fails the run
 * instead of skipping suites.
 */
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const mysqlServerUrl = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const required = process.env.CI === 'true';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string | null;
    mysqlUrl: string | null;
    redisUrl: string | null;
    redisPrefix: string;
    amqpUrl: string | null;
    amqpExchange: string;
  }
}

export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbName = `stockwire_test_${runId}`;
  const redisPrefix = `swtest:${runId}:`;
  const amqpExchange = `swtest.${runId}`;
  const left: string[] = [];

  let databaseUrl: string | null = null;
  try {
    databaseUrl = await createDatabase(adminUrl, dbName, 3000);
  } catch (error) {
    if (required) throw new Error(`CI=true but PostgreSQL at ${adminUrl} is not usable: ${(error as Error).message}`);
    left.push(`PostgreSQL (${adminUrl}: ${(error as Error).message})`);
  }

  let mysqlUrl: string | null = null;
  try {
    mysqlUrl = await createMysqlDatabase(mysqlServerUrl, dbName, 3000);
  } catch (error) {
    if (required) throw new Error(`CI=true but MariaDB at ${mysqlServerUrl} is not usable: ${(error as Error).message}`);
    left.push(`MariaDB (${mysqlServerUrl}: ${(error as Error).message})`);
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

  let amqpAvailable = false;
  // The URL may carry a password: messages name the host only.
  const amqpHost = new URL(amqpUrl).host;
  try {
    await checkAmqp(amqpUrl, 2000);
    amqpAvailable = true;
  } catch (error) {
    if (required) throw new Error(`CI=true but RabbitMQ at ${amqpHost} is not reachable: ${(error as Error).message}`);
    left.push(`RabbitMQ (${amqpHost}: ${(error as Error).message})`);
  }

  if (left.length > 0) {
    console.warn(
      `\n[stockwire tests] Left out, service not reachable: ${left.join('; ')}.\n` +
        '[stockwire tests] Suites for those backends are skipped; the embedded database and in-process bus still run.\n',
    );
  }

  project.provide('databaseUrl', databaseUrl);
  project.provide('mysqlUrl', mysqlUrl);
  project.provide('redisUrl', redisAvailable ? redisUrl : null);
  project.provide('redisPrefix', redisPrefix);
  project.provide('amqpUrl', amqpAvailable ? amqpUrl : null);
  project.provide('amqpExchange', amqpExchange);

  return async () => {
    if (databaseUrl) await dropDatabase(adminUrl, dbName);
    if (mysqlUrl) await dropMysqlDatabase(mysqlServerUrl, dbName);
    if (redisAvailable) await deleteRedisPrefix(redisUrl, redisPrefix);
    if (amqpAvailable) await deleteAmqpExchange(amqpUrl, amqpExchange);
  };
}
