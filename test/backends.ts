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
  readonly name: 'redis' | 'memory';
  readonly redisUrl: string | undefined;
  /** Every key and channel of this run starts with it, so runs never see each other. */
  readonly keyPrefix: string;
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
  const url = inject('redisUrl');
  const keyPrefix = inject('redisPrefix');
  const backends: BusBackend[] = [];
  if (url) backends.push({ name: 'redis', redisUrl: url, keyPrefix });
  backends.push({ name: 'memory', redisUrl: undefined, keyPrefix });
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
