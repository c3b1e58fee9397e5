// The neutral message every destination renders in its own native form, and how it is made
// from Liquid templates: an event type's built-in defaults, overridden part by part by a route.

import {
  DEFAULT_MESSAGES,
  type FieldSource,
  GENERIC_MESSAGE,
  type MessageSources,
} from "./default_messages.ts";

export type { FieldSource, MessageSources };
import { sourceOf } from "./events.ts";
import { compileTemplate, type Template, templateError } from "./template.ts";

/** A field of a message: a short label and its value. */
export interface MessageField {
  name: string;
  value: string;
  inline: boolean;
}

/** What a destination renders: plain text throughout; each destination escapes it itself. */
export interface Message {
  title: string;
  text: string;
  fields: MessageField[];
  link: { url: string; label: string } | null;
  image: string | null;
  author: { name: string; url: string | null; icon: string | null } | null;
  /** A hex colour such as "#2eb67d", for destinations that show one. */
  color: string | null;
}

/** A compiled message: renders a template scope into a {@linkcode Message}. */
export type MessageTemplate = (scope: object) => Message;

/**
 * Compiled messages by default type and overrides. One config's compile keeps one, so routes
 * without overrides share their type's compiled defaults, and it ends with that config.
 */
export type MessageCache = Map<string, MessageTemplate>;

/**
 * Compiles the message for an event type: the type's built-in defaults (a generic one for
 * unknown types) with `overrides` replacing whole parts. Throws SyntaxError naming each bad
 * part, one per line.
 */
export function compileMessage(
  eventType: string,
  overrides: MessageSources = {},
  cache: MessageCache = new Map(),
): MessageTemplate {
  if (sourceOf(eventType) !== null) {
    // Every source event shares one built-in message, made from whatever its payload holds.
    const key = `\u0000source\u0000${JSON.stringify(overrides)}`;
    let compiled = cache.get(key);
    if (compiled === undefined) {
      const parts = compileMessageParts(overrides);
      compiled = (scope) => parts(scope, sourceMessage(scope));
      cache.set(key, compiled);
    }
    return compiled;
  }
  const defaults = eventType in DEFAULT_MESSAGES ? eventType : "";
  const key = `${defaults}\u0000${JSON.stringify(overrides)}`;
  let compiled = cache.get(key);
  if (compiled === undefined) {
    compiled = compileSources({
      ...(DEFAULT_MESSAGES[eventType] ?? GENERIC_MESSAGE),
      ...overrides,
    });
    cache.set(key, compiled);
  }
  return compiled;
}

function compileSources(sources: MessageSources): MessageTemplate {
  const errors: string[] = [];
  const part = (name: string, source: string | undefined): Template => {
    if (source === undefined) return () => "";
    try {
      return compileTemplate(source);
    } catch (error) {
      errors.push(`${name}: ${templateError(error)}`);
      return () => "";
    }
  };
  const title = part("title", sources.title);
  const text = part("text", sources.text);
  const fields = (sources.fields ?? []).map((field, i) => ({
    name: part(`fields[${i}].name`, field.name),
    value: part(`fields[${i}].value`, field.value),
    inline: field.inline ?? true,
  }));
  const linkUrl = part("link_url", sources.link_url);
  const linkLabel = part("link_label", sources.link_label);
  const image = part("image", sources.image);
  const authorName = part("author_name", sources.author_name);
  const authorUrl = part("author_url", sources.author_url);
  const authorIcon = part("author_icon", sources.author_icon);
  const color = part("color", sources.color);
  if (errors.length > 0) throw new SyntaxError(errors.join("\n"));
  return (scope) => {
    const url = httpUrlOrNull(linkUrl(scope));
    const name = clean(authorName(scope));
    return {
      title: clean(title(scope)),
      text: text(scope).trim(),
      fields: fields.map((f) => ({
        name: clean(f.name(scope)),
        value: f.value(scope).trim(),
        inline: f.inline,
      })).filter((f) => f.name !== "" && f.value !== ""),
      link: url === null ? null : { url, label: clean(linkLabel(scope)) || url },
      image: httpUrlOrNull(image(scope)),
      author: name === ""
        ? null
        : { name, url: httpUrlOrNull(authorUrl(scope)), icon: httpUrlOrNull(authorIcon(scope)) },
      color: /^#[0-9a-fA-F]{6}$/.test(color(scope).trim()) ? color(scope).trim() : null,
    };
  };
}

