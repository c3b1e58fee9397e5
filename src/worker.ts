// The delivery worker: routes stored events into deliveries, then runs one lane per destination
// that leases due deliveries from the store, paces them (concurrency, rate limit, Retry-After),
// makes each attempt and writes its result back. Nothing is delivered inside a webhook request,
// and one destination's trouble never holds up another's lane.

import { type DestinationRuntime, type Runtime, warmMessages } from "./compile.ts";
import type { DeliveryRequest } from "./destination.ts";
import { ReachableOrigins } from "./http_client.ts";
import { newId } from "./ids.ts";
import type { Logger } from "./log.ts";
import { compileMessage, type Message, type MessageTemplate } from "./message.ts";
import { templatesLoaded } from "./template.ts";
import { ADAPTIVE_START, AdaptiveLimit } from "./concurrency.ts";
import {
  ATTEMPT_DURATION,
  DELIVERIES,
  EVENTS_UNROUTED,
  type Metrics,
  metricType,
} from "./metrics.ts";
import { decide, type DeliveryOutcome, MAX_RETRY_AFTER_MS, type Outcome } from "./retry.ts";
import { omitPaths, type Payload } from "./events.ts";
import { compileDigestMessage, DIGEST_EVENT } from "./digest_message.ts";
import { type CompiledRoute, planRouting, templateScope } from "./route.ts";
import type { Completion, LeasedDelivery, NewDelivery, Routing, Store } from "./store.ts";

/** How long accepted bodies are remembered to answer replays as duplicates: 7 days. */
export const REPLAY_WINDOW_MS = 7 * 86_400_000;

/**
 * Where a destination stands, as the console's overview shows it: "off" when the config does not
 * enable it, "disabled" when its endpoint said it is gone, "paused" by hand, "waiting" for the
 * service's Retry-After (`until`), "delivering" with attempts in flight, "retrying" when its last
 * attempt failed and is to be tried again, "idle" otherwise.
 */
export interface DestinationState {
  state: "delivering" | "retrying" | "waiting" | "paused" | "disabled" | "off" | "idle";
  /** When a "waiting" destination may send again (ms); null in every other state. */
  until: number | null;
  /** Attempts in flight now. */
  inFlight: number;
}

/**
 * What the dispatcher tells whoever watches it (the alerter): each attempt's outcome, a
 * destination disabled because its endpoint is gone or enabled again, and a store error that
 * kept attempt results from being recorded or stored events from being routed. Errors are
 * redacted.
 */
export type DispatcherSignal =
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
  | { kind: "store"; step: "record" | "route"; error: string };

/** Options of {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  store: Store;
  /** The current runtime; called often, so a reload takes effect at once. */
  runtime: () => Runtime;
  log: Logger;
  metrics?: Metrics;
  /** The clock (ms); injected in tests. */
  now?: () => number;
  /** Random numbers in [0, 1) for jitter. */
  random?: () => number;
  /** How often idle loops look at the store again (ms). */
  pollMs?: number;
  /** Most deliveries leased, or events routed, per store call. */
  batch?: number;
  /** Takes the config's secrets out of an attempt's error before it is stored or logged. */
  redact?: (text: string) => string;
  /** Told when routing put events into digests (the digest scheduler looks again). */
  digested?: () => void;
  /** Told of attempts, disabled destinations and store errors; must not throw. */
  onSignal?: (signal: DispatcherSignal) => void;
}

/**
 * A wake-up signal: `wait(ms)` resolves on `notify()` or after `ms`, leaving no timer behind. A
 * notify that finds nobody waiting is kept for the next wait, so news that arrives while the
 * loop is busy (say, in the middle of a lease) is not missed.
 */
