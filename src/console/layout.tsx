// The frame every console page shares (head, skip link, navigation, flash message) and the small
// pieces pages are built from. Preact escapes every value, so nothing here builds HTML by hand.

import type { ComponentChildren, JSX } from "preact";
import { renderToString } from "preact-render-to-string";

/** The navigation's entries, by path. */
const NAV: ReadonlyArray<{ href: string; label: string }> = [
  { href: "/", label: "Overview" },
  { href: "/ui/events", label: "Events" },
  { href: "/ui/deliveries", label: "Deliveries" },
  { href: "/ui/destinations", label: "Destinations" },
  { href: "/ui/preview", label: "Preview" },
  { href: "/ui/config", label: "Config" },
];

/** What a page says about the signed-in browser. */
export interface PageContext {
  /** The session's CSRF token, put into every form; null on the sign-in page. */
  csrf: string | null;
  flash: { text: string; kind: "ok" | "error" } | null;
  /** The clock (ms), for "ago" texts. */
  now: number;
}

/** A whole page: `<!DOCTYPE html>` and the rendered tree. */
export function renderPage(node: JSX.Element): string {
  return "<!DOCTYPE html>" + renderToString(node);
}

/** The frame of a page: its one `<h1>` is the title. */
export function Layout(props: {
  title: string;
  /** The navigation entry to mark as the current page. */
  current: string | null;
  context: PageContext;
  children: ComponentChildren;
  /** Seconds after which the script may reload the page's live part. */
  refresh?: number;
}): JSX.Element {
  const { context } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${props.title} · hero-relay`}</title>
        <link rel="stylesheet" href="/ui/assets/console.css" />
        <script src="/ui/assets/console.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/">hero-relay</a>
          {context.csrf !== null && (
            <>
              <nav aria-label="Console">
                <ul>
                  {NAV.map((item) => (
                    <li key={item.href}>
                      <a
                        href={item.href}
                        aria-current={item.href === props.current ? "page" : undefined}
                      >
                        {item.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
              <form method="post" action="/ui/logout">
                <Csrf token={context.csrf} />
                <button type="submit">Sign out</button>
              </form>
            </>
          )}
        </header>
        <main id="main" tabindex={-1} data-refresh={props.refresh}>
          <h1>{props.title}</h1>
          {context.flash !== null && (
            <p
              class={`flash ${context.flash.kind}`}
              role={context.flash.kind === "error" ? "alert" : "status"}
            >
              {context.flash.text}
            </p>
          )}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** The hidden CSRF field every state-changing form carries. */
export function Csrf(props: { token: string }): JSX.Element {
  return <input type="hidden" name="csrf" value={props.token} />;
}

/** A form that POSTs one action, with its CSRF token and an optional confirmation. */
export function ActionForm(props: {
  action: string;
  csrf: string;
  label: string;
  /** Extra hidden fields. */
  fields?: Record<string, string>;
  confirm?: string;
  kind?: "primary" | "danger";
  /** An accessible name when the visible label alone is ambiguous in a list. */
  ariaLabel?: string;
}): JSX.Element {
  return (
    <form method="post" action={props.action} class="inline" data-confirm={props.confirm}>
      <Csrf token={props.csrf} />
      {Object.entries(props.fields ?? {}).map(([name, value]) => (
        <input key={name} type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={props.kind} aria-label={props.ariaLabel}>{props.label}</button>
    </form>
  );
}

/** A table that scrolls sideways on narrow screens, reachable by keyboard. */
export function TableWrap(props: { label: string; children: ComponentChildren }): JSX.Element {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabindex={0}>
      {props.children}
    </div>
  );
}

/** A moment as "2025-01-16 09:15:03 UTC", in a `<time>` element. */
export function Time(props: { at: number | null; fallback?: string }): JSX.Element {
  if (props.at === null) return <span class="muted">{props.fallback ?? "never"}</span>;
  const iso = new Date(props.at).toISOString();
  return <time datetime={iso}>{formatTime(props.at)}</time>;
}

/** A moment as "2025-01-16 09:15:03 UTC". */
export function formatTime(at: number): string {
  return new Date(at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

/** A span of time as "350 ms", "12 s", "5 min", "3 h", "2 d". */
export function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${Math.round(ms / 1000)} s`;
  if (abs < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (abs < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** A delivery status or outcome as a coloured badge (its text says it; colour only helps). */
export function StatusBadge(props: { status: string }): JSX.Element {
  const kind = BADGE_KIND[props.status] ?? "info";
  return <span class={`badge ${kind}`}>{props.status}</span>;
}

const BADGE_KIND: Record<string, string> = {
  delivered: "ok",
  pending: "info",
  replay: "info",
  retry: "warn",
  failed: "warn",
  abandoned: "warn",
  dead: "bad",
  disabled: "bad",
};
