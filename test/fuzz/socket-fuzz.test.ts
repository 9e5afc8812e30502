import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestNode, type TestNode } from '../support/test-node.js';
import { TestSocket, type ServerFrame } from '../support/test-client.js';
import { realDatabaseUrl } from '../backends.js';
import { fuzzJson, hostileString, hugeNumber, runs, wrongType } from './arbitraries.js';

/**
 * Fuzzing the socket protocol over real uWebSockets.js sockets: random JSON, wrong types, hostile
 * SKUs, deep nesting, binary frames, oversized frames. After every fuzz frame a ping must come back:
 * the socket is alive, the server answered in order, and every frame it sent is a documented one.
 */
const CLIENT_FAULT_CODES = new Set(['bad_request', 'payload_too_large', 'too_many_subscriptions', 'rate_limited']);
let cases = 0;

const databaseUrl = realDatabaseUrl() ?? undefined;
const redisUrl = inject('redisUrl') ?? undefined;

function frameText(frame: unknown): string {
  return typeof frame === 'string' ? frame : JSON.stringify(frame);
}

describe(`socket fuzz (${databaseUrl ? 'postgres' : 'pglite'}, ${redisUrl ? 'redis' : 'memory'} bus)`, () => {
  let node: TestNode;
  let pk: string;
  let merchantId: string;
  let socket: TestSocket;
  let pingId = 0;

  beforeAll(async () => {
    node = await startTestNode({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `${inject('redisPrefix')}fuzz:`,
      WS_MAX_MESSAGES_PER_SECOND: '1000000',
      // The fuzz floods one socket on purpose; the subscription budgets have their own tests.
      WS_MAX_NEW_SUBSCRIPTIONS_PER_SECOND: '0',
      WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND: '0',
      PUBLISH_INTERVAL_MS: '0',
    });
    const merchant = await node.store.createMerchant({ name: 'Socket fuzz' });
    pk = merchant.publishableKey;
    merchantId = merchant.id;
    await node.store.setStock(merchantId, 'REAL-1', { onHand: 5 });
    socket = await TestSocket.open(node.socketUrl(pk));
  });

  afterAll(async () => {
    socket?.close();
    await node?.close();
    console.log(`[fuzz] socket: ${cases} frames, socket alive after each, no undocumented frame`);
  });

  /** Sends one fuzz frame, then a ping; answers the frames the server sent in between. */
  async function exchange(target: TestSocket, data: string | Buffer, binary = false): Promise<ServerFrame[]> {
    cases += 1;
    const from = target.frames.length;
    if (binary) target.socket.send(data, { binary: true });
    else target.socket.send(data);
    pingId += 1;
    await target.roundTrip(pingId);
    const answers = target.frames.slice(from);
    const pong = answers.findIndex((f) => f.t === 'pong' && f.id === pingId);
    const between = answers.slice(0, pong);
    for (const frame of between) {
      expect(['snapshot', 'stock', 'error', 'pong'], JSON.stringify(frame)).toContain(frame.t);
      if (frame.t === 'error') {
        expect(CLIENT_FAULT_CODES.has(String(frame.code)), `undocumented error for ${String(data).slice(0, 80)}: ${JSON.stringify(frame)}`).toBe(true);
        expect(typeof frame.message).toBe('string');
      }
    }
    return between;
  }

  function errorsOf(frames: readonly ServerFrame[]): string[] {
    return frames.filter((f) => f.t === 'error').map((f) => String(f.code));
  }

  it('any JSON frame: a documented answer, and the socket lives', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzJson, async (frame) => {
        await exchange(socket, frameText(frame));
      }),
      { numRuns: runs(1500) },
    );
  });

  it('frames with a known op and wrong types or huge numbers: bad_request every time', async () => {
    const bad = fc.oneof(
      fc.record({ op: fc.constant('sub'), skus: fc.oneof(wrongType, fc.constant([]), fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.constant('')), { minLength: 1, maxLength: 3 })) }),
      fc.record({ op: fc.constant('sub'), skus: fc.constant(['A']), since: fc.oneof(fc.constantFrom('x', 1, true, [1]), fc.dictionary(fc.string(), fc.oneof(wrongType, fc.constantFrom(-1, 0.5)), { minKeys: 1, maxKeys: 2 })) }),
      fc.record({ op: fc.constant('unsub'), skus: fc.oneof(wrongType, fc.constant([])) }),
      fc.record({ op: fc.constant('ping'), id: fc.oneof(fc.constantFrom(true, null, [], {}), fc.string({ minLength: 65, maxLength: 80 })) }),
      fc.record({ op: fc.oneof(hostileString.filter((s) => !['sub', 'unsub', 'ping'].includes(s)), wrongType) }),
      fc.oneof(hostileString, hugeNumber.map(String), fc.constantFrom('null', '[]', '"sub"', '{', '{"op":"sub"', '1e999')).filter((text) => {
        try {
          const v: unknown = JSON.parse(text);
          return v === null || typeof v !== 'object' || Array.isArray(v) || !('op' in v);
        } catch {
          return true;
        }
      }),
    );
    await fc.assert(
      fc.asyncProperty(bad, async (frame) => {
        const answers = await exchange(socket, frameText(frame));
        expect(errorsOf(answers), frameText(frame).slice(0, 120)).toEqual(['bad_request']);
      }),
      { numRuns: runs(1500) },
    );
  });

  it('hostile SKUs in sub/unsub: one snapshot with exactly those SKUs (unknown ones as unknown), or bad_request for empty/over-long', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileString, { minLength: 1, maxLength: 6 }), async (skus) => {
        const from = socket.frames.length;
        const answers = await exchange(socket, JSON.stringify({ op: 'sub', skus }));
        const valid = skus.every((s) => s.length >= 1 && s.length <= 128);
        if (!valid) {
          expect(errorsOf(answers)).toEqual(['bad_request']);
          return;
        }
        // The snapshot may come after the pong (it waits for the store); wait for it or an error.
        const answer = await socket.next((f) => f.t === 'snapshot' || f.t === 'error', { from });
        expect(answer, JSON.stringify(skus)).toMatchObject({ t: 'snapshot' });
        const snapshots = [answer];
        // JSON escapes keep even lone surrogates intact both ways.
        const meant = new Set(skus);
        const items = snapshots[0]!.items as Array<{ sku: string; status: string; version: number }>;
        expect(new Set(items.map((i) => i.sku))).toEqual(meant);
        for (const item of items) if (item.sku !== 'REAL-1') expect(item).toEqual({ sku: item.sku, status: 'unknown', version: 0 });
        const after = await exchange(socket, JSON.stringify({ op: 'unsub', skus }));
        expect(errorsOf(after)).toEqual([]);
      }),
      { numRuns: runs(600) },
    );
  });

  it('binary frames, invalid UTF-8 and deep nesting: bad_request; oversized: payload_too_large, and past the hard ceiling the socket is closed 1009', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        expect(errorsOf(await exchange(socket, Buffer.from(bytes), true))).toEqual(['bad_request']);
      }),
      { numRuns: runs(500) },
    );
    const invalidUtf8 = [Buffer.from([0xff, 0xfe, 0x7b]), Buffer.from([0xc3, 0x28]), Buffer.from('{"op":"ping","id":"\xed\xa0\x80"}', 'latin1')];
    for (const bytes of invalidUtf8) expect(errorsOf(await exchange(socket, bytes))).toEqual(['bad_request']);
    for (const depth of [100, 1000, 5000]) {
      expect(errorsOf(await exchange(socket, '['.repeat(depth) + ']'.repeat(depth)))).toEqual(['bad_request']);
      expect(errorsOf(await exchange(socket, `{"op":"sub","skus":${'['.repeat(depth)}"A"${']'.repeat(depth)}}`))).toEqual(['bad_request']);
    }
    expect(errorsOf(await exchange(socket, JSON.stringify({ op: 'ping', pad: 'x'.repeat(20_000) })))).toEqual(['payload_too_large']);

    const doomed = await TestSocket.open(node.socketUrl(pk));
    cases += 1;
    doomed.socket.send('x'.repeat(16 * 1024 * 4 + 1));
    // uWS drops the connection past maxPayloadLength without a close frame (1006 at the client).
    expect(await doomed.closed()).toBeGreaterThanOrEqual(1000);
  });

  it('after all that, the node still serves a fresh subscriber and pushes changes', async () => {
    const fresh = await TestSocket.open(node.socketUrl(pk));
    try {
      fresh.send({ op: 'sub', skus: ['REAL-1'] });
      await fresh.next((f) => f.t === 'snapshot');
      const from = fresh.frames.length;
      await node.store.adjustStock(merchantId, 'REAL-1', { delta: -1 });
      const pushed = await fresh.next((f) => f.t === 'stock', { from });
      expect(pushed).toMatchObject({ sku: 'REAL-1', status: 'low_stock', available: 4 });
      expect(socket.closeCode).toBeUndefined();
    } finally {
      fresh.close();
    }
  });
});
