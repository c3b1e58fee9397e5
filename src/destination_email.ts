// E-mail: one destination type, two transports. The message becomes a multipart e-mail (plain
// text and HTML, every piece of payload text HTML-escaped) with a Liquid subject, sent over SMTP
// or through an e-mail API (SendGrid, Mailgun, Postmark, Resend).

import { z } from "zod";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import {
  classifyEmailApi,
  type Email,
  EMAIL_PROVIDERS,
  type EmailApiOptions,
  emailApiRequest,
} from "./email_api.ts";
import { maskSmtpUrl, sendSmtp } from "./email_smtp.ts";
import { type Message, plainText } from "./message.ts";
import { attempt, fit, preview } from "./outbound.ts";
import type { Outcome } from "./retry.ts";
import { checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
import { htmlEscape } from "./template.ts";

/** How e-mail leaves the relay. */
export type EmailTransport = { smtpUrl: string } | EmailApiOptions;

/** Options of {@linkcode EmailDestination}. */
export interface EmailOptions {
  transport: EmailTransport;
  from: string;
  to: string[];
  cc?: string[];
  /** Renders the subject; by default the message's title. */
  subject?: (request: DeliveryRequest) => string;
  /** Renders the HTML part instead of the built-in one; the text part is derived from it. */
  body?: (request: DeliveryRequest) => string;
}

/** Mailboxes reached over SMTP or an e-mail API. */
export class EmailDestination implements Destination {
  readonly type = "email";
  readonly name: string;
  #options: EmailOptions;

  constructor(name: string, options: EmailOptions) {
    this.name = name;
    this.#options = options;
  }

  #email(request: DeliveryRequest): Email {
    const subject = this.#options.subject?.(request) ?? request.message.title;
    const html = this.#options.body?.(request) ?? emailHtml(request.message, request.eventType);
    return {
      from: this.#options.from,
      to: this.#options.to,
      cc: this.#options.cc ?? [],
      subject: fit(subject.replace(/\s+/g, " ").trim(), 250) || request.eventType,
      text: this.#options.body ? htmlToText(html) : plainText(request.message),
      html,
      id: request.deliveryId,
    };
  }

  render(request: DeliveryRequest): Rendered {
    const email = this.#email(request);
    const transport = this.#options.transport;
    if ("smtpUrl" in transport) {
      const headers: Record<string, string> = {
        from: email.from,
        to: email.to.join(", "),
        subject: email.subject,
        "message-id": `<${email.id}@hero-relay>`,
        "content-type": "multipart/alternative (text/plain, text/html)",
      };
      if (email.cc.length > 0) headers["cc"] = email.cc.join(", ");
      return {
        method: "SMTP",
        url: maskSmtpUrl(transport.smtpUrl),
        headers,
        body: `${email.text}\n\n--- text/html ---\n${email.html}`,
      };
    }
    const built = emailApiRequest(email, transport);
    return preview(built, maskUrl(built.url));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    const email = this.#email(request);
    const transport = this.#options.transport;
    if ("smtpUrl" in transport) return sendSmtp(transport.smtpUrl, email, context);
    return attempt(
      emailApiRequest(email, transport),
      context,
      (answer, now) => classifyEmailApi(transport.provider, answer, now),
    );
  }
}

/** The HTML part of a message: a simple card that reads well in every mail client. */
export function emailHtml(message: Message, eventType: string): string {
  const color = message.color ?? "#4a154b";
  const rows: string[] = [];
  if (message.author) {
    const name = htmlEscape(message.author.name);
    const icon = message.author.icon
      ? `<img src="${htmlEscape(message.author.icon)}" alt="" width="40" height="40" ` +
        `style="border-radius:20px;vertical-align:middle;margin-right:10px">`
      : "";
    const link = message.author.url
      ? `<a href="${htmlEscape(message.author.url)}" style="color:#1d1c1d">${name}</a>`
      : name;
    rows.push(`<p style="margin:0 0 12px;font-size:14px">${icon}${link}</p>`);
  }
  if (message.title) {
    rows.push(
      `<h2 style="margin:0 0 12px;font-size:18px;line-height:1.3">` +
        `${htmlEscape(message.title)}</h2>`,
    );
  }
  if (message.text) {
    rows.push(
      `<p style="margin:0 0 16px;font-size:15px;line-height:1.5">` +
        `${htmlEscape(message.text).replace(/\n/g, "<br>")}</p>`,
    );
  }
  if (message.image) {
    rows.push(
      `<p style="margin:0 0 16px"><img src="${htmlEscape(message.image)}" alt="" ` +
        `style="max-width:100%"></p>`,
    );
  }
  if (message.fields.length > 0) {
    const cells = message.fields.map((field) =>
      `<tr><td style="padding:4px 12px 4px 0;color:#616061;white-space:nowrap;` +
      `vertical-align:top">${htmlEscape(field.name)}</td>` +
      `<td style="padding:4px 0">${htmlEscape(field.value).replace(/\n/g, "<br>")}</td></tr>`
    );
    rows.push(
      `<table role="presentation" style="border-collapse:collapse;font-size:14px;` +
        `margin:0 0 16px">${cells.join("")}</table>`,
    );
  }
  if (message.link) {
    rows.push(
      `<p style="margin:0 0 16px"><a href="${htmlEscape(message.link.url)}" ` +
        `style="display:inline-block;padding:8px 14px;background:${color};color:#ffffff;` +
        `text-decoration:none;border-radius:4px;font-size:14px">` +
        `${htmlEscape(message.link.label)}</a></p>`,
    );
  }
  rows.push(
    `<p style="margin:16px 0 0;font-size:12px;color:#868686">Influencer Hero · ` +
      `${htmlEscape(eventType)} · sent by hero-relay</p>`,
  );
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8">` +
    `<title>${htmlEscape(message.title)}</title></head>` +
    `<body style="margin:0;padding:16px;background:#f8f8f8;` +
    `font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1d1c1d">` +
    `<div style="max-width:600px;margin:0 auto;background:#ffffff;padding:20px;` +
    `border-left:4px solid ${color}">${rows.join("\n")}</div></body></html>\n`;
}

