// hero-relay's command line: parse arguments, load the config, wire the parts, start, stop on
// signals. Everything else lives in src/.

import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import { compileConfig, matchRoutes, templateScope } from "./src/compile.ts";
import {
  type Config,
  ConfigError,
  configJsonSchema,
  configSecrets,
  configWarnings,
  isEnabled,
  loadConfig,
  parseDuration,
  type ParseOptions,
  permissionWarning,
} from "./src/config.ts";
import { maskUrl } from "./src/destination.ts";
import { EVENT_TYPES, KNOWN_EVENT_NAMES } from "./src/events.ts";
import { API_URL, registerWebhooks } from "./src/influencer_hero_api.ts";
import { BufferedWriter, createLogger, writeStderr, writeStdout } from "./src/log.ts";
import { Redactor } from "./src/redact.ts";
import { describeStore, openStore, startRelay } from "./src/relay.ts";
import { SAMPLES } from "./src/samples.ts";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from "./src/server.ts";
import { loadTemplates } from "./src/template.ts";
import type { DeliveryStatus, DisabledDestination, Store } from "./src/store.ts";
import { networkErrorMessage } from "./src/http_client.ts";
import { sign } from "./src/verify.ts";

const VERSION: string = denoJson.version;

const USAGE =
  `hero-relay ${VERSION}: receive Influencer Hero webhooks, verify, store, route, deliver.

Usage: hero-relay <command> [options]

Commands:
  serve       Run the relay
  check       Validate the config and print the routing table
  deliveries  List deliveries in the store
  replay      Deliver a delivery again, or every dead one
  enable      Enable a destination that was disabled because its endpoint was gone
  render      Show exactly what an event would send to each destination (sends nothing)
  send-test   Send correctly signed sample events to a running relay
  register    Register the relay's URLs with Influencer Hero (one per event type)
  sign        Print the headers Influencer Hero would send for a body on standard input
  events      List the known event types, or print one's sample payload
  schema      Print the config's JSON Schema

Options:
  -h, --help     Show help (also: hero-relay <command> --help)
  -V, --version  Show the version

Run "hero-relay <command> --help" for a command's options.
`;

const CONFIG_OPTION = {
  config: { type: "string", short: "c", default: "./config.json" },
  help: { type: "boolean", short: "h" },
} as const;

/** A mistake in the command line: printed with a hint, exit code 2. */
class UsageError extends Error {
  override name = "UsageError";
}

