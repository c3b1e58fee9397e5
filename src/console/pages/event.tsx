// One event: its payload (formatted, long values folded), when and how it arrived, and each of
// its deliveries with every attempt, with buttons to replay one delivery or all of them.

import type { ComponentChildren, JSX } from "preact";
import type { Attempt, Delivery, Store, StoredEvent } from "../../store.ts";
import {
  ActionForm,
  formatSpan,
  Layout,
  type PageContext,
  StatusBadge,
  TableWrap,
  Time,
} from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";

/** Strings longer than this are folded behind a summary. */
const FOLD_CHARS = 120;

/** Objects and arrays with more entries than this start folded. */
const FOLD_ENTRIES = 12;

/** The event page, or null when there is no such event. */
export async function eventPage(
  options: ConsoleOptions,
  context: PageContext,
  id: string,
): Promise<JSX.Element | null> {
  const { store, redactor } = options;
  const event = await store.getEvent(id);
  if (event === null) return null;
  const deliveries = await eventDeliveries(store, event);
  const histories = await Promise.all(deliveries.map((d) => store.getDelivery(d.id)));
  const payload = parseBody(event.body);
  const csrf = context.csrf!;
  const back = `/ui/events/${encodeURIComponent(event.id)}`;
  return (
    <Layout title={`Event ${event.type}`} current="/ui/events" context={context}>
      <dl class="facts">
        <dt>Id</dt>
        <dd class="mono">{event.id}</dd>
        <dt>Type</dt>
        <dd>{event.type}</dd>
        <dt>Received</dt>
        <dd>
          <Time at={event.receivedAt} /> — a signed POST from Influencer Hero, verified and stored
          {" "}
          ({new TextEncoder().encode(event.body).length} bytes)
        </dd>
        <dt>Routed</dt>
        <dd>
          {event.routedAt === null ? "not yet: the worker routes it shortly" : (
            <>
              <Time at={event.routedAt} /> into {deliveries.length}{" "}
              {deliveries.length === 1 ? "delivery" : "deliveries"}
            </>
          )}
        </dd>
        <dt>Order key</dt>
        <dd class="mono">{event.orderKey ?? <span class="muted">none</span>}</dd>
        <dt>Body SHA-256</dt>
        <dd class="mono">{event.fingerprint}</dd>
      </dl>
      <section aria-labelledby="deliveries-title">
        <h2 id="deliveries-title">Deliveries</h2>
        {deliveries.length === 0 && <p>This event has no deliveries: no route matched it.</p>}
        {deliveries.length > 0 && (
          <div class="actions">
            <ActionForm
              action={`${back}/replay`}
              csrf={csrf}
              label="Replay all of this event's deliveries"
              confirm={`Send this event again to all ${deliveries.length} destinations?`}
            />
          </div>
        )}
        {histories.map((found) =>
          found && (
            <DeliveryHistory
              key={found.delivery.id}
              delivery={found.delivery}
              attempts={found.attempts}
              csrf={csrf}
              back={back}
              redact={redactor.redact}
              now={context.now}
            />
          )
        )}
      </section>
      <section aria-labelledby="payload-title">
        <h2 id="payload-title">Payload</h2>
        {payload === undefined ? <pre>{event.body}</pre> : (
          <ul class="payload">
            <Value value={payload} />
          </ul>
        )}
        <details class="fold">
          <summary>The body as received</summary>
          <pre>{event.body}</pre>
        </details>
      </section>
    </Layout>
  );
}

/** Most deliveries an event page shows: one per route and destination, far fewer in practice. */
const MAX_EVENT_DELIVERIES = 1000;

/** The deliveries of an event, by destination. */
export async function eventDeliveries(store: Store, event: StoredEvent): Promise<Delivery[]> {
  const found = await store.listDeliveries({ eventId: event.id, limit: MAX_EVENT_DELIVERIES });
  return found.sort((a, b) =>
    a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0
  );
}

