/**
 * The part of a WebSocket the client uses. Both the browser's `WebSocket` and the `ws` package's
 * constructor fit (Node 20 has no global WebSocket). Handlers are declared bivariantly so either
 * library's own event types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What the client needs from a transport; `close()` stops all further callbacks. */
export interface Connection {
  send(data: string): void;
  /** `graceful: false` drops a connection that stopped answering without waiting for a close handshake. */
  close(graceful?: boolean): void;
}

/** Underscored names are internal: the widget build shortens them. */
export interface ConnectionHandlers {
  _onOpen(): void;
  _onMessage(text: string): void;
  /** The connection is gone (or never opened); called at most once, never after `close()`. */
  _onClose(code: number, reason: string): void;
}

/**
 * Opens one WebSocket and adapts its callbacks. `close()` detaches the handlers first, so a dead
 * connection the heartbeat gave up on cannot report back later.
 */
export function openWebSocket(Ctor: WebSocketConstructor, url: string, handlers: ConnectionHandlers): Connection {
  let done = false;
  let socket: WebSocketLike | undefined;
  const finish = (code: number, reason: string): void => {
    if (!done) {
      done = true;
      handlers._onClose(code, reason);
    }
  };
  try {
    socket = new Ctor(url);
    socket.onopen = () => done || handlers._onOpen();
    // `ws` hands text frames over as strings too; String() also covers a stray binary frame.
    socket.onmessage = (event) => done || handlers._onMessage(String(event.data));
    socket.onclose = (event) => finish(event.code, event.reason);
    // Browsers and `ws` follow `error` with `close`; the handler only keeps the event from going unhandled.
    socket.onerror = () => {};
  } catch (error) {
    // An invalid URL or a blocked scheme throws synchronously: report it like a failed open.
    setTimeout(() => finish(1006, String(error)));
  }
  return {
    send(data) {
      if (!done && socket?.readyState === 1) socket.send(data);
    },
    close(graceful = true) {
      if (done) return;
      done = true;
      if (!socket) return;
      socket.onopen = socket.onmessage = socket.onclose = null;
      const terminate = (socket as { terminate?: () => void }).terminate;
      try {
        // `ws` can drop a dead TCP connection at once; the browser's close() is the best it offers.
        if (!graceful && terminate) terminate.call(socket);
        else socket.close(1000);
      } catch {
        // closing a socket that never opened may throw in some engines; it is gone either way
      }
    },
  };
}
