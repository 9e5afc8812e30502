/**
 * `npm run bench -- <scenario> [flags]`: runs one scenario against Stockwire and the baselines,
 * writes benchmarks/results/<scenario>-<date>.{json,md,svg}, prints the table and, last, the ratios.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { fileURLToPath } from 'node:url';
import type { ClientKind } from './harness/load-protocol.js';
import { markdownTable, ratios, writeReport } from './harness/report.js';
import { roundsSummary } from './harness/rounds.js';
import { runScenario, scenarioNames, type ScenarioName, type ScenarioOptions, type ScenarioResult } from './harness/scenarios.js';
import { defaultSystemNames, systemNames, type SystemName } from './harness/systems.js';

/** Defaults sized for a 2-core machine; every one can be changed by a flag. */
export const scenarioDefaults: Record<ScenarioName, Partial<ScenarioOptions>> = {
  fanout: { connections: 10_000, products: 200, perConn: 5, rate: 500, durationS: 30, settleS: 30 },
  'hot-product': { connections: 20_000, products: 1, perConn: 1, rate: 2_000, durationS: 10, settleS: 15 },
  'connect-storm': { connections: 20_000, products: 200, perConn: 5, rate: 0, durationS: 0, settleS: 0 },
  capacity: { connections: 100_000, products: 200, perConn: 1, rate: 0, durationS: 0, settleS: 3 },
  writes: { connections: 0, products: 1, perConn: 1, rate: 0, durationS: 10, settleS: 0, systems: ['stockwire'] },
  // The default node, with its sockets on the main thread and on two threads, with fixed fold windows, with realtime threads at the API's priority, against the split roles.
  'flash-sale': {
    connections: 10_000,
    products: 1,
    perConn: 1,
    rate: 0,
    durationS: 10,
    settleS: 15,
    concurrency: 32,
    systems: ['stockwire', 'stockwire-1-thread', 'stockwire-2-threads', 'stockwire-fixed-fold', 'stockwire-equal-priority', 'stockwire-split'],
  },
  // 40 attacker sockets × sub/unsub of 500 fresh SKUs every 45 ms, against 100 adjusts/s over 20 SKUs.
  'churn-attack': { connections: 40, products: 20, perConn: 500, rate: 100, durationS: 10, settleS: 0, systems: ['stockwire'] },
  // 200 watchers of 20 products and 50 adjusts/s of one merchant, alone and while another floods at 10× its limits.
  limits: { connections: 200, products: 20, perConn: 1, rate: 50, durationS: 15, settleS: 10, phases: 2, warmupS: 10, systems: ['stockwire'] },
};

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

