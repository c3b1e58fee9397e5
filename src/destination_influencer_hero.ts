// Influencer Hero's server-side affiliate tracking: each delivery records one referral (an order)
// or one click for an influencer, through POST /v1/crm/new_influencer_referral or
// /v1/crm/new_influencer_click with the account's API key in X-API-KEY. It counts orders the
// brand's browser script misses (headless checkouts, ad blockers). The request body is a map of
// Liquid templates, one per API field; numbers are sent as JSON numbers, and a field the event
// cannot fill fails the delivery rather than recording a wrong referral.

import { z } from "zod";
import { checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType } from "./destination.ts";
import { API_URL } from "./influencer_hero_api.ts";
import { answerJson, attempt, type BuildError, type Built, preview } from "./outbound.ts";
import { classifyHttp, type HttpAnswer, type Outcome } from "./retry.ts";

/** What a delivery records: an order attributed to an influencer, or clicks on their link. */
export type TrackingAction = "referral" | "click";

/** The fields that name the influencer; a request carries exactly one. */
export const LOOKUP_KEYS = ["collab_id", "deal_id", "influencer_handle"] as const;

/** The fields the API takes as JSON numbers. */
const NUMERIC_FIELDS = new Set(["order_revenue", "order_commission", "increase_clicks"]);

/** Fields each action requires besides its lookup key. */
const REQUIRED: Record<TrackingAction, readonly string[]> = {
  referral: ["order_id", "order_revenue", "order_platform"],
  click: [],
};

/** Fields documented for one action only: in the other they are a mistake, not an extra. */
const ONLY_FOR: Record<string, TrackingAction> = {
  order_id: "referral",
  order_revenue: "referral",
  order_commission: "referral",
  order_platform: "referral",
  increase_clicks: "click",
};

const PATHS: Record<TrackingAction, string> = {
  referral: "/v1/crm/new_influencer_referral",
  click: "/v1/crm/new_influencer_click",
};

/** Options of {@linkcode InfluencerHeroDestination}. */
export interface InfluencerHeroOptions {
  action: TrackingAction;
  /** The account's API key (a secret). */
  apiKey: string;
  /** The API's base URL; default the public API. */
  apiUrl?: string;
  /** One compiled template per body field, in the config's order. */
  fields: ReadonlyArray<readonly [name: string, template: (request: DeliveryRequest) => string]>;
}

/** Influencer Hero's affiliate tracking API. */
export class InfluencerHeroDestination implements Destination {
  readonly type = "influencer_hero";
  readonly name: string;
  #options: InfluencerHeroOptions;
  #url: string;

  constructor(name: string, options: InfluencerHeroOptions) {
    this.name = name;
    this.#options = options;
    this.#url = (options.apiUrl ?? API_URL).replace(/\/+$/, "") + PATHS[options.action];
  }

