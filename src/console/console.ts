// The operator console: web pages on the admin listener at `/` and under `/ui/`, for people who
// want to look rather than query. Sign-in with the admin token gives a session cookie; every POST
// carries the session's CSRF token and must come from the console's own origin; every answer has
// a strict Content-Security-Policy. Requests with an Authorization header, and every other path,
// are the JSON API's: `handle` answers null for them.

import type { JSX } from "preact";
import { ReachableOrigins } from "../http_client.ts";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.ts";
import { type PageContext, renderPage } from "./layout.tsx";
import type { ConsoleOptions, SendTest } from "./options.ts";
import { configPage } from "./pages/config.tsx";
import { deadDeliveries, deliveriesPage, replayDeadPage } from "./pages/deliveries.tsx";
import { destinationsPage } from "./pages/destinations.tsx";
import { eventDeliveries, eventPage } from "./pages/event.tsx";
import { eventsPage } from "./pages/events.tsx";
import { loginPage, problemPage } from "./pages/login.tsx";
import { overviewPage } from "./pages/overview.tsx";
import { previewPage, resolvePreview } from "./pages/preview.tsx";
import { testSender } from "./preview.ts";
import {
  FailureLimit,
  type PreviewInput,
  sameText,
  type Session,
  SESSION_LIFETIME_MS,
  Sessions,
  tokenMatcher,
} from "./sessions.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "hero_relay_session";

/** The policy every console answer carries: scripts and styles from the console only. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; " +
  "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The largest form body accepted (a pasted payload included). */
const MAX_FORM_BYTES = 1_048_576;

/** Wrong tokens allowed per minute before sign-in waits. */
const SIGN_IN_FAILURES_PER_MINUTE = 10;

/** The console of one admin server. */
export interface Console {
  /** The answer to a console request, or null when the request is the JSON API's. */
  handle(request: Request): Promise<Response | null>;
  /** Replaces the token (on reload) and ends every session. */
  setToken(token: string): Promise<void>;
  /** Ends every session and aborts test sends in flight. */
  close(): void;
}

/** A request the console refuses, answered with a page that says why. */
class ConsoleError extends Error {
  status: number;
  title: string;
  headers: Record<string, string>;

  constructor(
    status: number,
    title: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ConsoleError";
    this.status = status;
    this.title = title;
    this.headers = headers;
  }
}

/** Whether a path is the console's rather than the JSON API's. */
export function isConsolePath(pathname: string): boolean {
  return pathname === "/" || pathname === "/ui" || pathname.startsWith("/ui/");
}