function DeliveryHistory(props: {
  delivery: Delivery;
  attempts: Attempt[];
  csrf: string;
  back: string;
  redact: (text: string) => string;
  now: number;
}): JSX.Element {
  const d = props.delivery;
  const waiting = d.status === "pending" || d.status === "failed";
  return (
    <article class="card" aria-labelledby={`dlv-${d.id}`}>
      <h3 id={`dlv-${d.id}`}>
        {d.destination} <span class="muted">via route {d.route}</span>{" "}
        <StatusBadge status={d.status} />
      </h3>
      <dl class="facts">
        <dt>Delivery</dt>
        <dd class="mono">{d.id}</dd>
        <dt>Attempts</dt>
        <dd>{d.attempts}</dd>
        <dt>Next attempt</dt>
        <dd>
          {waiting
            ? (
              <>
                <Time at={d.nextAt} />{" "}
                <span class="muted">
                  ({d.nextAt <= props.now ? "due now" : `in ${formatSpan(d.nextAt - props.now)}`})
                </span>
              </>
            )
            : <span class="muted">none</span>}
        </dd>
        {d.lastError !== null && (
          <>
            <dt>Last error</dt>
            <dd class="mono">{props.redact(d.lastError)}</dd>
          </>
        )}
      </dl>
      <div class="actions">
        <ActionForm
          action={`/ui/deliveries/${encodeURIComponent(d.id)}/replay`}
          csrf={props.csrf}
          label="Replay this delivery"
          ariaLabel={`Replay this delivery, to ${d.destination}`}
          fields={{ back: props.back }}
        />
      </div>
      {props.attempts.length === 0
        ? <p class="muted">No attempt yet.</p>
        : (
          <TableWrap label={`Attempts of the delivery to ${d.destination}`}>
            <table>
              <caption>Attempts</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Outcome</th>
                  <th scope="col" class="num">Duration</th>
                  <th scope="col" class="num">HTTP status</th>
                  <th scope="col">The service's answer</th>
                </tr>
              </thead>
              <tbody>
                {props.attempts.map((a, i) => (
                  <tr key={`${a.at}-${i}`}>
                    <th scope="row">
                      <Time at={a.at} />
                    </th>
                    <td>
                      <StatusBadge status={a.outcome} />
                    </td>
                    <td class="num">{a.outcome === "replay" ? "" : `${a.ms} ms`}</td>
                    <td class="num">{a.httpStatus ?? ""}</td>
                    <td class="mono">
                      {a.error === null
                        ? (a.outcome === "replay" ? "replayed by an operator" : "")
                        : props.redact(a.error)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
    </article>
  );
}

/** One JSON value as a tree; long strings and large objects folded. */
function Value(props: { value: unknown; name?: string }): JSX.Element {
  const { value, name } = props;
  const label = name === undefined ? null : <span class="key">{`${name}: `}</span>;
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    const open = Array.isArray(value) ? "[" : "{";
    const close = Array.isArray(value) ? "]" : "}";
    if (entries.length === 0) {
      return (
        <li>
          {label}
          <code>{open + close}</code>
        </li>
      );
    }
    const children: ComponentChildren = (
      <ul>{entries.map(([k, v]) => <Value key={k} name={k} value={v} />)}</ul>
    );
    return (
      <li>
        <details class="fold" open={entries.length <= FOLD_ENTRIES}>
          <summary>
            {label}
            <code>{open}</code>{" "}
            <span class="muted">{entries.length} {entries.length === 1 ? "entry" : "entries"}</span>
          </summary>
          {children}
          <code>{close}</code>
        </details>
      </li>
    );
  }
  const text = JSON.stringify(value) ?? String(value);
  if (text.length > FOLD_CHARS) {
    return (
      <li>
        <details class="fold">
          <summary>
            {label}
            <code>{text.slice(0, 80)}…</code> <span class="muted">({text.length} characters)</span>
          </summary>
          <pre>{text}</pre>
        </details>
      </li>
    );
  }
  return (
    <li>
      {label}
      <code>{text}</code>
    </li>
  );
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