  #request(request: DeliveryRequest): Built {
    const made = trackingBody(this.#options.action, this.#options.fields, request);
    if ("error" in made) return made;
    return {
      method: "POST",
      url: this.#url,
      headers: { "content-type": "application/json", "x-api-key": this.#options.apiKey },
      body: JSON.stringify(made.body),
    };
  }

  render(request: DeliveryRequest): Rendered {
    // The URL holds no secret; the path says which of the two calls is made.
    return preview(this.#request(request), this.#url);
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyInfluencerHero);
  }
}

/**
 * The JSON body of one call, or why it cannot be made: a lookup key or required field that
 * renders empty, or a numeric field that does not render a number. Optional text fields that
 * render empty are left out.
 */
export function trackingBody(
  action: TrackingAction,
  fields: InfluencerHeroOptions["fields"],
  request: DeliveryRequest,
): { body: Record<string, string | number> } | BuildError {
  const body: Record<string, string | number> = {};
  for (const [name, template] of fields) {
    const text = template(request).trim();
    const required = REQUIRED[action].includes(name) ||
      (LOOKUP_KEYS as readonly string[]).includes(name);
    if (NUMERIC_FIELDS.has(name)) {
      const number = text === "" ? NaN : Number(text);
      if (!Number.isFinite(number)) {
        // The text itself stays out: errors are logged, and a template may read personal data.
        const what = text === "" ? "rendered empty, not a number" : "did not render a number";
        return { error: `fields.${name} ${what}: not sent` };
      }
      if (name === "increase_clicks" && !(Number.isInteger(number) && number >= 1)) {
        return {
          error: `fields.increase_clicks rendered "${text}", not a whole number >= 1: not sent`,
        };
      }
      body[name] = number;
    } else if (text !== "") {
      body[name] = text;
    } else if (required) {
      return { error: `fields.${name} rendered empty, and the ${action} needs it: not sent` };
    }
  }
  if (action === "click" && !("increase_clicks" in body)) body["increase_clicks"] = 1;
  return { body };
}

/**
 * Influencer Hero's answers: 2xx recorded; 401 and 403 (the key is refused) disable the
 * destination; 429 and 5xx are retried, honouring Retry-After; any other 4xx (400, 404, 422) is
 * this call refused for good, with the API's reason.
 */
export function classifyInfluencerHero(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  if (status === 401 || status === 403) {
    return { kind: "gone", httpStatus: status, error: `HTTP ${status}: ${apiReason(answer)}` };
  }
  const outcome = classifyHttp(answer, now);
  if (outcome.kind === "failed" && status >= 400 && status < 500) {
    return { ...outcome, error: `HTTP ${status}: ${apiReason(answer)}` };
  }
  return outcome;
}

/**
 * The API's reason in one line: FastAPI's `detail`, a string or a list of `{loc, msg}` (one per
 * field it refused), else the body itself.
 */
function apiReason(answer: HttpAnswer): string {
  const detail = answerJson(answer)?.["detail"];
  if (typeof detail === "string" && detail.trim() !== "") return detail.trim().slice(0, 200);
  if (Array.isArray(detail) && detail.length > 0) {
    const parts = detail.map((item) => {
      const loc = Array.isArray(item?.loc) ? item.loc.filter((p: unknown) => p !== "body") : [];
      const msg = typeof item?.msg === "string" ? item.msg : JSON.stringify(item);
      return loc.length > 0 ? `${loc.join(".")}: ${msg}` : msg;
    });
    return parts.join("; ").slice(0, 300);
  }
  const body = answer.body.replace(/\s+/g, " ").trim().slice(0, 200);
  return body === "" ? "no reason given" : body;
}

const FIELD_NAME = /^[a-z][a-z0-9_]*$/;

/** The `influencer_hero` destination type: referrals and clicks for Influencer Hero. */
export const influencerHeroType = destinationType({
  type: "influencer_hero",
  schema: z.strictObject({
    type: z.literal("influencer_hero"),
    action: z.enum(["referral", "click"]).describe(
      '"referral" records an order for an influencer, "click" counts clicks on their link',
    ),
    api_key: secret(
      z.string().describe("The account's API key, Settings > API integration (a secret)"),
    ),
    api_url: z.string().optional().describe(
      `The API's base URL (default ${API_URL}), for a test server`,
    ),
    fields: z.record(z.string(), z.string()).describe(
      "Liquid template of each body field: one of collab_id, deal_id or influencer_handle; for " +
        "a referral order_id, order_revenue and order_platform (order_commission, currency " +
        "optional); for a click increase_clicks (default 1), brand_id, country_code. " +
        "order_revenue, order_commission and increase_clicks are sent as numbers; other fields " +
        "as strings",
    ),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    const issue = (path: string[], message: string) =>
      context.addIssue({ code: "custom", path, message });
    if (value.api_key === "") issue(["api_key"], "expected the API key, got an empty string");
    checkHttpUrl(value.api_url, ["api_url"], context);
    const names = Object.keys(value.fields);
    const lookups = names.filter((name) => (LOOKUP_KEYS as readonly string[]).includes(name));
    if (lookups.length === 0) {
      issue(
        ["fields"],
        'expected one lookup key naming the influencer: "collab_id", "deal_id" or ' +
          '"influencer_handle"',
      );
    }
    for (const extra of lookups.slice(1)) {
      issue(
        ["fields", extra],
        `expected one lookup key, got "${lookups[0]}" and "${extra}": keep only one`,
      );
    }
    for (const name of REQUIRED[value.action]) {
      if (!(name in value.fields)) {
        issue(["fields", name], `expected a template: a ${value.action} needs "${name}"`);
      }
    }
    for (const name of names) {
      const only = ONLY_FOR[name];
      if (only !== undefined && only !== value.action) {
        issue(
          ["fields", name],
          `"${name}" belongs to a ${only}, and "action" is "${value.action}"`,
        );
      } else if (!FIELD_NAME.test(name)) {
        issue(["fields", name], `expected a field name such as "order_id", got "${name}"`);
      }
    }
  }).describe("Influencer Hero affiliate tracking: a referral (order) or a click per event"),
  // No documented limit besides 429: the lane finds the API's capacity itself.
  pace: null,
  // The body is made of field templates; only one that reads `message` needs it rendered.
  rendersMessages: (entry) => Object.values(entry.fields).some((s) => /\bmessage\b/.test(s)),
  create: (name, entry, kit) => {
    const fields: Array<readonly [string, (request: DeliveryRequest) => string]> = [];
    for (const [field, source] of Object.entries(entry.fields)) {
      const template = kit.template(source, `fields.${field}`);
      if (template !== undefined) fields.push([field, template]);
    }
    const options: InfluencerHeroOptions = { action: entry.action, apiKey: entry.api_key, fields };
    if (entry.api_url !== undefined) options.apiUrl = entry.api_url;
    return new InfluencerHeroDestination(name, options);
  },
});
