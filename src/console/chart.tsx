// Events per type over the last 24 hours: a small stacked bar chart drawn as inline SVG (no chart
// library, no download), with a table that says the same for screen readers and for reading.

import type { JSX } from "preact";
import type { EventCount } from "../store.ts";
import { TableWrap } from "./layout.tsx";

/** One hour in ms: the chart's bucket. */
export const HOUR_MS = 3_600_000;

/** Hours the chart spans. */
export const CHART_HOURS = 24;

/** Colour classes for the types, in order; types past the last share it. */
const SERIES = 6;

/** The start of the chart's first bucket, for a `now`: 24 buckets end with the current hour. */
export function chartSince(now: number): number {
  return Math.floor(now / HOUR_MS) * HOUR_MS - (CHART_HOURS - 1) * HOUR_MS;
}

/** The chart and its table. */
export function EventChart(props: { counts: readonly EventCount[]; now: number }): JSX.Element {
  const since = chartSince(props.now);
  const totals = new Map<string, number>();
  for (const c of props.counts) totals.set(c.type, (totals.get(c.type) ?? 0) + c.count);
  const types = [...totals.keys()].sort((a, b) =>
    totals.get(b)! - totals.get(a)! || (a < b ? -1 : 1)
  );
  const series = new Map(types.map((t, i) => [t, Math.min(i, SERIES - 1)]));
  const hours = Array.from({ length: CHART_HOURS }, (_, i) => since + i * HOUR_MS);
  const byHour = new Map<number, EventCount[]>();
  for (const c of props.counts) {
    if (c.bucket < since) continue;
    const list = byHour.get(c.bucket) ?? [];
    list.push(c);
    byHour.set(c.bucket, list);
  }
  const hourTotals = hours.map((h) => (byHour.get(h) ?? []).reduce((n, c) => n + c.count, 0));
  const max = Math.max(1, ...hourTotals);
  const total = hourTotals.reduce((a, b) => a + b, 0);
  const [width, height, left, bottom, top] = [480, 140, 28, 18, 8];
  const plot = height - bottom - top;
  const step = (width - left) / CHART_HOURS;
  const lastHour = hours.at(-1)!;
  const summary = total === 0
    ? "No events in the last 24 hours."
    : `${total} events in the last 24 hours, at most ${max} in one hour.`;
  return (
    <section aria-labelledby="chart-title">
      <h2 id="chart-title">Events per type, last 24 hours</h2>
      <p class="muted">{summary}</p>
      {total > 0 && (
        <>
          <svg
            class="chart"
            viewBox={`0 0 ${width} ${height}`}
            role="img"
            aria-labelledby="chart-svg-title"
          >
            <title id="chart-svg-title">{`Events per hour, stacked by type. ${summary}`}</title>
            <line class="axis" x1={left} y1={top + plot} x2={width} y2={top + plot} />
            <text x={left - 4} y={top + 8} text-anchor="end">{String(max)}</text>
            <text x={left - 4} y={top + plot} text-anchor="end">0</text>
            {hours.map((h, i) => {
              let y = top + plot;
              return (
                <g key={h}>
                  {(byHour.get(h) ?? []).map((c) => {
                    const barHeight = (c.count / max) * plot;
                    y -= barHeight;
                    return (
                      <rect
                        key={c.type}
                        class={`s${series.get(c.type) ?? SERIES - 1}`}
                        x={left + i * step + 1}
                        y={y}
                        width={Math.max(1, step - 2)}
                        height={barHeight}
                      />
                    );
                  })}
                  {i % 6 === 0 && (
                    <text x={left + i * step} y={height - 4}>
                      {`${String(new Date(h).getUTCHours()).padStart(2, "0")}:00`}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
          <ul class="legend" aria-hidden="true">
            {types.map((t) => (
              <li key={t}>
                <span class={`swatch s${series.get(t)}`}></span>
                {t}
              </li>
            ))}
          </ul>
          <TableWrap label="Events per type">
            <table>
              <caption>Events per type (hours in UTC)</caption>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col" class="num">Last 24 hours</th>
                  <th scope="col" class="num">This hour</th>
                </tr>
              </thead>
              <tbody>
                {types.map((t) => (
                  <tr key={t}>
                    <th scope="row">{t}</th>
                    <td class="num">{totals.get(t)}</td>
                    <td class="num">
                      {(byHour.get(lastHour) ?? []).find((c) => c.type === t)?.count ?? 0}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </section>
  );
}
