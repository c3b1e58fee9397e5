// E-mail through a provider's HTTP API: SendGrid, Mailgun, Postmark or Resend. Each has its own
// request shape, success answer and error codes; this module knows all four.

import type { OutgoingRequest } from "./http_client.ts";
import { answerJson } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome, parseRetryAfter } from "./retry.ts";

/** The e-mail APIs the relay speaks. */
export const EMAIL_PROVIDERS = ["sendgrid", "mailgun", "postmark", "resend"] as const;

/** An e-mail API. */
export type EmailProvider = typeof EMAIL_PROVIDERS[number];

/** A composed e-mail, the same for every transport. */
export interface Email {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string;
  /** Stable across retries: the delivery id. */
  id: string;
}

/** How to reach a provider. */
export interface EmailApiOptions {
  provider: EmailProvider;
  apiKey: string;
  /** The API's base URL, for EU regions or a test server. */
  apiUrl?: string;
  /** Mailgun's sending domain; by default the domain of `from`. */
  domain?: string;
}

const BASE_URLS: Record<EmailProvider, string> = {
  sendgrid: "https://api.sendgrid.com",
  mailgun: "https://api.mailgun.net",
  postmark: "https://api.postmarkapp.com",
  resend: "https://api.resend.com",
};

/** Postmark ErrorCodes meaning the token, sender or account must be fixed first. */
const POSTMARK_GONE = new Set([10, 400, 401, 405, 412, 413]);
/** Postmark ErrorCodes worth trying again (maintenance, rate limit). */
const POSTMARK_RETRY = new Set([100, 429]);

/** The provider's HTTP request for an e-mail. */
export function emailApiRequest(email: Email, options: EmailApiOptions): OutgoingRequest {
  const base = (options.apiUrl ?? BASE_URLS[options.provider]).replace(/\/+$/, "");
  const json = { "content-type": "application/json", accept: "application/json" };
  switch (options.provider) {
    case "sendgrid": {
      const personalization: Record<string, unknown> = { to: email.to.map(parseAddress) };
      if (email.cc.length > 0) personalization["cc"] = email.cc.map(parseAddress);
      return {
        method: "POST",
        url: `${base}/v3/mail/send`,
        headers: { ...json, authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify({
          personalizations: [personalization],
          from: parseAddress(email.from),
          subject: email.subject,
          content: [
            { type: "text/plain", value: email.text },
            { type: "text/html", value: email.html },
          ],
          custom_args: { delivery_id: email.id },
        }),
      };
    }
    case "mailgun": {
      const domain = options.domain ?? addressDomain(email.from);
      const form = new URLSearchParams();
      form.set("from", email.from);
      for (const to of email.to) form.append("to", to);
      for (const cc of email.cc) form.append("cc", cc);
      form.set("subject", email.subject);
      form.set("text", email.text);
      form.set("html", email.html);
      form.set("v:delivery_id", email.id);
      return {
        method: "POST",
        url: `${base}/v3/${encodeURIComponent(domain)}/messages`,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          authorization: `Basic ${btoa(`api:${options.apiKey}`)}`,
        },
        body: form.toString(),
      };
    }
    case "postmark": {
      const body: Record<string, unknown> = {
        From: email.from,
        To: email.to.join(", "),
        Subject: email.subject,
        TextBody: email.text,
        HtmlBody: email.html,
        MessageStream: "outbound",
        Metadata: { delivery_id: email.id },
      };
      if (email.cc.length > 0) body["Cc"] = email.cc.join(", ");
      return {
        method: "POST",
        url: `${base}/email`,
        headers: { ...json, "x-postmark-server-token": options.apiKey },
        body: JSON.stringify(body),
      };
    }
    case "resend": {
      const body: Record<string, unknown> = {
        from: email.from,
        to: email.to,
        subject: email.subject,
        html: email.html,
        text: email.text,
      };
      if (email.cc.length > 0) body["cc"] = email.cc;
      return {
        method: "POST",
        url: `${base}/emails`,
        headers: {
          ...json,
          authorization: `Bearer ${options.apiKey}`,
          "idempotency-key": email.id,
        },
        body: JSON.stringify(body),
      };
    }
  }
}

/** Classifies a provider's answer by its own rules, then the common ones. */
export function classifyEmailApi(
  provider: EmailProvider,
  answer: HttpAnswer,
  now: number,
): Outcome {
  const { status } = answer;
  const error = describe(answer);
  const json = answerJson(answer);
  switch (provider) {
    case "sendgrid":
      if (status === 401 || status === 403) return { kind: "gone", httpStatus: status, error };
      if (status === 429 && answer.headers.get("retry-after") === null) {
        const reset = Number(answer.headers.get("x-ratelimit-reset"));
        if (Number.isFinite(reset) && reset > 0) {
          return {
            kind: "retry",
            httpStatus: 429,
            error,
            retryAfterMs: Math.max(0, reset * 1000 - now),
          };
        }
      }
      break;
    case "mailgun":
      if (status === 401 || status === 403 || status === 404) {
        return { kind: "gone", httpStatus: status, error };
      }
      break;
    case "postmark": {
      const code = json?.["ErrorCode"];
      if (status === 200) {
        return code === 0 || code === undefined
          ? { kind: "delivered", httpStatus: 200 }
          : { kind: "failed", httpStatus: 200, error };
      }
      if (status === 401) return { kind: "gone", httpStatus: status, error };
      if (status === 422 && typeof code === "number") {
        if (POSTMARK_GONE.has(code)) return { kind: "gone", httpStatus: status, error };
        if (POSTMARK_RETRY.has(code)) {
          const retryAfter = parseRetryAfter(answer.headers.get("retry-after"), now);
          return retryAfter === null
            ? { kind: "retry", httpStatus: status, error }
            : { kind: "retry", httpStatus: status, error, retryAfterMs: retryAfter };
        }
        return { kind: "failed", httpStatus: status, error };
      }
      break;
    }
    case "resend":
      if (status === 401 || status === 403) return { kind: "gone", httpStatus: status, error };
      if (status === 409 && json?.["name"] === "concurrent_idempotent_requests") {
        return { kind: "retry", httpStatus: status, error };
      }
      break;
  }
  return classifyHttp(answer, now);
}

/** Splits "Name <address>" into its parts; a bare address has no name. */
export function parseAddress(text: string): { email: string; name?: string } {
  const match = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(text);
  if (match === null) return { email: text.trim() };
  const name = match[1]!.trim();
  return name ? { email: match[2]!.trim(), name } : { email: match[2]!.trim() };
}

function addressDomain(text: string): string {
  const email = parseAddress(text).email;
  return email.slice(email.lastIndexOf("@") + 1);
}