interface Command {
  usage: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    usage: `Usage: hero-relay serve [--config PATH] [--hostname H] [--port N]

Runs the relay: receives webhooks on POST /hooks/<event_type> (and POST /hooks, which detects
the type), stores them, and delivers them to the configured destinations.

Options:
  -c, --config PATH  Config file (default ./config.json)
      --hostname H   Listen on this address instead of listen.hostname
  -p, --port N       Listen on this port instead of listen.port
  -h, --help         Show this help

The config is reloaded when its file changes and on SIGHUP: validated first, and kept as it
was (with the error logged) when the new one is invalid. SIGINT/SIGTERM stop gracefully.
`,
    async run(args) {
      const { values } = parse(args, {
        ...CONFIG_OPTION,
        hostname: { type: "string" },
        port: { type: "string", short: "p" },
      });
      if (values.help) return help("serve");
      const watched = new Set<string>();
      const config = loadWatchedConfig(values.config, watched);
      redactor.set(configSecrets(config));
      // Log lines alone go to standard output, so it stays JSON lines; console destinations
      // print on standard error.
      const stdout = new BufferedWriter(writeStdout, {
        onError: (error) =>
          printError(`hero-relay: cannot write logs to stdout (${(error as Error).name})\n`),
      });
      const log = createLogger(stdout, "info", { redact: redactor.redact });
      for (const warning of configWarnings(config)) log.warn(warning);
      const exposed = permissionWarning(values.config, config);
      if (exposed !== null) log.warn(exposed);
      const port = values.port === undefined ? undefined : parsePort(values.port);
      const relay = await startRelay({
        config,
        source: values.config,
        log,
        redactor,
        write: writeStderr,
        ...(values.hostname !== undefined ? { hostname: values.hostname } : {}),
        ...(port !== undefined ? { port } : {}),
      }).catch((error) => {
        throw listenError(error, values.hostname ?? config.listen.hostname);
      }).finally(stdout.flush);
      // Reloads run one at a time, in the order asked for.
      let reloading = Promise.resolve();
      const reload = (trigger: string) => {
        reloading = reloading.then(async () => {
          try {
            const next = loadWatchedConfig(values.config, watched);
            for (const warning of configWarnings(next)) log.warn(warning);
            await relay.reload(next);
          } catch (error) {
            const problems = error instanceof ConfigError
              ? error.problems
              : [(error as Error).message];
            log.error("config reload failed; keeping the running config", {
              trigger,
              problems: problems.join("; "),
            });
          }
        });
      };
      const watcher = watchFiles(
        () => [values.config, ...watched],
        () => reload("file changed"),
      );
      const done = Promise.withResolvers<number>();
      const stop = () => {
        log.info("stopping");
        watcher.close();
        relay.stop().then(() => done.resolve(0), () => done.resolve(1));
      };
      Deno.addSignalListener("SIGINT", stop);
      if (Deno.build.os !== "windows") {
        Deno.addSignalListener("SIGTERM", stop);
        Deno.addSignalListener("SIGHUP", () => reload("SIGHUP"));
      }
      const code = await done.promise;
      stdout.flush();
      return code;
    },
  },

  check: {
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
      if (values.help) return help("check");
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
      out.push("Destinations:");
      const gone = new Map((await goneDestinations(config)).map((d) => [d.name, d]));
      for (const [name, entry] of Object.entries(config.destinations)) {
        const target = "url" in entry ? ` ${entry.url ? maskUrl(entry.url) : "(no URL set)"}` : "";
        const state = !isEnabled(entry)
          ? " [disabled in the config]"
          : gone.has(name)
          ? ` [${describeGone(gone.get(name)!)}]`
          : "";
        out.push(`  ${name} (${entry.type})${target}${state}`);
      }
      out.push("", "Routing table:");
      const types = new Set<string>(KNOWN_EVENT_NAMES);
      for (const route of config.routes) {
        if (route.events !== "*") route.events.forEach((t) => types.add(t));
      }
      const targets = (type: string | null) =>
        runtime.routes
          .filter((r) => r.events === null || (type !== null && r.events.has(type)))
          .flatMap((r) =>
            r.to.map((d) => {
              const enabled = runtime.destinations.get(d)?.enabled && !gone.has(d);
              return `${r.name}${r.when ? " (when …)" : ""} → ${d}${enabled ? "" : " [disabled]"}`;
            })
          ).join(", ") || "(unrouted: stored only)";
      for (const type of types) out.push(`  ${type.padEnd(22)} ${targets(type)}`);
      out.push(`  ${"(other types)".padEnd(22)} ${targets(null)}`);
      const warnings = configWarnings(config);
      if (warnings.length) out.push("", "Warnings:", ...warnings.map((w) => `  ${w}`));
      print(out.join("\n") + "\n");
      return Promise.resolve(0);
    },
  },

  deliveries: {
    usage: `Usage: hero-relay deliveries [--config PATH] [--status S] [--destination D] [--event E]
                             [--limit N] [--json]

Lists deliveries in the store of a running or stopped relay, oldest first.

Options:
  -c, --config PATH    Config file naming the store (default ./config.json)
      --status S       pending, failed, dead or delivered
      --destination D  Only this destination
      --event E        Only this event type
      --limit N        At most N rows (default 100)
      --json           One JSON object per line, for scripts
  -h, --help           Show this help
`,
    async run(args) {
      const { values } = parse(args, {
        ...CONFIG_OPTION,
        status: { type: "string" },
        destination: { type: "string" },
        event: { type: "string" },
        limit: { type: "string", default: "100" },
        json: { type: "boolean" },
      });
      if (values.help) return help("deliveries");
      const status = values.status === undefined ? undefined : parseStatus(values.status);
      const limit = parsePositive(values.limit, "--limit");
      const store = await openExistingStore(values.config);
      try {
        const rows = await store.listDeliveries({
          ...(status ? { status } : {}),
          ...(values.destination ? { destination: values.destination } : {}),
          ...(values.event ? { eventType: values.event } : {}),
          limit,
        });
        if (values.json) {
          print(rows.map((r) => redactor.stringify(r) + "\n").join(""));
          return 0;
        }
        const table = [[
          "DELIVERY",
          "EVENT TYPE",
          "DESTINATION",
          "STATUS",
          "ATTEMPTS",
          "NEXT / UPDATED",
          "LAST ERROR",
        ]];
        for (const r of rows) {
          const when = r.status === "pending" || r.status === "failed" ? r.nextAt : r.updatedAt;
          table.push([
            r.id,
            r.eventType,
            r.destination,
            r.status,
            String(r.attempts),
            new Date(when).toISOString().replace(/\.\d+Z$/, "Z"),
            (r.lastError ?? "").slice(0, 60),
          ]);
        }
        const gone = (await store.disabledDestinations()).map((d) =>
          `Destination "${d.name}" is ${describeGone(d)}\n`
        );
        print(formatTable(table) + `${rows.length} deliveries\n` + gone.join(""));
        return 0;
      } finally {
        await store.close();
      }
    },
  },

  replay: {
    usage: `Usage: hero-relay replay <delivery-id>... [--config PATH]
       hero-relay replay --dead [--destination D] [--since TIME] [--config PATH]

Makes deliveries due again with a fresh retry cycle; a running relay picks them up within a
second. Each replay is recorded in the delivery's history; nothing is rewritten.

Options:
  -c, --config PATH    Config file naming the store (default ./config.json)
      --dead           Replay every dead delivery (with the filters below)
      --destination D  Only this destination
      --since TIME     Only deliveries created since TIME: an ISO date or a duration ago ("2h")
  -h, --help           Show this help
`,
    async run(args) {
      const { values, positionals } = parse(args, {
        ...CONFIG_OPTION,
        dead: { type: "boolean" },
        destination: { type: "string" },
        since: { type: "string" },
      }, true);
      if (values.help) return help("replay");
      if (values.dead === (positionals.length > 0)) {
        throw new UsageError("Give delivery ids or --dead, not both and not neither");
      }
      if (!values.dead && (values.destination || values.since)) {
        throw new UsageError("--destination and --since go with --dead");
      }
      const store = await openExistingStore(values.config);
      try {
        let ids = positionals;
        if (values.dead) {
          const since = values.since === undefined ? undefined : parseSince(values.since);
          const dead = await store.listDeliveries({
            status: "dead",
            ...(values.destination ? { destination: values.destination } : {}),
            ...(since !== undefined ? { since } : {}),
            limit: Number.MAX_SAFE_INTEGER,
          });
          ids = dead.map((d) => d.id);
          if (ids.length === 0) {
            printError("Nothing to replay: no dead deliveries match\n");
            return 1;
          }
        } else {
          for (const id of ids) {
            if (await store.getDelivery(id) === null) {
              printError(`No delivery "${id}" in the store\n`);
              return 1;
            }
          }
        }
        const replayed = await store.replay(ids, Date.now());
        const skipped = ids.length - replayed.length;
        print(
          `Replayed ${replayed.length} deliver${replayed.length === 1 ? "y" : "ies"}` +
            (skipped ? ` (${skipped} in flight right now, skipped)` : "") + "\n",
        );
        return skipped && !values.dead ? 1 : 0;
      } finally {
        await store.close();
      }
    },
  },

  enable: {
    usage: `Usage: hero-relay enable <destination> [--config PATH]

Enables a destination that was disabled because its endpoint said it was gone (fix the
destination first). Its parked deliveries resume; attempts were not used up while parked.

Options:
  -c, --config PATH  Config file naming the store (default ./config.json)
  -h, --help         Show this help
`,
    async run(args) {
      const { values, positionals } = parse(args, CONFIG_OPTION, true);
      if (values.help) return help("enable");
      if (positionals.length !== 1) throw new UsageError("Name one destination");
      const name = positionals[0]!;
      const names = destinationNames(values.config);
      if (!names.includes(name)) {
        printError(
          `No destination "${name}" in "${values.config}" (defined: ${
            names.map((n) => `"${n}"`).join(", ") || "none"
          })\n`,
        );
        return 1;
      }
      const store = await openExistingStore(values.config);
      try {
        const changed = await store.setDisabled(name, null, Date.now());
        print(
          changed
            ? `Enabled "${name}": its parked deliveries resume\n`
            : `"${name}" was not disabled by the relay (its endpoint was never found gone); ` +
              `a destination switched off with "enabled": false in the config is switched on ` +
              `there\n`,
        );
        return 0;
      } finally {
        await store.close();
      }
    },
  },

  render: {
    usage: `Usage: hero-relay render <event_type> [--config PATH] [--payload FILE] [--route NAME]

Shows, for each destination the event reaches, exactly what would be sent (the native body),
using the built-in sample payload unless --payload is given. Nothing is sent.

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
      if (values.help) return help("render");
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
        const rendered = runtime.destinations.get(destination)!.destination.render({
          deliveryId: "dlv_PREVIEW",
          eventId: event.id,
          eventType: type,
          receivedAt: event.receivedAt,
          body: JSON.stringify(payload),
          payload,
          message: route.message(type)(scope),
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
  },

  "send-test": {
    usage: `Usage: hero-relay send-test <event_type|all> [--config PATH] [--url URL] [--secret S]
                           [--payload FILE]

Sends correctly signed sample events, exactly as Influencer Hero would (signature and timestamp
headers; a fresh webhook_timestamp where the type carries one), to a running relay, and prints
each answer. By default the relay and secret are the ones the config describes.

Options:
  -c, --config PATH   Config file (default ./config.json)
      --url URL       Base URL of the relay (default from listen in the config)
      --secret S      Signing secret (default the config's first)
      --payload FILE  Send this JSON payload instead of the sample
  -h, --help          Show this help
`,
    async run(args) {
      const { values, positionals } = parse(args, {
        ...CONFIG_OPTION,
        url: { type: "string" },
        secret: { type: "string" },
        payload: { type: "string" },
      }, true);
      if (values.help) return help("send-test");
      if (positionals.length !== 1) throw new UsageError('Name one event type, or "all"');
      let config: Config | null = null;
      if (values.url === undefined || values.secret === undefined) {
        config = load(values.config, { parts: ["listen", "influencer_hero"] });
      }
      const base = values.url ??
        `http://${
          ["0.0.0.0", "::", ""].includes(config!.listen.hostname)
            ? "127.0.0.1"
            : config!.listen.hostname
        }:${config!.listen.port}`;
      const secret = values.secret ?? config!.influencer_hero.signing_secrets[0]!;
      const types = positionals[0] === "all" ? EVENT_TYPES.map((t) => t.name) : [positionals[0]!];
      let failures = 0;
      for (const type of types) {
        const payload = values.payload === undefined
          ? structuredClone(SAMPLES[type])
          : JSON.parse(Deno.readTextFileSync(values.payload));
        if (payload === undefined) {
          throw new UsageError(`No sample for "${type}"; pass --payload FILE`);
        }
        const now = Math.floor(Date.now() / 1000);
        if ("webhook_timestamp" in payload) payload.webhook_timestamp = String(now);
        // A nonce keeps repeated test sends from being answered as duplicates.
        if (values.payload === undefined) payload.test_nonce = crypto.randomUUID();
        const body = new TextEncoder().encode(JSON.stringify(payload));
        const url = `${base.replace(/\/$/, "")}/hooks/${type}`;
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              [SIGNATURE_HEADER]: await sign(body, secret),
              [TIMESTAMP_HEADER]: String(now),
            },
            body,
          });
          const text = await response.text();
          if (!response.ok) failures++;
          print(`${type.padEnd(22)} ${response.status} ${text}\n`);
        } catch (error) {
          failures++;
          print(`${type.padEnd(22)} cannot reach ${url}: ${networkErrorMessage(error)}\n`);
        }
      }
      return failures ? 1 : 0;
    },
  },

  register: {
    usage: `Usage: hero-relay register --public-url URL [--api-key KEY] [--events all|TYPE,...]
                          [--brand ID]... [--remove] [--api-url URL]

Registers the relay's per-event URLs (<public-url>/hooks/<event_type>) with Influencer Hero's
API, one webhook per event type, so nothing has to be entered by hand. Already registered URLs
are left as they are. With --remove, the registrations are deleted.

Options:
      --public-url URL  The relay's public base URL (Influencer Hero refuses local addresses)
      --api-key KEY     Influencer Hero API key (default: $INFLUENCER_HERO_API_KEY)
      --events LIST     "all" (default) or a comma-separated list of event types
      --brand ID        Only for this brand (repeatable)
      --remove          Delete the registrations instead
      --api-url URL     API base URL (default ${API_URL})
  -h, --help            Show this help
`,
    async run(args) {
      const { values } = parse(args, {
        "public-url": { type: "string" },
        "api-key": { type: "string" },
        events: { type: "string", default: "all" },
        brand: { type: "string", multiple: true },
        remove: { type: "boolean" },
        "api-url": { type: "string" },
        help: { type: "boolean", short: "h" },
      });
      if (values.help) return help("register");
      const publicUrl = values["public-url"];
      if (publicUrl === undefined) throw new UsageError("--public-url is required");
      checkPublicUrl(publicUrl);
      const apiKey = values["api-key"] ?? Deno.env.get("INFLUENCER_HERO_API_KEY");
      if (!apiKey) throw new UsageError("Give --api-key or set INFLUENCER_HERO_API_KEY");
      const eventTypes = values.events === "all"
        ? EVENT_TYPES.map((t) => t.name)
        : values.events.split(",").map((t) => t.trim()).filter((t) => t !== "");
      for (const type of eventTypes) {
        if (!/^[a-z0-9_]{1,64}$/.test(type)) throw new UsageError(`"${type}" is not an event type`);
      }
      const results = await registerWebhooks({
        apiKey,
        publicUrl,
        eventTypes,
        ...(values.remove ? { remove: true } : {}),
        ...(values.brand ? { brandIds: values.brand } : {}),
        ...(values["api-url"] ? { apiUrl: values["api-url"] } : {}),
      });
      for (const r of results) {
        print(
          `${r.eventType.padEnd(22)} ${r.outcome}${r.detail ? `: ${r.detail}` : ""}  ${r.url}\n`,
        );
      }
      return results.some((r) => r.outcome === "failed") ? 1 : 0;
    },
  },

  sign: {
    usage: `Usage: hero-relay sign [--config PATH] [--secret S] [--timestamp T] < body.json

Prints the headers Influencer Hero would send with the body read from standard input, ready
for curl (-H). The secret defaults to the config's first signing secret.

Options:
  -c, --config PATH  Config file (default ./config.json)
      --secret S     Signing secret
      --timestamp T  Unix seconds (default now)
  -h, --help         Show this help
`,
    async run(args) {
      const { values } = parse(args, {
        ...CONFIG_OPTION,
        secret: { type: "string" },
        timestamp: { type: "string" },
      });
      if (values.help) return help("sign");
      const secret = values.secret ??
        load(values.config, { parts: ["influencer_hero"] }).influencer_hero
          .signing_secrets[0]!;
      const timestamp = values.timestamp ?? String(Math.floor(Date.now() / 1000));
      if (!/^[0-9]{1,12}$/.test(timestamp)) throw new UsageError("--timestamp takes Unix seconds");
      const body = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
      print(
        `Content-Type: application/json\nX-InfluencerHero-Signature: ${await sign(
          body,
          secret,
        )}\n` +
          `X-InfluencerHero-Timestamp: ${timestamp}\n`,
      );
      return 0;
    },
  },

  events: {
    usage: `Usage: hero-relay events [<event_type>]

Lists the event types Influencer Hero sends, one line each; with a type, prints its sample payload.
`,
    run(args) {
      const { values, positionals } = parse(args, { help: { type: "boolean", short: "h" } }, true);
      if (values.help) return help("events");
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
  },

  schema: {
    usage: `Usage: hero-relay schema [--output FILE]

Prints the config's JSON Schema (published as config.schema.json for editors).
`,
    async run(args) {
      const { values } = parse(args, {
        output: { type: "string" },
        help: { type: "boolean", short: "h" },
      });
      if (values.help) return help("schema");
      const text = JSON.stringify(configJsonSchema(), null, 2) + "\n";
      if (values.output) await Deno.writeTextFile(values.output, text);
      else print(text);
      return 0;
    },
  },
};

/** How often the config and its `*_file` secrets are looked at (ms). */
const WATCH_INTERVAL_MS = 500;

/**
 * Loads the config, noting every `*_file` it reads, so that a watcher can look at them too.
 */
function loadWatchedConfig(path: string, files: Set<string>): Config {
  files.clear();
  return loadConfig(path, {
    readFile: (file) => {
      files.add(file);
      return Deno.readTextFileSync(file);
    },
  });
}

/**
 * Calls `changed` when the text of the config or of one of its `*_file` secrets changes. The
 * files are polled with stat, which opens nothing: a file-system watcher on the config's folder
 * would make the runtime open and close every file changed there, the store's database among
 * them, and closing any descriptor of the database drops the POSIX locks SQLite holds on it.
 * stat follows symlinks, so editors that save by renaming a new file over the old one and
 * Kubernetes' symlink swaps ("..data") are seen too. A change is acted on once the file has
 * stayed the same for one interval, so a half-written file is not read.
 */
function watchFiles(paths: () => Iterable<string>, changed: () => void): { close(): void } {
  const look = (path: string) => {
    try {
      const s = Deno.statSync(path);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtime?.getTime()}:${s.ctime?.getTime()}`;
    } catch {
      return "missing";
    }
  };
  const text = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  };
  const seen = new Map<string, { stat: string; text: string | null; settling: boolean }>();
  const note = () => {
    for (const path of paths()) {
      if (!seen.has(path)) seen.set(path, { stat: look(path), text: text(path), settling: false });
    }
  };
  note();
  const timer = setInterval(() => {
    note();
    let different = false;
    for (const [path, file] of seen) {
      const stat = look(path);
      if (stat !== file.stat) {
        file.stat = stat;
        file.settling = true;
      } else if (file.settling) {
        file.settling = false;
        const now = text(path);
        if (now !== file.text) different = true;
        file.text = now;
      }
    }
    if (different) changed();
  }, WATCH_INTERVAL_MS);
  return { close: () => clearInterval(timer) };
}

