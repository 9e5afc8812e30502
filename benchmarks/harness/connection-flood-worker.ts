/**
 * The connection flood of `limits`: keeps trying to hold `sockets` sockets of one merchant open,
 * trying each refused or closed one again after `retryMs` (a page that reconnects), for
 * `durationMs`. Runs in its own thread so the harness never waits on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import type { ConnectionFloodInit, ConnectionFloodResult } from './flood-protocol.js';

const init = workerData as ConnectionFloodInit;
const port = parentPort!;
const result: ConnectionFloodResult = { opened: 0, refused429: 0, failed: 0, maxOpen: 0 };
const open = new Set<WebSocket>();
let stopping = false;

function attempt(): void {
  if (stopping) return;
  const socket = new WebSocket(init.url);
  let settled = false;
  const again = () => {
    if (settled) return;
    settled = true;
    open.delete(socket);
    if (!stopping) setTimeout(attempt, init.retryMs);
  };
  socket.on('open', () => {
    result.opened += 1;
    open.add(socket);
    result.maxOpen = Math.max(result.maxOpen, open.size);
  });
  socket.on('unexpected-response', (_request, response) => {
    if (response.statusCode === 429) result.refused429 += 1;
    else result.failed += 1;
    response.resume();
    again();
  });
  socket.on('error', () => {
    if (!settled) result.failed += 1;
    again();
  });
  socket.on('close', again);
}

port.postMessage('ready');
port.once('message', () => {
  for (let i = 0; i < init.sockets; i++) attempt();
  setTimeout(() => {
    stopping = true;
    for (const socket of open) socket.terminate();
    port.postMessage(result);
  }, init.durationMs);
});
