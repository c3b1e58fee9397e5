// The operator's config: load → substitute environment → validate. One zod schema gives the
// validation, the TypeScript types and the published config.schema.json. Every problem is
// collected and reported together, each with its JSON path.

import { dirname, resolve } from "node:path";
import { z } from "zod";
import { DESTINATION_SCHEMAS, destinationTypeOf } from "./destinations.ts";
import { isEventName, KNOWN_EVENT_NAMES, RESERVED_SOURCE, UNKNOWN_EVENT } from "./events.ts";
import { SOURCE_NAME } from "./source.ts";
import { SOURCE_SCHEMAS } from "./sources.ts";
import type { SecretValue } from "./redact.ts";
import {
  bool,
  duration,
  isHttpUrl,
  parseDuration,
  retrySchema,
  secret,
  type SecretMeta,
  timeoutSchema,
} from "./schema_kit.ts";

export { parseDuration, type RetryConfig } from "./schema_kit.ts";

function isPostgresUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === "postgres:" || protocol === "postgresql:";
  } catch {
    return false;
  }
}

const fieldTemplate = z.strictObject({
  name: z.string(),
  value: z.string(),
  inline: z.boolean().optional(),
});

/** Liquid templates for the parts of the neutral message; any part left out keeps its default. */
const messageSchema = z.strictObject({
  title: z.string().optional(),
  text: z.string().optional(),
  fields: z.array(fieldTemplate).optional(),
  link_url: z.string().optional(),
  link_label: z.string().optional(),
  image: z.string().optional(),
  author_name: z.string().optional(),
  author_url: z.string().optional(),
  author_icon: z.string().optional(),
  color: z.string().optional(),
});

const destinationSchema = z.discriminatedUnion("type", DESTINATION_SCHEMAS);

const sourceSchema = z.discriminatedUnion("type", SOURCE_SCHEMAS);

const routeSchema = z.strictObject({
  name: z.string().min(1),
  events: z.union([z.string(), z.array(z.string()).min(1)])
    .transform((value): "*" | string[] => {
      const list = typeof value === "string" ? [value] : value;
      return list.includes("*") ? "*" : list;
    })
    .describe('Event types this route takes: one, a list, or "*" (also ["*"]) for all'),
  when: z.string().optional().describe("Liquid condition on the payload"),
  to: z.array(z.string()).min(1).describe("Destination names"),
  message: messageSchema.optional(),
  digest: z.strictObject({
    every: duration.describe(
      'Window length: rolling from its first event ("15m"), or with "at" calendar windows ' +
        '("1d", "7d", or hours that divide a day)',
    ),
    at: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'expected a time such as "09:00"')
      .optional().describe("Calendar windows start at this local time (HH:MM)"),
    timezone: z.string().optional().describe(
      'IANA time zone of calendar windows, such as "Europe/Berlin" (default UTC)',
    ),
    max_events: z.number().int().min(1).max(500).optional().describe(
      "A window with this many events is sent at once",
    ),
    empty: z.string().min(1).optional().describe(
      "Text sent for a calendar window without events (otherwise nothing is sent)",
    ),
  }).optional().describe("Collect the route's events and send one summary per window"),
});

/** Alerts to the people who run the relay: where they go, and when a destination's trouble is one. */
const alertsSchema = z.strictObject({
  to: z.array(z.string()).min(1).describe(
    "Destinations that receive alerts; an alert about one of them goes to the others only",
  ),
  window: duration.default("5m").describe(
    "Deaths of one destination's deliveries (and store errors) within this make one alert",
  ),
  consecutive_failures: z.number().int().min(1).default(10).describe(
    'Failed attempts in a row after which a destination is reported "failing"',
  ),
  oldest_waiting: duration.default("15m").describe(
    'Age of a destination\'s oldest waiting delivery after which it is reported "failing"',
  ),
  message: messageSchema.optional().describe(
    "Liquid templates replacing parts of the built-in alert message, with the alert's fields " +
      "in scope (kind, destination, reason, count, first_error, waiting, command, since)",
  ),
}).describe("Alerts when a destination is disabled, fails, loses deliveries or recovers");

