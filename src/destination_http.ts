// Any HTTP endpoint or no-code tool (Zapier, Make, n8n, Pipedream). By default it receives the
// original payload, untouched, wrapped with the event's id, type and received time.

import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { maskHeaders, maskUrl } from "./destination.ts";
import { type OutgoingRequest, sendHttp } from "./http_client.ts";
import { classifyHttp, type Outcome } from "./retry.ts";

/** Options of {@linkcode HttpDestination}. */
export interface HttpOptions {
  url: string;
  method?: "POST" | "PUT" | "PATCH";
  headers?: Record<string, string>;
  /** Renders the JSON body instead of the wrapped payload. */
  body?: (request: DeliveryRequest) => string;
}

/** An HTTP endpoint. */
export class HttpDestination implements Destination {
  readonly type = "http";
  readonly name: string;
  #options: HttpOptions;

  constructor(name: string, options: HttpOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): OutgoingRequest | { error: string } {
    let body: string;
    if (this.#options.body) {
      body = this.#options.body(request);
      try {
        JSON.parse(body);
      } catch {
        return { error: "the body template did not produce valid JSON" };
      }
    } else {
      body = wrapPayload(request);
    }
    return {
      method: this.#options.method ?? "POST",
      url: this.#options.url,
      headers: {
        "content-type": "application/json",
        "webhook-id": request.deliveryId,
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-hero-relay-event": request.eventType,
        "x-hero-relay-event-id": request.eventId,
        ...this.#options.headers,
      },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    const built = this.#request(request);
    if ("error" in built) {
      return { method: "ERROR", url: maskUrl(this.#options.url), headers: {}, body: built.error };
    }
    return { ...built, url: maskUrl(this.#options.url), headers: maskHeaders(built.headers) };
  }

  async send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    const built = this.#request(request);
    if ("error" in built) return { kind: "failed", httpStatus: null, error: built.error };
    const result = await sendHttp(built, context.timeouts, context.signal);
    if (!result.ok) return { kind: "retry", httpStatus: null, error: result.error };
    return classifyHttp(result.answer, context.now());
  }
}

/** `{"id","type","received_at","delivery_id","payload"}` with the payload's raw bytes kept. */
export function wrapPayload(request: DeliveryRequest): string {
  const head = JSON.stringify({
    id: request.eventId,
    type: request.eventType,
    received_at: new Date(request.receivedAt).toISOString(),
    delivery_id: request.deliveryId,
  });
  return `${head.slice(0, -1)},"payload":${request.body}}`;
}
