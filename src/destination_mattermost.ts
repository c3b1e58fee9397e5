// Mattermost incoming webhooks: the Slack-compatible payload without Slack-only fields (no
// blocks, no mrkdwn flags): a bold Markdown title and one attachment with author, text, fields,
// colour and link. Mattermost turns Slack's `<!channel>` into a real @channel and notifies on
// @mentions, so payload text is escaped for Markdown, for `<`, `>`, `&`, and for mentions.

import { z } from "zod";
import { deliveryOptions, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { type Message, plainText } from "./message.ts";
import { answerJson, attempt, type Built, customBody, fit, preview } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";
import { markdownEscape, mentionEscape, slackEscape } from "./template.ts";

/** Options of {@linkcode MattermostDestination}. */
export interface MattermostOptions {
  url: string;
  /** Posts in this channel instead of the webhook's (if the webhook is not locked). */
  channel?: string;
  /** Overrides the poster's name (needs "Enable integrations to override usernames"). */
  username?: string;
  /** Overrides the poster's picture (needs "… override profile picture icons"). */
  iconUrl?: string;
  /** Renders the whole JSON body instead of the built-in post. */
  body?: (request: DeliveryRequest) => string;
}

/** Error ids meaning the webhook (or its channel or user) no longer works. */
const GONE_IDS = new Set([
  "web.incoming_webhook.invalid.app_error",
  "web.incoming_webhook.disabled.app_error",
  "web.incoming_webhook.channel.app_error",
  "web.incoming_webhook.channel_locked.app_error",
  "web.incoming_webhook.user.app_error",
  "web.incoming_webhook.permissions.app_error",
]);

/** A Mattermost incoming webhook. */
export class MattermostDestination implements Destination {
  readonly type = "mattermost";
  readonly name: string;
  #options: MattermostOptions;

  constructor(name: string, options: MattermostOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    let body: string | { error: string };
    if (this.#options.body) {
      body = customBody(this.#options.body, request);
      if (typeof body !== "string") return body;
    } else {
      const json = mattermostMessage(request.message);
      if (this.#options.channel) json["channel"] = this.#options.channel;
      if (this.#options.username) json["username"] = this.#options.username;
      if (this.#options.iconUrl) json["icon_url"] = this.#options.iconUrl;
      body = JSON.stringify(json);
    }
    return {
      method: "POST",
      url: this.#options.url,
      headers: { "content-type": "application/json" },
      body,
    };
  }

  render(request: DeliveryRequest): Rendered {
    return preview(this.#request(request), maskUrl(this.#options.url));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyMattermost);
  }
}

/** Mattermost's rules: 200 is delivered; an invalid or disabled webhook is gone. */
export function classifyMattermost(answer: HttpAnswer, now: number): Outcome {
  const id = answerJson(answer)?.["id"];
  if (answer.status === 200) return { kind: "delivered", httpStatus: 200 };
  if (
    (typeof id === "string" && GONE_IDS.has(id)) || answer.status === 403 ||
    answer.status === 404
  ) {
    return { kind: "gone", httpStatus: answer.status, error: describe(answer) };
  }
  return classifyHttp(answer, now);
}

/** The webhook body of a message: a bold title and one attachment. */
export function mattermostMessage(message: Message): Record<string, unknown> {
  const attachment: Record<string, unknown> = {
    fallback: plain(fit(plainText(message), 1000)),
  };
  if (message.color) attachment["color"] = message.color;
  if (message.author) {
    attachment["author_name"] = plain(fit(message.author.name, 256));
    if (message.author.url) attachment["author_link"] = message.author.url;
    if (message.author.icon) attachment["author_icon"] = message.author.icon;
  }
  if (message.link) {
    attachment["title"] = plain(fit(message.link.label, 256));
    attachment["title_link"] = message.link.url;
  }
  if (message.text) attachment["text"] = markdown(fit(message.text, 8000));
  if (message.fields.length > 0) {
    attachment["fields"] = message.fields.slice(0, 25).map((field) => ({
      title: plain(fit(field.name, 256)),
      value: markdown(fit(field.value, 2000)),
      short: field.inline,
    }));
  }
  if (message.image) attachment["image_url"] = message.image;
  else if (message.author?.icon) attachment["thumb_url"] = message.author.icon;
  const body: Record<string, unknown> = { attachments: [attachment] };
  if (message.title) body["text"] = `**${markdown(fit(message.title, 1000))}**`;
  return body;
}

/** Payload text for Markdown places: entities for `& < >`, backslashes, then mentions. */
function markdown(text: string): string {
  return mentionEscape(markdownEscape(slackEscape(text)));
}

/** Payload text for plain places, where Mattermost still expands `<!channel>` and mentions. */
function plain(text: string): string {
  return mentionEscape(text.replace(/<([!@#])/g, "<\u200b$1"));
}

/** The `mattermost` destination type. */
export const mattermostType = destinationType({
  type: "mattermost",
  schema: z.strictObject({
    type: z.literal("mattermost"),
    url: secretUrl("Incoming webhook URL, https://<server>/hooks/<key> (a secret)"),
    channel: z.string().optional().describe("Channel name (or @user) instead of the webhook's"),
    username: z.string().optional().describe("Overrides the poster's name, if the server allows"),
    icon_url: z.string().optional().describe("Overrides the poster's picture, if allowed"),
    body: z.string().optional().describe("Liquid template of the whole JSON body"),
    ...deliveryOptions,
  }).describe("Mattermost incoming webhook: Markdown text and an attachment"),
  // A self-hosted server's limit is its operator's; the lane finds it itself.
  pace: null,
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new MattermostDestination(
      name,
      stripUndefined({
        url: entry.url,
        channel: entry.channel,
        username: entry.username,
        iconUrl: entry.icon_url,
        body: kit.template(entry.body),
      }),
    ),
});
