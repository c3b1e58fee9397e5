// Commands about the config and what it would do: `check`, `render`, `events`, `schema`.

import { compileConfig, type Runtime } from "../compile.ts";
import { type DigestSpec, sampleDigest } from "../digest.ts";
import { DIGEST_EVENT } from "../digest_message.ts";
import { matchRoutes, templateScope } from "../route.ts";
import { type Config, configJsonSchema, configWarnings, isEnabled } from "../config.ts";
import { maskUrl } from "../destination.ts";
import { EVENT_TYPES, KNOWN_EVENT_NAMES, omitPaths } from "../events.ts";
import { describeStore, openStore } from "../relay.ts";
import { SAMPLES } from "../samples.ts";
import { loadTemplates } from "../template.ts";
import type { DisabledDestination, PausedDestination } from "../store.ts";
import {
  type Command,
  CONFIG_OPTION,
  describeGone,
  describePaused,
  help,
  load,
  parse,
  print,
  UsageError,
} from "./shared.ts";

export const checkCommand: Command = {
  usage: `Usage: hero-relay check [--config PATH]

Validates the config (schema, environment variables, templates, route targets) and prints the
routing table: for each event type, the routes and destinations that receive it. Secrets are
masked. Exits 1 listing every problem with its JSON path.

Options:
-c, --config PATH  Config file (default ./config.json)
-h, --help         Show this help
`,
  async run(args) {
    const { values } = parse(args, CONFIG_OPTION);
    if (values.help) return help(checkCommand.usage);
    const config = load(values.config);
    await loadTemplates();
    const runtime = compileConfig(config, values.config, { write: () => {} });
    const out: string[] = [`Config "${values.config}" is valid.`, ""];
    const secrets = config.influencer_hero.signing_secrets.length;
    out.push(
      `Signing secrets: ${secrets} configured (values hidden); tolerance ` +
        `${config.influencer_hero.tolerance_seconds} s; body limit ` +
        `${config.influencer_hero.max_body_bytes} bytes`,
    );
    out.push(`Listen: ${config.listen.hostname}:${config.listen.port}`);
    out.push(`Store: ${describeStore(config)}`, "");
    const sources = Object.entries(config.sources);
    if (sources.length > 0) {
      out.push("Sources:");
      for (const [name, entry] of sources) {
        out.push(
          entry.enabled === false
            ? `  ${name} (${entry.type}) disabled: POST /sources/${name} answers 404`
            : `  ${name} (${entry.type}) at POST /sources/${name}, ${entry.secrets.length} ` +
              `secret${entry.secrets.length === 1 ? "" : "s"} (values hidden)`,
        );
      }
      out.push("");
    }
    out.push("Destinations:");
    const held = await heldDestinations(config);
    const gone = new Map(held.disabled.map((d) => [d.name, d]));
    const paused = new Map(held.paused.map((d) => [d.name, d]));
    for (const [name, entry] of Object.entries(config.destinations)) {
      const target = "url" in entry ? ` ${entry.url ? maskUrl(entry.url) : "(no URL set)"}` : "";
      const state = !isEnabled(entry)
        ? " [disabled in the config]"
        : gone.has(name)
        ? ` [${describeGone(gone.get(name)!)}]`
        : paused.has(name)
        ? ` [${describePaused(paused.get(name)!)}]`
        : "";
      out.push(`  ${name} (${entry.type})${target}${state}`);
    }
    out.push("", "Routing table:");
    const types = new Set<string>(KNOWN_EVENT_NAMES);
    for (const route of config.routes) {
      if (route.events !== "*") route.events.forEach((t) => types.add(t));
    }
    // A source's type ("shop.orders_create", or "shop.*" itself) is also taken by "shop.*".
    const takes = (events: ReadonlySet<string>, type: string) =>
      events.has(type) || (type.includes(".") && events.has(`${type.split(".")[0]}.*`));
    const targets = (type: string | null) =>
      runtime.routes
        .filter((r) => r.events === null || (type !== null && takes(r.events, type)))
        .flatMap((r) =>
          r.to.map((d) => {
            const enabled = runtime.destinations.get(d)?.enabled && !gone.has(d);
            const state = !enabled ? " [disabled]" : paused.has(d) ? " [paused]" : "";
            const digest = r.digest === null ? "" : ` (digest ${describeDigest(r.digest)})`;
            return `${r.name}${r.when ? " (when …)" : ""}${digest} → ${d}${state}`;
          })
        ).join(", ") || "(unrouted: stored only)";
    for (const type of types) out.push(`  ${type.padEnd(22)} ${targets(type)}`);
    out.push(`  ${"(other types)".padEnd(22)} ${targets(null)}`);
    const warnings = configWarnings(config);
    if (warnings.length) out.push("", "Warnings:", ...warnings.map((w) => `  ${w}`));
    print(out.join("\n") + "\n");
    return Promise.resolve(0);
  },
};

