import { StockwireError } from '../errors.js';
import { MAX_QUANTITY } from './records.js';

/**
 * Write combining for hot SKUs. Writes of one key (a merchant's SKU) that arrive while a write of
 * that key is in flight wait in arrival order; when it ends they go to the database together, as one
 * group of at most `maxItems`. The first write of a quiet key goes straight through, so a SKU that
 * is not hot waits for nothing. How a group is applied is the caller's (`apply`): this class only
 * queues and groups, and `planGroup` below decides which items of a group succeed. Neither touches SQL,
 * so every store (and whatever else is written in the same transaction) plugs in through `apply`.
 */
export class WriteCombiner<I, R> {
  readonly #waiting = new Map<string, Array<Entry<I, R>>>();
  readonly #maxItems: number;
  readonly #apply: (key: string, items: readonly I[]) => Promise<ReadonlyArray<Settled<R>>>;
  #groups = 0;
  #items = 0;

  /** `maxItems` ≤ 1 turns combining off: every write goes straight to `apply` alone, nothing queues. */
  constructor(maxItems: number, apply: (key: string, items: readonly I[]) => Promise<ReadonlyArray<Settled<R>>>) {
    this.#maxItems = maxItems;
    this.#apply = apply;
  }

  get enabled(): boolean {
    return this.#maxItems > 1;
  }

  /** Groups applied and the writes they held (a group of one included): items / groups is the mean group size. */
  get stats(): { readonly groups: number; readonly items: number } {
    return { groups: this.#groups, items: this.#items };
  }

  submit(key: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry = { item, resolve, reject };
      if (!this.enabled) {
        void this.#applyGroup(key, [entry]);
        return;
      }
      const queue = this.#waiting.get(key);
      if (queue) {
        queue.push(entry);
        return;
      }
      this.#waiting.set(key, []);
      void this.#drain(key, [entry]);
    });
  }

  async #drain(key: string, first: Array<Entry<I, R>>): Promise<void> {
    let group = first;
    for (;;) {
      await this.#applyGroup(key, group);
      const queue = this.#waiting.get(key)!;
      if (queue.length === 0) {
        this.#waiting.delete(key);
        return;
      }
      group = queue.splice(0, this.#maxItems);
    }
  }

  async #applyGroup(key: string, group: ReadonlyArray<Entry<I, R>>): Promise<void> {
    this.#groups += 1;
    this.#items += group.length;
    try {
      const outcomes = await this.#apply(
        key,
        group.map((e) => e.item),
      );
      group.forEach((entry, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined) entry.reject(new Error(`write group of ${group.length} answered only ${outcomes.length}`));
        else if (outcome.ok) entry.resolve(outcome.value);
        else entry.reject(outcome.error);
      });
    } catch (error) {
      // The group's transaction failed as a whole (storage down, a bug): every write in it fails alike.
      for (const entry of group) entry.reject(error);
    }
  }
}

interface Entry<I, R> {
  readonly item: I;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

export type Settled<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

/** A write that may be combined: a relative change of on-hand, or a hold of some quantity. */
export type CombinedOp =
  | { readonly kind: 'adjust'; readonly delta: number; readonly reason?: string | undefined }
  | { readonly kind: 'hold'; readonly quantity: number; readonly ttlSeconds: number };

/** The stock row as a group found it (locked). */
export interface GroupStart {
  readonly sku: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly version: number;
}

/** One item's fate: applied at its own version with the counts it leaves, or refused with a contract error. */
export type PlannedItem =
  | { readonly ok: true; readonly version: number; readonly onHand: number; readonly reserved: number; readonly onHandDelta: number; readonly reservedDelta: number }
  | { readonly ok: false; readonly error: StockwireError };

/**
 * Apply a group's writes to the row in arrival order, each all-or-nothing: an item succeeds only if
 * what it leaves stays within the rules (available ≥ 0, on-hand ≤ MAX_QUANTITY), as if it were alone
 * after the ones before it that succeeded. A refused item changes nothing and takes no version.
 */
export function planGroup(start: GroupStart, ops: ReadonlyArray<CombinedOp | null>): Array<PlannedItem | null> {
  let { onHand, reserved, version } = start;
  return ops.map((op) => {
    if (op === null) return null;
    const onHandDelta = op.kind === 'adjust' ? op.delta : 0;
    const reservedDelta = op.kind === 'hold' ? op.quantity : 0;
    const nextOnHand = onHand + onHandDelta;
    const nextReserved = reserved + reservedDelta;
    if (nextOnHand > MAX_QUANTITY) {
      return { ok: false, error: new StockwireError('validation_failed', `On-hand for ${start.sku} would exceed ${MAX_QUANTITY}.`) };
    }
    if (nextOnHand - nextReserved < 0) {
      const available = Math.max(0, onHand - reserved);
      const message =
        op.kind === 'adjust'
          ? `Not enough stock for ${start.sku}: ${available} available, change ${op.delta}.`
          : `Cannot hold ${op.quantity} of ${start.sku}: ${available} available.`;
      return { ok: false, error: new StockwireError('insufficient_stock', message) };
    }
    onHand = nextOnHand;
    reserved = nextReserved;
    version += 1;
    return { ok: true, version, onHand, reserved, onHandDelta, reservedDelta };
  });
}
