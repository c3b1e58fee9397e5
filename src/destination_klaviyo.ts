// Klaviyo: each event becomes a Klaviyo event (an occurrence of a metric, such as "Influencer
// Hero update_commission") on the profile of an e-mail address, so flows and segments can use it.
// What Klaviyo documents (developers.klaviyo.com: create_event, rate limits and errors, API
// versioning), as this module relies on it:
// - `POST /api/events` with `Authorization: Klaviyo-API-Key <private key>`, a `revision` header
//   (required), JSON:API content type, and
//   `{"data":{"type":"event","attributes":{"properties","time","value","unique_id",
//   "metric":{"data":{"type":"metric","attributes":{"name"}}},
//   "profile":{"data":{"type":"profile","attributes":{"email",…}}}}}}`; 202 Accepted, no body.
// - `unique_id`: "if the unique_id is repeated for the same profile and metric, only the first
//   processed event will be recorded", so the relay's event id keeps a retry from counting twice.
// - The metric name is under 128 characters; `time` between 2000 and a year ahead; at most 400
//   properties, strings of at most 100 KB, 5 MB in all.
// - Errors are `{"errors":[{"id","status","code","title","detail","source":{"pointer"}}]}`:
//   400 (this event is invalid), 401 not_authenticated, 403 permission_denied (the key lacks the
//   events:write scope), 429 throttled with `Retry-After` (seconds), 5xx.
// - Create Event's limits: 350 a second (burst) and 3,500 a minute (steady), per account.

import { z } from "zod";
import { checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, stripUndefined } from "./destination.ts";
import {
  answerJson,
  attempt,
  type Built,
  fit,
  fitBytes,
  mentionsMessage,
  preview,
} from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";

/**
 * The API revision every request names. Pinned, so a new revision can never change what the
 * relay sends or what Klaviyo answers under it. Klaviyo keeps a revision stable for a year and
 * supported for another, then retires it (every 2024 revision is retired by now), so a release of
 * the relay moves it on well within that time.
 */
export const KLAVIYO_REVISION = "2026-10-15";

type Render = (request: DeliveryRequest) => string;

/** Options of {@linkcode KlaviyoDestination}. */
export interface KlaviyoOptions {
  /** A private API key (`pk_…`) with the events:write scope. */
  apiKey: string;
  /** The metric's name; default "Influencer Hero <event type>". */
  metric?: Render;
  /** The profile's e-mail address; an event for which it renders empty is not sent. */
  email: Render;
  phoneNumber?: Render;
  externalId?: Render;
  /** Property name → its rendered value; default the payload's own fields. */
  properties?: Record<string, Render>;
  /** A number: the event's monetary value. */
  value?: Render;
  /** Default https://a.klaviyo.com. */
  apiUrl?: string;
}

/** Klaviyo's documented limits. */
export const KLAVIYO_LIMITS = { metricName: 127, stringBytes: 100_000 } as const;

const DEFAULT_API_URL = "https://a.klaviyo.com";
const JSON_API = "application/vnd.api+json";

/** A Klaviyo account's events. */
export class KlaviyoDestination implements Destination {
  readonly type = "klaviyo";
  readonly name: string;
  #options: KlaviyoOptions;

  constructor(name: string, options: KlaviyoOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    const options = this.#options;
    const email = options.email(request).trim();
    if (email === "") {
      return {
        error: "the email template rendered empty for this event, so there is no Klaviyo " +
          "profile to record it on (nothing was sent)",
      };
    }
    const profile: Record<string, string> = { email };
    const phone = options.phoneNumber?.(request).trim();
    if (phone) profile["phone_number"] = phone;
    const externalId = options.externalId?.(request).trim();
    if (externalId) profile["external_id"] = externalId;
    const attributes: Record<string, unknown> = {
      properties: this.#properties(request),
      time: new Date(request.receivedAt).toISOString(),
      unique_id: request.eventId,
      metric: {
        data: {
          type: "metric",
          attributes: {
            name: fit(
              options.metric?.(request).trim() || `Influencer Hero ${request.eventType}`,
              KLAVIYO_LIMITS.metricName,
            ),
          },
        },
      },
      profile: { data: { type: "profile", attributes: profile } },
    };
    const valueText = options.value?.(request).trim() ?? "";
    if (valueText !== "") {
      // Strictly a number: "1,500" could mean 1500 or 1.5, so the template says which.
      const value = Number(valueText);
      if (!Number.isFinite(value)) {
        return { error: `the value template rendered "${fit(valueText, 40)}", not a number` };
      }
      attributes["value"] = value;
    }
    return {
      method: "POST",
      url: `${(options.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, "")}/api/events`,
      headers: {
        "content-type": JSON_API,
        "accept": JSON_API,
        "authorization": `Klaviyo-API-Key ${options.apiKey}`,
        "revision": KLAVIYO_REVISION,
      },
      body: JSON.stringify({ data: { type: "event", attributes } }),
    };
  }

