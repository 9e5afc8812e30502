#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --optimize-for-size --v8-pool-size=1
// Idle memory (benchmarks/measure-idle-memory.ts): a 2 MB young generation (V8's default grows to 16 MB),
// V8's size-over-speed heuristics, one V8 helper thread and two malloc arenas (glibc makes one per
// thread) keep an idle node with two realtime threads near 97 MB RSS instead of ~120. Their cost under
// load is in benchmarks/results/MEMORY.md. `node dist/cli.js` without them runs too, with more memory.
import { Command } from 'commander';
import { ConfigError, loadConfig, maskUrlCredentials, type Config } from './config.js';
import { createLogger } from './log.js';
import { startStockwire } from './main.js';

/**
 * `stockwire serve` (the production server) and `stockwire demo` (the newcomer's demo).
 * Configuration comes from the environment only; a bad value is one line naming the variable, exit 1.
 */
interface Running {
  close(): Promise<void>;
}

async function run(start: (config: Config) => Promise<Running>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  let running: Running;
  try {
    running = await start(config);
  } catch (error) {
    // Driver errors may quote a connection URL: its password never reaches the terminal or a log.
    fail(`could not start: ${maskUrlCredentials((error as Error).message ?? String(error))}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second Ctrl-C means now
    stopping = true;
    process.stderr.write(`stockwire: ${signal}, shutting down\n`);
    running.close().then(
      () => process.exit(0),
      (error: unknown) => fail(`shutdown failed: ${(error as Error).message}`),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function fail(line: string): never {
  process.stderr.write(`stockwire: ${line}\n`);
  process.exit(1);
}

const program = new Command()
  .name('stockwire')
  .description('Realtime stock for shop pages. Settings come from the environment (see README).')
  .showHelpAfterError();

program
  .command('serve')
  .description('Run the production server: the REST API and the realtime endpoint (ROLE), no demo data.')
  .action(() => run((config) => startStockwire(config, { logger: createLogger(config.logLevel) })));

program
  .command('demo')
  .description('Run the demo: embedded storage, a demo merchant and shop page at /demo, simulated orders.')
  .action(async () => {
    const { runDemo } = await import('./demo/run-demo.js');
    // The demo's console is its banner: logs below warn only when LOG_LEVEL asks for them.
    const level = (config: Config) => (process.env.LOG_LEVEL ? config.logLevel : 'warn');
    await run((config) => runDemo(config, { logger: createLogger(level(config)) }));
  });

await program.parseAsync(process.argv);
