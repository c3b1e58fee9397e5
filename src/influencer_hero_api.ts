// Registering the relay's per-event URLs with Influencer Hero's API, as its own n8n node does:
// POST /v1/account/create_webhook (409 = already registered) and /v1/account/delete_webhook
// (400 "Webhook URL not found" = already gone).

import { networkErrorMessage, USER_AGENT } from "./http_client.ts";

/** The public API's base URL. */
export const API_URL = "https://api.influencer-hero.com";

/** Options of {@linkcode registerWebhooks}. */
export interface RegisterOptions {
  /** The account's API key (a secret). */
  apiKey: string;
  /** The relay's public base URL, such as "https://relay.example.com". */
  publicUrl: string;
  eventTypes: readonly string[];
  /** Removes the registrations instead of adding them. */
  remove?: boolean;
  /** Only for these brands (optional, as the API allows). */
  brandIds?: readonly string[];
  apiUrl?: string;
  timeoutMs?: number;
}

/** What happened to one event type's registration. */
export interface RegisterResult {
  eventType: string;
  url: string;
  outcome: "registered" | "already registered" | "removed" | "not registered" | "failed";
  detail?: string;
}

/**
 * Registers (or removes) one webhook per event type pointing at `<publicUrl>/hooks/<type>`.
 * Never throws for an API answer: each type gets its own result.
 */
export async function registerWebhooks(options: RegisterOptions): Promise<RegisterResult[]> {
  const api = (options.apiUrl ?? API_URL).replace(/\/$/, "");
  const base = options.publicUrl.replace(/\/$/, "");
  const results: RegisterResult[] = [];
  for (const eventType of options.eventTypes) {
    const url = `${base}/hooks/${eventType}`;
    const body: Record<string, unknown> = options.remove
      ? { webhook_type: eventType, webhook_url: url }
      : { webhook_type: eventType, webhook_url: url, prevent_duplicate_webhook: true };
    if (!options.remove && options.brandIds?.length) body["brand_ids"] = options.brandIds;
    const path = options.remove ? "/v1/account/delete_webhook" : "/v1/account/create_webhook";
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${api}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": USER_AGENT,
          // The API documents X-API-KEY; Influencer Hero's own n8n node sends X-INTEGRATION-KEY.
          "x-api-key": options.apiKey,
          "x-integration-key": options.apiKey,
        },
        body: JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
      status = response.status;
      text = (await response.text()).slice(0, 300).replace(/\s+/g, " ").trim();
    } catch (error) {
      results.push({
        eventType,
        url,
        outcome: "failed",
        detail: `cannot reach the API: ${networkErrorMessage(error, options.timeoutMs ?? 15_000)}`,
      });
      continue;
    }
    results.push({ eventType, url, ...interpret(status, text, options.remove === true) });
  }
  return results;
}

function interpret(
  status: number,
  text: string,
  remove: boolean,
): Pick<RegisterResult, "outcome" | "detail"> {
  if (status >= 200 && status < 300) return { outcome: remove ? "removed" : "registered" };
  if (!remove && status === 409) return { outcome: "already registered" };
  if (remove && status === 400 && /not found/i.test(text)) return { outcome: "not registered" };
  if (status === 401 || status === 403) {
    return { outcome: "failed", detail: `HTTP ${status}: the API key was refused` };
  }
  return { outcome: "failed", detail: text ? `HTTP ${status}: ${text}` : `HTTP ${status}` };
}
