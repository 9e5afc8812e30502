import type { DisplayPolicy } from '../stock/types.js';

/** One product of the demo shop: what the page shows, how the store is set up, how the simulator treats it. */
export interface DemoProduct {
  readonly sku: string;
  readonly name: string;
  readonly price: string;
  readonly display: DisplayPolicy;
  readonly lowStockThreshold: number;
  /** Stock on the first start, and what a simulated delivery restocks to. */
  readonly parLevel: number;
  /** How often the simulator sells it, relative to the others. */
  readonly weight: number;
  readonly note: string;
  /** Opted in to live viewer counts (the example shop's runner page shows them). */
  readonly viewers?: true;
}

/**
 * Fourteen products (three are sizes of one runner) with every display policy and a spread of thresholds. `DEMO-PRINT` is the
 * scarce one: three numbered prints, the most popular item, so within seconds of `npm start` it
 * sells out, the buy button goes grey, and a few seconds later the restock brings it back.
 */
export const demoProducts: readonly DemoProduct[] = [
  { sku: 'DEMO-PRINT', name: 'Numbered art print', price: '€45', display: 'exact', lowStockThreshold: 2, parLevel: 3, weight: 3, note: 'sells out within seconds, restocked a few seconds later' },
  { sku: 'DEMO-TEE', name: 'Logo tee, black', price: '€25', display: 'exact', lowStockThreshold: 5, parLevel: 30, weight: 1, note: 'display: exact — public reads always include the count' },
  { sku: 'DEMO-MUG', name: 'Enamel camp mug', price: '€14', display: 'threshold', lowStockThreshold: 5, parLevel: 16, weight: 0.8, note: 'display: threshold — the count is public only at 5 or fewer' },
  { sku: 'DEMO-RUNNER-41', name: 'Trail runner, size 41', price: '€120', display: 'threshold', lowStockThreshold: 3, parLevel: 2, weight: 0.3, note: 'a size of the example shop\'s runner page: scarce', viewers: true },
  { sku: 'DEMO-RUNNER-42', name: 'Trail runner, size 42', price: '€120', display: 'threshold', lowStockThreshold: 3, parLevel: 6, weight: 0.6, note: 'display: threshold, low at 3', viewers: true },
  { sku: 'DEMO-RUNNER-43', name: 'Trail runner, size 43', price: '€120', display: 'threshold', lowStockThreshold: 3, parLevel: 10, weight: 0.3, note: 'a size of the example shop\'s runner page', viewers: true },
  { sku: 'DEMO-HOODIE', name: 'Heavyweight hoodie', price: '€59', display: 'status', lowStockThreshold: 5, parLevel: 20, weight: 0.5, note: 'display: status — never a count: “Almost gone” when low' },
  { sku: 'DEMO-CAP', name: 'Canvas cap', price: '€19', display: 'exact', lowStockThreshold: 4, parLevel: 12, weight: 0.45, note: 'display: exact, low at 4' },
  { sku: 'DEMO-BEANIE', name: 'Merino beanie', price: '€29', display: 'threshold', lowStockThreshold: 5, parLevel: 10, weight: 0.4, note: 'display: threshold' },
  { sku: 'DEMO-BOTTLE', name: 'Steel water bottle', price: '€22', display: 'status', lowStockThreshold: 10, parLevel: 40, weight: 0.35, note: 'display: status, low at 10' },
  { sku: 'DEMO-SOCKS', name: 'Wool socks, 3-pack', price: '€18', display: 'exact', lowStockThreshold: 6, parLevel: 18, weight: 0.3, note: 'display: exact, low at 6' },
  { sku: 'DEMO-TOTE', name: 'Organic tote bag', price: '€12', display: 'threshold', lowStockThreshold: 5, parLevel: 14, weight: 0.25, note: 'display: threshold' },
  { sku: 'DEMO-LANTERN', name: 'Camp lantern', price: '€39', display: 'exact', lowStockThreshold: 3, parLevel: 5, weight: 0.3, note: 'display: exact, a short run' },
  { sku: 'DEMO-KNIFE', name: 'Folding knife', price: '€49', display: 'status', lowStockThreshold: 2, parLevel: 4, weight: 0.25, note: 'display: status, low at 2' },
];
