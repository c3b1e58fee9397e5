// Alerts to the people who run the relay: a destination disabled because its endpoint is gone,
// deliveries that died (one alert per destination per window), a destination that keeps failing,
// its recovery, and a store that cannot commit. Fed by the dispatcher's signals, sent straight
// through the running destinations (never stored, so they go out while the store is down) with a
// short retry in memory. An alert about a destination never goes to that destination.

import type { DeliveryRequest, Destination, Pace } from "./destination.ts";
import type { ReachableOrigins, Timeouts } from "./http_client.ts";
import { newId } from "./ids.ts";
import type { Logger } from "./log.ts";
import { compileMessage, type MessageCache, type MessageTemplate } from "./message.ts";
import type { MessageSources } from "./default_messages.ts";
import { ALERT_FAILURES, ALERTS_SENT, type Metrics } from "./metrics.ts";
import type { DeliveryOutcome, Outcome } from "./retry.ts";
import { templateScope } from "./route.ts";
import type { QueueStats } from "./store.ts";

/** The event type alert messages are rendered as (an http destination sees it as `type`). */
export const ALERT_EVENT = "hero_relay.alert";

/** Every kind of alert; also the `kind` label of the alert metrics. */
export const ALERT_KINDS = ["disabled", "dead", "failing", "recovered", "store"] as const;

/** A kind of alert. */
export type AlertKind = typeof ALERT_KINDS[number];

/** The alerts part of a compiled config. */
export interface AlertSettings {
  /** Destinations that receive alerts. */
  to: string[];
  /** Deaths of one destination's deliveries (and store errors) within this make one alert (ms). */
  windowMs: number;
  /** Failed attempts in a row after which a destination is "failing". */
  consecutiveFailures: number;
  /** Age of the oldest waiting delivery after which a destination is "failing" (ms). */
  oldestWaitingMs: number;
  message: MessageTemplate;
}

/**
 * What the alerter is told: the dispatcher's signals (each attempt's outcome, a destination
 * disabled or enabled again, its store errors) and the receive step's store errors.
 */
export type AlertSignal =
  | {
    kind: "attempt";
    destination: string;
    outcome: DeliveryOutcome;
    /** The delivery died: no attempt follows. */
    dead: boolean;
    error: string | null;
  }
  | { kind: "disabled"; destination: string; error: string }
  | { kind: "enabled"; destination: string }
  | { kind: "store"; step: "receive" | "route" | "record"; error: string };

/** What the alerter needs of a destination of the running config. */
interface AlertTarget {
  destination: Destination;
  enabled: boolean;
  timeouts: Timeouts;
  rateLimit: Pace | null;
}

/** What the alerter reads of the running config (a compiled Runtime is one). */
export interface AlertRuntime {
  alerts: AlertSettings | null;
  destinations: ReadonlyMap<string, AlertTarget>;
}

/** The fields of an alert, the scope of its message and the payload an http destination gets. */
export interface AlertFields {
  kind: AlertKind;
  /** The destination the alert is about; null for a store alert. */
  destination: string | null;
  destination_type: string | null;
  /** Why: the endpoint's answer, the failing threshold passed, or the store's error. */
  reason: string | null;
  /** Deaths, failed attempts in a row, or store errors. */
  count: number | null;
  first_error: string | null;
  last_error: string | null;
  /** Deliveries waiting for the destination; null when unknown. */
  waiting: number | null;
  /** How old the oldest waiting delivery is, in words. */
  oldest_age: string | null;
  /** What to run about it. */
  command: string | null;
  /** When the trouble began (ISO 8601). */
  since: string | null;
  /** For a store alert: "receive", "route" or "record". */
  step: string | null;
}

const STEP_TEXT =
  '{% case step %}{% when "receive" %}Webhooks are answered 503 and not stored: Influencer ' +
  "Hero has to send them again." +
  '{% when "route" %}Stored events cannot be routed to their destinations; they wait in the ' +
  "store." +
  "{% else %}Attempts are made but their results cannot be written, so some deliveries may be " +
  "repeated once the store works again.{% endcase %}";

