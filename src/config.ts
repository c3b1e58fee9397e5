// The operator's config: load → substitute environment → validate. One zod schema gives the
// validation, the TypeScript types and the published config.schema.json. Every problem is
// collected and reported together, each with its JSON path.

import { z } from "zod";
import { isEventName, KNOWN_EVENT_NAMES } from "./events.ts";

const DURATION = /^([0-9]+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "5s", "5m", "2h", "7d", or a number of seconds, into milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return value * 1000;
  const match = DURATION.exec(value);
  if (match === null) throw new RangeError(`Cannot parse duration "${value}"`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(DURATION, 'expected a duration such as "500ms", "5s", "5m", "2h" or "7d"'),
]).describe('A duration: "500ms", "5s", "5m", "2h", "7d", or a number of seconds');

const bool = z.union([
  z.boolean(),
  z.enum(["true", "false", ""]).transform((v) => v === "true"),
]).describe('true or false; the strings "true", "false" and "" (false) allow ${VAR} values');

/** A destination URL; checked to be http(s) only when the destination is enabled. */
const httpUrl = z.string();

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

const retrySchema = z.strictObject({
  schedule: z.array(duration).min(1).optional().describe(
    "Delay before each attempt; the first is usually 0 (immediately)",
  ),
  jitter: z.number().min(0).max(1).optional().describe(
    "Random spread of each delay, as a fraction (0.2 = ±20%)",
  ),
  max_attempts: z.number().int().min(1).optional().describe(
    "Attempts before a delivery is dead; defaults to the schedule's length",
  ),
  max_age: duration.optional().describe("Age after which a failing delivery is dead"),
});

const timeoutSchema = z.strictObject({
  connect: duration.optional().describe("Time allowed to open the connection"),
  total: duration.optional().describe("Time allowed for the whole attempt"),
});

const rateLimitSchema = z.strictObject({
  per_second: z.number().positive().describe("Sustained messages per second"),
  burst: z.number().int().min(1).optional().describe("Messages allowed at once before pacing"),
});

const deliveryOptions = {
  enabled: bool.optional().describe("Whether the destination receives deliveries (default true)"),
  retry: retrySchema.optional(),
  timeout: timeoutSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  concurrency: z.number().int().min(1).max(256).optional().describe(
    "Attempts in flight at once for this destination",
  ),
  ordered: bool.optional().describe(
    "Deliver each collaboration's (or deal's) events in the order received",
  ),
};

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

const headers = z.record(z.string(), z.string());

const destinationSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("console"),
    ...deliveryOptions,
  }).describe("Prints each rendered message on standard output"),
  z.strictObject({
    type: z.literal("slack"),
    url: httpUrl.describe("Incoming webhook URL (a secret)"),
    body: z.string().optional().describe("Liquid template of the whole JSON body"),
    ...deliveryOptions,
  }).describe("Slack incoming webhook: Block Kit with a plain-text fallback"),
  z.strictObject({
    type: z.literal("http"),
    url: httpUrl,
    method: z.enum(["POST", "PUT", "PATCH"]).optional(),
    headers: headers.optional().describe("Extra request headers (values may be secrets)"),
    body: z.string().optional().describe(
      "Liquid template of the JSON body; by default the payload wrapped with id, type and time",
    ),
    ...deliveryOptions,
  }).describe("Any HTTP endpoint or no-code tool (Zapier, Make, n8n, Pipedream)"),
]);

const routeSchema = z.strictObject({
  name: z.string().min(1),
  events: z.union([z.literal("*"), z.array(z.string()).min(1)]).describe(
    'Event types this route takes, or "*" for all',
  ),
  when: z.string().optional().describe("Liquid condition on the payload"),
  to: z.array(z.string()).min(1).describe("Destination names"),
  message: messageSchema.optional(),
});

/** The config file's schema. */
export const CONFIG_SCHEMA = z.strictObject({
  $schema: z.string().optional(),
  listen: z.strictObject({
    hostname: z.string().default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8080),
    body_timeout: duration.default("10s").describe(
      "Time a client has to send a request's body; slower ones get 408",
    ),
    max_concurrent_requests: z.number().int().min(1).max(100_000).default(256).describe(
      "Requests handled at once; more get 503 with Retry-After",
    ),
  }).prefault({}),
  admin: z.strictObject({
    hostname: z.string().default("127.0.0.1").describe(
      "Address of the admin API's own listener; keep it on this machine",
    ),
    port: z.number().int().min(0).max(65535).default(8081),
    token: z.string().min(16, "expected a token of at least 16 characters").describe(
      "Bearer token the admin API requires (a secret: use ${VAR} or token_file)",
    ),
  }).optional().describe("The admin API; off when absent"),
  influencer_hero: z.strictObject({
    signing_secrets: z.array(z.string().min(1, "expected a non-empty secret")).min(
      1,
      "expected at least one signing secret",
    ).max(4).describe("Webhook signing secrets; two during a rotation"),
    tolerance_seconds: z.number().int().min(1).max(3600).default(300).describe(
      "Largest accepted distance between X-InfluencerHero-Timestamp and now",
    ),
    max_body_bytes: z.number().int().min(1024).max(25 * 1024 * 1024).default(1024 * 1024),
  }),
  store: z.strictObject({
    sqlite: z.string().min(1).optional().describe("Path of the SQLite database file"),
  }).prefault({}),
  delivery: z.strictObject({
    retry: retrySchema.optional(),
    timeout: timeoutSchema.optional(),
    concurrency: z.number().int().min(1).max(256).optional(),
    ordered: bool.optional(),
    lease: duration.optional().describe("How long a worker holds a delivery before others may"),
  }).prefault({}),
  retention: z.strictObject({
    delivered: duration.default("7d"),
    dead: duration.default("30d"),
  }).prefault({}),
  destinations: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), destinationSchema),
  routes: z.array(routeSchema),
});