/** A readable plain-text version of HTML: tags dropped, breaks kept, entities decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, "")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|h[1-6]|tr|li|table)>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&nbsp;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** The `email` destination type: SMTP or an e-mail API. */
export const emailType = destinationType({
  type: "email",
  schema: z.strictObject({
    type: z.literal("email"),
    smtp_url: secret(
      z.string().describe(
        "SMTP server: smtp://user:password@host:587 (STARTTLS when offered; add " +
          "?requireTLS=true to insist) or smtps://user:password@host:465 (a secret)",
      ),
      "credentials",
    ).optional(),
    provider: z.enum(EMAIL_PROVIDERS).optional().describe("E-mail API instead of SMTP"),
    api_key: secret(z.string().describe("The provider's API key or server token (a secret)"))
      .optional(),
    api_url: z.string().optional().describe(
      "The provider's API base URL, for EU regions (https://api.eu.mailgun.net, " +
        "https://api.eu.sendgrid.com)",
    ),
    domain: z.string().optional().describe("Mailgun sending domain; default the domain of from"),
    from: z.string().describe('Sender, "Name <address>" or an address'),
    to: z.union([z.string(), z.array(z.string()).min(1)]).describe("Recipient(s)"),
    cc: z.union([z.string(), z.array(z.string())]).optional().describe("Copy recipient(s)"),
    subject: z.string().optional().describe(
      "Liquid template of the subject; default the message's title",
    ),
    body: z.string().optional().describe(
      "Liquid template of the HTML part; the text part is derived from it",
    ),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if ((value.smtp_url === undefined) === (value.provider === undefined)) {
      issue("smtp_url", 'expected either "smtp_url" or "provider" (with "api_key")');
    }
    if (value.smtp_url !== undefined && !/^smtps?:\/\/[^/?#]/.test(value.smtp_url)) {
      issue(
        "smtp_url",
        value.smtp_url === ""
          ? "expected an smtp:// or smtps:// URL, got an empty string"
          : "expected an smtp:// or smtps:// URL (value hidden)",
      );
    }
    if (value.provider !== undefined && !value.api_key) {
      issue("api_key", `expected the ${value.provider} API key`);
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
    for (const [key, list] of [["from", value.from], ["to", value.to], ["cc", value.cc]] as const) {
      listOf(list).forEach((address, i) => {
        if (!/^[^@\s<>]+@[^@\s<>]+$|<[^@\s<>]+@[^@\s<>]+>\s*$/.test(address.trim())) {
          context.addIssue({
            code: "custom",
            path: Array.isArray(list) ? [key, i] : [key],
            message: `expected an e-mail address, got "${address}"`,
          });
        }
      });
    }
  }).describe("E-mail over SMTP or an e-mail API (SendGrid, Mailgun, Postmark, Resend)"),
  // Resend's default is 2 requests per second; gentle enough for any SMTP server too.
  pace: { perSecond: 2, burst: 2 },
  rendersMessages: () => true,
  create(name, entry, kit) {
    const transport: EmailTransport = entry.smtp_url !== undefined
      ? { smtpUrl: entry.smtp_url }
      : stripUndefined({
        provider: entry.provider ?? "sendgrid",
        apiKey: entry.api_key ?? "",
        apiUrl: entry.api_url,
        domain: entry.domain,
      });
    const nonEmpty = (list: string | string[] | undefined) => listOf(list).filter((v) => v !== "");
    return new EmailDestination(
      name,
      stripUndefined({
        transport,
        from: entry.from,
        to: nonEmpty(entry.to),
        cc: nonEmpty(entry.cc),
        subject: kit.template(entry.subject, "subject"),
        body: kit.template(entry.body),
      }),
    );
  },
});

function listOf(list: string | string[] | undefined): string[] {
  return list === undefined ? [] : Array.isArray(list) ? list : [list];
}
