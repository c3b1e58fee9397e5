// HubSpot CRM: each delivery creates or updates a contact by e-mail and logs a note on it, with a
// service key or a private app's access token (`pat-…`; HubSpot stopped the creation of private
// apps in October 2026 for service keys, both Bearer tokens with the same scopes). Two requests in
// one attempt, both within its total timeout:
//
// 1. `POST /crm/v3/objects/contacts/batch/upsert` with `{"inputs":[{"idProperty":"email","id":…,
//    "properties":{…}}]}`: creates the contact or updates the one with that e-mail, so a retry
//    never makes a second contact. The contact's id is `results[0].id`.
// 2. `POST /crm/v3/objects/notes` with `hs_timestamp` (required; ISO 8601 or ms) and
//    `hs_note_body` (HTML, at most 65,536 characters), associated to the contact with the
//    HUBSPOT_DEFINED association type 202 (note to contact).
//
// HubSpot's error body is `{"status":"error","message":…,"correlationId":…,"category":…}`; a
// missing scope says which in `errors[].context.requiredGranularScopes` (or `requiredScopes`), a
// rate limit says `policyName` (TEN_SECONDLY_ROLLING, DAILY) instead of `category`. Confirmed in
// HubSpot's developer docs (batch upsert contacts, notes guide, API usage guidelines, service
// keys) and its changelog (the 400 VALIDATION_ERROR "Property values were not valid: […]" body,
// the end of private app creation); the 401 INVALID_AUTHENTICATION, 403 MISSING_SCOPES and 429
// bodies as HubSpot's community threads show them. HubSpot offers no idempotency key for notes: if the note's answer is lost in transit, the
// retry logs it again (finding it first would need a custom note property and the search API,
// whose index lags by seconds and which has its own 4 requests per second limit).
//
// The preview is one request: `POST {api_url}/crm/v3/objects/` with a body holding both requests
// by their path under it, the note's contact id shown as "(the contact's id)".