/** The config file as written, before defaults. */
export type ConfigInput = z.input<typeof CONFIG_SCHEMA>;
/** The validated config. */
export type Config = z.output<typeof CONFIG_SCHEMA>;
/** A validated destination. */
export type DestinationConfig = Config["destinations"][string];
/** A validated route. */
export type RouteConfig = Config["routes"][number];
/** Templates of the neutral message's parts. */
export type MessageConfig = z.output<typeof messageSchema>;
/** Retry settings as written. */
export type RetryConfig = z.output<typeof retrySchema>;

/** The JSON Schema published for editors as config.schema.json. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(CONFIG_SCHEMA, { io: "input" });
}

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

/** Options of {@linkcode parseConfig}. */
export interface ParseOptions {
  /** Looks up environment variables; defaults to Deno.env. */
  env?: (name: string) => string | undefined;
  /** Reads `*_file` secrets; defaults to Deno.readTextFileSync. */
  readFile?: (path: string) => string;
}

/** Reads, substitutes and validates a config file; throws {@linkcode ConfigError}. */
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
  return parseConfig(text, path, options);
}

/** Parses config text; `source` names it in errors. Throws {@linkcode ConfigError}. */
export function parseConfig(text: string, source: string, options: ParseOptions = {}): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(source, [`the file is not valid JSON: ${jsonError(error)}`]);
  }
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const readFile = options.readFile ?? ((path: string) => Deno.readTextFileSync(path));
  const missing: Array<{ path: (string | number)[]; problem: string }> = [];
  const substituted = substitute(raw, [], env, missing);
  const files = resolveFiles(substituted, [], readFile, missing);
  const result = CONFIG_SCHEMA.safeParse(files);
  const problems: string[] = [];
  const disabled = disabledDestinations(files);
  for (const { path, problem } of missing) {
    if (path[0] === "destinations" && disabled.has(String(path[1]))) continue;
    problems.push(`${formatPath(path)}: ${problem}`);
  }
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(formatIssue(issue));
  } else {
    problems.push(...crossCheck(result.data));
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return (result as { data: Config }).data;
}

/** Warnings that do not stop the relay, such as event names Influencer Hero does not document. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
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
      if (isEventName(name) && !KNOWN_EVENT_NAMES.has(name)) {
        warnings.push(
          `routes[${i}].events[${j}]: "${name}" is not a documented Influencer Hero event type`,
        );
      }
    });
  });
  return warnings;
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

/** JSON paths of secrets whose values are written literally in the config text. */
function inlineSecrets(config: Config, text: string): string[] {
  const found: string[] = [];
  // Values shorter than 6 characters could appear in the text by chance; they are skipped.
  const check = (path: (string | number)[], value: string | undefined) => {
    if (value === undefined || value.length < 6) return;
    if (text.includes(JSON.stringify(value).slice(1, -1))) found.push(formatPath(path));
  };
  config.influencer_hero.signing_secrets.forEach((secret, i) => {
    check(["influencer_hero", "signing_secrets", i], secret);
  });
  check(["admin", "token"], config.admin?.token);
  for (const [name, entry] of Object.entries(config.destinations)) {
    if (entry.type === "slack") check(["destinations", name, "url"], entry.url);
    if (entry.type !== "http") continue;
    if (/[?@]/.test(entry.url)) check(["destinations", name, "url"], entry.url);
    for (const [header, value] of Object.entries(entry.headers ?? {})) {
      if (!HARMLESS_HEADERS.has(header.toLowerCase())) {
        check(["destinations", name, "headers", header], value);
      }
    }
  }
  return found;
}

const HARMLESS_HEADERS = new Set(["content-type", "user-agent", "accept"]);

/** Whether a destination takes deliveries. */
export function isEnabled(destination: DestinationConfig): boolean {
  return destination.enabled !== false;
}

function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const names = Object.keys(config.destinations);
  const defined = names.map((n) => `"${n}"`).join(", ") || "none";
  if (
    config.influencer_hero.signing_secrets.length !==
      new Set(config.influencer_hero.signing_secrets).size
  ) {
    problems.push("influencer_hero.signing_secrets: expected distinct secrets");
  }
  for (const [name, destination] of Object.entries(config.destinations)) {
    if (isEnabled(destination) && "url" in destination && !isHttpUrl(destination.url)) {
      problems.push(
        `${formatPath(["destinations", name, "url"])}: expected an http:// or https:// URL` +
          (destination.url === "" ? ", got an empty string" : ""),
      );
    }
  }
  const routeNames = new Set<string>();
  config.routes.forEach((route, i) => {
    if (routeNames.has(route.name)) {
      problems.push(`routes[${i}].name: route name "${route.name}" is used twice`);
    }
    routeNames.add(route.name);
    if (route.events !== "*") {
      route.events.forEach((name, j) => {
        if (!isEventName(name)) {
          problems.push(
            `routes[${i}].events[${j}]: "${name}" is not an event type ` +
              '(expected lowercase letters, digits and "_", or "*" for all)',
          );
        }
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
  return problems;
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
  for (const [key, v] of Object.entries(value)) {
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

/** JSON.parse's message without the text it quotes around the mistake (it may be a secret). */
function jsonError(error: unknown): string {
  const message = (error as Error).message;
  return /^Unexpected token\b|"/.test(message)
    ? "unexpected character (the text around it is not shown: it may hold a secret)"
    : message;
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
