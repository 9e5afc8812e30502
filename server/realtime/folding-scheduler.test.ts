import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PublicStock } from '../stock/types.js';
import { FoldingScheduler } from './folding-scheduler.js';

const exact = (version: number, available: number): PublicStock => ({
  sku: 'A',
  status: available <= 0 ? 'sold_out' : available <= 5 ? 'low_stock' : 'in_stock',
  available,
  version,
});
const hidden = (version: number, status: PublicStock['status']): PublicStock => ({ sku: 'A', status, version });

describe('folding scheduler', () => {
  let pushed: PublicStock[];
  beforeEach(() => {
    vi.useFakeTimers();
    pushed = [];
  });
  afterEach(() => vi.useRealTimers());

  it('pushes the first change at once and folds the rest of the window into one trailing push of the newest', () => {
    const s = new FoldingScheduler(100, (_t, v) => pushed.push(v));
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
    const s = new FoldingScheduler(100, slowPush, () => {}, () => clock);
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

  it('pushes every change with a zero interval and never goes backwards', () => {
    const s = new FoldingScheduler(0, (_t, v) => pushed.push(v));
    s.offer('t', exact(1, 10));
    s.offer('t', exact(3, 9));
    expect(s.offer('t', exact(2, 8))).toBe(false);
    expect(s.offer('t', exact(3, 7))).toBe(false);
    s.offer('t', exact(4, 6));
    expect(pushed.map((v) => v.version)).toEqual([3, 4]);
    expect(s.latest('t')?.version).toBe(4);
  });

  it('sends nothing when the public face did not change: a status product sells out in one frame', () => {
    const s = new FoldingScheduler(0, (_t, v) => pushed.push(v));
    s.offer('t', hidden(1, 'in_stock'));
    for (let v = 2; v < 1000; v++) s.offer('t', hidden(v, 'in_stock'));
    s.offer('t', hidden(1000, 'sold_out'));
    expect(pushed).toEqual([hidden(1000, 'sold_out')]);
  });

  it('drops a trailing value that ended up with the face already pushed', () => {
    const s = new FoldingScheduler(50, (_t, v) => pushed.push(v));
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
    const s = new FoldingScheduler(50, (_t, v) => pushed.push(v));
    s.offer('t', exact(1, 10));
    s.offer('t', exact(2, 9));
    s.offer('t', exact(3, 8));
    s.forget('t');
    vi.advanceTimersByTime(100);
    expect(pushed.map((v) => v.version)).toEqual([2]);
    expect(s.latest('t')).toBeUndefined();
  });
});