export class Wakeup {
  #waiters = new Set<() => void>();
  #pending = false;

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  notify(): void {
    if (this.#waiters.size === 0) this.#pending = true;
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/**
 * Routes and delivers stored events until stopped. Events are normally routed at ingest (see
 * {@linkcode Dispatcher.plan}); the router loop takes any stored without deliveries.
 */
export class Dispatcher {
  #options: Required<Omit<DispatcherOptions, "metrics">> & { metrics: Metrics | undefined };
  #owner = newId("worker");
  #running = false;
  #routerWake = new Wakeup();
  #routerDone: Promise<void> = Promise.resolve();
  #maintainWake = new Wakeup();
  #maintainDone: Promise<void> = Promise.resolve();
  #lanes = new Map<string, Lane>();
  #disabled = new Set<string>();
  #paused = new Set<string>();
  #abort = new AbortController();
  #pending: Completion[] = [];
  #flushing: Promise<void> | null = null;
  #fallbackMessages = new Map<string, MessageTemplate>();
  /** Origins that answered lately: this relay's, ending with it. */
  readonly origins = new ReachableOrigins();

  constructor(options: DispatcherOptions) {
    this.#options = {
      now: Date.now,
      random: Math.random,
      pollMs: 500,
      batch: 100,
      redact: (text: string) => text,
      onSignal: () => {},
      digested: () => {},
      ...options,
      metrics: options.metrics,
    };
  }

  /** The lease owner id of this worker. */
  get owner(): string {
    return this.#owner;
  }

  /** Starts routing and delivering. */
  async start(): Promise<void> {
    this.#running = true;
    await this.refreshDisabled();
    this.#routerDone = this.#routeLoop();
    this.#maintainDone = this.#maintainLoop();
    this.reconcile();
  }

  /**
   * New events were stored: their deliveries' lanes look now rather than at the next poll, and
   * events stored unrouted are routed now.
   */
  notify(deliveries?: readonly NewDelivery[]): void {
    if (deliveries === undefined) {
      this.#routerWake.notify();
      return;
    }
    for (const d of deliveries) this.#lanes.get(d.destination)?.wake.notify();
  }

  /**
   * What an event gets from the current routes: a delivery per matching route and destination,
   * a digest item where the route is a digest.
   */
  plan(
    event: { id: string; type: string; receivedAt: number; orderKey: string | null },
    payload: Payload,
  ): Routing {
    return planRouting(this.#options.runtime(), event, payload);
  }

  /** Logs and counts an event that matched no route (it stays stored). */
  unrouted(event: { id: string; type: string }): void {
    this.#options.log.info("event unrouted", { event: event.id, type: event.type });
    this.#options.metrics?.inc(...EVENTS_UNROUTED, {
      type: metricType(event.type),
    });
  }

  /** Each enabled destination's concurrency limit now (adaptive or as configured). */
  concurrencyLimits(): Map<string, number> {
    const limits = new Map<string, number>();
    for (const [name, runtime] of this.#options.runtime().destinations) {
      if (!runtime.enabled) continue;
      const lane = this.#lanes.get(name);
      limits.set(
        name,
        lane ? lane.limit(runtime) : runtime.adaptive ? ADAPTIVE_START : runtime.concurrency,
      );
    }
    return limits;
  }

  /** Starts lanes for destinations added by a reload; removed ones' lanes stop by themselves. */
  reconcile(): void {
    if (!this.#running) return;
    for (const [name, runtime] of this.#options.runtime().destinations) {
      if (!runtime.enabled || this.#lanes.has(name)) continue;
      const lane = new Lane(name, this);
      this.#lanes.set(name, lane);
      lane.done = lane.run().finally(() => {
        if (this.#lanes.get(name) === lane) this.#lanes.delete(name);
        // A reload may have added the destination back while this lane was finishing.
        this.reconcile();
      });
    }
    for (const lane of this.#lanes.values()) lane.wake.notify();
  }

  /**
   * Re-reads which destinations are disabled or paused by hand (the CLI, the admin API or another
   * relay may change either); lanes that may deliver again look at once.
   */
  async refreshDisabled(): Promise<void> {
    const { store } = this.#options;
    const [disabled, paused] = await Promise.all([
      store.disabledDestinations(),
      store.pausedDestinations(),
    ]);
    const disabledNow = new Set(disabled.map((d) => d.name));
    const pausedNow = new Set(paused.map((d) => d.name));
    const freed = [...this.#disabled, ...this.#paused].filter((name) =>
      !disabledNow.has(name) && !pausedNow.has(name)
    );
    for (const name of this.#disabled) {
      if (!disabledNow.has(name)) this.#options.onSignal({ kind: "enabled", destination: name });
    }
    this.#disabled = disabledNow;
    this.#paused = pausedNow;
    for (const name of freed) this.#lanes.get(name)?.wake.notify();
  }

  /** Re-reads paused (and disabled) destinations now, after a pause or resume. */
  refreshPaused(): Promise<void> {
    return this.refreshDisabled();
  }

  /** Whether a destination is disabled in the store. */
  isDisabled(name: string): boolean {
    return this.#disabled.has(name);
  }

  /** Whether a destination is paused by hand. */
  isPaused(name: string): boolean {
    return this.#paused.has(name);
  }

  /** Each configured destination's state, from what its lane knows now. */
  destinationStates(): Map<string, DestinationState> {
    const states = new Map<string, DestinationState>();
    const t = this.#options.now();
    for (const [name, runtime] of this.#options.runtime().destinations) {
      const lane = this.#lanes.get(name);
      const inFlight = lane?.inFlight ?? 0;
      const state = (s: DestinationState["state"], until: number | null = null) =>
        states.set(name, { state: s, until, inFlight });
      if (!runtime.enabled) state("off");
      else if (this.#disabled.has(name)) state("disabled");
      else if (this.#paused.has(name)) state("paused");
      else if (lane !== undefined && t < lane.pausedUntil) state("waiting", lane.pausedUntil);
      else if (inFlight > 0) state("delivering");
      else if (lane?.failing) state("retrying");
      else state("idle");
    }
    return states;
  }

  /**
   * Stops: no new leases, in-flight attempts get until `deadlineMs` to finish, then are aborted
   * and their leases released without counting an attempt. Results are written before it resolves.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#routerWake.notify();
    this.#maintainWake.notify();
    for (const lane of this.#lanes.values()) lane.wake.notify();
    const lanes = Promise.all([...this.#lanes.values()].map((lane) => lane.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, deadlineMs));
    await Promise.race([lanes, deadline]);
    clearTimeout(timer);
    this.#abort.abort();
    await lanes;
    await this.#routerDone;
    await this.#maintainDone;
    await this.#flush();
  }

  get running(): boolean {
    return this.#running;
  }

  get options() {
    return this.#options;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Re-reads disabled and paused destinations every few polls and prunes old records hourly. */
  async #maintainLoop(): Promise<void> {
    const { log, pollMs } = this.#options;
    let nextPrune = this.#options.now() + 60_000;
    while (this.#running) {
      await this.#maintainWake.wait(pollMs * 2);
      if (!this.#running) break;
      try {
        await this.refreshDisabled();
        const now = this.#options.now();
        if (now >= nextPrune) {
          nextPrune = now + 3_600_000;
          const removed = await this.prune(now);
          if (removed.deliveries + removed.events > 0) log.info("pruned old records", removed);
        }
      } catch (error) {
        log.error("maintenance failed", { error: (error as Error).message });
      }
    }
  }

  /** Removes records past their retention: delivered and dead deliveries, then spent events. */
  prune(now: number): Promise<{ deliveries: number; events: number }> {
    const { delivered, dead } = this.#options.runtime().retention;
    return this.#options.store.prune({
      deliveredBefore: now - delivered,
      deadBefore: now - dead,
      // Fingerprints must outlive the replay window, whatever the delivered retention says.
      eventsBefore: now - Math.max(delivered, REPLAY_WINDOW_MS),
      batch: 500,
    });
  }

  async #routeLoop(): Promise<void> {
    const { store, log, pollMs, batch } = this.#options;
    while (this.#running) {
      try {
        const events = await store.unroutedEvents(batch * 5);
        if (events.length === 0) {
          await this.#routerWake.wait(pollMs);
          continue;
        }
        const routed = events.map((event) => {
          const { deliveries, digests } = this.plan(event, parsePayload(event.body));
          if (deliveries.length === 0 && digests.length === 0) this.unrouted(event);
          return { eventId: event.id, deliveries, digests };
        });
        await store.routeEvents(routed, this.#options.now());
        this.notify(routed.flatMap((r) => r.deliveries));
        if (routed.some((r) => r.digests.length > 0)) this.#options.digested();
      } catch (error) {
        log.error("routing failed", { error: (error as Error).message });
        this.#options.onSignal({
          kind: "store",
          step: "route",
          error: this.#options.redact((error as Error).message),
        });
        await this.#routerWake.wait(pollMs);
      }
    }
  }

  /** The message for a delivery: its route's, or the default when the route was removed. */
  message(routeName: string, eventType: string): MessageTemplate {
    const route: CompiledRoute | undefined = this.#options.runtime().routes.find((r) =>
      r.name === routeName
    );
    if (route) return route.message(eventType);
    let fallback = this.#fallbackMessages.get(eventType);
    if (fallback === undefined) {
      fallback = eventType === DIGEST_EVENT ? compileDigestMessage() : compileMessage(eventType);
      this.#fallbackMessages.set(eventType, fallback);
    }
    return fallback;
  }

  /** Queues an attempt's result; resolves once it is written. */
  complete(completion: Completion): Promise<void> {
    this.#pending.push(completion);
    if (this.#flushing === null) {
      this.#flushing = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() =>
        this.#flush()
      );
    }
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = null;
    if (batch.length === 0) return;
    for (;;) {
      try {
        await this.#options.store.complete(batch);
        return;
      } catch (error) {
        // The leases expire on their own, so the worst case is a repeated attempt, never a loss.
        this.#options.log.error("cannot record attempt results", {
          error: (error as Error).message,
        });
        this.#options.onSignal({
          kind: "store",
          step: "record",
          error: this.#options.redact((error as Error).message),
        });
        if (!this.#running) return;
        await new Promise((resolve) => setTimeout(resolve, this.#options.pollMs));
      }
    }
  }
}

