/**
 * The part of `@electric-sql/pglite` the dialect uses, declared here (as Kysely's Postgres dialect
 * does for `pg`) so no PGlite type leaks into the rest of the code.
 */
export interface PGliteDialectConfig {
  /** The database, or a factory called once on first use. */
  readonly database: PGliteDatabase | (() => Promise<PGliteDatabase>);
}

export interface PGliteDatabase {
  query<R>(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: R[]; affectedRows?: number; rowCount?: number; command?: string }>;
  close(): Promise<void>;
  readonly closed: boolean;
}
