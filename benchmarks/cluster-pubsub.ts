/**
 * `npx tsx benchmarks/cluster-pubsub.ts [--messages 100000] [--payload 160] [--pipeline 50]`
 *
 * Sharded pub/sub throughput (SPUBLISH → SSUBSCRIBE delivery) on a Redis Cluster of our own (three
 * primaries, three replicas, as the tests start it) and, in the same run, on one private redis-server
 * as the baseline. Per target: `redis-benchmark` publishes `messages` SPUBLISH (pipelined, two
 * connections) on a channel of that primary's slots, and one subscriber connection in this process
 * counts what arrives. Phases: one Redis alone; one primary alone; all three primaries at once.
 * Answers messages delivered per second and the CPU seconds of the Redis processes. A subscriber
 * that falls more than 32 MB behind is cut off by Redis (`client-output-buffer-limit pubsub`): the
 * run reports it rather than a rate, as a realtime node would see its bus go down. Writes
 * benchmarks/results/cluster-pubsub-<date>.{json,md}.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Redis } from 'ioredis';
import { TestRedisServer } from '../test/support/test-redis-server.js';
import { TestRedisCluster } from '../test/support/redis-cluster.js';
import { readProc } from './harness/child.js';
import { machineInfo } from './harness/machine.js';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    payload: { type: 'string', default: '160' },
    pipeline: { type: 'string', default: '50' },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
  },
});
const messages = Number(flags.messages);
const run = promisify(execFile);
// About the size of a change payload on the bus (merchant id, sku, status, count, version).
const payload = randomBytes(Math.ceil(Number(flags.payload) / 2)).toString('hex');

interface Target {
  readonly name: string;
  readonly port: number;
  readonly channel: string;
}

interface PhaseResult {
  readonly phase: string;
  readonly perTarget: Array<{ target: string; deliveredPerSec: number; lost: number; cutOff: boolean }>;
  readonly totalDeliveredPerSec: number;
  readonly redisCpuSeconds: number;
}

/** Publishes to every target at once; answers delivered/s per target. */
async function phase(name: string, targets: readonly Target[], redisPids: readonly number[]): Promise<PhaseResult> {
  const subs = targets.map((t) => new Redis(t.port, '127.0.0.1'));
  const delivered = targets.map(() => 0);
  const cutOff = targets.map(() => false);
  await Promise.all(
    subs.map(async (sub, i) => {
      sub.on('close', () => {
        cutOff[i] = true;
      });
      sub.on('smessageBuffer', () => {
        delivered[i]! += 1;
      });
      await sub.ssubscribe(targets[i]!.channel);
    }),
  );
  const cpu = () => redisPids.reduce((sum, pid) => sum + (readProc(pid)?.cpuSeconds ?? 0), 0);
  const cpuBefore = cpu();
  const started = Date.now();
  const elapsed = await Promise.all(
    targets.map(async (t, i) => {
      // prettier-ignore
      await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(t.port), '-c', '2', '-P', String(flags.pipeline), '-n', String(messages), '-q', 'SPUBLISH', t.channel, payload]);
      // Delivery ends a little after the last publish: wait for it (bounded) and time both.
      const settle = Date.now() + 5000;
      while (Date.now() < settle && delivered[i]! < messages && !cutOff[i]) await new Promise((resolve) => setTimeout(resolve, 5));
      return (Date.now() - started) / 1000;
    }),
  );
  const redisCpuSeconds = cpu() - cpuBefore;
  for (const client of subs) {
    client.removeAllListeners('close');
    client.disconnect();
  }
  const perTarget = targets.map((t, i) => ({
    target: t.name,
    deliveredPerSec: Math.round(delivered[i]! / elapsed[i]!),
    lost: messages - delivered[i]!,
    cutOff: cutOff[i]!,
  }));
  return { phase: name, perTarget, totalDeliveredPerSec: perTarget.reduce((s, t) => s + t.deliveredPerSec, 0), redisCpuSeconds: Math.round(redisCpuSeconds * 100) / 100 };
}

/** A channel whose slot the given primary owns. */
async function channelOf(cluster: TestRedisCluster, port: number): Promise<string> {
  const owner = (await cluster.primaries()).find((p) => p.port === port)!;
  for (let i = 0; ; i++) {
    const channel = `bench:chg:{m:${i}}`;
    const slot = await cluster.slotOf(channel);
    if (owner.slots.some(([from, to]) => slot >= from && slot <= to)) return channel;
  }
}

async function main(): Promise<void> {
  const single = await TestRedisServer.start();
  const cluster = await TestRedisCluster.start().catch(async (error: unknown) => {
    await single.kill();
    throw error;
  });
  try {
    const probe = new Redis(single.port, '127.0.0.1');
    const singlePid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    probe.disconnect();
    const primaries = await cluster.primaries();
    const targets: Target[] = [];
    for (const [i, p] of primaries.entries()) targets.push({ name: `primary ${i + 1}`, port: p.port, channel: await channelOf(cluster, p.port) });
    const singleTarget: Target = { name: 'single Redis', port: single.port, channel: 'bench:chg:{m:0}' };

    const results: PhaseResult[] = [];
    results.push(await phase('one Redis (no cluster)', [singleTarget], [singlePid]));
    results.push(await phase('one cluster primary alone', [targets[0]!], cluster.pids));
    results.push(await phase('three cluster primaries at once', targets, cluster.pids));

    const command = `npx tsx benchmarks/cluster-pubsub.ts --messages ${messages} --payload ${flags.payload} --pipeline ${flags.pipeline}`;
    const machine = machineInfo();
    const lines = [
      `### sharded pub/sub throughput — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `\`${command}\``,
      '',
      '| phase | target | delivered msgs/s | lost | all targets msgs/s | Redis CPU s (all processes) |',
      '|---|---|---:|---:|---:|---:|',
      ...results.flatMap((r) =>
        r.perTarget.map((t, i) => `| ${i === 0 ? r.phase : ''} | ${t.target} | ${t.deliveredPerSec.toLocaleString('en-US')} | ${t.lost}${t.cutOff ? ' (subscriber cut off)' : ''} | ${i === 0 ? r.totalDeliveredPerSec.toLocaleString('en-US') : ''} | ${i === 0 ? r.redisCpuSeconds : ''} |`),
      ),
      '',
      `Payload ${flags.payload} bytes, ${messages.toLocaleString('en-US')} SPUBLISH per target from redis-benchmark (2 connections, pipeline ${flags.pipeline}), one subscriber per target in Node. ` +
        `Publishers, subscribers and every redis-server share this machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}. ` +
        'On a cluster each message is also copied to the primary’s replica (sharded pub/sub is replicated within its shard).',
    ];
    const markdown = `${lines.join('\n')}\n`;
    mkdirSync(flags.out!, { recursive: true });
    const base = path.join(flags.out!, `cluster-pubsub-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}`);
    writeFileSync(`${base}.json`, `${JSON.stringify({ command, machine, results }, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown);
    console.log(markdown);
    console.log(`results: ${base}.json\n         ${base}.md`);
  } finally {
    await cluster.stop();
    await single.kill();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