export const renderCommand: Command = {
  usage: `Usage: hero-relay render <event_type> [--config PATH] [--payload FILE] [--route NAME]
       hero-relay render <digest_route> [--config PATH]

Shows, for each destination the event reaches, exactly what would be sent (the native body),
using the built-in sample payload unless --payload is given. Nothing is sent. Named by a route
with "digest", it shows that route's digest of one sample of each event type it takes.

Options:
-c, --config PATH   Config file (default ./config.json)
    --payload FILE  A JSON payload to use instead of the sample
    --route NAME    Only this route
-h, --help          Show this help
`,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...CONFIG_OPTION,
      payload: { type: "string" },
      route: { type: "string" },
    }, true);
    if (values.help) return help(renderCommand.usage);
    if (positionals.length !== 1) throw new UsageError("Name one event type");
    const type = positionals[0]!;
    const config = load(values.config, { parts: ["destinations", "routes", "delivery"] });
    if (
      values.route !== undefined && !config.routes.some((r) => r.name === values.route)
    ) {
      throw new UsageError(
        `No route "${values.route}" in "${values.config}" (defined: ${
          config.routes.map((r) => `"${r.name}"`).join(", ") || "none"
        })`,
      );
    }
    await loadTemplates();
    const runtime = compileConfig(config, values.config, { write: () => {} });
    const digestRoute = runtime.routes.find((r) => r.name === type && r.digest !== null);
    if (digestRoute !== undefined && !(type in SAMPLES)) {
      print(renderDigest(runtime, digestRoute.name));
      return Promise.resolve(0);
    }
    const payload = values.payload === undefined
      ? SAMPLES[type]
      : JSON.parse(Deno.readTextFileSync(values.payload));
    if (payload === undefined) {
      throw new UsageError(`No sample for "${type}"; pass --payload FILE`);
    }
    const event = { id: "evt_PREVIEW", type, receivedAt: Date.now() };
    const scope = templateScope(payload, event);
    const matches = matchRoutes(runtime, type, scope).filter((m) =>
      values.route === undefined || m.route.name === values.route
    );
    if (matches.length === 0) {
      print(`"${type}" reaches no enabled destination with this config and payload.\n`);
      return Promise.resolve(0);
    }
    const out: string[] = [];
    for (const { route, destination } of matches) {
      const target = runtime.destinations.get(destination)!;
      // What the destination sees: the payload without its `omit` fields.
      const seen = omitPaths(payload, target.omit);
      const rendered = target.destination.render({
        deliveryId: "dlv_PREVIEW",
        eventId: event.id,
        eventType: type,
        receivedAt: event.receivedAt,
        body: JSON.stringify(seen),
        payload: seen,
        message: route.message(type)(templateScope(seen, event)),
        attempt: 1,
      });
      out.push(`=== route "${route.name}" → ${destination}`);
      out.push(`${rendered.method} ${rendered.url}`);
      for (const [k, v] of Object.entries(rendered.headers)) out.push(`${k}: ${v}`);
      out.push("", prettyBody(rendered.body), "");
    }
    print(out.join("\n"));
    return Promise.resolve(0);
  },
};

