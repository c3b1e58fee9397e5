// The admin API: a separate listener (127.0.0.1 by default) for operators and scripts to look
// into the store and act on it — events, deliveries with their attempts, replays, enabling,
// pausing and resuming a destination. Every request needs the bearer token, compared in
// constant time; a failed check is answered 401 with nothing more.

import { type Console, createConsole } from "./console/console.ts";
import type { ConsoleOptions } from "./console/options.ts";
import { tokenMatcher } from "./console/sessions.ts";
import { listen } from "./listener.ts";
import type { Logger } from "./log.ts";
import type { Redactor } from "./redact.ts";
import {
  type DeliveryCursor,
  type DeliveryFilter,
  type DeliveryStatus,
  type EventCursor,
  type EventQuery,
  formatEventCursor,
  parseCursor,
  type Store,
} from "./store.ts";
import type { DestinationState } from "./worker.ts";

/** What the admin API acts on. */
export interface AdminOptions {
  hostname: string;
  port: number;
  token: string;
  store: Store;
  /** Configured destination names, with whether the config enables them. */
  destinations: () => Array<{ name: string; type: string; enabled: boolean }>;
  /** Deliveries were made due again: let the worker look now. */
  replayed: () => void;
  /** A destination was enabled in the store: let the worker re-read it now. */
  enabled: () => Promise<void>;
  /** A destination was paused or resumed: let the worker re-read it now (default: `enabled`). */
  paused?: () => Promise<void>;
  /** Each destination's state as the worker sees it, shown by GET /destinations when given. */
  states?: () => ReadonlyMap<string, DestinationState>;
  /** Takes the config's secrets out of every answer (an attempt's error may repeat one). */
  redactor?: Redactor;
  log: Logger;
  /** The operator console's options: given, the listener also serves it at `/` and `/ui/`. */
  console?: ConsoleOptions;
}

/** A running admin listener. */
export interface AdminServer {
  /** Base URL, such as "http://127.0.0.1:8081". */
  url: string;
  /** Replaces the token (on reload); requests already checked are not affected. */
  setToken(token: string): Promise<void>;
  stop(): Promise<void>;
}

const STATUSES: readonly DeliveryStatus[] = ["pending", "failed", "dead", "delivered"];

/** The most rows a list answers with; a larger `limit` is refused with 400. */
export const MAX_LIST_LIMIT = 500;

/** The most dead deliveries one replay-dead call makes due again. */
const MAX_REPLAY_LIMIT = 100_000;

/** A request the admin API refuses, answered with its status and message. */
class AdminError extends Error {
  status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "AdminError";
    this.status = status;
  }
}

