// Google Chat incoming webhooks: a cardsV2 card (header with the influencer's picture, text,
// one decorated line per field, a button) with a plain-text fallback for notifications. Card
// text is a small HTML subset, so payload text is HTML-escaped; `<users/all>` cannot ping.

import { z } from "zod";
import { deliveryOptions, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { type Message, plainText, withoutLongUrls } from "./message.ts";
import { attempt, type Built, customBody, fit, preview, withinBytes } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";
import { htmlEscape } from "./template.ts";

/** Options of {@linkcode GoogleChatDestination}. */
export interface GoogleChatOptions {
  url: string;
  /** Renders the whole JSON body instead of the built-in card. */
  body?: (request: DeliveryRequest) => string;
}

/** A Google Chat space's incoming webhook. */
export class GoogleChatDestination implements Destination {
  readonly type = "google_chat";
  readonly name: string;
  #options: GoogleChatOptions;

  constructor(name: string, options: GoogleChatOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    const body = this.#options.body
      ? customBody(this.#options.body, request)
      : JSON.stringify(googleChatMessage(request.message));
    if (typeof body !== "string") return body;
    return {
      method: "POST",
      url: this.#options.url,
      headers: { "content-type": "application/json; charset=UTF-8" },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    return preview(this.#request(request), maskUrl(this.#options.url));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyGoogleChat);
  }
}

/** Google Chat's rules: 200 is delivered; 401, 403 and 404 mean the webhook or space is gone. */
export function classifyGoogleChat(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  if (status === 401 || status === 403 || status === 404) {
    return { kind: "gone", httpStatus: status, error: describe(answer) };
  }
  return classifyHttp(answer, now);
}

/** Google Chat's limit on a whole message; the rest is left for the request's own overhead. */
const GOOGLE_CHAT_MAX_BYTES = 30_000;

/** Longest URL sent in a card. Google Chat documents none; 2,048 is the web's safe length. */
const GOOGLE_CHAT_URL_LIMIT = 2048;

/**
 * The webhook body of a message: one cardsV2 card and a plain-text fallback, under Google Chat's
 * 32,000 bytes per message.
 */
export function googleChatMessage(input: Message): Record<string, unknown> {
  const message = withoutLongUrls(input, GOOGLE_CHAT_URL_LIMIT);
  return withinBytes(
    GOOGLE_CHAT_MAX_BYTES,
    { textMax: 4000, fieldCount: Math.min(message.fields.length, 25) },
    (textMax, fieldCount) => googleChatCard(message, textMax, fieldCount),
  );
}

function googleChatCard(
  message: Message,
  textMax: number,
  fieldCount: number,
): Record<string, unknown> {
  const widgets: unknown[] = [];
  if (message.text) {
    widgets.push({
      textParagraph: { text: htmlEscape(fit(message.text, textMax)).replace(/\n/g, "<br>") },
    });
  }
  for (const field of message.fields.slice(0, fieldCount)) {
    widgets.push({
      decoratedText: {
        topLabel: htmlEscape(fit(field.name, 256)),
        text: htmlEscape(fit(field.value, 1000)).replace(/\n/g, "<br>"),
        wrapText: true,
      },
    });
  }
  if (message.image) widgets.push({ image: { imageUrl: message.image, altText: "image" } });
  if (message.link) {
    widgets.push({
      buttonList: {
        buttons: [{
          text: fit(message.link.label, 100),
          onClick: { openLink: { url: message.link.url } },
        }],
      },
    });
  }
  const card: Record<string, unknown> = {};
  if (message.title || message.author) {
    const header: Record<string, string> = { title: fit(message.title || "Influencer Hero", 200) };
    if (message.author) header["subtitle"] = fit(message.author.name, 200);
    if (message.author?.icon) {
      header["imageUrl"] = message.author.icon;
      header["imageType"] = "CIRCLE";
      header["imageAltText"] = fit(message.author.name, 200);
    }
    card["header"] = header;
  }
  if (widgets.length > 0) card["sections"] = [{ widgets }];
  return {
    fallbackText: fit(plainText({ ...message, fields: [], link: null }), 1000),
    cardsV2: [{ cardId: "hero-relay", card }],
  };
}

/** The `google_chat` destination type. */
export const googleChatType = destinationType({
  type: "google_chat",
  schema: z.strictObject({
    type: z.literal("google_chat"),
    url: secretUrl(
      "Incoming webhook URL, https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=… " +
        "(a secret)",
    ),
    body: z.string().optional().describe("Liquid template of the whole JSON body"),
    ...deliveryOptions,
  }).describe("Google Chat incoming webhook: a card with a plain-text fallback"),
  // About one message per second per space (60 per minute per space).
  pace: { perSecond: 1, burst: 1 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new GoogleChatDestination(
      name,
      stripUndefined({ url: entry.url, body: kit.template(entry.body) }),
    ),
});
