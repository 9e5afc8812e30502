import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { canConnect, freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Where Debian keeps the broker's own scripts (the /usr/sbin wrappers switch to the rabbitmq user). */
const sbin = process.env.RABBITMQ_SBIN ?? '/usr/lib/rabbitmq/bin';

/** True when a private broker can be started here. */
export const hasRabbitMqServer = existsSync(path.join(sbin, 'rabbitmq-server'));

/**
 * A throw-away RabbitMQ node for tests that stop and start the broker (never the shared one on
 * 5672): its own node name, AMQP and distribution ports, data and log folders, Erlang cookie (HOME)
 * and no plugins, so it never clashes with the service. Erlang takes several seconds to boot a node
 * (about 13 s on an idle 2-core machine), so a suite starts it once; `stopApp`/`startApp` stop and
 * start the broker inside the running node in a couple of seconds, closing every client connection.
 */
export class TestRabbitMqServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly distPort: number,
    private readonly node: string,
    private readonly dir: string,
  ) {}

  static async start(timeoutMs = 90_000): Promise<TestRabbitMqServer> {
    const dir = mkdtempSync(path.join(tmpdir(), 'stockwire-rabbitmq-'));
    writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
    const server = new TestRabbitMqServer(await freePort(), await freePort(), `swtest-${randomBytes(4).toString('hex')}@localhost`, dir);
    server.child = spawn(path.join(sbin, 'rabbitmq-server'), [], { env: server.env(), stdio: 'ignore', detached: true });
    server.child.once('exit', () => (server.child = undefined));
    await waitFor(() => server.child !== undefined && canConnect(server.port), timeoutMs, `a private RabbitMQ node on port ${server.port}`, 100);
    return server;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Stops the broker inside the node: every client connection closes, the port stops answering. */
  async stopApp(): Promise<void> {
    await this.ctl('stop_app');
  }

  /** Starts it again on the same port; the listener may take a moment to be free, so it retries. */
  async startApp(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        try {
          await this.ctl('start_app');
          return await canConnect(this.port);
        } catch {
          return false;
        }
      },
      timeoutMs,
      `RabbitMQ node ${this.node} to start its app`,
      250,
    );
  }

  /** Shuts the node down and removes its files. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await this.ctl('shutdown').catch(() => {});
      // The script's process group holds beam and epmd-less helpers; make sure none outlives the test.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async ctl(command: string): Promise<void> {
    await run(path.join(sbin, 'rabbitmqctl'), ['-n', this.node, command], { env: this.env(), timeout: 30_000 });
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.dir,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      // Not the service's /etc/rabbitmq/rabbitmq.conf, which binds 5672.
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq'),
    };
  }
}
