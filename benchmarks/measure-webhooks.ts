/**
 * Webhooks' cost and speed against real PostgreSQL, in one run:
 *  - the adjust rate of a merchant with one webhook subscribed against one with none (interleaved
 *    one-second rounds on the same database), on SKUs held near their low-stock threshold so that
 *    status transitions, and so events, are frequent ("churn"), and on SKUs that never change status ("quiet");
 *  - dispatch throughput: the outbox this left, sent by one dispatcher to a receiver on loopback.
 *
 *   npx tsx benchmarks/measure-webhooks.ts [--seconds 8] [--concurrency 16] [--skus 1000] [--admin-url postgres://…/postgres]
 *
 * It creates a scratch database, measures, drops it, and writes benchmarks/results/webhooks-<time>.{json,md}.
 * Not a test: numbers depend on the machine.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDatabase, dropDatabase } from '../test/support/throwaway-services.js';
import { loadConfig } from '../server/config.js';
import { StockwireError } from '../server/errors.js';
import { webhookStore } from '../server/main.js';
import { StockStore } from '../server/store/stock-store.js';
import { WebhookDispatcher } from '../server/webhooks/webhook-dispatcher.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '16' },
    skus: { type: 'string', default: '1000' },
    'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const skuCount = Number(values.skus);

/** Adjusts per second over one round of `ms`, `concurrency` at a time. */
async function round(adjust: () => Promise<void>, ms = 1000): Promise<number> {
  let ok = 0;
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await adjust();
        ok += 1;
      }
    }),
  );
  return ok / ((performance.now() - started) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const name = `stockwire_webhooks_${randomBytes(3).toString('hex')}`;
const adminUrl = values['admin-url']!;
const databaseUrl = await createDatabase(adminUrl, name);
const store = await StockStore.open({ databaseUrl, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
try {
  const config = loadConfig({ LOG_LEVEL: 'silent', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_INTERVAL_MS: '10' });
  const webhooks = webhookStore(config, store);
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const none = await store.createMerchant({ name: 'no webhook' });
  const one = await store.createMerchant({ name: 'one webhook' });
  await webhooks.create(one.id, { url, events: ['stock.low_stock', 'stock.sold_out', 'stock.back_in_stock'] }, 1);
  const skus = Array.from({ length: skuCount }, (_, i) => `SKU-${String(i).padStart(4, '0')}`);
  for (const merchant of [none, one]) {
    for (let i = 0; i < skus.length; i += 500) {
      await store.applyBatch(merchant.id, skus.slice(i, i + 500).flatMap((sku) => [{ sku, onHand: 6 }, { sku: `Q-${sku}`, onHand: 1_000_000 }]));
    }
  }
  const pick = () => skus[Math.floor(Math.random() * skus.length)]!;
  // Churn: ±1 around the threshold (5): in_stock ↔ low_stock, and now and then sold out and back.
  const churn = (merchantId: string) => async () => {
    const sku = pick();
    try {
      await store.adjustStock(merchantId, sku, { delta: Math.random() < 0.5 ? -1 : 1 });
    } catch (error) {
      if (!(error instanceof StockwireError && error.code === 'insufficient_stock')) throw error;
    }
  };
  const quiet = (merchantId: string) => async () => {
    await store.adjustStock(merchantId, `Q-${pick()}`, { delta: Math.random() < 0.5 ? -1 : 1 });
  };

  const rates: Record<string, { none: number[]; one: number[] }> = { churn: { none: [], one: [] }, quiet: { none: [], one: [] } };
  await round(churn(none.id));
  await round(churn(one.id));
  for (let i = 0; i < seconds; i++) {
    // Alternating which goes first, so drift on a busy machine hits both alike.
    const order = i % 2 === 0 ? (['none', 'one'] as const) : (['one', 'none'] as const);
    for (const mode of order) rates.churn![mode].push(await round(churn(mode === 'none' ? none.id : one.id)));
    for (const mode of order) rates.quiet![mode].push(await round(quiet(mode === 'none' ? none.id : one.id)));
  }
  const { rows: counted } = await sql<{ n: string }>`select count(*) as n from webhook_outbox`.execute(store.db);
  const events = Number(counted[0]!.n);

  // Dispatch: drain what the churn left, with one dispatcher (one API node).
  const dispatcher = new WebhookDispatcher(webhooks, { ...config.webhooks });
  const started = performance.now();
  dispatcher.start();
  const pendingNow = async () =>
    Number((await sql<{ n: string }>`select count(*) as n from webhook_outbox where state = 'pending'`.execute(store.db)).rows[0]!.n);
  let pending = events;
  const limitMs = 60_000;
  while (pending > 0 && performance.now() - started < limitMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    pending = await pendingNow();
  }
  const elapsedS = (performance.now() - started) / 1000;
  await dispatcher.stop();
  const delivered = events - pending;

  const summary = (r: { none: number[]; one: number[] }) => {
    const a = median(r.none);
    const b = median(r.one);
    return { noneAdjustsPerSecond: Math.round(a), oneWebhookAdjustsPerSecond: Math.round(b), cost: `${(((a - b) / a) * 100).toFixed(1)} %` };
  };
  const result = {
    at: new Date().toISOString(),
    command: `npx tsx benchmarks/measure-webhooks.ts --seconds ${seconds} --concurrency ${concurrency} --skus ${skuCount}`,
    cores: cpus().length,
    load1: loadavg()[0] ?? 0,
    churn: summary(rates.churn!),
    quiet: summary(rates.quiet!),
    eventsWritten: events,
    dispatch: { delivered, seconds: Number(elapsedS.toFixed(2)), eventsPerSecond: Math.round(delivered / elapsedS), batchSize: config.webhooks.batchSize },
    rounds: rates,
  };
  console.log(JSON.stringify(result, null, 2));
  const stamp = result.at.replace(/[:.]/g, '-').slice(0, 19);
  await writeFile(`benchmarks/results/webhooks-${stamp}.json`, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(
    `benchmarks/results/webhooks-${stamp}.md`,
    [
      `# Webhooks: adjust cost and dispatch throughput (${result.at})`,
      '',
      `\`${result.command}\` on ${result.cores} cores (load ${result.load1.toFixed(2)}), PostgreSQL 127.0.0.1, through the store (one-statement adjust).`,
      'Median of interleaved one-second rounds; "one webhook" is a merchant subscribed to all three events, "none" a merchant with none, same database.',
      '',
      '| workload | none (adjusts/s) | one webhook (adjusts/s) | cost |',
      '|---|---|---|---|',
      `| churn (±1 around the threshold: frequent transitions) | ${result.churn.noneAdjustsPerSecond} | ${result.churn.oneWebhookAdjustsPerSecond} | ${result.churn.cost} |`,
      `| quiet (no status change) | ${result.quiet.noneAdjustsPerSecond} | ${result.quiet.oneWebhookAdjustsPerSecond} | ${result.quiet.cost} |`,
      '',
      `Events written by the churn rounds: ${events}. Dispatch, one dispatcher (batch ${result.dispatch.batchSize}) to a receiver on loopback answering 204: ` +
        `${delivered} events in ${result.dispatch.seconds} s = **${result.dispatch.eventsPerSecond} events/s** (signed, each settled by one statement).`,
      '',
    ].join('\n'),
  );
} finally {
  receiver.close();
  await store.close();
  await dropDatabase(adminUrl, name);
}
