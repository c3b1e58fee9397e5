// Telegram bots: sendMessage in HTML parse mode, every piece of payload text escaped (Telegram
// rejects a stray `<` or `&` with "can't parse entities"), within the 4096 characters Telegram
// counts after parsing. A blocked bot, a wrong token or a chat that no longer exists is gone.

import { z } from "zod";
import { bool, checkHttpUrl, deliveryOptions, secret } from "./schema_kit.ts";
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
import { htmlEscape } from "./template.ts";

/** Options of {@linkcode TelegramDestination}. */
export interface TelegramOptions {
  botToken: string;
  /** A numeric chat id or "@channelusername". */
  chatId: string;
  /** The Bot API's base URL (default https://api.telegram.org), for a local Bot API server. */
  apiUrl?: string;
  /** A forum topic of the chat. */
  messageThreadId?: number;
  /** Sends silently. */
  disableNotification?: boolean;
  /** Renders the whole JSON body instead of the built-in message; chat_id is added if left out. */
  body?: (request: DeliveryRequest) => string;
}

/** Telegram's limit on a message's text, counted after entity parsing. */
export const TELEGRAM_TEXT_LIMIT = 4096;

/** Descriptions of 400 answers meaning the chat is unusable until someone reconfigures it. */
const GONE_400 =
  /chat not found|group chat was upgraded|bot was kicked|not enough rights|need administrator rights|chat_write_forbidden|have no rights/i;

/** A Telegram chat reached through a bot. */
export class TelegramDestination implements Destination {
  readonly type = "telegram";
  readonly name: string;
  #options: TelegramOptions;

  constructor(name: string, options: TelegramOptions) {
    this.name = name;
    this.#options = options;
  }

  #url(): string {
    const base = (this.#options.apiUrl ?? "https://api.telegram.org").replace(/\/+$/, "");
    return `${base}/bot${this.#options.botToken}/sendMessage`;
  }

