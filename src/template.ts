// Liquid templates (liquidjs), compiled once at load, with the filters messages need and Liquid
// lacks. A missing field renders empty; rendering never throws. liquidjs itself is loaded on
// demand (`loadTemplates()`, about 60 ms): a relay whose config has no templates of its own
// answers webhooks before it has loaded.

import type { Liquid } from "liquidjs";

/** A compiled template: renders a scope to text; never throws. */
export type Template = (scope: object) => string;

/** A compiled `when` condition: true when the payload matches. */
export type Condition = (scope: object) => boolean;

// The loaded library, shared by every relay in the process like the module itself: it is
// configured once, identically, and keeps nothing per relay (its cache is off). Compiled
// messages, which do come from a config, live with that config's Runtime (see compile.ts).
let ENGINE: Liquid | null = null;
let loading: Promise<void> | null = null;

/** Thrown when a template is compiled before {@linkcode loadTemplates} has resolved. */
export class TemplatesNotLoaded extends Error {
  constructor() {
    super("Liquid is not loaded yet: await loadTemplates() first");
    this.name = "TemplatesNotLoaded";
  }
}

/**
 * What a template's compile error says, for a config problem. TemplatesNotLoaded is thrown on:
 * it says nothing about the template, only that Liquid must be loaded first.
 */
export function templateError(error: unknown): string {
  if (error instanceof TemplatesNotLoaded) throw error;
  return (error as Error).message;
}

/** Loads liquidjs once; templates compile after it resolves. */
export function loadTemplates(): Promise<void> {
  loading ??= import("liquidjs").then(({ Liquid }) => {
    ENGINE = createEngine(Liquid);
  }).catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

/** Whether templates can be compiled now. */
export function templatesLoaded(): boolean {
  return ENGINE !== null;
}

function engine(): Liquid {
  if (ENGINE === null) throw new TemplatesNotLoaded();
  return ENGINE;
}

/**
 * Compiles Liquid source. Throws SyntaxError naming the line and column on bad syntax or an
 * unknown filter.
 */
export function compileTemplate(source: string): Template {
  const liquid = engine();
  let parsed: ReturnType<Liquid["parse"]>;
  try {
    parsed = liquid.parse(source);
  } catch (error) {
    throw new SyntaxError(liquidMessage(error));
  }
  return (scope) => {
    try {
      return liquid.renderSync(parsed, scope);
    } catch {
      return "";
    }
  };
}

/**
 * Compiles a Liquid condition such as `order_information.order_revenue > 100 and
 * deal_info.platform == "tiktok"`. Throws SyntaxError on bad syntax.
 */
export function compileCondition(expression: string): Condition {
  if (expression.includes("%}") || expression.includes("{%")) {
    throw new SyntaxError("a condition is an expression, without {% %} tags");
  }
  checkCondition(expression);
  const template = compileTemplate(`{% if ${expression} %}1{% endif %}`);
  return (scope) => template(scope) === "1";
}

const CONDITION_TOKEN = new RegExp(
  [
    String.raw`(?<space>\s+)`,
    String.raw`(?<string>"[^"]*"|'[^']*')`,
    String.raw`(?<range>\(\s*[\w.]+\s*\.\.\s*[\w.]+\s*\))`,
    String.raw`(?<number>-?\d+(?:\.\d+)?(?![\w.]))`,
    String.raw`(?<operator>==|!=|<>|<=|>=|<|>|\bcontains\b)`,
    String.raw`(?<logic>\band\b|\bor\b)`,
    String.raw`(?<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\]|\["[^"]*"\]|\['[^']*'\])*)`,
  ].join("|"),
  "y",
);

/**
 * Checks a condition's grammar, which Liquid itself leaves loose (it renders "a >" as false):
 * values joined by comparison operators, comparisons joined by `and` / `or`.
 */
function checkCondition(expression: string): void {
  CONDITION_TOKEN.lastIndex = 0;
  let expect: "value" | "after-value" | "after-operator" = "value";
  let column = 1;
  while (CONDITION_TOKEN.lastIndex < expression.length) {
    const at = CONDITION_TOKEN.lastIndex;
    column = at + 1;
    const match = CONDITION_TOKEN.exec(expression);
    if (match === null || match.index !== at) {
      throw new SyntaxError(`unexpected "${expression.slice(at, at + 10)}" at column ${column}`);
    }
    const groups = match.groups!;
    if (groups["space"] !== undefined) continue;
    const isValue = groups["string"] !== undefined || groups["range"] !== undefined ||
      groups["number"] !== undefined || groups["path"] !== undefined;
    if (isValue) {
      if (expect === "after-value") {
        throw new SyntaxError(`expected an operator, "and" or "or" before column ${column}`);
      }
      expect = "after-value";
    } else if (groups["operator"] !== undefined) {
      if (expect !== "after-value") {
        throw new SyntaxError(`expected a value before column ${column}`);
      }
      expect = "after-operator";
    } else {
      if (expect !== "after-value") {
        throw new SyntaxError(`expected a value before column ${column}`);
      }
      expect = "value";
    }
  }
  if (expect !== "after-value") {
    throw new SyntaxError(
      `the condition ends where a value is expected (column ${expression.length + 1})`,
    );
  }
}

function liquidMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!;
}

