import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Every redis-server started here, killed when the process exits even if a test forgot to stop it. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Cluster suites run wherever `redis-server` and `redis-cli` are installed; in CI (CI=true) missing ones fail them. */
export const hasRedisBinaries =
  process.env.CI === 'true' ||
  ['redis-server', 'redis-cli'].every((binary) => {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });

/** How long a silent node counts as alive; failovers happen a little after it. */
const NODE_TIMEOUT_MS = 2000;

interface ClusterNodeProcess {
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  child: ChildProcess | undefined;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly port: number;
  readonly primary: boolean;
  /** For a replica: the id of its primary. */
  readonly primaryId: string | undefined;
  readonly failed: boolean;
  /** Slot ranges owned, inclusive. */
  readonly slots: ReadonlyArray<readonly [number, number]>;
}

/**
 * A real Redis Cluster of our own for tests and measurements: six `redis-server --cluster-enabled yes`
 * processes on free loopback ports (three primaries, three replicas, made by `redis-cli --cluster
 * create`), each in its own temporary directory, without persistence. Needs only `redis-server` and
 * `redis-cli`. `stop()` kills every process and removes the directories; a failed start cleans up too.
 * Imports nothing from vitest, so the benchmarks may use it.
 */
export class TestRedisCluster {
  private readonly admin = new Map<number, Redis>();

  private constructor(private readonly nodes: ClusterNodeProcess[]) {}

