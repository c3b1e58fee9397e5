// The running config with its secrets masked, the routing table as `check` prints it, and how
// the last reload went (each problem with its JSON path). Nothing here edits the config.

import type { JSX } from "preact";
import { KNOWN_EVENT_NAMES } from "../../events.ts";
import { REDACTED } from "../../redact.ts";
import { Layout, type PageContext, TableWrap, Time } from "../layout.tsx";
import type { ConsoleOptions } from "../options.ts";

/** One row of the routing table: an event type and where it goes. */
export interface RoutingRow {
  type: string;
  targets: Array<{ route: string; when: boolean; destination: string; enabled: boolean }>;
}

/** The config page. */
export async function configPage(
  options: ConsoleOptions,
  context: PageContext,
): Promise<JSX.Element> {
  const runtime = options.runtime();
  const [disabled, paused] = await Promise.all([
    options.store.disabledDestinations(),
    options.store.pausedDestinations(),
  ]);
  const off = new Set([...disabled.map((d) => d.name), ...paused.map((p) => p.name)]);
  const rows = routingTable(
    runtime.config.routes,
    runtime.routes,
    (name) => (runtime.destinations.get(name)?.enabled ?? false) && !off.has(name),
  );
  const reload = options.lastReload();
  const shown = options.redactor.stringify(maskKnownSecrets(runtime.config), 2);
  return (
    <Layout title="Config" current="/ui/config" context={context}>
      <section aria-labelledby="reload-title">
        <h2 id="reload-title">Last reload</h2>
        {reload === null && <p>The config has not been reloaded since the relay started.</p>}
        {reload !== null && reload.ok && (
          <p>
            <Time at={reload.at} />: reloaded, the new config runs.
          </p>
        )}
        {reload !== null && !reload.ok && (
          <>
            <p>
              <Time at={reload.at} />: refused; the config before it keeps running. Problems:
            </p>
            <ul>
              {reload.errors.map((error, i) => {
                const [path, ...rest] = error.split(": ");
                return (
                  <li key={i}>
                    {rest.length > 0
                      ? (
                        <>
                          <code>{path}</code>: {options.redactor.redact(rest.join(": "))}
                        </>
                      )
                      : options.redactor.redact(error)}
                  </li>
                );
              })}
            </ul>
          </>
        )}
      </section>
      <section aria-labelledby="routing-title">
        <h2 id="routing-title">Routing table</h2>
        <p class="muted">
          For each event type, the routes and destinations that receive it, as{" "}
          <code>hero-relay check</code> shows them. “when …” means the route has a condition.
        </p>
        <TableWrap label="Routing table">
          <table>
            <thead>
              <tr>
                <th scope="col">Event type</th>
                <th scope="col">Route → destination</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.type}>
                  <th scope="row">{row.type}</th>
                  <td>
                    {row.targets.length === 0
                      ? <span class="muted">(unrouted: stored only)</span>
                      : row.targets.map((t, i) => (
                        <span key={i}>
                          {i > 0 && ", "}
                          {t.route}
                          {t.when && " (when …)"} → {t.destination}
                          {!t.enabled && " [disabled]"}
                        </span>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      </section>
      <section aria-labelledby="running-title">
        <h2 id="running-title">Running config</h2>
        <p class="muted">Secrets are shown as {REDACTED}.</p>
        <pre>{shown}</pre>
      </section>
    </Layout>
  );
}

/**
 * The routing table: every known type, every type a route names, then "(other types)", each
 * with the routes that take it and their destinations, as `check` lists them.
 */
export function routingTable(
  configRoutes: ReadonlyArray<{ events: "*" | readonly string[] }>,
  routes: ReadonlyArray<
    { name: string; events: ReadonlySet<string> | null; when: unknown; to: readonly string[] }
  >,
  enabled: (destination: string) => boolean,
): RoutingRow[] {
  const types = new Set<string>(KNOWN_EVENT_NAMES);
  for (const route of configRoutes) {
    if (route.events !== "*") route.events.forEach((t) => types.add(t));
  }
  const targets = (type: string | null) =>
    routes
      .filter((r) => r.events === null || (type !== null && r.events.has(type)))
      .flatMap((r) =>
        r.to.map((d) => ({
          route: r.name,
          when: r.when !== null,
          destination: d,
          enabled: enabled(d),
        }))
      );
  return [
    ...[...types].map((type) => ({ type, targets: targets(type) })),
    { type: "(other types)", targets: targets(null) },
  ];
}

/** Field names that hold a secret whatever the schema says: a second line of defence. */
const SECRET_KEY = /(token|secret|password|api_key|signing_secrets)$/i;

function maskKnownSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskKnownSecrets);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET_KEY.test(k) && v !== undefined && v !== null && v !== ""
        ? maskAll(v)
        : maskKnownSecrets(v),
    ]),
  );
}

function maskAll(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(() => REDACTED);
  return typeof value === "string" ? REDACTED : maskKnownSecrets(value);
}
