// The preview: an event type and a payload (the built-in sample, a stored event or pasted JSON)
// turned into what each routed destination would receive, as `render` prints it, with the
// message in readable form; and "Send a test" to one destination, for real.

import { Fragment, type JSX } from "preact";
import { KNOWN_EVENT_NAMES, type Payload } from "../../events.ts";
import type { Message } from "../../message.ts";
import { SAMPLES } from "../../samples.ts";
import { ActionForm, Csrf, Layout, type PageContext, TableWrap } from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";
import { previewDeliveries, type PreviewEvent, type PreviewItem } from "../preview.ts";
import type { PreviewInput } from "../sessions.ts";

/** What a preview input stands for: the event and its payload, or why it cannot be used. */
export type ResolvedInput =
  | { ok: true; event: PreviewEvent; payload: Payload }
  | { ok: false; problem: string };

/** Reads a preview input into an event and payload. */
export async function resolvePreview(
  options: ConsoleOptions,
  input: PreviewInput,
  now: number,
): Promise<ResolvedInput> {
  if (input.source === "event") {
    const id = input.eventId.trim();
    if (id === "") return { ok: false, problem: "Give the id of a stored event" };
    const event = await options.store.getEvent(id);
    if (event === null) return { ok: false, problem: `No stored event "${id}"` };
    const payload = asObject(event.body);
    if (payload === null) {
      return { ok: false, problem: `The body of event "${id}" is not a JSON object` };
    }
    return {
      ok: true,
      event: { id: event.id, type: event.type, receivedAt: event.receivedAt },
      payload,
    };
  }
  const event = { id: "evt_PREVIEW", type: input.type, receivedAt: now };
  if (input.source === "json") {
    const payload = asObject(input.json);
    if (payload === null) return { ok: false, problem: "The pasted payload is not a JSON object" };
    return { ok: true, event, payload };
  }
  const sample = SAMPLES[input.type];
  if (sample === undefined) return { ok: false, problem: `No built-in sample for "${input.type}"` };
  return { ok: true, event, payload: structuredClone(sample) as Payload };
}

