// What a digest says: the body its digest event carries (the window, its events, counts per type
// and sums per currency) and the built-in summary made from it, grouped by event type, as a
// neutral message. A route's own message parts (Liquid, with `events`, `counts` and `sums` in
// scope) replace the built-in ones part by part.

import { sourceOf } from "./events.ts";
import { compileMessageParts, type Message, type MessageSources, sourceFields } from "./message.ts";
import { compact, money, percent } from "./template.ts";

/** The event type of a digest: the stored event its one delivery sends. */
export const DIGEST_EVENT = "hero_relay.digest";

/** Sums per currency code ("USD" → 449.97). */
export type Sums = Record<string, number>;

/** The body of a digest event: what its message, and its templates, are made from. */
export interface DigestBody {
  digest: {
    route: string;
    destination: string;
    /** The window as ISO times and ms. */
    start: string;
    end: string;
    start_ms: number;
    end_ms: number;
    timezone: string | null;
    count: number;
    /** The route's `empty` text, for a window without events. */
    empty: string | null;
  };
  /** Events per type. */
  counts: Record<string, number>;
  sums: { revenue: Sums; commission: Sums; payouts: Sums };
  /** Each event's payload with `event` {id, type, received_at}, oldest first. */
  events: Array<Record<string, unknown>>;
}

/** What {@linkcode digestBody} is made from. */
export interface DigestInput {
  route: string;
  destination: string;
  spec: { at: unknown; timezone: string; empty: string | null };
  window: { start: number; end: number };
  items: ReadonlyArray<{ eventId: string; eventType: string; receivedAt: number; body: string }>;
}

/** The body of a window's digest event. */
export function digestBody(input: DigestInput): DigestBody {
  const counts: Record<string, number> = {};
  const sums = { revenue: {} as Sums, commission: {} as Sums, payouts: {} as Sums };
  const events = input.items.map((item) => {
    counts[item.eventType] = (counts[item.eventType] ?? 0) + 1;
    const payload = parse(item.body);
    if (item.eventType === "new_influencer_order") {
      const o = record(payload["order_information"]);
      add(sums.revenue, o["order_currency"], o["order_revenue"]);
      add(sums.commission, o["account_currency"] ?? o["order_currency"], o["paid_commission"]);
    } else if (item.eventType === "new_payout_request") {
      const p = record(payload["payout_information"]);
      add(sums.payouts, p["payout_currency"], p["payout_amount"]);
    }
    return {
      ...payload,
      event: {
        id: item.eventId,
        type: item.eventType,
        received_at: Math.floor(item.receivedAt / 1000),
      },
    };
  });
  return {
    digest: {
      route: input.route,
      destination: input.destination,
      start: new Date(input.window.start).toISOString(),
      end: new Date(input.window.end).toISOString(),
      start_ms: input.window.start,
      end_ms: input.window.end,
      timezone: input.spec.at === null ? null : input.spec.timezone,
      count: input.items.length,
      empty: input.spec.empty,
    },
    counts,
    sums,
    events,
  };
}

function add(sums: Sums, currency: unknown, amount: unknown): void {
  const value = typeof amount === "number" ? amount : Number(amount);
  if (amount === null || amount === undefined || !Number.isFinite(value)) return;
  const code = typeof currency === "string" && currency.trim() !== ""
    ? currency.trim().toUpperCase()
    : "?";
  sums[code] = Math.round(((sums[code] ?? 0) + value) * 100) / 100;
}

/** Lines shown per type before "… and N more". */
const LINES = 10;

