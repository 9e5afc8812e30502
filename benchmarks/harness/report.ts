/**
 * Turns a scenario result into what people read: a Markdown table, an SVG chart (latency percentiles
 * and throughput per system, hand-written), and the ratios against each baseline, printed last.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Metrics, ScenarioResult, SystemResult } from './scenarios.js';
import { baselineNames, stockwireNames, systemLabels, type SystemName } from './systems.js';

const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || Number.isNaN(value) ? '—' : value.toLocaleString('en-US', { maximumFractionDigits: digits });

interface Column {
  readonly title: string;
  readonly value: (m: Metrics) => string;
}

const columnsByScenario: Record<ScenarioResult['scenario'], Column[]> = {
  fanout: [
    { title: 'frames/s', value: (m) => fmt(m.framesPerSec, 0) },
    { title: 'frames per server CPU-s', value: (m) => fmt(m.framesPerServerCpuSecond, 0) },
    { title: 'p50 ms', value: (m) => fmt(m.latency?.p50Ms, 2) },
    { title: 'p99 ms', value: (m) => fmt(m.latency?.p99Ms, 2) },
    { title: 'p99.9 ms', value: (m) => fmt(m.latency?.p999Ms, 2) },
    { title: 'lost', value: (m) => fmt(m.lost, 0) },
    { title: 'writes/s', value: (m) => fmt(m.writes?.perSec, 0) },
    { title: 'frames', value: (m) => `${fmt(m.framesDelivered, 0)} / ${fmt(m.framesExpectedUnfolded, 0)}` },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
    { title: 'peak RSS MB', value: (m) => fmt(m.server?.peakRssMb, 0) },
    { title: 'Redis CPU s', value: (m) => fmt(m.redisCpuSeconds, 1) },
    { title: 'generator CPU', value: (m) => (m.generator ? `${fmt(m.generator.cpuSeconds, 1)} s (${fmt(m.generator.shareOfMachine * 100, 0)} %)` : '—') },
  ],
  'hot-product': [
    { title: 'frames/s', value: (m) => fmt(m.framesPerSec, 0) },
    { title: 'frames per server CPU-s', value: (m) => fmt(m.framesPerServerCpuSecond, 0) },
    { title: 'converge ms', value: (m) => fmt(m.convergeMs, 0) },
    { title: 'lost', value: (m) => fmt(m.lost, 0) },
    { title: 'writes/s', value: (m) => fmt(m.writes?.perSec, 0) },
    { title: 'frames', value: (m) => `${fmt(m.framesDelivered, 0)} / ${fmt(m.framesExpectedUnfolded, 0)}` },
    { title: 'dropped', value: (m) => fmt(m.connections?.dropped, 0) },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
    { title: 'peak RSS MB', value: (m) => fmt(m.server?.peakRssMb, 0) },
    { title: 'generator CPU', value: (m) => (m.generator ? `${fmt(m.generator.cpuSeconds, 1)} s (${fmt(m.generator.shareOfMachine * 100, 0)} %)` : '—') },
  ],
  'connect-storm': [
    { title: 'all hold a snapshot ms', value: (m) => fmt(m.connectAllMs, 0) },
    { title: 'open', value: (m) => fmt(m.connections?.open, 0) },
    { title: 'refused', value: (m) => fmt(m.connections?.failed, 0) },
    { title: 'dropped', value: (m) => fmt(m.connections?.dropped, 0) },
    { title: 'no snapshot', value: (m) => fmt(m.lost, 0) },
    { title: 'errors', value: (m) => Object.entries(m.connections?.errors ?? {}).map(([k, v]) => `${k}×${v}`).join(' ') || '—' },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
    { title: 'peak RSS MB', value: (m) => fmt(m.server?.peakRssMb, 0) },
  ],
  capacity: [
    { title: 'idle subscribed', value: (m) => fmt(m.idleConnections, 0) },
    { title: 'RSS before MB', value: (m) => fmt(m.rssBeforeMb, 1) },
    { title: 'RSS after MB', value: (m) => fmt(m.rssAfterMb, 1) },
    { title: 'bytes/conn', value: (m) => fmt(m.bytesPerConnection, 0) },
    { title: 'KiB/conn', value: (m) => fmt(m.bytesPerConnection === null || m.bytesPerConnection === undefined ? null : m.bytesPerConnection / 1024, 2) },
    { title: 'refused', value: (m) => fmt(m.connections?.failed, 0) },
  ],
  writes: [
    { title: 'hot SKU adjusts/s', value: (m) => fmt(m.writes?.perSec, 0) },
    { title: 'hot p50 / p99 ms', value: (m) => `${fmt(m.writes?.latency?.p50Ms, 2)} / ${fmt(m.writes?.latency?.p99Ms, 2)}` },
    { title: 'spread adjusts/s', value: (m) => fmt(m.writesSpread?.perSec, 0) },
    { title: 'spread p50 / p99 ms', value: (m) => `${fmt(m.writesSpread?.latency?.p50Ms, 2)} / ${fmt(m.writesSpread?.latency?.p99Ms, 2)}` },
    { title: 'failed', value: (m) => fmt((m.writes?.failed ?? 0) + (m.writesSpread?.failed ?? 0), 0) },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
  ],
  'flash-sale': [
    { title: 'adjusts/s, nobody watching', value: (m) => fmt(m.flashSale?.unwatched.perSec, 0) },
    { title: 'adjusts/s, watched', value: (m) => fmt(m.flashSale?.watched.perSec, 0) },
    { title: 'kept', value: (m) => (m.flashSale?.kept == null ? '—' : `${fmt(m.flashSale.kept, 2)}×`) },
    { title: 'all watchers final ms', value: (m) => fmt(m.convergeMs, 0) },
    { title: 'PG xact per adjust (unwatched / watched)', value: (m) => `${fmt(m.flashSale?.xactPerAdjustUnwatched, 2)} / ${fmt(m.flashSale?.xactPerAdjustWatched, 2)}` },
    { title: 'watched p50 / p99 ms', value: (m) => `${fmt(m.flashSale?.watched.latency?.p50Ms, 1)} / ${fmt(m.flashSale?.watched.latency?.p99Ms, 1)}` },
    { title: 'watchers', value: (m) => `${fmt(m.connections?.open, 0)} (dropped ${fmt(m.connections?.dropped, 0)})` },
    { title: 'lost', value: (m) => fmt(m.lost, 0) },
    { title: 'failed', value: (m) => fmt((m.flashSale?.unwatched.failed ?? 0) + (m.flashSale?.watched.failed ?? 0), 0) },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
    { title: 'peak RSS MB', value: (m) => fmt(m.server?.peakRssMb, 0) },
  ],
  'churn-attack': [
    { title: 'adjust p50 / p99 ms alone', value: (m) => `${fmt(m.writes?.latency?.p50Ms, 2)} / ${fmt(m.writes?.latency?.p99Ms, 2)}` },
    { title: 'adjust p50 / p99 ms under attack', value: (m) => `${fmt(m.writesUnderAttack?.latency?.p50Ms, 2)} / ${fmt(m.writesUnderAttack?.latency?.p99Ms, 2)}` },
    { title: 'p99 ratio (≤ 2)', value: (m) => fmt(m.attackP99Ratio, 2) },
    { title: 'server: adjust p99 ≤ ms alone / under attack', value: (m) => `${fmt(m.serverAlone?.adjustP99AtMostMs, 1)} / ${fmt(m.serverUnderAttack?.adjustP99AtMostMs, 1)}` },
    { title: 'server: event loop delay p99 / max ms alone', value: (m) => `${fmt(m.serverAlone?.eventLoopP99Ms, 1)} / ${fmt(m.serverAlone?.eventLoopMaxMs, 1)}` },
    { title: 'server: event loop delay p99 / max ms under attack', value: (m) => `${fmt(m.serverUnderAttack?.eventLoopP99Ms, 1)} / ${fmt(m.serverUnderAttack?.eventLoopMaxMs, 1)}` },
    { title: 'adjusts ok / failed', value: (m) => `${fmt((m.writes?.ok ?? 0) + (m.writesUnderAttack?.ok ?? 0), 0)} / ${fmt((m.writes?.failed ?? 0) + (m.writesUnderAttack?.failed ?? 0), 0)}` },
    { title: 'attack sockets opened / refused / closed (reconnect tries)', value: (m) => `${fmt(m.attack?.opened, 0)} / ${fmt(m.attack?.refused, 0)} / ${fmt(m.attack?.closed, 0)} (${fmt(m.attack?.reconnects, 0)})` },
    { title: 'attack subs sent', value: (m) => fmt(m.attack?.subsSent, 0) },
    { title: 'answered: snapshots / rate_limited', value: (m) => `${fmt(m.attack?.snapshots, 0)} / ${fmt(m.attack?.errors.rate_limited ?? 0, 0)}` },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
    { title: 'generator CPU s', value: (m) => fmt(m.generator?.cpuSeconds, 1) },
  ],
  limits: [
    { title: 'write p50 / p99 ms alone', value: (m) => `${fmt(m.limits?.alone.writes.latency?.p50Ms, 2)} / ${fmt(m.limits?.alone.writes.latency?.p99Ms, 2)}` },
    { title: 'write p50 / p99 ms flooded', value: (m) => `${fmt(m.limits?.flooded.writes.latency?.p50Ms, 2)} / ${fmt(m.limits?.flooded.writes.latency?.p99Ms, 2)}` },
    { title: 'write p99 ratio (≤ 1.2)', value: (m) => fmt(m.limits?.writeP99Ratio, 2) },
    { title: 'frame p50 / p99 ms alone', value: (m) => `${fmt(m.limits?.alone.frames?.p50Ms, 2)} / ${fmt(m.limits?.alone.frames?.p99Ms, 2)}` },
    { title: 'frame p50 / p99 ms flooded', value: (m) => `${fmt(m.limits?.flooded.frames?.p50Ms, 2)} / ${fmt(m.limits?.flooded.frames?.p99Ms, 2)}` },
    { title: 'frame p99 ratio (≤ 1.2)', value: (m) => fmt(m.limits?.frameP99Ratio, 2) },
    { title: 'flood writes ok / 429', value: (m) => `${fmt(m.limits?.flooder.writesOk, 0)} / ${fmt(m.limits?.flooder.writes429, 0)}` },
    { title: 'flood sockets most open / 429', value: (m) => `${fmt(m.limits?.flooder.sockets.maxOpen, 0)} / ${fmt(m.limits?.flooder.sockets.refused429, 0)}` },
    { title: 'lost', value: (m) => fmt(m.lost, 0) },
    { title: 'server CPU s', value: (m) => fmt(m.server?.cpuSeconds, 1) },
  ],
};

export function markdownTable(result: ScenarioResult): string {
  const columns = columnsByScenario[result.scenario];
  const lines = [
    `### ${result.scenario} — ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `| system | ${columns.map((c) => c.title).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  for (const r of result.results) {
    if (!r.ok) {
      lines.push(`| ${r.label} | failed: ${r.error?.replace(/\|/g, '/').slice(0, 200)} ${columns.slice(1).map(() => '|').join(' ')}|`);
      continue;
    }
    lines.push(`| ${r.label} | ${columns.map((c) => c.value(r.metrics)).join(' | ')} |`);
  }
  const o = result.options;
  lines.push(
    '',
    `Sizes: ${o.client} client, ${o.connections} connections, ${o.products} products × ${o.perConn} per connection, ${o.rate} writes/s for ${o.durationS} s ` +
      `(settle ${o.settleS} s), fold window ${o.publishIntervalMs} ms, ` +
      `${o.writeCombineMaxItems === undefined ? '' : `WRITE_COMBINE_MAX_ITEMS=${o.writeCombineMaxItems}${o.writeCombineMaxItems === 1 ? ' (combining off)' : ''}, `}` +
      `${o.workers} load workers over ${o.sourceAddresses} source addresses. ` +
      `Machine: ${result.machine.cpus} × ${result.machine.cpuModel}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}, open files ${result.machine.openFilesLimit.soft}.`,
  );
  for (const note of result.notes) lines.push(`- ${note}`);
  return lines.join('\n');
}

/** Ratios of each Stockwire variant against each baseline, and of the RabbitMQ bus against the Redis bus, on the scenario's headline metrics. */
export function ratios(result: ScenarioResult): string[] {
  const by = new Map<SystemName, SystemResult>(result.results.filter((r) => r.ok).map((r) => [r.system, r]));
  const lines: string[] = [];
  if (result.scenario === 'churn-attack') {
    for (const r of result.results) {
      if (r.ok) lines.push(`${r.label}: adjust p99 under the churn attack ×${fmt(r.metrics.attackP99Ratio, 2)} of the same run without it (target ≤ 2)`);
    }
    return lines;
  }
  if (result.scenario === 'limits') {
    for (const r of result.results) {
      const l = r.metrics.limits;
      if (r.ok && l) {
        lines.push(`${r.label}: write p99 while another merchant floods ×${fmt(l.writeP99Ratio, 2)}, frame p99 ×${fmt(l.frameP99Ratio, 2)} of the same run without it (target ≤ 1.2)`);
      }
    }
    return lines;
  }
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
  if (result.scenario === 'flash-sale') return flashSaleRatios(by, ratio);
  const pairs: Array<[SystemName, SystemName]> = stockwireNames.flatMap((ours) => baselineNames.map((base): [SystemName, SystemName] => [ours, base]));
  pairs.push(['stockwire-amqp', 'stockwire'], ['stockwire-amqp-delivery', 'stockwire-delivery']);
  for (const [ours, base] of pairs) {
    const mine = by.get(ours);
    const theirs = by.get(base);
    if (!mine || !theirs) continue;
    const m = mine.metrics;
    const t = theirs.metrics;
    const parts: string[] = [];
    if (result.scenario === 'fanout' || result.scenario === 'hot-product') {
      parts.push(`frames/s ×${fmt(ratio(m.framesPerSec, t.framesPerSec), 2)}`);
      parts.push(`frames per server CPU-s ×${fmt(ratio(m.framesPerServerCpuSecond, t.framesPerServerCpuSecond), 2)}`);
      if (m.latency && t.latency) parts.push(`p99 ×${fmt(ratio(m.latency.p99Ms, t.latency.p99Ms), 3)}`);
      parts.push(`server CPU ×${fmt(ratio(m.server?.cpuSeconds, t.server?.cpuSeconds), 2)}`);
    } else if (result.scenario === 'connect-storm') {
      parts.push(`time to all snapshots ×${fmt(ratio(m.connectAllMs, t.connectAllMs), 2)}`);
    } else if (result.scenario === 'capacity') {
      parts.push(`bytes/conn ×${fmt(ratio(m.bytesPerConnection, t.bytesPerConnection), 2)}`);
    }
    if (parts.length > 0) lines.push(`${mine.label} vs ${theirs.label}: ${parts.join(', ')}`);
  }
  // The bin (its first line's node flags) against plain node with --node-flags, in the same run.
  const bin = by.get('stockwire');
  const flagged = by.get('stockwire-node-flags');
  if (bin && flagged) {
    const [b, f] = [bin.metrics, flagged.metrics];
    const parts: string[] = [];
    if (result.scenario === 'fanout' || result.scenario === 'hot-product') {
      parts.push(`frames/s ×${fmt(ratio(b.framesPerSec, f.framesPerSec), 2)}`, `frames per server CPU-s ×${fmt(ratio(b.framesPerServerCpuSecond, f.framesPerServerCpuSecond), 2)}`);
      if (b.latency && f.latency) parts.push(`p50 ×${fmt(ratio(b.latency.p50Ms, f.latency.p50Ms), 2)}`, `p99 ×${fmt(ratio(b.latency.p99Ms, f.latency.p99Ms), 2)}`);
    } else if (result.scenario === 'writes') {
      parts.push(`adjusts/s one SKU ×${fmt(ratio(b.writes?.perSec, f.writes?.perSec), 2)}`, `spread ×${fmt(ratio(b.writesSpread?.perSec, f.writesSpread?.perSec), 2)}`);
      parts.push(`p99 one SKU ×${fmt(ratio(b.writes?.latency?.p99Ms, f.writes?.latency?.p99Ms), 2)}`, `spread ×${fmt(ratio(b.writesSpread?.latency?.p99Ms, f.writesSpread?.latency?.p99Ms), 2)}`);
    } else if (result.scenario === 'capacity') {
      parts.push(`RSS idle ×${fmt(ratio(b.rssBeforeMb, f.rssBeforeMb), 2)}`, `RSS with clients ×${fmt(ratio(b.rssAfterMb, f.rssAfterMb), 2)}`);
    }
    parts.push(`server CPU ×${fmt(ratio(b.server?.cpuSeconds, f.server?.cpuSeconds), 2)}`, `peak RSS ×${fmt(ratio(b.server?.peakRssMb, f.server?.peakRssMb), 2)}`);
    lines.push(`${bin.label} vs ${flagged.label}: ${parts.join(', ')}`);
  }
  // The same end-to-end path on a Redis Cluster against one Redis, measured in the same run.
  const single = by.get('stockwire');
  const cluster = by.get('stockwire-cluster');
  if (single && cluster && (result.scenario === 'fanout' || result.scenario === 'hot-product')) {
    const [c, s] = [cluster.metrics, single.metrics];
    const parts = [`frames/s ×${fmt(ratio(c.framesPerSec, s.framesPerSec), 2)}`];
    if (c.latency && s.latency) parts.push(`p99 ×${fmt(ratio(c.latency.p99Ms, s.latency.p99Ms), 3)}`);
    parts.push(`server CPU ×${fmt(ratio(c.server?.cpuSeconds, s.server?.cpuSeconds), 2)}`, `Redis CPU ×${fmt(ratio(c.redisCpuSeconds, s.redisCpuSeconds), 2)}`);
    lines.push(`${cluster.label} vs ${single.label}: ${parts.join(', ')}`);
  }
  return lines;
}

