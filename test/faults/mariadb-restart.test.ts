import { databaseRestartSuite } from './database-restart.js';
import { ThrowawayMariadb } from './helpers.js';

// The MariaDB twin: a private `mariadbd` on a free port with its own datadir, stopped with SIGTERM.
databaseRestartSuite('MariaDB', () => ThrowawayMariadb.create());
