import type { RealtimeLimits } from '../config.js';
import { LocalConnectionCounter, type ConnectionCounter } from './connection-counter.js';

/** A fixed one-second window of spending. */
interface Budget {
  windowStart: number;
  used: number;
}

/** One connection's budgets and its recent refusals. */
export interface ConnectionBudgets {
  /** Frames per second. */
  readonly messages: Budget;
  /** SKUs named in `sub` frames in the current window (new subscriptions and snapshot reads). */
  readonly subscriptions: Budget;
  /** Frames refused over a limit in the current refusal window; `WS_MAX_REFUSED_FRAMES` close the connection. */
  readonly refusals: Budget;
  /** When the connection was last answered `rate_limited` (0: never). */
  toldAt: number;
}

/** What to do with a refused frame: answer `rate_limited`, drop it unanswered, or close the connection (1008). */
export type RefusalAction = 'tell' | 'drop' | 'close';

const WINDOW_MS = 1000;
/** Refusals of one connection are counted within this window. */
const REFUSAL_WINDOW_MS = 10_000;

/**
 * The per-IP and per-connection limits of the realtime gateway: sockets per IP, new subscriptions
 * and snapshot reads per second per IP (both counted across the process's threads by the
 * `ConnectionCounter`), frames and new subscriptions per second per connection, and what happens to
 * a client that keeps sending past them: it is told once a second, its further refused frames cost a
 * counter each and no answer, and `maxRefusedFrames` within 10 s close it; its IP's new sockets
 * then wait `abuseWaitSeconds`. A well-behaved client (the SDK and the widget never resend a refused
 * `sub`) is refused once at most and never closed.
 */
export class ConnectionLimits {
  readonly #limits: RealtimeLimits;
  readonly #addresses: ConnectionCounter;

  constructor(limits: RealtimeLimits, connectionCounter: ConnectionCounter = new LocalConnectionCounter()) {
    this.#limits = limits;
    this.#addresses = connectionCounter;
  }

  /** Whether the address already has as many sockets as it may. */
  atConnectionLimit(ip: string): boolean {
    const max = this.#limits.maxConnectionsPerIp;
    return max > 0 && this.#addresses.count(ip) >= max;
  }

  /** Whole seconds the address must still wait after one of its connections was closed for abuse; 0: none. */
  waitSeconds(ip: string): number {
    return this.#addresses.waitSeconds(ip);
  }

  /** Fresh budgets for a connection being upgraded. */
  newConnection(): ConnectionBudgets {
    return { messages: { windowStart: Date.now(), used: 0 }, subscriptions: { windowStart: 0, used: 0 }, refusals: { windowStart: 0, used: 0 }, toldAt: 0 };
  }

  /**
   * Takes one of the address's places for a socket about to open; false when it has none left.
   * Every admitted socket gives its place back with `closed`, whether it opened or not.
   */
  admit(ip: string): boolean {
    return this.#addresses.add(ip, 1, this.#limits.maxConnectionsPerIp);
  }

  /** The address keeps what it spent until its window ends: reconnecting does not refill it. */
  closed(ip: string): void {
    this.#addresses.add(ip, -1);
  }

  /** Whether a frame fits the message rate (fixed one-second windows); one that does not is refused (see `refused`). */
  chargeMessage(budgets: ConnectionBudgets): boolean {
    const now = Date.now();
    if (now - budgets.messages.windowStart >= WINDOW_MS) {
      budgets.messages.windowStart = now;
      budgets.messages.used = 0;
    }
    budgets.messages.used += 1;
    return budgets.messages.used <= this.#limits.maxMessagesPerSecond;
  }

  /** The error message of a frame over the message rate. */
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
    const budget = budgets.subscriptions;
    if (perConnection > 0 && now - budget.windowStart >= WINDOW_MS) {
      budget.windowStart = now;
      budget.used = 0;
    }
    if (perConnection > 0 && budget.used + cost > perConnection) return connectionBudgetRefusal(perConnection);
    // The address's budget is shared by every thread; spent last, only when the connection's allows.
    if (perIp > 0 && !this.#addresses.spend(ip, cost, perIp, now)) return addressBudgetRefusal(perIp);
    if (perConnection > 0) budget.used += cost;
    return undefined;
  }

  /**
   * Why any `sub` would be refused now (the connection's or the address's budget has nothing left
   * this second), or undefined: lets the gateway refuse one before reading its body.
   */
  subscriptionsSpent(ip: string, budgets: ConnectionBudgets): string | undefined {
    const { maxNewSubscriptionsPerSecond: perConnection, maxNewSubscriptionsPerIpPerSecond: perIp } = this.#limits;
    const now = Date.now();
    const budget = budgets.subscriptions;
    if (perConnection > 0 && now - budget.windowStart < WINDOW_MS && budget.used >= perConnection) return connectionBudgetRefusal(perConnection);
    if (perIp > 0 && this.#addresses.spent(ip, perIp, now)) return addressBudgetRefusal(perIp);
    return undefined;
  }

  /** A frame of the connection was refused over a limit: what to do with it (and, at `close`, the address now waits). */
  refused(ip: string, budgets: ConnectionBudgets, now = Date.now()): RefusalAction {
    const refusals = budgets.refusals;
    if (now - refusals.windowStart >= REFUSAL_WINDOW_MS) {
      refusals.windowStart = now;
      refusals.used = 0;
    }
    refusals.used += 1;
    const { maxRefusedFrames, abuseWaitSeconds } = this.#limits;
    if (maxRefusedFrames > 0 && refusals.used >= maxRefusedFrames) {
      if (abuseWaitSeconds > 0) this.#addresses.holdOff(ip, now + abuseWaitSeconds * 1000, now);
      return 'close';
    }
    if (now - budgets.toldAt < WINDOW_MS) return 'drop';
    budgets.toldAt = now;
    return 'tell';
  }
}

const connectionBudgetRefusal = (perSecond: number) => `At most ${perSecond} subscriptions and snapshot reads per second on a connection.`;
const addressBudgetRefusal = (perSecond: number) => `At most ${perSecond} subscriptions and snapshot reads per second from one address.`;
