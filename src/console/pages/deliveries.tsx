// The deliveries list, narrowed by destination and status, one page at a time with a keyset
// cursor; and the confirmation that states how many dead deliveries a bulk replay makes due.

import type { JSX } from "preact";
import { type DeliveryFilter, type DeliveryStatus, parseCursor } from "../../store.ts";
import {
  ActionForm,
  Csrf,
  formatSpan,
  Layout,
  type PageContext,
  StatusBadge,
  TableWrap,
  Time,
} from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";
import { newestHref, PAGE_SIZE, STATUS_LABELS, STATUSES } from "./events.tsx";

/** The most dead deliveries one bulk replay makes due again (as the admin API's replay-dead). */
export const MAX_BULK_REPLAY = 100_000;

/** The deliveries page. */
export async function deliveriesPage(
  options: ConsoleOptions,
  context: PageContext,
  url: URL,
): Promise<{ page: JSX.Element; status: number }> {
  const params = url.searchParams;
  const { filter, problems } = deliveryFilter(params);
  const after = params.get("after");
  const cursor = after === null ? null : parseCursor(after);
  if (after !== null && cursor === null) {
    problems.push("The page cursor is not one this console made");
  }
  const rows = problems.length > 0 ? [] : await options.store.searchDeliveries({
    ...filter,
    ...(cursor ? { after: { createdAt: cursor.at, id: cursor.id } } : {}),
    limit: PAGE_SIZE + 1,
  });
  const more = rows.length > PAGE_SIZE;
  const shown = rows.slice(0, PAGE_SIZE);
  const last = shown.at(-1);
  const older = new URLSearchParams(params);
  if (last) older.set("after", `${last.createdAt}.${last.id}`);
  const destinations = [...options.runtime().destinations.keys()];
  const value = (name: string) => params.get(name) ?? "";
  const bulk = new URLSearchParams();
  if (filter.destination !== undefined) bulk.set("destination", filter.destination);
  const csrf = context.csrf!;
  const back = `/ui/deliveries${url.search}`;
  return {
    status: problems.length > 0 ? 400 : 200,
    page: (
      <Layout title="Deliveries" current="/ui/deliveries" context={context}>
        <form method="get" action="/ui/deliveries" class="filters" aria-label="Filter deliveries">
          <div class="field">
            <label for="f-destination">Destination</label>
            <select id="f-destination" name="destination">
              <option value="">any</option>
              {destinations.map((d) => (
                <option key={d} value={d} selected={d === value("destination")}>{d}</option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-status">Status</label>
            <select id="f-status" name="status">
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s} selected={s === value("status")}>
                  {STATUS_LABELS[s]}
                </option>
              ))}
            </select>
          </div>
          <div class="actions">
            <button type="submit" class="primary">Show deliveries</button>
            <a href="/ui/deliveries">Clear filters</a>
          </div>
        </form>
        <p>
          <a href={`/ui/deliveries/replay-dead${bulk.size > 0 ? `?${bulk}` : ""}`}>
            Replay all dead deliveries{filter.destination !== undefined
              ? ` to ${filter.destination}`
              : ""}…
          </a>
        </p>
        {problems.length > 0 && (
          <div class="flash error" role="alert">
            <p>These filters could not be read:</p>
            <ul>{problems.map((p) => <li key={p}>{p}</li>)}</ul>
          </div>
        )}
        {problems.length === 0 && shown.length === 0 && <p>No deliveries match.</p>}
        {shown.length > 0 && (
          <TableWrap label="Deliveries">
            <table class="stack">
              <caption class="visually-hidden">Deliveries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Destination</th>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Attempts</th>
                  <th scope="col">Next attempt</th>
                  <th scope="col">Last error</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((d) => (
                  <tr key={d.id}>
                    <th scope="row">
                      <Time at={d.createdAt} />
                    </th>
                    <td data-label="Destination">{d.destination}</td>
                    <td data-label="Event">
                      <a href={`/ui/events/${encodeURIComponent(d.eventId)}`}>{d.eventType}</a>
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={d.status} />
                    </td>
                    <td data-label="Attempts" class="num">{d.attempts}</td>
                    <td data-label="Next attempt">
                      {d.status === "pending" || d.status === "failed"
                        ? d.nextAt <= context.now
                          ? "due now"
                          : `in ${formatSpan(d.nextAt - context.now)}`
                        : <span class="muted">none</span>}
                    </td>
                    <td data-label="Last error" class="mono">
                      {d.lastError === null ? "" : options.redactor.redact(d.lastError)}
                    </td>
                    <td data-label="Action">
                      <ActionForm
                        action={`/ui/deliveries/${encodeURIComponent(d.id)}/replay`}
                        csrf={csrf}
                        label="Replay"
                        ariaLabel={`Replay ${d.eventType} to ${d.destination}`}
                        fields={{ back }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
        <nav class="pager" aria-label="Pages">
          {params.has("after") && <a href={newestHref(params, "/ui/deliveries")}>← Newest</a>}
          {more && <a href={`/ui/deliveries?${older}`} rel="next">Older →</a>}
        </nav>
      </Layout>
    ),
  };
}

/** The confirmation of a bulk replay, stating how many dead deliveries match. */
export async function replayDeadPage(
  options: ConsoleOptions,
  context: PageContext,
  url: URL,
): Promise<JSX.Element> {
  const destination = url.searchParams.get("destination")?.trim() || undefined;
  const count = (await deadDeliveries(options, destination)).length;
  const where = destination === undefined ? "" : ` to ${destination}`;
  return (
    <Layout title="Replay dead deliveries" current="/ui/deliveries" context={context}>
      {count === 0 ? <p>No dead delivery{where} to replay.</p> : (
        <>
          <p>
            {count === MAX_BULK_REPLAY ? "At least " : ""}
            <strong>{count}</strong> dead {count === 1 ? "delivery" : "deliveries"}
            {where} will be made due now and sent again, each with a fresh retry cycle.
          </p>
          <form method="post" action="/ui/deliveries/replay-dead">
            <Csrf token={context.csrf!} />
            {destination !== undefined && (
              <input type="hidden" name="destination" value={destination} />
            )}
            <input type="hidden" name="expected" value={String(count)} />
            <div class="actions">
              <button type="submit" class="primary">
                Replay {count} dead {count === 1 ? "delivery" : "deliveries"}
              </button>
              <a href="/ui/deliveries">Cancel</a>
            </div>
          </form>
        </>
      )}
    </Layout>
  );
}

/** The ids of the dead deliveries a bulk replay takes. */
export async function deadDeliveries(
  options: ConsoleOptions,
  destination: string | undefined,
): Promise<string[]> {
  const dead = await options.store.searchDeliveries({
    status: "dead",
    ...(destination !== undefined ? { destination } : {}),
    limit: MAX_BULK_REPLAY,
  });
  return dead.map((d) => d.id);
}

function deliveryFilter(params: URLSearchParams): { filter: DeliveryFilter; problems: string[] } {
  const problems: string[] = [];
  const filter: DeliveryFilter = {};
  const destination = params.get("destination")?.trim();
  if (destination) filter.destination = destination;
  const status = params.get("status")?.trim();
  if (status) {
    if (STATUSES.includes(status as DeliveryStatus)) filter.status = status as DeliveryStatus;
    else problems.push(`Status takes one of ${STATUSES.join(", ")}`);
  }
  return { filter, problems };
}
