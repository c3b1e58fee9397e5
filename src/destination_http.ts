// Any HTTP endpoint or no-code tool (Zapier, Make, n8n, Pipedream). By default it receives the
// original payload, untouched, wrapped with the event's id, type and received time. With signing
// secrets, every request carries a Standard Webhooks signature the receiver can check.

import { z } from "zod";
import { deliveryOptions, headers, secret, secretUrl } from "./schema_kit.ts";
import { isWebhookSecret } from "./standard_webhooks.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { attempt, type Built, jsonBody, preview } from "./outbound.ts";
import { classifyHttp, type Outcome } from "./retry.ts";
import { WebhookSigner } from "./standard_webhooks.ts";

/** Options of {@linkcode HttpDestination}. */
export interface HttpOptions {
  url: string;
  method?: "POST" | "PUT" | "PATCH";
  headers?: Record<string, string>;
  /** Renders the JSON body instead of the wrapped payload. */
  body?: (request: DeliveryRequest) => string;
  /** `whsec_` secrets to sign with (Standard Webhooks); two during a rotation. */
  signingSecrets?: string[];
}

/** An HTTP endpoint. */
export class HttpDestination implements Destination {
  readonly type = "http";
  readonly name: string;
  #options: HttpOptions;
  #signer: WebhookSigner | null;

  /** Throws TypeError when a signing secret is not a `whsec_` secret. */
  constructor(name: string, options: HttpOptions) {
    this.name = name;
    this.#options = options;
    const secrets = options.signingSecrets ?? [];
    this.#signer = secrets.length > 0 ? new WebhookSigner(secrets) : null;
  }

  #request(request: DeliveryRequest, now: number): Built {
    // An endpoint may take any JSON, an array included, not only an object.
    const json = this.#options.body ? jsonBody(this.#options.body, request) : null;
    if (json !== null && "error" in json) return json;
    const body = json?.text ?? wrapPayload(request);
    return {
      method: this.#options.method ?? "POST",
      url: this.#options.url,
      headers: {
        "content-type": "application/json",
        "x-hero-relay-event": request.eventType,
        "x-hero-relay-event-id": request.eventId,
        ...this.#options.headers,
        // After the operator's headers: what is signed is what is sent.
        "webhook-id": request.deliveryId,
        "webhook-timestamp": String(Math.floor(now / 1000)),
      },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    const built = this.#request(request, Date.now());
    if (this.#signer && !("error" in built)) built.headers["webhook-signature"] = "v1,…";
    return preview(built, maskUrl(this.#options.url));
  }

  async send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    const built = this.#request(request, context.now());
    if (this.#signer && !("error" in built)) {
      built.headers["webhook-signature"] = await this.#signer.sign({
        id: request.deliveryId,
        timestamp: Number(built.headers["webhook-timestamp"]),
        body: built.body,
      });
    }
    return attempt(built, context, classifyHttp);
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

/** The `http` destination type: any endpoint or no-code tool. */
export const httpType = destinationType({
  type: "http",
  schema: z.strictObject({
    type: z.literal("http"),
    url: secretUrl("The endpoint's URL; its path and query may hold a token (a secret)"),
    method: z.enum(["POST", "PUT", "PATCH"]).optional(),
    headers: headers.optional().describe("Extra request headers (values may be secrets)"),
    body: z.string().optional().describe(
      "Liquid template of the JSON body; by default the payload wrapped with id, type and time",
    ),
    signing_secrets: z.array(secret(z.string())).max(4).optional().describe(
      "Standard Webhooks signing secrets (whsec_…); two during a rotation. Empty entries are " +
        "ignored, so an unset ${OLD_SECRET:-} can stay in the list",
    ),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    value.signing_secrets?.forEach((secret, i) => {
      if (secret !== "" && !isWebhookSecret(secret)) {
        context.addIssue({
          code: "custom",
          path: ["signing_secrets", i],
          message: 'expected "whsec_" followed by the base64 of 24 to 64 random bytes ' +
            "(create one with: echo whsec_$(openssl rand -base64 32))",
        });
      }
    });
  }).describe("Any HTTP endpoint or no-code tool (Zapier, Make, n8n, Pipedream)"),
  // No documented limit: the lane finds the endpoint's capacity itself.
  pace: null,
  // Without a body template the event's own bytes are sent: no message is rendered.
  rendersMessages: (entry) => entry.body !== undefined,
  // Most endpoint URLs are not secret; one with a query or credentials usually holds a token.
  inlineSecret: (key, value) => key !== "url" || /[?@]/.test(value),
  create: (name, entry, kit) =>
    new HttpDestination(
      name,
      stripUndefined({
        url: entry.url,
        method: entry.method,
        headers: entry.headers,
        body: kit.template(entry.body),
        // Validated in the schema when enabled; a disabled destination does not sign.
        signingSecrets: kit.enabled
          ? (entry.signing_secrets ?? []).filter((s) => s !== "")
          : undefined,
      }),
    ),
});