/** "every 1d at 09:00 Europe/Berlin", "every 15m, at most 100". */
function describeDigest(spec: DigestSpec): string {
  const every = spec.everyMs % 86_400_000 === 0
    ? `${spec.everyMs / 86_400_000}d`
    : spec.everyMs % 3_600_000 === 0
    ? `${spec.everyMs / 3_600_000}h`
    : spec.everyMs % 60_000 === 0
    ? `${spec.everyMs / 60_000}m`
    : `${spec.everyMs / 1000}s`;
  const at = spec.at === null
    ? ""
    : ` at ${String(spec.at.hour).padStart(2, "0")}:${String(spec.at.minute).padStart(2, "0")} ` +
      spec.timezone;
  return `every ${every}${at}${spec.maxEvents === null ? "" : `, at most ${spec.maxEvents}`}`;
}

/** What a digest route's destinations would receive for the digest of the sample events. */
function renderDigest(runtime: Runtime, name: string): string {
  const route = runtime.routes.find((r) => r.name === name)!;
  const out: string[] = [];
  const now = Date.now();
  for (const destination of route.to) {
    const target = runtime.destinations.get(destination);
    if (target === undefined || !target.enabled) continue;
    const body = { ...sampleDigest({ ...route, digest: route.digest! }, destination, { now }) };
    const event = { id: "evt_PREVIEW_DIGEST", type: DIGEST_EVENT, receivedAt: now };
    const rendered = target.destination.render({
      deliveryId: "dlv_PREVIEW",
      eventId: event.id,
      eventType: DIGEST_EVENT,
      receivedAt: now,
      body: JSON.stringify(body),
      payload: body,
      message: route.message(DIGEST_EVENT)(templateScope(body, event)),
      attempt: 1,
    });
    out.push(
      `=== digest of route "${route.name}" (${body.digest.count} sample events) → ${destination}`,
    );
    out.push(`${rendered.method} ${rendered.url}`);
    for (const [k, v] of Object.entries(rendered.headers)) out.push(`${k}: ${v}`);
    out.push("", prettyBody(rendered.body), "");
  }
  if (out.length === 0) return `Route "${name}" reaches no enabled destination.\n`;
  return out.join("\n");
}

export const eventsCommand: Command = {
  usage: `Usage: hero-relay events [<event_type>]

Lists the event types Influencer Hero sends, one line each; with a type, prints its sample payload.
`,
  run(args) {
    const { values, positionals } = parse(args, { help: { type: "boolean", short: "h" } }, true);
    if (values.help) return help(eventsCommand.usage);
    if (positionals.length > 0) {
      const sample = SAMPLES[positionals[0]!];
      if (sample === undefined) throw new UsageError(`Unknown event type "${positionals[0]}"`);
      print(JSON.stringify(sample, null, 2) + "\n");
      return Promise.resolve(0);
    }
    const lines = EVENT_TYPES.map((t) =>
      `${t.name.padEnd(22)} ${t.summary}${t.marker ? "" : " (no public schema)"}`
    );
    print(lines.join("\n") + "\n");
    return Promise.resolve(0);
  },
};

export const schemaCommand: Command = {
  usage: `Usage: hero-relay schema [--output FILE]

Prints the config's JSON Schema (published as config.schema.json for editors).
`,
  async run(args) {
    const { values } = parse(args, {
      output: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return help(schemaCommand.usage);
    const text = JSON.stringify(configJsonSchema(), null, 2) + "\n";
    if (values.output) await Deno.writeTextFile(values.output, text);
    else print(text);
    return 0;
  },
};

function prettyBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/**
 * Destinations the relay disabled because their endpoint is gone, and those paused by hand, from
 * the SQLite store if it exists (check never creates a store, and does not connect to PostgreSQL).
 */
async function heldDestinations(
  config: Config,
): Promise<{ disabled: DisabledDestination[]; paused: PausedDestination[] }> {
  const none = { disabled: [], paused: [] };
  const path = config.store.sqlite;
  if (config.store.postgres !== undefined || path === undefined || path === ":memory:") {
    return none;
  }
  try {
    Deno.lstatSync(path);
  } catch {
    return none;
  }
  const store = await openStore(config);
  try {
    return {
      disabled: await store.disabledDestinations(),
      paused: await store.pausedDestinations(),
    };
  } finally {
    await store.close();
  }
}