/**
 * Opens the store of the relay `configPath` describes, which must exist: a store command never
 * creates an empty one (a wrong --config would otherwise show "0 deliveries"). Only the store
 * part of the config is read. The file is looked at, never opened, before SQLite opens it.
 */
async function openExistingStore(configPath: string): Promise<Store> {
  const config = load(configPath, { parts: ["store"] });
  const path = config.store.sqlite;
  if (config.store.postgres === undefined && path !== undefined && path !== ":memory:") {
    try {
      Deno.lstatSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(
        `No store at "${path}"; is --config the relay's config? ` +
          "(the relay creates its store when it first starts)",
      );
    }
  }
  return await openStore(config);
}

/**
 * The error of a listener that could not start on `hostname` because no interface of this
 * machine has that address, with the way out; other errors as they are.
 */
function listenError(error: unknown, hostname: string): unknown {
  const message = (error as Error).message;
  const lookup = /failed to lookup address|Name or service not known|nodename nor servname/i
    .test(message);
  if (!lookup && !/Cannot assign requested address|os error 99\b/.test(message)) return error;
  return new Error(
    `Cannot listen on "${hostname}": ${
      lookup ? "it is not an address or a known host name" : "no interface of this machine has it"
    }; give --hostname or listen.hostname an address of this machine, such as 127.0.0.1 ` +
      "(this machine only) or 0.0.0.0 (every interface)",
  );
}

