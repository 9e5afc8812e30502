import type { Kysely } from 'kysely';
import type { StockRecord } from '../stock/types.js';
import type { Database } from './schema.js';
import { now } from './sql-dialect.js';
import { StockTransaction } from './stock-transaction.js';
import { storeQuery } from './storage-errors.js';

/** Most holds expired (or keys purged) per transaction. */
export const SWEEP_BATCH = 500;

/** How often idempotency keys are purged, in sweeps. */
const PURGE_EVERY_TICKS = 60;

export interface HoldSweeperOptions {
  /** How often expired reservations are swept back into stock; 0 leaves sweeping to the caller. */
  readonly intervalMs: number;
  /** Told about a sweep that failed. */
  readonly onBackgroundError?: (error: unknown, context: string) => void;
}

export interface HoldSweeperHooks {
  /** Announces the changes of a committed sweep, as every other write is announced. */
  readonly emit: (changed: readonly StockRecord[], publicChanges: readonly StockRecord[]) => void;
  /** Removes idempotency keys past their time; run every `PURGE_EVERY_TICKS` sweeps. */
  readonly purgeIdempotencyKeys: () => Promise<unknown>;
}

/**
 * Puts holds whose time is up back into stock, on a timer, on any number of nodes at once (due rows
 * are taken with SKIP LOCKED). Readers and writers do not wait for it: they release a stale hold
 * they meet themselves.
 */
export class HoldSweeper {
  readonly #db: Kysely<Database>;
  readonly #options: HoldSweeperOptions;
  readonly #hooks: HoldSweeperHooks;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<unknown> | undefined;
  #stopped = false;

  constructor(db: Kysely<Database>, options: HoldSweeperOptions, hooks: HoldSweeperHooks) {
    this.#db = db;
    this.#options = Object.freeze({ ...options });
    this.#hooks = hooks;
  }

  /** Expire up to `limit` due holds (any merchant) in one transaction; returns how many. Safe on many nodes. */
  async expireDue(limit = SWEEP_BATCH): Promise<number> {
    const changed: StockRecord[] = [];
    const publicChanges: StockRecord[] = [];
    const count = await storeQuery(() =>
      this.#db.transaction().execute(async (trx) => {
        changed.length = 0;
        publicChanges.length = 0;
        const due = await trx
          .selectFrom('reservations')
          .select(['id', 'merchant_id', 'sku', 'quantity'])
          .where('state', '=', 'held')
          .where('expires_at', '<=', now)
          .orderBy('expires_at')
          .limit(limit)
          .forUpdate()
          .skipLocked()
          .execute();
        if (due.length === 0) return 0;
        await trx
          .updateTable('reservations')
          .set({ state: 'expired', updated_at: now })
          .where('id', 'in', due.map((r) => r.id))
          .execute();
        const groups = new Map<string, { merchantId: string; sku: string; holds: { id: string; quantity: number }[] }>();
        for (const r of due) {
          const key = `${r.merchant_id}\u0000${r.sku}`;
          const group = groups.get(key) ?? { merchantId: r.merchant_id, sku: r.sku, holds: [] };
          group.holds.push({ id: r.id, quantity: r.quantity });
          groups.set(key, group);
        }
        // Same order everywhere, so two sweepers never lock stock rows against each other.
        const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [, group] of ordered) {
          const tx = new StockTransaction(trx, group.merchantId);
          await tx.releaseExpired(group.sku, group.holds);
          await tx.writeEvents();
          changed.push(...tx.changed);
          publicChanges.push(...tx.publicChanges);
        }
        return due.length;
      }),
    );
    if (changed.length > 0) this.#hooks.emit(changed, publicChanges);
    return count;
  }

  start(): void {
    const interval = this.#options.intervalMs;
    if (this.#timer || interval <= 0 || this.#stopped) return;
    let ticks = 0;
    this.#timer = setInterval(() => {
      if (this.#sweeping) return;
      ticks += 1;
      this.#sweeping = (async () => {
        while ((await this.expireDue()) === SWEEP_BATCH && !this.#stopped);
        if (ticks % PURGE_EVERY_TICKS === 0) await this.#hooks.purgeIdempotencyKeys();
      })()
        .catch((error: unknown) => this.#options.onBackgroundError?.(error, 'reservation sweep'))
        .finally(() => {
          this.#sweeping = undefined;
        });
    }, interval);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#sweeping;
  }
}
