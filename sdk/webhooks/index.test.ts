import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from './index.js';

const secret = 'whsec_test_secret';
const body = JSON.stringify({
  id: 'evt_1',
  type: 'stock.sold_out',
  createdAt: '2026-01-01T00:00:00.000Z',
  data: { sku: 'TEE', status: 'sold_out', available: 0, onHand: 0, version: 3 },
});
const now = 1_800_000_000_000;
const t = Math.floor(now / 1000);

function sign(withSecret: string, at = t, raw = body): string {
  return createHmac('sha256', withSecret).update(`${at}.${raw}`).digest('hex');
}

describe('verifyWebhook', () => {
  it('returns the event for a valid signature', () => {
    const event = verifyWebhook(secret, body, `t=${t},v1=${sign(secret)}`, { now });
    expect(event).toMatchObject({ id: 'evt_1', type: 'stock.sold_out', data: { sku: 'TEE', available: 0 } });
  });

  it('accepts a body as bytes, and any one of several v1= (a rotation)', () => {
    const header = `t=${t},v1=${sign('whsec_other')},v1=${sign(secret)}`;
    expect(verifyWebhook(secret, new TextEncoder().encode(body), header, { now }).id).toBe('evt_1');
    expect(verifyWebhook(['whsec_new', secret], body, `t=${t},v1=${sign(secret)}`, { now }).id).toBe('evt_1');
  });

  it('rejects a forged signature, a changed body, another secret and a malformed header', () => {
    const forged = 'f'.repeat(64);
    for (const [raw, header] of [
      [body, `t=${t},v1=${forged}`],
      [body.replace('"available":0', '"available":9'), `t=${t},v1=${sign(secret)}`],
      [body, `t=${t},v1=${sign('whsec_wrong')}`],
      [body, `t=${t + 1},v1=${sign(secret)}`],
      [body, `v1=${sign(secret)}`],
      [body, `t=${t}`],
      [body, undefined],
    ] as const) {
      expect(() => verifyWebhook(secret, raw, header, { now })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
    }
  });

  it('rejects a stale signature (a replayed request) outside the tolerance', () => {
    const old = t - 301;
    expect(() => verifyWebhook(secret, body, `t=${old},v1=${sign(secret, old)}`, { now })).toThrow(
      expect.objectContaining({ code: 'stale_signature' }),
    );
    expect(verifyWebhook(secret, body, `t=${old},v1=${sign(secret, old)}`, { now, toleranceSeconds: 600 }).id).toBe('evt_1');
  });
});