/** One destination's delivery loop. */
class Lane {
  readonly name: string;
  readonly wake = new Wakeup();
  done: Promise<void> = Promise.resolve();
  #dispatcher: Dispatcher;
  #inFlight = new Set<Promise<void>>();
  #pausedUntil = 0;
  #failing = false;
  #tokens = 0;
  #tokensAt = 0;
  #adaptive = new AdaptiveLimit();

  /** Attempts in flight now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Until when the service's Retry-After holds the lane back (ms). */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** Whether the last attempt failed and its delivery waits for another. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Attempts this lane keeps in flight now. */
  limit(runtime: DestinationRuntime): number {
    return runtime.adaptive
      ? Math.min(this.#adaptive.value, runtime.concurrency)
      : runtime.concurrency;
  }

  constructor(name: string, dispatcher: Dispatcher) {
    this.name = name;
    this.#dispatcher = dispatcher;
  }

  async run(): Promise<void> {
    const d = this.#dispatcher;
    const { store, log, pollMs, batch, now } = d.options;
    while (d.running) {
      const runtime = d.options.runtime().destinations.get(this.name);
      if (runtime === undefined || !runtime.enabled) break;
      try {
        // Paused by hand, or disabled: nothing is leased, so deliveries wait with their attempts
        // unspent; refreshDisabled wakes the lane when either ends.
        if (d.isDisabled(this.name) || d.isPaused(this.name)) {
          await this.wake.wait(pollMs * 4);
          continue;
        }
        const t = now();
        if (t < this.#pausedUntil) {
          await this.wake.wait(Math.min(this.#pausedUntil - t, pollMs * 4));
          continue;
        }
        const free = this.limit(runtime) - this.#inFlight.size;
        if (free <= 0) {
          await Promise.race([...this.#inFlight]);
          continue;
        }
        const allowed = this.#allowance(runtime, t);
        if (allowed <= 0) {
          await this.wake.wait(this.#untilNextToken(runtime));
          continue;
        }
        const limit = Math.min(free, allowed, batch);
        const leased = await store.lease(this.name, {
          now: t,
          limit,
          leaseMs: d.options.runtime().leaseMs,
          owner: d.owner,
          ordered: runtime.ordered,
        });
        if (leased.length === 0) {
          await this.wake.wait(pollMs);
          continue;
        }
        for (const delivery of leased) {
          this.#spend(runtime);
          const attempt = this.#attempt(delivery, runtime).catch((error) => {
            // Never an unhandled rejection: the lease expires and the delivery is tried again.
            log.error("attempt failed unexpectedly", {
              delivery: delivery.id,
              destination: this.name,
              error: (error as Error).message,
            });
          }).finally(() => {
            this.#inFlight.delete(attempt);
            // Its completion may free the next delivery of its order key: look again at once.
            if (runtime.ordered && delivery.orderKey !== null) this.wake.notify();
          });
          this.#inFlight.add(attempt);
        }
        // Fewer than asked for: nothing else is due now, so wait for news (new deliveries, a
        // replay, a reload) or the next poll rather than look again at once. A lane held back by
        // its concurrency waits for an attempt to finish instead (above).
        if (leased.length < limit) await this.wake.wait(pollMs);
      } catch (error) {
        log.error("delivery lane failed", {
          destination: this.name,
          error: (error as Error).message,
        });
        await this.wake.wait(pollMs);
      }
    }
    await Promise.all([...this.#inFlight]);
  }

  /** Tokens available now under the rate limit (unbounded without one). */
  #allowance(runtime: DestinationRuntime, t: number): number {
    const limit = runtime.rateLimit;
    if (limit === null) return Infinity;
    if (this.#tokensAt === 0) {
      this.#tokens = limit.burst;
    } else {
      this.#tokens = Math.min(
        limit.burst,
        this.#tokens + ((t - this.#tokensAt) / 1000) * limit.perSecond,
      );
    }
    this.#tokensAt = t;
    return Math.floor(this.#tokens);
  }

  #spend(runtime: DestinationRuntime): void {
    if (runtime.rateLimit !== null) this.#tokens -= 1;
  }

  #untilNextToken(runtime: DestinationRuntime): number {
    const limit = runtime.rateLimit;
    if (limit === null) return 0;
    return Math.max(1, Math.ceil(((1 - this.#tokens) / limit.perSecond) * 1000));
  }

  async #attempt(delivery: LeasedDelivery, runtime: DestinationRuntime): Promise<void> {
    const d = this.#dispatcher;
    const { log, metrics, now, random, redact } = d.options;
    const event = {
      id: delivery.eventId,
      type: delivery.eventType,
      receivedAt: delivery.eventReceivedAt,
    };
    // Parsed and rendered only for destinations that use them: an http destination sends the
    // raw body as it is.
    let payload: Payload | undefined;
    let message: Message | undefined;
    // A destination with `omit` sees the payload without those fields, its raw body included.
    const body = runtime.omit.length === 0
      ? delivery.body
      : JSON.stringify(omitPaths(parsePayload(delivery.body), runtime.omit));
    const request: DeliveryRequest = {
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      receivedAt: delivery.eventReceivedAt,
      body,
      get payload() {
        return payload ??= parsePayload(body);
      },
      get message() {
        return message ??= d.message(delivery.route, delivery.eventType)(
          templateScope(this.payload, event),
        );
      },
      attempt: delivery.attempts + 1,
    };
    const started = now();
    let outcome: Outcome;
    try {
      // A destination added or enabled since the start may be the first to render a message.
      // Should Liquid fail to load, the attempt counts as a retry like any destination error.
      if (runtime.rendersMessages && !templatesLoaded()) await warmMessages(d.options.runtime());
      outcome = await runtime.destination.send(request, {
        timeouts: runtime.timeouts,
        signal: d.signal,
        now,
        origins: d.origins,
      });
    } catch (error) {
      outcome = {
        kind: "retry",
        httpStatus: null,
        error: `destination error (${(error as Error).name})`,
      };
    }
    const finished = now();
    const ms = finished - started;
    if (d.signal.aborted && outcome.kind === "retry") {
      // Cut short by shutdown: hand the delivery back untouched.
      await d.options.store.release([delivery.id], finished).catch(() => {});
      log.info("attempt abandoned at shutdown", {
        delivery: delivery.id,
        event: delivery.eventId,
        destination: this.name,
      });
      return;
    }
    const decision = decide(outcome, delivery, { policy: runtime.policy, now: finished, random });
    const error = outcome.kind === "delivered" ? null : redact(outcome.error);
    if (outcome.kind === "gone") {
      try {
        await d.options.store.setDisabled(this.name, error ?? "gone", finished);
        await d.refreshDisabled();
        log.warn("destination disabled: its endpoint says it is gone", {
          destination: this.name,
          status: outcome.httpStatus,
          error,
        });
        d.options.onSignal({ kind: "disabled", destination: this.name, error: error ?? "gone" });
      } catch (failure) {
        // The delivery stays due without using an attempt; the next 410 tries again.
        log.error("cannot disable destination", {
          destination: this.name,
          error: (failure as Error).message,
        });
      }
    }
    if (runtime.adaptive) {
      if (outcome.kind === "delivered") this.#adaptive.success(ms);
      else if (outcome.kind === "retry" && pushedBack(outcome.httpStatus)) {
        this.#adaptive.overload(finished, ms);
      }
    }
    if (outcome.kind === "retry" && outcome.retryAfterMs !== undefined) {
      // Capped like the delivery's own next attempt, so no header can park the lane for good.
      const pause = Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS);
      this.#pausedUntil = Math.max(this.#pausedUntil, finished + pause);
    }
    this.#failing = decision.status === "failed";
    await d.complete({
      deliveryId: delivery.id,
      status: decision.status,
      attempts: decision.attempts,
      nextAt: decision.nextAt,
      lastError: error,
      attempt: {
        deliveryId: delivery.id,
        at: finished,
        ms,
        outcome: decision.label,
        httpStatus: outcome.httpStatus,
        error,
      },
    });
    const fields = {
      delivery: delivery.id,
      event: delivery.eventId,
      destination: this.name,
      outcome: decision.label,
      status: outcome.httpStatus,
      attempt: request.attempt,
      ms,
      error: error ?? undefined,
      next_at: decision.status === "failed" ? new Date(decision.nextAt).toISOString() : undefined,
    };
    if (decision.label === "delivered") log.info("delivered", fields);
    else log.warn("attempt failed", fields);
    d.options.onSignal({
      kind: "attempt",
      destination: this.name,
      outcome: decision.label,
      dead: decision.status === "dead",
      error,
    });
    metrics?.inc(...DELIVERIES, {
      destination: this.name,
      outcome: decision.label,
    });
    metrics?.observe(
      ...ATTEMPT_DURATION,
      { destination: this.name },
      ms / 1000,
    );
  }
}

/** Parses a stored body; the store only holds bodies that parsed as a JSON object. */
function parsePayload(body: string): Payload {
  try {
    const value = JSON.parse(body);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

/** An answer that says the endpoint is overloaded: 429, a 5xx, or none at all (timeout, refused). */
function pushedBack(status: number | null): boolean {
  return status === null || status === 429 || status >= 500;
}
