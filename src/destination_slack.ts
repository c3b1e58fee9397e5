// Slack incoming webhooks: a Block Kit card with a plain-text fallback. Success is 200 with the
// body "ok"; Slack's own error strings say whether the hook is gone or the payload was bad.

import { z } from "zod";
import { deliveryOptions, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { type Message, plainText, withoutLongUrls } from "./message.ts";
import { attempt, type Built, customBody, preview } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";
import { slackEscape, truncateText } from "./template.ts";

/** Options of {@linkcode SlackDestination}. */
export interface SlackOptions {
  url: string;
  /** Renders the whole JSON body instead of the built-in card. */
  body?: (request: DeliveryRequest) => string;
}

/** Error strings meaning the webhook no longer works until someone reconfigures it. */
const GONE = new Set([
  "no_service",
  "no_service_id",
  "no_team",
  "team_disabled",
  "invalid_token",
  "no_active_hooks",
  "channel_not_found",
  "channel_is_archived",
  "action_prohibited",
  "posting_to_general_channel_denied",
]);

/** A Slack incoming webhook. */
export class SlackDestination implements Destination {
  readonly type = "slack";
  readonly name: string;
  #options: SlackOptions;

  constructor(name: string, options: SlackOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    const body = this.#options.body
      ? customBody(this.#options.body, request)
      : JSON.stringify(slackMessage(request.message));
    if (typeof body !== "string") return body;
    return {
      method: "POST",
      url: this.#options.url,
      headers: { "content-type": "application/json; charset=utf-8" },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    return preview(this.#request(request), maskUrl(this.#options.url));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifySlack);
  }
}

/** Slack's rules on top of the common ones. */
export function classifySlack(answer: HttpAnswer, now: number): Outcome {
  const code = answer.body.trim();
  if (answer.status === 200) {
    return code === "ok"
      ? { kind: "delivered", httpStatus: 200 }
      : { kind: "retry", httpStatus: 200, error: `unexpected answer: ${describe(answer)}` };
  }
  if (GONE.has(code) || code.startsWith("no_service")) {
    return { kind: "gone", httpStatus: answer.status, error: describe(answer) };
  }
  return classifyHttp(answer, now);
}

/** Slack refuses a message with an `image_url` or `url` over 3,000 characters. */
const SLACK_URL_LIMIT = 3000;

/** The Block Kit body of a message, every piece of payload text escaped for mrkdwn. */
export function slackMessage(input: Message): Record<string, unknown> {
  const message = withoutLongUrls(input, SLACK_URL_LIMIT);
  const blocks: unknown[] = [];
  if (message.title) {
    blocks.push({
      type: "header",
      text: { type: "plain_text", text: truncateText(message.title, 150), emoji: true },
    });
  }
  if (message.author) {
    const elements: unknown[] = [];
    if (message.author.icon) {
      elements.push({
        type: "image",
        image_url: message.author.icon,
        alt_text: message.author.name,
      });
    }
    const name = slackEscape(message.author.name);
    elements.push({
      type: "mrkdwn",
      text: message.author.url ? `<${slackEscape(message.author.url)}|${name}>` : name,
    });
    blocks.push({ type: "context", elements });
  }
  if (message.text) {
    const section: Record<string, unknown> = {
      type: "section",
      text: { type: "mrkdwn", text: truncateText(slackEscape(message.text), 3000) },
    };
    if (message.image) {
      section["accessory"] = { type: "image", image_url: message.image, alt_text: "image" };
    }
    blocks.push(section);
  }
  const fields = message.fields.slice(0, 10).map((field) => ({
    type: "mrkdwn",
    text: truncateText(`*${slackEscape(field.name)}*\n${slackEscape(field.value)}`, 2000),
  }));
  if (fields.length > 0) blocks.push({ type: "section", fields });
  if (message.link) {
    blocks.push({
      type: "actions",
      elements: [{
        type: "button",
        text: { type: "plain_text", text: truncateText(message.link.label, 75) },
        url: message.link.url,
      }],
    });
  }
  return {
    text: truncateText(slackEscape(plainText({ ...message, fields: [], link: null })), 3000),
    blocks,
    unfurl_links: false,
    unfurl_media: false,
  };
}

/** The `slack` destination type. */
export const slackType = destinationType({
  type: "slack",
  schema: z.strictObject({
    type: z.literal("slack"),
    url: secretUrl("Incoming webhook URL (a secret)"),
    body: z.string().optional().describe("Liquid template of the whole JSON body"),
    ...deliveryOptions,
  }).describe("Slack incoming webhook: Block Kit with a plain-text fallback"),
  // About one message per second per webhook, short bursts allowed (Slack's rate limits).
  pace: { perSecond: 1, burst: 3 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new SlackDestination(name, stripUndefined({ url: entry.url, body: kit.template(entry.body) })),
});
