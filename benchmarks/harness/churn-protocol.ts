/** What the churn attacker thread is told to do, and what it answers. */
export interface ChurnInit {
  /** The socket URL with the merchant's publishable key. */
  readonly url: string;
  readonly sockets: number;
  readonly skusPerSub: number;
  readonly intervalMs: number;
  readonly durationMs: number;
}

export interface ChurnResult {
  opened: number;
  /** Upgrades the server refused (e.g. over WS_MAX_CONNECTIONS_PER_IP). */
  refused: number;
  closed: number;
  /** Connection attempts after a socket was closed or refused (the attacker comes back). */
  reconnects: number;
  /** sub + unsub pairs sent. */
  subsSent: number;
  /** Rounds skipped because the attacker's own send buffer was full. */
  skipped: number;
  snapshots: number;
  errors: Record<string, number>;
}
