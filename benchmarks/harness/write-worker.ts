/**
 * The writer thread: issues stock changes at a fixed rate (open loop) or as fast as answers come
 * (closed loop) against one system's write path, and stamps each (product, version) with the moment
 * it was written so the load workers can compute write-to-frame latency.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { nowMs, sleep } from './clock.js';
import { START_STOCK, stockFrame } from './frames.js';
import { Histogram } from './histogram.js';
import { JsonClient, versionOf } from './http-client.js';
import { createBusPublisher } from './stockwire-bus.js';
import type { WriterInit, WriterResult } from './write-protocol.js';

const init = workerData as WriterInit;
const port = parentPort!;
const products = init.skus.length;
const writeTimes = new Float64Array(init.writeTimes);
const writeVersions = new Int32Array(init.writeVersions);
const finalVersions = new Int32Array(init.finalVersions);
const versions = Int32Array.from(init.startVersions);
const inFlight = new Uint8Array(products);
const histogram = new Histogram();
const errors = new Map<string, number>();
const counts = { issued: 0, ok: 0, failed: 0, behind: 0, firstIssueAt: 0, lastIssueAt: 0, lastDoneAt: 0 };
let outstanding = 0;

/**
 * Every change takes one unit: every write is a visible change (Stockwire folds away a change whose
 * public face equals the last push), and every system's frame carries a six-digit count.
 */
function availableAt(p: number, version: number): number {
  return START_STOCK - (version - init.startVersions[p]!);
}

function countError(kind: string): void {
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
}

/** Sends one change of product p; answers the version the system gave it (undefined on failure). */
type Send = (p: number, version: number) => Promise<number | undefined>;

async function makeSender(): Promise<{ send: Send; close: () => Promise<void> }> {
  const target = init.target;
  switch (target.kind) {
    case 'redis': {
      const redis = new Redis(target.redisUrl);
      const channels = init.skus.map((sku) => `${target.channelPrefix}${sku}`);
      return {
        send: async (p, v) => {
          await redis.publish(channels[p]!, stockFrame(init.skus[p]!, availableAt(p, v), v));
          return v;
        },
        close: async () => void redis.disconnect(),
      };
    }
    case 'socketio': {
      const pub = new Redis(target.redisUrl);
      const sub = pub.duplicate();
      const io = new Server({ adapter: createAdapter(pub, sub, { key: target.key }) });
      return {
        send: async (p, v) => {
          const available = availableAt(p, v);
          io.to(init.skus[p]!).emit('m', {
            t: 'stock',
            sku: init.skus[p]!,
            status: 'in_stock',
            available,
            version: v,
          });
          return v;
        },
        close: async () => {
          // Not attached to an HTTP server, so io.close() has no engine to close: drop the adapter's connections.
          await sleep(100);
          pub.disconnect();
          sub.disconnect();
        },
      };
    }
    case 'rest': {
      const client = new JsonClient(target.apiUrl, `Bearer ${target.secretKey}`, Math.max(init.maxInFlight, init.concurrency));
      const paths = init.skus.map((sku) => `/v1/stock/${encodeURIComponent(sku)}/adjust`);
      return {
        send: async (p) => {
          const response = await client.request('POST', paths[p]!, { delta: -1 });
          if (response.status !== 200 && response.status !== 201) {
            countError(`http_${response.status}`);
            return undefined;
          }
          return versionOf(response.body);
        },
        close: async () => client.close(),
      };
    }
    case 'bus': {
      const publisher = await createBusPublisher(target);
      return {
        send: async (p, v) => {
          await publisher.publish(init.skus[p]!, availableAt(p, v), v);
          return v;
        },
        close: () => publisher.close(),
      };
    }
  }
}

async function openLoop(send: Send): Promise<void> {
  const start = nowMs();
  const total = Math.round((init.rate * init.durationMs) / 1000);
  let cursor = 0;
  const issue = (p: number) => {
    const v = versions[p]! + 1;
    versions[p] = v;
    const at = nowMs();
    if (init.timed) {
      const slot = p * init.ring + (v % init.ring);
      writeTimes[slot] = at;
      writeVersions[slot] = v;
      inFlight[p] = 1;
    }
    if (counts.firstIssueAt === 0) counts.firstIssueAt = at;
    counts.lastIssueAt = at;
    counts.issued++;
    outstanding++;
    send(p, v)
      .then((given) => {
        if (given === undefined) counts.failed++;
        else {
          counts.ok++;
          histogram.record(nowMs() - at);
          // The system numbers versions (REST): keep ours in step with what it answered.
          if (given > versions[p]! || init.timed) versions[p] = Math.max(given, init.timed ? given : versions[p]!);
          if (given > finalVersions[p]!) finalVersions[p] = given;
        }
      })
      .catch((error: Error & { code?: string }) => {
        counts.failed++;
        countError(error.code ?? error.message.slice(0, 60));
      })
      .finally(() => {
        outstanding--;
        inFlight[p] = 0;
        counts.lastDoneAt = nowMs();
      });
  };
  while (counts.issued < total) {
    const elapsed = nowMs() - start;
    if (elapsed > init.durationMs + 5_000) break;
    let due = Math.min(total, Math.floor((init.rate * elapsed) / 1000)) - counts.issued;
    while (due > 0) {
      if (outstanding >= init.maxInFlight) {
        counts.behind++;
        break;
      }
      let p = -1;
      for (let tries = 0; tries < products; tries++) {
        const candidate = cursor++ % products;
        if (!inFlight[candidate]) {
          p = candidate;
          break;
        }
      }
      if (p < 0) {
        counts.behind++;
        break;
      }
      issue(p);
      due--;
    }
    await sleep(1);
  }
  const deadline = nowMs() + 30_000;
  while (outstanding > 0 && nowMs() < deadline) await sleep(5);
}

async function closedLoop(send: Send): Promise<void> {
  const end = nowMs() + init.durationMs;
  let next = 0;
  await Promise.all(
    Array.from({ length: init.concurrency }, async () => {
      while (nowMs() < end) {
        const p = products === 1 ? 0 : Math.floor(Math.random() * products);
        const at = nowMs();
        if (counts.firstIssueAt === 0) counts.firstIssueAt = at;
        counts.lastIssueAt = at;
        counts.issued++;
        try {
          const given = await send(p, ++next);
          if (given === undefined) counts.failed++;
          else {
            counts.ok++;
            histogram.record(nowMs() - at);
            // The newest version acknowledged is what every watcher must end on (flash-sale).
            if (given > finalVersions[p]!) finalVersions[p] = given;
          }
        } catch (error) {
          counts.failed++;
          countError((error as Error).message.slice(0, 60));
          await sleep(10);
        }
        counts.lastDoneAt = nowMs();
      }
    }),
  );
}

port.once('message', () => {
  void (async () => {
    const sender = await makeSender();
    try {
      if (init.mode === 'open') await openLoop(sender.send);
      else await closedLoop(sender.send);
      for (let p = 0; p < products; p++) finalVersions[p] = Math.max(finalVersions[p]!, init.timed || init.target.kind !== 'rest' ? versions[p]! : 0);
    } finally {
      await sender.close();
    }
    const result: WriterResult = {
      ...counts,
      latency: { counts: histogram.counts, max: histogram.max, sum: histogram.sum },
      errors: Object.fromEntries(errors),
    };
    port.postMessage(result);
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
port.postMessage('ready');
