/**
 * `stockwire`: the framework-free client for live stock, in browsers and Node.
 * The Preact widget and the `<stockwire-stock>` element live in `stockwire/widget`.
 */
export { createStockClient } from './client/stock-client.js';
export type { StockClient, StockClientOptions, StockClientEvents, StockListener, SubscribeOptions, FetchLike } from './client/stock-client.js';
export { StockwireError, clientErrorCodes } from './client/errors.js';
export type { ClientErrorCode, StockwireErrorCode } from './client/errors.js';
export { backoffDelay } from './client/backoff.js';
export { stockStatuses, connectionStates } from './client/types.js';
export type { StockStatus, StockView, ConnectionState } from './client/types.js';
export type { WebSocketConstructor, WebSocketLike } from './client/transport.js';