/**
 * Compiles only the parts `overrides` gives: the result takes a message made otherwise (a
 * digest's built-in summary) and replaces those parts. Throws SyntaxError like
 * {@linkcode compileMessage}.
 */
export function compileMessageParts(
  overrides: MessageSources,
): (scope: object, base: Message) => Message {
  const keys = new Set(Object.keys(overrides));
  if (keys.size === 0) return (_scope, base) => base;
  const compiled = compileSources(overrides);
  return (scope, base) => {
    const made = compiled(scope);
    const has = (...names: string[]) => names.some((name) => keys.has(name));
    return {
      title: has("title") ? made.title : base.title,
      text: has("text") ? made.text : base.text,
      fields: has("fields") ? made.fields : base.fields,
      link: has("link_url", "link_label") ? made.link : base.link,
      image: has("image") ? made.image : base.image,
      author: has("author_name", "author_url", "author_icon") ? made.author : base.author,
      color: has("color") ? made.color : base.color,
    };
  };
}

/** Top-level fields a source event's built-in message shows at most. */
const SOURCE_FIELDS = 6;

/** Field names that may hold a credential: a source's built-in message never shows them. */
const SECRET_NAME = /secret|token|password|passwd|signature|api_?key|auth|credential|hmac/i;

/**
 * The top-level fields of a source event's payload worth showing: short strings, numbers and
 * booleans, in the payload's order, none whose name suggests a credential.
 */
export function sourceFields(payload: object, max = SOURCE_FIELDS): MessageField[] {
  const fields: MessageField[] = [];
  for (const [name, value] of Object.entries(payload)) {
    if (fields.length >= max) break;
    if (name === "event" || SECRET_NAME.test(name)) continue;
    let text: string;
    if (typeof value === "string") text = clean(value);
    else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
    else if (typeof value === "boolean") text = String(value);
    else continue;
    if (text === "") continue;
    fields.push({ name, value: text.length > 200 ? `${text.slice(0, 199)}…` : text, inline: true });
  }
  return fields;
}

/**
 * The built-in message of a source event: the source and topic as its title, a few top-level
 * fields ({@linkcode sourceFields}), and the payload's own `html_url` or `url` as its link.
 */
function sourceMessage(scope: object): Message {
  const record = scope as Record<string, unknown>;
  const event = record["event"] as { type?: unknown } | undefined;
  const type = typeof event?.type === "string" ? event.type : "";
  const dot = type.indexOf(".");
  const link = httpUrlOrNull(
    typeof record["html_url"] === "string"
      ? record["html_url"]
      : typeof record["url"] === "string"
      ? record["url"]
      : "",
  );
  return {
    title: dot < 0 ? type : `${type.slice(0, dot)}: ${type.slice(dot + 1)}`,
    text: "",
    fields: sourceFields(record),
    link: link === null ? null : { url: link, label: "Open" },
    image: null,
    author: null,
    color: "#9e9ea6",
  };
}

/** The plain-text form of a message: title, text, then one "name: value" line per field. */
export function plainText(message: Message): string {
  const lines = [message.title];
  if (message.text) lines.push(message.text);
  for (const field of message.fields) lines.push(`${field.name}: ${field.value}`);
  if (message.link) lines.push(`${message.link.label}: ${message.link.url}`);
  return lines.filter((l) => l !== "").join("\n");
}

/**
 * The message without the URLs longer than `max` characters (the link, the image, the author's
 * link and icon), for a service that refuses a message holding one: the rest still goes out.
 */
export function withoutLongUrls(message: Message, max: number): Message {
  const fits = (url: string | null | undefined) => url != null && url.length <= max;
  return {
    ...message,
    link: fits(message.link?.url) ? message.link : null,
    image: fits(message.image) ? message.image : null,
    author: message.author && {
      name: message.author.name,
      url: fits(message.author.url) ? message.author.url : null,
      icon: fits(message.author.icon) ? message.author.icon : null,
    },
  };
}

/** Collapses runs of white space on one line; titles and names are single lines. */
function clean(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function httpUrlOrNull(text: string): string | null {
  const value = text.trim();
  if (value === "") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}