const PLURAL_DELIVERIES = "{% if count == 1 %}delivery{% else %}deliveries{% endif %}";

/** The built-in alert message; every part is given, so nothing of the generic default shows. */
const ALERT_MESSAGE: MessageSources = {
  title: "{% case kind %}" +
    '{% when "disabled" %}{{ destination }} is disabled: its endpoint is gone' +
    `{% when "dead" %}{{ count }} ${PLURAL_DELIVERIES} to {{ destination }} died` +
    '{% when "failing" %}{{ destination }} keeps failing' +
    '{% when "recovered" %}{{ destination }} has recovered' +
    "{% else %}The relay's store cannot commit{% endcase %}",
  text: "{% case kind %}" +
    '{% when "disabled" %}The endpoint answered that it no longer exists, so the relay stopped ' +
    "sending to it. Nothing is lost: {{ waiting | default: 'its' }} deliveries wait without " +
    "using up attempts. Fix the destination, then enable it again with the command below." +
    `{% when "dead" %}Since {{ since }}, {{ count }} ${PLURAL_DELIVERIES} to {{ destination }} ` +
    "used up their retries or were refused, and will not be tried again. They are kept: send " +
    "them again with the command below once the cause is fixed." +
    '{% when "failing" %}{{ reason }}. Deliveries are retried on their schedule and none is ' +
    "lost while they wait." +
    '{% when "recovered" %}A delivery to {{ destination }} succeeded again; the deliveries ' +
    "waiting follow on their schedule." +
    `{% else %}{{ count }} store {% if count == 1 %}error{% else %}errors{% endif %} since ` +
    `{{ since }}. ${STEP_TEXT}{% endcase %}`,
  fields: [
    {
      name: "Destination",
      value: "{{ destination }}{% if destination_type %} ({{ destination_type }}){% endif %}",
    },
    {
      name: "{% if kind == 'disabled' %}Answer{% else %}Reason{% endif %}",
      value: "{% if kind != 'failing' %}{{ reason }}{% endif %}",
      inline: false,
    },
    { name: "First error", value: "{{ first_error }}", inline: false },
    { name: "Last error", value: "{{ last_error }}", inline: false },
    { name: "Waiting", value: "{{ waiting }}" },
    { name: "Oldest waiting", value: "{{ oldest_age }}" },
    { name: "Since", value: "{{ since }}" },
    { name: "Command", value: "{{ command }}", inline: false },
  ],
  link_url: "",
  link_label: "",
  image: "",
  author_name: "",
  author_url: "",
  author_icon: "",
  color: "{% case kind %}{% when 'recovered' %}#2eb67d{% when 'failing' %}#ecb22e" +
    "{% else %}#e01e5a{% endcase %}",
};

/**
 * Compiles the alert message: the built-in parts, with the config's `alerts.message` replacing
 * whole parts. Throws SyntaxError naming each bad part, one per line.
 */
export function compileAlertMessage(
  overrides: MessageSources = {},
  cache: MessageCache = new Map(),
): MessageTemplate {
  return compileMessage(ALERT_EVENT, { ...ALERT_MESSAGE, ...overrides }, cache);
}

/** Options of {@linkcode Alerter}. */
export interface AlerterOptions {
  /** The current runtime: its alert settings and destinations. */
  runtime: () => AlertRuntime;
  log: Logger;
  metrics?: Metrics;
  /** Takes the config's secrets out of error texts. */
  redact?: (text: string) => string;
  /** The origins that answered lately, shared with the dispatcher. */
  origins: ReachableOrigins;
  /** Waiting deliveries per destination (the store's); a failure leaves counts unknown. */
  queueStats?: () => Promise<QueueStats[]>;
  /** Whether a destination is held back on purpose (disabled, paused): no alert goes to it. */
  held?: (name: string) => boolean;
  now?: () => number;
  /** Waits before the second and later tries of one alert (ms). */
  retryDelaysMs?: number[];
}

