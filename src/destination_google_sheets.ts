// Google Sheets: one row per event appended with spreadsheets.values.append, each cell a Liquid
// template, as a service account (src/google_auth.ts). Google's JSON errors decide the outcome:
// a sheet not shared with the account or deleted disables the destination, a bad range fails the
// delivery, and the per-minute write quota is waited out.

import { z } from "zod";
import { checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType } from "./destination.ts";
import { GoogleAccessTokens, parseServiceAccount, type ServiceAccount } from "./google_auth.ts";
import { sendHttp } from "./http_client.ts";
import { answerJson, fit, preview } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";

/** How Sheets reads the cells: as if typed (numbers, dates, formulas) or as plain text. */
export type ValueInput = "USER_ENTERED" | "RAW";

/** Options of {@linkcode GoogleSheetsDestination}. */
export interface GoogleSheetsOptions {
  spreadsheetId: string;
  /** A sheet name ("Commissions") or A1 range ("Sheet1!A:F") whose table the row is added to. */
  range: string;
  /** One template per cell, in order. */
  columns: Array<(request: DeliveryRequest) => string>;
  valueInput: ValueInput;
  /** The service account, or why its key file cannot be used (only a disabled one's). */
  account: ServiceAccount | { problem: string };
  /** The Sheets API's root, https://sheets.googleapis.com. */
  apiUrl: string;
}

/** The OAuth scope of reading and writing spreadsheets. */
export const SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets";

/** Google's limit on the text of one cell. */
export const SHEETS_CELL_CHARACTERS = 50_000;

/** A Google Sheets table that gets one row per event. */
export class GoogleSheetsDestination implements Destination {
  readonly type = "google_sheets";
  readonly name: string;
  #options: GoogleSheetsOptions;
  #auth: { clientEmail: string; tokens: GoogleAccessTokens } | { problem: string };
  #url: string;

  constructor(name: string, options: GoogleSheetsOptions) {
    this.name = name;
    this.#options = options;
    const { account } = options;
    this.#auth = "problem" in account
      ? account
      : { clientEmail: account.clientEmail, tokens: new GoogleAccessTokens(account, SHEETS_SCOPE) };
    const root = options.apiUrl.replace(/\/+$/, "");
    this.#url = `${root}/v4/spreadsheets/${encodeURIComponent(options.spreadsheetId)}/values/` +
      `${encodeURIComponent(options.range)}:append?valueInputOption=${options.valueInput}` +
      "&insertDataOption=INSERT_ROWS";
  }

