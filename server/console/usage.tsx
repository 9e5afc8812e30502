import { LoadState, Panel, type Loaded } from './parts.js';
import type { Texts } from './texts.js';

/** `GET /v1/merchant/usage?days=30`: a row per day, newest first, and where the tag is installed. */
export interface Usage {
  readonly days: ReadonlyArray<UsageDay>;
  readonly installedOn: ReadonlyArray<{ readonly origin: string; readonly lastSeenAt: string }>;
}

interface UsageDay {
  readonly day: string;
  readonly apiCalls: number;
  readonly writes: number;
  readonly peakConnections: number;
  readonly frames: number;
}

const measures = ['apiCalls', 'writes', 'peakConnections', 'frames'] as const;
const DAYS = 30;

/** Thirty days of each measure as plain SVG bars, oldest on the left; days without a row are zero. */
export function UsageCharts(props: { t: Texts; usage: Loaded<Usage> }) {
  const { t, usage } = props;
  return (
    <Panel title={t.usage} wide id="usage">
      <LoadState loaded={usage} t={t} missing={t.usageUnavailable} />
      {usage.state === 'ready' ? (
        <div class="charts">
          {measures.map((measure) => (
            <Bars key={measure} measure={measure} t={t} values={lastDays(usage.value.days, measure)} />
          ))}
        </div>
      ) : null}
    </Panel>
  );
}

/** The last 30 UTC days ending today, oldest first. */
function lastDays(days: Usage['days'], measure: (typeof measures)[number]): Array<{ day: string; value: number }> {
  const byDay = new Map(days.map((d) => [d.day, d[measure]]));
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Array.from({ length: DAYS }, (_, i) => {
    const day = new Date(today - (DAYS - 1 - i) * 86_400_000).toISOString().slice(0, 10);
    return { day, value: byDay.get(day) ?? 0 };
  });
}

/** One measure's bars, with today's number and the 30 days' total in words (what a screen reader says). */
function Bars(props: { measure: (typeof measures)[number]; t: Texts; values: Array<{ day: string; value: number }> }) {
  const { t } = props;
  const title = t[props.measure];
  const max = Math.max(1, ...props.values.map((v) => v.value));
  const total = props.values.reduce((sum, v) => sum + v.value, 0);
  const today = props.values.at(-1)?.value ?? 0;
  const width = 300;
  const height = 80;
  const step = width / props.values.length;
  return (
    <figure class="chart" data-measure={props.measure}>
      <figcaption>
        {title}{' '}
        <span class="figures">
          {`${t.today} `}<strong data-field="today">{today.toLocaleString()}</strong>
          {` · ${t.last30Days} `}<strong data-field="total">{total.toLocaleString()}</strong>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: ${t.today} ${today}, ${t.last30Days} ${total}`} preserveAspectRatio="none">
        {props.values.map((v, i) => {
          const h = Math.round((v.value / max) * (height - 2));
          return (
            <rect key={v.day} x={i * step + 1} y={height - h} width={Math.max(1, step - 2)} height={h}>
              <title>{`${v.day}: ${v.value.toLocaleString()}`}</title>
            </rect>
          );
        })}
        <line x1="0" y1={height - 0.5} x2={width} y2={height - 0.5} />
      </svg>
    </figure>
  );
}
