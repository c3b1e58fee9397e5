// The route step of a webhook's road: the scope templates and conditions see, which routes and
// destinations an event matches, and the deliveries it gets. Routes are compiled from the config
// in compile.ts; the worker plans each stored event's deliveries here. A digest route's match
// becomes a digest item instead of a delivery (see digest.ts).

import { type Payload, sourceOf } from "./events.ts";
import { newId } from "./ids.ts";
import type { MessageTemplate } from "./message.ts";
import type { NewDelivery, Routing } from "./store.ts";
import type { Condition } from "./template.ts";

/** A route's digest settings, compiled from its `digest` (windows are computed in digest.ts). */
export interface DigestSpec {
  /** The window's length (ms); in calendar mode whole days, or hours that divide a day. */
  everyMs: number;
  /** Calendar windows start at this local time ("09:00"); null for rolling windows. */
  at: { hour: number; minute: number } | null;
  /** The time zone of calendar windows ("Europe/Berlin"). */
  timezone: string;
  /** A window holding this many events is sent at once. */
  maxEvents: number | null;
  /** The text sent for a calendar window without events; null sends nothing. */
  empty: string | null;
}

/** A route ready to match events. */
export interface CompiledRoute {
  name: string;
  /** Event types taken (`<source>.*` takes all of a source's), or null for all. */
  events: ReadonlySet<string> | null;
  when: Condition | null;
  to: string[];
  /** The route's message for an event type. */
  message(eventType: string): MessageTemplate;
  /** Collects its events into one message per window; null sends each at once. */
  digest: DigestSpec | null;
}

/** What matching needs of a runtime: its routes and which destinations are enabled. */
export interface RoutingTable {
  routes: readonly CompiledRoute[];
  destinations: ReadonlyMap<string, { enabled: boolean }>;
}

/** The scope templates see: the payload's own fields, plus `event` {id, type, received_at}. */
export function templateScope(
  payload: Payload,
  event: { id: string; type: string; receivedAt: number },
): Record<string, unknown> {
  return {
    ...payload,
    event: { id: event.id, type: event.type, received_at: Math.floor(event.receivedAt / 1000) },
  };
}

/** The routes and destinations an event reaches: one pair per route and destination. */
export function matchRoutes(
  runtime: RoutingTable,
  eventType: string,
  scope: object,
): Array<{ route: CompiledRoute; destination: string }> {
  const out: Array<{ route: CompiledRoute; destination: string }> = [];
  // "shop.*" takes every event of the source "shop".
  const source = sourceOf(eventType);
  const everyOfSource = source === null ? null : `${source}.*`;
  for (const route of runtime.routes) {
    if (
      route.events !== null && !route.events.has(eventType) &&
      (everyOfSource === null || !route.events.has(everyOfSource))
    ) continue;
    if (route.when !== null && !route.when(scope)) continue;
    for (const name of route.to) {
      if (runtime.destinations.get(name)?.enabled) out.push({ route, destination: name });
    }
  }
  return out;
}

/** The deliveries an event gets from the routes: one per matching route and destination. */
export function planDeliveries(
  runtime: RoutingTable,
  event: { id: string; type: string; receivedAt: number; orderKey: string | null },
  payload: Payload,
): NewDelivery[] {
  return planRouting(runtime, event, payload).deliveries;
}

/**
 * What an event gets from the routes: a delivery per matching route and destination, or for a
 * digest route, a place in that route and destination's next digest.
 */
export function planRouting(
  runtime: RoutingTable,
  event: { id: string; type: string; receivedAt: number; orderKey: string | null },
  payload: Payload,
): Routing {
  const scope = templateScope(payload, event);
  const routing: Routing = { deliveries: [], digests: [] };
  for (const m of matchRoutes(runtime, event.type, scope)) {
    if (m.route.digest !== null) {
      routing.digests.push({
        id: newId("dgi", event.receivedAt),
        eventId: event.id,
        route: m.route.name,
        destination: m.destination,
      });
      continue;
    }
    routing.deliveries.push({
      id: newId("dlv", event.receivedAt),
      eventId: event.id,
      destination: m.destination,
      route: m.route.name,
      orderKey: event.orderKey,
    });
  }
  return routing;
}