/** The config file's schema. */
export const CONFIG_SCHEMA = z.strictObject({
  $schema: z.string().optional(),
  listen: z.strictObject({
    hostname: z.string().default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8080),
    body_timeout: duration.refine((value) => {
      const ms = parseDuration(value);
      return ms >= 100 && ms <= 3_600_000;
    }, "expected a duration from 100ms to 1h").default("10s").describe(
      "Time a client has to send a request's body, 100ms to 1h; slower ones get 408",
    ),
    max_concurrent_requests: z.number().int().min(1).max(100_000).default(256).describe(
      "Requests handled at once; more get 503 with Retry-After",
    ),
    header_timeout: duration.refine((value) => {
      const ms = parseDuration(value);
      return ms >= 100 && ms <= 600_000;
    }, "expected a duration from 100ms to 10m").default("10s").describe(
      "Time a connection has to send a request's headers, 100ms to 10m; then it is closed",
    ),
    idle_timeout: duration.refine((value) => {
      const ms = parseDuration(value);
      return ms >= 100 && ms <= 3_600_000;
    }, "expected a duration from 100ms to 1h").default("15s").describe(
      "A keep-alive connection with no request is closed after this, 100ms to 1h",
    ),
    max_connections: z.number().int().min(1).max(1_000_000).optional().describe(
      "Connections open at once (default: a quarter of the file descriptors free at start, 32 to " +
        "512); at the " +
        "limit the longest-idle connection is closed to admit a new one",
    ),
  }).prefault({}),
  admin: z.strictObject({
    hostname: z.string().default("127.0.0.1").describe(
      "Address of the admin API's own listener; keep it on this machine",
    ),
    port: z.number().int().min(0).max(65535).default(8081),
    token: secret(
      z.string().min(16, "expected a token of at least 16 characters").describe(
        "Bearer token the admin API and the console require (a secret: use ${VAR} or " +
          "token_file); unset, one is generated at the first start and kept in the file " +
          "admin-token beside the store (mode 0600)",
      ),
    ).optional(),
    console: bool.default(true).describe(
      "Whether the admin listener also serves the web console at / (default true)",
    ),
  }).optional().describe("The admin API and the web console; off when absent"),
  influencer_hero: z.strictObject({
    signing_secrets: z.array(secret(z.string())).max(4).transform((list) =>
      list.filter((s) => s !== "")
    ).refine((list) => list.length > 0, "expected at least one non-empty signing secret")
      .describe(
        "Webhook signing secrets; two during a rotation. Empty entries are ignored, so an " +
          "unset ${OLD_SECRET:-} can stay in the list",
      ),
    tolerance_seconds: z.number().int().min(1).max(3600).default(300).describe(
      "Largest accepted distance between X-InfluencerHero-Timestamp and now",
    ),
    max_body_bytes: z.number().int().min(1024).max(25 * 1024 * 1024).default(1024 * 1024),
  }),
  store: z.strictObject({
    sqlite: z.string().min(1).optional().describe(
      "Path of the SQLite database file (the default store: ./data/hero-relay.db)",
    ),
    postgres: secret(
      z.string().min(1).describe(
        'PostgreSQL connection URL, such as "${DATABASE_URL}" (a secret): several relays may ' +
          "share one database",
      ),
      "credentials",
    ).optional(),
  }).prefault({}).describe('The store: "sqlite" or "postgres", not both'),
  delivery: z.strictObject({
    retry: retrySchema.optional(),
    timeout: timeoutSchema.optional(),
    concurrency: z.number().int().min(1).max(256).optional().describe(
      "Attempts in flight per destination, for every destination (turns adaptive concurrency off)",
    ),
    ordered: bool.optional(),
    lease: duration.optional().describe("How long a worker holds a delivery before others may"),
  }).prefault({}),
  retention: z.strictObject({
    delivered: duration.default("7d"),
    dead: duration.default("30d"),
  }).prefault({}),
  sources: z.record(
    z.string().regex(
      SOURCE_NAME,
      'expected a source name of lowercase letters, digits, "_" and "-"',
    ),
    sourceSchema,
  ).default({}).describe(
    "Other senders, each received at POST /sources/<name>; their events are named " +
      '"<name>.<topic>" ("shop.orders_create")',
  ),
  destinations: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), destinationSchema),
  routes: z.array(routeSchema),
  alerts: alertsSchema.optional(),
});

/** The config file as written, before defaults. */
export type ConfigInput = z.input<typeof CONFIG_SCHEMA>;
/** The validated config. */
export type Config = z.output<typeof CONFIG_SCHEMA>;
/** A validated destination. */
export type DestinationConfig = Config["destinations"][string];
/** A validated source. */
export type SourceConfig = Config["sources"][string];
/** A validated route. */
export type RouteConfig = Config["routes"][number];
/** Templates of the neutral message's parts. */
export type MessageConfig = z.output<typeof messageSchema>;

