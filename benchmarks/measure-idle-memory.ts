/**
 * Idle memory of `stockwire serve`: the RSS of its whole process tree with no client, ROLE=all on
 * PostgreSQL (a fresh database per start, dropped after) and Redis (a key prefix of its own), every
 * port free. Variants run side by side, interleaved in each round, so the machine's drift hits all.
 *
 *   npx tsx benchmarks/measure-idle-memory.ts [--rounds 3] [--settle 20] [--variant label=spec]…
 *
 * A variant's spec is a list of words: `bin` runs `server/dist/cli.js` through its own first line (as
 * `npx stockwire serve` does); without it, `node` runs it with the `--flags` given; `NAME=value` words
 * are environment variables; a word ending in `.js` is the cli file to run instead of `server/dist/cli.js`
 * (another build, to compare code changes). Default: `bin` alone. For example:
 *
 *   --variant 'bin=bin' --variant 'plain=' --variant 'one-thread=bin WS_THREADS=1'
 *
 * Not a test: numbers depend on the machine and its load (`npm run build` first).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/support/ports.js';
import { createDatabase, deleteRedisPrefix, dropDatabase } from '../test/support/throwaway-services.js';
import { waitFor } from '../test/support/wait.js';
import { readProc, readTreeRss, startProcess } from './harness/child.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    settle: { type: 'string', default: '20' },
    variant: { type: 'string', multiple: true },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const rounds = Number(values.rounds);
const settleMs = Number(values.settle) * 1000;

interface Variant {
  readonly label: string;
  readonly bin: boolean;
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cli: string;
}

function parseVariant(text: string): Variant {
  const at = text.indexOf('=');
  const [label, spec] = at < 0 ? [text, text] : [text.slice(0, at), text.slice(at + 1)];
  const words = spec.split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  const nodeFlags: string[] = [];
  let bin = false;
  let cli = defaultCli;
  for (const word of words) {
    if (word === 'bin') bin = true;
    else if (word.endsWith('.js')) cli = resolve(word);
    else if (word.startsWith('--')) nodeFlags.push(word);
    else if (/^[A-Z_][A-Z0-9_]*=/.test(word)) env[word.slice(0, word.indexOf('='))] = word.slice(word.indexOf('=') + 1);
    else throw new Error(`variant ${label}: "${word}" is neither bin, a --flag nor NAME=value`);
  }
  if (bin && nodeFlags.length > 0) throw new Error(`variant ${label}: node flags come from the bin's first line; drop bin to give them`);
  if (!existsSync(cli)) throw new Error(`variant ${label}: no ${cli} (\`npm run build\` first)`);
  return { label, bin, nodeFlags, env, cli };
}

const defaultCli = fileURLToPath(new URL('../server/dist/cli.js', import.meta.url));
const variants = (values.variant ?? ['bin']).map(parseVariant);

interface Sample {
  readonly treeMb: number;
  /** Of the main process (the realtime threads share it): anonymous and file-backed resident pages. */
  readonly anonMb: number;
  readonly fileMb: number;
}

const MB = 1024 * 1024;

async function measureOnce(variant: Variant): Promise<Sample> {
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const database = `stockwire_idle_${runId}`;
  const prefix = `swidle:${runId}:`;
  const databaseUrl = await createDatabase(values['postgres-url'], database);
  try {
    const [port, wsPort] = [await freePort(), await freePort()];
    const healthz = [`http://127.0.0.1:${port}/healthz`, `http://127.0.0.1:${wsPort}/healthz`];
    const child = await startProcess(
      {
        name: `stockwire serve (${variant.label})`,
        command: variant.bin ? [variant.cli, 'serve'] : [process.execPath, ...variant.nodeFlags, variant.cli, 'serve'],
        ready: async () => {
          await waitFor(async () => (await Promise.all(healthz.map((url) => fetch(url).then((r) => r.ok, () => false)))).every(Boolean), 60_000, 'stockwire serve');
          return { wsUrl: `ws://127.0.0.1:${wsPort}/v1/ws` };
        },
      },
      {
        HOST: '127.0.0.1',
        ROLE: 'all',
        DATABASE_URL: databaseUrl,
        REDIS_URL: values['redis-url'],
        REDIS_KEY_PREFIX: prefix,
        ADMIN_TOKEN: randomBytes(16).toString('hex'),
        LOG_LEVEL: 'silent',
        PORT: String(port),
        WS_PORT: String(wsPort),
        METRICS_PORT: '0',
        ...variant.env,
      },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const own = readProc(child.pid);
      return {
        treeMb: readTreeRss(child.pid) / MB,
        anonMb: (own?.anonRssBytes ?? 0) / MB,
        fileMb: (own?.fileRssBytes ?? 0) / MB,
      };
    } finally {
      await child.stop();
    }
  } finally {
    await dropDatabase(values['postgres-url'], database);
    await deleteRedisPrefix(values['redis-url'], prefix);
  }
}

const samples = new Map<string, Sample[]>(variants.map((v) => [v.label, []]));
for (let round = 1; round <= rounds; round++) {
  // Each round starts with a different variant, so none always runs first on a cold cache.
  const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]!);
  for (const variant of order) {
    const sample = await measureOnce(variant);
    samples.get(variant.label)!.push(sample);
    process.stderr.write(`round ${round} ${variant.label}: ${sample.treeMb.toFixed(1)} MB (anon ${sample.anonMb.toFixed(1)}, file ${sample.fileMb.toFixed(1)})\n`);
  }
}

const fmt = (xs: readonly number[]) => xs.map((x) => x.toFixed(1)).join(' / ');
const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
console.log(`Idle RSS of the process tree, ${settleMs / 1000} s after start, ${rounds} rounds (MB); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('');
console.log('| variant | rounds | median | anon (median) | file-backed (median) |');
console.log('|---|---|---:|---:|---:|');
for (const variant of variants) {
  const list = samples.get(variant.label)!;
  const file = variant.cli === defaultCli ? '' : ` ${variant.cli}`;
  const spec = variant.bin ? `bin${file}${Object.entries(variant.env).map(([k, v]) => ` ${k}=${v}`).join('')}` : `node ${[...variant.nodeFlags, ...Object.entries(variant.env).map(([k, v]) => `${k}=${v}`)].join(' ')}${file}`;
  console.log(
    `| ${variant.label} (\`${spec.trim()}\`) | ${fmt(list.map((s) => s.treeMb))} | ${median(list.map((s) => s.treeMb)).toFixed(1)} | ${median(list.map((s) => s.anonMb)).toFixed(1)} | ${median(list.map((s) => s.fileMb)).toFixed(1)} |`,
  );
}
