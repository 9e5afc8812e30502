/**
 * A minimal HTTP/1.1 client on kept-alive net.Sockets, for floods only: each request is bytes made
 * once (method, path, headers and body), one request at a time per socket, and an answer is read
 * only far enough to know its status and where it ends (Content-Length). What `JsonClient` spends
 * per request (objects, JSON, undici's bookkeeping) would fall on the same cores as the server.
 */
import net from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

/** The bytes of one request, made once and sent as often as wanted. */
export function requestBytes(url: string, method: string, headers: Record<string, string>, body?: string): Buffer {
  const u = new URL(url);
  const payload = body === undefined ? '' : body;
  const lines = [`${method} ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(payload)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${payload}`);
}

/** One kept-alive connection; `send` while `busy` is a caller's mistake. */
export class LeanHttpConnection {
  private readonly socket: net.Socket;
  private pending: Buffer | null = null;
  private answer: ((status: number) => void) | null = null;
  private closed = false;

  constructor(host: string, port: number) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.finish(0);
    });
  }

  /** Whether it can take a request now. */
  get idle(): boolean {
    return !this.closed && this.answer === null;
  }

  get dead(): boolean {
    return this.closed;
  }

  /** Sends `request`; `answered` gets the status, or 0 when the connection closed first. */
  send(request: Buffer, answered: (status: number) => void): void {
    this.answer = answered;
    this.socket.write(request);
  }

  close(): void {
    this.socket.destroy();
  }

  private finish(status: number): void {
    const answered = this.answer;
    this.answer = null;
    this.pending = null;
    answered?.(status);
  }

  private onData(chunk: Buffer): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = buffer.indexOf(HEADER_END);
    if (end < 0) {
      this.pending = buffer;
      return;
    }
    const head = buffer.toString('latin1', 0, end);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    if (buffer.length < end + 4 + length) {
      this.pending = buffer;
      return;
    }
    this.finish(Number(head.slice(9, 12)));
  }
}
