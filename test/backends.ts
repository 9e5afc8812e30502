import { inject } from 'vitest';
// Pulls in the ProvidedContext declarations, so type-checking a suite that imports this file sees them.
import type {} from './global-setup.js';

/**
 * The real backends a suite loops over, Kysely-style: the same assertions run on every one.
 * Embedded ones always run; a real service is left out only outside CI when it is not reachable
 * (global-setup says so once, loudly).
 */
export interface DatabaseBackend {
  readonly name: 'postgres' | 'pglite' | 'mariadb';
  /** Unset means embedded (PGlite, in memory for tests); `mysql://…` is MariaDB. */
  readonly databaseUrl: string | undefined;
}

export interface BusBackend {
  readonly name: 'redis' | 'amqp' | 'memory';
  /** On `amqp`, Redis (when reachable) keeps the latest-value cache. */
  readonly redisUrl: string | undefined;
  /** Every key and channel of this run starts with it, so runs never see each other. */
  readonly keyPrefix: string;
  /** Set on `amqp` only. */
  readonly amqpUrl: string | undefined;
  /** This run's own exchange, deleted at the end, so runs never see each other. */
  readonly amqpExchange: string;
}

export function databaseBackends(): DatabaseBackend[] {
  const url = inject('databaseUrl');
  const backends: DatabaseBackend[] = [];
  const mysqlUrl = inject('mysqlUrl');
  if (url) backends.push({ name: 'postgres', databaseUrl: url });
  backends.push({ name: 'pglite', databaseUrl: undefined });
  if (mysqlUrl) backends.push({ name: 'mariadb', databaseUrl: mysqlUrl });
  return backends;
}

export function busBackends(): BusBackend[] {
  const url = inject('redisUrl') ?? undefined;
  const keyPrefix = inject('redisPrefix');
  const amqpUrl = inject('amqpUrl');
  const amqpExchange = inject('amqpExchange');
  const backends: BusBackend[] = [];
  if (url) backends.push({ name: 'redis', redisUrl: url, keyPrefix, amqpUrl: undefined, amqpExchange });
  if (amqpUrl) backends.push({ name: 'amqp', redisUrl: url, keyPrefix, amqpUrl, amqpExchange });
  backends.push({ name: 'memory', redisUrl: undefined, keyPrefix, amqpUrl: undefined, amqpExchange });
  return backends;
}

export function realDatabaseUrl(): string | null {
  return inject('databaseUrl');
}

/** This run's throwaway MariaDB database (`mysql://…`), or null when it is left out. */
export function realMysqlUrl(): string | null {
  return inject('mysqlUrl');
}

export function realRedisUrl(): string | null {
  return inject('redisUrl');
}

export function realAmqpUrl(): string | null {
  return inject('amqpUrl');
}