  #body(request: DeliveryRequest): string {
    const cells = this.#options.columns.map((cell) => fit(cell(request), SHEETS_CELL_CHARACTERS));
    return JSON.stringify({ range: this.#options.range, majorDimension: "ROWS", values: [cells] });
  }

  render(request: DeliveryRequest): Rendered {
    // The spreadsheet id is no secret (sharing decides who may open it): the URL is shown whole.
    return preview({
      method: "POST",
      url: this.#url,
      headers: { "content-type": "application/json", authorization: "Bearer …" },
      body: this.#body(request),
    }, this.#url);
  }

  async send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    const auth = this.#auth;
    if ("problem" in auth) {
      return { kind: "gone", httpStatus: null, error: `the service account key ${auth.problem}` };
    }
    const body = this.#body(request);
    // A token Sheets refuses (revoked, or expired early) is replaced once per attempt.
    for (let tries = 1;; tries++) {
      const got = await auth.tokens.token(context);
      if (!("token" in got)) return got;
      const result = await sendHttp(
        {
          method: "POST",
          url: this.#url,
          headers: { "content-type": "application/json", authorization: `Bearer ${got.token}` },
          body,
        },
        context.timeouts,
        context.signal,
        context.origins,
      );
      if (!result.ok) return { kind: "retry", httpStatus: null, error: result.error };
      if (result.answer.status === 401 && tries === 1) {
        auth.tokens.refused(got.token);
        continue;
      }
      return classifyGoogleSheets(result.answer, context.now(), auth.clientEmail);
    }
  }
}

/**
 * Google's rules for an append: 200 delivered; 400 INVALID_ARGUMENT (a range that does not
 * parse, a sheet that does not exist) failed; 401 after a fresh token, 403 (the sheet is not
 * shared with the service account, or the Sheets API is off in its project) and 404 gone; 429
 * RESOURCE_EXHAUSTED and 5xx retried, honouring Retry-After.
 */
export function classifyGoogleSheets(
  answer: HttpAnswer,
  now: number,
  clientEmail: string,
): Outcome {
  const { status } = answer;
  const error = googleError(answer);
  if (status === 401) {
    return { kind: "gone", httpStatus: status, error: `${error} (a fresh access token too)` };
  }
  if (status === 403) {
    const hint = reasonOf(answer) === "SERVICE_DISABLED"
      ? "enable the Google Sheets API in the service account's Google Cloud project"
      : `share the spreadsheet with ${clientEmail} as an editor`;
    return { kind: "gone", httpStatus: status, error: `${error}; ${hint}` };
  }
  if (status === 404) {
    return {
      kind: "gone",
      httpStatus: status,
      error: `${error}; check spreadsheet_id (the part of the sheet's URL after /d/)`,
    };
  }
  const outcome = classifyHttp(answer, now);
  return outcome.kind === "delivered" ? outcome : { ...outcome, error };
}

/** "HTTP 400 INVALID_ARGUMENT: Unable to parse range: Sheet9!A:F", from Google's JSON error. */
function googleError(answer: HttpAnswer): string {
  const error = answerJson(answer)?.["error"];
  if (typeof error !== "object" || error === null) return describe(answer);
  const { message, status } = error as Record<string, unknown>;
  if (typeof message !== "string") return describe(answer);
  return `HTTP ${answer.status}${typeof status === "string" ? ` ${status}` : ""}: ${message}`;
}

/** The `reason` of the ErrorInfo detail in Google's error, such as "SERVICE_DISABLED". */
function reasonOf(answer: HttpAnswer): string | undefined {
  const error = answerJson(answer)?.["error"] as { details?: unknown } | undefined;
  if (!Array.isArray(error?.details)) return undefined;
  for (const detail of error.details) {
    if (typeof detail?.reason === "string") return detail.reason;
  }
  return undefined;
}

const DEFAULT_API_URL = "https://sheets.googleapis.com";

/** The `google_sheets` destination type. */
export const googleSheetsType = destinationType({
  type: "google_sheets",
  schema: z.strictObject({
    type: z.literal("google_sheets"),
    spreadsheet_id: z.string().describe(
      "The spreadsheet's id: the part of its URL between /d/ and /edit",
    ),
    range: z.string().describe(
      'Where rows are added: a sheet (tab) name such as "Commissions", or a range such as ' +
        '"Sheet1!A:F"; each row goes below the table found there',
    ),
    columns: z.array(z.string()).min(1).describe(
      "Liquid template of each cell of the row, in order; include {{ event.id }} to spot a " +
        "row added twice",
    ),
    value_input: z.enum(["USER_ENTERED", "RAW"]).optional().describe(
      'How Sheets reads the cells: "USER_ENTERED" (default) as if typed, so numbers, dates ' +
        'and formulas are recognised; "RAW" keeps every cell as text',
    ),
    credentials: secret(
      z.string().describe(
        "The service account's JSON key (a secret): set credentials_file to the key file's path",
      ),
      "service_account",
    ),
    api_url: z.string().optional().describe(`Sheets API root (default ${DEFAULT_API_URL})`),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    if (value.spreadsheet_id.trim() === "") {
      context.addIssue({
        code: "custom",
        path: ["spreadsheet_id"],
        message:
          "expected the spreadsheet's id, from its URL: docs.google.com/spreadsheets/d/<id>/edit",
      });
    }
    if (value.range.trim() === "") {
      context.addIssue({
        code: "custom",
        path: ["range"],
        message: 'expected a sheet name such as "Sheet1" or a range such as "Sheet1!A:F"',
      });
    }
    const account = parseServiceAccount(value.credentials);
    if ("problem" in account) {
      context.addIssue({
        code: "custom",
        path: ["credentials"],
        message: `the service account key ${account.problem}; expected the JSON key file Google ` +
          "Cloud issues for a service account (Keys > Add key > JSON), set with credentials_file",
      });
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
  }).describe("Google Sheets: one row per event, appended as a service account"),
  // Sheets allows 60 writes a minute per user (the service account) and project. A burst on top
  // of one a second could pass 60 within a minute, so the lane starts no more than one at once.
  pace: { perSecond: 1, burst: 1 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new GoogleSheetsDestination(name, {
      spreadsheetId: entry.spreadsheet_id,
      range: entry.range,
      // A template that does not compile stops the load: that cell's stand-in never runs.
      columns: entry.columns.map((source, i) =>
        kit.template(source, `columns[${i}]`) ?? (() => "")
      ),
      valueInput: entry.value_input ?? "USER_ENTERED",
      account: parseServiceAccount(entry.credentials),
      apiUrl: entry.api_url ?? DEFAULT_API_URL,
    }),
});
