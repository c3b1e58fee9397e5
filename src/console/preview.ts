// What an event would become, as `render` shows it: for each routed destination its native
// request (masked) and the neutral message (for a digest route, the digest of this event with a
// sample of each other type the route takes); and one real test send to a destination.

import type { Runtime } from "../compile.ts";
import type { DeliveryRequest, Rendered } from "../destination.ts";
import { sampleDigest } from "../digest.ts";
import { DIGEST_EVENT } from "../digest_message.ts";
import { omitPaths, type Payload } from "../events.ts";
import { SAMPLES } from "../samples.ts";
import type { ReachableOrigins } from "../http_client.ts";
import { newId } from "../ids.ts";
import { compileMessage, type Message } from "../message.ts";
import type { Outcome } from "../retry.ts";
import { matchRoutes, templateScope } from "../route.ts";
import { loadTemplates } from "../template.ts";
import type { SendTest } from "./options.ts";

/** What one routed destination would receive. */
export interface PreviewItem {
  route: string;
  destination: string;
  type: string;
  rendered: Rendered;
  message: Message;
  /** For a digest route: how many events the digest shown holds. */
  digestEvents?: number;
}

/** The event a preview or a test stands for. */
export interface PreviewEvent {
  id: string;
  type: string;
  receivedAt: number;
}

/** Renders what each destination the event is routed to would receive; nothing is sent. */
export async function previewDeliveries(
  runtime: Runtime,
  event: PreviewEvent,
  payload: Payload,
): Promise<PreviewItem[]> {
  await loadTemplates();
  const scope = templateScope(payload, event);
  return matchRoutes(runtime, event.type, scope).map(({ route, destination }) => {
    const target = runtime.destinations.get(destination)!.destination;
    if (route.digest !== null) {
      const others = Object.keys(SAMPLES).filter((type) =>
        type !== event.type && (route.events === null || route.events.has(type))
      );
      const body: Payload = {
        ...sampleDigest({ ...route, digest: route.digest }, destination, {
          now: event.receivedAt,
          events: [
            { type: event.type, payload },
            ...others.map((type) => ({ type, payload: SAMPLES[type]! })),
          ],
        }),
      };
      const digestEvent = {
        id: "evt_PREVIEW_DIGEST",
        type: DIGEST_EVENT,
        receivedAt: event.receivedAt,
      };
      const message = route.message(DIGEST_EVENT)(templateScope(body, digestEvent));
      return {
        route: route.name,
        destination,
        type: target.type,
        rendered: target.render(requestOf(digestEvent, body, message, "dlv_PREVIEW")),
        message,
        digestEvents: 1 + others.length,
      };
    }
    // The destination sees the payload without its `omit` fields, as the worker sends it.
    const seen = omitPaths(payload, runtime.destinations.get(destination)!.omit);
    const message = route.message(event.type)(templateScope(seen, event));
    return {
      route: route.name,
      destination,
      type: target.type,
      rendered: target.render(requestOf(event, seen, message, "dlv_PREVIEW")),
      message,
    };
  });
}

/**
 * A {@linkcode SendTest} through the running config's destinations: the message of the first
 * route that sends the event to the destination (the type's default when none does), one attempt
 * with the destination's timeouts.
 */
export function testSender(
  runtime: () => Runtime,
  options: { origins: ReachableOrigins; signal: AbortSignal; now?: () => number },
): SendTest {
  const now = options.now ?? Date.now;
  return async (name: string, eventType: string, payload: Payload): Promise<Outcome> => {
    const current = runtime();
    const target = current.destinations.get(name);
    if (target === undefined) throw new RangeError(`No destination "${name}"`);
    await loadTemplates();
    const event = { id: newId("evt", now()), type: eventType, receivedAt: now() };
    const scope = templateScope(payload, event);
    const match = matchRoutes(current, eventType, scope).find((m) => m.destination === name);
    const seen = omitPaths(payload, target.omit);
    const message = (match ? match.route.message(eventType) : compileMessage(eventType))(
      templateScope(seen, event),
    );
    const request = requestOf(event, seen, message, newId("dlv", event.receivedAt));
    try {
      return await target.destination.send(request, {
        timeouts: target.timeouts,
        signal: options.signal,
        now,
        origins: options.origins,
      });
    } catch (error) {
      return {
        kind: "retry",
        httpStatus: null,
        error: `destination error (${(error as Error).name})`,
      };
    }
  };
}

function requestOf(
  event: PreviewEvent,
  payload: Payload,
  message: Message,
  deliveryId: string,
): DeliveryRequest {
  return {
    deliveryId,
    eventId: event.id,
    eventType: event.type,
    receivedAt: event.receivedAt,
    body: JSON.stringify(payload),
    payload,
    message,
    attempt: 1,
  };
}