import { z } from "zod";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskHeaders } from "./destination.ts";
import { type OutgoingRequest, sendHttp } from "./http_client.ts";
import { plainText } from "./message.ts";
import { answerJson, type BuildError, fit } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome, parseRetryAfter } from "./retry.ts";
import { checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import { htmlEscape } from "./template.ts";

/** Options of {@linkcode HubspotDestination}. */
export interface HubspotOptions {
  /** A service key, or a private app's access token (`pat-…`). */
  token: string;
  /** Default https://api.hubapi.com. */
  apiUrl?: string;
  /** Renders the contact's e-mail address. */
  email: (request: DeliveryRequest) => string;
  /** Contact property internal names and the templates of their values. */
  properties?: Record<string, (request: DeliveryRequest) => string>;
  /** Renders the note's text; by default the message as plain text; null for no note. */
  note?: ((request: DeliveryRequest) => string) | null;
}

/** HubSpot's API. */
export const HUBSPOT_API_URL = "https://api.hubapi.com";

/** The longest `hs_note_body` HubSpot takes, in characters. */
export const HUBSPOT_NOTE_CHARS = 65_536;

/** The scopes the key or app needs for the contact and its note. */
export const HUBSPOT_SCOPES = ["crm.objects.contacts.read", "crm.objects.contacts.write"];

const UPSERT_PATH = "contacts/batch/upsert";
const NOTES_PATH = "notes";
/** HubSpot's association type of a note to a contact. */
const NOTE_TO_CONTACT = 202;
const TEN_SECONDS = 10_000;
const HOUR = 3_600_000;

/** A HubSpot account's contacts, each delivery a contact upsert and a note on it. */
export class HubspotDestination implements Destination {
  readonly type = "hubspot";
  readonly name: string;
  #options: HubspotOptions;
  #base: string;

  constructor(name: string, options: HubspotOptions) {
    this.name = name;
    this.#options = options;
    this.#base = `${(options.apiUrl ?? HUBSPOT_API_URL).replace(/\/+$/, "")}/crm/v3/objects/`;
  }

  #headers(): Record<string, string> {
    return {
      "content-type": "application/json",
      "authorization": `Bearer ${this.#options.token}`,
    };
  }

  #upsert(request: DeliveryRequest): OutgoingRequest | BuildError {
    const email = this.#options.email(request).trim();
    if (email === "") {
      return { error: "the email template rendered empty: no contact to create or update" };
    }
    const properties: Record<string, string> = {};
    for (const [name, template] of Object.entries(this.#options.properties ?? {})) {
      // An empty string would clear the contact's value; a payload without it leaves it alone.
      const value = template(request).trim();
      if (value !== "") properties[name] = value;
    }
    return {
      method: "POST",
      url: this.#base + UPSERT_PATH,
      headers: this.#headers(),
      body: JSON.stringify({ inputs: [{ idProperty: "email", id: email, properties }] }),
    };
  }

  /** The note's body, or null when there is none (switched off, or rendered empty). */
  #note(request: DeliveryRequest, contactId: string): Record<string, unknown> | null {
    const note = this.#options.note === undefined
      ? plainText(request.message)
      : this.#options.note?.(request) ?? "";
    if (note.trim() === "") return null;
    return {
      properties: {
        // The event's arrival, the same on every retry, places the note on the timeline.
        hs_timestamp: new Date(request.receivedAt).toISOString(),
        hs_note_body: noteHtml(note),
      },
      associations: [{
        to: { id: contactId },
        types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: NOTE_TO_CONTACT }],
      }],
    };
  }

  render(request: DeliveryRequest): Rendered {
    const upsert = this.#upsert(request);
    if ("error" in upsert) {
      return { method: "ERROR", url: this.#base + UPSERT_PATH, headers: {}, body: upsert.error };
    }
    const body: Record<string, unknown> = { [UPSERT_PATH]: JSON.parse(upsert.body) };
    const note = this.#note(request, "(the contact's id)");
    if (note !== null) body[NOTES_PATH] = note;
    return {
      method: "POST",
      url: this.#base,
      headers: maskHeaders(upsert.headers),
      body: JSON.stringify(body),
    };
  }

  async send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    const started = Date.now();
    const upsert = this.#upsert(request);
    if ("error" in upsert) return { kind: "failed", httpStatus: null, error: upsert.error };
    const saved = await sendHttp(upsert, context.timeouts, context.signal, context.origins);
    if (!saved.ok) return { kind: "retry", httpStatus: null, error: `contact: ${saved.error}` };
    const outcome = classifyHubspot(saved.answer, context.now());
    if (outcome.kind !== "delivered") return { ...outcome, error: `contact: ${outcome.error}` };
    const contactId = contactIdOf(saved.answer);
    if (contactId === null) {
      // A batch answers 207 with `errors` when its one input was refused.
      const refused = firstBatchError(saved.answer);
      return refused === null
        ? {
          kind: "retry",
          httpStatus: saved.answer.status,
          error: `contact: HubSpot answered without the contact's id: ${describe(saved.answer)}`,
        }
        : { kind: "failed", httpStatus: saved.answer.status, error: `contact: ${refused}` };
    }
    const note = this.#note(request, contactId);
    if (note === null) return outcome;

    const after = `note (contact ${contactId} saved)`;
    const totalMs = context.timeouts.totalMs - (Date.now() - started);
    if (totalMs <= 0) {
      const error = `${after}: timed out after ${context.timeouts.totalMs} ms`;
      return { kind: "retry", httpStatus: null, error };
    }
    const logged = await sendHttp(
      {
        method: "POST",
        url: this.#base + NOTES_PATH,
        headers: this.#headers(),
        body: JSON.stringify(note),
      },
      { connectMs: context.timeouts.connectMs, totalMs },
      context.signal,
      context.origins,
    );
    if (!logged.ok) return { kind: "retry", httpStatus: null, error: `${after}: ${logged.error}` };
    const noted = classifyHubspot(logged.answer, context.now());
    return noted.kind === "delivered" ? noted : { ...noted, error: `${after}: ${noted.error}` };
  }
}

/**
 * HubSpot's rules: 2xx delivered; 401 (a wrong, expired or revoked token) and 403 (a missing
 * scope) gone; 429 waits for Retry-After, else 10 s for the ten-secondly limit and an hour for
 * the daily one; 5xx retried; any other 4xx (VALIDATION_ERROR, CONFLICT) failed, HubSpot's
 * message shown.
 */
export function classifyHubspot(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: "delivered", httpStatus: status };
  const json = answerJson(answer);
  const error = hubspotError(answer, json);
  if (status === 401) {
    return {
      kind: "gone",
      httpStatus: status,
      error: `${error} (the access token is wrong, expired or revoked)`,
    };
  }
  if (status === 403) {
    const scopes = requiredScopes(json);
    return {
      kind: "gone",
      httpStatus: status,
      error: `${error} (the key or app needs the scopes ${scopes.join(", ")})`,
    };
  }
  if (status === 429) {
    const retryAfter = parseRetryAfter(answer.headers.get("retry-after"), now);
    const daily = json?.["policyName"] === "DAILY";
    return {
      kind: "retry",
      httpStatus: status,
      error,
      retryAfterMs: retryAfter ?? (daily ? HOUR : TEN_SECONDS),
    };
  }
  const outcome = classifyHttp(answer, now);
  return outcome.kind === "delivered" ? outcome : { ...outcome, error };
}

/** "HTTP 400 VALIDATION_ERROR: Property values were not valid: … (correlationId …)". */
function hubspotError(answer: HttpAnswer, json: Record<string, unknown> | null): string {
  const message = json?.["message"];
  if (typeof message !== "string") return describe(answer);
  const kind = [json?.["category"], json?.["policyName"]].find((v) => typeof v === "string");
  const id = json?.["correlationId"];
  const text = `HTTP ${answer.status}${kind ? ` ${kind}` : ""}: ${fit(message.trim(), 500)}`;
  return typeof id === "string" ? `${text} (correlationId ${id})` : text;
}

