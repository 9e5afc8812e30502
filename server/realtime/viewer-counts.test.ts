import { afterEach, describe, expect, it } from 'vitest';
import type { ControlMessage } from '../bus/control-message.js';
import { MemoryBus } from '../bus/memory-bus.js';
import type { StockBus } from '../bus/stock-bus.js';
import { waitFor } from '../../test/support/wait.js';
import { ViewerCounts } from './viewer-counts.js';

/** A connection that records the viewers frames it gets. */
interface Asker {
  readonly name: string;
  readonly frames: Array<{ t: string; sku: string; count: number }>;
}

const settings = { intervalMs: 100, expiryMs: 300 };

type CountersBus = Pick<StockBus, 'broadcast' | 'onControl' | 'connected'>;

/** One counter (a node) on a shared bus, with its own subscribers per product. */
function counter(bus: CountersBus, optedIn: readonly string[] = ['SOFA']) {
  const connections = new Map<string, number>();
  const counts = new ViewerCounts<Asker>({
    settings,
    bus,
    connections: (_merchantId, sku) => connections.get(sku) ?? 0,
    optedIn: (_merchantId, skus) => Promise.resolve(skus.filter((sku) => optedIn.includes(sku))),
    send: (asker, frame) => asker.frames.push(JSON.parse(frame) as { t: string; sku: string; count: number }),
  });
  return { counts, connections };
}

function asker(name: string): Asker {
  return { name, frames: [] };
}

const until = (check: () => boolean) => waitFor(check, 5000, 'the viewer counts');
const last = (a: Asker) => a.frames.at(-1)?.count;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('viewer counts', () => {
  const opened: Array<ViewerCounts<Asker>> = [];
  afterEach(() => {
    for (const counts of opened.splice(0)) counts.close();
  });
  function open(bus: CountersBus, optedIn?: readonly string[]) {
    const node = counter(bus, optedIn);
    opened.push(node.counts);
    return node;
  }

  /** Counters a and b on one bus, `onB` connections to SOFA on b, and a shopper on a who asks for its count. */
  function shopperOnA(onB: number, bus: CountersBus = new MemoryBus(), bBus: CountersBus = bus) {
    const a = open(bus);
    const b = open(bBus);
    const shopper = asker('a1');
    a.connections.set('SOFA', 1);
    b.connections.set('SOFA', onB);
    a.counts.ask(shopper, 'm1', ['SOFA']);
    return { a, b, shopper };
  }

  it('sums the connections of every counter, those that did not ask included', async () => {
    const { b, shopper } = shopperOnA(0);
    await until(() => last(shopper) === 1);
    // Two pages on the other node, which asked nothing itself.
    b.connections.set('SOFA', 2);
    await until(() => last(shopper) === 3);
    b.connections.set('SOFA', 1);
    await until(() => last(shopper) === 2);
    expect(shopper.frames.every((frame) => frame.sku === 'SOFA')).toBe(true);
  });

  it('sends a count only when it changed, and a newcomer the count it lacks', async () => {
    const bus = new MemoryBus();
    const a = open(bus);
    const first = asker('first');
    a.connections.set('SOFA', 1);
    a.counts.ask(first, 'm1', ['SOFA']);
    await until(() => last(first) === 1);
    await pause(5 * settings.intervalMs);
    expect(first.frames).toEqual([{ t: 'viewers', sku: 'SOFA', count: 1 }]);
    // A second connection that asks: both hold 2 after the next frame time, each got one frame for it.
    const second = asker('second');
    a.connections.set('SOFA', 2);
    a.counts.ask(second, 'm1', ['SOFA']);
    await until(() => last(first) === 2 && last(second) === 2);
    await pause(5 * settings.intervalMs);
    expect(first.frames.map((f) => f.count)).toEqual([1, 2]);
    expect(second.frames.map((f) => f.count)).toEqual([2]);
  });

  it('sends nothing for a product that did not opt in, and reports nothing for it', async () => {
    const bus = new MemoryBus();
    const reports: ControlMessage[] = [];
    bus.onControl((message) => reports.push(message));
    const a = open(bus, []);
    const shopper = asker('a1');
    a.connections.set('LAMP', 4);
    a.counts.ask(shopper, 'm1', ['LAMP']);
    await pause(6 * settings.intervalMs);
    expect(shopper.frames).toEqual([]);
    expect(reports).toEqual([]);
  });

  it('spends nothing on products nobody asked counts for', async () => {
    const bus = new MemoryBus();
    const reports: ControlMessage[] = [];
    bus.onControl((message) => reports.push(message));
    const a = open(bus);
    const b = open(bus);
    a.connections.set('SOFA', 3);
    b.connections.set('SOFA', 5);
    await pause(6 * settings.intervalMs);
    expect(reports).toEqual([]);
    expect(a.counts.countedProducts + b.counts.countedProducts).toBe(0);
  });

  it('drops a counter that stopped reporting once its counts expire', async () => {
    // Counter b's reports pass through a switch: off, it is as silent as a node that died.
    let bAlive = true;
    const shared = new MemoryBus();
    const bLink: CountersBus = {
      connected: true,
      broadcast: (message: ControlMessage) => {
        if (bAlive) shared.broadcast(message);
      },
      onControl: (listener: (message: ControlMessage) => void) => shared.onControl(listener),
    };
    const { shopper } = shopperOnA(2, shared, bLink);
    await until(() => last(shopper) === 3);
    bAlive = false;
    await until(() => last(shopper) === 1);
  });

  it('stops counting for an asker that left, and tells the other counters', async () => {
    const { a, b, shopper } = shopperOnA(2);
    await until(() => last(shopper) === 3 && b.counts.countedProducts === 1);
    a.counts.drop(shopper, 'm1', 'SOFA');
    a.connections.set('SOFA', 0);
    await until(() => a.counts.countedProducts === 0 && b.counts.countedProducts === 0);
    const frames = shopper.frames.length;
    await pause(3 * settings.intervalMs);
    expect(shopper.frames).toHaveLength(frames);
  });
});
