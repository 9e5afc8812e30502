import type { FastifyReply } from 'fastify';

/** A comment line this often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 25_000;

/**
 * One server-sent-events answer. It takes the reply over from Fastify, sends the headers set so far
 * (security headers, request id) with the stream's own, and ends when the connection closes or
 * `end()` is called; `onEnd` listeners run once either way.
 */
export class EventStream {
  private readonly heartbeat: NodeJS.Timeout;
  private readonly endListeners: Array<() => void> = [];
  private ended = false;

  constructor(private readonly reply: FastifyReply) {
    reply.hijack();
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies (nginx) pass events on at once instead of buffering them.
      'x-accel-buffering': 'no',
    });
    this.heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    // The socket closing is the browser going away.
    reply.raw.on('close', () => this.end());
  }

  send(event: string, data: unknown): void {
    if (!this.ended) this.reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  onEnd(listener: () => void): void {
    this.endListeners.push(listener);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
    for (const listener of this.endListeners.splice(0)) listener();
  }
}