/** What each parsed config read from `*_file` files: secrets too, whichever field they fill. */
const FILE_VALUES = new WeakMap<Config, string[]>();

/**
 * The source names of configs parsed without their `sources` part (`render` needs no sender's
 * secret): routes naming those sources are still checked against the names in the file.
 */
const UNREAD_SOURCES = new WeakMap<Config, string[]>();

/**
 * Every secret in a validated config, found through the fields the schema marks with
 * `secret()`, and whatever was read from a `*_file`: the redactor's input, collected once per
 * config load.
 */
export function configSecrets(config: Config): SecretValue[] {
  const out: PlacedSecret[] = [];
  collectSecrets(CONFIG_SCHEMA, config, out);
  const secrets: SecretValue[] = out.map(({ value, kind }) => ({ value, kind }));
  for (const value of FILE_VALUES.get(config) ?? []) {
    if (value !== "") secrets.push({ value, kind: "text" });
  }
  return secrets;
}

/** A secret of the config and the JSON path of the field that holds it. */
type PlacedSecret = SecretValue & { path: (string | number)[] };

function collectSecrets(
  schema: z.core.$ZodType,
  value: unknown,
  out: PlacedSecret[],
  path: (string | number)[] = [],
): void {
  if (value === undefined || value === null) return;
  const kind = (z.globalRegistry.get(schema) as Partial<SecretMeta> | undefined)?.["x-secret"];
  if (kind !== undefined) {
    if (typeof value === "string" && value !== "") out.push({ value, kind, path });
    return;
  }
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
      return collectSecrets(def["innerType"] as z.core.$ZodType, value, out, path);
    case "pipe": {
      // A transform's output has no schema of its own: the input's says where secrets are.
      const to = def["out"] as z.core.$ZodType;
      const from = to._zod.def.type === "transform" ? def["in"] : to;
      return collectSecrets(from as z.core.$ZodType, value, out, path);
    }
    case "object": {
      if (!isRecord(value)) return;
      const shape = def["shape"] as Record<string, z.core.$ZodType>;
      for (const [key, field] of Object.entries(shape)) {
        collectSecrets(field, value[key], out, [...path, key]);
      }
      return;
    }
    case "array":
      if (!Array.isArray(value)) return;
      value.forEach((item, i) =>
        collectSecrets(def["element"] as z.core.$ZodType, item, out, [...path, i])
      );
      return;
    case "record":
      if (!isRecord(value)) return;
      for (const [key, item] of Object.entries(value)) {
        collectSecrets(def["valueType"] as z.core.$ZodType, item, out, [...path, key]);
      }
      return;
    case "union": {
      const options = def["options"] as z.core.$ZodType[];
      const discriminator = def["discriminator"] as string | undefined;
      for (const option of options) {
        if (discriminator !== undefined && isRecord(value)) {
          const shape = (option._zod.def as unknown as { shape?: Record<string, z.core.$ZodType> })
            .shape;
          const literal = shape?.[discriminator]?._zod.def as { values?: unknown[] } | undefined;
          if (literal?.values !== undefined && !literal.values.includes(value[discriminator])) {
            continue;
          }
        }
        collectSecrets(option, value, out, path);
      }
      return;
    }
  }
}

/** The JSON Schema published for editors as config.schema.json. */
export function configJsonSchema(): unknown {
  return widenSchema(z.toJSONSchema(CONFIG_SCHEMA, { io: "input" }), null);
}

/** A string the loader substitutes (`${VAR}`), accepted where a boolean or a number goes. */
const SUBSTITUTED = { type: "string", pattern: "\\$\\{[A-Za-z_][A-Za-z0-9_]*" } as const;

/** Keys that hold a secret or a URL: each has a `<key>_file` (lists `<key>_files`) twin. */
const FILE_TWIN = /(^|_)(url|token|key|secrets|postgres|credentials)$/;

/**
 * Makes the JSON Schema accept what the loader accepts before validation: `${VAR}` strings where
 * booleans and numbers go (they are validated after substitution), and the `_file` twins that
 * read a secret or URL from a file, either the key or its twin.
 */
