// Commands on the store of a running or stopped relay: `deliveries`, `replay`, `enable`,
// `pause`, `resume`.

import { parseDuration } from "../config.ts";
import { openStore } from "../relay.ts";
import type { DeliveryStatus, Store } from "../store.ts";
import {
  type Command,
  CONFIG_OPTION,
  describeGone,
  describePaused,
  help,
  load,
  parse,
  print,
  printError,
  redactor,
  UsageError,
} from "./shared.ts";

export const deliveriesCommand: Command = {
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
    if (values.help) return help(deliveriesCommand.usage);
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
      const paused = (await store.pausedDestinations()).map((d) =>
        `Destination "${d.name}" is ${describePaused(d)}\n`
      );
      print(formatTable(table) + `${rows.length} deliveries\n` + gone.join("") + paused.join(""));
      return 0;
    } finally {
      await store.close();
    }
  },
};

export const replayCommand: Command = {
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
    if (values.help) return help(replayCommand.usage);
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
};

export const enableCommand: Command = {
  usage: `Usage: hero-relay enable <destination> [--config PATH]

Enables a destination that was disabled because its endpoint said it was gone (fix the
destination first). Its parked deliveries resume; attempts were not used up while parked.

Options:
-c, --config PATH  Config file naming the store (default ./config.json)
-h, --help         Show this help
`,
  run: (args) =>
    onDestination(
      args,
      enableCommand.usage,
      async (store, name) =>
        await store.setDisabled(name, null, Date.now())
          ? `Enabled "${name}": its parked deliveries resume\n`
          : `"${name}" was not disabled by the relay (its endpoint was never found gone); ` +
            `a destination switched off with "enabled": false in the config is switched on ` +
            `there\n`,
    ),
};

export const pauseCommand: Command = {
  usage: `Usage: hero-relay pause <destination> [--config PATH]

Pauses a destination by hand: nothing more is sent to it until "hero-relay resume", across
restarts of the relay. Its deliveries wait with their attempts unspent; one already being
attempted finishes. A running relay stops within a few seconds.

Options:
-c, --config PATH  Config file naming the store (default ./config.json)
-h, --help         Show this help
`,
  run: (args) => setPaused(args, true),
};

export const resumeCommand: Command = {
  usage: `Usage: hero-relay resume <destination> [--config PATH]

Resumes a destination paused with "hero-relay pause": its waiting deliveries are sent, a
running relay starting within a few seconds.

Options:
-c, --config PATH  Config file naming the store (default ./config.json)
-h, --help         Show this help
`,
  run: (args) => setPaused(args, false),
};

function setPaused(args: string[], pause: boolean): Promise<number> {
  return onDestination(
    args,
    pause ? pauseCommand.usage : resumeCommand.usage,
    async (store, name) => {
      const changed = await store.setPaused(name, pause, Date.now());
      if (pause) {
        return changed
          ? `Paused "${name}": its deliveries wait until "hero-relay resume ${name}"\n`
          : `"${name}" was already paused\n`;
      }
      return changed
        ? `Resumed "${name}": its waiting deliveries are sent\n`
        : `"${name}" was not paused\n`;
    },
  );
}

/**
 * Runs a command on one destination the config defines, in the store: `act` changes it and says
 * what it did. An unknown name is an error that lists the defined ones.
 */
async function onDestination(
  args: string[],
  usage: string,
  act: (store: Store, name: string) => Promise<string>,
): Promise<number> {
  const { values, positionals } = parse(args, CONFIG_OPTION, true);
  if (values.help) return help(usage);
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
    print(await act(store, name));
    return 0;
  } finally {
    await store.close();
  }
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

/** The destination names a config file defines, without validating the rest. */
function destinationNames(configPath: string): string[] {
  // Reports a file that is no valid JSON with its line and column; destinations are read raw.
  load(configPath, { parts: ["store"] });
  const raw = JSON.parse(Deno.readTextFileSync(configPath));
  return Object.keys(raw?.destinations ?? {});
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

function parsePositive(value: string, flag: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${flag} takes a positive whole number`);
  return Number(value);
}
