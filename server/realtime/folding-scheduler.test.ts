import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PublicStock } from '../stock/types.js';
import { FoldingScheduler, type FoldingHooks } from './folding-scheduler.js';

const exact = (version: number, available: number): PublicStock => ({
  sku: 'A',
  status: available <= 0 ? 'sold_out' : available <= 5 ? 'low_stock' : 'in_stock',
  available,
  version,
});
const hidden = (version: number, status: PublicStock['status']): PublicStock => ({ sku: 'A', status, version });

describe('folding scheduler', () => {
  let pushed: PublicStock[];
  /** Subscribers per topic; a topic not listed has one. */
  let subscribers: Map<string, number>;
  beforeEach(() => {
    vi.useFakeTimers();
    pushed = [];
    subscribers = new Map();
  });
  afterEach(() => vi.useRealTimers());

  /** A 300 ms longest window and 20,000 frames a second, with the given shortest window. */
  const scheduler = (intervalMs: number, hooks: Partial<FoldingHooks> = {}, maxIntervalMs = 300) =>
    new FoldingScheduler(
      { intervalMs, maxIntervalMs, threadFramesPerSecond: 20_000 },
      { push: (_t, v) => pushed.push(v), subscribers: (topic) => subscribers.get(topic) ?? 1, ...hooks },
    );

  it('pushes the first change at once and folds the rest of the window into one trailing push of the newest', () => {
    const s = scheduler(100);
    s.offer('t', exact(1, 100));
    for (let v = 2; v <= 101; v++) s.offer('t', exact(v, 100 - v));
    expect(pushed.map((v) => v.version)).toEqual([2]);
    vi.advanceTimersByTime(100);
    expect(pushed.map((v) => v.version)).toEqual([2, 101]);
    vi.advanceTimersByTime(1000);
    expect(pushed).toHaveLength(2);
    s.offer('t', exact(102, 3));
    expect(pushed.map((v) => v.version)).toEqual([2, 101, 102]);
    s.close();
  });

  it('stretches the window of a topic whose push is slow, so pushing cannot starve the event loop', () => {
    let clock = 0;
    const slowPush = (_t: string, v: PublicStock) => {
      pushed.push(v);
      clock += 80; // a push to tens of thousands of sockets
    };
    const s = scheduler(100, { push: slowPush, now: () => clock });
    s.offer('t', exact(1, 100));
    s.offer('t', exact(2, 99));
    s.offer('t', exact(3, 98));
    expect(pushed.map((v) => v.version)).toEqual([2]);
    vi.advanceTimersByTime(100);
    expect(pushed.map((v) => v.version)).toEqual([2]);
    vi.advanceTimersByTime(140);
    expect(pushed.map((v) => v.version)).toEqual([2, 3]);
    s.close();
  });

  /** Offers a new value to the topic every millisecond for `ms` (a flash sale), from version `from` on. */
  const sell = (s: FoldingScheduler, topic: string, from: number, ms: number) => {
    for (let i = 0; i < ms; i++) {
      s.offer(topic, { ...exact(from + i, 1000 - from - i), sku: topic });
      vi.advanceTimersByTime(1);
    }
  };
  const versionsOf = (topic: string) => pushed.filter((v) => v.sku === topic).map((v) => v.version);

  it('grows a crowded topic\'s window so the thread pushes about threadFramesPerSecond frames a second', () => {
    subscribers.set('hot', 4000); // 4,000 frames a push at 20,000 a second: one push per 200 ms
    const s = scheduler(100);
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    sell(s, 'hot', 2, 1000);
    // The first change at once (t=0), then a trailing push of the newest every 200 ms, not every 100.
    expect(versionsOf('hot')).toEqual([2, 201, 401, 601, 801, 1001]);
    vi.advanceTimersByTime(200);
    expect(versionsOf('hot').at(-1)).toBe(1001);
    s.close();
  });

  it('shares the frame budget among the topics with an open window', () => {
    subscribers.set('a', 2000);
    subscribers.set('b', 2000);
    const s = scheduler(100);
    s.offer('a', { ...exact(1, 1000), sku: 'a' });
    s.offer('b', { ...exact(1, 1000), sku: 'b' });
    // Alone, 2,000 subscribers would get the shortest window (100 ms); together they hold 4,000.
    for (let i = 0; i < 1000; i++) {
      s.offer('a', { ...exact(2 + i, 999 - i), sku: 'a' });
      s.offer('b', { ...exact(2 + i, 999 - i), sku: 'b' });
      vi.advanceTimersByTime(1);
    }
    const frames = (versionsOf('a').length + versionsOf('b').length) * 2000;
    // About 20,000 frames in the second (plus the first pushes), where fixed 100 ms windows send 44,000.
    expect(frames).toBeGreaterThanOrEqual(20_000);
    expect(frames).toBeLessThanOrEqual(26_000);
    s.close();
  });

  it('keeps the shortest window for a topic with few subscribers, and never passes the longest', () => {
    subscribers.set('quiet', 10);
    subscribers.set('huge', 1_000_000);
    const s = scheduler(100);
    s.offer('quiet', { ...exact(1, 1000), sku: 'quiet' });
    sell(s, 'quiet', 2, 1000);
    expect(versionsOf('quiet')).toHaveLength(11);
    s.forget('quiet');
    s.offer('huge', { ...exact(1, 1000), sku: 'huge' });
    sell(s, 'huge', 2, 1000);
    // 1,000,000 subscribers would want 50 s windows; 300 ms is the longest, so the final value is at most 300 ms late.
    expect(versionsOf('huge')).toEqual([2, 301, 601, 901]);
    vi.advanceTimersByTime(300);
    expect(versionsOf('huge').at(-1)).toBe(1001);
    s.close();
  });

  it('keeps fixed windows when the shortest is longer than the longest', () => {
    subscribers.set('hot', 1_000_000);
    const s = scheduler(500, {}, 300);
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    sell(s, 'hot', 2, 1000);
    expect(versionsOf('hot')).toEqual([2, 501, 1001]);
    s.close();
  });

  it('gives a topic its budget back when its window closes, so a crowd that left no longer slows others', () => {
    subscribers.set('big', 10_000);
    subscribers.set('small', 100);
    const s = scheduler(100);
    s.offer('big', { ...exact(1, 1000), sku: 'big' });
    s.offer('big', { ...exact(2, 999), sku: 'big' }); // opens a 300 ms window (10,000 subscribers)
    s.offer('small', { ...exact(1, 1000), sku: 'small' });
    s.offer('small', { ...exact(2, 999), sku: 'small' }); // shares it: 10,100 subscribers, 300 ms too
    sell(s, 'small', 3, 299); // never quiet, so the window runs its length
    expect(versionsOf('small')).toEqual([2]);
    vi.advanceTimersByTime(1);
    expect(versionsOf('small')).toEqual([2, 301]);
    s.forget('big');
    s.offer('small', { ...exact(302, 697), sku: 'small' });
    vi.advanceTimersByTime(100);
    expect(versionsOf('small')).toEqual([2, 301, 302]);
    s.close();
  });

  it('pushes the end of a burst once the topic is quiet, and the window then lasts one more', () => {
    subscribers.set('hot', 4000); // one push per 200 ms at 20,000 frames a second
    const s = scheduler(100);
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    sell(s, 'hot', 2, 50); // the sale stops at t=49
    vi.advanceTimersByTime(98);
    expect(versionsOf('hot')).toEqual([2]);
    vi.advanceTimersByTime(2); // quiet for 100 ms: the final value, not at the window's end (t=200)
    expect(versionsOf('hot')).toEqual([2, 51]);
    // The window that pushed early now ends at t=400: a new burst waits for it.
    sell(s, 'hot', 52, 249); // t=150 … 398
    expect(versionsOf('hot')).toEqual([2, 51]);
    vi.advanceTimersByTime(1);
    expect(versionsOf('hot')).toEqual([2, 51, 300]);
    s.close();
  });

  it('sends nothing when a quiet burst ended on the face already pushed, and keeps the early push for later', () => {
    subscribers.set('hot', 6000); // 300 ms windows
    let folded = 0;
    const s = scheduler(100, { onFolded: () => (folded += 1) });
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    s.offer('hot', { ...exact(2, 999), sku: 'hot' }); // pushed, opens the window
    s.offer('hot', { ...exact(3, 998), sku: 'hot' });
    s.offer('hot', { ...exact(4, 999), sku: 'hot' }); // back to the face of version 2
    vi.advanceTimersByTime(100);
    expect(versionsOf('hot')).toEqual([2]);
    expect(folded).toBe(2);
    s.offer('hot', { ...exact(5, 990), sku: 'hot' });
    vi.advanceTimersByTime(100); // quiet again at t=200: this window has not pushed early yet
    expect(versionsOf('hot')).toEqual([2, 5]);
    s.offer('hot', { ...exact(6, 989), sku: 'hot' }); // now it has: the window lasts until t=600
    vi.advanceTimersByTime(399);
    expect(versionsOf('hot')).toEqual([2, 5]);
    vi.advanceTimersByTime(1);
    expect(versionsOf('hot')).toEqual([2, 5, 6]);
    s.close();
  });

  it('forgets a crowded topic with its quiet timer', () => {
    subscribers.set('hot', 4000);
    const s = scheduler(100);
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    s.offer('hot', { ...exact(2, 999), sku: 'hot' });
    s.offer('hot', { ...exact(3, 998), sku: 'hot' }); // waits for quiet
    s.forget('hot');
    vi.advanceTimersByTime(500);
    expect(versionsOf('hot')).toEqual([2]);
  });

  it('still pushes about once a window when quiet gaps keep coming', () => {
    subscribers.set('hot', 4000); // 200 ms windows
    const s = scheduler(100);
    s.offer('hot', { ...exact(1, 1000), sku: 'hot' });
    for (let v = 2; v <= 21; v++) {
      s.offer('hot', { ...exact(v, 1000 - v), sku: 'hot' }); // every 110 ms: each gap is quiet
      vi.advanceTimersByTime(110);
    }
    // 2,200 ms: at most 11 windows' worth of pushes and the first, where one per change would be 20.
    expect(versionsOf('hot').length).toBeLessThanOrEqual(12);
    vi.advanceTimersByTime(400); // at most two windows late
    expect(versionsOf('hot').at(-1)).toBe(21);
    s.close();
  });

  it('pushes every change with a zero interval and never goes backwards', () => {
    const s = scheduler(0);
    s.offer('t', exact(1, 10));
    s.offer('t', exact(3, 9));
    expect(s.offer('t', exact(2, 8))).toBe(false);
    expect(s.offer('t', exact(3, 7))).toBe(false);
    s.offer('t', exact(4, 6));
    expect(pushed.map((v) => v.version)).toEqual([3, 4]);
    expect(s.latest('t')?.version).toBe(4);
  });

  it('sends nothing when the public face did not change: a status product sells out in one frame', () => {
    const s = scheduler(0);
    s.offer('t', hidden(1, 'in_stock'));
    for (let v = 2; v < 1000; v++) s.offer('t', hidden(v, 'in_stock'));
    s.offer('t', hidden(1000, 'sold_out'));
    expect(pushed).toEqual([hidden(1000, 'sold_out')]);
  });

  it('drops a trailing value that ended up with the face already pushed', () => {
    const s = scheduler(50);
    s.offer('t', exact(1, 10));
    s.offer('t', exact(2, 9));
    s.offer('t', exact(3, 10));
    s.offer('t', exact(4, 9));
    vi.advanceTimersByTime(50);
    expect(pushed.map((v) => v.version)).toEqual([2]);
    s.offer('t', exact(5, 8));
    expect(pushed.map((v) => v.version)).toEqual([2, 5]);
  });

  it('forgets a topic and its timer', () => {
    const s = scheduler(50);
    s.offer('t', exact(1, 10));
    s.offer('t', exact(2, 9));
    s.offer('t', exact(3, 8));
    s.forget('t');
    vi.advanceTimersByTime(100);
    expect(pushed.map((v) => v.version)).toEqual([2]);
    expect(s.latest('t')).toBeUndefined();
  });
});
