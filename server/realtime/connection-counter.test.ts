import { describe, expect, it } from 'vitest';
import { LocalConnectionCounter, SharedConnectionCounter } from './connection-counter.js';

describe.each([
  ['local', () => new LocalConnectionCounter()],
  ['shared', () => new SharedConnectionCounter(SharedConnectionCounter.allocate(3))],
])('%s connection counter', (_name, make) => {
  it('counts per IP, forgets an IP at zero, and never goes below zero', () => {
    const counter = make();
    counter.add('203.0.113.1', 1);
    counter.add('203.0.113.1', 1);
    counter.add('2001:db8::1', 1);
    expect(counter.count('203.0.113.1')).toBe(2);
    expect(counter.count('2001:db8::1')).toBe(1);
    expect(counter.count('203.0.113.2')).toBe(0);
    counter.add('203.0.113.1', -1);
    counter.add('203.0.113.1', -1);
    counter.add('203.0.113.1', -1);
    expect(counter.count('203.0.113.1')).toBe(0);
    // Many IPs in a tiny table: each keeps its own count (freed slots are reused).
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) counter.add(`198.51.100.${i}`, 1);
      for (let i = 0; i < 20; i++) expect(counter.count(`198.51.100.${i}`)).toBe(1);
      for (let i = 0; i < 20; i++) counter.add(`198.51.100.${i}`, -1);
    }
    expect(counter.count('2001:db8::1')).toBe(1);
  });

  it('adds one only below the limit, in one step', () => {
    const counter = make();
    expect(counter.add('203.0.113.7', 1, 2)).toBe(true);
    expect(counter.add('203.0.113.7', 1, 2)).toBe(true);
    expect(counter.add('203.0.113.7', 1, 2)).toBe(false);
    expect(counter.count('203.0.113.7')).toBe(2);
    counter.add('203.0.113.7', -1);
    expect(counter.add('203.0.113.7', 1, 2)).toBe(true);
    expect(counter.add('203.0.113.7', 1)).toBe(true);
    expect(counter.count('203.0.113.7')).toBe(3);
  });

  it('spends a per-second budget per IP, all or nothing, and refills it a second after its first use', () => {
    const counter = make();
    const t = Date.UTC(2026, 11, 1, 6, 0, 0) + 700;
    expect(counter.spend('203.0.113.1', 600, 1000, t)).toBe(true);
    expect(counter.spend('203.0.113.1', 500, 1000, t + 10)).toBe(false);
    expect(counter.spent('203.0.113.1', 1000, t + 20)).toBe(false);
    expect(counter.spend('203.0.113.1', 400, 1000, t + 30)).toBe(true);
    expect(counter.spent('203.0.113.1', 1000, t + 999)).toBe(true);
    expect(counter.spend('203.0.113.1', 1, 1000, t + 999)).toBe(false);
    expect(counter.spend('203.0.113.2', 1000, 1000, t + 50)).toBe(true);
    // A second after the first use: full again.
    expect(counter.spent('203.0.113.1', 1000, t + 1000)).toBe(false);
    expect(counter.spend('203.0.113.1', 1000, 1000, t + 1000)).toBe(true);
  });

  it('makes an IP wait until the time it was held off to, in whole seconds', () => {
    const counter = make();
    const t = Date.UTC(2026, 11, 1, 6, 0, 0);
    expect(counter.waitSeconds('203.0.113.1', t)).toBe(0);
    counter.holdOff('203.0.113.1', t + 30_000, t);
    expect(counter.waitSeconds('203.0.113.1', t)).toBe(30);
    expect(counter.waitSeconds('203.0.113.1', t + 29_500)).toBe(1);
    expect(counter.waitSeconds('203.0.113.1', t + 30_000)).toBe(0);
    expect(counter.waitSeconds('203.0.113.9', t)).toBe(0);
    // A shorter hold-off never shortens a longer one.
    counter.holdOff('203.0.113.1', t + 5_000, t);
    expect(counter.waitSeconds('203.0.113.1', t)).toBe(30);
  });
});

it('shares counts, budgets and waits between every thread mapping one buffer', () => {
  const buffer = SharedConnectionCounter.allocate(3);
  const [a, b] = [new SharedConnectionCounter(buffer), new SharedConnectionCounter(buffer)];
  const t = Date.UTC(2026, 11, 1, 6, 0, 0);
  a.add('203.0.113.1', 1);
  b.add('203.0.113.1', 1);
  expect(a.count('203.0.113.1')).toBe(2);
  expect(a.spend('203.0.113.1', 700, 1000, t)).toBe(true);
  expect(b.spend('203.0.113.1', 700, 1000, t)).toBe(false);
  b.holdOff('203.0.113.1', t + 10_000, t);
  expect(a.waitSeconds('203.0.113.1', t)).toBe(10);
});
