// The last step of the config's road: compile a validated config into what the relay runs —
// routes with compiled conditions and messages, destinations with their delivery policies.
// Template errors are collected with their JSON paths, like every other config problem.

import {
  type Config,
  ConfigError,
  crossCheck,
  type DestinationConfig,
  isEnabled,
  parseDuration,
  type RetryConfig,
} from "./config.ts";
import { type AlertSettings, compileAlertMessage } from "./alerts.ts";
import { type DeliveryRequest, type Destination, stripUndefined } from "./destination.ts";
import { digestSpecOf } from "./digest.ts";
import { compileDigestMessage, DIGEST_EVENT } from "./digest_message.ts";
import { destinationTypeOf } from "./destinations.ts";
import { ADAPTIVE_MAX } from "./concurrency.ts";
import { KNOWN_EVENT_NAMES, sourceOf } from "./events.ts";
import type { Timeouts } from "./http_client.ts";
import { compileMessage, type MessageCache, type MessageTemplate } from "./message.ts";
import { DEFAULT_POLICY, type RetryPolicy } from "./retry.ts";
import { type CompiledRoute, templateScope } from "./route.ts";
import {
  compileCondition,
  compileTemplate,
  type Condition,
  loadTemplates,
  templateError,
  templatesLoaded,
  TemplatesNotLoaded,
} from "./template.ts";

/** A destination with how it is delivered to. */
export interface DestinationRuntime {
  destination: Destination;
  enabled: boolean;
  policy: RetryPolicy;
  timeouts: Timeouts;
  /** Attempts in flight at most; with `adaptive`, the most the adaptive limit may reach. */
  concurrency: number;
  /**
   * True when the lane finds its concurrency itself (src/concurrency.ts): no `concurrency` in
   * the config and no rate limit, documented or configured.
   */
  adaptive: boolean;
  rateLimit: { perSecond: number; burst: number } | null;
  ordered: boolean;
  /**
   * Whether its requests are made from the rendered message. An http destination without a body
   * template sends the event's own bytes and needs no template at all.
   */
  rendersMessages: boolean;
  /** Payload paths this destination never sees (`omit`), each split into its keys. */
  omit: readonly (readonly string[])[];
}

/** Everything the relay runs from one config. */
export interface Runtime {
  config: Config;
  routes: CompiledRoute[];
  destinations: Map<string, DestinationRuntime>;
  leaseMs: number;
  /** How long delivered and dead deliveries are kept (ms). */
  retention: { delivered: number; dead: number };
  /** Where alerts go and when; null without `alerts`. */
  alerts: AlertSettings | null;
}

/** What the wiring provides to destinations. */
export interface CompileDeps {
  /** Where console destinations print. */
  write: (text: string) => void;
}

const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 5_000, totalMs: 15_000 };

/**
 * Compiles a config; throws {@linkcode ConfigError} listing every template problem, and
 * {@linkcode TemplatesNotLoaded} when the config has templates of its own and Liquid is not
 * loaded (see {@linkcode compileConfigLoading}).
 */
