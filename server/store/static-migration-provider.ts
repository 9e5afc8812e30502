import type { Migration, MigrationProvider } from 'kysely';
import { migrations } from './migrations.js';

/** Hands Kysely's `Migrator` the in-code migration list: no files to find at run time, one set for both backends. */
export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly list: Readonly<Record<string, Migration>> = migrations) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...this.list };
  }
}