  static async start(size = 6): Promise<TestRedisCluster> {
    const nodes: ClusterNodeProcess[] = [];
    const cluster = new TestRedisCluster(nodes);
    try {
      for (let i = 0; i < size; i++) {
        nodes.push({ port: await freePort(), busPort: await freePort(), dir: mkdtempSync(path.join(tmpdir(), 'stockwire-cluster-')), child: undefined });
      }
      await Promise.all(nodes.map((node) => cluster.launch(node)));
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
      await cluster.waitUntilHealthy();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `REDIS_CLUSTER_NODES` for Stockwire: every node, though one would do. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** The nodes as ioredis `Cluster` startup nodes. */
  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** Process ids of the nodes still running (CPU accounting in the benchmarks). */
  get pids(): number[] {
    return this.nodes.flatMap((n) => (n.child?.pid === undefined ? [] : [n.child.pid]));
  }

  /** Ports of the processes still running. */
  get livePorts(): number[] {
    return this.nodes.filter((n) => n.child !== undefined).map((n) => n.port);
  }

  /** CLUSTER NODES as seen by a live node. */
  async topology(): Promise<ClusterNodeInfo[]> {
    const text = (await this.command(this.livePorts[0]!, 'CLUSTER', 'NODES')) as string;
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, primaryId, , , , , ...slots] = line.split(' ');
        return {
          id: id!,
          port: Number(/:(\d+)@/.exec(address!)?.[1]),
          primary: flags!.includes('master'),
          primaryId: primaryId === '-' ? undefined : primaryId,
          failed: /fail(?!\?)/.test(flags!) || flags!.includes('noaddr'),
          slots: slots
            .filter((s) => !s.startsWith('['))
            .map((s) => {
              const [from, to] = s.split('-').map(Number);
              return [from!, to ?? from!] as const;
            }),
        };
      });
  }

  /** The live primaries, each with its slots. */
  async primaries(): Promise<ClusterNodeInfo[]> {
    return (await this.topology()).filter((n) => n.primary && !n.failed && n.slots.length > 0);
  }

  async slotOf(key: string): Promise<number> {
    return (await this.command(this.livePorts[0]!, 'CLUSTER', 'KEYSLOT', key)) as number;
  }

  /** The port of the primary that owns the slot. */
  async ownerOf(slot: number): Promise<number> {
    const owner = (await this.primaries()).find((n) => n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (owner === undefined) throw new Error(`no primary owns slot ${slot}`);
    return owner.port;
  }

  /** The port of the primary's replica. */
  async replicaOf(primaryPort: number): Promise<number> {
    const topology = await this.topology();
    const primary = topology.find((n) => n.port === primaryPort);
    const replica = topology.find((n) => primary !== undefined && n.primaryId === primary.id && !n.failed);
    if (replica === undefined) throw new Error(`no replica of ${primaryPort}`);
    return replica.port;
  }

  /** SIGSTOP: the node neither answers nor acts (a replica cannot take over) until `resume`. */
  pause(port: number): void {
    this.nodes.find((n) => n.port === port)?.child?.kill('SIGSTOP');
  }

  resume(port: number): void {
    this.nodes.find((n) => n.port === port)?.child?.kill('SIGCONT');
  }

  /** SIGKILL, as a crash: no goodbye to the cluster or the clients. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    const child = node?.child;
    if (node === undefined || child === undefined) return;
    node.child = undefined;
    this.admin.get(port)?.disconnect();
    this.admin.delete(port);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    child.kill('SIGCONT'); // a paused process dies only once it runs again
    await exited;
  }

  /** Resolves once another node owns the slot and every live node agrees the cluster is ok. */
  async waitForNewOwner(slot: number, previousOwner: number, timeoutMs = 20_000): Promise<number> {
    let owner = previousOwner;
    try {
      await waitFor(
        async () => {
          owner = await this.ownerOf(slot).catch(() => previousOwner);
          return owner !== previousOwner && (await this.allOk());
        },
        timeoutMs,
        `a new primary for slot ${slot}`,
        50,
      );
    } catch (error) {
      const views = await Promise.all(this.livePorts.map((port) => this.command(port, 'CLUSTER', 'NODES').catch((e: unknown) => String(e))));
      throw new Error(`${(error as Error).message}; CLUSTER NODES per live node:\n${views.join('\n--\n')}`);
    }
    return owner;
  }

  /**
   * Moves one slot and its keys to another primary, the way `redis-cli --cluster reshard` does:
   * IMPORTING on the target, MIGRATING on the source, MIGRATE every key, then SETSLOT NODE on all
   * primaries. `between` runs after the keys moved and before ownership changes (traffic meanwhile
   * is redirected with ASK).
   */
  async moveSlot(slot: number, toPort: number, between?: () => Promise<void>): Promise<void> {
    const nodes = await this.topology();
    const fromPort = await this.ownerOf(slot);
    const from = nodes.find((n) => n.port === fromPort)!;
    const to = nodes.find((n) => n.port === toPort)!;
    await this.command(toPort, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
    await this.command(fromPort, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
    for (;;) {
      const keys = (await this.command(fromPort, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
      if (keys.length === 0) break;
      await this.command(fromPort, 'MIGRATE', '127.0.0.1', String(toPort), '', '0', '5000', 'REPLACE', 'KEYS', ...keys);
    }
    await between?.();
    for (const port of [toPort, fromPort, ...nodes.filter((n) => n.primary && !n.failed && n.port !== toPort && n.port !== fromPort).map((n) => n.port)]) {
      await this.command(port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
    }
    await waitFor(async () => (await this.ownerOf(slot)) === toPort && (await this.allOk()), 10_000, `slot ${slot} to move`);
  }

  /** One command on one node (not routed). */
  async command(port: number, ...args: string[]): Promise<unknown> {
    let client = this.admin.get(port);
    if (client === undefined || client.status === 'end') {
      client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
      client.on('error', () => {});
      this.admin.set(port, client);
    }
    return client.call(args[0]!, ...args.slice(1));
  }

  /** Kills every process and removes every directory; safe to call twice. */
  async stop(): Promise<void> {
    for (const client of this.admin.values()) client.disconnect();
    this.admin.clear();
    await Promise.all(this.nodes.map((node) => this.kill(node.port)));
    for (const node of this.nodes) rmSync(node.dir, { recursive: true, force: true });
  }

  private async allOk(): Promise<boolean> {
    const states = await Promise.all(
      this.livePorts.map((port) => this.command(port, 'CLUSTER', 'INFO').then((info) => /cluster_state:ok/.test(info as string), () => false)),
    );
    return states.every(Boolean);
  }

  private async waitUntilHealthy(): Promise<void> {
    await waitFor(
      async () => {
        if (!(await this.allOk())) return false;
        const topology = await this.topology();
        // Every node told of every other, and every replica synced: a replica that never synced
        // refuses to take over from its primary ("disconnected from master for longer than allowed").
        const replicas = topology.filter((n) => !n.primary && n.primaryId !== undefined);
        if (topology.length !== this.nodes.length || replicas.length !== this.nodes.length / 2) return false;
        const links = await Promise.all(replicas.map((n) => this.command(n.port, 'INFO', 'replication')));
        return links.every((info) => /master_link_status:up/.test(info as string));
      },
      20_000,
      'the Redis Cluster to be ok',
      100,
    );
  }

  private async launch(node: ClusterNodeProcess): Promise<void> {
    // prettier-ignore
    const args = [
      '--port', String(node.port), '--bind', '127.0.0.1', '--dir', node.dir,
      '--cluster-enabled', 'yes', '--cluster-port', String(node.busPort), '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--logfile', path.join(node.dir, 'redis.log'),
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    node.child = child;
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (node.child === child) node.child = undefined;
    });
    await waitFor(async () => (await this.command(node.port, 'PING').catch(() => '')) === 'PONG', 5000, `redis-server on port ${node.port}`, 25);
  }
}
