// Airtable: one record per event, in a table of one base, its cells from the operator's Liquid
// templates. What Airtable documents (airtable.com/developers/web/api: create-records, errors,
// rate-limits), as this module relies on it:
// - `POST /v0/{baseId}/{tableIdOrName}` with `Authorization: Bearer <personal access token>` and
//   `{"records":[{"fields":{…}}],"typecast":true}`; 200 with the created records. `typecast` makes
//   Airtable convert text ("12.50", "2026-01-15", a select option's name) to the field's type.
// - Errors are `{"error":{"type","message"}}`, or `{"error":"NOT_FOUND"}` for an unknown route:
//   401 AUTHENTICATION_REQUIRED (no or invalid token), 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND
//   (the token lacks the scope or the base, or the base or table does not exist) and
//   INVALID_PERMISSIONS (the table or a field is locked for editing), 404 NOT_FOUND, 413 too
//   large, 422 INVALID_REQUEST_UNKNOWN / UNKNOWN_FIELD_NAME / INVALID_VALUE_FOR_COLUMN / … (this
//   record is wrong), 429 rate limited, 5xx retried (502 and 503 are "safe to retry").
// - 5 requests per second per base; past it, a 429, after which "you will need to wait 30
//   seconds before subsequent requests will succeed".

import { z } from "zod";
import { bool, checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType } from "./destination.ts";
import type { OutgoingRequest } from "./http_client.ts";
import { answerJson, attempt, fit, mentionsMessage, preview } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome, parseRetryAfter } from "./retry.ts";

/** Options of {@linkcode AirtableDestination}. */
export interface AirtableOptions {
  /** A personal access token (`pat…`) with `data.records:write` on the base. */
  token: string;
  /** The base's id, `app…`. */
  baseId: string;
  /** The table's name or id (`tbl…`). */
  table: string;
  /** Field name → its rendered value; a value that renders empty is left out. */
  fields: Record<string, (request: DeliveryRequest) => string>;
  /** Whether Airtable converts text to the field's type (default true). */
  typecast?: boolean;
  /** Default https://api.airtable.com. */
  apiUrl?: string;
}

/** Airtable's limit of a long text cell, in characters. */
export const AIRTABLE_CELL_CHARS = 100_000;

/** What Airtable documents it takes to lift a 429. */
export const AIRTABLE_PENALTY_MS = 30_000;

const DEFAULT_API_URL = "https://api.airtable.com";

/** A table of an Airtable base. */
export class AirtableDestination implements Destination {
  readonly type = "airtable";
  readonly name: string;
  #options: AirtableOptions;

  constructor(name: string, options: AirtableOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): OutgoingRequest {
    const { token, baseId, table, fields, typecast = true } = this.#options;
    const cells: Record<string, string> = {};
    for (const [field, template] of Object.entries(fields)) {
      // An empty cell is left out, so a field the event lacks stays blank instead of making
      // Airtable refuse "" for a number or date field.
      const value = template(request);
      if (value !== "") cells[field] = fit(value, AIRTABLE_CELL_CHARS);
    }
    return {
      method: "POST",
      url: recordsUrl(this.#options.apiUrl ?? DEFAULT_API_URL, baseId, table),
      headers: { "content-type": "application/json", "authorization": `Bearer ${token}` },
      body: JSON.stringify({ records: [{ fields: cells }], typecast }),
    };
  }

  render(request: DeliveryRequest): Rendered {
    const built = this.#request(request);
    // Base id and table name are not secrets; the token (a header) is masked.
    return preview(built, built.url);
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyAirtable);
  }
}

/** `{api}/v0/{base}/{table}`, the table's name percent-encoded (it may hold spaces or slashes). */
export function recordsUrl(apiUrl: string, baseId: string, table: string): string {
  return `${apiUrl.replace(/\/+$/, "")}/v0/${encodeURIComponent(baseId)}/${
    encodeURIComponent(table)
  }`;
}

/**
 * Airtable's rules: 401, 403 and 404 mean the token, its access or the base or table is gone;
 * 422 (and any other 4xx) refuses this record; a 429 waits Retry-After, else Airtable's 30 s.
 */
export function classifyAirtable(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  const error = airtableError(answer);
  if (status === 401 || status === 403 || status === 404) {
    return { kind: "gone", httpStatus: status, error };
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(answer.headers.get("retry-after"), now) ??
      AIRTABLE_PENALTY_MS;
    return { kind: "retry", httpStatus: status, error, retryAfterMs };
  }
  const outcome = classifyHttp(answer, now);
  return outcome.kind === "delivered" ? outcome : { ...outcome, error };
}

/** "HTTP 422: UNKNOWN_FIELD_NAME: Unknown field name: "Stage"", from either error shape. */
function airtableError(answer: HttpAnswer): string {
  const error = answerJson(answer)?.["error"];
  if (typeof error === "string") return `HTTP ${answer.status}: ${error}`;
  if (typeof error === "object" && error !== null) {
    const { type, message } = error as Record<string, unknown>;
    const parts = [type, message].filter((part) => typeof part === "string" && part !== "");
    if (parts.length > 0) return `HTTP ${answer.status}: ${fit(parts.join(": "), 300)}`;
  }
  return describe(answer);
}

/** The `airtable` destination type. */
export const airtableType = destinationType({
  type: "airtable",
  schema: z.strictObject({
    type: z.literal("airtable"),
    token: secret(
      z.string().describe(
        "Personal access token (pat…) with the data.records:write scope on the base (a secret)",
      ),
    ),
    base_id: z.string().describe("The base's id, app… (in the base's URL)"),
    table: z.string().describe("The table's name or id (tbl…)"),
    fields: z.record(z.string(), z.string()).describe(
      "Field name → Liquid template of its value; a value that renders empty is left out",
    ),
    typecast: bool.optional().describe(
      'Let Airtable convert text to each field\'s type ("12.50" into a number); default true',
    ),
    api_url: z.string().optional().describe("Default https://api.airtable.com"),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if (!value.token.startsWith("pat")) {
      issue(
        "token",
        value.token === ""
          ? "expected a personal access token (pat…), got an empty string"
          : 'expected a personal access token starting with "pat" (value hidden)',
      );
    }
    if (!/^app[A-Za-z0-9]{14}$/.test(value.base_id)) {
      issue(
        "base_id",
        `expected a base id, "app" and 14 letters or digits, as in the base's URL, got "${value.base_id}"`,
      );
    }
    if (value.table.trim() === "") issue("table", "expected the table's name or id (tbl…)");
    if (Object.keys(value.fields).length === 0) {
      issue("fields", 'expected at least one field, such as {"Name": "{{ deal_info.full_name }}"}');
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
  }).describe("Airtable: one record per event in a table, its fields from Liquid templates"),
  // 5 requests per second per base. The lane may send `burst` at once on top of the sustained
  // rate, so 5/s with a burst of 5 could send 9 within a second and earn the 30 s penalty:
  // one at a time, 4 a second, stays within 5 in any second even with network jitter.
  pace: { perSecond: 4, burst: 1 },
  rendersMessages: (entry) => mentionsMessage(Object.values(entry.fields)),
  create(name, entry, kit) {
    const fields: AirtableOptions["fields"] = {};
    for (const [field, source] of Object.entries(entry.fields)) {
      const template = kit.template(source, `fields.${field}`);
      if (template !== undefined) fields[field] = template;
    }
    return new AirtableDestination(name, {
      token: entry.token,
      baseId: entry.base_id,
      table: entry.table,
      fields,
      typecast: entry.typecast ?? true,
      apiUrl: entry.api_url ?? DEFAULT_API_URL,
    });
  },
});
