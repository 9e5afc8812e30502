import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

/** Helpers for the fault suites: whole nodes as child processes, a throwaway PostgreSQL or MariaDB. */

export const ADMIN = 'fault-admin-token-0123456789abcdef';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** One HTTP call; a refused connection answers status 0 instead of throwing. */
export async function api(base: string, method: string, url: string, key?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${base}${url}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = { text };
    }
    return { status: res.status, headers: res.headers, body: parsed };
  } catch {
    return { status: 0, headers: new Headers(), body: {} };
  }
}

export interface Merchant {
  readonly id: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

export async function createMerchant(base: string, name = 'Fault shop'): Promise<Merchant> {
  const res = await api(base, 'POST', '/v1/merchants', ADMIN, { name });
  if (res.status !== 201) throw new Error(`merchant not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as unknown as Merchant;
}

/** A metric's value summed over its label sets, from Prometheus text. */
export function metricValue(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A whole Stockwire node (`stockwire serve`) as a child process. */
export class NodeProcess {
  readonly exited: Promise<number | null>;
  stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly env: Record<string, string>,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
  }

  static async start(env: Record<string, string>): Promise<NodeProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], {
      env: { ...process.env, ADMIN_TOKEN: ADMIN, LOG_LEVEL: process.env.FAULT_LOG_LEVEL ?? 'warn', REDIS_URL: '', METRICS_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const node = new NodeProcess(child, env);
    const port = env.ROLE === 'realtime' ? env.WS_PORT : env.PORT;
    let dead = false;
    void node.exited.then(() => {
      dead = true;
    });
    await waitFor(
      async () => {
        if (dead) throw new Error(`node exited during start-up: ${node.stderr}`);
        return (await api(`http://127.0.0.1:${port}`, 'GET', '/healthz')).status === 200;
      },
      // PGlite's first start (initdb) and tsx's compile are slow on a busy machine.
      50_000,
      `node on port ${port}`,
    );
    return node;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/**
 * A throwaway PostgreSQL cluster of our own (never the machine's shared one): initdb in a temp dir,
 * started and stopped with pg_ctl as the `postgres` user, on a free port.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async create(): Promise<ThrowawayPostgres> {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    if (versions.length === 0) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
    const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
    const dir = mkdtempSync(path.join(tmpdir(), 'stockwire-pg-'));
    chmodSync(dir, 0o777);
    const db = new ThrowawayPostgres(dir, await freePort(), bin);
    db.run('initdb', ['-D', db.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
    await db.start();
    return db;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    this.run('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
      '-w',
      '-t',
      '30',
      'start',
    ]);
    await waitFor(async () => {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => {});
      }
    }, 20_000, 'throwaway PostgreSQL');
  }

  /** `fast`: clients are disconnected, like a restart for maintenance. */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  destroy(): void {
    try {
      this.stop('immediate');
    } catch {
      // Already stopped.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(command: string, args: string[]): void {
    const full = path.join(this.bin, command);
    // PostgreSQL refuses to run as root: run it as the postgres user.
    if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', full, ...args], { stdio: 'pipe' });
    else execFileSync(full, args, { stdio: 'pipe' });
  }
}

/**
 * A throwaway MariaDB server of our own (never the machine's shared one): `mariadb-install-db` into a
 * temp dir, `mariadbd` on a free port with its own socket, no system option files, stopped and
 * started by its process id.
 */
export class ThrowawayMariadb {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<ThrowawayMariadb> {
    const dir = mkdtempSync(path.join(tmpdir(), 'stockwire-mariadb-'));
    const db = new ThrowawayMariadb(dir, await freePort());
    execFileSync(
      'mariadb-install-db',
      ['--no-defaults', `--datadir=${db.dataDir}`, ...db.userArgs, '--auth-root-authentication-method=normal', '--skip-test-db'],
      { stdio: 'pipe' },
    );
    await db.start();
    await db.query('CREATE DATABASE stockwire CHARACTER SET utf8mb4 COLLATE utf8mb4_bin');
    return db;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/stockwire`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${this.dataDir}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(this.dir, 'sock')}`,
        `--pid-file=${path.join(this.dir, 'pid')}`,
        `--log-error=${path.join(this.dir, 'log')}`,
        ...this.userArgs,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=32M',
        '--innodb-flush-log-at-trx-commit=2',
      ],
      { stdio: 'ignore', detached: false, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` } },
    );
    child.unref();
    await waitFor(async () => {
      try {
        await this.query('select 1');
        return true;
      } catch {
        return false;
      }
    }, 30_000, 'throwaway MariaDB');
  }

  /** A clean shutdown (SIGTERM): connected clients are cut off, like a restart for maintenance. */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !isAlive(pid), 30_000, 'throwaway MariaDB to stop');
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }

  private pid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.dir, 'pid'), 'utf8').trim());
      return isAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** `mariadbd` runs as root only when told so. */
  private get userArgs(): string[] {
    return process.getuid?.() === 0 ? ['--user=root'] : [];
  }

  /** One statement on the server, outside any database. */
  private async query(statement: string): Promise<void> {
    const connection = await createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 1000 });
    try {
      await connection.query(statement);
    } finally {
      await connection.end().catch(() => {});
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sums the journal per SKU and compares with the stock rows (PostgreSQL or MariaDB): no write may be half done. */
export async function journalAgreesWithStock(databaseUrl: string, merchantId: string): Promise<Array<{ sku: string; onHand: number; journal: number; version: number; rows: number }>> {
  const query = `select s.sku, s.on_hand, s.version,
              coalesce(sum(j.on_hand_delta), 0) as journal, count(j.id) as rows_
         from stock s left join stock_journal j on j.merchant_id = s.merchant_id and j.sku = s.sku
        where s.merchant_id = $1
        group by s.sku, s.on_hand, s.version
        order by s.sku`;
  type Row = { sku: string; on_hand: number; journal: string; version: number; rows_: string };
  let rows: Row[];
  if (databaseUrl.startsWith('mysql://')) {
    const connection = await createConnection({ uri: databaseUrl });
    try {
      const [result] = await connection.query(query.replace('$1', '?'), [merchantId]);
      rows = result as Row[];
    } finally {
      await connection.end();
    }
  } else {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      rows = (await client.query<Row>(query, [merchantId])).rows;
    } finally {
      await client.end();
    }
  }
  return rows.map((r) => ({ sku: r.sku, onHand: r.on_hand, journal: Number(r.journal), version: r.version, rows: Number(r.rows_) }));
}
