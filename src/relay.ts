// The wiring: one relay from one config — store, verifier, HTTP server and delivery worker —
// with reload and a graceful stop. main.ts and the end-to-end tests both start relays here.

import { dirname } from "node:path";
import { type AdminServer, startAdmin } from "./admin.ts";
import { ALERT_KINDS, Alerter } from "./alerts.ts";
import { type AdminToken, resolveAdminToken } from "./admin_token.ts";
import type { ReloadResult } from "./console/options.ts";
import { testSender } from "./console/preview.ts";
import { compileConfigLoading, type Runtime, warmMessages } from "./compile.ts";
import { type Config, ConfigError, configSecrets, parseDuration } from "./config.ts";
import { DigestScheduler } from "./digest.ts";
import { KNOWN_EVENT_NAMES, UNKNOWN_EVENT } from "./events.ts";
import { GroupCommit } from "./group_commit.ts";
import type { Logger } from "./log.ts";
import { defaultMaxConnections, listen, type Listener, type ListenerLimits } from "./listener.ts";
import {
  ALERT_FAILURES,
  ALERTS_SENT,
  ATTEMPT_DURATION,
  CONNECTIONS_EVICTED,
  DELIVERIES,
  EVENTS_ACCEPTED,
  EVENTS_DUPLICATE,
  EVENTS_UNROUTED,
  HTTP_REQUESTS,
  LISTENER_RESTARTS,
  Metrics,
  metricType,
  SOURCE_VERIFICATION_FAILURES,
  VERIFICATION_FAILURES,
} from "./metrics.ts";
import { Redactor } from "./redact.ts";
import { createHandler } from "./server.ts";
import { SOURCE_FAILURES } from "./source.ts";
import { createSources } from "./sources.ts";
import type { Store } from "./store.ts";
import { maskPostgresUrl, PostgresStore } from "./store_postgres.ts";
import { DELIVERY_OUTCOMES } from "./retry.ts";
import { SqliteStore } from "./store_sqlite.ts";
import { Verifier, VERIFY_FAILURES } from "./verify.ts";
import { Dispatcher, REPLAY_WINDOW_MS } from "./worker.ts";

/** The default database path when the config names none. */
export const DEFAULT_SQLITE_PATH = "./data/hero-relay.db";

/** Options of {@linkcode startRelay}. */
export interface RelayOptions {
  config: Config;
  /** Names the config in errors (its file path). */
  source: string;
  log: Logger;
  /** Where console destinations print. */
  write: (text: string) => void;
  /** Overrides `listen.hostname` / `listen.port` (port 0 picks a free one). */
  hostname?: string;
  port?: number;
  /** The clock (ms); injected in tests. */
  now?: () => number;
  /** Worker poll interval (ms). */
  pollMs?: number;
  /** How long a console session lasts (ms); 12 hours when left out. Shorter in tests. */
  consoleSessionMs?: number;
  /**
   * Redacts the config's secrets; the relay sets it from the config at the start and at each
   * reload, so a logger built on the same one follows. One of its own when left out.
   */
  redactor?: Redactor;
}