export function buildCli(): Command {
  return new Command('bench')
    .description('Stockwire benchmarks: load generator, baselines and reports')
    .addArgument(new Command().createArgument('<scenario>', 'scenario to run').choices(scenarioNames))
    .option('--systems <list>', `comma-separated, from: ${systemNames.join(', ')} (default: all but stockwire-split and the stockwire-amqp variants)`)
    .option('-c, --connections <n>', 'client connections', int('connections'))
    .option('--products <n>', 'products', int('products'))
    .option('--per-conn <n>', 'products each connection subscribes to', int('per-conn'))
    .option('-r, --rate <n>', 'writes per second (open loop)', int('rate'))
    .option('-d, --duration <s>', 'seconds of writing', int('duration'))
    .option('--settle <s>', 'seconds clients may take to converge after the last write', int('settle'))
    .option('-w, --workers <n>', 'load-generator worker threads', int('workers'), 2)
    .addOption(new Option('--client <kind>', 'load-generator WebSocket client').choices(['lean', 'ws']).default('lean'))
    .option('--source-addresses <n>', 'loopback source addresses 127.0.0.2 … to spread connections over', int('source-addresses'), 16)
    .option('--connect-concurrency <n>', 'connections opening at once per worker (connect-storm: all)', int('connect-concurrency'), 200)
    .option('--publish-interval <ms>', 'Stockwire PUBLISH_INTERVAL_MS (fold window)', int('publish-interval'), 100)
    .option('--write-combine <n>', 'Stockwire WRITE_COMBINE_MAX_ITEMS (1: combining off; default: the server\'s)', int('write-combine'))
    .option('--concurrency <n>', 'writes and flash-sale: closed-loop lanes (default 16; flash-sale 32)', int('concurrency'))
    .option('--skus <n>', 'writes: SKUs of the spread phase', int('skus'), 1000)
    .option('--phases <n>', 'limits: alone / flooded pairs of phases (default 2)', int('phases'))
    .option('--warmup <s>', 'limits: seconds of writes and flood before the first phase, not counted (default 10)', int('warmup'))
    .option('--node-flags <words>', 'stockwire-node-flags: node flags and NAME=value variables to run the server with instead of the bin\'s first line (default: none)', '')
    .option('--rss-cap <mb>', 'kill a server whose RSS passes this', int('rss-cap'), 4096)
    .option('--rounds <n>', 'run the comparison n times, the systems\' order reversed every other round, and sum up the rounds', int('rounds'), 1)
    .addOption(new Option('--redis-url <url>').default(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'))
    .addOption(new Option('--amqp-url <url>', 'RabbitMQ for the stockwire-amqp variants').default(process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'))
    .addOption(new Option('--postgres-url <url>', 'admin URL; a fresh database is created and dropped').default(process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'))
    .option('--out <dir>', 'where results go', fileURLToPath(new URL('./results', import.meta.url)))
    .option('--no-progress', 'no progress bars');
}

interface CliFlags {
  systems?: string;
  connections?: number;
  products?: number;
  perConn?: number;
  rate?: number;
  duration?: number;
  settle?: number;
  workers: number;
  client: ClientKind;
  sourceAddresses: number;
  connectConcurrency: number;
  publishInterval: number;
  writeCombine?: number;
  concurrency?: number;
  skus: number;
  phases?: number;
  warmup?: number;
  nodeFlags: string;
  rssCap: number;
  rounds: number;
  redisUrl: string;
  amqpUrl: string;
  postgresUrl: string;
  out: string;
  progress: boolean;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`benchmarks only talk to loopback, not ${host}`);
}

export function optionsFrom(scenario: ScenarioName, flags: CliFlags): ScenarioOptions {
  const d = scenarioDefaults[scenario];
  const systems = (flags.systems ? flags.systems.split(',').map((s) => s.trim()).filter(Boolean) : (d.systems ?? [...defaultSystemNames])) as SystemName[];
  for (const s of systems) if (!systemNames.includes(s)) throw new Error(`unknown system ${s}; choose from ${systemNames.join(', ')}`);
  assertLoopback(flags.redisUrl);
  assertLoopback(flags.postgresUrl);
  assertLoopback(flags.amqpUrl);
  return {
    systems,
    connections: flags.connections ?? d.connections ?? 1000,
    products: flags.products ?? d.products ?? 200,
    perConn: flags.perConn ?? d.perConn ?? 1,
    rate: flags.rate ?? d.rate ?? 0,
    durationS: flags.duration ?? d.durationS ?? 10,
    settleS: flags.settle ?? d.settleS ?? 10,
    workers: Math.max(1, flags.workers),
    client: flags.client,
    sourceAddresses: Math.max(1, Math.min(250, flags.sourceAddresses)),
    connectConcurrency: Math.max(1, flags.connectConcurrency),
    publishIntervalMs: flags.publishInterval,
    ...(flags.writeCombine === undefined ? {} : { writeCombineMaxItems: Math.max(1, flags.writeCombine) }),
    concurrency: Math.max(1, flags.concurrency ?? d.concurrency ?? 16),
    skus: Math.max(1, flags.skus),
    ...(flags.phases ?? d.phases ? { phases: Math.max(1, flags.phases ?? d.phases!) } : {}),
    ...(flags.warmup ?? d.warmupS ? { warmupS: flags.warmup ?? d.warmupS! } : {}),
    nodeFlags: flags.nodeFlags.split(/\s+/).filter(Boolean),
    rssCapMb: flags.rssCap,
    progress: flags.progress,
    redisUrl: flags.redisUrl,
    amqpUrl: flags.amqpUrl,
    postgresAdminUrl: flags.postgresUrl,
  };
}

async function main(): Promise<void> {
  const cli = buildCli();
  cli.parse();
  const scenario = cli.args[0] as ScenarioName;
  const flags = cli.opts<CliFlags>();
  const options = optionsFrom(scenario, flags);
  const roundCount = Math.max(1, flags.rounds);
  const rounds: ScenarioResult[] = [];
  for (let round = 0; round < roundCount; round++) {
    const systems = round % 2 === 0 ? options.systems : [...options.systems].reverse();
    if (roundCount > 1) console.log(`\nRound ${round + 1} of ${roundCount}: ${systems.join(', ')}`);
    const result = await runScenario(scenario, { ...options, systems });
    const written = writeReport(result, flags.out);
    console.log(`\n${markdownTable(result)}\n`);
    console.log(`results: ${written.json}\n         ${written.markdown}\n         ${written.svg}\n`);
    const lines = ratios(result);
    if (lines.length > 0) console.log(`Ratios\n${lines.map((l) => `  ${l}`).join('\n')}`);
    if (result.results.some((r) => !r.ok)) process.exitCode = 1;
    rounds.push(result);
  }
  const summary = roundsSummary(rounds);
  if (summary.length > 0) console.log(`\nOver ${rounds.length} rounds (the systems' order reversed every other round)\n\n${summary.join('\n')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
