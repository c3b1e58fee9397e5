// Discord webhooks: one rich embed (author, thumbnail, fields, colour) with mentions switched off,
// so a payload can never ping @everyone. `?wait=true` makes Discord confirm the message was saved
// (200 with the message) instead of answering 204 before it knows. Every embed limit is respected
// by cutting text with an ellipsis, never by failing.

import { z } from "zod";
import { deliveryOptions, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { type Message, withoutLongUrls } from "./message.ts";
import {
  answerJson,
  attempt,
  type Built,
  customBody,
  fit,
  preview,
  secondsToMs,
} from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";
import { markdownEscape } from "./template.ts";

/** Options of {@linkcode DiscordDestination}. */
export interface DiscordOptions {
  url: string;
  /** Overrides the webhook's name. */
  username?: string;
  /** Overrides the webhook's avatar. */
  avatarUrl?: string;
  /** Renders the whole JSON body instead of the built-in embed. */
  body?: (request: DeliveryRequest) => string;
}

/** Discord's documented limits, in characters. */
export const DISCORD_LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  total: 6000,
  /** Embed URLs (url, author.url, author.icon_url, thumbnail.url), refused when longer. */
  url: 2048,
} as const;

/** A Discord webhook. */
export class DiscordDestination implements Destination {
  readonly type = "discord";
  readonly name: string;
  #options: DiscordOptions;

  constructor(name: string, options: DiscordOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    let body: string | { error: string };
    if (this.#options.body) {
      body = customBody(this.#options.body, request, (json) => {
        if ("allowed_mentions" in json) return false;
        json["allowed_mentions"] = { parse: [] };
        return true;
      });
      if (typeof body !== "string") return body;
    } else {
      body = JSON.stringify(discordMessage(request.message, {
        footer: `Influencer Hero · ${request.eventType}`,
        timestamp: new Date(request.receivedAt).toISOString(),
        ...(this.#options.username ? { username: this.#options.username } : {}),
        ...(this.#options.avatarUrl ? { avatarUrl: this.#options.avatarUrl } : {}),
      }));
    }
    return {
      method: "POST",
      url: withWait(this.#options.url),
      headers: { "content-type": "application/json" },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    return preview(this.#request(request), maskUrl(this.#options.url));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyDiscord);
  }
}

/** Discord's rules: 404 Unknown Webhook and 401 Invalid Webhook Token are gone; 429 says when. */
export function classifyDiscord(answer: HttpAnswer, now: number): Outcome {
  const json = answerJson(answer);
  const code = json?.["code"];
  if (answer.status === 200 || answer.status === 204) {
    return { kind: "delivered", httpStatus: answer.status };
  }
  if (answer.status === 404 || answer.status === 401 || code === 10015 || code === 50027) {
    return { kind: "gone", httpStatus: answer.status, error: describe(answer) };
  }
  if (answer.status === 429) {
    const retryAfterMs = secondsToMs(json?.["retry_after"]);
    if (retryAfterMs !== undefined) {
      return { kind: "retry", httpStatus: 429, error: describe(answer), retryAfterMs };
    }
  }
  return classifyHttp(answer, now);
}

/** The webhook body of a message: one embed, every piece of payload text Markdown-escaped. */
export function discordMessage(
  input: Message,
  options: { footer?: string; timestamp?: string; username?: string; avatarUrl?: string } = {},
): Record<string, unknown> {
  const L = DISCORD_LIMITS;
  const message = withoutLongUrls(input, L.url);
  const embed: Record<string, unknown> = { type: "rich" };
  const title = fitMarkdown(message.title, L.title);
  if (title) embed["title"] = title;
  if (title && message.link) embed["url"] = message.link.url;
  if (message.color) embed["color"] = parseInt(message.color.slice(1), 16);
  const authorName = message.author ? fit(message.author.name, L.author) : "";
  if (message.author) {
    const author: Record<string, string> = { name: authorName };
    if (message.author.url) author["url"] = message.author.url;
    if (message.author.icon) author["icon_url"] = message.author.icon;
    embed["author"] = author;
  }
  const thumbnail = message.image ?? message.author?.icon ?? null;
  if (thumbnail) embed["thumbnail"] = { url: thumbnail };
  const footer = options.footer ? fit(options.footer, L.footer) : "";
  if (footer) embed["footer"] = { text: footer };
  if (options.timestamp) embed["timestamp"] = options.timestamp;
  let fields = message.fields.slice(0, L.fields).map((field) => ({
    name: fitMarkdown(field.name, L.fieldName),
    value: fitMarkdown(field.value, L.fieldValue),
    inline: field.inline,
  }));

  // The link goes last in the description, so cutting long text never loses it; a link too long
  // for that stays on the title only.
  const markdownLink = message.link
    ? `[${fitMarkdown(message.link.label, 200)}](${linkTarget(message.link.url)})`
    : "";
  const link = markdownLink.length <= 1024 ? markdownLink : "";
  const fixed = title.length + footer.length + authorName.length + link.length;
  const fieldsLength = () => fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  // Within the 6000 total, fields give way only when not even a short text would fit.
  while (fields.length > 0 && fixed + fieldsLength() + 200 > L.total) fields = fields.slice(0, -1);
  const room = Math.min(L.description - link.length, L.total - fixed - fieldsLength()) - 2;
  const text = message.text ? fitMarkdown(message.text, Math.max(0, room)) : "";
  const description = [text, link].filter((part) => part !== "").join("\n\n");
  if (description) embed["description"] = description;
  if (fields.length > 0) embed["fields"] = fields;

  const body: Record<string, unknown> = {
    embeds: [embed],
    allowed_mentions: { parse: [] },
  };
  if (options.username) body["username"] = options.username;
  if (options.avatarUrl) body["avatar_url"] = options.avatarUrl;
  return body;
}

/** Markdown-escapes text and cuts it to `max`, never leaving a dangling backslash. */
function fitMarkdown(text: string, max: number): string {
  const escaped = markdownEscape(text);
  if (escaped.length <= max) return escaped;
  return fit(escaped, max).replace(/(?<!\\)((?:\\\\)*)\\…$/, "$1…");
}

/** A URL safe inside a Markdown link's parentheses. */
function linkTarget(url: string): string {
  return url.replace(/\(/g, "%28").replace(/\)/g, "%29");
}

/** The webhook URL with `wait=true`, keeping any other query (such as `thread_id`). */
function withWait(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.searchParams.set("wait", "true");
    return parsed.href;
  } catch {
    return url;
  }
}

/** The `discord` destination type. */
export const discordType = destinationType({
  type: "discord",
  schema: z.strictObject({
    type: z.literal("discord"),
    url: secretUrl("Webhook URL, https://discord.com/api/webhooks/… (a secret)"),
    username: z.string().min(1).max(80).optional().describe("Overrides the webhook's name"),
    avatar_url: z.string().optional().describe("Overrides the webhook's avatar"),
    body: z.string().optional().describe(
      "Liquid template of the whole JSON body; allowed_mentions is added if left out",
    ),
    ...deliveryOptions,
  }).describe("Discord webhook: an embed with author, thumbnail, fields and colour; no pings"),
  // 5 requests per 2 s per webhook (Discord staff); a 429 still says exactly how long to wait.
  pace: { perSecond: 2.5, burst: 5 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new DiscordDestination(
      name,
      stripUndefined({
        url: entry.url,
        username: entry.username,
        avatarUrl: entry.avatar_url,
        body: kit.template(entry.body),
      }),
    ),
});
