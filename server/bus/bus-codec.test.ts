import { describe, expect, it } from 'vitest';
import { decodeChange, decodeControl, encodeChange, encodeControl } from './bus-codec.js';

describe('bus codec', () => {
  it('round-trips a change and keeps only public fields', () => {
    const change = { merchantId: 'm1', view: { sku: 'A', status: 'low_stock' as const, available: 3, version: 7 } };
    expect(decodeChange(encodeChange(change))).toEqual(change);
    const sneaky = { merchantId: 'm1', view: { sku: 'A', status: 'in_stock' as const, version: 2, onHand: 99 } };
    expect(encodeChange(sneaky)).not.toContain('onHand');
    expect(decodeChange(Buffer.from(encodeChange(sneaky)))).toEqual({ merchantId: 'm1', view: { sku: 'A', status: 'in_stock', version: 2 } });
  });

  it('returns undefined for anything invalid and never throws', () => {
    const bad = [null, undefined, '', 'not json', '{"m":1}', '[]', 'null', '{"m":"x","v":{"sku":"A","status":"nope","version":1}}',
      '{"m":"x","v":{"sku":"A","status":"in_stock","version":-1}}', '{"m":"x","v":{"sku":"A","status":"in_stock","version":1,"onHand":5}}',
      '{"m":"x","v":{"sku":"A","status":"in_stock","available":1.5,"version":1}}', Buffer.from([0xff, 0xfe])];
    for (const raw of bad) expect(decodeChange(raw)).toBeUndefined();
  });

  it('round-trips a control message with its sender and refuses anything else', () => {
    expect(decodeControl(encodeControl('n1', { type: 'merchant_deleted', merchantId: 'm_1' }))).toEqual({
      nodeId: 'n1',
      message: { type: 'merchant_deleted', merchantId: 'm_1' },
    });
    const bad = [null, 'not json', '{"n":"a","t":"nope","m":"m"}', '{"n":"a","t":"keys_revoked"}', '{"n":"a","t":"keys_revoked","m":"m","secret":"sk_x"}', '{"n":"","t":"keys_revoked","m":"m"}'];
    for (const raw of bad) expect(decodeControl(raw)).toBeUndefined();
  });
});
