// The building blocks of config schemas, shared by config.ts and every destination module:
// durations, booleans that allow ${VAR}, secret marks (carried into config.schema.json), URLs,
// and the delivery options every destination takes.

import { z } from "zod";
import type { SecretKind } from "./redact.ts";

const DURATION = /^([0-9]+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "5s", "5m", "2h", "7d", or a number of seconds, into milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return value * 1000;
  const match = DURATION.exec(value);
  if (match === null) throw new RangeError(`Cannot parse duration "${value}"`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** A duration field. */
export const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(DURATION, 'expected a duration such as "500ms", "5s", "5m", "2h" or "7d"'),
]).describe('A duration: "500ms", "5s", "5m", "2h", "7d", or a number of seconds');

/** A boolean field that also takes the strings a ${VAR} gives. */
export const bool = z.union([
  z.boolean(),
  z.enum(["true", "false", ""]).transform((v) => v === "true"),
]).describe('true or false; the strings "true", "false" and "" (false) allow ${VAR} values');

/** A destination URL; checked to be http(s) only when the destination is enabled. */
const httpUrl = z.string();

/** The metadata that marks a secret field, carried into config.schema.json as well. */
export type SecretMeta = { writeOnly: true; "x-secret": SecretKind };

/**
 * Marks a string field as a secret of the given kind: config.schema.json says `writeOnly` and
 * `x-secret`, the config's secret list collects its value, and a value of only whitespace is
 * refused (an empty one is left to the field's own rules).
 */
export function secret(schema: z.ZodString, kind: SecretKind = "text") {
  const meta: SecretMeta = { writeOnly: true, "x-secret": kind };
  return schema.refine(
    (value) => value === "" || value.trim() !== "",
    "expected a secret, got only whitespace",
  ).meta(meta);
}

/** A token-bearing URL (Slack, Discord, Teams, Google Chat, Mattermost, any HTTP endpoint). */
export const secretUrl = (description: string) => secret(httpUrl.describe(description), "url");

/** Request headers whose values may be secrets. */
export const headers = z.record(z.string(), secret(z.string(), "header"));

/** Whether a string is an http:// or https:// URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Adds an issue at `path` when an optional value is not an http(s) URL. */
export function checkHttpUrl(
  value: string | undefined,
  path: string[],
  context: z.core.$RefinementCtx,
): void {
  if (value !== undefined && !isHttpUrl(value)) {
    context.addIssue({ code: "custom", path, message: "expected an http:// or https:// URL" });
  }
}

/** Retry settings, per destination or for all. */
export const retrySchema = z.strictObject({
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

/** Timeouts of one attempt, per destination or for all. */
export const timeoutSchema = z.strictObject({
  connect: duration.optional().describe("Time allowed to open the connection"),
  total: duration.optional().describe("Time allowed for the whole attempt"),
});

const rateLimitSchema = z.strictObject({
  per_second: z.number().positive().describe("Sustained messages per second"),
  burst: z.number().int().min(1).optional().describe("Messages allowed at once before pacing"),
});

/** The fields every destination takes besides its own. */
export const deliveryOptions = {
  enabled: bool.optional().describe("Whether the destination receives deliveries (default true)"),
  retry: retrySchema.optional(),
  timeout: timeoutSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  concurrency: z.number().int().min(1).max(256).optional().describe(
    "Attempts in flight at once for this destination; unset, a destination without a rate " +
      "limit finds it itself (adaptive, 1 to 64), the others keep 4",
  ),
  ordered: bool.optional().describe(
    "Deliver each collaboration's (or deal's) events in the order received",
  ),
  omit: z.array(
    z.string().regex(
      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
      'expected a payload path such as "send_product_info.phone"',
    ),
  ).max(64).optional().describe(
    "Payload fields this destination never sees, in its message, its templates or the body it " +
      'is sent: dot paths such as "send_product_info.shipping_address" (through lists too)',
  ),
};

/** Retry settings as written. */
export type RetryConfig = z.output<typeof retrySchema>;

/**
 * A source's `secrets`: one, or two during a rotation, each marked as a secret. Empty entries
 * are dropped first, so an unset `${OLD_SECRET:-}` can stay in the list.
 */
export function sourceSecrets(description: string) {
  return z.array(secret(z.string())).max(2, "expected one or two secrets (two during a rotation)")
    .transform((list) => list.filter((s) => s !== ""))
    .refine((list) => new Set(list).size === list.length, "expected distinct secrets")
    .describe(description);
}

/**
 * The options every source takes. A disabled source is not received (its path answers 404) and
 * may leave its secrets empty, so a config can carry one that its variables switch on
 * (`"enabled": "${SHOPIFY_WEBHOOK_SECRET:+true}"`).
 */
export const sourceOptions = {
  enabled: bool.optional().describe(
    "Whether the source is received (default true); a disabled one answers 404 and needs no " +
      "secret",
  ),
};

/** A source's header name field. */
export const headerName = z.string().regex(
  /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/,
  'expected a header name such as "X-Hub-Signature-256"',
);

/** A dot path into a payload ("type", "data.event"). */
export const payloadPath = z.string().regex(
  /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
  'expected a payload field or dot path such as "type" or "data.event"',
);

/** The largest distance between a signed timestamp and now that a source accepts. */
export const toleranceSeconds = z.number().int().min(1).max(3600).default(300).describe(
  "Largest accepted distance between the signed timestamp and now, in seconds (default 300)",
);