/** One section per event type: its heading and how each event is told. */
const SECTIONS: Record<string, { noun: [string, string]; line?: (e: Rec) => string }> = {
  new_influencer_order: { noun: ["order", "orders"] },
  update_commission: {
    noun: ["commission change", "commission changes"],
    line: (e) => {
      const c = record(e["commission_information"]);
      const from = c["old_commission_perc"] == null ? "none" : percent(c["old_commission_perc"]);
      return `${who(e)}: ${from} → ${percent(c["new_commission_perc"])}`;
    },
  },
  update_discount_code: {
    noun: ["discount code change", "discount code changes"],
    line: (e) => {
      const c = record(e["code_information"]);
      const code = (name: unknown, perc: unknown) =>
        name == null || name === ""
          ? "none"
          : `${text(name)}${perc == null ? "" : ` (${percent(perc)})`}`;
      return `${who(e)}: ${code(c["old_discount_code"], c["old_discount_perc"])} → ${
        code(c["new_discount_code"], c["new_discount_perc"])
      }`;
    },
  },
  update_custom_link: {
    noun: ["affiliate link change", "affiliate link changes"],
    line: (e) => {
      const c = record(e["custom_link_information"]);
      return `${who(e)}: ${text(c["old_custom_link"]) || "none"} → ${
        text(c["new_custom_link"]) || "none"
      }`;
    },
  },
  new_payout_request: { noun: ["payout request", "payout requests"] },
  new_influencer_reply: {
    noun: ["reply", "replies"],
    line: (e) => `${who(e)}: ${text(record(e["email_information"])["email_subject"])}`,
  },
  new_max_bid: {
    noun: ["rate request", "rate requests"],
    line: (e) => `${who(e)}: ${short(record(e["max_bid_information"])["max_bid_comment"])}`,
  },
  new_email_sent: {
    noun: ["email sent", "emails sent"],
    line: (e) => `${who(e)}: ${text(record(e["email_information"])["email_subject"])}`,
  },
  product_sent: {
    noun: ["product sent", "products sent"],
    line: (e) => {
      const items = record(e["send_product_info"])["line_items"];
      const list = Array.isArray(items)
        ? items.map((i) => `${text(record(i)["quantity"])} × ${text(record(i)["variant_name"])}`)
        : [];
      return `${who(e)}: ${list.join(", ")}`;
    },
  },
  new_influencer_post: {
    noun: ["new post", "new posts"],
    line: (e) => {
      const p = record(e["post_information"]);
      return `${who(e)}: ${text(p["post_url"]) || short(p["caption"])}`;
    },
  },
  media_kpi_updated: {
    noun: ["KPI update", "KPI updates"],
    line: (e) => {
      const m = record(e["media_information"]);
      const figures = ["views", "likes", "comments"].filter((k) => m[k] != null)
        .map((k) => `${compact(m[k])} ${k}`);
      return `${who(e)}: ${figures.join(" · ")}${m["post_url"] ? ` (${text(m["post_url"])})` : ""}`;
    },
  },
};

type Rec = Record<string, unknown>;

/** The built-in digest message of a digest event's body. */
export function builtInDigestMessage(scope: object): Message {
  const body = scope as Partial<DigestBody>;
  const digest = body.digest;
  const events = Array.isArray(body.events) ? body.events : [];
  const counts = body.counts ?? {};
  const sums = body.sums ?? { revenue: {}, commission: {}, payouts: {} };
  const message: Message = {
    title: "",
    text: "",
    fields: [],
    link: null,
    image: null,
    author: null,
    color: "#4a154b",
  };
  const span = digest ? windowLabel(digest) : "";
  if (events.length === 0) {
    message.title = `Digest${span ? ` ${span}` : ""}: no events`;
    message.text = digest?.empty ?? "";
    return message;
  }
  const types = Object.keys(counts).sort((a, b) => order(a) - order(b));
  const parts = types.map((type) => countOf(type, counts[type]!));
  message.title = `Digest${span ? ` ${span}` : ""}: ${parts.join(", ")}`;
  const sections: string[] = [];
  for (const type of types) {
    const of = events.filter((e) => record(e["event"])["type"] === type);
    const lines: string[] = [];
    if (type === "new_influencer_order") {
      lines.push(`Revenue: ${sumText(sums.revenue)}`);
      if (Object.keys(sums.commission).length > 0) {
        lines.push(`Commission: ${sumText(sums.commission)}`);
      }
      const top = topInfluencers(of);
      if (top.length > 0) lines.push(`Top influencers: ${top.join("; ")}`);
      message.fields.push({ name: "Orders", value: String(of.length), inline: true });
      message.fields.push({ name: "Revenue", value: sumText(sums.revenue), inline: true });
      if (Object.keys(sums.commission).length > 0) {
        message.fields.push({ name: "Commission", value: sumText(sums.commission), inline: true });
      }
    } else if (type === "new_payout_request") {
      lines.push(`Total: ${sumText(sums.payouts)}`);
      lines.push(...limited(of.map((e) => {
        const p = record(e["payout_information"]);
        return `${who(e)}: ${money(p["payout_amount"], p["payout_currency"])}`;
      })));
      message.fields.push({ name: "Payout requests", value: String(of.length), inline: true });
      message.fields.push({ name: "Payouts", value: sumText(sums.payouts), inline: true });
    } else {
      const line = SECTIONS[type]?.line ??
        (sourceOf(type) !== null ? sourceLine : (e: Rec) => who(e));
      lines.push(...limited(of.map(line)));
    }
    const plural = SECTIONS[type]?.noun[1] ?? `${type} events`;
    sections.push(
      `${plural[0]!.toUpperCase()}${plural.slice(1)} (${of.length})\n${lines.join("\n")}`,
    );
  }
  message.text = sections.join("\n\n");
  return message;
}

