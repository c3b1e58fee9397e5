// Digests: a route with `digest` collects its events and sends one message per window. Routing
// records a digest item in the store instead of a delivery; this module's scheduler closes due
// windows, each in one transaction that stores a digest event (its fingerprint names the window,
// so no window is sent twice, whichever relay closes it) with one delivery, which the worker then
// delivers like any other. Windows are computed here: rolling from a window's first event, or on
// the wall clock of a time zone, daylight saving included.

import { DIGEST_EVENT, type DigestBody, digestBody } from "./digest_message.ts";
import type { Payload } from "./events.ts";
import { newId, sha256Hex } from "./ids.ts";
import type { Logger } from "./log.ts";
import type { DigestSpec } from "./route.ts";
import { SAMPLES } from "./samples.ts";
import type { DigestItem, NewDelivery, NewEvent, Store } from "./store.ts";

export type { DigestSpec };

/** A window: from `start` (inclusive) to `end` (exclusive), in ms. */
export interface DigestWindow {
  start: number;
  end: number;
}

/** What the scheduler needs of a route. */
export interface DigestRoute {
  name: string;
  to: readonly string[];
  digest: DigestSpec | null;
}

/** Most events one digest message carries; a fuller window is sent in several. */
export const DIGEST_BATCH = 500;

const DAY = 86_400_000;

/**
 * The window holding `t`. Rolling windows start at `t` itself (the window's first event).
 * Calendar windows start when the zone's clock shows `at` (and every `everyMs` after, within a
 * local day), so a daily window is 23 or 25 hours long across a daylight-saving change.
 */
export function windowOf(spec: DigestSpec, t: number): DigestWindow {
  if (spec.at === null) return { start: t, end: t + spec.everyMs };
  const boundaries = calendarBoundaries(spec, t);
  let start = boundaries[0]!;
  let end = boundaries.at(-1)!;
  for (const b of boundaries) {
    if (b <= t) start = b;
    else {
      end = b;
      break;
    }
  }
  return { start, end };
}

