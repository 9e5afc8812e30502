/** What the writer thread is told to do, and what it answers. */
export type WriteTarget =
  /** Baselines 1 and 3: PUBLISH the Stockwire frame on `${channelPrefix}${sku}`. */
  | { readonly kind: 'redis'; readonly redisUrl: string; readonly channelPrefix: string }
  /** Baseline 2: a Socket.IO emitter on the redis adapter key, `io.to(sku).emit('m', frame)`. */
  | { readonly kind: 'socketio'; readonly redisUrl: string; readonly key: string }
  /** Stockwire end to end: POST /v1/stock/:sku/adjust (REST → PostgreSQL → Redis → socket). */
  | { readonly kind: 'rest'; readonly apiUrl: string; readonly secretKey: string }
  /** Stockwire delivery-only: a change event straight onto the Stockwire bus (Redis, or RabbitMQ with Redis as its cache), no database. */
  | {
      readonly kind: 'bus';
      readonly redisUrl: string;
      readonly keyPrefix: string;
      readonly merchantId: string;
      readonly amqp?: { readonly url: string; readonly exchange: string };
    };

export interface WriterInit {
  readonly target: WriteTarget;
  readonly skus: readonly string[];
  /** Version each product holds before the run (0 for the baselines). */
  readonly startVersions: readonly number[];
  readonly mode: 'open' | 'closed';
  /** open loop: writes per second for durationMs, at most maxInFlight outstanding. */
  readonly rate: number;
  readonly durationMs: number;
  readonly maxInFlight: number;
  /** Keep one write in flight per product so each frame's version maps to the moment it was written. */
  readonly timed: boolean;
  /** closed loop: this many lanes, each issuing its next write when the last one answered. */
  readonly concurrency: number;
  readonly writeTimes: SharedArrayBuffer;
  readonly writeVersions: SharedArrayBuffer;
  readonly finalVersions: SharedArrayBuffer;
  readonly ring: number;
}

export interface WriterResult {
  readonly issued: number;
  readonly ok: number;
  readonly failed: number;
  /** Ticks when the writer could not issue what was due because maxInFlight writes were outstanding. */
  readonly behind: number;
  readonly firstIssueAt: number;
  readonly lastIssueAt: number;
  readonly lastDoneAt: number;
  readonly latency: { counts: Float64Array; max: number; sum: number };
  readonly errors: Record<string, number>;
}
