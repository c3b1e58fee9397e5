// Receiving: the HTTP handler. A webhook is checked (method, path, content type, size, signature,
// timestamp, JSON), committed to the store, and only then answered 2xx with the stored event's
// id and type. Influencer Hero posts to /hooks, other senders to /sources/<name>, each checked by
// its source (src/source.ts). Errors become responses in exactly one place, `respond`.

import {
  detectEventType,
  eventFacets,
  isEventName,
  KNOWN_EVENT_NAMES,
  orderKey,
  signedTimestamp,
  sourceEventType,
} from "./events.ts";
import { newId, sha256Hex } from "./ids.ts";
import type { Logger } from "./log.ts";
import {
  EVENTS_ACCEPTED,
  EVENTS_DUPLICATE,
  HTTP_REQUESTS,
  type Metrics,
  metricType,
  SOURCE_VERIFICATION_FAILURES,
  VERIFICATION_FAILURES,
} from "./metrics.ts";
import type { Payload } from "./events.ts";
import { joinBytes, type Source } from "./source.ts";
import type { InsertResult, NewEvent, Routing } from "./store.ts";
import type { Verifier, VerifyFailure } from "./verify.ts";

/** Header carrying the hex HMAC-SHA256 of the body. */
export const SIGNATURE_HEADER = "x-influencerhero-signature";
/** Header carrying the Unix time the request was sent. */
export const TIMESTAMP_HEADER = "x-influencerhero-timestamp";

/** What the handler needs. */
export interface HandlerOptions {
  /** The current verifier (it changes when secrets are reloaded). */
  verifier: () => Verifier;
  /** The configured sources by name (they change when the config is reloaded); none if absent. */
  sources?: () => ReadonlyMap<string, Source>;
  /** Stores an event durably; resolves after the commit. */
  ingest: (event: NewEvent) => Promise<InsertResult>;
  /**
   * Routes an event before it is stored, so it is stored with its deliveries (and digest items)
   * in one commit.
   */
  route?: (event: NewEvent, payload: Payload) => Routing;
  /** Called after a new (not duplicate) event is committed. */
  accepted: (event: NewEvent) => void;
  /** Throws when the store is unusable. */
  ready: () => Promise<void>;
  maxBodyBytes: () => number;
  /** Time allowed to read a body (ms); a slower client gets 408. Default 10 s. */
  bodyTimeoutMs?: () => number;
  /** Requests handled at once; more get 503 with Retry-After. Default 256. */
  maxConcurrent?: () => number;
  /** Bodies whose signed `webhook_timestamp` is older than this (ms) are refused. */
  replayWindowMs: number;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
}