/** A running relay. */
export interface Relay {
  /** Base URL, such as "http://127.0.0.1:8080". */
  url: string;
  /** Base URL of the admin API, or null when the config has no `admin`. */
  adminUrl: string | null;
  store: Store;
  metrics: Metrics;
  dispatcher: Dispatcher;
  /** Closes due digest windows. */
  digests: DigestScheduler;
  /** Applies a new config; throws ConfigError and keeps the old one when it is bad. */
  reload(config: Config): Promise<void>;
  /** Records a reload that failed before reaching the relay (a config that did not parse). */
  reloadFailed(problems: readonly string[]): void;
  /** Stops accepting, finishes or releases in-flight attempts, closes the store. */
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * Opens the store a config names: PostgreSQL when `store.postgres` is set, otherwise the SQLite
 * file (its folder created if needed). Rejects when the database cannot be reached.
 */
export async function openStore(config: Config): Promise<Store> {
  if (config.store.postgres !== undefined) return await PostgresStore.open(config.store.postgres);
  const path = config.store.sqlite ?? DEFAULT_SQLITE_PATH;
  if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
  return SqliteStore.open(path);
}

/** Names the store a config uses, for logs and `check`, with any password masked. */
export function describeStore(config: Config): string {
  return config.store.postgres !== undefined
    ? `postgres ${maskPostgresUrl(config.store.postgres)}`
    : `sqlite ${config.store.sqlite ?? DEFAULT_SQLITE_PATH}`;
}

/** Starts a relay; throws ConfigError for a config that compiles badly. */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const { log } = options;
  const redactor = options.redactor ?? new Redactor();
  redactor.set(configSecrets(options.config));
  let runtime: Runtime = await compileConfigLoading(options.config, options.source, {
    write: options.write,
  });
  // SQLite has one owner, so every lease found at start is a dead relay's. Relays sharing a
  // PostgreSQL database hold live leases: those are left to expire.
  const lock = runtime.config.store.postgres === undefined ? await lockStore(runtime.config) : null;
  let store: Store;
  try {
    store = await openStore(runtime.config);
  } catch (error) {
    lock?.close();
    throw error;
  }
  const facts = store.facts();
  if (facts.soleOwner) await store.release(null, (options.now ?? Date.now)());
  const durability = facts.durability;
  for (const warning of facts.warnings) log.warn(warning);
  const metrics = new Metrics();
  let verifier = await createVerifier(runtime.config);
  let sources = await createSources(runtime.config.sources, {
    ...(options.now ? { now: options.now } : {}),
  });
  const dispatcher = new Dispatcher({
    store,
    runtime: () => runtime,
    log,
    metrics,
    redact: redactor.redactCut,
    onSignal: (signal) => alerter.signal(signal),
    digested: () => digests.notify(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
  // Alerts go straight through the running destinations, so they go out while the store is down.
  const alerter = new Alerter({
    runtime: () => runtime,
    log,
    metrics,
    redact: redactor.redactCut,
    origins: dispatcher.origins,
    queueStats: () => store.queueStats(),
    held: (name) => dispatcher.isDisabled(name) || dispatcher.isPaused(name),
    ...(options.now ? { now: options.now } : {}),
  });
  // Closes digest windows into digest events, each with one delivery the dispatcher sends.
  const digests = new DigestScheduler({
    store,
    routes: () => runtime.routes,
    enabled: (name) => runtime.destinations.get(name)?.enabled === true,
    closed: (deliveries) => dispatcher.notify(deliveries),
    log,
    ...(options.now ? { now: options.now } : {}),
    ...(options.pollMs ? { pollMs: Math.max(options.pollMs, 100) } : {}),
  });
  const commits = new GroupCommit(store);
  const handler = createHandler({
    verifier: () => verifier,
    sources: () => sources,
    ingest: (event) =>
      commits.add(event).catch((error) => {
        alerter.signal({
          kind: "store",
          step: "receive",
          error: redactor.redactCut((error as Error).message),
        });
        throw error;
      }),
    route: (event, payload) => dispatcher.plan(event, payload),
    accepted: (event) => {
      if (event.digests !== undefined) digests.notify();
      if (event.deliveries === undefined) dispatcher.notify();
      else if (event.deliveries.length === 0 && event.digests === undefined) {
        dispatcher.unrouted(event);
      } else dispatcher.notify(event.deliveries);
    },
    ready: () => store.ping(),
    maxBodyBytes: () => runtime.config.influencer_hero.max_body_bytes,
    bodyTimeoutMs: () => parseDuration(runtime.config.listen.body_timeout),
    maxConcurrent: () => runtime.config.listen.max_concurrent_requests,
    replayWindowMs: REPLAY_WINDOW_MS,
    log,
    metrics,
    ...(options.now ? { now: options.now } : {}),
  });
  const started = Date.now() / 1000;
  // Every family exists from the first scrape, at zero for the label sets the config implies,
  // and again after each reload (a collector runs before every scrape).
  metrics.collect(() => declareKnownSeries(metrics, runtime));
  metrics.collect(() => {
    // The process, under the names Prometheus clients use for them.
    const memory = Deno.memoryUsage();
    metrics.set(
      "process_resident_memory_bytes",
      "Resident memory size in bytes",
      {},
      memory.rss,
    );
    metrics.set("process_start_time_seconds", "Start time since the epoch", {}, started);
    metrics.set(
      "hero_relay_js_heap_bytes",
      "JavaScript heap: total reserved, and used",
      { kind: "total" },
      memory.heapTotal,
    );
    metrics.set("hero_relay_js_heap_bytes", "JavaScript heap: total reserved, and used", {
      kind: "used",
    }, memory.heapUsed);
    metrics.set(
      "hero_relay_external_memory_bytes",
      "Memory held outside the JavaScript heap by its objects (buffers)",
      {},
      memory.external,
    );
  });
  metrics.collect(async () => {
    // Every configured destination has a series (0 when idle); a removed destination still
    // holding parked deliveries keeps one too.
    const stats = new Map<
      string,
      { destination: string; depth: number; oldestAt: number | null }
    >();
    for (const name of runtime.destinations.keys()) {
      stats.set(name, { destination: name, depth: 0, oldestAt: null });
    }
    for (const s of await store.queueStats()) stats.set(s.destination, s);
    const now = (options.now ?? Date.now)();
    metrics.reset("hero_relay_queue_depth");
    metrics.reset("hero_relay_queue_oldest_age_seconds");
    for (const s of stats.values()) {
      metrics.set("hero_relay_queue_depth", "Deliveries waiting, per destination", {
        destination: s.destination,
      }, s.depth);
      metrics.set(
        "hero_relay_queue_oldest_age_seconds",
        "Age of the oldest waiting delivery, per destination",
        { destination: s.destination },
        s.oldestAt === null ? 0 : Math.max(0, (now - s.oldestAt) / 1000),
      );
    }
    metrics.reset("hero_relay_destination_concurrency_limit");
    for (const [destination, limit] of dispatcher.concurrencyLimits()) {
      metrics.set(
        "hero_relay_destination_concurrency_limit",
        "Attempts a destination may have in flight now (adaptive unless concurrency is set)",
        { destination },
        limit,
      );
    }
    metrics.reset("hero_relay_destination_disabled");
    const disabled = new Set((await store.disabledDestinations()).map((d) => d.name));
    for (const name of runtime.destinations.keys()) {
      metrics.set(
        "hero_relay_destination_disabled",
        "1 when a destination is disabled because its endpoint is gone",
        { destination: name },
        disabled.has(name) ? 1 : 0,
      );
    }
  });
  // The one way down, for a failed start and for stop(): intake first, then delivery, then the
  // store and its lock. Each part is closed only if it was started.
  let listening: Listener | null = null;
  let admin: AdminServer | null = null;
  let delivering = false;
  const teardown = async (deadlineMs?: number) => {
    await listening?.close();
    handler.close();
    await admin?.stop();
    if (delivering) await digests.stop();
    if (delivering) await dispatcher.stop(deadlineMs);
    await alerter.stop();
    await store.close();
    lock?.close();
  };
  const { hostname, port } = runtime.config.listen;
  const fallbackConnections = defaultMaxConnections();
  const server = await listen({
    hostname: options.hostname ?? hostname,
    port: options.port ?? port,
    limits: () => listenerLimits(runtime.config, fallbackConnections),
    handler,
    onEvicted: () => metrics.inc(...CONNECTIONS_EVICTED),
    onRelisten: (error) => {
      if (error === null) {
        metrics.inc(...LISTENER_RESTARTS);
        log.warn(
          "the webhook listener had stopped accepting connections (out of file descriptors?) " +
            "and listens again",
        );
      } else {
        log.error("the webhook listener cannot listen again yet; trying again in 5 s", {
          error: error.message,
        });
      }
    },
  }).catch(async (error) => {
    await teardown();
    throw error;
  });
  listening = server;
  const addr = server.addr;
  metrics.collect(() => {
    metrics.set(
      "hero_relay_open_connections",
      "Connections open on the webhook listener",
      {},
      server.stats().connections,
    );
  });
  const adminConfig = runtime.config.admin;
  let adminToken: AdminToken | null = null;
  let lastReload: ReloadResult | null = null;
  const secretsOf = (config: Config) =>
    adminToken?.file
      ? [...configSecrets(config), { value: adminToken.token, kind: "text" as const }]
      : configSecrets(config);
  if (adminConfig !== undefined) {
    try {
      adminToken = await resolveAdminToken(runtime.config, options.source, log);
    } catch (error) {
      await teardown();
      throw new Error(`Cannot set up the admin token: ${(error as Error).message}`);
    }
    // A generated token is as secret as a configured one.
    if (adminToken.file !== null) redactor.set(secretsOf(runtime.config));
    admin = await startAdmin({
      hostname: adminConfig.hostname,
      port: adminConfig.port,
      token: adminToken.token,
      store,
      destinations: () =>
        [...runtime.destinations].map(([name, d]) => ({
          name,
          type: d.destination.type,
          enabled: d.enabled,
        })),
      replayed: () => dispatcher.reconcile(),
      enabled: () => dispatcher.refreshDisabled(),
      paused: () => dispatcher.refreshPaused(),
      states: () => dispatcher.destinationStates(),
      redactor,
      log,
      ...(adminConfig.console
        ? {
          console: {
            store,
            redactor,
            log,
            runtime: () => runtime,
            destinationStates: () => dispatcher.destinationStates(),
            lastReload: () => lastReload,
            sendTest: testSender(() => runtime, {
              origins: dispatcher.origins,
              signal: dispatcher.signal,
            }),
            replayed: () => dispatcher.reconcile(),
            enabled: () => dispatcher.refreshDisabled(),
            paused: () => dispatcher.refreshPaused(),
            ...(options.consoleSessionMs !== undefined
              ? { sessionLifetimeMs: options.consoleSessionMs }
              : {}),
          },
        }
        : {}),
    }).catch(async (error) => {
      await teardown();
      throw new Error(
        `Cannot start the admin API on ${adminConfig.hostname}:${adminConfig.port}: ` +
          (error as Error).message,
      );
    });
  }
  // The listener is up; Liquid loads now if a destination will render messages.
  try {
    await warmMessages(runtime, true);
  } catch (error) {
    await teardown();
    throw new Error(`Cannot load the template engine: ${(error as Error).message}`);
  }
  await dispatcher.start();
  delivering = true;
  digests.start();
  alerter.start();
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}`;
  if (admin !== null && adminConfig?.console !== false) {
    log.info("console ready", {
      url: `${admin.url}/`,
      sign_in: adminToken?.file
        ? `with the token in ${adminToken.file}`
        : "with the admin token of the config",
    });
  }
  log.info("relay started", {
    url: `http://${host}:${addr.port}`,
    store: describeStore(runtime.config),
    ...durability,
    routes: runtime.routes.length,
    destinations: runtime.destinations.size,
  });
  let stopped: Promise<void> | null = null;
  return {
    url,
    adminUrl: admin?.url ?? null,
    store,
    metrics,
    dispatcher,
    digests,
    async reload(config: Config) {
      try {
        await applyReload(config);
        lastReload = { at: Date.now(), ok: true, errors: [] };
      } catch (error) {
        const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
        lastReload = { at: Date.now(), ok: false, errors: problems };
        throw error;
      }
    },
    reloadFailed(problems: readonly string[]) {
      lastReload = { at: Date.now(), ok: false, errors: problems };
    },
    stop(deadlineMs = 10_000) {
      stopped ??= (async () => {
        await teardown(deadlineMs);
        log.info("relay stopped");
      })();
      return stopped;
    },
  };

