import { mkdtempSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { realDatabaseUrl } from '../backends.js';
import { waitFor } from '../support/wait.js';

/**
 * Real Stockwire nodes for the SDK and browser tests: the whole server from `startStockwire`
 * (REST API, store, bus, uWebSockets.js gateway), on fixed ports so a test can stop a node and
 * start another on the same ports and database, as a restart or deploy would.
 */
export const adminToken = 'sdk-tests-admin-token-0123456789';

export interface NodeOptions {
  readonly port: number;
  readonly wsPort: number;
  /** Shared by every node of a test that must survive a restart. */
  readonly storage: Record<string, string>;
  readonly env?: Record<string, string>;
}

/** The run's PostgreSQL database when there is one, else an embedded database in a fresh directory. */
export function testStorage(): Record<string, string> {
  const databaseUrl = realDatabaseUrl();
  return databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: mkdtempSync(join(tmpdir(), 'stockwire-sdk-')) };
}

export function startNode(options: NodeOptions): Promise<RunningStockwire> {
  return startStockwire(
    loadConfig({
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      PORT: String(options.port),
      WS_PORT: String(options.wsPort),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'silent',
      PUBLISH_INTERVAL_MS: '0',
      RESERVATION_SWEEP_INTERVAL_MS: '60000',
      ...options.storage,
      ...options.env,
    }),
  );
}

export interface Merchant {
  readonly id: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

async function call(apiUrl: string, method: string, path: string, token: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer: unknown = await response.json();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

export async function createMerchant(apiUrl: string, allowedOrigins: readonly string[] = []): Promise<Merchant> {
  return (await call(apiUrl, 'POST', '/v1/merchants', adminToken, { name: 'SDK test shop', allowedOrigins })) as Merchant;
}

/** Sets the absolute count; answers the new version. */
export async function setStock(apiUrl: string, merchant: Merchant, sku: string, onHand: number): Promise<number> {
  const stock = (await call(apiUrl, 'PUT', `/v1/stock/${encodeURIComponent(sku)}`, merchant.secretKey, { onHand })) as {
    version: number;
  };
  return stock.version;
}

export async function upsertProduct(
  apiUrl: string,
  merchant: Merchant,
  sku: string,
  product: { name?: string; lowStockThreshold?: number; display?: 'exact' | 'threshold' | 'status'; viewers?: boolean },
): Promise<void> {
  await call(apiUrl, 'PUT', `/v1/products/${encodeURIComponent(sku)}`, merchant.secretKey, product);
}

/**
 * A TCP relay in front of a port that can go silent: `freeze()` stops forwarding on the open
 * connections without closing them, as a dead NAT entry or a stuck proxy does; new connections
 * are relayed normally. Lets a test prove the heartbeat notices a connection that died quietly.
 */
export class SilentableRelay {
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly frozen = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<SilentableRelay> {
    const server = createServer();
    const port = await new Promise<number>((resolve) => {
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    const relay = new SilentableRelay(server, port);
    server.on('connection', (client) => relay.relay(client, targetPort));
    return relay;
  }

  private relay(client: Socket, targetPort: number): void {
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    upstream.connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  }

  /** Open connections stop carrying bytes either way, and nobody is told. */
  freeze(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      this.frozen.add([client, upstream]);
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    for (const [client, upstream] of [...this.pairs, ...this.frozen]) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until `check` returns something truthy, polling every 10 ms. */
export function eventually(check: () => unknown, what: string, timeoutMs = 10_000): Promise<void> {
  return waitFor(() => Boolean(check()), timeoutMs, what, 10);
}
