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

  it('round-trips viewer counts and refuses malformed ones', () => {
    const message = {
      type: 'viewers' as const,
      counter: 'c1',
      counts: [
        { merchantId: 'm_1', sku: 'SOFA', count: 3, asks: true },
        { merchantId: 'm_1', sku: 'LAMP', count: 0, asks: false },
      ],
    };
    expect(decodeControl(encodeControl('n1', message))).toEqual({ nodeId: 'n1', message });
    const bad = [
      '{"n":"a","t":"viewers","c":"c","v":[["m","A",-1,0]]}',
      '{"n":"a","t":"viewers","c":"c","v":[["m","A",1.5,0]]}',
      '{"n":"a","t":"viewers","c":"c","v":[["m","A",1,2]]}',
      '{"n":"a","t":"viewers","c":"c","v":[["m","",1,0]]}',
      '{"n":"a","t":"viewers","v":[]}',
      '{"n":"a","t":"viewers","c":"c","v":[["m","A",1,0]],"m":"m"}',
      JSON.stringify({ n: 'a', t: 'viewers', c: 'c', v: Array.from({ length: 1001 }, () => ['m', 'A', 1, 0]) }),
    ];
    for (const raw of bad) expect(decodeControl(raw)).toBeUndefined();
  });
});
