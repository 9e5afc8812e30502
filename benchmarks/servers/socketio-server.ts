/**
 * Baseline 2: Socket.IO with @socket.io/redis-adapter, one room per product. The write side is a
 * Socket.IO emitter on the same adapter key (see harness/write-worker.ts), so every change crosses
 * Redis the way a Socket.IO cluster carries it. Websocket transport only, no compression.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { announceReady, baselineEnv, onShutdown } from './server-env.js';

const env = baselineEnv();
const pub = new Redis(env.redisUrl);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: `${env.prefix}sio` }),
});

io.on('connection', (socket) => {
  socket.on('sub', (skus: unknown) => {
    if (!Array.isArray(skus)) return;
    const list = [...new Set(skus.filter((s): s is string => typeof s === 'string'))];
    void socket.join(list);
    // Socket.IO keeps no latest value: the snapshot names the products at version 0.
    socket.emit('m', { t: 'snapshot', items: list.map((sku) => ({ sku, status: 'unknown', version: 0 })) });
  });
});

await new Promise<void>((resolve) => http.listen({ host: env.host, port: 0, backlog: 4096 }, () => resolve()));
const address = http.address();
if (typeof address === 'string' || address === null) throw new Error('no port');
announceReady({ wsUrl: `ws://${env.host}:${address.port}/socket.io/?EIO=4&transport=websocket` });

onShutdown(async () => {
  io.disconnectSockets(true);
  await new Promise<void>((resolve) => io.close(() => resolve()));
  pub.disconnect();
  sub.disconnect();
});