  #request(request: DeliveryRequest): Built {
    let body: string | { error: string };
    if (this.#options.body) {
      body = customBody(this.#options.body, request, (json) => {
        if ("chat_id" in json) return false;
        json["chat_id"] = this.#options.chatId;
        return true;
      });
      if (typeof body !== "string") return body;
    } else {
      const json: Record<string, unknown> = {
        chat_id: this.#options.chatId,
        ...telegramMessage(request.message),
      };
      if (this.#options.messageThreadId !== undefined) {
        json["message_thread_id"] = this.#options.messageThreadId;
      }
      if (this.#options.disableNotification) json["disable_notification"] = true;
      body = JSON.stringify(json);
    }
    return {
      method: "POST",
      url: this.#url(),
      headers: { "content-type": "application/json" },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    return preview(this.#request(request), maskUrl(this.#url()));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyTelegram);
  }
}

/**
 * Telegram's rules: `{"ok":true}` is delivered; 429 waits `parameters.retry_after`; 401, 403,
 * 404 and a vanished or migrated chat are gone; other 400s (bad markup, too long) fail.
 */
export function classifyTelegram(answer: HttpAnswer, now: number): Outcome {
  const json = answerJson(answer);
  const status = answer.status;
  const error = describe(answer);
  if (status === 200) {
    return json?.["ok"] === true
      ? { kind: "delivered", httpStatus: 200 }
      : { kind: "retry", httpStatus: 200, error: `unexpected answer: ${error}` };
  }
  const parameters = json?.["parameters"] as Record<string, unknown> | undefined;
  if (status === 429) {
    const retryAfterMs = secondsToMs(parameters?.["retry_after"]);
    if (retryAfterMs !== undefined) return { kind: "retry", httpStatus: 429, error, retryAfterMs };
  }
  if (status === 401 || status === 403 || status === 404) {
    return { kind: "gone", httpStatus: status, error };
  }
  if (status === 400 && parameters?.["migrate_to_chat_id"] !== undefined) {
    return {
      kind: "gone",
      httpStatus: 400,
      error: `the group became a supergroup: set chat_id to ${
        String(parameters["migrate_to_chat_id"])
      } (${error})`,
    };
  }
  if (status === 400 && GONE_400.test(String(json?.["description"] ?? ""))) {
    return { kind: "gone", httpStatus: 400, error };
  }
  return classifyHttp(answer, now);
}

/** Longest URL sent in a link or preview. Telegram documents none; 2,048 is the web's safe length. */
const TELEGRAM_URL_LIMIT = 2048;

/**
 * The `text`, `parse_mode` and link preview of a message. The visible text (tags excluded)
 * stays within 4096 characters: the body text gives way first, then fields from the end.
 */
export function telegramMessage(input: Message): Record<string, unknown> {
  const message = withoutLongUrls(input, TELEGRAM_URL_LIMIT);
  const title = fit(message.title, 256);
  const author = message.author ? fit(message.author.name, 256) : "";
  let fields = message.fields.map((f) => ({ name: fit(f.name, 256), value: fit(f.value, 1024) }));
  const label = message.link ? fit(message.link.label, 256) : "";
  const visible = (text: string) => {
    const parts = [
      title,
      author,
      text,
      fields.map((f) => `${f.name}: ${f.value}`).join("\n"),
      label,
    ].filter((p) => p !== "");
    return parts.join("\n\n").length;
  };
  while (fields.length > 0 && visible("") + 200 > TELEGRAM_TEXT_LIMIT) fields = fields.slice(0, -1);
  const text = message.text ? fit(message.text, TELEGRAM_TEXT_LIMIT - visible("") - 2) : "";

  const parts: string[] = [];
  if (title) parts.push(`<b>${htmlEscape(title)}</b>`);
  if (author) {
    parts.push(
      message.author?.url
        ? `<a href="${htmlEscape(message.author.url)}">${htmlEscape(author)}</a>`
        : htmlEscape(author),
    );
  }
  if (text) parts.push(htmlEscape(text));
  if (fields.length > 0) {
    parts.push(
      fields.map((f) => `<b>${htmlEscape(f.name)}:</b> ${htmlEscape(f.value)}`).join("\n"),
    );
  }
  if (message.link) {
    parts.push(`<a href="${htmlEscape(message.link.url)}">${htmlEscape(label)}</a>`);
  }
  return {
    text: parts.join("\n\n") || htmlEscape(fit(message.title || "(empty message)", 256)),
    parse_mode: "HTML",
    link_preview_options: message.image
      ? { url: message.image, prefer_small_media: true }
      : { is_disabled: true },
  };
}

/** The `telegram` destination type. */
export const telegramType = destinationType({
  type: "telegram",
  schema: z.strictObject({
    type: z.literal("telegram"),
    bot_token: secret(z.string().describe("Bot token from @BotFather, 123456:ABC… (a secret)")),
    chat_id: z.union([z.string(), z.number().int()]).describe(
      'Chat id (negative for groups) or "@channelusername"',
    ),
    message_thread_id: z.number().int().optional().describe("Forum topic to post in"),
    disable_notification: bool.optional().describe("Send silently"),
    api_url: z.string().optional().describe(
      "Bot API base URL (default https://api.telegram.org), for a local Bot API server",
    ),
    body: z.string().optional().describe(
      "Liquid template of the whole sendMessage JSON body; chat_id is added if left out",
    ),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false) return;
    if (!/^[0-9]+:[A-Za-z0-9_-]+$/.test(value.bot_token)) {
      context.addIssue({
        code: "custom",
        path: ["bot_token"],
        message: value.bot_token === ""
          ? "expected a bot token, got an empty string"
          : 'expected a bot token such as "123456789:AA…" (value hidden)',
      });
    }
    if (String(value.chat_id).trim() === "") {
      context.addIssue({
        code: "custom",
        path: ["chat_id"],
        message: "expected a chat id, got an empty string",
      });
    }
    checkHttpUrl(value.api_url, ["api_url"], context);
  }).describe("Telegram bot message in HTML parse mode"),
  // About one message per second per chat, short bursts allowed (Bot FAQ).
  pace: { perSecond: 1, burst: 3 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new TelegramDestination(
      name,
      stripUndefined({
        botToken: entry.bot_token,
        chatId: String(entry.chat_id).trim(),
        apiUrl: entry.api_url,
        messageThreadId: entry.message_thread_id,
        disableNotification: entry.disable_notification,
        body: kit.template(entry.body),
      }),
    ),
});