  /** Compiles the new config first and swaps it in only when it compiled. */
  async function applyReload(config: Config): Promise<void> {
    const next = await compileConfigLoading(config, options.source, { write: options.write });
    await warmMessages(next, true);
    const nextVerifier = await createVerifier(next.config);
    const nextSources = await createSources(next.config.sources, {
      ...(options.now ? { now: options.now } : {}),
    });
    const { hostname: h, port: p } = next.config.listen;
    if (h !== runtime.config.listen.hostname || p !== runtime.config.listen.port) {
      log.warn("listen address changes take effect at the next start");
    }
    const { sqlite, postgres } = runtime.config.store;
    if (next.config.store.sqlite !== sqlite || next.config.store.postgres !== postgres) {
      log.warn("store changes take effect at the next start");
    }
    const [was, now] = [runtime.config.admin, next.config.admin];
    if (was?.hostname !== now?.hostname || was?.port !== now?.port) {
      log.warn("admin API address changes take effect at the next start");
    }
    // A config without a token keeps the generated one.
    const nextToken = now?.token ?? adminToken?.token;
    if (admin !== null && nextToken !== undefined && nextToken !== adminToken?.token) {
      await admin.setToken(nextToken);
      adminToken = { token: nextToken, file: now?.token === undefined ? adminToken!.file : null };
    }
    // The old secrets stay redacted too: an attempt begun before the reload may still answer.
    redactor.set([...secretsOf(runtime.config), ...secretsOf(next.config)]);
    runtime = next;
    verifier = nextVerifier;
    sources = nextSources;
    dispatcher.reconcile();
    dispatcher.notify();
    log.info("config reloaded", {
      routes: next.routes.length,
      destinations: next.destinations.size,
    });
  }
}