/** An error answered with its status and a small JSON body. */
class HttpError extends Error {
  status: number;
  headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

/** Why a request failed verification, as told to the sender (never which secret was close). */
const FAILURE_TEXT: Record<VerifyFailure, string> = {
  missing_signature: "Missing X-InfluencerHero-Signature header",
  malformed_signature: "X-InfluencerHero-Signature must be 64 hexadecimal characters",
  missing_timestamp: "Missing X-InfluencerHero-Timestamp header",
  malformed_timestamp: "X-InfluencerHero-Timestamp must be Unix seconds",
  stale_timestamp: "X-InfluencerHero-Timestamp is too old",
  future_timestamp: "X-InfluencerHero-Timestamp is too far in the future",
  bad_signature: "Signature does not match",
};

const HOOK_PATH = /^\/hooks(?:\/([^/]*))?\/?$/;
const SOURCE_PATH = /^\/sources\/([^/]*)\/?$/;

/** No sources configured. */
const NO_SOURCES: ReadonlyMap<string, Source> = new Map();

/** Strict UTF-8: malformed bytes throw rather than become U+FFFD. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The relay's request handler; `close()` ends its timer (the relay calls it on stop). */
export interface Handler {
  (request: Request): Promise<Response>;
  close(): void;
}

/** Creates the relay's request handler. */
export function createHandler(options: HandlerOptions): Handler {
  const now = options.now ?? Date.now;
  const { log, metrics } = options;
  const deadlines = new Deadlines();
  const sources = options.sources ?? (() => NO_SOURCES);

  async function route(request: Request, url: URL, slot: { held: boolean }): Promise<Response> {
    const match = HOOK_PATH.exec(url.pathname);
    if (match) {
      if (request.method !== "POST") throw new HttpError(405, "Use POST", { allow: "POST" });
      const segment = match[1];
      if (segment !== undefined && segment !== "" && !isEventName(segment)) {
        throw new HttpError(404, "Unknown path: event types are lowercase letters, digits and _");
      }
      return await receive(request, segment || null, slot);
    }
    const source = SOURCE_PATH.exec(url.pathname);
    if (source) {
      if (request.method !== "POST") throw new HttpError(405, "Use POST", { allow: "POST" });
      const name = source[1]!;
      const found = sources().get(name);
      if (found === undefined) {
        throw new HttpError(404, "Unknown source: no source of this name is configured");
      }
      return await receiveFrom(request, name, found, slot);
    }
    if (url.pathname === "/healthz" || url.pathname === "/readyz" || url.pathname === "/metrics") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        throw new HttpError(405, "Use GET", { allow: "GET, HEAD" });
      }
      enter(slot);
      if (url.pathname === "/healthz") return json(200, { ok: true });
      if (url.pathname === "/metrics") {
        return new Response(await metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      }
      try {
        await options.ready();
        return json(200, { ok: true });
      } catch {
        return json(503, { ok: false, error: "The store is not usable" });
      }
    }
    throw new HttpError(404, "Unknown path");
  }

  async function receive(
    request: Request,
    pathType: string | null,
    slot: { held: boolean },
  ): Promise<Response> {
    const body = await readWebhook(request, slot);
    const result = await options.verifier().verify(
      body,
      request.headers.get(SIGNATURE_HEADER),
      request.headers.get(TIMESTAMP_HEADER),
    );
    if (!result.ok) {
      metrics.inc(...VERIFICATION_FAILURES, {
        reason: result.reason,
      });
      throw new HttpError(401, FAILURE_TEXT[result.reason], { "x-reason": result.reason });
    }
    const { payload, text } = parseObject(body);
    const received = now();
    const signed = signedTimestamp(payload);
    if (signed !== null && received - signed > options.replayWindowMs) {
      metrics.inc(...VERIFICATION_FAILURES, {
        reason: "stale_webhook_timestamp",
      });
      throw new HttpError(401, "webhook_timestamp is older than the replay window", {
        "x-reason": "stale_webhook_timestamp",
      });
    }
    return await commit({
      id: newId("evt", received),
      type: pathType ?? detectEventType(payload),
      receivedAt: received,
      body: text,
      fingerprint: await sha256Hex(body),
      orderKey: orderKey(payload),
      facets: eventFacets(payload),
    }, payload);
  }

  /** Receives a configured source's request: verified by the source, named `<source>.<topic>`. */
  async function receiveFrom(
    request: Request,
    name: string,
    source: Source,
    slot: { held: boolean },
  ): Promise<Response> {
    const body = await readWebhook(request, slot);
    const result = await source.verify(request.headers, body);
    if (!result.ok) {
      metrics.inc(...SOURCE_VERIFICATION_FAILURES, { source: name, reason: result.reason });
      throw new HttpError(401, result.message, { "x-reason": result.reason });
    }
    const { payload, text } = parseObject(body);
    const { topic, id } = source.identify(request.headers, payload);
    const received = now();
    // A sender's own id makes the fingerprint (one per source, so two senders' ids never meet);
    // without one, the body's hash does, as for Influencer Hero.
    const fingerprint = await sha256Hex(
      id === null
        ? joinBytes(`source\n${name}\nbody\n`, body)
        : joinBytes(`source\n${name}\nid\n${id}`),
    );
    return await commit({
      id: newId("evt", received),
      type: sourceEventType(name, topic),
      receivedAt: received,
      body: text,
      fingerprint,
      // Influencer Hero's collaboration and deal fields mean nothing in another sender's body.
      orderKey: null,
      facets: { dealId: null, collabId: null, influencer: null },
    }, payload);
  }