/**
 * Destinations the relay disabled because their endpoint is gone, from the SQLite store if it
 * exists (check never creates a store, and does not connect to PostgreSQL).
 */
async function goneDestinations(config: Config): Promise<DisabledDestination[]> {
  const path = config.store.sqlite;
  if (config.store.postgres !== undefined || path === undefined || path === ":memory:") return [];
  try {
    Deno.lstatSync(path);
  } catch {
    return [];
  }
  const store = await openStore(config);
  try {
    return await store.disabledDestinations();
  } finally {
    await store.close();
  }
}

/** "disabled by the relay since …: <reason>; …", for check and deliveries. */
function describeGone(gone: DisabledDestination): string {
  return `disabled by the relay since ${
    new Date(gone.at).toISOString().replace(/\.\d+Z$/, "Z")
  } because its endpoint is gone (${gone.reason}); deliveries wait: fix it, then run ` +
    `"hero-relay enable ${gone.name}"`;
}

/** The destination names a config file defines, without validating the rest. */
function destinationNames(configPath: string): string[] {
  // Reports a file that is no valid JSON with its line and column; destinations are read raw.
  load(configPath, { parts: ["store"] });
  const raw = JSON.parse(Deno.readTextFileSync(configPath));
  return Object.keys(raw?.destinations ?? {});
}

