/**
 * `--rounds n`: the same comparison n times, the systems' order reversed every other round. On a
 * shared 2-core machine the order alone has moved a system's figures by ×1.2–2 (the one that runs
 * first or second is favoured, depending on what else the machine does), so one run cannot tell a
 * 20 % difference. The summary gives each round's headline figures, their medians, and each system's
 * figure against the first-named system's round by round, with the geometric mean of those ratios.
 */
import type { ScenarioName, ScenarioResult, SystemResult } from './scenarios.js';

interface Headline {
  readonly name: string;
  readonly value: (r: SystemResult) => number | null | undefined;
}

/** The figures a scenario is judged by (higher is better unless the name says otherwise). */
const headlines: Partial<Record<ScenarioName, readonly Headline[]>> = {
  'flash-sale': [
    { name: 'watched adjusts/s', value: (r) => r.metrics.flashSale?.watched.perSec },
    { name: 'kept', value: (r) => r.metrics.flashSale?.kept },
  ],
  fanout: [
    { name: 'frames/s', value: (r) => r.metrics.framesPerSec },
    { name: 'frames per server CPU-s', value: (r) => r.metrics.framesPerServerCpuSecond },
  ],
  'hot-product': [
    { name: 'frames/s', value: (r) => r.metrics.framesPerSec },
    { name: 'frames per server CPU-s', value: (r) => r.metrics.framesPerServerCpuSecond },
  ],
  writes: [
    { name: 'adjusts/s one SKU', value: (r) => r.metrics.writes?.perSec },
    { name: 'adjusts/s spread', value: (r) => r.metrics.writesSpread?.perSec },
  ],
  'connect-storm': [{ name: 'ms to all snapshots (lower is better)', value: (r) => r.metrics.connectAllMs }],
  capacity: [{ name: 'bytes per connection (lower is better)', value: (r) => r.metrics.bytesPerConnection }],
};

const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const geometricMean = (values: number[]): number | null =>
  values.length === 0 ? null : Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
const show = (value: number | null | undefined, digits = 2): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '–' : value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits);

/** Markdown lines summing up the rounds; none when the scenario has no headline or there was one round. */
export function roundsSummary(rounds: readonly ScenarioResult[]): string[] {
  const first = rounds[0];
  const figures = first ? headlines[first.scenario] : undefined;
  if (!first || !figures || rounds.length < 2) return [];
  const systems = first.options.systems;
  const [reference, ...others] = systems;
  const lines: string[] = [];
  for (const figure of figures) {
    const valueOf = (round: ScenarioResult, system: string) => {
      const result = round.results.find((r) => r.system === system && r.ok);
      const value = result ? figure.value(result) : null;
      return value === null || value === undefined || !Number.isFinite(value) ? null : value;
    };
    lines.push(`${figure.name}`, '', `| round (order) | ${systems.join(' | ')} |${others.map((s) => ` ${s} ÷ ${reference} |`).join('')}`);
    lines.push(`|---|${systems.map(() => '---:|').join('')}${others.map(() => '---:|').join('')}`);
    const ratios = new Map<string, number[]>(others.map((s) => [s, []]));
    rounds.forEach((round, i) => {
      const base = valueOf(round, reference!);
      const cells = systems.map((s) => show(valueOf(round, s)));
      const ratioCells = others.map((s) => {
        const mine = valueOf(round, s);
        if (mine === null || base === null || base === 0) return '–';
        ratios.get(s)!.push(mine / base);
        return `×${(mine / base).toFixed(2)}`;
      });
      lines.push(`| ${i + 1} (${round.options.systems.join(', ')}) | ${cells.join(' | ')} |${ratioCells.map((c) => ` ${c} |`).join('')}`);
    });
    const medians = systems.map((s) => show(median(rounds.map((r) => valueOf(r, s)).filter((v): v is number => v !== null))));
    const means = others.map((s) => {
      const g = geometricMean(ratios.get(s)!);
      return g === null ? '–' : `×${g.toFixed(2)} (geometric mean)`;
    });
    lines.push(`| median | ${medians.join(' | ')} |${means.map((m) => ` ${m} |`).join('')}`, '');
  }
  return lines;
}
