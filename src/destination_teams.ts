// Microsoft Teams through a Workflows (Power Automate) webhook: an Adaptive Card 1.4 in the
// `{"type":"message","attachments":[…]}` envelope the "Post to a channel when a webhook request is
// received" template reads. 202 Accepted only means the flow run was queued, not that a card
// was posted.

import { z } from "zod";
import { deliveryOptions, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import { type Message, withoutLongUrls } from "./message.ts";
import { attempt, type Built, customBody, fit, preview, withinBytes } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";

/** Options of {@linkcode TeamsDestination}. */
export interface TeamsOptions {
  url: string;
  /** Renders the whole JSON body instead of the built-in card. */
  body?: (request: DeliveryRequest) => string;
}

/** A Teams channel behind a Workflows webhook. */
export class TeamsDestination implements Destination {
  readonly type = "teams";
  readonly name: string;
  #options: TeamsOptions;

  constructor(name: string, options: TeamsOptions) {
    this.name = name;
    this.#options = options;
  }

  #request(request: DeliveryRequest): Built {
    const body = this.#options.body
      ? customBody(this.#options.body, request)
      : JSON.stringify(teamsMessage(request.message));
    if (typeof body !== "string") return body;
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
    return attempt(this.#request(request), context, classifyTeams);
  }
}

/**
 * Teams' rules: 202 (queued) and 200 are delivered, except a legacy connector's 200 whose body
 * reports a throttle; 401, 403 and 404 mean the flow or its URL is gone.
 */
export function classifyTeams(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  if ((status === 200 || status === 202) && /HTTP error 429/.test(answer.body)) {
    return { kind: "retry", httpStatus: status, error: describe(answer) };
  }
  if (status === 401 || status === 403 || status === 404) {
    return { kind: "gone", httpStatus: status, error: describe(answer) };
  }
  return classifyHttp(answer, now);
}

/** Teams refuses messages over 28 KB; this leaves room for the envelope's own overhead. */
const TEAMS_MAX_BYTES = 26_000;

/**
 * Longest URL sent in a card. Teams documents none; 2,048 is what its clients and Power
 * Automate are known to handle.
 */
const TEAMS_URL_LIMIT = 2048;

/**
 * The Workflows envelope around an Adaptive Card 1.4 showing the message, under Teams' 28 KB:
 * long text is cut to 1000 characters first, then fields are dropped from the end.
 */
export function teamsMessage(input: Message): Record<string, unknown> {
  const message = withoutLongUrls(input, TEAMS_URL_LIMIT);
  return withinBytes(
    TEAMS_MAX_BYTES,
    { textMax: 5000, fieldCount: Math.min(message.fields.length, 25) },
    (textMax, fieldCount) => teamsCard(message, textMax, fieldCount),
  );
}

function teamsCard(message: Message, textMax: number, fieldCount: number): Record<string, unknown> {
  const body: unknown[] = [];
  if (message.title) {
    body.push({
      type: "TextBlock",
      text: teamsEscape(fit(message.title, 256)),
      weight: "Bolder",
      size: "Medium",
      wrap: true,
    });
  }
  if (message.author) {
    const name = teamsEscape(fit(message.author.name, 256));
    const columns: unknown[] = [];
    if (message.author.icon) {
      columns.push({
        type: "Column",
        width: "auto",
        items: [{
          type: "Image",
          url: message.author.icon,
          size: "Small",
          style: "Person",
          altText: fit(message.author.name, 256),
        }],
      });
    }
    columns.push({
      type: "Column",
      width: "stretch",
      verticalContentAlignment: "Center",
      items: [{
        type: "TextBlock",
        text: message.author.url ? `[${name}](${linkTarget(message.author.url)})` : name,
        wrap: true,
      }],
    });
    body.push({ type: "ColumnSet", columns });
  }
  if (message.text) {
    // Card Markdown needs a blank line for a line break.
    body.push({
      type: "TextBlock",
      text: teamsEscape(fit(message.text, textMax)).replace(/\n+/g, "\n\n"),
      wrap: true,
    });
  }
  if (fieldCount > 0) {
    body.push({
      type: "FactSet",
      facts: message.fields.slice(0, fieldCount).map((field) => ({
        title: fit(field.name, 256),
        value: teamsEscape(fit(field.value, 1024)),
      })),
    });
  }
  if (message.image) body.push({ type: "Image", url: message.image, size: "Large" });
  const card: Record<string, unknown> = {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.4",
    body,
    msteams: { width: "Full" },
  };
  if (message.link) {
    card["actions"] = [{
      type: "Action.OpenUrl",
      title: fit(message.link.label, 100),
      url: message.link.url,
    }];
  }
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: card,
    }],
  };
}

/**
 * Backslash-escapes the characters of card Markdown (bold, italic, links), so payload text shows
 * as written. HTML is never rendered in cards, so `<` needs nothing.
 */
function teamsEscape(text: string): string {
  return text.replace(/([\\*_\[\]])/g, "\\$1");
}

function linkTarget(url: string): string {
  return url.replace(/\(/g, "%28").replace(/\)/g, "%29");
}

/** The `teams` destination type. */
export const teamsType = destinationType({
  type: "teams",
  schema: z.strictObject({
    type: z.literal("teams"),
    url: secretUrl(
      'Workflows webhook URL from the "Post to a channel when a webhook request is received" ' +
        "template (a secret)",
    ),
    body: z.string().optional().describe("Liquid template of the whole JSON body"),
    ...deliveryOptions,
  }).describe("Microsoft Teams Workflows webhook: an Adaptive Card; 202 means queued"),
  // Four requests per second per webhook (Teams connector limits).
  pace: { perSecond: 4, burst: 4 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new TeamsDestination(name, stripUndefined({ url: entry.url, body: kit.template(entry.body) })),
});
