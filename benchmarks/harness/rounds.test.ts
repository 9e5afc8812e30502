import { describe, expect, it } from 'vitest';
import { roundsSummary } from './rounds.js';
import type { ScenarioResult, SystemResult } from './scenarios.js';
import type { SystemName } from './systems.js';

const writes = (perSec: number) => ({ issued: 0, ok: 0, failed: 0, behind: 0, perSec, latency: null, errors: {} });
const flashSale = (system: SystemName, unwatched: number, watched: number): SystemResult => ({
  system,
  label: system,
  ok: true,
  metrics: { flashSale: { unwatched: writes(unwatched), watched: writes(watched), kept: watched / unwatched, xactPerAdjustUnwatched: null, xactPerAdjustWatched: null } },
});
const round = (results: SystemResult[]): ScenarioResult =>
  ({ scenario: 'flash-sale', options: { systems: results.map((r) => r.system) }, results }) as unknown as ScenarioResult;

describe('rounds summary', () => {
  it('gives each round, the medians and each system against the first-named one round by round', () => {
    const lines = roundsSummary([
      round([flashSale('stockwire', 1000, 500), flashSale('stockwire-split', 1000, 1000)]),
      round([flashSale('stockwire-split', 1000, 250), flashSale('stockwire', 1000, 1000)]),
      round([flashSale('stockwire', 1000, 800), flashSale('stockwire-split', 1000, 400)]),
    ]);
    const text = lines.join('\n');
    // Columns stay in the first round's order whatever order a round ran in.
    expect(lines).toContain('| 2 (stockwire-split, stockwire) | 1,000 | 250 | ×0.25 |');
    // Medians of 500/1000/800 and 1000/250/400; ratios ×2, ×0.25, ×0.5: geometric mean 0.63.
    expect(text).toContain('| median | 800 | 400 | ×0.63 (geometric mean) |');
    expect(text).toContain('kept');
  });

  it('says nothing for one round, or for a scenario without headline figures', () => {
    expect(roundsSummary([round([flashSale('stockwire', 1000, 500)])])).toEqual([]);
    const limits = { ...round([flashSale('stockwire', 1000, 500)]), scenario: 'limits' } as ScenarioResult;
    expect(roundsSummary([limits, limits])).toEqual([]);
  });
});
