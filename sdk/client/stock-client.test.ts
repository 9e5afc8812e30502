import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStockwire } from '../../server/main.js';
import {
  createMerchant,
  eventually,
  SilentableRelay,
  setStock,
  startNode,
  testStorage,
  upsertProduct,
  type Merchant,
} from '../../test/browser/stockwire-server.js';
import { freePort } from '../../test/support/ports.js';
import { StockwireError } from './errors.js';
import { createStockClient, type StockClient, type StockClientOptions } from './stock-client.js';
import type { ConnectionState, StockView } from './types.js';

/**
 * The client state machine against the real server from `startStockwire` (REST API, store, bus,
 * uWebSockets.js gateway). Sockets are real; `RecordingWebSocket` only counts them and keeps a copy
 * of what the client sends, so tests can check "one socket" and the `since` bookkeeping.
 */
const sockets: RecordingWebSocket[] = [];

class RecordingWebSocket extends WebSocket {
  readonly sent: string[] = [];

  constructor(url: string) {
    super(url);
    sockets.push(this);
    const send = this.send.bind(this);
    this.send = ((data: string) => {
      this.sent.push(data);
      send(data);
    }) as WebSocket['send'];
  }
}

const storage = testStorage();
let port: number;
let wsPort: number;
let node: RunningStockwire;
let apiUrl: string;
let wsUrl: string;
const clients: StockClient[] = [];

function client(merchant: Merchant, options: Partial<StockClientOptions> = {}): StockClient {
  const c = createStockClient({ key: merchant.publishableKey, apiUrl, wsUrl, WebSocket: RecordingWebSocket, ...options });
  clients.push(c);
  return c;
}

/** Every state the client passes through, in order, starting with its initial one. */
function statesOf(c: StockClient): ConnectionState[] {
  const states: ConnectionState[] = [c.state];
  c.on('state', ({ newState, oldState }) => {
    expect(oldState).toBe(states[states.length - 1]);
    states.push(newState);
  });
  return states;
}

/** Every view a listener was given for one SKU. */
function follow(c: StockClient, sku: string): StockView[] {
  const seen: StockView[] = [];
  c.subscribe(sku, (view) => seen.push(view));
  return seen;
}

function subFrames(socket: RecordingWebSocket): Array<{ skus: string[]; since: Record<string, number> }> {
  return socket.sent.map((text) => JSON.parse(text) as { op: string; skus: string[]; since: Record<string, number> }).filter((f) => f.op === 'sub');
}