  /** Checks the content type and reads the body, then takes a handler slot. */
  async function readWebhook(
    request: Request,
    slot: { held: boolean },
  ): Promise<Uint8Array<ArrayBuffer>> {
    const contentType = request.headers.get("content-type") ?? "";
    const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
    if (mediaType !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(mediaType)) {
      throw new HttpError(415, "Content-Type must be application/json");
    }
    const body = await readBody(
      request,
      options.maxBodyBytes(),
      options.bodyTimeoutMs?.() ?? 10_000,
      deadlines,
    );
    enter(slot);
    return body;
  }

  /** Routes and stores a verified event, then answers with the stored event's id and type. */
  async function commit(event: NewEvent, payload: Payload): Promise<Response> {
    const { type } = event;
    if (options.route) {
      const routing = options.route(event, payload);
      event.deliveries = routing.deliveries;
      if (routing.digests.length > 0) event.digests = routing.digests;
    }
    let stored: InsertResult;
    try {
      stored = await options.ingest(event);
    } catch (error) {
      log.error("cannot store event", { type, error: (error as Error).message });
      throw new HttpError(503, "The event could not be stored; retry later", {
        "retry-after": "5",
      });
    }
    if (stored.duplicate) {
      metrics.inc(...EVENTS_DUPLICATE, {
        type: metricType(stored.type),
      });
    } else {
      metrics.inc(...EVENTS_ACCEPTED, {
        type: metricType(stored.type),
      });
      options.accepted(event);
    }
    return json(200, { ok: true, id: stored.id, type: stored.type, duplicate: stored.duplicate }, {
      "x-event-id": stored.id,
    });
  }

  // Only requests whose body has arrived count against max_concurrent_requests: a slow sender
  // costs a buffer and a connection (bounded by the listener), never a slot that verifying and
  // committing a complete request needs.
  let inFlight = 0;

  /** Takes a slot for the work after the body is read; throws 503 when every slot is taken. */
  function enter(slot: { held: boolean }): void {
    if (inFlight >= (options.maxConcurrent?.() ?? 256)) {
      throw new HttpError(503, "Too many requests at once; retry later", {
        "retry-after": "1",
        "x-reason": "overloaded",
      });
    }
    inFlight++;
    slot.held = true;
  }

  const handle = async function handle(request: Request): Promise<Response> {
    const started = performance.now();
    const url = new URL(request.url);
    let response: Response;
    const slot = { held: false };
    try {
      response = await route(request, url, slot);
    } catch (error) {
      response = respond(error, log);
    } finally {
      if (slot.held) inFlight--;
    }
    const label = pathLabel(url.pathname, sources());
    metrics.inc(...HTTP_REQUESTS, {
      path: label,
      status: String(response.status),
    });
    if (label !== "/healthz" && label !== "/metrics") {
      log.info("request", {
        method: request.method,
        path: label,
        status: response.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        event: response.headers.get("x-event-id") ?? undefined,
        reason: response.headers.get("x-reason") ?? undefined,
      });
    }
    response.headers.delete("x-reason");
    return response;
  };
  return Object.assign(handle, { close: () => deadlines.close() });
}

/**
 * Reads at most `limit` bytes, failing with 413 past it, with or without Content-Length, and
 * with 408 when the whole body has not arrived within `timeoutMs`.
 */
