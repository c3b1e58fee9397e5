// The destinations: each one's state, with enabling one disabled as gone, and pausing and
// resuming one by hand (kept in the store, so a pause outlives a restart).

import type { JSX } from "preact";
import { ActionForm, Layout, type PageContext, TableWrap, Time } from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";
import { destinationRows, stateKind } from "../states.ts";

/** The destinations page. */
export async function destinationsPage(
  options: ConsoleOptions,
  context: PageContext,
): Promise<JSX.Element> {
  const rows = await destinationRows(options, context.now);
  const csrf = context.csrf!;
  const redact = options.redactor.redact;
  return (
    <Layout title="Destinations" current="/ui/destinations" context={context}>
      {rows.length === 0 && <p>The config has no destinations.</p>}
      {rows.length > 0 && (
        <TableWrap label="Destinations">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">Type</th>
                <th scope="col">State</th>
                <th scope="col" class="num">Queued</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const path = `/ui/destinations/${encodeURIComponent(row.name)}`;
                return (
                  <tr key={row.name}>
                    <th scope="row">{row.name}</th>
                    <td data-label="Type">{row.type}</td>
                    <td data-label="State">
                      <span class={`badge ${stateKind(row.state)}`}>{row.label}</span>
                      {row.gone && (
                        <p class="muted">
                          Since <Time at={row.gone.at} />:{" "}
                          <span class="mono">{redact(row.gone.reason)}</span>
                        </p>
                      )}
                      {row.pausedAt !== null && (
                        <p class="muted">
                          Paused at <Time at={row.pausedAt} />
                        </p>
                      )}
                    </td>
                    <td data-label="Queued" class="num">{row.queue.depth}</td>
                    <td data-label="Actions">
                      <div class="actions">
                        {row.gone && (
                          <ActionForm
                            action={`${path}/enable`}
                            csrf={csrf}
                            label="Enable"
                            ariaLabel={`Enable ${row.name}`}
                            kind="primary"
                          />
                        )}
                        {row.pausedAt === null
                          ? (
                            <ActionForm
                              action={`${path}/pause`}
                              csrf={csrf}
                              label="Pause"
                              ariaLabel={`Pause ${row.name}`}
                              confirm={`Pause ${row.name}? Nothing is sent to it until it is resumed.`}
                            />
                          )
                          : (
                            <ActionForm
                              action={`${path}/resume`}
                              csrf={csrf}
                              label="Resume"
                              ariaLabel={`Resume ${row.name}`}
                              kind="primary"
                            />
                          )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
      <p class="muted">
        A destination disabled as gone stays disabled until enabled here, with{" "}
        <code>hero-relay enable</code>, or through the admin API. A paused destination keeps its
        deliveries queued and sends nothing until it is resumed; pauses outlive restarts.
      </p>
    </Layout>
  );
}