function widenSchema(node: unknown, key: string | null): unknown {
  if (Array.isArray(node)) return node.map((item) => widenSchema(item, null));
  if (!isRecord(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === "properties" && isRecord(v)
      ? Object.fromEntries(Object.entries(v).map(([name, s]) => [name, widenSchema(s, name)]))
      : widenSchema(v, null);
  }
  const type = out["type"];
  if (key !== "$schema" && (type === "boolean" || type === "number" || type === "integer")) {
    const { description, default: fallback, ...rest } = out;
    return {
      ...(description !== undefined ? { description } : {}),
      ...(fallback !== undefined ? { default: fallback } : {}),
      anyOf: [rest, SUBSTITUTED],
    };
  }
  if (
    Array.isArray(out["anyOf"]) &&
    out["anyOf"].some((o) => isRecord(o) && o["type"] === "string" && "enum" in o) &&
    out["anyOf"].some((o) => isRecord(o) && isRecord(o["anyOf"]))
  ) {
    // bool: true/false (each now widened) or "true"/"false"/"": flatten one level.
    out["anyOf"] = out["anyOf"].flatMap((o) =>
      isRecord(o) && Array.isArray(o["anyOf"]) ? o["anyOf"] : [o]
    ).filter((o, i, all) => all.findIndex((x) => JSON.stringify(x) === JSON.stringify(o)) === i);
  }
  const properties = out["properties"];
  if (type === "object" && isRecord(properties)) {
    const required = new Set(Array.isArray(out["required"]) ? out["required"] as string[] : []);
    const alternatives: unknown[] = [];
    for (const [name, schema] of Object.entries({ ...properties })) {
      if (!FILE_TWIN.test(name) || !isRecord(schema)) continue;
      const list = schema["type"] === "array";
      const twin = list ? `${name}_files` : `${name}_file`;
      properties[twin] = list
        ? { description: `Files holding "${name}", one per entry`, type: "array", items: FILE }
        : { ...FILE, description: `A file holding "${name}" (trailing newline removed)` };
      // Each alternative names its keys in "properties" too, as strict validators require.
      const has = (...keys: string[]) => ({
        type: "object",
        properties: Object.fromEntries(keys.map((k) => [k, true])),
        required: keys,
      });
      alternatives.push(
        required.has(name) ? { oneOf: [has(name), has(twin)] } : { not: has(name, twin) },
      );
      required.delete(name);
    }
    if (alternatives.length > 0) {
      out["required"] = [...required];
      if (required.size === 0) delete out["required"];
      out["allOf"] = alternatives;
    }
  }
  return out;
}

const FILE = { type: "string", minLength: 1 } as const;

/** A config that cannot be used, with every problem found. */
export class ConfigError extends Error {
  /** Each problem, as "path: what was expected". */
  problems: string[];

  constructor(source: string, problems: string[]) {
    super(`Cannot load config "${source}":\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** A top-level part of the config. */
export type ConfigPart = Exclude<keyof ConfigInput, "$schema">;

/** Options of {@linkcode parseConfig}. */
export interface ParseOptions {
  /** Looks up environment variables; defaults to Deno.env. */
  env?: (name: string) => string | undefined;
  /** Reads `*_file` secrets; defaults to Deno.readTextFileSync. */
  readFile?: (path: string) => string;
  /**
   * Only these parts are read and validated (a command that only reads the store need not have
   * the admin token set); the others are left empty and must not be used.
   */
  parts?: readonly ConfigPart[];
}

/** The SQLite file when the config names none, relative to the config's folder. */
const DEFAULT_SQLITE_FILE = "./data/hero-relay.db";

/** What a part left out by {@linkcode ParseOptions.parts} holds, if the schema requires it. */
const LEFT_OUT: Partial<Record<ConfigPart, unknown>> = {
  influencer_hero: { signing_secrets: ["(not read)"] },
  destinations: {},
  routes: [],
};

/**
 * Reads, substitutes and validates a config file; throws {@linkcode ConfigError}. Relative paths
 * in it (`*_file`, `store.sqlite`) are taken from the config file's folder, wherever the command
 * runs.
 */
export function loadConfig(path: string, options: ParseOptions = {}): Config {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ConfigError(path, [
        "the file does not exist; create one from config.example.json " +
        `(cp config.example.json ${path}) or pass --config`,
      ]);
    }
    throw new ConfigError(path, [`the file cannot be read: ${(error as Error).message}`]);
  }
  const folder = dirname(resolve(path));
  const read = options.readFile ?? ((file: string) => Deno.readTextFileSync(file));
  const config = parseConfig(text, path, {
    ...options,
    readFile: (file) => read(resolve(folder, file)),
  });
  if (config.store.postgres === undefined && config.store.sqlite !== ":memory:") {
    config.store.sqlite = resolve(folder, config.store.sqlite ?? DEFAULT_SQLITE_FILE);
  }
  return config;
}

/**
 * Parses config text: JSON, environment, files, schema; `source` names it in errors. Throws
 * {@linkcode ConfigError}. References between parts and templates are checked by compileConfig.
 */
export function parseConfig(text: string, source: string, options: ParseOptions = {}): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(source, [`the file is not valid JSON: ${jsonError(error, text)}`]);
  }
  let unreadSources: string[] = [];
  if (options.parts !== undefined && isRecord(raw)) {
    if (!options.parts.includes("sources") && isRecord(raw["sources"])) {
      unreadSources = Object.keys(raw["sources"]);
    }
    const kept: Record<string, unknown> = { ...LEFT_OUT };
    for (const part of options.parts) {
      if (part in raw) kept[part] = raw[part];
      else delete kept[part];
    }
    raw = kept;
  }
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const readFile = options.readFile ?? ((path: string) => Deno.readTextFileSync(path));
  const missing: Array<{ path: (string | number)[]; problem: string }> = [];
  const substituted = substitute(raw, [], env, missing);
  const fileValues: string[] = [];
  const files = resolveFiles(substituted, [], (path) => {
    const text = readFile(path);
    fileValues.push(text.replace(/\r?\n$/, ""));
    return text;
  }, missing);
  let result = CONFIG_SCHEMA.safeParse(files);
  if (!result.success && numbersFromVariables(raw, files, result.error.issues)) {
    result = CONFIG_SCHEMA.safeParse(files);
  }
  const problems: string[] = [];
  const disabled = disabledDestinations(files);
  for (const { path, problem } of missing) {
    if (path[0] === "destinations" && disabled.has(String(path[1]))) continue;
    problems.push(`${formatPath(path)}: ${problem}`);
  }
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(formatIssue(issue));
  } else {
    problems.push(...valueProblems(result.data));
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  const config = (result as { data: Config }).data;
  FILE_VALUES.set(config, fileValues);
  if (unreadSources.length > 0) UNREAD_SOURCES.set(config, unreadSources);
  return config;
}

/**
 * Turns `${VAR}` strings where a number goes ("port": "${PORT:-8080}") into that number, in
 * place; true when any changed. A string written literally stays an error.
 */
function numbersFromVariables(raw: unknown, files: unknown, issues: z.core.$ZodIssue[]): boolean {
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== "invalid_type" || issue.expected !== "number") continue;
    const path = issue.path as (string | number)[];
    const parent = at(files, path.slice(0, -1)) as Record<string | number, unknown> | undefined;
    const written = at(raw, path);
    const value = parent?.[path.at(-1)!];
    if (
      typeof written === "string" && written.includes("${") && typeof value === "string" &&
      /^-?[0-9]+(\.[0-9]+)?$/.test(value)
    ) {
      parent![path.at(-1)!] = Number(value);
      changed = true;
    }
  }
  return changed;
}

function at(value: unknown, path: (string | number)[]): unknown {
  let node = value;
  for (const part of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[part];
  }
  return node;
}

/** The signing secret config.example.json falls back on, so the quick start needs no setup. */
export const DEVELOPMENT_SECRET = "dev-secret-change-me";

/** Warnings that do not stop the relay, such as event names Influencer Hero does not document. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.influencer_hero.signing_secrets.includes(DEVELOPMENT_SECRET)) {
    warnings.push(
      "influencer_hero.signing_secrets: the development secret of config.example.json is in " +
        "use, so anyone can sign webhooks; for real traffic set HERO_RELAY_SIGNING_SECRET " +
        "(or your config's variable) to the secret from Influencer Hero > Settings > API integration",
    );
  }
  const admin = config.admin?.hostname;
  if (admin !== undefined && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(admin)) {
    warnings.push(
      `admin.hostname: "${admin}" exposes the admin API beyond this machine; ` +
        "prefer 127.0.0.1 and an SSH tunnel",
    );
  }
  config.routes.forEach((route, i) => {
    if (route.events === "*") return;
    route.events.forEach((name, j) => {
      if (isEventName(name) && !KNOWN_EVENT_NAMES.has(name) && name !== UNKNOWN_EVENT) {
        warnings.push(
          `routes[${i}].events[${j}]: "${name}" is not a documented Influencer Hero event type ` +
            `(did you mean "${closestEventName(name)}"?); it stays routable, for types added later`,
        );
      }
    });
  });
  return warnings;
}

/** The known event type nearest to `name` in edit distance. */
function closestEventName(name: string): string {
  let best = "";
  let bestDistance = Infinity;
  for (const known of KNOWN_EVENT_NAMES) {
    const distance = editDistance(name, known);
    if (distance < bestDistance) [best, bestDistance] = [known, distance];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = rows[i]!;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * A warning when the config file holds secrets written in it (rather than taken from the
 * environment or `*_file`) and other users may read it (group or others bits set). Null on
 * Windows, whose permissions are not Unix modes.
 */
export function permissionWarning(path: string, config: Config): string | null {
  if (Deno.build.os === "windows") return null;
  const mode = Deno.statSync(path).mode;
  if (mode === null || (mode & 0o077) === 0) return null;
  const secrets = inlineSecrets(config, Deno.readTextFileSync(path));
  if (secrets.length === 0) return null;
  return `config file "${path}" is readable by other users (mode ` +
    `${(mode & 0o777).toString(8).padStart(3, "0")}) and holds secrets at ${secrets.join(", ")}; ` +
    `run "chmod 600 ${path}", or take them from the environment (\${VAR}) or a *_file`;
}

/**
 * JSON paths of secrets whose values are written literally in the config text: every field the
 * schema marks as a secret, in any destination, except what its type says is harmless written
 * out (an HTTP endpoint's URL without a query or credentials) and headers such as content-type.
 */
function inlineSecrets(config: Config, text: string): string[] {
  const placed: PlacedSecret[] = [];
  collectSecrets(CONFIG_SCHEMA, config, placed);
  return placed.filter(({ value, kind, path }) => {
    // Values shorter than 6 characters could appear in the text by chance; they are skipped.
    // The development secret is published in config.example.json: it protects nothing.
    if (value.length < 6 || value === DEVELOPMENT_SECRET) return false;
    if (!text.includes(JSON.stringify(value).slice(1, -1))) return false;
    if (kind === "header") return !HARMLESS_HEADERS.has(String(path.at(-1)).toLowerCase());
    const destination = path[0] === "destinations" ? config.destinations[String(path[1])] : null;
    if (destination === null || destination === undefined) return true;
    const inline = destinationTypeOf(destination.type).inlineSecret;
    return inline === undefined || inline(path.slice(2).join("."), value);
  })
    // In the order they appear in the file.
    .map(({ value, path }) => ({ at: text.indexOf(JSON.stringify(value).slice(1, -1)), path }))
    .sort((a, b) => a.at - b.at)
    .map(({ path }) => formatPath(path));
}

const HARMLESS_HEADERS = new Set(["content-type", "user-agent", "accept"]);

/** Whether a destination takes deliveries (or a source is received). */
export function isEnabled(part: { enabled?: boolean | undefined }): boolean {
  return part.enabled !== false;
}

/** Problems with values the schema alone cannot judge: the store, secrets, destination URLs. */
function valueProblems(config: Config): string[] {
  const problems: string[] = [];
  const { sqlite, postgres } = config.store;
  if (sqlite !== undefined && postgres !== undefined) {
    problems.push('store.postgres: set "sqlite" or "postgres", not both');
  } else if (postgres !== undefined && !isPostgresUrl(postgres)) {
    // The URL holds a password: the message never repeats it.
    problems.push("store.postgres: expected a postgres:// or postgresql:// URL");
  }
  const secrets = config.influencer_hero.signing_secrets;
  if (secrets.length !== new Set(secrets).size) {
    problems.push("influencer_hero.signing_secrets: expected distinct secrets");
  }
  if (RESERVED_SOURCE in config.sources) {
    problems.push(
      `sources.${RESERVED_SOURCE}: "${RESERVED_SOURCE}" names the relay's own events; ` +
        "choose another source name",
    );
  }
  for (const [name, source] of Object.entries(config.sources)) {
    if (isEnabled(source) && source.secrets.length === 0) {
      problems.push(
        `${formatPath(["sources", name, "secrets"])}: expected at least one non-empty secret ` +
          '(or "enabled": false until there is one)',
      );
    }
  }
  for (const [name, destination] of Object.entries(config.destinations)) {
    if (isEnabled(destination) && "url" in destination && !isHttpUrl(destination.url)) {
      problems.push(
        `${formatPath(["destinations", name, "url"])}: expected an http:// or https:// URL` +
          (destination.url === "" ? ", got an empty string" : ""),
      );
    }
  }
  return problems;
}

/**
 * Problems between parts of a valid config: routes naming undefined destinations, bad event
 * names, repeated route names. compileConfig reports them together with template problems.
 */
export function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const names = Object.keys(config.destinations);
  const defined = names.map((n) => `"${n}"`).join(", ") || "none";
  const routeNames = new Set<string>();
  const sources = [...Object.keys(config.sources), ...UNREAD_SOURCES.get(config) ?? []];
  config.routes.forEach((route, i) => {
    if (routeNames.has(route.name)) {
      problems.push(`routes[${i}].name: route name "${route.name}" is used twice`);
    }
    routeNames.add(route.name);
    if (route.events !== "*") {
      route.events.forEach((name, j) => {
        const problem = eventNameProblem(name, sources);
        if (problem !== null) problems.push(`routes[${i}].events[${j}]: ${problem}`);
      });
    }
    route.to.forEach((name, j) => {
      if (!(name in config.destinations)) {
        problems.push(
          `routes[${i}].to[${j}] names destination "${name}", which is not defined ` +
            `(defined: ${defined})`,
        );
      }
    });
  });
  config.alerts?.to.forEach((name, j) => {
    if (!(name in config.destinations)) {
      problems.push(
        `alerts.to[${j}] names destination "${name}", which is not defined (defined: ${defined})`,
      );
    }
  });
  return problems;
}