/** How an alert destination's send is retried: three tries, after 0.5 s and 2 s. */
const RETRY_DELAYS_MS = [500, 2_000];

/** The longest Retry-After an alert waits for before its next try. */
const MAX_ALERT_WAIT_MS = 30_000;

/** How long stop() lets alerts still being sent finish before aborting them. */
const STOP_DEADLINE_MS = 2_000;

/** What the alerter knows of one destination's trouble. */
interface Watch {
  failures: number;
  failingSince: number | null;
  lastError: string | null;
  /** What an alert said is wrong; the matching recovery sends "recovered". */
  broken: "disabled" | "failures" | "waiting" | null;
  brokenSince: number | null;
  /** A "disabled" alert went out and the destination was not enabled since. */
  disabledAlerted: boolean;
}

/** Errors (deaths, store failures) gathered for one alert at the window's end. */
interface Group {
  count: number;
  firstError: string | null;
  since: number;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Turns the dispatcher's signals into alerts and sends them. Pass {@linkcode Alerter.signal} as
 * the dispatcher's `onSignal`; `stop()` ends every timer and send.
 */
export class Alerter {
  #options: AlerterOptions;
  #now: () => number;
  #redact: (text: string) => string;
  #watches = new Map<string, Watch>();
  #dead = new Map<string, Group>();
  #store = new Map<string, Group>();
  #nextSendAt = new Map<string, number>();
  #sending = new Set<Promise<void>>();
  #sleeps = new Set<() => void>();
  #tick: ReturnType<typeof setTimeout> | null = null;
  #stopping = false;
  #abort = new AbortController();
  #order: Promise<void> = Promise.resolve();

  constructor(options: AlerterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#redact = options.redact ?? ((text) => text);
  }

  /** Starts the periodic look at each destination's oldest waiting delivery. */
  start(): void {
    this.#schedule();
  }