/** The scopes a 403 names, or the ones this destination needs. */
function requiredScopes(json: Record<string, unknown> | null): string[] {
  const errors = Array.isArray(json?.["errors"]) ? json["errors"] : [];
  const named = [json?.["context"], ...errors.map((e) => (e as Record<string, unknown>)?.context)]
    .flatMap((context) => {
      const c = context as Record<string, unknown> | undefined;
      const list = c?.["requiredGranularScopes"] ?? c?.["requiredScopes"];
      return Array.isArray(list) ? list.filter((s): s is string => typeof s === "string") : [];
    });
  return named.length > 0 ? [...new Set(named)] : HUBSPOT_SCOPES;
}

/** The upserted contact's id, `results[0].id`. */
function contactIdOf(answer: HttpAnswer): string | null {
  const results = answerJson(answer)?.["results"];
  const id = Array.isArray(results) ? (results[0] as Record<string, unknown>)?.["id"] : undefined;
  return typeof id === "string" && id !== "" ? id : typeof id === "number" ? String(id) : null;
}

/** The first of a batch answer's `errors`, as "HTTP 207 VALIDATION_ERROR: …", or null. */
function firstBatchError(answer: HttpAnswer): string | null {
  const errors = answerJson(answer)?.["errors"];
  const first = Array.isArray(errors) ? errors[0] : undefined;
  return typeof first === "object" && first !== null
    ? hubspotError(answer, first as Record<string, unknown>)
    : null;
}

/** Note text as HubSpot's note HTML: escaped, one line per line, within its 65,536 characters. */
export function noteHtml(text: string): string {
  const html = (max: number) =>
    fit(text.trim(), max).split(/\r?\n/).map((line) => htmlEscape(line)).join("<br>");
  let max = HUBSPOT_NOTE_CHARS;
  let out = html(max);
  // Escaping lengthens the text; cut before escaping, so no entity is ever cut in half.
  while (out.length > HUBSPOT_NOTE_CHARS) {
    max = Math.floor(max * HUBSPOT_NOTE_CHARS / out.length) - 1;
    out = html(max);
  }
  return out;
}

/** The `hubspot` destination type. */
export const hubspotType = destinationType({
  type: "hubspot",
  schema: z.strictObject({
    type: z.literal("hubspot"),
    token: secret(
      z.string().describe("Service key, or a private app's access token pat-… (a secret)"),
    ),
    email: z.string().describe(
      "Liquid template of the contact's e-mail, such as {{ email_information.from_addr }}",
    ),
    properties: z.record(z.string(), z.string()).optional().describe(
      "Contact property internal names (firstname, lastname, …) and Liquid templates of their " +
        "values; a value that renders empty is left unchanged",
    ),
    note: z.union([z.string(), z.literal(false)]).optional().describe(
      "Liquid template of the note's text (HTML-escaped); default the message as plain text; " +
        "false for no note",
    ),
    api_url: z.string().optional().describe("HubSpot's API, default https://api.hubapi.com"),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    const issue = (path: string[], message: string) =>
      context.addIssue({ code: "custom", path, message });
    if (value.token.trim() === "") {
      issue(["token"], "expected a HubSpot service key or private app access token (pat-…)");
    }
    if (value.email.trim() === "") {
      issue(
        ["email"],
        'expected a template of the e-mail, such as "{{ email_information.from_addr }}"',
      );
    }
    for (const name of Object.keys(value.properties ?? {})) {
      if (name === "email") {
        issue(["properties", name], 'the contact\'s e-mail is set by "email"');
      } else if (!/^[A-Za-z0-9_]+$/.test(name)) {
        issue(
          ["properties", name],
          `expected a property's internal name such as "firstname", got "${name}"`,
        );
      }
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
  }).describe("HubSpot CRM: creates or updates a contact by e-mail and logs a note on it"),
  // Private apps get 100 requests per 10 s (Free and Starter; more on higher tiers), and each
  // delivery makes two.
  pace: { perSecond: 5, burst: 10 },
  rendersMessages: () => true,
  create(name, entry, kit) {
    const properties: Record<string, (request: DeliveryRequest) => string> = {};
    for (const [property, source] of Object.entries(entry.properties ?? {})) {
      const template = kit.template(source, `properties.${property}`);
      if (template !== undefined) properties[property] = template;
    }
    const options: HubspotOptions = {
      token: entry.token,
      email: kit.template(entry.email, "email") ?? (() => ""),
      properties,
    };
    if (entry.api_url !== undefined) options.apiUrl = entry.api_url;
    if (entry.note === false) options.note = null;
    else if (entry.note !== undefined) {
      const note = kit.template(entry.note, "note");
      if (note !== undefined) options.note = note;
    }
    return new HubspotDestination(name, options);
  },
});