/** The preview page, showing the session's last input when there is one. */
export async function previewPage(
  options: ConsoleOptions,
  context: PageContext,
  input: PreviewInput | null,
): Promise<JSX.Element> {
  const current = input ??
    { type: [...KNOWN_EVENT_NAMES][0]!, source: "sample", eventId: "", json: "" };
  let items: PreviewItem[] | null = null;
  let problem: string | null = null;
  let event: PreviewEvent | null = null;
  if (input !== null) {
    const resolved = await resolvePreview(options, input, context.now);
    if (resolved.ok) {
      event = resolved.event;
      items = await previewDeliveries(options.runtime(), resolved.event, resolved.payload);
    } else {
      problem = resolved.problem;
    }
  }
  const csrf = context.csrf!;
  const redact = options.redactor.redact;
  return (
    <Layout title="Preview" current="/ui/preview" context={context}>
      <form method="post" action="/ui/preview" aria-label="What to preview">
        <Csrf token={csrf} />
        <div class="field">
          <label for="p-type">Event type</label>
          <select id="p-type" name="type" aria-describedby="p-type-hint">
            {[...KNOWN_EVENT_NAMES].map((t) => (
              <option key={t} value={t} selected={t === current.type}>{t}</option>
            ))}
          </select>
          <span id="p-type-hint" class="muted">A stored event keeps its own type.</span>
        </div>
        <fieldset>
          <legend>Payload</legend>
          <div class="choices">
            <span>
              <input
                type="radio"
                id="p-sample"
                name="source"
                value="sample"
                checked={current.source === "sample"}
              />{" "}
              <label for="p-sample">The built-in sample</label>
            </span>
            <span>
              <input
                type="radio"
                id="p-event"
                name="source"
                value="event"
                checked={current.source === "event"}
              />{" "}
              <label for="p-event">A stored event</label>
            </span>
            <span>
              <input
                type="radio"
                id="p-json"
                name="source"
                value="json"
                checked={current.source === "json"}
              />{" "}
              <label for="p-json">Pasted JSON</label>
            </span>
          </div>
          <div class="field">
            <label for="p-event-id">Stored event id</label>
            <input id="p-event-id" name="event" value={current.eventId} class="mono" />
          </div>
          <div class="field wide">
            <label for="p-payload">Pasted JSON payload</label>
            <textarea id="p-payload" name="json" spellcheck={false}>{current.json}</textarea>
          </div>
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary">Preview</button>
        </div>
      </form>
      {problem !== null && <p class="flash error" role="alert">{problem}</p>}
      {items !== null && event !== null && (
        <section aria-labelledby="results-title">
          <h2 id="results-title">What {event.type} would send</h2>
          {items.length === 0 && (
            <p>This event reaches no enabled destination with the running config.</p>
          )}
          {items.map((item) => (
            <article
              class="card"
              key={`${item.route}-${item.destination}`}
              aria-labelledby={`pv-${item.route}-${item.destination}`}
            >
              <h3 id={`pv-${item.route}-${item.destination}`}>
                Route {item.route} → {item.destination} <span class="muted">({item.type})</span>
                {item.digestEvents !== undefined && (
                  <span class="muted">
                    &nbsp;— a digest of this event and {item.digestEvents - 1} sample events
                  </span>
                )}
              </h3>
              <h4>Request</h4>
              <pre>{`${item.rendered.method} ${item.rendered.url}`}</pre>
              {Object.keys(item.rendered.headers).length > 0 && (
                <TableWrap label={`Headers sent to ${item.destination}`}>
                  <table>
                    <caption class="visually-hidden">Headers</caption>
                    <thead>
                      <tr>
                        <th scope="col">Header</th>
                        <th scope="col">Value</th>
                      </tr>
                    </thead>
                    <tbody>
                      {Object.entries(item.rendered.headers).map(([name, value]) => (
                        <tr key={name}>
                          <th scope="row" class="mono">{name}</th>
                          <td class="mono">{redact(value)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </TableWrap>
              )}
              <details class="fold" open>
                <summary>Body</summary>
                <pre>{redact(prettyBody(item.rendered.body))}</pre>
              </details>
              <h4>The message, readable</h4>
              <MessageView message={item.message} />
              <div class="actions">
                <ActionForm
                  action="/ui/preview/send"
                  csrf={csrf}
                  label={`Send a test to ${item.destination}`}
                  fields={{ destination: item.destination }}
                  confirm={`Send a real message to ${item.destination} now?`}
                />
              </div>
            </article>
          ))}
        </section>
      )}
    </Layout>
  );
}

/** The neutral message as a reader would see it; its links are shown, not followed. */
function MessageView(props: { message: Message }): JSX.Element {
  const m = props.message;
  return (
    <div class={`message ${colourClass(m.color)}`}>
      <p>
        <strong>{m.title}</strong>
      </p>
      {m.author && (
        <p class="muted">From {m.author.name}{m.author.url ? ` (${m.author.url})` : ""}</p>
      )}
      {m.text !== "" && <p class="pre">{m.text}</p>}
      {m.fields.length > 0 && (
        <dl class="facts">
          {m.fields.map((f, i) => (
            <Fragment key={i}>
              <dt>{f.name}</dt>
              <dd>{f.value}</dd>
            </Fragment>
          ))}
        </dl>
      )}
      {m.link && (
        <p>
          Link: {m.link.label} — <span class="mono">{m.link.url}</span>
        </p>
      )}
      {m.image && (
        <p>
          Image: <span class="mono">{m.image}</span>
        </p>
      )}
      {m.color && <p class="muted">Colour {m.color}</p>}
    </div>
  );
}

/** A rough colour family of a hex colour, so the message's edge hints at it without a style. */
function colourClass(color: string | null): string {
  const match = color === null ? null : /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (match === null) return "";
  const [r, g, b] = [match[1]!, match[2]!, match[3]!].map((h) => parseInt(h, 16)) as [
    number,
    number,
    number,
  ];
  if (g > r && g > b) return "c-ok";
  if (r > 150 && g > 100 && b < 100) return "c-warn";
  if (r > g && r > b) return "c-bad";
  return "c-info";
}

function asObject(text: string): Payload | null {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

function prettyBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
