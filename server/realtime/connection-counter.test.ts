import { describe, expect, it } from 'vitest';
import { LocalConnectionCounter, SharedConnectionCounter } from './connection-counter.js';

describe.each([
  ['local', () => new LocalConnectionCounter()],
  ['shared', () => new SharedConnectionCounter(SharedConnectionCounter.allocate(4))],
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
});
