/**
 * Stockwire itself as a bench child: the compiled server package (what production runs, so memory and
 * start-up are production's), started through its composition root with the configuration the harness
 * passes in the environment (real PostgreSQL and Redis).
 */
import { existsSync } from 'node:fs';
import type * as StockwireServer from '../../server/index.js';
import { announceReady, onShutdown } from './server-env.js';

const compiled = new URL('../../server/dist/index.js', import.meta.url);
if (!existsSync(compiled)) throw new Error('The benchmarks run the compiled server: `npm run build` first.');
const { loadConfig, startStockwire } = (await import(compiled.href)) as typeof StockwireServer;

const running = await startStockwire(loadConfig(process.env));
// ROLE=all answers both; the split variant starts a ROLE=realtime and a ROLE=api process.
announceReady({ wsUrl: running.wsUrl ? `${running.wsUrl}/v1/ws` : '', ...(running.apiUrl ? { apiUrl: running.apiUrl } : {}) });
onShutdown(() => running.close());