/**
 * The message of a digest route: the built-in summary with the route's own parts (Liquid, with
 * the digest body in scope) in place of the built-in ones. Throws SyntaxError for a bad part.
 */
export function compileDigestMessage(overrides: MessageSources = {}): (scope: object) => Message {
  const parts = compileMessageParts(overrides);
  return (scope) => parts(scope, builtInDigestMessage(scope));
}

function countOf(type: string, n: number): string {
  const noun = SECTIONS[type]?.noun ?? [`${type} event`, `${type} events`];
  return `${n} ${n === 1 ? noun[0] : noun[1]}`;
}

function order(type: string): number {
  const i = Object.keys(SECTIONS).indexOf(type);
  return i < 0 ? 1000 : i;
}

function limited(lines: string[]): string[] {
  if (lines.length <= LINES) return lines;
  return [...lines.slice(0, LINES), `… and ${lines.length - LINES} more`];
}

/** Influencers with the most revenue first: "Dwayne Johnson: 3 orders, $449.97". */
function topInfluencers(orders: Rec[]): string[] {
  const by = new Map<string, { n: number; revenue: Sums }>();
  for (const e of orders) {
    const name = who(e);
    const entry = by.get(name) ?? { n: 0, revenue: {} };
    const o = record(e["order_information"]);
    add(entry.revenue, o["order_currency"], o["order_revenue"]);
    entry.n++;
    by.set(name, entry);
  }
  const total = (s: Sums) => Object.values(s).reduce((a, b) => a + b, 0);
  return [...by].sort((a, b) => total(b[1].revenue) - total(a[1].revenue) || b[1].n - a[1].n)
    .slice(0, 5).map(([name, { n, revenue }]) =>
      `${name} (${n} ${n === 1 ? "order" : "orders"}, ${sumText(revenue)})`
    );
}

/** "$449.97 · €20.00" */
function sumText(sums: Sums): string {
  const codes = Object.keys(sums).sort();
  if (codes.length === 0) return "none";
  return codes.map((code) => money(sums[code], code === "?" ? "" : code)).join(" · ");
}

/** A source event told in one line: its first few top-level fields ("name: #1001 · total: 59"). */
function sourceLine(e: Rec): string {
  const fields = sourceFields(e, 3);
  return fields.length === 0
    ? String(record(e["event"])["id"] ?? "")
    : fields.map((f) => short(`${f.name}: ${f.value}`)).join(" · ");
}

/** "Dwayne Johnson (@therock)", the handle, the name, or "An influencer". */
function who(e: Rec): string {
  const info = record(e["deal_info"]);
  const name = text(info["full_name"]);
  const handle = text(info["deal_name"]);
  if (name && handle) return `${name} (@${handle})`;
  if (handle) return `@${handle}`;
  return name || "An influencer";
}

/** "from 2026-01-16 09:00 to 2026-01-17 09:00 (Europe/Berlin)" in the window's zone. */
function windowLabel(digest: DigestBody["digest"]): string {
  const zone = digest.timezone ?? "UTC";
  const format = (ms: number) => {
    try {
      return new Intl.DateTimeFormat("sv-SE", {
        timeZone: zone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
      }).format(ms);
    } catch {
      return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
    }
  };
  if (!Number.isFinite(digest.start_ms) || !Number.isFinite(digest.end_ms)) return "";
  return `${format(digest.start_ms)} – ${format(digest.end_ms)} (${zone})`;
}

function short(value: unknown): string {
  const t = text(value).replace(/\s+/g, " ").trim();
  return t.length > 120 ? `${t.slice(0, 119)}…` : t;
}

function text(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

function record(value: unknown): Rec {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Rec : {};
}

function parse(body: string): Rec {
  try {
    return record(JSON.parse(body));
  } catch {
    return {};
  }
}
