import { describe, expect, it } from 'vitest';
import { decodeClientMessage, encodeError, encodePong, encodeSnapshot, encodeStock, encodeViewers, startsAsSub } from './protocol.js';

const limits = { maxFrameBytes: 1024, skuMaxLength: 16 };
const text = (value: string) => new TextEncoder().encode(value);
const decode = (value: string, isBinary = false) => decodeClientMessage(text(value), isBinary, limits);

describe('realtime protocol codec', () => {
  it('decodes the three ops', () => {
    expect(decode('{"op":"sub","skus":["A","B"],"since":{"A":12}}')).toEqual({ ok: true, message: { op: 'sub', skus: ['A', 'B'], since: { A: 12 }, viewers: false } });
    expect(decode('{"op":"sub","skus":["A"]}')).toEqual({ ok: true, message: { op: 'sub', skus: ['A'], since: {}, viewers: false } });
    expect(decode('{"op":"sub","skus":["A"],"viewers":true}')).toEqual({ ok: true, message: { op: 'sub', skus: ['A'], since: {}, viewers: true } });
    expect(decode('{"op":"unsub","skus":["A"]}')).toEqual({ ok: true, message: { op: 'unsub', skus: ['A'] } });
    expect(decode('{"op":"ping","id":1}')).toEqual({ ok: true, message: { op: 'ping', id: 1 } });
    expect(decode('{"op":"ping"}')).toEqual({ ok: true, message: { op: 'ping', id: undefined } });
  });

  it('answers bad_request for malformed frames and unknown ops, never throwing', () => {
    const bad = ['', 'nope', '[]', 'null', '42', '{}', '{"op":"subscribe"}', '{"op":1}', '{"op":"sub"}', '{"op":"sub","skus":[]}',
      '{"op":"sub","skus":[""]}', '{"op":"sub","skus":["' + 'x'.repeat(17) + '"]}', '{"op":"sub","skus":[1]}',
      '{"op":"sub","skus":["A"],"since":{"A":-1}}', '{"op":"sub","skus":["A"],"since":{"A":"1"}}', '{"op":"ping","id":{}}', '{"op":"sub","skus":["A"],"viewers":1}'];
    for (const frame of bad) {
      const result = decode(frame);
      expect(result.ok, frame).toBe(false);
      if (!result.ok) expect(result.code).toBe('bad_request');
    }
    expect(decode('{"op":"ping"}', true)).toMatchObject({ ok: false, code: 'bad_request' });
    expect(decodeClientMessage(new Uint8Array([0xff, 0xfe, 0x7b]), false, limits)).toMatchObject({ ok: false, code: 'bad_request' });
    expect(decode('{"op":"launch"}')).toMatchObject({ ok: false, message: expect.stringContaining('Unknown op') });
  });

  it('names the first wrong field and its rule, in the documented shape', () => {
    const skuRule = 'must be a non-empty list of SKUs of 1 to 16 characters';
    const cases: Array<[string, string]> = [
      ['{"op":"sub"}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":"A"}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":[]}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":["A",""]}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":["A",null]}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":["' + 'x'.repeat(17) + '"]}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":[],"since":[]}', `Invalid "sub" frame at skus: ${skuRule}.`],
      ['{"op":"sub","skus":["A"],"since":[]}', 'Invalid "sub" frame at since: must map SKUs to versions (whole numbers ≥ 0).'],
      ['{"op":"sub","skus":["A"],"since":null}', 'Invalid "sub" frame at since: must map SKUs to versions (whole numbers ≥ 0).'],
      ['{"op":"sub","skus":["A"],"since":{"A":1.5}}', 'Invalid "sub" frame at since: must map SKUs to versions (whole numbers ≥ 0).'],
      ['{"op":"sub","skus":["A"],"since":{"A":1e300}}', 'Invalid "sub" frame at since: must map SKUs to versions (whole numbers ≥ 0).'],
      ['{"op":"sub","skus":["A"],"viewers":"true"}', 'Invalid "sub" frame at viewers: must be true or false.'],
      ['{"op":"sub","skus":["A"],"viewers":null}', 'Invalid "sub" frame at viewers: must be true or false.'],
      ['{"op":"unsub"}', `Invalid "unsub" frame at skus: ${skuRule}.`],
      ['{"op":"unsub","skus":[1]}', `Invalid "unsub" frame at skus: ${skuRule}.`],
      ['{"op":"ping","id":null}', 'Invalid "ping" frame at id: must be a number or a string of at most 64 characters.'],
      ['{"op":"ping","id":true}', 'Invalid "ping" frame at id: must be a number or a string of at most 64 characters.'],
      ['{"op":"ping","id":[1]}', 'Invalid "ping" frame at id: must be a number or a string of at most 64 characters.'],
      ['{"op":"ping","id":"' + 'x'.repeat(65) + '"}', 'Invalid "ping" frame at id: must be a number or a string of at most 64 characters.'],
      ['{"op":null}', 'Unknown op null; expected one of sub, unsub, ping.'],
      ['{"skus":["A"]}', 'Unknown op null; expected one of sub, unsub, ping.'],
      ['{"op":"SUB"}', 'Unknown op "SUB"; expected one of sub, unsub, ping.'],
      ['[{"op":"ping"}]', 'A frame is a JSON object with an "op".'],
      ['"ping"', 'A frame is a JSON object with an "op".'],
      ['{"op":"ping"', 'Frames must be JSON text.'],
    ];
    for (const [frame, message] of cases) expect(decode(frame), frame).toEqual({ ok: false, code: 'bad_request', message });
  });

  it('accepts the edges of each rule and ignores fields it does not know', () => {
    expect(decode('{"op":"ping","id":"' + 'x'.repeat(64) + '"}')).toEqual({ ok: true, message: { op: 'ping', id: 'x'.repeat(64) } });
    expect(decode('{"op":"ping","id":-1.5}')).toEqual({ ok: true, message: { op: 'ping', id: -1.5 } });
    expect(decode('{"op":"sub","skus":["' + 'x'.repeat(16) + '"],"since":{},"viewers":false,"extra":1}')).toEqual({
      ok: true,
      message: { op: 'sub', skus: ['x'.repeat(16)], since: {}, viewers: false },
    });
    expect(decode('{"op":"sub","skus":["A"],"since":{"A":0,"B":9007199254740991}}')).toMatchObject({ ok: true, message: { since: { A: 0, B: 9007199254740991 } } });
  });

  it('tells a sub by its first bytes, as the SDK and JSON.stringify write it', () => {
    expect(startsAsSub(text(JSON.stringify({ op: 'sub', skus: ['A'] })))).toBe(true);
    expect(startsAsSub(text('{"op":"sub"}'))).toBe(true);
    expect(startsAsSub(text('{"op":"sub"}').buffer)).toBe(true);
    for (const other of ['{"op":"unsub","skus":["A"]}', '{"op":"subscribe"}', '{"op":"su', '{"skus":["A"],"op":"sub"}', '{"op":"ping"}', '']) {
      expect(startsAsSub(text(other))).toBe(false);
    }
  });

  it('answers payload_too_large past the frame limit', () => {
    expect(decode(JSON.stringify({ op: 'ping', id: 'x'.repeat(2000) }))).toMatchObject({ ok: false, code: 'payload_too_large' });
  });

  it('encodes frames from a whitelist of fields', () => {
    const leaky = { sku: 'A', status: 'in_stock' as const, version: 3, onHand: 40 } as never;
    expect(JSON.parse(encodeStock(leaky))).toEqual({ t: 'stock', sku: 'A', status: 'in_stock', version: 3 });
    expect(JSON.parse(encodeSnapshot([leaky]))).toEqual({ t: 'snapshot', items: [{ sku: 'A', status: 'in_stock', version: 3 }] });
    expect(JSON.parse(encodeViewers('A', 12))).toEqual({ t: 'viewers', sku: 'A', count: 12 });
    expect(JSON.parse(encodePong(1))).toEqual({ t: 'pong', id: 1 });
    expect(JSON.parse(encodeError('rate_limited'))).toMatchObject({ t: 'error', code: 'rate_limited' });
  });
});
