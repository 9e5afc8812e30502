/**
 * Baseline 1, the seed design ported to Node: a `ws` server, one ioredis subscriber, and a loop over
 * the sockets subscribed to a product for every message (JSON-parsed, as the seed did).
 */
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { readSubscribe, snapshotFrame, unknownItem, viewOfFrame } from '../harness/frames.js';
import { announceReady, baselineEnv, onShutdown } from './server-env.js';

const env = baselineEnv();
const subscribers = new Map<string, Set<WebSocket>>();
const latest = new Map<string, string>();
const socketSkus = new WeakMap<WebSocket, string[]>();

const wss = new WebSocketServer({ host: env.host, port: 0, path: '/v1/ws', perMessageDeflate: false, backlog: 4096 });
const listening = new Promise<void>((resolve) => wss.once('listening', () => resolve()));

wss.on('connection', (ws) => {
  socketSkus.set(ws, []);
  ws.on('message', (data) => {
    const skus = readSubscribe(data.toString());
    if (!skus) return;
    const held = socketSkus.get(ws)!;
    const items: string[] = [];
    for (const sku of new Set(skus)) {
      let set = subscribers.get(sku);
      if (!set) subscribers.set(sku, (set = new Set()));
      set.add(ws);
      held.push(sku);
      const frame = latest.get(sku);
      items.push(frame ? viewOfFrame(frame) : unknownItem(sku));
    }
    ws.send(snapshotFrame(items));
  });
  ws.on('close', () => {
    for (const sku of socketSkus.get(ws) ?? []) subscribers.get(sku)?.delete(ws);
  });
  ws.on('error', () => {});
});

const sub = new Redis(env.redisUrl);
await sub.psubscribe(`${env.prefix}stock:*`);
sub.on('pmessage', (_pattern: string, _channel: string, message: string) => {
  let sku: string;
  try {
    sku = (JSON.parse(message) as { sku: string }).sku;
  } catch {
    return;
  }
  latest.set(sku, message);
  const set = subscribers.get(sku);
  if (!set) return;
  for (const ws of set) if (ws.readyState === 1) ws.send(message);
});

await listening;
const address = wss.address();
if (typeof address === 'string' || address === null) throw new Error('no port');
announceReady({ wsUrl: `ws://${env.host}:${address.port}/v1/ws` });

onShutdown(async () => {
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  sub.disconnect();
});