beforeAll(async () => {
  port = await freePort();
  wsPort = await freePort();
  node = await startNode({ port, wsPort, storage });
  apiUrl = node.apiUrl!;
  wsUrl = node.wsUrl!;
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(async () => {
  await node.close();
});

describe('createStockClient against a real Stockwire node', () => {
  it('uses one socket for many SKUs: a snapshot first (unknown SKUs included), then pushes', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 10);
    await setStock(apiUrl, merchant, 'B', 3);
    const before = sockets.length;
    const c = client(merchant);
    const states = statesOf(c);
    const a = follow(c, 'A');
    const b = follow(c, 'B');
    const ghost = follow(c, 'NO-SUCH-SKU');

    await eventually(() => a.length && b.length && ghost.length, 'the snapshot');
    expect(states).toEqual(['connecting', 'open']);
    expect(a[0]).toEqual({ sku: 'A', status: 'in_stock', available: 10, version: 1 });
    expect(b[0]).toMatchObject({ sku: 'B', status: 'low_stock', available: 3 });
    expect(ghost[0]).toEqual({ sku: 'NO-SUCH-SKU', status: 'unknown', version: 0 });

    const version = await setStock(apiUrl, merchant, 'A', 0);
    await eventually(() => a.find((v) => v.version === version), 'the push');
    expect(a.at(-1)).toMatchObject({ status: 'sold_out', available: 0 });
    expect(sockets.length - before).toBe(1);
    // All three went out in one `sub` frame (subscriptions made in one tick are batched).
    expect(subFrames(sockets.at(-1)!).map((f) => f.skus)).toEqual([['A', 'B', 'NO-SUCH-SKU']]);
  });

  it('gives a new listener the current view at once and stops a listener after unsubscribe', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 5);
    const c = client(merchant);
    const first = follow(c, 'A');
    await eventually(() => first.length, 'the first view');

    const late: StockView[] = [];
    const stop = c.subscribe('A', (view) => late.push(view));
    await eventually(() => late.length, 'the cached view');
    expect(late[0]).toBe(c.get('A'));

    stop();
    const version = await setStock(apiUrl, merchant, 'A', 4);
    await eventually(() => first.find((v) => v.version === version), 'the push to the remaining listener');
    expect(late).toHaveLength(1);
  });

  it('sends unsub when the last listener leaves, and the server stops pushing that SKU', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 5);
    const c = client(merchant);
    const seen: StockView[] = [];
    const stop = c.subscribe('A', (view) => seen.push(view));
    await eventually(() => c.get('A'), 'the first view');
    stop();
    await eventually(() => sockets.at(-1)!.sent.some((f) => f.includes('"unsub"')), 'an unsub frame');
    const stock: StockView[] = [];
    c.on('stock', (view) => stock.push(view));
    await setStock(apiUrl, merchant, 'A', 1);
    // A marker SKU proves the socket is alive and frames after the write have arrived.
    const marker = follow(c, 'MARK');
    await eventually(() => marker.length, 'the marker snapshot');
    expect(stock.filter((v) => v.sku === 'A')).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('reconnects after the server restarts and resubscribes with the versions it shows, catching up', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'STAY', 7);
    await setStock(apiUrl, merchant, 'MOVE', 7);
    const c = client(merchant, { reconnectMinDelayMs: 50, reconnectMaxDelayMs: 200, failuresBeforePolling: 1000 });
    const states = statesOf(c);
    const stay = follow(c, 'STAY');
    const move = follow(c, 'MOVE');
    await eventually(() => stay.length && move.length, 'the first snapshot');
    const firstSocket = sockets.at(-1)!;

    await node.close();
    await eventually(() => c.state === 'reconnecting', 'reconnecting');
    // Written while the client is away: it must catch up from the snapshot after reconnecting.
    node = await startNode({ port, wsPort, storage: storage });
    const moved = await setStock(apiUrl, merchant, 'MOVE', 2);
    await eventually(() => move.find((v) => v.version === moved), 'catching up');

    expect(states.slice(0, 3)).toEqual(['connecting', 'open', 'reconnecting']);
    expect(states.at(-1)).toBe('open');
    const resubscribe = subFrames(sockets.at(-1)!)[0]!;
    expect(sockets.at(-1)).not.toBe(firstSocket);
    expect(resubscribe.since).toEqual({ STAY: stay[0]!.version, MOVE: move[0]!.version });
    // Unchanged since then: the server answers nothing for STAY, so its listener hears nothing new.
    expect(stay).toHaveLength(1);
  });

  // Needs SQL access to the shared database; CI always has PostgreSQL.
  it.skipIf(!storage.DATABASE_URL)('never shows an older version, even when the server comes back with a restored (older) database', async () => {
    const databaseUrl = storage.DATABASE_URL!;
    const merchant = await createMerchant(apiUrl);
    for (const onHand of [9, 8, 7, 6]) await setStock(apiUrl, merchant, 'A', onHand);
    const c = client(merchant, { reconnectMinDelayMs: 50, reconnectMaxDelayMs: 200, failuresBeforePolling: 1000 });
    const seen = follow(c, 'A');
    await eventually(() => seen.find((v) => v.version === 4), 'version 4');

    // "Restore a backup": the row goes back to an older version and count while the node is down.
    await node.close();
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(
      "UPDATE stock SET on_hand = 20, version = 2, public_version = 2, public_face = 'in_stock:20', public_changed_version = 2 WHERE merchant_id = $1 AND sku = $2",
      [merchant.id, 'A'],
    );
    await db.end();
    node = await startNode({ port, wsPort, storage });

    await eventually(() => c.state === 'open' && sockets.at(-1)!.readyState === WebSocket.OPEN, 'reconnected');
    const marker = follow(c, 'MARK');
    await eventually(() => marker.length, 'frames after the resubscribe');
    expect(seen.map((v) => v.version)).toEqual([4]);
    expect(c.get('A')).toMatchObject({ version: 4, available: 6 });

    // Once the server passes the shown version again, the client follows.
    for (const onHand of [19, 18, 17]) await setStock(apiUrl, merchant, 'A', onHand);
    await eventually(() => seen.find((v) => v.version === 5), 'version 5');
    expect(seen.map((v) => v.version)).toEqual([4, 5]);
    expect(seen[1]).toMatchObject({ available: 17 });
  });

  it('keeps every reconnect delay within the backoff bounds while the socket cannot be reached', async () => {
    const merchant = await createMerchant(apiUrl);
    const deadPort = await freePort();
    const retries: Array<{ attempt: number; delayMs: number }> = [];
    const c = client(merchant, {
      wsUrl: `ws://127.0.0.1:${deadPort}`,
      reconnectMinDelayMs: 10,
      reconnectMaxDelayMs: 80,
      failuresBeforePolling: 1000,
    });
    const states = statesOf(c);
    c.on('retry', (retry) => retries.push(retry));
    await eventually(() => retries.length >= 8, 'eight retries');
    retries.forEach((retry, i) => {
      expect(retry.attempt).toBe(i + 1);
      expect(retry.delayMs).toBeGreaterThanOrEqual(10);
      expect(retry.delayMs).toBeLessThanOrEqual(Math.min(80, 10 * 2 ** i));
    });
    expect(new Set(states)).toEqual(new Set(['connecting', 'reconnecting']));
  });

  it('falls back to polling GET /v1/stock when the socket cannot be opened, and sees writes', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 8);
    const deadPort = await freePort();
    const c = client(merchant, {
      wsUrl: `ws://127.0.0.1:${deadPort}`,
      reconnectMinDelayMs: 10,
      reconnectMaxDelayMs: 50,
      pollIntervalMs: 100,
    });
    const states = statesOf(c);
    const seen = follow(c, 'A');
    const ghost = follow(c, 'GHOST');
    await eventually(() => seen.length && ghost.length, 'the first poll');
    expect(states).toEqual(['connecting', 'reconnecting', 'polling']);
    expect(seen[0]).toMatchObject({ status: 'in_stock', available: 8, version: 1 });
    expect(ghost[0]).toEqual({ sku: 'GHOST', status: 'unknown', version: 0 });

    const version = await setStock(apiUrl, merchant, 'A', 1);
    await eventually(() => seen.find((v) => v.version === version), 'the write, by polling');
    expect(seen.at(-1)).toMatchObject({ status: 'low_stock', available: 1 });
    // Polls that answer the same version show nothing new.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.map((v) => v.version)).toEqual([1, version]);
    expect(c.state).toBe('polling');
  });

  // A second node on the same database needs PostgreSQL.
  it.skipIf(!storage.DATABASE_URL)('switches from polling to the socket as soon as the socket can be opened', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 8);
    const laterWsPort = await freePort();
    const c = client(merchant, {
      wsUrl: `ws://127.0.0.1:${laterWsPort}`,
      reconnectMinDelayMs: 10,
      reconnectMaxDelayMs: 100,
      pollIntervalMs: 100,
    });
    const states = statesOf(c);
    const seen = follow(c, 'A');
    await eventually(() => c.state === 'polling' && seen.length, 'polling');
    const second = await startNode({ port: await freePort(), wsPort: laterWsPort, storage });
    try {
      await eventually(() => c.state === 'open', 'open on the socket', 5000);
      expect(states.slice(-2)).toEqual(['polling', 'open']);
      const version = await setStock(second.apiUrl!, merchant, 'A', 3);
      await eventually(() => seen.find((v) => v.version === version), 'a push');
    } finally {
      c.close();
      await second.close();
    }
  });

  it('notices a connection that went silent (heartbeat) and reconnects', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 5);
    const relay = await SilentableRelay.start(wsPort);
    try {
      const c = client(merchant, {
        wsUrl: `ws://127.0.0.1:${relay.port}`,
        pingIntervalMs: 100,
        timeoutMs: 300,
        reconnectMinDelayMs: 10,
        reconnectMaxDelayMs: 50,
        failuresBeforePolling: 1000,
      });
      const states = statesOf(c);
      const seen = follow(c, 'A');
      await eventually(() => seen.length, 'the snapshot');
      relay.freeze();
      // Written while the old connection is silently dead: only a new connection can deliver it.
      const version = await setStock(apiUrl, merchant, 'A', 2);
      await eventually(() => seen.find((v) => v.version === version), 'the write over a new connection');
      expect(states.slice(0, 4)).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    } finally {
      await relay.close();
    }
  });

  it('reports server error frames as StockwireError with the contract code', async () => {
    const limitedPort = await freePort();
    const limited = await startNode({
      port: await freePort(),
      wsPort: limitedPort,
      // A second node beside the first: the embedded database allows one process per DATA_DIR.
      storage: testStorage(),
      env: { WS_MAX_SUBSCRIPTIONS: '2' },
    });
    try {
      const merchant = await createMerchant(limited.apiUrl!);
      const c = client(merchant, { apiUrl: limited.apiUrl!, wsUrl: limited.wsUrl! });
      const errors: StockwireError[] = [];
      c.on('error', (error) => errors.push(error));
      for (const sku of ['A', 'B', 'C']) c.subscribe(sku, () => {});
      await eventually(() => errors.length, 'an error frame');
      expect(errors[0]).toBeInstanceOf(StockwireError);
      expect(errors[0]).toBeInstanceOf(Error);
      expect(errors[0]!.code).toBe('too_many_subscriptions');
    } finally {
      await limited.close();
    }
  });

  it('reports a refused key while polling as StockwireError', async () => {
    const deadPort = await freePort();
    const c = createStockClient({
      key: 'pk_not_a_real_key',
      apiUrl,
      wsUrl: `ws://127.0.0.1:${deadPort}`,
      WebSocket,
      reconnectMinDelayMs: 10,
      pollIntervalMs: 100,
    });
    clients.push(c);
    const errors: StockwireError[] = [];
    c.on('error', (error) => errors.push(error));
    c.subscribe('A', () => {});
    await eventually(() => errors.length, 'a poll error');
    expect(errors[0]).toMatchObject({ name: 'StockwireError', code: 'unauthorized' });
  });

  it('stops everything on close(): state closed, no more views or reconnects', async () => {
    const merchant = await createMerchant(apiUrl);
    await setStock(apiUrl, merchant, 'A', 5);
    const c = client(merchant);
    const states = statesOf(c);
    const seen = follow(c, 'A');
    await eventually(() => seen.length, 'the snapshot');
    c.close();
    c.close();
    await setStock(apiUrl, merchant, 'A', 4);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toHaveLength(1);
    expect(states).toEqual(['connecting', 'open', 'closed']);
    expect(sockets.at(-1)!.readyState).toBeGreaterThanOrEqual(WebSocket.CLOSING);
  });

  it('follows display policies: no count where the merchant hides it', async () => {
    const merchant = await createMerchant(apiUrl);
    await upsertProduct(apiUrl, merchant, 'HIDDEN', { display: 'status', lowStockThreshold: 5 });
    await setStock(apiUrl, merchant, 'HIDDEN', 3);
    const c = client(merchant);
    const seen = follow(c, 'HIDDEN');
    await eventually(() => seen.length, 'the snapshot');
    expect(seen[0]).toEqual({ sku: 'HIDDEN', status: 'low_stock', version: seen[0]!.version });
  });
});

