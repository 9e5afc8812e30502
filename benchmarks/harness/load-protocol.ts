/** Messages and shared memory layout between the coordinator (generator.ts) and its load workers. */
export type ClientProtocol = 'stockwire' | 'socketio';
/** `lean`: harness/lean-websocket.ts on a bare socket (default); `ws`: the ws package, no compression. */
export type ClientKind = 'lean' | 'ws';

export interface LoadWorkerInit {
  readonly workerIndex: number;
  readonly url: string;
  readonly origin: string | undefined;
  readonly protocol: ClientProtocol;
  readonly client: ClientKind;
  /** Global index of this worker's first connection, and how many it opens. */
  readonly first: number;
  readonly count: number;
  /** Products per connection; connection i subscribes to products (i*perConn + k) % products. */
  readonly perConn: number;
  readonly products: number;
  readonly localAddresses: readonly string[];
  readonly connectTimeoutMs: number;
  readonly connectBudgetMs: number;
  readonly recordLatency: boolean;
  readonly ring: number;
  readonly stats: SharedArrayBuffer;
  readonly writeTimes: SharedArrayBuffer;
  readonly writeVersions: SharedArrayBuffer;
  readonly finalVersions: SharedArrayBuffer;
}

export type WorkerCommand =
  | { readonly type: 'connect'; readonly concurrency: number }
  | { readonly type: 'reset-latency' }
  | { readonly type: 'converge'; readonly deadlineMs: number }
  | { readonly type: 'collect' }
  | { readonly type: 'close' };

export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'connected' }
  | { readonly type: 'reset' }
  | { readonly type: 'converged'; readonly lagging: number; readonly notOpen: number }
  | {
      readonly type: 'collected';
      readonly latency: { counts: Float64Array; max: number; sum: number };
      readonly errors: Record<string, number>;
    }
  | { readonly type: 'closed' };

/** Per-worker counters in one shared Float64Array, STAT_SLOTS wide. */
export const STAT = {
  open: 0,
  snapshots: 1,
  failed: 2,
  dropped: 3,
  frames: 4,
  firstFrameAt: 5,
  lastFrameAt: 6,
  regressions: 7,
  untimed: 8,
  lastSnapshotAt: 9,
  reconnects: 10,
} as const;
export const STAT_SLOTS = 11;

/** Versions per product kept in the write-time ring; a frame older than this many writes goes untimed. */
export const RING = 64;
