// ntfy (ntfy.sh or self-hosted): JSON publishing to the server's root with the topic in the
// body, so titles and tags with any characters need no header encoding. Plain text, so nothing
// in a payload is markup; the message stays within ntfy's 4096 bytes (longer ones would turn
// into an attachment).

import { z } from "zod";
import { deliveryOptions, isHttpUrl, secret, secretUrl } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered, SendContext } from "./destination.ts";
import { destinationType, maskUrl, stripUndefined } from "./destination.ts";
import type { Message } from "./message.ts";
import { attempt, type Built, customBody, fit, fitBytes, preview } from "./outbound.ts";
import { classifyHttp, describe, type HttpAnswer, type Outcome } from "./retry.ts";

/** Options of {@linkcode NtfyDestination}. */
export interface NtfyOptions {
  /** The topic URL, such as https://ntfy.sh/my-topic. */
  url: string;
  /** An access token (`tk_…`) or password for a protected topic, sent as a Bearer token. */
  token?: string;
  /** 1 (min) to 5 (max); 3 is ntfy's default. */
  priority?: number;
  /** Tags; names of emoji show as icons (`tada`, `moneybag`). */
  tags?: string[];
  /** Renders the whole JSON body instead of the built-in one; topic is added if left out. */
  body?: (request: DeliveryRequest) => string;
}

/** ntfy's message limit in bytes. */
export const NTFY_MESSAGE_BYTES = 4096;

/** An ntfy topic. */
export class NtfyDestination implements Destination {
  readonly type = "ntfy";
  readonly name: string;
  #options: NtfyOptions;
  #root: string;
  #topic: string;

  constructor(name: string, options: NtfyOptions) {
    this.name = name;
    this.#options = options;
    const { root, topic } = splitTopicUrl(options.url);
    this.#root = root;
    this.#topic = topic;
  }

  #request(request: DeliveryRequest): Built {
    let body: string | { error: string };
    if (this.#options.body) {
      body = customBody(this.#options.body, request, (json) => {
        if ("topic" in json) return false;
        json["topic"] = this.#topic;
        return true;
      });
      if (typeof body !== "string") return body;
    } else {
      const json = ntfyMessage(request.message);
      json["topic"] = this.#topic;
      if (this.#options.priority !== undefined) json["priority"] = this.#options.priority;
      if (this.#options.tags?.length) json["tags"] = this.#options.tags;
      body = JSON.stringify(json);
    }
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#options.token) headers["authorization"] = `Bearer ${this.#options.token}`;
    return { method: "POST", url: this.#root, headers, body };
  }

  render(request: DeliveryRequest): Rendered {
    const built = this.#request(request);
    if (!("error" in built)) {
      // The topic is the secret part of a topic URL: whoever knows it may read and post.
      const json = JSON.parse(built.body);
      if (json["topic"] === this.#topic) {
        json["topic"] = "***";
        built.body = JSON.stringify(json);
      }
    }
    return preview(built, maskUrl(this.#root));
  }

  send(request: DeliveryRequest, context: SendContext): Promise<Outcome> {
    return attempt(this.#request(request), context, classifyNtfy);
  }
}

/** ntfy's rules: 200 is delivered; 401, 403 and 404 mean the topic or access is gone. */
export function classifyNtfy(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  if (status === 401 || status === 403 || status === 404) {
    return { kind: "gone", httpStatus: status, error: describe(answer) };
  }
  return classifyHttp(answer, now);
}

/** The JSON publish body of a message, without topic. */
export function ntfyMessage(message: Message): Record<string, unknown> {
  const lines: string[] = [];
  if (message.text) lines.push(message.text);
  const fields = message.fields.map((f) => `${f.name}: ${f.value}`).join("\n");
  // The fields go first when cutting, so the body text keeps at least a few hundred bytes.
  const head = lines.join("\n\n");
  const fieldRoom = Math.max(0, NTFY_MESSAGE_BYTES - Math.min(byteLength(head), 1024) - 2);
  const tail = fields ? fitBytes(fields, fieldRoom) : "";
  const headRoom = NTFY_MESSAGE_BYTES - byteLength(tail) - (tail ? 2 : 0);
  const text = [fitBytes(head, headRoom), tail].filter((p) => p !== "").join("\n\n");
  const body: Record<string, unknown> = { message: text || message.title || "(empty message)" };
  if (message.title) body["title"] = fit(message.title, 250);
  if (message.link) {
    body["click"] = message.link.url;
    body["actions"] = [{
      action: "view",
      label: fit(message.link.label, 100),
      url: message.link.url,
    }];
  }
  if (message.author?.icon) body["icon"] = message.author.icon;
  return body;
}

/** "https://ntfy.example.com/sub/alerts" → root "https://ntfy.example.com/sub/", topic "alerts". */
export function splitTopicUrl(url: string): { root: string; topic: string } {
  try {
    const parsed = new URL(url);
    const path = parsed.pathname.replace(/\/+$/, "");
    const slash = path.lastIndexOf("/");
    return {
      root: `${parsed.origin}${path.slice(0, slash + 1)}`,
      topic: decodeURIComponent(path.slice(slash + 1)),
    };
  } catch {
    return { root: url, topic: "" };
  }
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

const PRIORITIES: Record<string, number> = {
  min: 1,
  low: 2,
  default: 3,
  high: 4,
  max: 5,
  urgent: 5,
};

/** The `ntfy` destination type. */
export const ntfyType = destinationType({
  type: "ntfy",
  schema: z.strictObject({
    type: z.literal("ntfy"),
    url: secretUrl("Topic URL, such as https://ntfy.sh/my-topic (the topic is a secret)"),
    token: secret(
      z.string().describe(
        "Access token (tk_…) for a protected topic, sent as a Bearer token (a secret)",
      ),
    ).optional(),
    priority: z.union([
      z.number().int().min(1).max(5),
      z.enum(["min", "low", "default", "high", "max", "urgent"]),
    ]).optional().describe('1 (min) to 5 (max, also "urgent"); default 3'),
    tags: z.array(z.string()).optional().describe("Tags; emoji names show as icons"),
    body: z.string().optional().describe(
      "Liquid template of the whole JSON publish body; topic is added if left out",
    ),
    ...deliveryOptions,
  }).superRefine((value, context) => {
    if (value.enabled === false || !isHttpUrl(value.url)) return;
    if (new URL(value.url).pathname.replace(/\/+$/, "") === "") {
      context.addIssue({
        code: "custom",
        path: ["url"],
        message: "expected a topic URL such as https://ntfy.sh/my-topic",
      });
    }
  }).describe("ntfy topic: title, priority, tags and a click link"),
  // ntfy's default visitor limit: a burst of 60, then one request per 5 s.
  pace: { perSecond: 0.2, burst: 60 },
  rendersMessages: () => true,
  create: (name, entry, kit) =>
    new NtfyDestination(
      name,
      stripUndefined({
        url: entry.url,
        token: entry.token || undefined,
        priority: typeof entry.priority === "string" ? PRIORITIES[entry.priority] : entry.priority,
        tags: entry.tags,
        body: kit.template(entry.body),
      }),
    ),
});
