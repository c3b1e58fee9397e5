// The one interface every destination implements: render a neutral message into its native
// request (shown by `render`), and send it, classifying the answer by its protocol's own rules.

import type { z } from "zod";
import type { ReachableOrigins, Timeouts } from "./http_client.ts";
import type { Message } from "./message.ts";
import type { Outcome } from "./retry.ts";

/** One delivery of one event to one destination. */
export interface DeliveryRequest {
  deliveryId: string;
  eventId: string;
  eventType: string;
  /** When the relay accepted the event (ms). */
  receivedAt: number;
  /** The raw body exactly as Influencer Hero signed it. */
  body: string;
  /** The parsed body. */
  payload: Record<string, unknown>;
  /** The route's rendered message. */
  message: Message;
  /** 1 for the first attempt. */
  attempt: number;
}

/** What a destination would send, for previews; secrets in URLs and headers are masked. */
export interface Rendered {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Per-attempt context given by the worker. */
export interface SendContext {
  timeouts: Timeouts;
  signal: AbortSignal;
  now: () => number;
  /** The relay's record of origins that answered lately (see sendHttp). */
  origins: ReachableOrigins;
}

/** A configured destination. */
export interface Destination {
  readonly name: string;
  readonly type: string;
  /** The native request for a delivery, masked for display. */
  render(request: DeliveryRequest): Rendered;
  /** Makes one attempt. Never throws: every failure is an {@linkcode Outcome}. */
  send(request: DeliveryRequest, context: SendContext): Promise<Outcome>;
}

/** What the relay gives a destination type to create one destination from its config. */
export interface DestinationKit {
  /**
   * Compiles the operator's template at `key` (default "body") of this destination's config, with
   * the event, its message and the delivery in scope. A template that does not compile is
   * recorded as a config problem at its JSON path, and undefined returned.
   */
  template(
    source: string | undefined,
    key?: string,
  ): ((request: DeliveryRequest) => string) | undefined;
  /** Whether the destination takes deliveries: a disabled one may be incomplete. */
  enabled: boolean;
  /** Where console destinations print. */
  write(text: string): void;
}

/** Sustained messages per second and how many may go at once before pacing. */
export interface Pace {
  perSecond: number;
  burst: number;
}

/**
 * A destination type, described by its own module and listed once in src/destinations.ts: the
 * config schema and its secrets (fields marked with `secret()`), the default pace, and how to
 * create one destination.
 */
export interface DestinationType<S extends z.ZodType = z.ZodType> {
  /** The config's `type`. */
  readonly type: string;
  /** The config's schema: a strict object with a literal `type` and the delivery options. */
  readonly schema: S;
  /** The pace of the service's documented rate limit, used unless the config sets one. */
  readonly pace: Pace | null;
  /** False when the lane must not find its concurrency itself (it does unless paced). */
  readonly adaptive?: boolean;
  /** Whether deliveries are made from the rendered message (else no template is needed). */
  rendersMessages(entry: z.output<S>): boolean;
  /**
   * Whether a secret-marked field's value, written literally in the config file, is worth a
   * warning (default: always). An HTTP endpoint's plain URL usually is not a secret.
   */
  inlineSecret?(key: string, value: string): boolean;
  /** Creates one destination from its validated config. */
  create(name: string, entry: z.output<S>, kit: DestinationKit): Destination;
}

/** Declares a destination type, keeping its schema's type for `create`. */
export function destinationType<S extends z.ZodType>(type: DestinationType<S>): DestinationType<S> {
  return type;
}

/** Drops keys whose value is undefined, for exactOptionalPropertyTypes. */
export function stripUndefined<T extends object>(
  value: T,
): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/** Shows a URL without its secret parts: path and query are replaced by "…". */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // Some services put the secret in the host name (Pipedream's eo1a2b3c….m.pipedream.net):
    // a label that mixes letters and digits over 11 characters is treated as a token.
    const host = parsed.host.split(".").map((label) =>
      label.length >= 12 && /[0-9]/.test(label) && /[a-z]/i.test(label) ? "***" : label
    ).join(".");
    const origin = `${parsed.protocol}//${host}`;
    return parsed.pathname === "/" && parsed.search === "" ? origin + "/" : `${origin}/…`;
  } catch {
    return "(invalid URL)";
  }
}

/** Shows header values without secrets: only names known to be harmless keep their value. */
export function maskHeaders(headers: Record<string, string>): Record<string, string> {
  const safe = new Set(["content-type", "user-agent", "accept", "webhook-id", "webhook-timestamp"]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = safe.has(name.toLowerCase()) ? value : "***";
  }
  return out;
}
