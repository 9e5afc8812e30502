/**
 * A minimal WebSocket client (RFC 6455) on a bare net.Socket, for the load generator only: no
 * events objects, no extensions, no per-message allocations beyond the text it hands over. It
 * speaks just what the bench needs: text frames both ways, ping → pong, close, fragments.
 * Server frames are never masked; client frames are masked as the RFC requires.
 */
import net from 'node:net';

export interface LeanHandlers {
  onOpen(): void;
  onText(text: string): void;
  /** `opened` tells a drop after the upgrade from a refused or failed connect. */
  onClose(opened: boolean): void;
  onError(kind: string): void;
}

export interface LeanTarget {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly origin: string | undefined;
}

export function leanTarget(url: string, origin: string | undefined): LeanTarget {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 80), path: `${u.pathname}${u.search}`, origin };
}

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const HEADER_END = Buffer.from('\r\n\r\n');

export class LeanWebSocket {
  private readonly socket: net.Socket;
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private opened = false;
  private closed = false;

  constructor(
    target: LeanTarget,
    localAddress: string | undefined,
    timeoutMs: number,
    private readonly handlers: LeanHandlers,
  ) {
    this.socket = net.connect({ host: target.host, port: target.port, ...(localAddress ? { localAddress } : {}) });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(timeoutMs);
    this.socket.on('connect', () => {
      this.socket.write(
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: c3RvY2t3aXJlLWJlbmNoLQ==\r\nSec-WebSocket-Version: 13\r\n` +
          (target.origin ? `Origin: ${target.origin}\r\n` : '') +
          '\r\n',
      );
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('timeout', () => {
      this.handlers.onError('handshake_timeout');
      this.socket.destroy();
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.handlers.onError(error.code ?? 'socket_error'));
    this.socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.handlers.onClose(this.opened);
    });
  }

  send(text: string): void {
    if (!this.opened || this.socket.destroyed) return;
    const payload = Buffer.from(text, 'utf8');
    const length = payload.length;
    const headerLength = length < 126 ? 6 : length < 65_536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(headerLength + length);
    frame[0] = 0x81;
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 65_536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    MASK.copy(frame, headerLength - 4);
    for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i]! ^ MASK[i & 3]!;
    this.socket.write(frame);
  }

  /** Drops the connection without a closing handshake (how the harness ends a run). */
  terminate(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    if (!this.opened) {
      const end = buffer.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = buffer;
        return;
      }
      const statusLine = buffer.toString('latin1', 0, Math.min(end, 64));
      const status = Number(statusLine.slice(9, 12));
      if (status !== 101) {
        this.handlers.onError(`http_${status}`);
        this.socket.destroy();
        return;
      }
      this.opened = true;
      this.socket.setTimeout(0);
      this.handlers.onOpen();
      buffer = buffer.subarray(end + 4);
    }
    this.readFrames(buffer);
  }

  private readFrames(buffer: Buffer): void {
    const length = buffer.length;
    let offset = 0;
    while (offset + 2 <= length) {
      const b0 = buffer[offset]!;
      const b1 = buffer[offset + 1]!;
      let payloadLength = b1 & 0x7f;
      let header = 2;
      if (payloadLength === 126) {
        if (offset + 4 > length) break;
        payloadLength = buffer.readUInt16BE(offset + 2);
        header = 4;
      } else if (payloadLength === 127) {
        if (offset + 10 > length) break;
        payloadLength = Number(buffer.readBigUInt64BE(offset + 2));
        header = 10;
      }
      if (b1 & 0x80) header += 4; // a masked server frame is a protocol error; skip the key and read on
      if (offset + header + payloadLength > length) break;
      const start = offset + header;
      const end = start + payloadLength;
      offset = end;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 1 || opcode === 2) {
        if (fin) this.handlers.onText(buffer.toString('latin1', start, end));
        else this.fragments = [Buffer.from(buffer.subarray(start, end))];
      } else if (opcode === 0 && this.fragments) {
        this.fragments.push(Buffer.from(buffer.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.handlers.onText(whole.toString('latin1'));
        }
      } else if (opcode === 9) {
        this.control(0x8a, buffer.subarray(start, end));
      } else if (opcode === 8) {
        this.control(0x88, buffer.subarray(start, Math.min(end, start + 2)));
        this.socket.end();
        return;
      }
    }
    if (offset < length) this.pending = Buffer.from(buffer.subarray(offset));
  }

  private control(first: number, payload: Buffer): void {
    const frame = Buffer.allocUnsafe(6 + payload.length);
    frame[0] = first;
    frame[1] = 0x80 | payload.length;
    MASK.copy(frame, 2);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ MASK[i & 3]!;
    if (!this.socket.destroyed) this.socket.write(frame);
  }
}