describe('createStockClient options', () => {
  it('refuses a secret key or a missing key with StockwireError invalid_options', () => {
    for (const key of ['sk_live_secret', '', undefined]) {
      const attempt = (): StockClient => createStockClient({ key: key as string, apiUrl: 'http://127.0.0.1:1', WebSocket });
      expect(attempt).toThrow(StockwireError);
      try {
        attempt();
      } catch (error) {
        expect((error as StockwireError).code).toBe('invalid_options');
      }
    }
  });

  it('needs somewhere to connect to outside a page', () => {
    expect(() => createStockClient({ key: 'pk_x', WebSocket })).toThrow(/apiUrl or wsUrl/);
    expect(() => createStockClient({ key: 'pk_x', wsUrl: 'not a url', WebSocket })).toThrow(StockwireError);
  });

  it('builds the socket address: /v1/ws added to a bare origin, the key as a query parameter', () => {
    const c = createStockClient({ key: 'pk_a b', wsUrl: 'ws://127.0.0.1:1', WebSocket: RecordingWebSocket, reconnectMinDelayMs: 1e6 });
    c.close();
    expect(sockets.at(-1)!.url).toBe('ws://127.0.0.1:1/v1/ws?key=pk_a+b');
    const derived = createStockClient({ key: 'pk_b', apiUrl: 'https://stock.example.com/', WebSocket: RecordingWebSocket });
    derived.close();
    expect(sockets.at(-1)!.url).toBe('wss://stock.example.com/v1/ws?key=pk_b');
  });
});