  /** Takes one signal; never throws. */
  signal = (signal: AlertSignal): void => {
    if (this.#stopping) return;
    const settings = this.#options.runtime().alerts;
    if (settings === null) return;
    switch (signal.kind) {
      case "attempt":
        return this.#attempt(settings, signal);
      case "disabled":
        return this.#disabled(signal.destination, signal.error);
      case "enabled": {
        const watch = this.#watches.get(signal.destination);
        if (watch !== undefined) watch.disabledAlerted = false;
        return;
      }
      case "store":
        return this.#storeError(settings, signal.step, signal.error);
    }
  };

  /**
   * Stops: no more signals or retries; deaths and store errors gathered so far are sent at once,
   * and sends still going after a short deadline are aborted.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#tick !== null) clearTimeout(this.#tick);
    for (const wake of [...this.#sleeps]) wake();
    for (const [name, group] of [...this.#dead]) {
      clearTimeout(group.timer);
      this.#sendDead(name, group);
    }
    for (const [step, group] of [...this.#store]) {
      clearTimeout(group.timer);
      this.#sendStore(step, group);
    }
    this.#dead.clear();
    this.#store.clear();
    await this.#order;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const all = Promise.all([...this.#sending]);
    await Promise.race([
      all,
      new Promise((resolve) => timer = setTimeout(resolve, STOP_DEADLINE_MS)),
    ]);
    clearTimeout(timer);
    this.#abort.abort();
    await all;
  }

  #watch(name: string): Watch {
    let watch = this.#watches.get(name);
    if (watch === undefined) {
      watch = {
        failures: 0,
        failingSince: null,
        lastError: null,
        broken: null,
        brokenSince: null,
        disabledAlerted: false,
      };
      this.#watches.set(name, watch);
    }
    return watch;
  }

  #attempt(
    settings: AlertSettings,
    { destination: name, outcome, dead, error }: Extract<AlertSignal, { kind: "attempt" }>,
  ): void {
    const now = this.#now();
    const watch = this.#watch(name);
    if (outcome === "delivered") {
      const broken = watch.broken;
      watch.failures = 0;
      watch.failingSince = null;
      if (broken === "disabled" || broken === "failures") {
        const since = watch.brokenSince;
        watch.broken = null;
        watch.brokenSince = null;
        this.#queue(this.#fields("recovered", name, { since: iso(since) }));
      }
      return;
    }
    // A gone endpoint is reported by its "disabled" signal.
    if (outcome === "disabled") return;
    watch.failures++;
    watch.failingSince ??= now;
    watch.lastError = error;
    if (watch.failures >= settings.consecutiveFailures && watch.broken === null) {
      watch.broken = "failures";
      watch.brokenSince = watch.failingSince;
      const count = watch.failures;
      this.#withWaiting(name, (waiting) =>
        this.#fields("failing", name, {
          reason: `The last ${count} attempts failed in a row`,
          count,
          last_error: error,
          since: iso(watch.failingSince ?? now),
          waiting,
          command: `hero-relay deliveries --destination ${name} --status failed`,
        }));
    }
    if (dead) {
      const group = this.#dead.get(name);
      if (group !== undefined) {
        group.count++;
        group.firstError ??= error;
        return;
      }
      this.#dead.set(name, {
        count: 1,
        firstError: error,
        since: now,
        timer: setTimeout(() => {
          const open = this.#dead.get(name);
          this.#dead.delete(name);
          if (open !== undefined) this.#sendDead(name, open);
        }, settings.windowMs),
      });
    }
  }

  #sendDead(name: string, group: Group): void {
    this.#queue(
      this.#fields("dead", name, {
        count: group.count,
        first_error: group.firstError,
        since: iso(group.since),
        command: `hero-relay replay --dead --destination ${name}`,
      }),
    );
  }

  #disabled(name: string, error: string): void {
    const watch = this.#watch(name);
    // Every attempt in flight when the endpoint went may say so: one alert.
    if (watch.disabledAlerted) return;
    watch.disabledAlerted = true;
    watch.broken = "disabled";
    watch.brokenSince ??= this.#now();
    this.#withWaiting(name, (waiting) =>
      this.#fields("disabled", name, {
        reason: error,
        waiting,
        since: iso(this.#now()),
        command: `hero-relay enable ${name}`,
      }));
  }

  /**
   * The first store error of a step is sent at once; more within the window are counted and
   * sent as one alert at its end, and so on while they last.
   */
  #storeError(settings: AlertSettings, step: string, error: string): void {
    const open = this.#store.get(step);
    if (open !== undefined) {
      open.count++;
      open.firstError ??= error;
      return;
    }
    const now = this.#now();
    this.#sendStore(step, { count: 1, firstError: error, since: now });
    const close = () => {
      const group = this.#store.get(step);
      if (group === undefined) return;
      if (group.count === 0) {
        this.#store.delete(step);
        return;
      }
      this.#sendStore(step, group);
      group.count = 0;
      group.firstError = null;
      group.since = this.#now();
      group.timer = setTimeout(close, settings.windowMs);
    };
    this.#store.set(step, {
      count: 0,
      firstError: null,
      since: now,
      timer: setTimeout(close, settings.windowMs),
    });
  }

  #sendStore(step: string, group: Omit<Group, "timer">): void {
    if (group.count === 0) return;
    this.#queue(
      this.#fields("store", null, {
        step,
        count: group.count,
        reason: group.firstError,
        first_error: group.firstError,
        since: iso(group.since),
      }),
    );
  }

  /** Looks at each destination's oldest waiting delivery, then again a while later. */
  #schedule(): void {
    if (this.#stopping) return;
    const settings = this.#options.runtime().alerts;
    const every = settings === null
      ? 30_000
      : Math.min(30_000, Math.max(250, settings.oldestWaitingMs / 4));
    this.#tick = setTimeout(() => {
      this.#tick = null;
      const done = this.#checkWaiting().finally(() => {
        this.#sending.delete(done);
        this.#schedule();
      });
      this.#sending.add(done);
    }, every);
  }

  async #checkWaiting(): Promise<void> {
    const settings = this.#options.runtime().alerts;
    const queueStats = this.#options.queueStats;
    if (settings === null || queueStats === undefined) return;
    let stats: QueueStats[];
    try {
      stats = await queueStats();
    } catch {
      return; // The store's own errors are reported where they happen.
    }
    if (this.#stopping) return;
    const now = this.#now();
    const byName = new Map(stats.map((s) => [s.destination, s]));
    const destinations = this.#options.runtime().destinations;
    for (const [name, runtime] of destinations) {
      if (!runtime.enabled || this.#options.held?.(name)) continue;
      const stat = byName.get(name);
      const age = stat?.oldestAt == null || stat.depth === 0 ? 0 : now - stat.oldestAt;
      const watch = this.#watches.get(name);
      if (age >= settings.oldestWaitingMs && (watch === undefined || watch.broken === null)) {
        const w = this.#watch(name);
        w.broken = "waiting";
        w.brokenSince = stat!.oldestAt;
        this.#queue(
          this.#fields("failing", name, {
            reason: `Its oldest waiting delivery is ${inWords(age)} old`,
            waiting: stat!.depth,
            oldest_age: inWords(age),
            since: iso(stat!.oldestAt),
            last_error: w.lastError,
            command: `hero-relay deliveries --destination ${name} --status failed`,
          }),
        );
      } else if (age < settings.oldestWaitingMs && watch?.broken === "waiting") {
        const since = watch.brokenSince;
        watch.broken = null;
        watch.brokenSince = null;
        this.#queue(this.#fields("recovered", name, { since: iso(since) }));
      }
    }
    // Destinations removed from the config are forgotten.
    for (const name of this.#watches.keys()) {
      if (!destinations.has(name)) this.#watches.delete(name);
    }
  }

  /** Builds an alert once the destination's waiting deliveries are counted, and sends it. */
  #withWaiting(name: string, build: (waiting: number | null) => AlertFields): void {
    this.#queue(async () => {
      const queueStats = this.#options.queueStats;
      const waiting = queueStats === undefined ? null : await queueStats().then(
        (stats) => stats.find((s) => s.destination === name)?.depth ?? 0,
        () => null,
      );
      return build(waiting);
    });
  }

  /** Sends alerts in the order their causes happened, though some wait for a count first. */
  #queue(alert: AlertFields | (() => Promise<AlertFields>)): void {
    const build = typeof alert === "function" ? alert : () => alert;
    this.#order = this.#order.then(async () => this.#send(await build())).catch((error) => {
      this.#options.log.error("alert failed unexpectedly", { error: (error as Error).message });
    });
  }

  #fields(kind: AlertKind, name: string | null, extra: Partial<AlertFields>): AlertFields {
    const type = name === null
      ? null
      : this.#options.runtime().destinations.get(name)?.destination.type ?? null;
    const fields: AlertFields = {
      kind,
      destination: name,
      destination_type: type,
      reason: null,
      count: null,
      first_error: null,
      last_error: null,
      waiting: null,
      oldest_age: null,
      command: null,
      since: null,
      step: null,
      ...extra,
    };
    for (const key of ["reason", "first_error", "last_error"] as const) {
      const text = fields[key];
      if (text !== null) fields[key] = this.#redact(text);
    }
    return fields;
  }

  /** Sends an alert to every alert destination but the one it is about. */
  #send(fields: AlertFields): void {
    const settings = this.#options.runtime().alerts;
    if (settings === null) return;
    const { log } = this.#options;
    const to = settings.to.filter((name) => {
      if (name === fields.destination) return false;
      const runtime = this.#options.runtime().destinations.get(name);
      return runtime !== undefined && runtime.enabled && !this.#options.held?.(name);
    });
    const about = fields.destination ?? undefined;
    log.info("alert", { alert: fields.kind, about, count: fields.count, to: to.join(",") });
    if (to.length === 0) {
      log.warn("alert not sent: no other alert destination can take it", {
        alert: fields.kind,
        about,
      });
      return;
    }
    const now = this.#now();
    const id = newId("alert", now);
    const event = { id, type: ALERT_EVENT, receivedAt: now };
    const message = settings.message(templateScope({ ...fields }, event));
    const request: DeliveryRequest = {
      deliveryId: id,
      eventId: id,
      eventType: ALERT_EVENT,
      receivedAt: now,
      body: JSON.stringify(fields),
      payload: { ...fields },
      message,
      attempt: 1,
    };
    for (const name of to) {
      const done = this.#deliver(name, request, fields).finally(() => this.#sending.delete(done));
      this.#sending.add(done);
    }
  }

  /** Up to three tries, paced like the destination; a failure is logged and counted. */
  async #deliver(name: string, request: DeliveryRequest, fields: AlertFields): Promise<void> {
    const { log, metrics } = this.#options;
    const delays = this.#options.retryDelaysMs ?? RETRY_DELAYS_MS;
    const about = fields.destination ?? undefined;
    for (let attempt = 1;; attempt++) {
      const runtime = this.#options.runtime().destinations.get(name);
      if (runtime === undefined) return;
      await this.#pace(name, runtime);
      let outcome: Outcome;
      try {
        outcome = await runtime.destination.send({ ...request, attempt }, {
          timeouts: runtime.timeouts,
          signal: this.#abort.signal,
          now: this.#now,
          origins: this.#options.origins,
        });
      } catch (error) {
        outcome = {
          kind: "retry",
          httpStatus: null,
          error: `destination error (${(error as Error).name})`,
        };
      }
      if (outcome.kind === "delivered") {
        metrics?.inc(...ALERTS_SENT, { destination: name, kind: fields.kind });
        log.info("alert sent", { alert: fields.kind, about, destination: name, attempt });
        return;
      }
      const last = outcome.kind !== "retry" || attempt > delays.length || this.#stopping;
      if (last) {
        metrics?.inc(...ALERT_FAILURES, { destination: name });
        log.warn("alert not delivered", {
          alert: fields.kind,
          about,
          destination: name,
          attempt,
          status: outcome.httpStatus,
          error: this.#redact(outcome.error),
        });
        return;
      }
      const wish = outcome.kind === "retry" ? outcome.retryAfterMs ?? 0 : 0;
      await this.#sleep(Math.max(delays[attempt - 1]!, Math.min(wish, MAX_ALERT_WAIT_MS)));
    }
  }

  /** Spaces sends to one destination by its pace (Slack's one a second, say). */
  async #pace(name: string, runtime: AlertTarget): Promise<void> {
    if (runtime.rateLimit === null) return;
    const now = this.#now();
    const at = Math.max(now, this.#nextSendAt.get(name) ?? 0);
    this.#nextSendAt.set(name, at + 1000 / runtime.rateLimit.perSecond);
    if (at > now) await this.#sleep(at - now);
  }

  /** Waits `ms`, or less when the alerter stops. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleeps.add(wake);
    });
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "40 seconds", "16 minutes", "3 hours", "2 days". */
function inWords(ms: number): string {
  const s = Math.round(ms / 1000);
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (s < 90) return unit(s, "second");
  if (s < 90 * 60) return unit(Math.round(s / 60), "minute");
  if (s < 36 * 3600) return unit(Math.round(s / 3600), "hour");
  return unit(Math.round(s / 86_400), "day");
}
