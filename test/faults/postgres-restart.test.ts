import { databaseRestartSuite } from './database-restart.js';
import { ThrowawayPostgres } from './helpers.js';

// PostgreSQL restarted under a running node: a throwaway cluster of our own, stopped with `pg_ctl -m fast`.
databaseRestartSuite('PostgreSQL', async () => {
  const db = await ThrowawayPostgres.create();
  return { url: db.url, stop: () => db.stop('fast'), start: () => db.start(), destroy: () => db.destroy() };
});