/** Creates the console for an admin server with its token. */
export async function createConsole(token: string, options: ConsoleOptions): Promise<Console> {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  let matches = await tokenMatcher(token);
  const sessions = new Sessions({
    lifetimeMs: options.sessionLifetimeMs ?? SESSION_LIFETIME_MS,
    now,
  });
  const failures = new FailureLimit({ limit: SIGN_IN_FAILURES_PER_MINUTE, windowMs: 60_000, now });
  const abort = new AbortController();
  const sendTest: SendTest = options.sendTest ??
    testSender(options.runtime, { origins: new ReachableOrigins(), signal: abort.signal, now });

  const contextOf = (session: Session | null): PageContext => {
    const flash = session?.flash ?? null;
    if (session) session.flash = null;
    return { csrf: session?.csrf ?? null, flash, now: now() };
  };

  async function route(request: Request, url: URL, segments: string[]): Promise<Response> {
    const method = request.method === "HEAD" ? "GET" : request.method;
    const [ui, head, id] = segments;
    if (ui === "ui" && head === "assets" && segments.length === 3) {
      allow(method, ["GET"]);
      if (id === "console.css") return asset(CONSOLE_CSS, "text/css; charset=utf-8");
      if (id === "console.js") return asset(CONSOLE_JS, "text/javascript; charset=utf-8");
      throw new ConsoleError(404, "Not found", "There is no such file.");
    }
    const session = sessions.get(cookieOf(request, SESSION_COOKIE));
    if (ui === "ui" && head === "login" && segments.length === 2) {
      allow(method, ["GET", "POST"]);
      if (method === "POST") return await signIn(request, url);
      if (session) return redirect(localPath(url.searchParams.get("next")) ?? "/");
      const notice = url.searchParams.has("expired")
        ? "Your session has ended. Sign in again."
        : url.searchParams.has("signed_out")
        ? "You are signed out."
        : null;
      return page(
        200,
        loginPage(contextOf(null), {
          error: null,
          notice,
          next: localPath(url.searchParams.get("next")) ?? "/",
        }),
      );
    }
    if (session === null) {
      await request.body?.cancel();
      const next = new URLSearchParams();
      if (method === "GET") next.set("next", url.pathname + url.search);
      if (cookieOf(request, SESSION_COOKIE) !== null) next.set("expired", "1");
      return redirect(`/ui/login${next.size > 0 ? `?${next}` : ""}`);
    }
    if (method === "POST") {
      const form = await formOf(request, url);
      if (!sameText(form.get("csrf") ?? "", session.csrf)) {
        throw new ConsoleError(
          403,
          "Refused",
          "The form did not carry this session's token. Reload the page and try again.",
        );
      }
      return await act(session, segments, form);
    }
    allow(method, ["GET"]);
    const context = contextOf(session);
    if (segments.length === 0) return page(200, await overviewPage(options, context));
    if (ui !== "ui") throw new ConsoleError(404, "Not found", "There is no such page.");
    if (head === "events" && segments.length === 2) {
      const { page: element, status } = await eventsPage(options, context, url);
      return page(status, element);
    }
    if (head === "events" && segments.length === 3) {
      const element = await eventPage(options, context, id!);
      if (element === null) {
        throw new ConsoleError(404, "No such event", `There is no event "${id}".`);
      }
      return page(200, element);
    }
    if (head === "deliveries" && segments.length === 2) {
      const { page: element, status } = await deliveriesPage(options, context, url);
      return page(status, element);
    }
    if (head === "deliveries" && id === "replay-dead" && segments.length === 3) {
      return page(200, await replayDeadPage(options, context, url));
    }
    if (head === "destinations" && segments.length === 2) {
      return page(200, await destinationsPage(options, context));
    }
    if (head === "preview" && segments.length === 2) {
      return page(200, await previewPage(options, context, session.preview));
    }
    if (head === "config" && segments.length === 2) {
      return page(200, await configPage(options, context));
    }
    if (postOnly(segments)) {
      throw new ConsoleError(405, "Not allowed", "Use the page's button.", { allow: "POST" });
    }
    throw new ConsoleError(404, "Not found", "There is no such page.");
  }

  /** A state-changing request, its CSRF token checked; answers with a redirect and a flash. */
  async function act(session: Session, segments: string[], form: URLSearchParams) {
    const [, head, id, action] = segments;
    const flash = (text: string, kind: "ok" | "error" = "ok") => session.flash = { text, kind };
    if (head === "logout" && segments.length === 2) {
      sessions.delete(session.id);
      log.info("console sign-out");
      return redirect("/ui/login?signed_out=1", { "set-cookie": clearCookie(SESSION_COOKIE) });
    }
    if (head === "deliveries" && action === "replay" && segments.length === 4) {
      const back = localPath(form.get("back")) ?? "/ui/deliveries";
      const found = await store.getDelivery(id!);
      if (found === null) {
        flash(`There is no delivery "${id}".`, "error");
        return redirect(back);
      }
      const replayed = await store.replay([id!], now());
      if (replayed.length === 0) {
        flash("The delivery is being attempted right now; try again shortly.", "error");
      } else {
        options.replayed();
        log.info("console replay", { deliveries: 1, destination: found.delivery.destination });
        flash(`The delivery to ${found.delivery.destination} is due again and will be sent now.`);
      }
      return redirect(back);
    }
    if (head === "events" && action === "replay" && segments.length === 4) {
      const event = await store.getEvent(id!);
      if (event === null) {
        throw new ConsoleError(404, "No such event", `There is no event "${id}".`);
      }
      const ids = (await eventDeliveries(store, event)).map((d) => d.id);
      const replayed = ids.length === 0 ? [] : await store.replay(ids, now());
      if (replayed.length > 0) options.replayed();
      log.info("console replay", { deliveries: replayed.length, event: event.id });
      flash(
        replayed.length === ids.length
          ? `All ${ids.length} of the event's deliveries are due again.`
          : `${replayed.length} of ${ids.length} deliveries are due again; the others are being ` +
            "attempted right now.",
        replayed.length === ids.length ? "ok" : "error",
      );
      return redirect(`/ui/events/${encodeURIComponent(event.id)}`);
    }
    if (head === "deliveries" && id === "replay-dead" && segments.length === 3) {
      const destination = form.get("destination")?.trim() || undefined;
      const ids = await deadDeliveries(options, destination);
      const replayed = ids.length === 0 ? [] : await store.replay(ids, now());
      if (replayed.length > 0) options.replayed();
      log.info("console replay", { deliveries: replayed.length, destination: destination ?? null });
      flash(
        `${replayed.length} dead ${
          replayed.length === 1 ? "delivery is" : "deliveries are"
        } due again.`,
      );
      const next = new URLSearchParams();
      if (destination !== undefined) next.set("destination", destination);
      return redirect(`/ui/deliveries${next.size > 0 ? `?${next}` : ""}`);
    }
    if (head === "destinations" && segments.length === 4) {
      const name = id!;
      if (!options.runtime().destinations.has(name)) {
        throw new ConsoleError(404, "No such destination", `There is no destination "${name}".`);
      }
      if (action === "enable") {
        const changed = await store.setDisabled(name, null, now());
        if (changed) await options.enabled();
        log.info("destination enabled in the console", { destination: name, changed });
        flash(changed ? `${name} is enabled again.` : `${name} was not disabled.`);
      } else if (action === "pause" || action === "resume") {
        const changed = await store.setPaused(name, action === "pause", now());
        if (changed) await options.paused();
        log.info(`destination ${action === "pause" ? "paused" : "resumed"} in the console`, {
          destination: name,
          changed,
        });
        flash(
          action === "pause"
            ? changed
              ? `${name} is paused: nothing is sent to it until it is resumed.`
              : `${name} was already paused.`
            : changed
            ? `${name} is resumed.`
            : `${name} was not paused.`,
        );
      } else {
        throw new ConsoleError(404, "Not found", "There is no such action.");
      }
      return redirect("/ui/destinations");
    }
    if (head === "preview" && segments.length === 2) {
      session.preview = previewInputOf(form);
      return redirect("/ui/preview");
    }
    if (head === "preview" && id === "send" && segments.length === 3) {
      const name = form.get("destination") ?? "";
      const input = session.preview;
      if (input === null) {
        flash("Preview an event first, then send it.", "error");
        return redirect("/ui/preview");
      }
      if (options.runtime().destinations.get(name)?.enabled !== true) {
        flash(`There is no enabled destination "${name}".`, "error");
        return redirect("/ui/preview");
      }
      const resolved = await resolvePreview(options, input, now());
      if (!resolved.ok) {
        flash(resolved.problem, "error");
        return redirect("/ui/preview");
      }
      const outcome = await sendTest(name, resolved.event.type, resolved.payload);
      const status = outcome.httpStatus === null ? "" : ` (HTTP ${outcome.httpStatus})`;
      log.info("console test sent", {
        destination: name,
        outcome: outcome.kind,
        status: outcome.httpStatus,
      });
      if (outcome.kind === "delivered") flash(`Test sent to ${name}: delivered${status}.`);
      else {
        const kind = outcome.kind === "retry"
          ? "not delivered, worth retrying"
          : outcome.kind === "gone"
          ? "the service says the destination is gone"
          : "refused";
        flash(
          `Test to ${name}: ${kind}${status}: ${options.redactor.redact(outcome.error)}`,
          "error",
        );
      }
      return redirect("/ui/preview");
    }
    throw new ConsoleError(405, "Not allowed", "This page takes no form.", { allow: "GET, HEAD" });
  }

  async function signIn(request: Request, url: URL): Promise<Response> {
    const form = await formOf(request, url);
    const next = localPath(form.get("next")) ?? "/";
    if (failures.blocked()) {
      log.warn("console sign-in refused: too many wrong tokens in the last minute");
      return page(
        429,
        loginPage(contextOf(null), {
          error: "Too many wrong tokens in the last minute. Wait a minute and try again.",
          notice: null,
          next,
        }),
        { "retry-after": "60" },
      );
    }
    const presented = form.get("token") ?? "";
    if (!(await matches(presented)) || presented === "") {
      failures.fail();
      log.warn("console sign-in refused: wrong token");
      return page(
        401,
        loginPage(contextOf(null), {
          error: "That is not the admin token.",
          notice: null,
          next,
        }),
      );
    }
    const session = sessions.create();
    log.info("console sign-in");
    return redirect(next, {
      "set-cookie": sessionCookie(session.id, sessions.maxAgeSeconds, isSecure(request, url)),
    });
  }

  async function handle(request: Request): Promise<Response | null> {
    const url = new URL(request.url);
    if (!isConsolePath(url.pathname) || request.headers.has("authorization")) return null;
    const started = performance.now();
    const segments = url.pathname.split("/").filter((s) => s !== "").map(decodeSegment);
    let response: Response;
    try {
      if (request.method === "POST" && !sameOrigin(request, url)) {
        throw new ConsoleError(
          403,
          "Refused",
          "The request did not come from this console's own pages.",
        );
      }
      response = await route(request, url, segments);
    } catch (error) {
      const known = error instanceof ConsoleError;
      if (!known) log.error("console request failed", { error: (error as Error)?.name });
      const session = sessions.get(cookieOf(request, SESSION_COOKIE));
      const context = { csrf: session?.csrf ?? null, flash: null, now: now() };
      response = known
        ? page(error.status, problemPage(context, error.title, error.message), error.headers)
        : page(
          500,
          problemPage(
            context,
            "Something went wrong",
            "The console could not answer. The relay's log says more.",
          ),
        );
    }
    if (request.method === "HEAD") response = new Response(null, response);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
    log.info("console request", {
      method: request.method,
      path: pathLabel(segments),
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return response;
  }

  return {
    handle,
    async setToken(next: string) {
      matches = await tokenMatcher(next);
      sessions.clear();
    },
    close() {
      sessions.clear();
      abort.abort();
    },
  };
}

/** Headers on every console answer. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  // Not no-referrer: with it, Chromium sends "Origin: null" on the console's own form posts,
  // which the origin check must refuse. same-origin keeps URLs (ids) from other sites all the same.
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

function page(
  status: number,
  element: JSX.Element,
  headers: Record<string, string> = {},
): Response {
  return new Response(renderPage(element), {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

function asset(text: string, type: string): Response {
  return new Response(text, { headers: { "content-type": type, "cache-control": "no-cache" } });
}

function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, {
    status: 303,
    headers: { location, "cache-control": "no-store", ...headers },
  });
}

function allow(method: string, allowed: readonly string[]): void {
  if (!allowed.includes(method)) {
    throw new ConsoleError(405, "Not allowed", `Use ${allowed.join(" or ")}.`, {
      allow: allowed.includes("GET") ? [...allowed, "HEAD"].join(", ") : allowed.join(", "),
    });
  }
}

/**
 * Whether a POST comes from the console's own pages: a browser's `Sec-Fetch-Site`, when sent,
 * says same-origin, and `Origin`, when sent, is the origin the browser reached the console at.
 */
function sameOrigin(request: Request, url: URL): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return false;
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  const host = request.headers.get("host") ?? url.host;
  const own = new Set([url.origin, `${isSecure(request, url) ? "https" : "http"}://${host}`]);
  return own.has(origin);
}

/** Whether the browser reached the console over TLS (itself, or a proxy that says so). */
function isSecure(request: Request, url: URL): boolean {
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return url.protocol === "https:" || forwarded === "https";
}

/** A form body, bounded in size; anything but a URL-encoded form is refused. */
async function formOf(request: Request, _url: URL): Promise<URLSearchParams> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    await request.body?.cancel();
    throw new ConsoleError(415, "Refused", "The console takes its own pages' forms only.");
  }
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_FORM_BYTES) {
    await request.body?.cancel();
    throw new ConsoleError(413, "Too large", "The form is larger than the console takes (1 MiB).");
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > MAX_FORM_BYTES) {
        throw new ConsoleError(
          413,
          "Too large",
          "The form is larger than the console takes (1 MiB).",
        );
      }
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