/**
 * What is wrong with a route's event name, or null: an Influencer Hero type, or
 * `<source>.<topic>` / `<source>.*` of a configured source.
 */
function eventNameProblem(name: string, sources: readonly string[]): string | null {
  const dot = name.indexOf(".");
  if (dot < 0) {
    return isEventName(name) ? null : `"${name}" is not an event type ` +
      '(expected lowercase letters, digits and "_", or "<source>.<topic>")';
  }
  const [source, topic] = [name.slice(0, dot), name.slice(dot + 1)];
  if (!sources.includes(source)) {
    const configured = sources.map((n) => `"${n}"`).join(", ") || "none";
    return `"${name}" names source "${source}", which is not configured under "sources" ` +
      `(configured: ${configured})`;
  }
  if (topic !== "*" && !isEventName(topic)) {
    return `"${name}": expected "${source}." followed by a topic of lowercase letters, digits ` +
      'and "_" (a sender\'s "/" and "." become "_"), or "*"';
  }
  return null;
}

function disabledDestinations(raw: unknown): Set<string> {
  const out = new Set<string>();
  if (!isRecord(raw) || !isRecord(raw["destinations"])) return out;
  for (const [name, value] of Object.entries(raw["destinations"])) {
    if (
      isRecord(value) &&
      (value["enabled"] === false || value["enabled"] === "false" || value["enabled"] === "")
    ) {
      out.add(name);
    }
  }
  return out;
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\+)([^}]*))?\}|\$\$/g;

