// What every HTTP destination does the same way: an operator's body template checked as JSON, a
// masked preview, one attempt whose answer the service's own rules classify, and text cut to a
// service's limits.

import type { DeliveryRequest, Rendered, SendContext } from "./destination.ts";
import { maskHeaders } from "./destination.ts";
import { type OutgoingRequest, sendHttp } from "./http_client.ts";
import type { HttpAnswer, Outcome } from "./retry.ts";

/** A request that could not be built, such as a body template that did not make JSON. */
export interface BuildError {
  error: string;
}

/** A built request, or why it could not be built. */
export type Built = OutgoingRequest | BuildError;

/** Renders an operator's `body` template and checks it is JSON (any JSON value). */
export function jsonBody(
  template: (request: DeliveryRequest) => string,
  request: DeliveryRequest,
): { text: string; parsed: unknown } | BuildError {
  const text = template(request);
  try {
    return { text, parsed: JSON.parse(text) };
  } catch {
    return { error: "the body template did not produce valid JSON" };
  }
}

/**
 * Renders an operator's `body` template and checks it is a JSON object. `complete` may add what
 * the service needs and the template left out (a chat id, `allowed_mentions`).
 */
export function customBody(
  template: (request: DeliveryRequest) => string,
  request: DeliveryRequest,
  complete?: (body: Record<string, unknown>) => boolean,
): string | BuildError {
  const json = jsonBody(template, request);
  if ("error" in json) return json;
  const { text, parsed } = json;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { error: "the body template did not produce a JSON object" };
  }
  const changed = complete?.(parsed as Record<string, unknown>) ?? false;
  return changed ? JSON.stringify(parsed) : text;
}

/**
 * Whether any of an operator's templates refers to the route's `message` (`{{ message.title }}`),
 * so the destination renders messages only when one does. A mention inside literal text counts
 * too: rendering a message that is not used costs little, missing one that is used shows blanks.
 */
export function mentionsMessage(sources: Iterable<string | undefined>): boolean {
  for (const source of sources) {
    if (source !== undefined && /(^|[^\w.])message\b/.test(source)) return true;
  }
  return false;
}

/** The preview of a built request: URL and secret headers masked. */
export function preview(built: Built, displayUrl: string): Rendered {
  if ("error" in built) return { method: "ERROR", url: displayUrl, headers: {}, body: built.error };
  return { ...built, url: displayUrl, headers: maskHeaders(built.headers) };
}

/** Makes one attempt: a build error fails at once, a network failure is retried. */
export async function attempt(
  built: Built,
  context: SendContext,
  classify: (answer: HttpAnswer, now: number) => Outcome,
): Promise<Outcome> {
  if ("error" in built) return { kind: "failed", httpStatus: null, error: built.error };
  const result = await sendHttp(built, context.timeouts, context.signal, context.origins);
  if (!result.ok) return { kind: "retry", httpStatus: null, error: result.error };
  return classify(result.answer, context.now());
}

/** The answer's body as a JSON object, or null. */
export function answerJson(answer: HttpAnswer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(answer.body);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** Seconds (possibly fractional) as whole milliseconds, or undefined when not a number. */
export function secondsToMs(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0
    ? Math.ceil(value * 1000)
    : undefined;
}

/**
 * Cuts text to at most `max` UTF-16 code units, ending with "…", never splitting a surrogate
 * pair. Services count characters differently; UTF-16 units are never fewer than either count.
 */
export function fit(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return "";
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return text.slice(0, end) + "…";
}

/** Cuts text to at most `max` UTF-8 bytes, ending with "…", on a character boundary. */
export function fitBytes(text: string, max: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= max) return text;
  const budget = max - 3; // "…" is three bytes
  let bytes = 0;
  let out = "";
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > budget) break;
    bytes += size;
    out += char;
  }
  return out + "…";
}

/**
 * Builds a body within `maxBytes` of JSON: text is cut to 1000 characters first, then fields are
 * dropped from the end, then text is cut further. `build` makes the body for given sizes.
 */
export function withinBytes(
  maxBytes: number,
  start: { textMax: number; fieldCount: number },
  build: (textMax: number, fieldCount: number) => Record<string, unknown>,
): Record<string, unknown> {
  let { textMax, fieldCount } = start;
  for (;;) {
    const body = build(textMax, fieldCount);
    if (new TextEncoder().encode(JSON.stringify(body)).length <= maxBytes) return body;
    if (textMax > 1000) textMax = Math.max(1000, Math.floor(textMax / 2));
    else if (fieldCount > 0) fieldCount -= 1;
    else if (textMax > 100) textMax = Math.floor(textMax / 2);
    else return body;
  }
}
