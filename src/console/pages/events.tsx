// The events list: newest first, narrowed by type, delivery status, destination, deal or collab
// id, influencer and dates, one page at a time with a keyset cursor ("Older →").

import type { JSX } from "preact";
import { KNOWN_EVENT_NAMES, UNKNOWN_EVENT } from "../../events.ts";
import { type DeliveryStatus, type EventQuery, parseCursor } from "../../store.ts";
import { Layout, type PageContext, TableWrap, Time } from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";

/** Rows per page of events and deliveries. */
export const PAGE_SIZE = 50;

/** The delivery statuses, in the order a filter offers them. */
export const STATUSES: readonly DeliveryStatus[] = ["pending", "failed", "dead", "delivered"];

/** What each status means, for the filters' options. */
export const STATUS_LABELS: Readonly<Record<DeliveryStatus, string>> = {
  pending: "pending (due)",
  failed: "failed (will retry)",
  dead: "dead (gave up)",
  delivered: "delivered",
};

/** The events page; `problems` lists filters that could not be read (answered 400). */
export async function eventsPage(
  options: ConsoleOptions,
  context: PageContext,
  url: URL,
): Promise<{ page: JSX.Element; status: number }> {
  const params = url.searchParams;
  const { query, problems } = eventQuery(params);
  const events = problems.length > 0
    ? []
    : await options.store.searchEvents({ ...query, limit: PAGE_SIZE + 1 });
  const more = events.length > PAGE_SIZE;
  const shown = events.slice(0, PAGE_SIZE);
  const last = shown.at(-1);
  const older = new URLSearchParams(params);
  if (last) older.set("after", `${last.receivedAt}.${last.id}`);
  // A type filtered by that is not Influencer Hero's (a source's "shop.orders_create") stays
  // offered, so the form keeps it.
  const types = [...new Set([...KNOWN_EVENT_NAMES, UNKNOWN_EVENT, query.type ?? UNKNOWN_EVENT])]
    .sort();
  const destinations = [...options.runtime().destinations.keys()];
  const value = (name: string) => params.get(name) ?? "";
  return {
    status: problems.length > 0 ? 400 : 200,
    page: (
      <Layout title="Events" current="/ui/events" context={context}>
        <form method="get" action="/ui/events" class="filters" aria-label="Filter events">
          <div class="field">
            <label for="f-type">Type</label>
            <select id="f-type" name="type">
              <option value="">any</option>
              {types.map((t) => (
                <option key={t} value={t} selected={t === value("type")}>{t}</option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-status">Delivery status</label>
            <select id="f-status" name="status">
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s} selected={s === value("status")}>
                  {STATUS_LABELS[s]}
                </option>
              ))}
            </select>
          </div>
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
            <label for="f-deal">Deal or collab id</label>
            <input id="f-deal" name="deal" value={value("deal")} />
          </div>
          <div class="field">
            <label for="f-influencer">Influencer name</label>
            <input id="f-influencer" name="influencer" value={value("influencer")} />
          </div>
          <div class="field">
            <label for="f-from">From (UTC day)</label>
            <input id="f-from" name="from" type="date" value={value("from")} />
          </div>
          <div class="field">
            <label for="f-to">To (UTC day, included)</label>
            <input id="f-to" name="to" type="date" value={value("to")} />
          </div>
          <div class="actions">
            <button type="submit" class="primary">Show events</button>
            <a href="/ui/events">Clear filters</a>
          </div>
        </form>
        {problems.length > 0 && (
          <div class="flash error" role="alert">
            <p>These filters could not be read:</p>
            <ul>{problems.map((p) => <li key={p}>{p}</li>)}</ul>
          </div>
        )}
        {problems.length === 0 && shown.length === 0 && (
          <p>{params.has("after") ? "No older events match." : "No events match."}</p>
        )}
        {shown.length > 0 && (
          <TableWrap label="Events">
            <table class="stack">
              <caption class="visually-hidden">Events, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">Type</th>
                  <th scope="col">Influencer</th>
                  <th scope="col">Deal / collab</th>
                  <th scope="col">Event</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((e) => (
                  <tr key={e.id}>
                    <td data-label="Received">
                      <Time at={e.receivedAt} />
                    </td>
                    <td data-label="Type">{e.type}</td>
                    <td data-label="Influencer">{e.facets?.influencer ?? ""}</td>
                    <td data-label="Deal / collab" class="mono">
                      {[e.facets?.dealId, e.facets?.collabId].filter((v) => v).join(" / ")}
                    </td>
                    <th scope="row">
                      <a href={`/ui/events/${encodeURIComponent(e.id)}`} class="mono">{e.id}</a>
                      {e.routedAt === null && <span class="muted">(not routed yet)</span>}
                    </th>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
        <nav class="pager" aria-label="Pages">
          {params.has("after") && <a href={newestHref(params)}>← Newest</a>}
          {more && <a href={`/ui/events?${older}`} rel="next">Older →</a>}
        </nav>
      </Layout>
    ),
  };
}

/** The store query of the page's parameters, and what in them could not be read. */
export function eventQuery(
  params: URLSearchParams,
): { query: Omit<EventQuery, "limit">; problems: string[] } {
  const problems: string[] = [];
  const query: Omit<EventQuery, "limit"> = {};
  const text = (name: string) => params.get(name)?.trim() || undefined;
  const type = text("type");
  if (type !== undefined) query.type = type;
  const status = text("status");
  if (status !== undefined) {
    if (STATUSES.includes(status as DeliveryStatus)) query.status = status as DeliveryStatus;
    else problems.push(`Delivery status takes one of ${STATUSES.join(", ")}`);
  }
  const destination = text("destination");
  if (destination !== undefined) query.destination = destination;
  const deal = text("deal");
  if (deal !== undefined) query.dealOrCollab = deal;
  const influencer = text("influencer");
  if (influencer !== undefined) query.influencer = influencer;
  const from = text("from");
  if (from !== undefined) {
    const at = dayStart(from);
    if (at === null) problems.push(`From takes a date such as 2025-01-16, not "${from}"`);
    else query.since = at;
  }
  const to = text("to");
  if (to !== undefined) {
    const at = dayStart(to);
    if (at === null) problems.push(`To takes a date such as 2025-01-16, not "${to}"`);
    else query.until = at + 86_400_000;
  }
  const after = text("after");
  if (after !== undefined) {
    const cursor = parseCursor(after);
    if (cursor === null) problems.push("The page cursor is not one this console made");
    else query.after = { receivedAt: cursor.at, id: cursor.id };
  }
  return { query, problems };
}

/** The same filters without the cursor. */
export function newestHref(params: URLSearchParams, path = "/ui/events"): string {
  const newest = new URLSearchParams(params);
  newest.delete("after");
  const query = newest.toString();
  return query === "" ? path : `${path}?${query}`;
}

function dayStart(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const at = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(at) ? null : at;
}