type Options = Parameters<typeof parseArgs>[0] extends infer T
  ? T extends { options?: infer O } ? NonNullable<O> : never
  : never;

/**
 * The CLI's redactor: every command that loads the config takes that config's secrets out of
 * what it prints, an attempt's stored error included.
 */
const redactor = new Redactor();

/**
 * Loads the config (only `options.parts` when given) and arms the redactor with its secrets. A
 * command that reads only some parts still redacts the secrets of all of them where the whole
 * config loads; where it does not (an unset variable the command has no use for), the errors it
 * may print were redacted by the relay when it stored them.
 */
function load(path: string, options: ParseOptions = {}): Config {
  const config = loadConfig(path, options);
  let secrets = configSecrets(config);
  if (options.parts !== undefined) {
    try {
      secrets = configSecrets(loadConfig(path));
    } catch {
      // the parts read are redacted
    }
  }
  redactor.set(secrets);
  return config;
}

/** Writes CLI output, secrets redacted. */
function print(text: string): void {
  writeStdout(redactor.redact(text));
}

/** Writes CLI errors, secrets redacted. */
function printError(text: string): void {
  writeStderr(redactor.redact(text));
}

function parse<O extends Options>(args: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function help(command: string): Promise<number> {
  print(COMMANDS[command]!.usage);
  return Promise.resolve(0);
}

/** Influencer Hero only calls public URLs: refuse local and private ones early. */
function checkPublicUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `--public-url takes a URL such as https://relay.example.com, not "${value}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError("--public-url must be an https:// URL");
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const local = host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^(127|10|0)\./.test(host) || /^192\.168\./.test(host) || /^169\.254\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) || /^f[cd][0-9a-f]{2}:/i.test(host);
  if (local) {
    throw new UsageError(
      "Influencer Hero only calls public URLs: put the relay behind a reverse proxy or tunnel " +
        "and give that public URL",
    );
  }
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^[0-9]+$/.test(value) || port > 65535) {
    throw new UsageError(`--port takes 0 to 65535, not "${value}"`);
  }
  return port;
}

function parsePositive(value: string, flag: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${flag} takes a positive whole number`);
  return Number(value);
}

function parseStatus(value: string): DeliveryStatus {
  const statuses = ["pending", "failed", "dead", "delivered"];
  if (!statuses.includes(value)) {
    throw new UsageError(`--status takes one of ${statuses.join(", ")}, not "${value}"`);
  }
  return value as DeliveryStatus;
}

function parseSince(value: string): number {
  try {
    return Date.now() - parseDuration(value);
  } catch {
    const date = Date.parse(value);
    if (Number.isNaN(date)) {
      throw new UsageError(`--since takes an ISO date or a duration, not "${value}"`);
    }
    return date;
  }
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join(
    "\n",
  ) +
    "\n";
}

function prettyBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    print(USAGE);
    return first === undefined ? 2 : 0;
  }
  if (first === "-V" || first === "--version") {
    print(`hero-relay ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[first];
  if (command === undefined) {
    printError(`Unknown command "${first}". Run "hero-relay --help" for the list.\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}\nRun "hero-relay ${first} --help" for usage.\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      printError(error.message + "\n");
      return 1;
    }
    printError(`Error: ${(error as Error).message}\n`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