/** Starts the admin API on its own listener. */
export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  const { store, log, redactor } = options;
  let check = await tokenChecker(options.token);
  const web: Console | null = options.console
    ? await createConsole(options.token, options.console)
    : null;
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(redactor ? redactor.stringify(body) : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });

  async function route(request: Request, url: URL, segments: string[]): Promise<Response> {
    const method = request.method;
    const [head, id, action] = segments;
    if (head === "events" && segments.length === 1) {
      allow(method, "GET");
      const query = eventQueryOf(url);
      const events = await store.searchEvents(query);
      const last = events.at(-1);
      return json(200, {
        events: events.map((e) => ({
          id: e.id,
          type: e.type,
          receivedAt: e.receivedAt,
          routedAt: e.routedAt,
        })),
        next: events.length === query.limit && last !== undefined
          ? formatEventCursor({ receivedAt: last.receivedAt, id: last.id })
          : null,
      });
    }
    if (head === "events" && segments.length === 2) {
      allow(method, "GET");
      const event = await store.getEvent(id!);
      if (event === null) throw new AdminError(404, `No event "${id}"`);
      return json(200, {
        event: {
          id: event.id,
          type: event.type,
          receivedAt: event.receivedAt,
          routedAt: event.routedAt,
          payload: JSON.parse(event.body),
        },
      });
    }
    if (head === "deliveries" && segments.length === 1) {
      allow(method, "GET");
      const filter = filterOf(url);
      const after = url.searchParams.get("after");
      const order = url.searchParams.get("order");
      if (order !== null && order !== "newest" && order !== "oldest") {
        throw new AdminError(400, "order takes newest or oldest");
      }
      if (after === null && order !== "newest") {
        return json(200, { deliveries: await store.listDeliveries(filter) });
      }
      if (order === "oldest") throw new AdminError(400, "after pages newest first");
      const cursor = after === null ? undefined : deliveryCursorOf(after);
      const deliveries = await store.searchDeliveries({
        ...filter,
        ...(cursor ? { after: cursor } : {}),
      });
      const last = deliveries.at(-1);
      return json(200, {
        deliveries,
        next: deliveries.length === filter.limit && last !== undefined
          ? `${last.createdAt}.${last.id}`
          : null,
      });
    }
    if (head === "deliveries" && id === "replay-dead" && segments.length === 2) {
      allow(method, "POST");
      const dead = await store.listDeliveries({
        ...filterOf(url),
        status: "dead",
        limit: url.searchParams.has("limit") ? limitOf(url, MAX_REPLAY_LIMIT) : MAX_REPLAY_LIMIT,
      });
      const replayed = await store.replay(dead.map((d) => d.id), Date.now());
      if (replayed.length > 0) options.replayed();
      return json(200, { replayed });
    }
    if (head === "deliveries" && segments.length === 2) {
      allow(method, "GET");
      const found = await store.getDelivery(id!);
      if (found === null) throw new AdminError(404, `No delivery "${id}"`);
      return json(200, found);
    }
    if (head === "deliveries" && action === "replay" && segments.length === 3) {
      allow(method, "POST");
      if (await store.getDelivery(id!) === null) throw new AdminError(404, `No delivery "${id}"`);
      const replayed = await store.replay([id!], Date.now());
      if (replayed.length === 0) {
        throw new AdminError(409, "The delivery is being attempted right now; try again shortly");
      }
      options.replayed();
      return json(200, { replayed });
    }
    if (head === "destinations" && segments.length === 1) {
      allow(method, "GET");
      const disabled = new Map((await store.disabledDestinations()).map((d) => [d.name, d]));
      const paused = new Map((await store.pausedDestinations()).map((d) => [d.name, d.at]));
      const depth = new Map((await store.queueStats()).map((s) => [s.destination, s.depth]));
      const states = options.states?.();
      return json(200, {
        destinations: options.destinations().map((d) => {
          const state = states?.get(d.name);
          return {
            ...d,
            disabled: disabled.has(d.name)
              ? { at: disabled.get(d.name)!.at, reason: disabled.get(d.name)!.reason }
              : null,
            paused: paused.has(d.name) ? { at: paused.get(d.name)! } : null,
            queued: depth.get(d.name) ?? 0,
            ...(state ? { state: state.state, until: state.until, inFlight: state.inFlight } : {}),
          };
        }),
      });
    }
    if (
      head === "destinations" && (action === "pause" || action === "resume") &&
      segments.length === 3
    ) {
      allow(method, "POST");
      if (!options.destinations().some((d) => d.name === id)) {
        throw new AdminError(404, `No destination "${id}"`);
      }
      const pause = action === "pause";
      const changed = await store.setPaused(id!, pause, Date.now());
      if (changed) await (options.paused ?? options.enabled)();
      return json(200, { name: id, paused: pause, changed });
    }
    if (head === "destinations" && action === "enable" && segments.length === 3) {
      allow(method, "POST");
      if (!options.destinations().some((d) => d.name === id)) {
        throw new AdminError(404, `No destination "${id}"`);
      }
      const changed = await store.setDisabled(id!, null, Date.now());
      if (changed) await options.enabled();
      return json(200, { name: id, enabled: true, changed });
    }
    throw new AdminError(404, "Unknown path");
  }

  async function handle(request: Request): Promise<Response> {
    // The console answers its own pages (it logs them); requests with a token are the API's.
    const page = await web?.handle(request);
    if (page) return page;
    const started = performance.now();
    const url = new URL(request.url);
    const segments = url.pathname.split("/").filter((s) => s !== "").map(decodeSegment);
    let response: Response;
    if (!(await check(request.headers.get("authorization")))) {
      response = json(401, { ok: false, error: "Unauthorized" }, {
        "www-authenticate": 'Bearer realm="hero-relay admin"',
      });
    } else {
      try {
        response = await route(request, url, segments);
      } catch (error) {
        if (error instanceof AdminError) {
          response = json(error.status, { ok: false, error: error.message });
        } else {
          log.error("admin request failed", { error: (error as Error)?.name });
          response = json(500, { ok: false, error: "Internal error" });
        }
      }
    }
    log.info("admin request", {
      method: request.method,
      path: pathLabel(segments),
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return response;
  }

  // The admin API is for this machine's operator: a small cap and short timeouts.
  const server = await listen({
    hostname: options.hostname,
    port: options.port,
    limits: () => ({
      maxConnections: 64,
      idleTimeoutMs: 15_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    }),
    handler: handle,
  });
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}`;
  log.info("admin API started", { url: `http://${host}:${addr.port}` });
  return {
    url,
    async setToken(token: string) {
      check = await tokenChecker(token);
      await web?.setToken(token);
    },
    async stop() {
      web?.close();
      await server.close();
    },
  };
}

