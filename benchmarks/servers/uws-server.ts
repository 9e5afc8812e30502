/**
 * Baseline 3, the delivery ceiling: bare uWebSockets.js publishing every Redis message, unparsed,
 * to the topic named by its channel. Nothing a real product needs (auth, versions, folding, limits).
 */
import { Redis } from 'ioredis';
import { loadUws, type us_listen_socket } from '../../server/realtime/uws.js';
import { readSubscribe, snapshotFrame, unknownItem, viewOfFrame } from '../harness/frames.js';
import { announceReady, baselineEnv, onShutdown } from './server-env.js';

// The same native build the Stockwire gateway loads, so the ceiling is measured on equal terms.
const { uws: uWS } = loadUws();
const env = baselineEnv();
const latest = new Map<string, string>();
const decoder = new TextDecoder();

const app = uWS.App();
app.ws('/v1/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  idleTimeout: 120,
  maxBackpressure: 256 * 1024,
  closeOnBackpressureLimit: true,
  message: (ws, message) => {
    const skus = readSubscribe(decoder.decode(message));
    if (!skus) return;
    const items: string[] = [];
    for (const sku of new Set(skus)) {
      ws.subscribe(sku);
      const frame = latest.get(sku);
      items.push(frame ? viewOfFrame(frame) : unknownItem(sku));
    }
    ws.send(snapshotFrame(items), false);
  },
});
app.get('/healthz', (res) => {
  res.end('ok');
});

const channelPrefix = `${env.prefix}stock:`;
const sub = new Redis(env.redisUrl);
await sub.psubscribe(`${channelPrefix}*`);
sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
  const sku = channel.toString('latin1', channelPrefix.length);
  latest.set(sku, message.toString('latin1'));
  app.publish(sku, message, false);
});

const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
  app.listen(env.host, 0, (socket) => (socket ? resolve(socket) : reject(new Error('uWS listen failed'))));
});
const port = uWS.us_socket_local_port(listenSocket);
announceReady({ wsUrl: `ws://${env.host}:${port}/v1/ws` });

onShutdown(() => {
  uWS.us_listen_socket_close(listenSocket);
  sub.disconnect();
});