/** flash-sale: each variant against the split roles, two threads against one, adaptive folding against fixed windows, and yielding threads against equal priority. */
function flashSaleRatios(by: Map<SystemName, SystemResult>, ratio: (a: number | null | undefined, b: number | null | undefined) => number | null): string[] {
  const lines: string[] = [];
  const compare = (ours: SystemName, base: SystemName) => {
    const mine = by.get(ours)?.metrics;
    const theirs = by.get(base)?.metrics;
    if (!mine?.flashSale || !theirs?.flashSale) return;
    lines.push(
      `${systemLabels[ours]} vs ${systemLabels[base]}: adjusts/s nobody watching ×${fmt(ratio(mine.flashSale.unwatched.perSec, theirs.flashSale.unwatched.perSec), 2)}, ` +
        `watched ×${fmt(ratio(mine.flashSale.watched.perSec, theirs.flashSale.watched.perSec), 2)}, ` +
        `time to final stock ×${fmt(ratio(mine.convergeMs, theirs.convergeMs), 2)}`,
    );
  };
  for (const ours of ['stockwire-1-thread', 'stockwire-2-threads', 'stockwire-fixed-fold', 'stockwire-equal-priority', 'stockwire'] as const) compare(ours, 'stockwire-split');
  compare('stockwire-2-threads', 'stockwire-1-thread');
  compare('stockwire', 'stockwire-fixed-fold');
  compare('stockwire', 'stockwire-equal-priority');
  for (const r of by.values()) {
    if (r.metrics.flashSale) lines.push(`${r.label}: keeps ${fmt(r.metrics.flashSale.kept, 2)}× of its adjust rate with ${fmt(r.metrics.connections?.open, 0)} watchers`);
  }
  return lines;
}

