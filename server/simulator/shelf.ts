import type { StockLike } from './answers.js';

/** A product to drive; a bare string is `{ sku }`. */
export interface SimulatedSku {
  readonly sku: string;
  /** What a restock sets `onHand` to. Default: the stock found at start (at least `defaultParLevel`). */
  readonly parLevel?: number;
  /** Relative popularity; default follows a long tail (the first SKU sells most). */
  readonly weight?: number;
  /** Display name used when the simulator has to create the product. */
  readonly name?: string;
}

/** A product on the shelf and what the last answer said about its stock. */
export interface ShelfItem {
  readonly sku: string;
  readonly weight: number;
  readonly name: string | undefined;
  parLevel: number;
  available: number | undefined;
  status: string | undefined;
  /** The delivery on its way, if one is. */
  restockTimer: NodeJS.Timeout | undefined;
}

/** The products the simulator sells: how popular each is, what a restock brings, and their last seen stock. */
export class Shelf {
  readonly items: readonly ShelfItem[];

  constructor(
    entries: readonly (string | SimulatedSku)[],
    private readonly random: () => number,
  ) {
    this.items = entries.map((entry, index) => {
      const s = typeof entry === 'string' ? { sku: entry } : entry;
      return { sku: s.sku, weight: s.weight ?? 1 / (index + 1), name: s.name, parLevel: s.parLevel ?? 0, available: undefined, status: undefined, restockTimer: undefined };
    });
  }

  get(sku: string): ShelfItem | undefined {
    return this.items.find((item) => item.sku === sku);
  }

  /** A product that is not sold out, drawn by popularity; undefined while everything is sold out. */
  pick(): ShelfItem | undefined {
    const open = this.items.filter((s) => s.status !== 'sold_out');
    if (open.length === 0) return undefined;
    const total = open.reduce((sum, s) => sum + s.weight, 0);
    let r = this.random() * total;
    for (const s of open) {
      r -= s.weight;
      if (r <= 0) return s;
    }
    return open[open.length - 1];
  }

  /** Notes what an answer said; undefined forgets what was known. */
  record(item: ShelfItem, stock: StockLike | undefined): void {
    item.available = stock?.available;
    item.status = stock?.status;
  }
}