/** Calendar boundaries (ms) from some days before `t` to some days after, in order. */
function calendarBoundaries(spec: DigestSpec, t: number): number[] {
  const at = spec.at!;
  const days = Math.max(1, Math.round(spec.everyMs / DAY));
  const { year, month, day } = wallClock(t, spec.timezone);
  const out: number[] = [];
  if (spec.everyMs >= DAY) {
    // Windows of whole days counted from Monday 1970-01-05, so "7d" weeks start on Mondays.
    const today = Math.floor(Date.UTC(year, month - 1, day) / DAY);
    const first = today - (((today - 4) % days) + days) % days;
    for (let d = first - 2 * days; d <= first + 2 * days; d += days) {
      const date = new Date(d * DAY);
      out.push(
        localTime(spec.timezone, {
          year: date.getUTCFullYear(),
          month: date.getUTCMonth() + 1,
          day: date.getUTCDate(),
          hour: at.hour,
          minute: at.minute,
        }),
      );
    }
  } else {
    const step = spec.everyMs;
    for (let offset = -2; offset <= 2; offset++) {
      const date = new Date(Date.UTC(year, month - 1, day + offset));
      for (let k = 0; k * step < DAY; k++) {
        const minutes = at.hour * 60 + at.minute + (k * step) / 60_000;
        out.push(
          localTime(spec.timezone, {
            year: date.getUTCFullYear(),
            month: date.getUTCMonth() + 1,
            day: date.getUTCDate(),
            hour: Math.floor(minutes / 60),
            minute: minutes % 60,
          }),
        );
      }
    }
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const FORMATS = new Map<string, Intl.DateTimeFormat>();

/** What the clock on the wall shows at `t` in a time zone. */
function wallClock(t: number, timeZone: string): WallClock & { second: number } {
  let format = FORMATS.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    FORMATS.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(t)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return {
    year: parts["year"]!,
    month: parts["month"]!,
    day: parts["day"]!,
    hour: parts["hour"]! % 24,
    minute: parts["minute"]!,
    second: parts["second"]!,
  };
}

/** The zone's offset from UTC at `t` (ms). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone);
  const seconds = Math.floor(t / 1000) * 1000;
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - seconds;
}

/**
 * The instant the zone's clock shows a wall time. A time skipped by a change to summer time
 * comes out as the instant the clock jumps past it; a time shown twice, as the earlier.
 */
export function localTime(timeZone: string, wall: WallClock): number {
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  const before = naive - offsetAt(naive - DAY / 2, timeZone);
  const after = naive - offsetAt(naive + DAY / 2, timeZone);
  const candidates = [before, after].filter((t) => {
    const w = wallClock(t, timeZone);
    return w.year === wall.year && w.month === wall.month && w.day === wall.day &&
      w.hour === wall.hour && w.minute === wall.minute;
  }).sort((a, b) => a - b);
  // In a gap the wall time moves forward by the gap's length (as Temporal's "compatible" does):
  // 02:30 on the day the clock jumps from 02:00 to 03:00 is 03:30.
  return candidates[0] ?? before;
}

/** The settings a route's `digest` is written with. */
export interface DigestConfig {
  every: string | number;
  at?: string | undefined;
  timezone?: string | undefined;
  max_events?: number | undefined;
  empty?: string | undefined;
}

/**
 * Compiles a route's `digest`; throws RangeError naming the setting when a value cannot be used
 * (a time zone Intl does not know, a calendar window that does not divide days evenly).
 */
export function digestSpecOf(config: DigestConfig, everyMs: number): DigestSpec {
  const calendar = config.at !== undefined || config.timezone !== undefined;
  const timezone = config.timezone ?? "UTC";
  if (!isTimeZone(timezone)) {
    throw new RangeError(
      `timezone: "${timezone}" is not a time zone (expected one such as "Europe/Berlin")`,
    );
  }
  if (everyMs < 1000) throw new RangeError("every: expected at least 1s");
  if (calendar && !(everyMs % DAY === 0 || (everyMs % 3_600_000 === 0 && DAY % everyMs === 0))) {
    throw new RangeError(
      'every: calendar windows (with "at" or "timezone") take whole days, or hours that ' +
        'divide a day ("1h", "6h", "12h")',
    );
  }
  if (config.empty !== undefined && !calendar) {
    throw new RangeError('empty: only calendar windows (with "at") have empty windows to tell');
  }
  const [hour, minute] = (config.at ?? "00:00").split(":").map(Number);
  return {
    everyMs,
    at: calendar ? { hour: hour!, minute: minute! } : null,
    timezone,
    maxEvents: config.max_events ?? null,
    empty: config.empty ?? null,
  };
}

/** Whether a time zone name is one Intl knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The fingerprint of a window's digest: the same window always gives the same one. */
export function digestFingerprint(parts: {
  route: string;
  destination: string;
  start: number;
  first: string;
}): Promise<string> {
  const key = [DIGEST_EVENT, parts.route, parts.destination, parts.start, parts.first].join("\n");
  return sha256Hex(new TextEncoder().encode(key));
}

/**
 * The digest a route would send for a few events, as `render` and the console's preview show
 * it: the events given, else one sample of each type the route takes (every sample for "*"),
 * in the window open at `now`.
 */
export function sampleDigest(
  route: { name: string; events: ReadonlySet<string> | null; digest: DigestSpec },
  destination: string,
  options: { now: number; events?: ReadonlyArray<{ type: string; payload: Payload }> },
): DigestBody {
  const window = windowOf(route.digest, options.now);
  const events = options.events ??
    Object.keys(SAMPLES).filter((type) => route.events === null || route.events.has(type))
      .map((type) => ({ type, payload: SAMPLES[type]! }));
  return digestBody({
    route: route.name,
    destination,
    spec: route.digest,
    window,
    items: events.map((e, i) => ({
      eventId: `evt_PREVIEW_${i + 1}`,
      eventType: e.type,
      receivedAt: window.start,
      body: JSON.stringify(e.payload),
    })),
  });
}

/** Options of {@linkcode DigestScheduler}. */
export interface DigestSchedulerOptions {
  store: Store;
  /** The current routes; called at every look, so a reload takes effect at once. */
  routes: () => readonly DigestRoute[];
  /** Whether a destination takes deliveries now (enabled in the config). */
  enabled: (destination: string) => boolean;
  /** A digest's delivery was stored: its lane may look now. */
  closed: (deliveries: readonly NewDelivery[]) => void;
  log: Logger;
  now?: () => number;
  /** The longest wait between looks at the store (ms); new items wake it sooner. */
  pollMs?: number;
}

/** Closes due digest windows until stopped. */
export class DigestScheduler {
  #options: Required<DigestSchedulerOptions>;
  #sleeping: (() => void) | null = null;
  #news = false;
  #running = false;
  #done: Promise<void> = Promise.resolve();
  /** The last empty window looked at per route and destination, so each is checked once. */
  #emptyChecked = new Map<string, number>();

  constructor(options: DigestSchedulerOptions) {
    this.#options = { now: Date.now, pollMs: 1000, ...options };
  }

  /** Starts closing windows; a window that closed while the relay was down is sent now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#loop();
  }

  /** New digest items were stored: a window may be full now. */
  notify(): void {
    this.#news = true;
    this.#sleeping?.();
  }

  /** Waits `ms`, or less when notified; news that came during a look ends the wait at once. */
  #sleep(ms: number): Promise<void> {
    if (this.#news) {
      this.#news = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#sleeping = null;
        this.#news = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#sleeping = done;
    });
  }

  /** Stops; resolves when the look under way has finished. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.notify();
    await this.#done;
  }

  async #loop(): Promise<void> {
    const { log, pollMs, now } = this.#options;
    while (this.#running) {
      let next = now() + pollMs;
      this.#news = false;
      try {
        next = Math.min(next, await this.closeDue());
      } catch (error) {
        log.error("digest scheduling failed", { error: (error as Error).message });
      }
      if (!this.#running) break;
      const wait = next - now();
      if (wait > 0) await this.#sleep(Math.min(wait, pollMs));
    }
  }

  /** Closes every due window once; returns when the next one is due (ms). */
  async closeDue(): Promise<number> {
    const { store, now } = this.#options;
    const routes = new Map(
      this.#options.routes().filter((r) => r.digest !== null).map((r) => [r.name, r]),
    );
    let next = Infinity;
    // A config without digests asks the store nothing.
    if (routes.size === 0) return next;
    for (const open of await store.openDigests()) {
      const spec = routes.get(open.route)?.digest;
      // Items of a route since removed, or no longer a digest, wait for it to come back.
      if (spec === undefined || spec === null) continue;
      const t = now();
      const window = windowOf(spec, open.firstAt);
      const full = spec.maxEvents !== null && open.count >= spec.maxEvents;
      if (t < window.end && !full) {
        next = Math.min(next, window.end);
        continue;
      }
      const items = await store.digestItems({
        route: open.route,
        destination: open.destination,
        before: window.end,
        limit: Math.min(spec.maxEvents ?? DIGEST_BATCH, DIGEST_BATCH),
      });
      if (t < window.end && items.length < spec.maxEvents!) {
        next = Math.min(next, window.end);
        continue;
      }
      if (items.length === 0) continue;
      await this.#close(open.route, open.destination, spec, window, items);
      // More may be waiting behind a full window.
      next = now();
    }
    for (const route of routes.values()) {
      const spec = route.digest!;
      if (spec.empty === null || spec.at === null) continue;
      const t = now();
      const current = windowOf(spec, t);
      const last = windowOf(spec, current.start - 1);
      next = Math.min(next, current.end);
      for (const destination of route.to) {
        if (!this.#options.enabled(destination)) continue;
        const key = `${route.name}\n${destination}`;
        if (this.#emptyChecked.get(key) === last.start) continue;
        const any = await store.digestItems({
          route: route.name,
          destination,
          since: last.start,
          before: last.end,
          limit: 1,
          taken: true,
        });
        if (any.length === 0) await this.#close(route.name, destination, spec, last, []);
        this.#emptyChecked.set(key, last.start);
      }
    }
    return next;
  }

  async #close(
    route: string,
    destination: string,
    spec: DigestSpec,
    window: DigestWindow,
    items: readonly DigestItem[],
  ): Promise<void> {
    const { store, log, now } = this.#options;
    const at = now();
    const id = newId("evt", at);
    const deliveries: NewDelivery[] = [{
      id: newId("dlv", at),
      eventId: id,
      destination,
      route,
      orderKey: null,
    }];
    const event: NewEvent = {
      id,
      type: DIGEST_EVENT,
      receivedAt: at,
      body: JSON.stringify(digestBody({ route, destination, spec, window, items })),
      fingerprint: await digestFingerprint({
        route,
        destination,
        start: window.start,
        first: items[0]?.eventId ?? "empty",
      }),
      orderKey: null,
      deliveries,
    };
    const stored = await store.closeDigest(event, items.map((i) => i.id));
    if (!stored) {
      log.info("digest window already closed", { route, destination });
      return;
    }
    log.info("digest closed", {
      event: id,
      route,
      destination,
      events: items.length,
      window_start: new Date(window.start).toISOString(),
      window_end: new Date(window.end).toISOString(),
    });
    this.#options.closed(deliveries);
  }
}