/**
 * Replaces ${VAR}, ${VAR:-default} and ${VAR:+alternative} in string values only, after JSON
 * parsing, so a value can never inject structure. "$$" is a literal "$".
 */
function substitute(
  value: unknown,
  path: (string | number)[],
  env: (name: string) => string | undefined,
  missing: Array<{ path: (string | number)[]; problem: string }>,
): unknown {
  if (typeof value === "string") {
    return value.replace(VARIABLE, (match, name?: string, op?: string, word?: string) => {
      if (match === "$$") return "$";
      const found = env(name!);
      const set = found !== undefined && found !== "";
      if (op === ":-") return set ? found : word!;
      if (op === ":+") return set ? word! : "";
      if (found === undefined) {
        missing.push({ path, problem: `environment variable "${name}" is not set` });
        return "";
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...path, i], env, missing));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = substitute(v, [...path, key], env, missing);
    }
    return out;
  }
  return value;
}

/**
 * Replaces each `<key>_file` string with `<key>` read from that file (trailing newline removed),
 * so secrets can come from container secret files. `<key>_files` does the same for lists.
 */
function resolveFiles(
  value: unknown,
  path: (string | number)[],
  readFile: (path: string) => string,
  missing: Array<{ path: (string | number)[]; problem: string }>,
): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => resolveFiles(v, [...path, i], readFile, missing));
  }
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  // Keys of these maps are names chosen by the operator (a destination "audit_file", a source
  // "crm_file", a header "x_file", a HubSpot property "contract_file", an Airtable field or an
  // Influencer Hero API field), not settings: they are never file references.
  const names = (path.length === 1 && (path[0] === "destinations" || path[0] === "sources")) ||
    path.at(-1) === "headers" ||
    (path[0] === "destinations" && (path.at(-1) === "properties" || path.at(-1) === "fields"));
  for (const [key, v] of Object.entries(value)) {
    if (names) {
      out[key] = resolveFiles(v, [...path, key], readFile, missing);
      continue;
    }
    const read = (file: unknown, at: (string | number)[]): string => {
      if (typeof file !== "string") {
        missing.push({ path: at, problem: "expected a file path" });
        return "";
      }
      try {
        return readFile(file).replace(/\r?\n$/, "");
      } catch (error) {
        missing.push({ path: at, problem: `cannot read "${file}": ${(error as Error).name}` });
        return "";
      }
    };
    if (key.endsWith("_file") && key.length > 5) {
      const target = key.slice(0, -5);
      if (target in value) {
        missing.push({ path: [...path, key], problem: `set "${target}" or "${key}", not both` });
      }
      out[target] = read(v, [...path, key]);
    } else if (key.endsWith("_files") && key.length > 6) {
      const target = key.slice(0, -6);
      if (target in value) {
        missing.push({ path: [...path, key], problem: `set "${target}" or "${key}", not both` });
      }
      out[target] = Array.isArray(v)
        ? v.map((file, i) => read(file, [...path, key, i]))
        : (missing.push({ path: [...path, key], problem: "expected a list of file paths" }), []);
    } else {
      out[key] = resolveFiles(v, [...path, key], readFile, missing);
    }
  }
  return out;
}

