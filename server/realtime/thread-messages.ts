import type { PublishableKeyGrant } from '../access/key-cache.js';
import type { RealtimeCountsSnapshot } from './realtime-counts.js';
import type { RealtimeGatewayOptions } from './realtime-gateway.js';
import type { PublicStock, StockChange } from '../stock/types.js';
import type { BusKind } from '../bus/stock-bus.js';
import type { ViewerCountsMessage } from '../bus/control-message.js';

/**
 * Messages between the main thread (store, bus, API) and the realtime worker threads, over each
 * worker's MessagePort. Both ends are our own code in one process, so they are typed, not validated.
 */

/** What a worker needs to start its gateway (structured-cloned into `workerData`). */
export interface RealtimeThreadInit {
  readonly thread: number;
  readonly settings: Pick<RealtimeGatewayOptions, 'host' | 'port' | 'folding' | 'limits' | 'viewers' | 'skuMaxLength' | 'trustProxyHops'>;
  /** The thread's nice value (`lowerThreadPriority`); 0 leaves it at the main thread's priority. */
  readonly nice: number;
  readonly busKind: BusKind;
  readonly busConnected: boolean;
  /** The per-IP socket counts every thread shares (`SharedConnectionCounter`). */
  readonly connectionCounts: SharedArrayBuffer;
}

/** Requests a worker makes of the main thread; each is answered by one `reply` with its id. */
export type ThreadRequest =
  | { readonly op: 'publicViews'; readonly merchantId: string; readonly skus: readonly string[] }
  | { readonly op: 'viewerProducts'; readonly merchantId: string; readonly skus: readonly string[] }
  | { readonly op: 'resolveKey'; readonly key: string }
  | { readonly op: 'cached'; readonly merchantId: string; readonly skus: readonly string[] }
  | { readonly op: 'watch'; readonly merchantId: string; readonly sku: string }
  /** A merchant's connection limit and its sockets on every node, before an upgrade. */
  | { readonly op: 'merchantConnections'; readonly merchantId: string };

export interface ThreadAnswers {
  publicViews: PublicStock[];
  viewerProducts: string[];
  resolveKey: PublishableKeyGrant | null;
  cached: Array<PublicStock | undefined>;
  watch: null;
  merchantConnections: { limit: number; admitted: boolean };
}

export type FromThread =
  | { readonly kind: 'listening'; readonly port: number }
  | { readonly kind: 'request'; readonly id: number; readonly request: ThreadRequest }
  | { readonly kind: 'unwatch'; readonly merchantId: string; readonly sku: string }
  | { readonly kind: 'publish'; readonly change: StockChange }
  /** The thread's viewer counts, for every node (the thread counts on its own: counts of all threads add up). */
  | { readonly kind: 'broadcast'; readonly message: ViewerCountsMessage }
  | { readonly kind: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly obj: object; readonly msg?: string }
  | { readonly kind: 'collected'; readonly id: number; readonly counts: RealtimeCountsSnapshot }
  | { readonly kind: 'closed' }
  /** A socket of the merchant opened (with the page's origin) or closed on the thread. */
  | { readonly kind: 'merchantSocket'; readonly merchantId: string; readonly opened: boolean; readonly origin?: string }
  /** Frames the thread sent per merchant since its last report. */
  | { readonly kind: 'merchantFrames'; readonly counts: Array<[string, number]> };

export type ToThread =
  | { readonly kind: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: false; readonly error: string }
  /** The bus's changes for the thread's products since the last such message, in the order heard (one message per event-loop turn). */
  | { readonly kind: 'changes'; readonly changes: readonly StockChange[] }
  /** Viewer counts heard on the bus, this process's threads' own included. */
  | { readonly kind: 'control'; readonly message: ViewerCountsMessage }
  | { readonly kind: 'connection'; readonly state: 'up' | 'down' }
  | { readonly kind: 'collect'; readonly id: number }
  /** The merchant's keys or settings changed (a merchant control message): the thread's key cache drops its grants. */
  | { readonly kind: 'forgetKeys'; readonly merchantId: string }
  /** The merchant was deleted: the thread closes its sockets with 1008. */
  | { readonly kind: 'closeMerchant'; readonly merchantId: string }
  | { readonly kind: 'close' };

export interface ThreadStats {
  readonly thread: number;
  readonly connections: number;
  readonly topics: number;
  readonly framesPushed: number;
}
