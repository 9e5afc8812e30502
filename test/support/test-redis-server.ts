import { spawn, type ChildProcess } from 'node:child_process';
import { canConnect, freePort } from './ports.js';
import { waitFor } from './wait.js';

/**
 * A throw-away `redis-server` child process for tests that kill and restart Redis (never the
 * shared one on 6379). Same port across restarts, no persistence: a restart loses the cache,
 * exactly the case the bus has to survive.
 */
export class TestRedisServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.child !== undefined) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitFor(() => canConnect(this.port), 5000, `redis-server on port ${this.port}`, 25);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
