import { MysqlAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * The few places where PostgreSQL (and PGlite) and MySQL/MariaDB need different SQL, each behind one
 * small function so the store keeps one code path. The family is read from the Kysely handle's
 * adapter, so a transaction knows it without being told.
 */
export type SqlFamily = 'postgres' | 'mysql';

// Kysely hands migrations an untyped handle; any handle (database or transaction) will do here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handle = Kysely<any>;

export function sqlFamily(db: Handle): SqlFamily {
  return db.getExecutor().adapter instanceof MysqlAdapter ? 'mysql' : 'postgres';
}

export function isMysql(db: Handle): boolean {
  return sqlFamily(db) === 'mysql';
}

/**
 * The database's clock with microseconds on both: MySQL's `now()` has whole seconds only, and
 * `current_timestamp(6)` means the same as `now()` on PostgreSQL.
 */
export const now: RawBuilder<Date> = sql<Date>`current_timestamp(6)`;

/** The database's clock `seconds` from now (holds, Idempotency-Keys). */
export function nowPlusSeconds(db: Handle, seconds: number): RawBuilder<Date> {
  return timePlusSeconds(db, now, seconds);
}

/** A time `seconds` (fractions too; negative: before) after `time`, a column or `now`. */
export function timePlusSeconds(db: Handle, time: RawBuilder<Date>, seconds: number): RawBuilder<Date> {
  return isMysql(db) ? sql<Date>`${time} + interval ${seconds} second` : sql<Date>`${time} + make_interval(secs => ${seconds})`;
}

/** A list of strings as its column takes it: PostgreSQL `text[]`, MySQL JSON text. */
export function textListValue(db: Handle, values: readonly string[]): string[] {
  // The MySQL column is JSON; the column type of the schema stays `string[]` for both.
  return isMysql(db) ? (JSON.stringify(values) as unknown as string[]) : [...values];
}

/** `value` is one of the strings in the list column `list` (PostgreSQL `text[]`, MySQL JSON). */
export function listContains(db: Handle, list: RawBuilder<unknown>, value: RawBuilder<string>): RawBuilder<boolean> {
  return isMysql(db) ? sql<boolean>`json_contains(${list}, json_quote(${value}))` : sql<boolean>`${value} = any (${list})`;
}

/** A list of strings as the driver hands it back: an array from `pg`, JSON text from MariaDB. */
export function textListFrom(value: unknown): string[] {
  const list: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(list) ? list.map(String) : [];
}

/** A JSON column's value: `pg` parses jsonb itself, MariaDB's JSON is text on the wire. */
export function jsonFrom(db: Handle, value: unknown): unknown {
  return isMysql(db) && typeof value === 'string' ? JSON.parse(value) : value;
}

/** MySQL's "duplicate key" (`ER_DUP_ENTRY`): an INSERT lost a race for a key another writer holds. */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { errno?: unknown } | null)?.errno === 1062;
}
