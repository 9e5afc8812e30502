/**
 * One load-generator thread: opens its share of the connections (each from one of many loopback
 * source addresses, so the ephemeral-port range never runs out), subscribes, and for every frame
 * records the version each client holds and the write-to-frame latency. Counters live in shared
 * memory so the coordinator can show progress without messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { nowMs, sleep } from './clock.js';
import { scanFrame, skuName } from './frames.js';
import { Histogram } from './histogram.js';
import { LeanWebSocket, leanTarget } from './lean-websocket.js';
import { STAT, STAT_SLOTS, type LoadWorkerInit, type WorkerCommand, type WorkerReply } from './load-protocol.js';

const init = workerData as LoadWorkerInit;
const port = parentPort!;
const stats = new Float64Array(init.stats, init.workerIndex * STAT_SLOTS * 8, STAT_SLOTS);
const writeTimes = new Float64Array(init.writeTimes);
const writeVersions = new Int32Array(init.writeVersions);
const finalVersions = new Int32Array(init.finalVersions);
const { count, perConn, ring } = init;

const subs = new Int32Array(count * perConn);
const held = new Int32Array(count * perConn).fill(-1);
const sockets: (ClientSocket | undefined)[] = new Array<ClientSocket | undefined>(count);
const opened = new Uint8Array(count);
const snapshotted = new Uint8Array(count);
const subscribeText: string[] = new Array<string>(count);
const reconnects = new Uint8Array(count);
const MAX_RECONNECTS = 3;
const histogram = new Histogram();
const errors = new Map<string, number>();
let closing = false;

for (let c = 0; c < count; c++) {
  const global = init.first + c;
  const skus: string[] = [];
  for (let k = 0; k < perConn; k++) {
    const product = (global * perConn + k) % init.products;
    subs[c * perConn + k] = product;
    skus.push(skuName(product));
  }
  subscribeText[c] =
    init.protocol === 'socketio' ? `42${JSON.stringify(['sub', skus])}` : JSON.stringify({ op: 'sub', skus });
}

function countError(kind: string): void {
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
}

function onFrame(c: number, text: string): void {
  const frame = scanFrame(text);
  if (frame.kind === 'stock') {
    const at = nowMs();
    stats[STAT.frames]! += 1;
    if (stats[STAT.firstFrameAt] === 0) stats[STAT.firstFrameAt] = at;
    stats[STAT.lastFrameAt] = at;
    const base = c * perConn;
    for (let k = 0; k < perConn; k++) {
      if (subs[base + k] !== frame.product) continue;
      if (frame.version < held[base + k]!) stats[STAT.regressions]! += 1;
      else held[base + k] = frame.version;
      break;
    }
    if (init.recordLatency && frame.product >= 0) {
      const slot = frame.product * ring + (frame.version % ring);
      if (writeVersions[slot] === frame.version) histogram.record(at - writeTimes[slot]!);
      else stats[STAT.untimed]! += 1;
    }
  } else if (frame.kind === 'error') {
    countError(`frame_${frame.code}`);
  } else if (frame.kind === 'snapshot') {
    const base = c * perConn;
    for (const item of frame.items) {
      for (let k = 0; k < perConn; k++) {
        if (subs[base + k] === item.product && item.version > held[base + k]!) held[base + k] = item.version;
      }
    }
    if (!snapshotted[c]) {
      snapshotted[c] = 1;
      if (reconnects[c] === 0) stats[STAT.snapshots]! += 1;
      stats[STAT.lastSnapshotAt] = nowMs();
    }
  }
}

function onSocketIo(c: number, ws: ClientSocket, text: string): void {
  const type = text.charCodeAt(0);
  if (type === 52 /* 4: message */) {
    if (text.charCodeAt(1) === 50 /* 2: event */) onFrame(c, text);
    else if (text.charCodeAt(1) === 48 /* 0: namespace connected */) ws.send(subscribeText[c]!);
  } else if (type === 50 /* 2: ping */) ws.send('3');
  else if (type === 48 /* 0: open */) ws.send('40');
}

interface ClientSocket {
  send(text: string): void;
  terminate(): void;
}

const leanTargetOf = leanTarget(init.url, init.origin);

