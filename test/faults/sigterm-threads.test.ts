import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestSocket } from '../support/test-client.js';
import { freePort, freePortOutsideEphemeralRange } from '../support/ports.js';
import { createMerchant, NodeProcess } from './helpers.js';

/**
 * SIGTERM to `stockwire serve` with sockets on two realtime threads: every thread closes its listen
 * socket and its sockets with 1001 (a thread ending with a listen socket open would abort the
 * process), and the process exits 0.
 */
describe('fault: SIGTERM with WS_THREADS=2', () => {
  it('closes the sockets of every thread with 1001 and exits 0', async () => {
    const [port, wsPort] = [await freePort(), await freePortOutsideEphemeralRange()];
    const dataDir = mkdtempSync(path.join(tmpdir(), 'stockwire-threads-'));
    const node = await NodeProcess.start({ PORT: String(port), WS_PORT: String(wsPort), WS_THREADS: '2', DATA_DIR: dataDir, DATABASE_URL: '' });
    try {
      const shop = await createMerchant(`http://127.0.0.1:${port}`);
      const url = `ws://127.0.0.1:${wsPort}/v1/ws?key=${shop.publishableKey}`;
      const threads = new Set<number>();
      for (let i = 0; i < 40 && threads.size < 2; i++) {
        const health = await fetch(`http://127.0.0.1:${wsPort}/healthz`, { headers: { connection: 'close' } });
        threads.add(((await health.json()) as { thread: number }).thread);
      }
      expect([...threads].sort()).toEqual([0, 1]);
      const sockets = await Promise.all(Array.from({ length: 16 }, () => TestSocket.open(url)));
      for (const socket of sockets) socket.send({ op: 'sub', skus: ['A'] });
      await Promise.all(sockets.map((socket) => socket.next((f) => f.t === 'snapshot')));
      node.kill('SIGTERM');
      const codes = await Promise.all(sockets.map((socket) => socket.closed(10_000)));
      expect(await node.exited).toBe(0);
      expect(codes).toEqual(sockets.map(() => 1001));
      expect(node.stderr).not.toMatch(/Assertion|Aborted|open handles/);
    } finally {
      node.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