/**
 * A checker of `Authorization: Bearer <token>` headers, in constant time (see tokenMatcher):
 * neither the token's bytes nor its length can be learnt from timing.
 */
async function tokenChecker(token: string): Promise<(header: string | null) => Promise<boolean>> {
  const matches = await tokenMatcher(token);
  return async (header) => {
    const match = /^Bearer +(\S+) *$/i.exec(header ?? "");
    const ok = await matches(match ? match[1]! : "");
    return ok && match !== null;
  };
}

function allow(method: string, expected: "GET" | "POST"): void {
  if (method !== expected && !(expected === "GET" && method === "HEAD")) {
    throw new AdminError(405, `Use ${expected}`);
  }
}

function limitOf(url: URL, max = MAX_LIST_LIMIT): number {
  const value = url.searchParams.get("limit") ?? "100";
  if (!/^[1-9][0-9]{0,8}$/.test(value) || Number(value) > max) {
    throw new AdminError(400, `limit takes a whole number from 1 to ${max}`);
  }
  return Number(value);
}

function filterOf(url: URL): DeliveryFilter {
  const params = url.searchParams;
  const status = params.get("status");
  if (status !== null && !STATUSES.includes(status as DeliveryStatus)) {
    throw new AdminError(400, `status takes one of ${STATUSES.join(", ")}`);
  }
  const since = params.get("since");
  if (since !== null && Number.isNaN(Date.parse(since))) {
    throw new AdminError(400, "since takes an ISO date");
  }
  const destination = params.get("destination");
  const event = params.get("event");
  const eventId = params.get("event_id");
  return {
    ...(status !== null ? { status: status as DeliveryStatus } : {}),
    ...(destination !== null ? { destination } : {}),
    ...(event !== null ? { eventType: event } : {}),
    ...(eventId !== null ? { eventId } : {}),
    ...(since !== null ? { since: Date.parse(since) } : {}),
    limit: limitOf(url),
  };
}

/** The query of GET /events; each parameter narrows. */
function eventQueryOf(url: URL): EventQuery {
  const params = url.searchParams;
  const text = (name: string) => {
    const value = params.get(name);
    return value === null || value === "" ? undefined : value;
  };
  const status = text("status");
  if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) {
    throw new AdminError(400, `status takes one of ${STATUSES.join(", ")}`);
  }
  const since = timeOf(params, "since");
  const until = timeOf(params, "until");
  const after = text("after");
  let cursor: EventCursor | undefined;
  if (after !== undefined) {
    const parsed = parseCursor(after);
    if (parsed === null) throw new AdminError(400, "after takes a cursor <receivedAt>.<id>");
    cursor = { receivedAt: parsed.at, id: parsed.id };
  }
  const query: EventQuery = { limit: limitOf(url) };
  const type = text("type");
  const destination = text("destination");
  const deal = text("deal");
  const influencer = text("influencer");
  if (type !== undefined) query.type = type;
  if (status !== undefined) query.status = status as DeliveryStatus;
  if (destination !== undefined) query.destination = destination;
  if (deal !== undefined) query.dealOrCollab = deal;
  if (influencer !== undefined) query.influencer = influencer;
  if (since !== undefined) query.since = since;
  if (until !== undefined) query.until = until;
  if (cursor !== undefined) query.after = cursor;
  return query;
}

/** A time parameter: an ISO date or milliseconds since the epoch. */
function timeOf(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null || value === "") return undefined;
  if (/^[0-9]{1,16}$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) {
    throw new AdminError(400, `${name} takes an ISO date or milliseconds since the epoch`);
  }
  return date;
}

function deliveryCursorOf(text: string): DeliveryCursor {
  const parsed = parseCursor(text);
  if (parsed === null) throw new AdminError(400, "after takes a cursor <createdAt>.<id>");
  return { createdAt: parsed.at, id: parsed.id };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The route a request matched, as a log field with no ids or names in it. */
function pathLabel(segments: string[]): string {
  const [head, id, action] = segments;
  if (head === undefined) return "/";
  if (!["events", "deliveries", "destinations"].includes(head)) return "other";
  if (id === undefined) return `/${head}`;
  if (id === "replay-dead" && action === undefined) return `/${head}/replay-dead`;
  if (action === undefined) return `/${head}/:id`;
  const known = ["replay", "enable", "pause", "resume"];
  return `/${head}/:id/${known.includes(action) ? action : "other"}`;
}
