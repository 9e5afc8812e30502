import { connect as connectAmqp } from 'amqplib';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';

/**
 * Throw-away PostgreSQL databases, Redis key prefixes and RabbitMQ exchanges on the shared services, for the test run
 * (global-setup) and the measuring scripts. Imports nothing from vitest, so plain scripts may use it.
 */

/** Creates database `name` on the server of `adminUrl`; answers its URL. */
export async function createDatabase(adminUrl: string, name: string, connectTimeoutMs?: number): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl, ...(connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: connectTimeoutMs }) });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end().catch(() => {});
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops database `name`, cutting off whoever is still connected to it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Creates database `name` on the MySQL/MariaDB server of `serverUrl` (a `mysql://` URL); answers its URL. */
export async function createMysqlDatabase(serverUrl: string, name: string, connectTimeoutMs?: number): Promise<string> {
  const admin = await createConnection({ uri: serverUrl, ...(connectTimeoutMs === undefined ? {} : { connectTimeout: connectTimeoutMs }) });
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end().catch(() => {});
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops database `name` on the MySQL/MariaDB server of `serverUrl`, first ending whoever is still connected to it. */
export async function dropMysqlDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = await createConnection({ uri: serverUrl });
  try {
    const [sessions] = await admin.query<Array<{ id: number } & import('mysql2').RowDataPacket>>(
      'SELECT id FROM information_schema.processlist WHERE db = ? AND id <> connection_id()',
      [name],
    );
    for (const { id } of sessions) await admin.query('KILL ?', [id]).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Deletes every Redis key under `prefix`. */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Throws unless the RabbitMQ broker at `amqpUrl` accepts a connection within `timeoutMs`. */
export async function checkAmqp(amqpUrl: string, timeoutMs: number): Promise<void> {
  const connection = await connectAmqp(amqpUrl, { timeout: timeoutMs });
  connection.on('error', () => {});
  await connection.close();
}

/** Deletes exchange `name` (a run's own); the nodes' exclusive queues went with their connections. */
export async function deleteAmqpExchange(amqpUrl: string, name: string): Promise<void> {
  const connection = await connectAmqp(amqpUrl, { timeout: 5000 });
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    await channel.deleteExchange(name);
  } finally {
    await connection.close().catch(() => {});
  }
}