/** The listener's connection limits from the config's `listen` section. */
function listenerLimits(config: Config, fallbackConnections: number): ListenerLimits {
  const { listen } = config;
  const headersTimeoutMs = parseDuration(listen.header_timeout);
  return {
    maxConnections: listen.max_connections ?? fallbackConnections,
    idleTimeoutMs: parseDuration(listen.idle_timeout),
    headersTimeoutMs,
    requestTimeoutMs: headersTimeoutMs + parseDuration(listen.body_timeout) + 1_000,
  };
}

function createVerifier(config: Config): Promise<Verifier> {
  return Verifier.create(config.influencer_hero.signing_secrets, {
    toleranceSeconds: config.influencer_hero.tolerance_seconds,
  });
}

/**
 * Takes an exclusive lock on the database file itself, so two relays never share one SQLite
 * file, whatever names (symlinks, hard links) they reach it by. The lock is a BSD `flock`, which
 * Linux and macOS keep apart from the POSIX locks SQLite takes, and it is held on a descriptor
 * that stays open until the store is closed: closing a descriptor of the database while SQLite
 * has it open would drop SQLite's own locks. A new database is created readable by its owner
 * only (SQLite gives its `-wal` and `-shm` the same mode).
 */
async function lockStore(config: Config): Promise<Deno.FsFile | null> {
  const path = config.store.sqlite ?? DEFAULT_SQLITE_PATH;
  if (path === ":memory:") return null;
  Deno.mkdirSync(dirname(path), { recursive: true });
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  // A relay that is stopping may hold it a moment longer. A blocking lock() would leave a
  // thread waiting that keeps the process from exiting, so it is tried again for a while.
  let locked = await file.tryLock(true);
  for (let tries = 0; !locked && tries < 20; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    locked = await file.tryLock(true);
  }
  if (!locked) {
    const { dev, ino } = await file.stat();
    file.close();
    throw new Error(
      `Cannot start: another relay is using the store "${path}" ` +
        `(${await Deno.realPath(path)}, device ${dev}, inode ${ino}), perhaps by another name`,
    );
  }
  return file;
}