  #properties(request: DeliveryRequest): Record<string, unknown> {
    const templates = this.#options.properties;
    if (templates === undefined) return request.payload;
    const properties: Record<string, string> = {};
    for (const [name, template] of Object.entries(templates)) {
      const value = template(request);
      if (value !== "") properties[name] = fitBytes(value, KLAVIYO_LIMITS.stringBytes);
    }
    return properties;
  }

  render(request: DeliveryRequest): Rendered {
    const built = this.#request(request);
    const shown = preview(built, `${this.#options.apiUrl ?? DEFAULT_API_URL}/api/events`);
    // The revision is no secret, and telling which one is sent helps reading Klaviyo's docs.
    if (!("error" in built)) shown.headers["revision"] = KLAVIYO_REVISION;
    return shown;
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyKlaviyo);
  }
}

/**
 * Klaviyo's rules: 2xx (202) delivered; 401 and 403 mean the key or its scope is gone; 429
 * waits its Retry-After; 400 and other 4xx refuse this event, with Klaviyo's reason kept.
 */
export function classifyKlaviyo(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  const error = klaviyoError(answer);
  if (status === 401 || status === 403) return { kind: "gone", httpStatus: status, error };
  const outcome = classifyHttp(answer, now);
  return outcome.kind === "delivered" ? outcome : { ...outcome, error };
}

/** "HTTP 400: invalid: The email field is required. (at /data/attributes/…)", per error. */
function klaviyoError(answer: HttpAnswer): string {
  const errors = answerJson(answer)?.["errors"];
  if (!Array.isArray(errors) || errors.length === 0) return describe(answer);
  const parts = errors.slice(0, 3).map((entry) => {
    const { code, title, detail, source } = (entry ?? {}) as Record<string, unknown>;
    const pointer = (source as Record<string, unknown> | undefined)?.["pointer"];
    const reason = [code, detail ?? title].filter((p) => typeof p === "string" && p !== "");
    return reason.join(": ") + (typeof pointer === "string" ? ` (at ${pointer})` : "");
  });
  return `HTTP ${answer.status}: ${fit(parts.join("; "), 400)}`;
}

/** The `klaviyo` destination type. */
export const klaviyoType = destinationType({
  type: "klaviyo",
  schema: z.strictObject({
    type: z.literal("klaviyo"),
    api_key: secret(
      z.string().describe("Private API key (pk_…) with the Events write scope (a secret)"),
    ),
    metric: z.string().optional().describe(
      'Liquid template of the metric (event) name; default "Influencer Hero <event type>"',
    ),
    email: z.string().describe("Liquid template of the profile's e-mail address"),
    phone_number: z.string().optional().describe(
      "Liquid template of the profile's phone number (E.164, such as +15005550006)",
    ),
    external_id: z.string().optional().describe("Liquid template of the profile's external id"),
    properties: z.record(z.string(), z.string()).optional().describe(
      "Property name → Liquid template of its value; default the payload's own fields",
    ),
    value: z.string().optional().describe(
      "Liquid template of the event's monetary value, a number such as 149.99",
    ),
    api_url: z.string().optional().describe("Default https://a.klaviyo.com"),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if (!value.api_key.startsWith("pk_")) {
      issue(
        "api_key",
        value.api_key === ""
          ? "expected a private API key (pk_…), got an empty string"
          : 'expected a private API key starting with "pk_" (value hidden; a public key or ' +
            "site id cannot create events)",
      );
    }
    if (value.email.trim() === "") {
      issue(
        "email",
        'expected a template of the e-mail address, such as "{{ email_information.recipient }}"',
      );
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
  }).describe("Klaviyo: an event (metric) on the profile of an e-mail address, for flows"),
  // 350 a second and 3,500 a minute per account. The lane may send `burst` at once on top of the
  // sustained rate: 300 at once and 50 a second stay within 350 in any second and 3,300 in any
  // minute, leaving room for the account's other integrations.
  pace: { perSecond: 50, burst: 300 },
  rendersMessages: (entry) =>
    mentionsMessage([
      entry.metric,
      entry.email,
      entry.phone_number,
      entry.external_id,
      entry.value,
      ...Object.values(entry.properties ?? {}),
    ]),
  create(name, entry, kit) {
    let properties: Record<string, Render> | undefined;
    if (entry.properties !== undefined) {
      properties = {};
      for (const [property, source] of Object.entries(entry.properties)) {
        const render = kit.template(source, `properties.${property}`);
        if (render !== undefined) properties[property] = render;
      }
    }
    return new KlaviyoDestination(
      name,
      stripUndefined({
        apiKey: entry.api_key,
        metric: kit.template(entry.metric, "metric"),
        // Undefined only when the template did not compile: the config is refused then.
        email: kit.template(entry.email, "email") ?? (() => ""),
        phoneNumber: kit.template(entry.phone_number, "phone_number"),
        externalId: kit.template(entry.external_id, "external_id"),
        properties,
        value: kit.template(entry.value, "value"),
        apiUrl: entry.api_url ?? DEFAULT_API_URL,
      }),
    );
  },
});
