import WebSocket from 'ws';

/** A frame the server sends, loosely typed for assertions. */
export interface ServerFrame {
  readonly t: string;
  readonly [field: string]: unknown;
}

/**
 * A `ws` client for tests and measurements: collects every frame with its arrival time and waits
 * for the one a test expects.
 */
export class TestSocket {
  readonly frames: ServerFrame[] = [];
  readonly arrivals: number[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as ServerFrame);
      this.arrivals.push(performance.now());
      this.wake();
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
      this.wake();
    });
  }

  /** Opens a socket; rejects with the HTTP status when the upgrade is refused. */
  static open(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new TestSocket(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => {
        reject(new UpgradeRefused(res.statusCode ?? 0, res.headers['retry-after']));
        res.resume();
        socket.terminate();
      });
      socket.once('error', (error) => reject(error));
    });
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first frame from index `from` on that matches, waiting up to `timeoutMs`. */
  async next(match: (frame: ServerFrame) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<ServerFrame> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    for (;;) {
      const found = this.frames.slice(options.from ?? 0).find(match);
      if (found !== undefined) return found;
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode} ${this.closeReason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within the timeout; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a ping and waits for its pong: everything the server sent before it has arrived. */
  async roundTrip(id: number = Math.floor(Math.random() * 1e9)): Promise<void> {
    const from = this.frames.length;
    this.send({ op: 'ping', id });
    await this.next((f) => f.t === 'pong' && f.id === id, { from });
  }

  closed(timeoutMs = 5000): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closeCode !== undefined) return resolve(this.closeCode);
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.socket.once('close', (code: number) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    /** The refusal's `Retry-After` header, when it has one. */
    readonly retryAfter?: string,
  ) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** The answer to an upgrade: 101 when the socket opened (it is closed again), else the refusal's status. */
export async function upgradeStatus(url: string): Promise<number> {
  try {
    (await TestSocket.open(url)).close();
    return 101;
  } catch (error) {
    return error instanceof UpgradeRefused ? error.status : -1;
  }
}
