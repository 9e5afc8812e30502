/**
 * The churn attacker of `churn-attack`: from one address, with only a publishable key, `sockets`
 * connections each send `sub` of `skusPerSub` never-seen SKUs and the matching `unsub` every
 * `intervalMs` (just under the per-connection message limit), for `durationMs`. A socket the server
 * closes, or an upgrade it refuses, is tried again after `intervalMs`, as a determined attacker
 * would. Counts what the server answers. Runs in its own thread so building frames never stalls
 * the harness.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import type { ChurnInit, ChurnResult } from './churn-protocol.js';

const init = workerData as ChurnInit;
const port = parentPort!;
const counts: ChurnResult = { opened: 0, refused: 0, closed: 0, reconnects: 0, subsSent: 0, skipped: 0, snapshots: 0, errors: {} };
let serial = 0;
/** When the attack ends (set as it starts). */
let until = 0;

function open(i: number): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(init.url);
    socket.on('open', () => {
      counts.opened += 1;
      resolve(socket);
    });
    socket.on('unexpected-response', (_request, response) => {
      counts.refused += 1;
      response.resume();
      resolve(undefined);
    });
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => (counts.closed += 1));
    socket.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      if (text.startsWith('{"t":"snapshot"')) counts.snapshots += 1;
      else if (text.startsWith('{"t":"error"')) {
        const code = /"code":"([a-z_]+)"/.exec(text)?.[1] ?? 'unknown';
        counts.errors[code] = (counts.errors[code] ?? 0) + 1;
      }
    });
    void i;
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One attacking connection for the whole attack: churns while open, reconnects when it is not. */
async function attack(i: number, first: WebSocket | undefined): Promise<void> {
  let socket = first;
  // A fixed cadence, like setInterval: the time a send takes does not slow the attack down.
  let next = Date.now();
  while (Date.now() < until) {
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) {
      await pause(init.intervalMs);
      if (Date.now() >= until) break;
      counts.reconnects += 1;
      socket = await open(i);
      next = Date.now();
      continue;
    }
    // An attacker that cannot send faster than its own socket drains skips a round.
    if (socket.bufferedAmount > 1024 * 1024) counts.skipped += 1;
    else {
      serial += 1;
      const skus = Array.from({ length: init.skusPerSub }, (_, k) => `churn-${i}-${serial}-${k}`);
      socket.send(JSON.stringify({ op: 'sub', skus }));
      socket.send(JSON.stringify({ op: 'unsub', skus }));
      counts.subsSent += 1;
    }
    next += init.intervalMs;
    await pause(Math.max(0, next - Date.now()));
  }
  socket?.terminate();
}

async function main(): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: init.sockets }, (_, i) => open(i)));
  port.postMessage('ready');
  await new Promise<void>((resolve) => port.once('message', () => resolve()));
  until = Date.now() + init.durationMs;
  await Promise.all(sockets.map((socket, i) => attack(i, socket)));
  port.postMessage(counts);
}

void main();