function open(c: number): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    const address = init.localAddresses[(init.first + c) % init.localAddresses.length];
    const onOpen = (socket: ClientSocket) => {
      opened[c] = 1;
      stats[STAT.open]! += 1;
      snapshotted[c] = 0;
      if (init.protocol === 'stockwire') socket.send(subscribeText[c]!);
      settle();
    };
    const onText = (socket: ClientSocket, text: string) => {
      if (init.protocol === 'socketio') onSocketIo(c, socket, text);
      else onFrame(c, text);
    };
    const onClose = () => {
      const wasOpen = opened[c] === 1;
      if (wasOpen) {
        stats[STAT.open]! -= 1;
        if (!closing) stats[STAT.dropped]! += 1;
      } else if (!closing) stats[STAT.failed]! += 1;
      opened[c] = 0;
      settle();
      // Like the SDK: a dropped client (e.g. closed by the server as a slow reader) reconnects and
      // resubscribes; the snapshot brings it back to the latest version. Bounded per client.
      if (wasOpen && !closing && reconnects[c]! < MAX_RECONNECTS) {
        reconnects[c]! += 1;
        stats[STAT.reconnects]! += 1;
        setTimeout(() => void open(c), 100 + Math.random() * 400);
      }
    };
    if (init.client === 'lean') {
      const socket: LeanWebSocket = new LeanWebSocket(leanTargetOf, address, init.connectTimeoutMs, {
        onOpen: () => onOpen(socket),
        onText: (text) => onText(socket, text),
        onClose,
        onError: countError,
      });
      sockets[c] = socket;
      return;
    }
    const ws = new WebSocket(init.url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: init.connectTimeoutMs,
      ...(address ? { localAddress: address } : {}),
      ...(init.origin ? { origin: init.origin } : {}),
    });
    sockets[c] = ws;
    ws.on('open', () => onOpen(ws));
    ws.on('message', (data: Buffer) => onText(ws, data.toString('latin1')));
    ws.on('unexpected-response', (_request, response) => {
      countError(`http_${response.statusCode ?? 0}`);
      ws.terminate();
    });
    ws.on('error', (error: NodeJS.ErrnoException) => countError(error.code ?? error.message.slice(0, 40)));
    ws.on('close', onClose);
  });
}

async function connectAll(concurrency: number): Promise<void> {
  let next = 0;
  const lanes = Math.max(1, Math.min(concurrency, count));
  const deadline = nowMs() + init.connectBudgetMs;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count && !closing && nowMs() < deadline) {
        const c = next++;
        await open(c);
      }
    }),
  );
}

/** How many clients do not hold the final version of some product they subscribed to. */
function lagging(): number {
  let behind = 0;
  for (let c = 0; c < count; c++) {
    const base = c * perConn;
    for (let k = 0; k < perConn; k++) {
      if (held[base + k]! < finalVersions[subs[base + k]!]!) {
        behind++;
        break;
      }
    }
  }
  return behind;
}

async function converge(deadlineMs: number): Promise<WorkerReply> {
  let behind = lagging();
  while (behind > 0 && nowMs() < deadlineMs) {
    await sleep(20);
    behind = lagging();
  }
  return { type: 'converged', lagging: behind, notOpen: count - opened.reduce((a, b) => a + b, 0) };
}

port.on('message', (command: WorkerCommand) => {
  void (async () => {
    switch (command.type) {
      case 'connect':
        await connectAll(command.concurrency);
        port.postMessage({ type: 'connected' } satisfies WorkerReply);
        break;
      case 'reset-latency':
        histogram.counts.fill(0);
        histogram.total = histogram.sum = histogram.max = 0;
        port.postMessage({ type: 'reset' } satisfies WorkerReply);
        break;
      case 'converge':
        port.postMessage(await converge(command.deadlineMs));
        break;
      case 'collect':
        port.postMessage({
          type: 'collected',
          latency: { counts: histogram.counts, max: histogram.max, sum: histogram.sum },
          errors: Object.fromEntries(errors),
        } satisfies WorkerReply);
        break;
      case 'close': {
        closing = true;
        for (const ws of sockets) ws?.terminate();
        await sleep(50);
        port.postMessage({ type: 'closed' } satisfies WorkerReply);
        break;
      }
    }
  })();
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
