/**
 * The flood of `limits`, in its own thread so the harness never waits on it, and lean so its own
 * CPU disturbs the measurement little on a small machine: REST adjusts at `writeRate`/s (open loop)
 * from request bytes made once, over a few kept-alive connections; and `sockets` WebSockets it keeps
 * trying to hold open, trying each refused or closed one again after `retryMs` (a page that
 * reconnects), on the bench's bare-socket WebSocket client.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FloodInit, FloodResult } from './flood-protocol.js';
import { LeanHttpConnection, requestBytes } from './lean-http.js';
import { LeanWebSocket, leanTarget } from './lean-websocket.js';

const init = workerData as FloodInit;
const port = parentPort!;
const result: FloodResult = {
  writes: { issued: 0, ok: 0, refused429: 0, failed: 0, behind: 0 },
  sockets: { opened: 0, refused429: 0, failed: 0, maxOpen: 0 },
};
/** Writes in flight at most (as the bench's writer allows), each on its own connection, opened as needed. */
const MAX_CONNECTIONS = 256;
const api = new URL(init.apiUrl);
const requests = init.skus.map((sku) =>
  requestBytes(new URL(`/v1/stock/${encodeURIComponent(sku)}/adjust`, api).href, 'POST', { Authorization: `Bearer ${init.secretKey}`, 'Content-Type': 'application/json' }, '{"delta":-1}'),
);
const connections: LeanHttpConnection[] = [];
const open = new Set<LeanWebSocket>();
let stopping = false;

function connection(): LeanHttpConnection | undefined {
  for (let i = connections.length - 1; i >= 0; i--) if (connections[i]!.dead) connections.splice(i, 1);
  const idle = connections.find((c) => c.idle);
  if (idle !== undefined || connections.length >= MAX_CONNECTIONS) return idle;
  const fresh = new LeanHttpConnection(api.hostname, Number(api.port || 80));
  connections.push(fresh);
  return fresh;
}

function write(): void {
  const via = connection();
  if (via === undefined) {
    result.writes.behind += 1;
    return;
  }
  const request = requests[result.writes.issued % requests.length]!;
  result.writes.issued += 1;
  via.send(request, (status) => {
    if (status === 200 || status === 201) result.writes.ok += 1;
    else if (status === 429) result.writes.refused429 += 1;
    else result.writes.failed += 1;
  });
}

function startWrites(): void {
  const started = performance.now();
  let sent = 0;
  const tick = () => {
    if (stopping) return;
    const due = Math.floor(((performance.now() - started) * init.writeRate) / 1000);
    for (; sent < due; sent++) write();
    setTimeout(tick, Math.max(1, 1000 / init.writeRate));
  };
  tick();
}

const target = leanTarget(init.wsUrl, undefined);

function attempt(): void {
  if (stopping) return;
  let opened = false;
  const socket: LeanWebSocket = new LeanWebSocket(target, undefined, 10_000, {
    onOpen: () => {
      opened = true;
      result.sockets.opened += 1;
      open.add(socket);
      result.sockets.maxOpen = Math.max(result.sockets.maxOpen, open.size);
    },
    onText: () => {},
    onError: (kind) => {
      if (kind === 'http_429') result.sockets.refused429 += 1;
      else if (!opened) result.sockets.failed += 1;
    },
    onClose: () => {
      open.delete(socket);
      if (!stopping) setTimeout(attempt, init.retryMs);
    },
  });
}

port.postMessage('ready');
port.once('message', () => {
  startWrites();
  for (let i = 0; i < init.sockets; i++) attempt();
  setTimeout(() => {
    stopping = true;
    for (const socket of open) socket.terminate();
    for (const c of connections) c.close();
    port.postMessage(result);
  }, init.durationMs);
});
