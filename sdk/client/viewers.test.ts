import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/browser/stockwire-server.js';
import { createStockClient, type StockClient } from './stock-client.js';

/**
 * The client's side of viewer counts over real sockets, against a protocol stand-in that records
 * the `sub` frames and sends `viewers` frames on demand.
 */
interface Frame {
  op: string;
  skus: string[];
  since?: Record<string, number>;
  viewers?: true;
}

const closers: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function standIn(): Promise<{ url: string; frames: Frame[]; sockets: WebSocket[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.on('listening', resolve));
  const frames: Frame[] = [];
  const sockets: WebSocket[] = [];
  wss.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      frames.push(frame);
      if (frame.op === 'sub') socket.send(JSON.stringify({ t: 'snapshot', items: frame.skus.map((sku) => ({ sku, status: 'in_stock', version: 3 })) }));
    });
  });
  closers.push(() => {
    for (const socket of sockets) socket.terminate();
    return new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, frames, sockets };
}

function client(url: string): StockClient {
  const c = createStockClient({ key: 'pk_test', wsUrl: url, WebSocket, reconnectMinDelayMs: 20, reconnectMaxDelayMs: 40 });
  closers.push(() => c.close());
  return c;
}

describe('viewer counts in the client', () => {
  it('asks for counts in their own sub frames, and hands each viewers frame to listeners', async () => {
    const server = await standIn();
    const c = client(server.url);
    const counts: Array<{ sku: string; count: number }> = [];
    c.on('viewers', (event) => counts.push(event));
    c.subscribe('PLAIN', () => {});
    c.subscribe('SOFA', () => {}, { viewers: true });
    await eventually(() => server.frames.length === 2, 'two sub frames');
    expect(server.frames).toEqual([
      { op: 'sub', skus: ['PLAIN'], since: {} },
      { op: 'sub', skus: ['SOFA'], since: {}, viewers: true },
    ]);

    for (const count of [1, 12]) server.sockets[0]!.send(JSON.stringify({ t: 'viewers', sku: 'SOFA', count }));
    server.sockets[0]!.send(JSON.stringify({ t: 'viewers', sku: 'SOFA', count: -4 }));
    server.sockets[0]!.send(JSON.stringify({ t: 'viewers', sku: 'SOFA', count: 'many' }));
    server.sockets[0]!.send(JSON.stringify({ t: 'viewers', sku: 'SOFA', count: 3 }));
    await eventually(() => counts.length === 3, 'three counts');
    // Exactly what the server said, malformed counts dropped: never rounded, never padded.
    expect(counts).toEqual([
      { sku: 'SOFA', count: 1 },
      { sku: 'SOFA', count: 12 },
      { sku: 'SOFA', count: 3 },
    ]);
  });

  it('asks again for a SKU already followed without counts, and keeps asking after a reconnect', async () => {
    const server = await standIn();
    const c = client(server.url);
    c.subscribe('LAMP', () => {});
    await eventually(() => c.get('LAMP'), 'the snapshot');
    c.subscribe('LAMP', () => {}, { viewers: true });
    await eventually(() => server.frames.length === 2, 'the second sub');
    expect(server.frames[1]).toEqual({ op: 'sub', skus: ['LAMP'], since: { LAMP: 3 }, viewers: true });

    server.sockets[0]!.terminate();
    await eventually(() => server.frames.length === 3, 'the resubscribe');
    expect(server.frames[2]).toEqual({ op: 'sub', skus: ['LAMP'], since: { LAMP: 3 }, viewers: true });
  });

  it('stops asking once the SKU is unsubscribed', async () => {
    const server = await standIn();
    const c = client(server.url);
    const stop = c.subscribe('MUG', () => {}, { viewers: true });
    await eventually(() => c.get('MUG'), 'the snapshot');
    stop();
    c.subscribe('MUG', () => {});
    await eventually(() => server.frames.length === 2, 'the next frame');
    // Unsubscribed and subscribed again in one tick: one plain sub, no counts asked.
    expect(server.frames[1]).toEqual({ op: 'sub', skus: ['MUG'], since: { MUG: 3 } });
  });
});