async function readBody(
  request: Request,
  limit: number,
  timeoutMs: number,
  deadlines: Deadlines,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => new HttpError(413, `Body is larger than ${limit} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  let cancel!: () => void;
  const expired = new Promise<never>((_, reject) => {
    cancel = deadlines.add(
      timeoutMs,
      () => reject(new HttpError(408, "The request body was not received in time")),
    );
  });
  try {
    if (declared !== null) {
      // The server reads exactly the declared length, so the body is read whole, without a
      // stream reader per chunk (the common case: Influencer Hero sends Content-Length).
      const body = await Promise.race([request.bytes(), expired]);
      if (body.byteLength > limit) throw tooLarge();
      return body;
    }
    return await readChunked(request.body, limit, expired, tooLarge);
  } catch (error) {
    request.body.cancel().catch(() => {});
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "The request body could not be read");
  } finally {
    cancel();
  }
}

/**
 * Deadlines of the bodies being read, checked by one timer for all of them: a timer per request
 * would cost more than reading a webhook. A deadline is met late by at most a fifth of its length
 * (5 ms to 1 s), which lets one timer run serve the many deadlines falling within that slack.
 */
class Deadlines {
  #waiting = new Set<{ at: number; latest: number; expire: () => void }>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  /** Whether the timer keeps the process alive: only while a body is awaited. */
  #held = false;

  /** Calls `expire` once `ms` have passed, unless the returned function is called first. */
  add(ms: number, expire: () => void): () => void {
    const at = performance.now() + ms;
    const entry = { at, latest: at + Math.min(Math.max(ms / 5, 5), 1000), expire };
    this.#waiting.add(entry);
    if (this.#timerAt > entry.latest) this.#schedule(entry.latest);
    this.#hold(true);
    return () => {
      this.#waiting.delete(entry);
      if (this.#waiting.size === 0) this.#hold(false);
    };
  }

  /**
   * The timer is left running when the last body arrives (clearing it would bring back a timer
   * per request); it only stops holding the process open.
   */
  #hold(held: boolean): void {
    if (this.#timer === null || held === this.#held) return;
    this.#held = held;
    if (held) this.#timer.ref?.();
    else this.#timer.unref?.();
  }

  /** Stops the timer; deadlines still waiting never expire. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
    this.#held = false;
  }

  #schedule(when: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = when;
    // Timers hold at most 2^31-1 ms; a later deadline is looked at again then.
    const delay = Math.min(Math.max(when - performance.now(), 0), 2_147_483_647);
    this.#timer = setTimeout(() => this.#sweep(), delay);
    this.#held = true;
  }

  #sweep(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    this.#held = false;
    const now = performance.now();
    let next = Infinity;
    for (const entry of this.#waiting) {
      if (entry.at <= now) {
        this.#waiting.delete(entry);
        entry.expire();
      } else {
        next = Math.min(next, entry.latest);
      }
    }
    if (next < Infinity) this.#schedule(next);
  }
}

/** Reads a body without Content-Length chunk by chunk, failing as soon as it passes `limit`. */
async function readChunked(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  expired: Promise<never>,
  tooLarge: () => HttpError,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw tooLarge();
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The body as a JSON object and its text; 400 when it is not valid UTF-8 JSON or no object. */
function parseObject(body: Uint8Array<ArrayBuffer>): { payload: Payload; text: string } {
  let payload: Payload;
  let text: string;
  try {
    text = UTF8.decode(body);
    payload = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Body is not valid UTF-8 JSON");
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new HttpError(400, "Body must be a JSON object");
  }
  return { payload, text };
}

function respond(error: unknown, log: Logger): Response {
  if (error instanceof HttpError) {
    return json(error.status, { ok: false, error: error.message }, error.headers);
  }
  log.error("unexpected error while handling a request", { error: (error as Error)?.name });
  return json(500, { ok: false, error: "Internal error" });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A path as a metric and log label, with bounded cardinality. */
function pathLabel(path: string, sources: ReadonlyMap<string, Source>): string {
  const match = HOOK_PATH.exec(path);
  if (match) {
    if (!match[1]) return "/hooks";
    return KNOWN_EVENT_NAMES.has(match[1]) ? `/hooks/${match[1]}` : "/hooks/other";
  }
  const source = SOURCE_PATH.exec(path)?.[1];
  if (source !== undefined) {
    return sources.has(source) ? `/sources/${source}` : "/sources/other";
  }
  if (path === "/healthz" || path === "/readyz" || path === "/metrics") return path;
  return "other";
}
