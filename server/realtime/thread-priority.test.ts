import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyCache } from '../access/key-cache.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { silentLogger } from '../bus/stock-bus.js';
import { loadConfig } from '../config.js';
import { gatewaySettings } from '../main.js';
import { StockStore } from '../store/stock-store.js';
import { RealtimeThreads } from './realtime-threads.js';
import { lowerThreadPriority } from './thread-priority.js';

/** Every thread of this process and its nice value, as the kernel reports it (field 19 of its stat line). */
function niceByThread(): Map<number, number> {
  const threads = new Map<number, number>();
  for (const id of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${id}/stat`, 'latin1');
    } catch {
      continue; // ended while listed
    }
    // After "pid (comm) ", field 3 (state) comes first: nice, field 19, is the 17th of the rest.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    threads.set(Number(id), Number(rest[16]));
  }
  return threads;
}

const threadsAt = (nice: number) => [...niceByThread()].filter(([, value]) => value === nice).map(([id]) => id);

describe.runIf(process.platform === 'linux')('realtime thread priority (WS_THREAD_NICE)', () => {
  let store: StockStore;
  const start = (nice: number) =>
    RealtimeThreads.start({
      threads: 2,
      nice,
      settings: gatewaySettings(loadConfig({ WS_PORT: '0', LOG_LEVEL: 'silent' })),
      store,
      keys: new KeyCache(store),
      bus: new MemoryBus(),
      logger: silentLogger,
    });

  beforeAll(async () => {
    store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('lowers the priority of each realtime thread and of no other thread', async () => {
    const before = niceByThread();
    expect(threadsAt(7)).toEqual([]);
    const threads = await start(7);
    try {
      const lowered = threadsAt(7);
      expect(lowered).toHaveLength(2);
      for (const id of lowered) expect(before.has(id)).toBe(false);
      // The main thread (its id is the process id) answers the API at the priority it had.
      expect(niceByThread().get(process.pid)).toBe(before.get(process.pid));
    } finally {
      await threads.close();
    }
    expect(threadsAt(7)).toEqual([]);
  });

  it('leaves every thread at the main thread’s priority with 0', async () => {
    const mainNice = niceByThread().get(process.pid);
    const threads = await start(0);
    try {
      const others = [...niceByThread().values()].filter((value) => value !== mainNice);
      expect(others).toEqual([]);
    } finally {
      await threads.close();
    }
  });

  it('says why when the priority cannot be set, and changes nothing', () => {
    const before = niceByThread();
    expect(lowerThreadPriority(20)).toMatchObject({ applied: false, reason: expect.stringMatching(/range/) });
    expect(niceByThread()).toEqual(before);
  });
});