/** Declares each counter and histogram family, with a zero series for every known label set. */
function declareKnownSeries(metrics: Metrics, runtime: Runtime): void {
  metrics.declare(...HTTP_REQUESTS, "counter");
  metrics.declare(...CONNECTIONS_EVICTED, "counter", [{}]);
  metrics.declare(...LISTENER_RESTARTS, "counter", [{}]);
  metrics.declare(
    ...VERIFICATION_FAILURES,
    "counter",
    [...VERIFY_FAILURES, "stale_webhook_timestamp"].map((reason) => ({ reason })),
  );
  const sourceNames = Object.keys(runtime.config.sources);
  metrics.declare(
    ...SOURCE_VERIFICATION_FAILURES,
    "counter",
    sourceNames.flatMap((source) => SOURCE_FAILURES.map((reason) => ({ source, reason }))),
  );
  const types = new Set<string>([...KNOWN_EVENT_NAMES, UNKNOWN_EVENT]);
  for (const source of sourceNames) types.add(metricType(`${source}.*`));
  for (const route of runtime.config.routes) {
    if (route.events !== "*") { for (const type of route.events) types.add(metricType(type)); }
  }
  const byType = [...types].sort().map((type) => ({ type }));
  metrics.declare(...EVENTS_ACCEPTED, "counter", byType);
  metrics.declare(...EVENTS_DUPLICATE, "counter", byType);
  metrics.declare(...EVENTS_UNROUTED, "counter", byType);
  const destinations = [...runtime.destinations.keys()];
  metrics.declare(
    ...DELIVERIES,
    "counter",
    destinations.flatMap((destination) =>
      DELIVERY_OUTCOMES.map((outcome) => ({ destination, outcome }))
    ),
  );
  metrics.declare(
    ...ATTEMPT_DURATION,
    "histogram",
    destinations.map((destination) => ({ destination })),
  );
  const alertTo = runtime.config.alerts?.to ?? [];
  metrics.declare(
    ...ALERTS_SENT,
    "counter",
    alertTo.flatMap((destination) => ALERT_KINDS.map((kind) => ({ destination, kind }))),
  );
  metrics.declare(...ALERT_FAILURES, "counter", alertTo.map((destination) => ({ destination })));
}