/**
 * Where and what JSON.parse found wrong, as "line 3, column 14: expected ..."; never the text
 * around the mistake, which may be a secret.
 */
function jsonError(error: unknown, text: string): string {
  const message = (error as Error).message;
  const offset = jsonErrorOffset(text);
  const before = text.slice(0, offset).split("\n");
  const where = `line ${before.length}, column ${before.at(-1)!.length + 1}`;
  const known = /^([^"]*?) (?:in|after) JSON at position \d+/.exec(message);
  const what = known !== null
    ? known[1]!.replace(/^[A-Z]/, (c) => c.toLowerCase())
    : offset >= text.length
    ? "unexpected end of the file"
    : "unexpected character";
  return `${where}: ${what}`;
}

/** The offset of the first mistake in text that is not JSON (its length if the text ends early). */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const c of word) text[i] === c ? i++ : fail();
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? "")) i += k, fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      }
      i++;
    }
    text[i] === '"' ? i++ : fail();
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{") {
      i++;
      space();
      if (text[i] === "}") return void i++;
      for (;;) {
        space();
        text[i] === '"' ? string() : fail();
        space();
        text[i] === ":" ? i++ : fail();
        value();
        space();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    }
    if (c === "[") {
      i++;
      space();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    const number = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    number === null ? fail() : i += number[0].length;
  };
  try {
    value();
    space();
    if (i < text.length) fail();
  } catch (offset) {
    if (typeof offset !== "number") throw offset;
    return Math.min(offset, text.length);
  }
  return text.length;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path as (string | number)[]);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) =>
      `${formatPath([...issue.path as (string | number)[], key])}: unknown key "${key}"`
    ).join("\n  ");
  }
  if (issue.code === "invalid_union" && "options" in issue) {
    const options = (issue.options as unknown[]).map((o) => `"${String(o)}"`).join(", ");
    return `${path}: expected one of ${options}`;
  }
  if (issue.code === "invalid_key") {
    // A map's key (a source's name) that its pattern refuses: say what the pattern expects.
    const inner = issue.issues[0]?.message;
    if (inner !== undefined && !inner.startsWith("Invalid")) return `${path}: ${inner}`;
  }
  const message = issue.message.replace(/^Invalid input: /, "");
  return `${path}: ${message}`;
}

/** Formats a path as `routes[2].to[0]`. */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(String(part))) {
      out += out ? `.${String(part)}` : String(part);
    } else out += `[${JSON.stringify(String(part))}]`;
  }
  return out || "(top level)";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
