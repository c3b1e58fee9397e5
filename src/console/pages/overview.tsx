// The overview at `/`: every destination's state, queue and activity, and events per type over
// the last 24 hours. The script reloads it every 10 s; without it, it is a plain page.

import type { JSX } from "preact";
import { chartSince, EventChart, HOUR_MS } from "../chart.tsx";
import { formatSpan, Layout, type PageContext, TableWrap, Time } from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";
import { destinationRows, stateKind } from "../states.ts";

/** The overview page. */
export async function overviewPage(
  options: ConsoleOptions,
  context: PageContext,
): Promise<JSX.Element> {
  const { now } = context;
  const [rows, counts] = await Promise.all([
    destinationRows(options, now),
    options.store.eventCounts(chartSince(now), HOUR_MS),
  ]);
  const redact = options.redactor.redact;
  return (
    <Layout title="Overview" current="/" context={context} refresh={10}>
      <p class="refresh" hidden>
        <input type="checkbox" id="auto-refresh" />{" "}
        <label for="auto-refresh" class="refresh">Refresh this page every 10 seconds</label>
      </p>
      <section aria-labelledby="destinations-title">
        <h2 id="destinations-title">Destinations</h2>
        {rows.length === 0 && <p>The config has no destinations.</p>}
        {rows.length > 0 && (
          <TableWrap label="Destinations">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Destination</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">Queued</th>
                  <th scope="col">Oldest waiting</th>
                  <th scope="col" class="num">Delivered 1 h / 24 h</th>
                  <th scope="col" class="num">Failed 1 h / 24 h</th>
                  <th scope="col">Last success</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.name}>
                    <th scope="row">
                      <a href={`/ui/deliveries?destination=${encodeURIComponent(row.name)}`}>
                        {row.name}
                      </a>{" "}
                      <span class="muted">({row.type})</span>
                    </th>
                    <td data-label="State">
                      <span class={`badge ${stateKind(row.state)}`}>{row.label}</span>
                    </td>
                    <td data-label="Queued" class="num">{row.queue.depth}</td>
                    <td data-label="Oldest waiting">
                      {row.queue.oldestAt === null ? <span class="muted">none</span> : (
                        <>
                          <Time at={row.queue.oldestAt} />{" "}
                          <span class="muted">
                            ({formatSpan(now - row.queue.oldestAt)} ago)
                          </span>
                        </>
                      )}
                    </td>
                    <td data-label="Delivered 1 h / 24 h" class="num">
                      {row.activity.deliveredHour} / {row.activity.deliveredDay}
                    </td>
                    <td data-label="Failed 1 h / 24 h" class="num">
                      {row.activity.failedHour} / {row.activity.failedDay}
                    </td>
                    <td data-label="Last success">
                      <Time at={row.activity.lastSuccessAt} />
                    </td>
                    <td data-label="Last error" class="wide">
                      {row.activity.lastError === null ? <span class="muted">none</span> : (
                        <>
                          <Time at={row.activity.lastError.at} />
                          {row.activity.lastError.httpStatus !== null &&
                            ` (HTTP ${row.activity.lastError.httpStatus})`}
                          <br />
                          <span class="mono">{redact(row.activity.lastError.error)}</span>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
      <EventChart counts={counts} now={now} />
    </Layout>
  );
}
