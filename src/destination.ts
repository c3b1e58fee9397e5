// The one interface every destination implements: render a neutral message into its native
// request (shown by `render`), and send it, classifying the answer by its protocol's own rules.

import type { Timeouts } from "./http_client.ts";
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