function previewInputOf(form: URLSearchParams): PreviewInput {
  const source = form.get("source");
  return {
    type: (form.get("type") ?? "").slice(0, 64),
    source: source === "event" || source === "json" ? source : "sample",
    eventId: (form.get("event") ?? "").slice(0, 200),
    json: form.get("json") ?? "",
  };
}

function cookieOf(request: Request, name: string): string | null {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return null;
}

function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}` +
    (secure ? "; Secure" : "");
}

function clearCookie(name: string): string {
  return `${name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** A path on this console to go back to, or null for anything else (another site, a scheme). */
function localPath(value: string | null): string | null {
  if (value === null || !value.startsWith("/") || value.startsWith("//")) return null;
  if (value.includes("\\") || [...value].some((c) => c.charCodeAt(0) < 0x20)) return null;
  return isConsolePath(new URL(value, "http://console.invalid").pathname) ? value : null;
}

/** Whether a path only takes POST (a button's action). */
function postOnly(segments: string[]): boolean {
  const [ui, head, id, action] = segments;
  if (ui !== "ui") return false;
  if (segments.length === 2) return head === "logout";
  if (segments.length === 3) return head === "preview" && id === "send";
  if (segments.length === 4) {
    return (["events", "deliveries"].includes(head!) && action === "replay") ||
      (head === "destinations" && ["enable", "pause", "resume"].includes(action!));
  }
  return false;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The page a request was for, as a log field with no ids or names in it. */
function pathLabel(segments: string[]): string {
  const [ui, head, id, action] = segments;
  if (ui === undefined) return "/";
  const pages = [
    "login",
    "logout",
    "events",
    "deliveries",
    "destinations",
    "preview",
    "config",
    "assets",
  ];
  if (ui !== "ui" || head === undefined || !pages.includes(head)) return "other";
  if (id === undefined) return `/ui/${head}`;
  if (head === "assets") return "/ui/assets/:file";
  if (["replay-dead", "send"].includes(id) && action === undefined) return `/ui/${head}/${id}`;
  if (action === undefined) return `/ui/${head}/:id`;
  const actions = ["replay", "enable", "pause", "resume"];
  return `/ui/${head}/:id/${actions.includes(action) ? action : "other"}`;
}
