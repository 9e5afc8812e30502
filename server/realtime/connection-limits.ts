import type { RealtimeLimits } from '../config.js';
import { LocalConnectionCounter, type ConnectionCounter } from './connection-counter.js';

/** A fixed one-second window of spending. */
interface Budget {
  windowStart: number;
  used: number;
}

/** One connection's budgets: frames per second, and SKUs named in `sub` frames per second. */
export interface ConnectionBudgets {
  readonly messages: Budget;
  /** Whether the first frame over the message rate was answered (the rest are dropped silently). */
  toldRateLimited: boolean;
  /** SKUs named in `sub` frames in the current window (new subscriptions and snapshot reads). */
  readonly subscriptions: Budget;
}

/** One client IP on this thread: its open sockets and its shared budget of new subscriptions and snapshot reads. */
interface AddressState {
  connections: number;
  readonly subscriptions: Budget;
}

/** What a frame over the message rate gets: the first an error, the rest nothing. */
export type MessageVerdict = 'allowed' | 'refused' | 'dropped';

const WINDOW_MS = 1000;
/** How often addresses without sockets are forgotten. */
const ADDRESS_SWEEP_MS = 5000;

/**
 * The per-IP and per-connection budgets of the realtime gateway: sockets per IP (counted across the
 * process's threads by the `ConnectionCounter`), frames per second per connection, and new
 * subscriptions and snapshot reads per second per connection and per IP.
 */
export class ConnectionLimits {
  readonly #limits: RealtimeLimits;
  readonly #connectionsPerIp: ConnectionCounter;
  /** This thread's view of each address: its subscription budget, kept while it has sockets here. */
  readonly #addresses = new Map<string, AddressState>();
  /** Drops addresses without sockets once their budget window is over. */
  readonly #addressSweep = setInterval(() => {
    const now = Date.now();
    for (const [ip, address] of this.#addresses) {
      if (address.connections <= 0 && now - address.subscriptions.windowStart >= WINDOW_MS) this.#addresses.delete(ip);
    }
  }, ADDRESS_SWEEP_MS).unref();

  constructor(limits: RealtimeLimits, connectionCounter: ConnectionCounter = new LocalConnectionCounter()) {
    this.#limits = limits;
    this.#connectionsPerIp = connectionCounter;
  }

  /** Whether the address already has as many sockets as it may. */
  atConnectionLimit(ip: string): boolean {
    const max = this.#limits.maxConnectionsPerIp;
    return max > 0 && this.#connectionsPerIp.count(ip) >= max;
  }

  /** Fresh budgets for a connection being upgraded. */
  newConnection(): ConnectionBudgets {
    return { messages: { windowStart: Date.now(), used: 0 }, toldRateLimited: false, subscriptions: { windowStart: 0, used: 0 } };
  }

  /**
   * Takes one of the address's places for a socket about to open; false when it has none left.
   * Every admitted socket gives its place back with `closed`, whether it opened or not.
   */
  admit(ip: string): boolean {
    if (!this.#connectionsPerIp.add(ip, 1, this.#limits.maxConnectionsPerIp)) return false;
    const address = this.#addresses.get(ip);
    if (address !== undefined) address.connections += 1;
    else this.#addresses.set(ip, { connections: 1, subscriptions: { windowStart: 0, used: 0 } });
    return true;
  }

  closed(ip: string): void {
    this.#connectionsPerIp.add(ip, -1);
    const address = this.#addresses.get(ip);
    // An address that just spent its budget keeps it until the window ends: reconnecting must not refill it.
    if (address !== undefined && --address.connections <= 0 && Date.now() - address.subscriptions.windowStart >= WINDOW_MS) {
      this.#addresses.delete(ip);
    }
  }

  /** Fixed one-second windows; the first frame over the limit is answered once, the rest are dropped. */
  chargeMessage(budgets: ConnectionBudgets): MessageVerdict {
    const now = Date.now();
    if (now - budgets.messages.windowStart >= WINDOW_MS) {
      budgets.messages.windowStart = now;
      budgets.messages.used = 0;
      budgets.toldRateLimited = false;
    }
    budgets.messages.used += 1;
    if (budgets.messages.used <= this.#limits.maxMessagesPerSecond) return 'allowed';
    if (budgets.toldRateLimited) return 'dropped';
    budgets.toldRateLimited = true;
    return 'refused';
  }

  /** The error message of a refused frame (see `chargeMessage`). */
  get messageRateRefusal(): string {
    return `At most ${this.#limits.maxMessagesPerSecond} messages per second.`;
  }

  /**
   * Each SKU a `sub` names costs one unit of the connection's and the IP's budget per second: it is
   * a new subscription (a bus watch) or a snapshot read, or both. Subscription churn from one place
   * thus costs the store and the bus a bounded amount, however many sockets it opens. Both budgets
   * are charged only when both allow (a refused `sub` changes nothing). Undefined: allowed.
   */
  chargeSubscriptions(ip: string, budgets: ConnectionBudgets, cost: number): string | undefined {
    const { maxNewSubscriptionsPerSecond: perConnection, maxNewSubscriptionsPerIpPerSecond: perIp } = this.#limits;
    const now = Date.now();
    const ipBudget = perIp > 0 ? this.#addresses.get(ip)?.subscriptions : undefined;
    const connectionBudget = perConnection > 0 ? budgets.subscriptions : undefined;
    for (const budget of [connectionBudget, ipBudget]) {
      if (budget !== undefined && now - budget.windowStart >= WINDOW_MS) {
        budget.windowStart = now;
        budget.used = 0;
      }
    }
    if (connectionBudget !== undefined && connectionBudget.used + cost > perConnection) {
      return `At most ${perConnection} subscriptions and snapshot reads per second on a connection.`;
    }
    if (ipBudget !== undefined && ipBudget.used + cost > perIp) {
      return `At most ${perIp} subscriptions and snapshot reads per second from one address.`;
    }
    if (connectionBudget !== undefined) connectionBudget.used += cost;
    if (ipBudget !== undefined) ipBudget.used += cost;
    return undefined;
  }

  close(): void {
    clearInterval(this.#addressSweep);
  }
}