export function compileConfig(config: Config, source: string, deps: CompileDeps): Runtime {
  const problems: string[] = crossCheck(config);
  const compiled: MessageCache = new Map();
  const routes = config.routes.map((route, i) => {
    let when: Condition | null = null;
    if (route.when !== undefined) {
      try {
        when = compileCondition(route.when);
      } catch (error) {
        problems.push(`routes[${i}].when: ${templateError(error)}`);
      }
    }
    const types = route.events === "*" ? [...KNOWN_EVENT_NAMES] : route.events;
    const messages = new Map<string, MessageTemplate>();
    const overrides = stripUndefined(route.message ?? {});
    const compileMessages = () => {
      for (const type of [...types, ""]) {
        messages.set(type, compileMessage(type, overrides, compiled));
      }
    };
    // A route's own message parts are checked now. The built-in messages alone may wait for
    // Liquid to load: see warmMessages().
    if (Object.keys(overrides).length > 0 || templatesLoaded()) {
      try {
        compileMessages();
      } catch (error) {
        for (const line of templateError(error).split("\n")) {
          problems.push(`routes[${i}].message.${line}`);
        }
      }
    }
    let digest: CompiledRoute["digest"] = null;
    let digestMessage: MessageTemplate | null = null;
    if (route.digest !== undefined) {
      try {
        digest = digestSpecOf(route.digest, parseDuration(route.digest.every));
      } catch (error) {
        problems.push(`routes[${i}].digest.${(error as Error).message}`);
      }
    }
    return {
      name: route.name,
      events: route.events === "*" ? null : new Set(route.events),
      when,
      to: route.to,
      digest,
      message: (eventType: string) => {
        // A digest's message is its built-in summary with the route's parts in its place.
        if (eventType === DIGEST_EVENT) return digestMessage ??= compileDigestMessage(overrides);
        if (messages.size === 0) compileMessages();
        const known = messages.get(eventType);
        if (known !== undefined) return known;
        // A source's event (under "*" or "<source>.*") gets the built-in source message.
        if (sourceOf(eventType) !== null) return compileMessage(eventType, overrides, compiled);
        return messages.get("")!;
      },
    };
  });
  const destinations = new Map<string, DestinationRuntime>();
  const defaults = config.delivery;
  for (const [name, entry] of Object.entries(config.destinations)) {
    const destination = createDestination(name, entry, deps, (key, message) => {
      problems.push(`destinations.${name}.${key}: ${message}`);
    });
    const timeout = entry.timeout ?? defaults.timeout;
    const type = destinationTypeOf(entry.type);
    const rateLimit = entry.rate_limit;
    const paced = rateLimit !== undefined || type.pace !== null;
    const fixed = entry.concurrency ?? defaults.concurrency;
    const adaptive = fixed === undefined && !paced && type.adaptive !== false;
    destinations.set(name, {
      destination,
      enabled: isEnabled(entry),
      rendersMessages: type.rendersMessages(entry),
      omit: (entry.omit ?? []).map((path) => path.split(".")),
      policy: policyOf(entry.retry ?? defaults.retry),
      timeouts: {
        connectMs: timeout?.connect !== undefined
          ? parseDuration(timeout.connect)
          : DEFAULT_TIMEOUTS.connectMs,
        totalMs: timeout?.total !== undefined
          ? parseDuration(timeout.total)
          : DEFAULT_TIMEOUTS.totalMs,
      },
      concurrency: fixed ?? (adaptive ? ADAPTIVE_MAX : 4),
      adaptive,
      rateLimit: rateLimit
        ? { perSecond: rateLimit.per_second, burst: rateLimit.burst ?? 1 }
        : type.pace,
      ordered: entry.ordered ?? defaults.ordered ?? true,
    });
  }
  const leaseMs = defaults.lease !== undefined ? parseDuration(defaults.lease) : 60_000;
  for (const [name, runtime] of destinations) {
    if (runtime.timeouts.totalMs >= leaseMs) {
      problems.push(
        `destinations.${name}.timeout.total: expected less than delivery.lease (${leaseMs} ms), ` +
          "or a slow attempt could be leased twice",
      );
    }
  }
  const alerts = alertSettingsOf(config, compiled, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  const retention = {
    delivered: parseDuration(config.retention.delivered),
    dead: parseDuration(config.retention.dead),
  };
  return { config, routes, destinations, leaseMs, retention, alerts };
}

/** The config's `alerts`, its message compiled (its problems added to `problems`). */
function alertSettingsOf(
  config: Config,
  cache: MessageCache,
  problems: string[],
): AlertSettings | null {
  if (config.alerts === undefined) return null;
  const { to, window, consecutive_failures, oldest_waiting, message } = config.alerts;
  try {
    return {
      to,
      windowMs: parseDuration(window),
      consecutiveFailures: consecutive_failures,
      oldestWaitingMs: parseDuration(oldest_waiting),
      message: compileAlertMessage(stripUndefined(message ?? {}), cache),
    };
  } catch (error) {
    for (const line of templateError(error).split("\n")) problems.push(`alerts.message.${line}`);
    return null;
  }
}

/** Turns retry settings into a policy, filling gaps from the default. */
export function policyOf(retry: RetryConfig | undefined): RetryPolicy {
  if (retry === undefined) return DEFAULT_POLICY;
  const scheduleMs = retry.schedule?.map(parseDuration) ?? DEFAULT_POLICY.scheduleMs;
  return {
    scheduleMs,
    jitter: retry.jitter ?? DEFAULT_POLICY.jitter,
    maxAttempts: retry.max_attempts ?? scheduleMs.length,
    maxAgeMs: retry.max_age !== undefined ? parseDuration(retry.max_age) : null,
  };
}

/**
 * Compiles a config, loading Liquid first only when the config has templates of its own
 * (conditions, message parts, bodies, subjects). A config without them compiles at once, and its
 * routes' built-in messages compile on first use or in {@linkcode warmMessages}.
 */
export async function compileConfigLoading(
  config: Config,
  source: string,
  deps: CompileDeps,
): Promise<Runtime> {
  try {
    return compileConfig(config, source, deps);
  } catch (error) {
    if (!(error instanceof TemplatesNotLoaded)) throw error;
  }
  await loadTemplates();
  return compileConfig(config, source, deps);
}

/**
 * Loads Liquid and compiles every route's messages, so that no delivery compiles a template.
 * With `onlyIfRendered`, only when an enabled destination renders messages: a relay that only
 * forwards events as they are never loads Liquid.
 */
export async function warmMessages(runtime: Runtime, onlyIfRendered = false): Promise<void> {
  if (onlyIfRendered) {
    const renders = [...runtime.destinations.values()].some((d) => d.enabled && d.rendersMessages);
    if (!renders) return;
  }
  await loadTemplates();
  for (const route of runtime.routes) route.message("");
}

function createDestination(
  name: string,
  entry: DestinationConfig,
  deps: CompileDeps,
  problem: (key: string, message: string) => void,
): Destination {
  const bodyTemplate = (source: string | undefined, key = "body") => {
    if (source === undefined) return undefined;
    try {
      const template = compileTemplate(source);
      return (request: DeliveryRequest) =>
        template({
          ...templateScope(request.payload, {
            id: request.eventId,
            type: request.eventType,
            receivedAt: request.receivedAt,
          }),
          message: request.message,
          delivery: { id: request.deliveryId, attempt: request.attempt },
        });
    } catch (error) {
      problem(key, templateError(error));
      return undefined;
    }
  };
  return destinationTypeOf(entry.type).create(name, entry, {
    template: bodyTemplate,
    enabled: isEnabled(entry),
    write: deps.write,
  });
}
