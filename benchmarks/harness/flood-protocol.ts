/** What the connection-flood thread of `limits` is told to do, and what it answers. */
export interface ConnectionFloodInit {
  /** The socket URL with the flooding merchant's publishable key. */
  readonly url: string;
  /** Sockets it keeps trying to hold open (10× the merchant's connection limit). */
  readonly sockets: number;
  /** A refused or closed socket is tried again after this long. */
  readonly retryMs: number;
  readonly durationMs: number;
}

export interface ConnectionFloodResult {
  /** Upgrades accepted over the run. */
  opened: number;
  /** Upgrades refused with 429 (over the merchant's connection limit). */
  refused429: number;
  /** Other refusals and errors. */
  failed: number;
  /** The most sockets open at one time. */
  maxOpen: number;
}
