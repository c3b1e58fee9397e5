// What Influencer Hero sends: the known event types, how to tell them apart by shape, and the
// key that orders one collaboration's events.

/** A JSON object as received from Influencer Hero. */
export type Payload = Record<string, unknown>;

/** A known Influencer Hero event type. */
export interface EventType {
  /** The `webhook_type` key, also the last segment of the relay's URL for it. */
  name: string;
  /** One line for humans. */
  summary: string;
  /** The object that identifies the type in a payload, if the type has a public schema. */
  marker?: string;
}

/** The 11 event types of Influencer Hero's webhook reference, in its order. */
export const EVENT_TYPES: readonly EventType[] = [
  {
    name: "update_commission",
    summary: "The commission percentage of a collaboration changed",
    marker: "commission_information",
  },
  {
    name: "update_discount_code",
    summary: "The discount code of a collaboration was assigned or changed",
    marker: "code_information",
  },
  {
    name: "update_custom_link",
    summary: "An affiliate link was assigned, changed or deleted",
    marker: "custom_link_information",
  },
  {
    name: "new_payout_request",
    summary: "An influencer requested a payout",
    marker: "payout_information",
  },
  {
    name: "new_max_bid",
    summary: "An influencer sent their rate, or a max bid was requested",
    marker: "max_bid_information",
  },
  {
    name: "product_sent",
    summary: "A product was sent to an influencer",
    marker: "send_product_info",
  },
  {
    name: "new_email_sent",
    summary: "An email was sent to a deal contact",
    marker: "email_information",
  },
  {
    name: "new_influencer_reply",
    summary: "An influencer replied to an email",
    marker: "email_information",
  },
  {
    name: "new_influencer_order",
    summary: "An order was attributed to an influencer",
    marker: "order_information",
  },
  { name: "new_influencer_post", summary: "A new post or story of an influencer was detected" },
  { name: "media_kpi_updated", summary: "Views, likes or comments of a tracked post refreshed" },
];

/** Names of the known event types. */
export const KNOWN_EVENT_NAMES: ReadonlySet<string> = new Set(EVENT_TYPES.map((t) => t.name));

/** The type recorded for a payload on the catch-all URL whose shape matches no known type. */
export const UNKNOWN_EVENT = "unknown";

const EVENT_NAME = /^[a-z0-9_]{1,64}$/;

/** Whether `name` may be an event type: lowercase letters, digits and underscores. */
export function isEventName(name: string): boolean {
  return EVENT_NAME.test(name);
}

/** What a source event's type looks like: `<source>.<topic>`, such as "shop.orders_create". */
const SOURCE_EVENT = /^([a-z0-9_-]{1,64})\.([a-z0-9_]{1,64})$/;

/** The topic of a source event whose request names none. */
export const UNKNOWN_TOPIC = "unknown";

/**
 * The event type of a source's event: `<source>.<topic>`, the topic lowercased with every
 * character but letters, digits and "_" ("/" and "." included) turned into "_", at most 64 of
 * them ("orders/create" → "orders_create"). A longer topic keeps its first 55 and a hash of the
 * whole, so two long topics that start alike stay two types.
 */
export function sourceEventType(source: string, topic: string | null): string {
  const name = (topic ?? "").toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (name === "") return `${source}.${UNKNOWN_TOPIC}`;
  return `${source}.${name.length <= 64 ? name : `${name.slice(0, 55)}_${fnv1a(name)}`}`;
}

/** The 32-bit FNV-1a hash of a text's UTF-16 units, as 8 hex digits (not a secret's hash). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** The source name the relay's own events use ("hero_relay.digest"): no source may take it. */
export const RESERVED_SOURCE = "hero_relay";

/** The source of a source event's type ("shop" of "shop.orders_create"), else null. */
export function sourceOf(type: string): string | null {
  const source = SOURCE_EVENT.exec(type)?.[1];
  return source === undefined || source === RESERVED_SOURCE ? null : source;
}

/**
 * Tells the event type from the payload's shape, for the catch-all URL. Returns
 * {@linkcode UNKNOWN_EVENT} when no known marker object is present.
 */
export function detectEventType(payload: Payload): string {
  const email = payload["email_information"];
  if (isObject(email)) {
    if ("from_addr" in email || "received_time" in email) return "new_influencer_reply";
    return "new_email_sent";
  }
  for (const type of EVENT_TYPES) {
    if (type.marker !== undefined && isObject(payload[type.marker])) return type.name;
  }
  return UNKNOWN_EVENT;
}

/**
 * The key whose events are delivered in order to each destination: the collaboration when the
 * payload names one, otherwise the deal. Null when it names neither.
 */
export function orderKey(payload: Payload): string | null {
  for (const field of ["collab_id", "deal_id"]) {
    const value = payload[field];
    if (typeof value === "string" && value !== "") return `${field}:${value}`;
    if (typeof value === "number") return `${field}:${value}`;
  }
  return null;
}

/** What the console searches events by: the deal, the collaboration and the influencer's name. */
export interface Facets {
  dealId: string | null;
  collabId: string | null;
  /** `deal_info.full_name`, as sent. */
  influencer: string | null;
}

/** The longest facet kept; a longer value is cut there (it is only searched, never shown whole). */
const MAX_FACET = 200;

/** The payload's facets: `deal_id`, `collab_id` (strings or numbers) and `deal_info.full_name`. */
export function eventFacets(payload: Payload): Facets {
  const info = payload["deal_info"];
  return {
    dealId: facet(payload["deal_id"]),
    collabId: facet(payload["collab_id"]),
    influencer: isObject(info) && typeof info["full_name"] === "string"
      ? facet(info["full_name"])
      : null,
  };
}

function facet(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value !== "string" || value.trim() === "") return null;
  return value.slice(0, MAX_FACET);
}

/**
 * Signed `webhook_timestamp` values above this are milliseconds, below it seconds: 1e11 seconds
 * is the year 5138, 1e11 milliseconds is March 1973, so neither reading of a real time is near it.
 */
const MS_FROM = 1e11;

const DECIMAL = /^\s*[0-9]{1,16}(\.[0-9]{1,9})?\s*$/;

/**
 * The signed `webhook_timestamp` in milliseconds, when the payload carries a readable one: Unix
 * seconds or milliseconds ({@linkcode MS_FROM} tells them apart), as a number or a decimal
 * string, whole or fractional.
 */
export function signedTimestamp(payload: Payload): number | null {
  const value = payload["webhook_timestamp"];
  let number: number;
  if (typeof value === "string" && DECIMAL.test(value)) number = Number(value);
  else if (typeof value === "number") number = value;
  else return null;
  if (!Number.isFinite(number) || number < 0) return null;
  return number > MS_FROM ? number : number * 1000;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The payload without the fields at `paths` (each a list of keys; a list met on the way has the
 * rest of the path removed from each of its items). Copies only what it changes.
 */
export function omitPaths(payload: Payload, paths: readonly (readonly string[])[]): Payload {
  let out: unknown = payload;
  for (const path of paths) out = without(out, path);
  return out as Payload;
}

function without(value: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return value;
  if (Array.isArray(value)) return value.map((item) => without(item, path));
  if (typeof value !== "object" || value === null) return value;
  const [key, ...rest] = path as [string, ...string[]];
  if (!Object.hasOwn(value, key)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (rest.length === 0) delete copy[key];
  else copy[key] = without(copy[key], rest);
  return copy;
}
