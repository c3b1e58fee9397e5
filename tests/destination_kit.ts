// Fixtures for destination tests: deliveries built the way the worker builds them (sample
// payload → route message → DeliveryRequest), a send context, one destination compiled from
// config as the relay compiles it, hostile messages, and a small parser of Telegram's HTML that
// rejects what Telegram rejects.

import { templateScope } from "../src/route.ts";
import type { DeliveryRequest, SendContext } from "../src/destination.ts";
import { ReachableOrigins } from "../src/http_client.ts";
import { compileMessage, type Message, type MessageSources } from "../src/message.ts";
import { SAMPLES } from "../src/samples.ts";
import { loadTemplates } from "../src/template.ts";
import { compileConfig, type DestinationRuntime } from "../src/compile.ts";
import { ConfigError, parseConfig } from "../src/config.ts";
import { SECRET } from "./helpers.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

/**
 * The destination `entry`, named `name`, parsed and compiled the way the relay does it, with a
 * route sending it every event; throws the config's ConfigError.
 */
export function compiledDestination(
  name: string,
  entry: Record<string, unknown>,
): DestinationRuntime {
  const text = JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: { [name]: entry },
    routes: [{ name: "all", events: "*", to: [name] }],
  });
  const config = parseConfig(text, "test config", { env: () => undefined });
  return compileConfig(config, "test config", { write: () => {} }).destinations.get(name)!;
}

/** The ConfigError compiling the destination `entry` named `name` gives, or null if none. */
export function destinationConfigError(
  name: string,
  entry: Record<string, unknown>,
): ConfigError | null {
  try {
    compiledDestination(name, entry);
    return null;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

/** A delivery of a sample event (or of `payload`), with the route message rendered. */
export function deliveryOf(
  type: string,
  options: { payload?: Record<string, unknown>; message?: MessageSources; attempt?: number } = {},
): DeliveryRequest {
  const payload = options.payload ?? structuredClone(SAMPLES[type] ?? {}) as Record<
    string,
    unknown
  >;
  const receivedAt = Date.UTC(2026, 0, 15, 12, 0, 0);
  const scope = templateScope(payload, { id: "evt_TEST", type, receivedAt });
  return {
    deliveryId: "dlv_01TESTDELIVERY",
    eventId: "evt_TEST",
    eventType: type,
    receivedAt,
    body: JSON.stringify(payload),
    payload,
    message: compileMessage(type, options.message ?? {})(scope),
    attempt: options.attempt ?? 1,
  };
}

/** A delivery carrying `message` as it is. */
export function deliveryWith(message: Message, type = "update_commission"): DeliveryRequest {
  return { ...deliveryOf(type), message };
}

/** The context the worker gives one attempt. */
export function sendContext(now: () => number = () => Date.now()): SendContext {
  return {
    timeouts: { connectMs: 2_000, totalMs: 5_000 },
    signal: new AbortController().signal,
    now,
    origins: new ReachableOrigins(),
  };
}

/** Ten kilobytes of text with emoji and right-to-left script. */
export const LONG_TEXT = ("مرحبا بالعالم 👋🏽 שלום 🎉 " + "x".repeat(40) + "\n").repeat(120);

/** Strings a payload could carry to break or hijack a message. */
export const HOSTILE = [
  "<!channel> <!here> <!everyone> <@U024BE7LH>",
  "<b>bold</b> <script>alert(1)</script> </a>",
  "Tom & Jerry &amp; &lt; &#60; &",
  "*bold* _italic_ ~strike~ `code` ||spoiler|| [link](https://evil.example) # heading",
  "@everyone @here @channel @all",
  "\u202eRTL override שלום عربى",
  "emoji 👩‍👩‍👧‍👦🏳️‍🌈 and \\backslash\\",
].join("\n");

/** A message whose every part is hostile, with a 10 KB text and 40 long fields. */
export function hostileMessage(): Message {
  return {
    title: HOSTILE.replace(/\n/g, " ") + " " + "T".repeat(400),
    text: HOSTILE + "\n" + LONG_TEXT,
    fields: Array.from({ length: 40 }, (_, i) => ({
      name: `${i} <b>@everyone</b> *x*`,
      value: HOSTILE + " " + "v".repeat(1500),
      inline: i % 2 === 0,
    })),
    link: { url: "https://example.com/deal?a=1&b=(2)", label: "Open <deal> & *more*" },
    image: "https://example.com/image.png?x=1&y=2",
    author: {
      name: "@everyone <!channel> " + "N".repeat(400),
      url: "https://example.com/profile?u=1&v=<2>",
      icon: "https://example.com/icon.png",
    },
    color: "#e01e5a",
  };
}

/** Telegram's HTML tags and the named entities it knows. */
const TELEGRAM_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "a",
  "code",
  "pre",
  "tg-spoiler",
  "span",
  "blockquote",
  "tg-emoji",
]);

/**
 * Parses text as Telegram's HTML parse mode does: known tags only, properly nested, every `<`,
 * `>` and `&` outside tags escaped. Returns the visible text and its tags, or the error Telegram
 * gives.
 */
export function parseTelegramHtml(
  html: string,
): { ok: true; text: string; tags: string[] } | { ok: false; error: string } {
  const stack: string[] = [];
  const tags: string[] = [];
  let text = "";
  let i = 0;
  const fail = (what: string) => ({
    ok: false as const,
    error: `Bad Request: can't parse entities: ${what} at byte offset ${
      new TextEncoder().encode(html.slice(0, i)).length
    }`,
  });
  while (i < html.length) {
    const char = html[i]!;
    if (char === "<") {
      const match = /^<(\/?)([a-z-]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>/.exec(html.slice(i));
      if (match === null) return fail("Unsupported start tag");
      const [whole, closing, name] = match;
      if (!TELEGRAM_TAGS.has(name!)) return fail(`Unsupported start tag "${name}"`);
      if (closing) {
        if (stack.pop() !== name) return fail(`Unmatched end tag "${name}"`);
      } else {
        stack.push(name!);
        tags.push(name!);
      }
      i += whole.length;
    } else if (char === "&") {
      const match = /^&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);/.exec(html.slice(i));
      if (match === null) return fail("Character entity expected");
      text += ({ lt: "<", gt: ">", amp: "&", quot: '"' } as Record<string, string>)[match[1]!] ??
        "?";
      i += match[0].length;
    } else if (char === ">") {
      return fail('Unexpected ">"');
    } else {
      text += char;
      i += 1;
    }
  }
  if (stack.length > 0) return fail(`Can't find end tag corresponding to start tag "${stack[0]}"`);
  return { ok: true, text, tags };
}

/** A parsed JSON value, read freely by assertions (a wrong guess fails the test). */
// deno-lint-ignore no-explicit-any
export type Json = any;
