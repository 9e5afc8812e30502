/**
 * `npm run example:simulator -- [options]`: drives orders through a Stockwire REST API with a secret key.
 * With no --key it uses the demo merchant that `npm start` saved in DATA_DIR/demo.json.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { demoProducts, readDemoKeys, SimulatorError, startOrderSimulator, type SimulatedSku, type SimulatorStats } from 'stockwire-server/simulator';

const program = new Command()
  .name('order-simulator')
  .description('Drive realistic order traffic (sales, bursts, restocks, reservations) through the Stockwire REST API.')
  .addOption(new Option('--api <url>', 'API base URL (default: where the demo runs, else http://127.0.0.1:8080)').env('STOCKWIRE_API'))
  .addOption(new Option('--key <sk>', 'secret key (sk_…); default: the demo merchant in DATA_DIR/demo.json').env('STOCKWIRE_SECRET_KEY'))
  .option('--rate <n>', 'orders per second (0.1–500)', parseNumber(0.1, 500), 5)
  .option('--skus <n|list>', 'a count (SIM-001…, created if missing) or a comma list of SKUs; default: the demo products or 5')
  .option('--duration <seconds>', 'stop after this many seconds (max 86400)', parseNumber(1, 86_400), 60)
  .option('--max-requests <n>', 'stop after this many HTTP requests', parseNumber(1, 10_000_000), 100_000)
  .option('--no-reservations', 'no hold → commit/release flows')
  .option('--no-bursts', 'no flash-sale bursts')
  .option('--data-dir <dir>', 'where `npm start` keeps demo.json', process.env.DATA_DIR ?? './.stockwire')
  .option('--allow-remote', 'allow an API that is not on this machine (it writes real stock!)', false)
  .option('--quiet', 'no progress line, only the summary', false);

interface Flags {
  api?: string;
  key?: string;
  rate: number;
  skus?: string;
  duration: number;
  maxRequests: number;
  reservations: boolean;
  bursts: boolean;
  dataDir: string;
  allowRemote: boolean;
  quiet: boolean;
}

async function main(): Promise<void> {
  program.parse();
  const flags = program.opts<Flags>();

  let key = flags.key;
  let usingDemo = false;
  let apiFlag = flags.api;
  if (key === undefined) {
    const demo = await readDemoKeys(flags.dataDir);
    if (demo === undefined) {
      fatal(`No --key given and no demo merchant in ${flags.dataDir}/demo.json. Run \`npm start\` first, or pass --key sk_…`);
    }
    key = demo.secretKey;
    usingDemo = true;
    apiFlag ??= demo.apiUrl;
  }
  let api: URL;
  try {
    api = new URL(apiFlag ?? 'http://127.0.0.1:8080');
  } catch {
    fatal(`--api ${apiFlag} is not a URL`);
  }
  if (!flags.allowRemote && !isLoopback(api.hostname)) {
    fatal(`--api ${api.origin} is not on this machine; the simulator writes stock. Add --allow-remote if you mean it.`);
  }
  if (!key.startsWith('sk_')) fatal('--key must be a secret key (sk_…): the simulator writes stock.');

  const skus = skuList(flags.skus, usingDemo);
  const total = Math.round(flags.duration);
  const bar = flags.quiet
    ? undefined
    : new cliProgress.SingleBar(
        {
          format:
            '{bar} {value}/{total}s | {requests} req | {sales} sales ({units} units) | {restocks} restocks | {holds} holds | {refused} refused | {errors} errors',
          hideCursor: true,
          noTTYOutput: true,
          notTTYSchedule: 5000,
          barsize: 20,
        },
        cliProgress.Presets.shades_classic,
      );

  const sim = startOrderSimulator({
    apiUrl: api.toString(),
    secretKey: key,
    skus,
    rate: flags.rate,
    durationMs: flags.duration * 1000,
    maxRequests: flags.maxRequests,
    reservations: flags.reservations,
    bursts: flags.bursts,
    onEvent: (event) => {
      if (event.type === 'ready') {
        const created = event.created.length > 0 ? ` (created ${event.created.join(', ')})` : '';
        console.log(`Simulating orders on ${event.skus.length} SKUs at ${flags.rate}/s against ${api.origin}${created}`);
        bar?.start(total, 0, payload(sim.stats()));
      }
    },
  });

  const progress = setInterval(() => {
    const s = sim.stats();
    bar?.update(Math.min(total, Math.floor(s.elapsedMs / 1000)), payload(s));
  }, 250);

  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    void sim.stop();
  });

  try {
    const stats = await sim.done;
    bar?.update(Math.min(total, Math.floor(stats.elapsedMs / 1000)), payload(stats));
    bar?.stop();
    console.log(summary(stats));
  } catch (error) {
    bar?.stop();
    fatal(error instanceof SimulatorError ? error.message : String(error));
  } finally {
    clearInterval(progress);
  }
}

function skuList(flag: string | undefined, usingDemo: boolean): (string | SimulatedSku)[] {
  if (flag === undefined) {
    return usingDemo ? demoProducts.map((p) => ({ sku: p.sku, parLevel: p.parLevel, weight: p.weight })) : generated(5);
  }
  if (/^\d+$/.test(flag)) {
    const n = Number(flag);
    if (n < 1 || n > 1000) fatal('--skus must be between 1 and 1000');
    return generated(n);
  }
  const list = flag.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) fatal('--skus is empty');
  return list;
}

function generated(n: number): SimulatedSku[] {
  return Array.from({ length: n }, (_, i) => {
    const sku = `SIM-${String(i + 1).padStart(3, '0')}`;
    return { sku, name: `Simulated product ${i + 1}` };
  });
}

function payload(s: SimulatorStats): Record<string, number> {
  return { requests: s.requests, sales: s.sales, units: s.unitsSold, restocks: s.restocks, holds: s.holds, refused: s.refused, errors: s.errors };
}

function summary(s: SimulatorStats): string {
  return (
    `Done in ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.requests} requests, ${s.sales} sales + ${s.commits} committed holds ` +
    `(${s.unitsSold} units), ${s.restocks} restocks, ${s.soldOut} sell-outs, ${s.bursts} bursts, ${s.holds} holds ` +
    `(${s.releases} released), ${s.refused} refused as sold out, ${s.rateLimited} rate-limited, ${s.errors} errors.`
  );
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function parseNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be a number from ${min} to ${max}`);
    return n;
  };
}

function fatal(message: string): never {
  console.error(`order-simulator: ${message}`);
  process.exit(1);
}

await main();