const palette = ['#1f77b4', '#2ca02c', '#ff7f0e', '#d62728', '#9467bd'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Two panels: grouped bars of p50/p99/p99.9 latency (log scale) and bars of the throughput metric. */
export function svgChart(result: ScenarioResult): string {
  const ok = result.results.filter((r) => r.ok);
  const width = 960;
  const height = 420;
  const panelW = 440;
  const top = 60;
  const plotH = 260;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="20" y="28" font-size="16" font-weight="bold">${esc(`Stockwire bench: ${result.scenario} (${result.startedAt.slice(0, 10)})`)}</text>`,
  ];
  const throughput = (m: Metrics): { label: string; value: number | null } => {
    switch (result.scenario) {
      case 'fanout':
      case 'hot-product':
        return { label: 'frames delivered per second', value: m.framesPerSec ?? null };
      case 'connect-storm':
        return { label: 'ms until all hold a snapshot (lower is better)', value: m.connectAllMs ?? null };
      case 'capacity':
        return { label: 'bytes per idle subscribed connection (lower is better)', value: m.bytesPerConnection ?? null };
      case 'writes':
        return { label: 'adjusts per second (hot SKU, 1,000 SKUs)', value: m.writes?.perSec ?? null };
      case 'flash-sale':
        return { label: 'hot-SKU adjusts per second, watched', value: m.flashSale?.watched.perSec ?? null };
      case 'churn-attack':
        return { label: 'adjust p99 under attack ÷ alone (≤ 2)', value: m.attackP99Ratio ?? null };
      case 'limits':
        return { label: "frame p99 while another merchant floods ÷ alone (≤ 1.2)", value: m.limits?.frameP99Ratio ?? null };
    }
  };
  // Left panel: latency percentiles, log scale.
  const withLatency = ok.filter((r) => r.metrics.latency || r.metrics.writes?.latency);
  const latencyOf = (r: SystemResult) => r.metrics.latency ?? r.metrics.writes?.latency ?? null;
  const left = 60;
  parts.push(`<text x="${left}" y="${top - 12}" font-weight="bold">${result.scenario === 'writes' || result.scenario === 'churn-attack' ? 'write latency (alone)' : 'write-to-frame latency'} (ms, log scale)</text>`);
  const maxLatency = Math.max(1, ...withLatency.map((r) => latencyOf(r)?.p999Ms ?? 1));
  const minLatency = 0.1;
  const logY = (v: number) => top + plotH - (Math.log10(Math.max(v, minLatency) / minLatency) / Math.log10(maxLatency / minLatency)) * plotH;
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/><line x1="${left}" y1="${top + plotH}" x2="${left + panelW - 40}" y2="${top + plotH}" stroke="#333"/>`);
  for (let tick = minLatency; tick <= maxLatency * 1.001; tick *= 10) {
    const y = logY(tick);
    parts.push(`<line x1="${left - 4}" y1="${y}" x2="${left + panelW - 40}" y2="${y}" stroke="#eee"/><text x="${left - 8}" y="${y + 4}" text-anchor="end">${fmt(tick, 1)}</text>`);
  }
  const percentiles = ['p50Ms', 'p99Ms', 'p999Ms'] as const;
  const groupW = (panelW - 60) / 3;
  percentiles.forEach((p, gi) => {
    const gx = left + 10 + gi * groupW;
    parts.push(`<text x="${gx + groupW / 2 - 10}" y="${top + plotH + 18}" text-anchor="middle">${p.replace('Ms', '').replace('p999', 'p99.9')}</text>`);
    const barW = Math.max(6, (groupW - 20) / Math.max(1, withLatency.length));
    withLatency.forEach((r, i) => {
      const v = latencyOf(r)?.[p] ?? 0;
      const y = logY(v);
      const color = palette[ok.indexOf(r) % palette.length];
      parts.push(`<rect x="${gx + i * barW}" y="${y}" width="${barW - 2}" height="${top + plotH - y}" fill="${color}"><title>${esc(r.label)} ${p}: ${v} ms</title></rect>`);
    });
  });
  if (withLatency.length === 0) parts.push(`<text x="${left + 20}" y="${top + plotH / 2}">no latency samples in this scenario</text>`);
  // Right panel: throughput metric, linear.
  const right = 540;
  const { label } = throughput(ok[0]?.metrics ?? {});
  parts.push(`<text x="${right}" y="${top - 12}" font-weight="bold">${esc(label)}</text>`);
  const values = ok.map((r) => throughput(r.metrics).value ?? 0);
  const maxValue = Math.max(1, ...values);
  const barW = Math.min(60, (panelW - 60) / Math.max(1, ok.length));
  parts.push(`<line x1="${right}" y1="${top}" x2="${right}" y2="${top + plotH}" stroke="#333"/><line x1="${right}" y1="${top + plotH}" x2="${right + panelW - 40}" y2="${top + plotH}" stroke="#333"/>`);
  ok.forEach((r, i) => {
    const v = values[i]!;
    const h = (v / maxValue) * plotH;
    const x = right + 10 + i * barW;
    parts.push(`<rect x="${x}" y="${top + plotH - h}" width="${barW - 6}" height="${h}" fill="${palette[i % palette.length]}"><title>${esc(r.label)}: ${v}</title></rect>`);
    parts.push(`<text x="${x + (barW - 6) / 2}" y="${top + plotH - h - 4}" text-anchor="middle" font-size="10">${fmt(v, 0)}</text>`);
  });
  // Legend.
  ok.forEach((r, i) => {
    const x = 20 + (i % 3) * 310;
    const y = top + plotH + 44 + Math.floor(i / 3) * 18;
    parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${palette[i % palette.length]}"/><text x="${x + 18}" y="${y}">${esc(r.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface WrittenReport {
  readonly json: string;
  readonly markdown: string;
  readonly svg: string;
}

/** Writes `<scenario>-<date>.json|.md|.svg` into `dir` and answers the paths. */
export function writeReport(result: ScenarioResult, dir: string): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const stamp = result.startedAt.slice(0, 19).replace(/:/g, '-');
  const base = path.join(dir, `${result.scenario}-${stamp}`);
  const markdown = `${markdownTable(result)}\n\n${ratios(result).map((l) => `- ${l}`).join('\n')}\n`;
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown);
  writeFileSync(`${base}.svg`, `${svgChart(result)}\n`);
  return { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` };
}