function createEngine(LiquidEngine: typeof Liquid): Liquid {
  const engine = new LiquidEngine({
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    cache: false,
  });
  engine.registerFilter("money", money);
  engine.registerFilter("percent", percent);
  engine.registerFilter("compact", compact);
  engine.registerFilter("unix_date", unixDate);
  engine.registerFilter("relative_time", relativeTime);
  engine.registerFilter("truncate_text", truncateText);
  engine.registerFilter("slack_escape", slackEscape);
  engine.registerFilter("html_escape", htmlEscape);
  engine.registerFilter("markdown_escape", markdownEscape);
  engine.registerFilter("mention_escape", mentionEscape);
  return engine;
}

function toNumber(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return null;
}

/** `1500 | money: "USD"` → "$1,500.00"; an unknown currency code is written after the amount. */
export function money(value: unknown, currency?: unknown): string {
  const amount = toNumber(value);
  if (amount === null) return value == null ? "" : String(value);
  const code = typeof currency === "string" ? currency.trim().toUpperCase() : "";
  if (/^[A-Z]{3}$/.test(code)) {
    try {
      return new Intl.NumberFormat("en-US", { style: "currency", currency: code }).format(amount);
    } catch {
      // Not a currency Intl knows: fall through.
    }
  }
  const plain = new Intl.NumberFormat("en-US", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  })
    .format(amount);
  return code ? `${plain} ${code}` : plain;
}

/** `15 | percent` → "15%"; `0.1 | percent: "fraction"` → "10%". */
export function percent(value: unknown, mode?: unknown): string {
  const number = toNumber(value);
  if (number === null) return value == null ? "" : String(value);
  const scaled = mode === "fraction" ? number * 100 : number;
  return `${new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }).format(scaled)}%`;
}

/** `60000 | compact` → "60K"; `1250000 | compact` → "1.3M". */
export function compact(value: unknown): string {
  const number = toNumber(value);
  if (number === null) return value == null ? "" : String(value);
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 })
    .format(number);
}

function toDate(value: unknown): Date | null {
  const number = toNumber(value);
  if (number !== null) return new Date(number * 1000);
  if (typeof value === "string" && value.trim() !== "") {
    // "YYYY-MM-DD HH:MM:SS" without a zone, as Influencer Hero sends it, is taken as UTC.
    const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$/.test(value)
      ? value.replace(" ", "T") + "Z"
      : value;
    const date = new Date(iso);
    if (!Number.isNaN(date.getTime())) return date;
  }
  return null;
}

/** Unix seconds (number or string) or an ISO date → "2023-08-30 20:26 UTC". */
export function unixDate(value: unknown): string {
  const date = toDate(value);
  if (date === null) return value == null ? "" : String(value);
  return date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** Unix seconds or an ISO date → "3 hours ago" / "in 5 minutes", against `now` (ms). */
export function relativeTime(value: unknown, now?: unknown): string {
  const date = toDate(value);
  if (date === null) return value == null ? "" : String(value);
  const base = toNumber(now) ?? Date.now();
  const seconds = Math.round((date.getTime() - base) / 1000);
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ["year", 31_536_000],
    ["month", 2_592_000],
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
    ["second", 1],
  ];
  const format = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return format.format(Math.trunc(seconds / size), unit);
    }
  }
  return "";
}

/** Cuts text to `length` characters (not UTF-16 units), ending with "…". */
export function truncateText(value: unknown, length?: unknown): string {
  const text = value == null ? "" : String(value);
  const max = toNumber(length) ?? 200;
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join("") + "…";
}

/** Escapes the three characters Slack's mrkdwn requires: `&`, `<`, `>`. */
export function slackEscape(value: unknown): string {
  return String(value ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Escapes text for HTML (email, Telegram's HTML mode). */
export function htmlEscape(value: unknown): string {
  return String(value ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Backslash-escapes Markdown markup (Discord, Mattermost): \ * _ ~ ` | > # [ ] ( ). */
export function markdownEscape(value: unknown): string {
  return String(value ?? "").replace(/([\\*_~`|>#\[\]()])/g, "\\$1");
}

/**
 * Stops `@everyone`, `@channel`, `@here` and `@user` from notifying (Mattermost, Discord) by
 * putting a zero-width space after an `@` that starts a word; e-mail addresses are left alone.
 */
export function mentionEscape(value: unknown): string {
  return String(value ?? "").replace(/(^|[^\p{L}\p{N}_.+-])@(?=[\p{L}\p{N}_])/gu, "$1@\u200b");
}
