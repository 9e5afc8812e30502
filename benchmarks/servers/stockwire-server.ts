/**
 * Stockwire itself as a bench child: the production composition root (`startStockwire`) with the
 * configuration the harness passes in the environment (real PostgreSQL and Redis).
 */
import { loadConfig } from '../../server/config.js';
import { announceReady, onShutdown } from './server-env.js';

interface RunningStockwire {
  readonly apiUrl: string | undefined;
  readonly wsUrl: string | undefined;
  close(): Promise<void>;
}
type Start = (config: ReturnType<typeof loadConfig>) => Promise<RunningStockwire>;

// Loaded by path so the harness type-checks before server/main.ts exists (interfaces.md signature).
const mainModule = '../../server/main.js';
const { startStockwire } = (await import(mainModule)) as { startStockwire: Start };

const running = await startStockwire(loadConfig(process.env));
// ROLE=all answers both; the split variant starts a ROLE=realtime and a ROLE=api process.
announceReady({ wsUrl: running.wsUrl ? `${running.wsUrl}/v1/ws` : '', ...(running.apiUrl ? { apiUrl: running.apiUrl } : {}) });
onShutdown(() => running.close());
