/** What the flood thread of `limits` is told to do, and what it answers. */
export interface FloodInit {
  /** The API, and the flooding merchant's secret key. */
  readonly apiUrl: string;
  readonly secretKey: string;
  /** Its products; each write is an adjust of the next one in turn. */
  readonly skus: readonly string[];
  /** Writes per second, open loop (10× the merchant's write limit). */
  readonly writeRate: number;
  /** The socket URL with the flooding merchant's publishable key. */
  readonly wsUrl: string;
  /** Sockets it keeps trying to hold open (10× the merchant's connection limit). */
  readonly sockets: number;
  /** A refused or closed socket is tried again after this long. */
  readonly retryMs: number;
  readonly durationMs: number;
}

export interface FloodResult {
  writes: {
    issued: number;
    ok: number;
    refused429: number;
    /** Other answers and lost connections. */
    failed: number;
    /** Writes not sent because every connection was still waiting for an answer. */
    behind: number;
  };
  sockets: {
    /** Upgrades accepted over the run. */
    opened: number;
    /** Upgrades refused with 429 (over the merchant's connection limit). */
    refused429: number;
    /** Other refusals and errors. */
    failed: number;
    /** The most sockets open at one time. */
    maxOpen: number;
  };
}
