import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

describe('clientAddress', () => {
  it('ignores X-Forwarded-For unless hops are trusted', () => {
    expect(clientAddress('10.0.0.9', '203.0.113.7', 0)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', '', 1)).toBe('10.0.0.9');
  });

  it('steps back one entry per trusted hop, so a forged left-most entry does not count', () => {
    expect(clientAddress('10.0.0.9', '203.0.113.7', 1)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.9', '198.51.100.1, 203.0.113.7', 1)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.9', '198.51.100.1, 203.0.113.7, 10.0.0.8', 2)).toBe('203.0.113.7');
  });

  it('takes the first entry when the header is shorter than the trusted chain', () => {
    expect(clientAddress('10.0.0.9', '203.0.113.7', 3)).toBe('203.0.113.7');
  });
});
