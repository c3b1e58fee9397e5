// The scenarios of a benchmark run. Each starts what it measures, puts it under load, stops it
// and returns a typed result; `runScenarios()` repeats them, interleaved run by run, so that a
// noisy neighbour hurts every scenario alike.

import {
  type LoadOptions,
  type LoadResult,
  type MeasuredLoad,
  measureLoad,
} from "./load_runner.ts";
import {
  startCeiling,
  type Started,
  type StartedTimed,
  startLimitReference,
  startRelay,
  startWebhook,
} from "./processes.ts";
import type { Settings } from "./settings.ts";
import { consoleQueries, type ConsoleQueriesResult } from "./console_queries.ts";
import { SAMPLES } from "../src/samples.ts";

/** The same label for the closed load on hero-relay and on the peer: one command serves both. */
const RELAY_LOAD = "load on hero-relay (ingest, end to end) and webhook";

/** What every scenario needs: the settings, the run's files, the sink and the tools found. */
export interface Context {
  settings: Settings;
  /** The run's temporary directory. */
  tmp: string;
  /** The file of signed bodies every load sends. */
  bodies: string;
  /** The signing secret the bodies were signed with. */
  secret: string;
  /** The wrk binary, or null for bench/load.ts. */
  wrk: string | null;
  sinkUrl: string;
  /** The command line of each kind of process run, in the order first run, for the report. */
  commands: Map<string, string>;
}

/** One run under load, as a row of the load table shows it. */
export interface LoadSample {
  requestsPerSecond: number;
  /**
   * Latency percentiles in ms; null where the generator gave none: wrk 4.1 sometimes answers 0
   * for a percentile of latencies in the seconds (seen with the peer).
   */
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  requests: number;
  /** How many times the load generator wrapped around its bodies (and so resent them). */
  wrapped: number;
  /** Peak resident memory of the server, in MB. */
  peakMb: number;
  /** CPU the server used, in cores; null where it is not measured (the peer). */
  serverCores: number | null;
  /** The server's CPU while loaded ÷ the requests answered, in µs; null where not measured. */
  serverCpuMicrosPerRequest: number | null;
  /** CPU the load generator used, in cores. */
  clientCores: number;
}

/** hero-relay receiving alone (delivery off). */
export interface IngestResult extends LoadSample {
  serverCores: number;
  /** The relay's CPU while loaded ÷ the events it accepted, in µs; null when it accepted none. */
  cpuMicrosPerEvent: number | null;
  /** Events the relay counted as duplicates: 0 when every body was distinct. */
  duplicates: number;
  /** From spawning the relay to its first 200 on /healthz, in ms. */
  readyMs: number;
}

/** hero-relay at the paced rate. */
export interface PacedRelayResult extends LoadSample {
  serverCores: number;
  readyMs: number;
}

/** Events carried to the sink, as a row of the end-to-end table shows it. */
export interface DeliverySample {
  /** Events the sink received ÷ (its last delivery − the first request). */
  eventsPerSecond: number;
  events: number;
  /** From the first request to the last delivery. */
  seconds: number;
  /** Requests answered per second while the load ran. */
  requestsPerSecond: number;
  ackP99Ms: number | null;
  errors: number;
  /** Accepted events the sink never got; null where acceptance is not counted (the peer). */
  lost: number | null;
  peakMb: number;
  /** The server's CPU while the load ran, in cores; null where not measured (the peer). */
  serverCores: number | null;
  /**
   * The server's CPU from the first request to the last delivery ÷ the events delivered, in µs;
   * null where not measured (the peer) or nothing was delivered.
   */
  cpuMicrosPerEvent: number | null;
}

/** hero-relay delivering to the sink under the closed load. */
export interface EndToEndResult extends DeliverySample {
  lost: number;
  serverCores: number;
  wrapped: number;
  duplicates: number;
  readyMs: number;
}

/** adnanh/webhook under the closed load: its answers and what reached the sink. */
export interface PeerResult {
  ack: LoadSample;
  endToEnd: DeliverySample;
  /** From spawning webhook to its first answer, in ms. */
  readyMs: number;
}

/** Every run of every scenario, in run order. */
export interface BenchResults {
  ceiling: LoadSample[];
  /** The ceiling under one wrk thread: only with wrk, more than one thread and outside smoke. */
  ceilingOneThread: LoadSample[];
  limit: LoadSample[];
  ingest: IngestResult[];
  /** End to end on default settings: the destination's concurrency left to the relay. */
  endToEnd: EndToEndResult[];
  /** End to end with the destination's `concurrency` set to the load's connections. */
  endToEndFixed: EndToEndResult[];
  /** Empty when the peer was skipped. */
  peer: PeerResult[];
  pacedCeiling: LoadSample[];
  pacedLimit: LoadSample[];
  paced: PacedRelayResult[];
  /**
   * The console's searches on a big store, run once (each search repeated within); null when
   * `--console-events 0` skipped them.
   */
  consoleQueries: ConsoleQueriesResult | null;
}

/** The peer's files as the report shows them, the run's paths and port replaced. */
export interface PeerFiles {
  /** The first hook of the hooks file, as indented JSON. */
  hook: string;
  /** $TMP/forward.sh, the command each hook runs. */
  forward: string;
}

interface SinkStats {
  count: number;
  first: number;
  last: number;
}

interface RelayCounters {
  accepted: number;
  duplicates: number;
  delivered: number;
  failed: number;
}

function note(ctx: Context, what: string, command: string): void {
  if (!ctx.commands.has(what)) ctx.commands.set(what, command);
}

async function sinkStats(ctx: Context): Promise<SinkStats> {
  return await (await fetch(`${ctx.sinkUrl}/stats`)).json();
}

async function sinkReset(ctx: Context): Promise<void> {
  await (await fetch(`${ctx.sinkUrl}/reset`, { method: "POST" })).body?.cancel();
}

/** Counters from the relay's /metrics, summed over their labels. */
async function relayCounters(url: string): Promise<RelayCounters> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (pattern: RegExp) =>
    text.split("\n").filter((line) => pattern.test(line)).reduce(
      (total, line) => total + Number(line.slice(line.lastIndexOf(" ") + 1)),
      0,
    );
  return {
    accepted: sum(/^hero_relay_events_accepted_total[{ ]/),
    duplicates: sum(/^hero_relay_events_duplicate_total[{ ]/),
    delivered: sum(/^hero_relay_deliveries_total\{.*outcome="delivered"/),
    failed: sum(/^hero_relay_deliveries_total\{(?!.*outcome="delivered")/),
  };
}

function closedLoad(ctx: Context, url: string, threads: number): LoadOptions {
  const { settings } = ctx;
  return {
    url,
    bodies: ctx.bodies,
    seconds: settings.seconds,
    loop: { kind: "closed", connections: settings.connections, threads },
    wrk: ctx.wrk,
  };
}

function pacedLoad(ctx: Context, url: string): LoadOptions {
  return {
    url,
    bodies: ctx.bodies,
    seconds: ctx.settings.seconds,
    loop: { kind: "paced", rate: ctx.settings.pacedRate },
    wrk: ctx.wrk,
  };
}

/** p50 and p99 in ms, or null where the generator answered 0 (or a p99 below the p50). */
function percentiles(load: LoadResult): { p50Ms: number | null; p99Ms: number | null } {
  return {
    p50Ms: load.p50_us > 0 ? load.p50_us / 1000 : null,
    p99Ms: load.p99_us > 0 && load.p99_us >= load.p50_us ? load.p99_us / 1000 : null,
  };
}

/** CPU seconds ÷ `count`, in µs; null when there is nothing to divide by. */
function microsEach(cpuSeconds: number, count: number): number | null {
  return count > 0 ? (cpuSeconds * 1e6) / count : null;
}

function loadSample(
  { load, serverCores, serverCpuSeconds }: MeasuredLoad,
  peakMb: number,
): LoadSample & { serverCores: number } {
  return {
    requestsPerSecond: load.rate,
    ...percentiles(load),
    errors: load.errors,
    requests: load.requests,
    wrapped: load.wrapped,
    peakMb,
    serverCores,
    serverCpuMicrosPerRequest: microsEach(serverCpuSeconds, load.requests),
    clientCores: load.clientCores,
  };
}

/** Puts a started bench server under the closed load, then stops it. */
async function loadBenchServer(
  ctx: Context,
  started: Started,
  options: { label: string; threads: number },
): Promise<LoadSample> {
  try {
    const measured = await measureLoad(
      started.server,
      closedLoad(ctx, started.url, options.threads),
    );
    note(ctx, options.label, measured.load.command);
    return loadSample(measured, started.server.memory().peak);
  } finally {
    await started.server.stop();
  }
}

/** The ceiling: a bare Deno.serve handler under the closed load, wrk on `threads` threads. */
export async function ceiling(ctx: Context, threads: number): Promise<LoadSample> {
  const started = await startCeiling();
  note(ctx, "ceiling server", started.command);
  return await loadBenchServer(ctx, started, {
    label: `load on the ceiling, ${threads} thread${threads === 1 ? "" : "s"}`,
    threads,
  });
}

/** The limit reference: read, verify, FULL group commit, answer (bench/limit_server.ts). */
export async function limitReference(ctx: Context): Promise<LoadSample> {
  const started = await startLimitReference(ctx.secret, ctx.tmp);
  note(ctx, "limit reference", started.command);
  return await loadBenchServer(ctx, started, {
    label: "load on the limit reference",
    threads: ctx.settings.threads,
  });
}

/**
 * Starts hero-relay on a fresh database, its destination on default settings (the relay's
 * adaptive concurrency) unless `concurrency` sets how many deliveries it takes at once.
 * `delivering: false` switches it off, so the run measures receiving alone.
 */
async function startRelayFor(
  ctx: Context,
  options: { delivering: boolean; concurrency?: number },
): Promise<StartedTimed> {
  const relay = await startRelay({
    tmp: ctx.tmp,
    secret: ctx.secret,
    sinkUrl: ctx.sinkUrl,
    concurrency: options.concurrency ?? null,
    delivering: options.delivering,
  });
  note(ctx, "hero-relay", relay.command);
  return relay;
}

/** Receiving alone: verify, commit (synchronous=FULL), answer; the destination is switched off. */
export async function ingest(ctx: Context): Promise<IngestResult> {
  const relay = await startRelayFor(ctx, { delivering: false });
  try {
    const measured = await measureLoad(
      relay.server,
      closedLoad(ctx, relay.url, ctx.settings.threads),
    );
    note(ctx, RELAY_LOAD, measured.load.command);
    const sample = loadSample(measured, relay.server.memory().peak);
    // Every accepted event was committed before its answer, so the CPU of the load is all of it.
    const { accepted, duplicates } = await relayCounters(relay.url);
    return {
      ...sample,
      cpuMicrosPerEvent: microsEach(measured.serverCpuSeconds, accepted),
      duplicates,
      readyMs: relay.readyMs,
    };
  } finally {
    await relay.server.stop();
  }
}

/**
 * The whole road under the same load: receive, store, route, deliver to the sink, on default
 * settings unless `concurrency` fixes the destination's. The run continues after the load until
 * the sink has every accepted event; the relay's CPU is counted from the load's start until then.
 */
export async function endToEnd(
  ctx: Context,
  options: { concurrency?: number } = {},
): Promise<EndToEndResult> {
  await sinkReset(ctx);
  const relay = await startRelayFor(ctx, { delivering: true, ...options });
  try {
    const { load, serverCores, serverCpuAtStart } = await measureLoad(
      relay.server,
      closedLoad(ctx, relay.url, ctx.settings.threads),
    );
    note(ctx, RELAY_LOAD, load.command);
    const deadline = Date.now() + (ctx.settings.smoke ? 20_000 : 300_000);
    let counters = await relayCounters(relay.url);
    while (counters.delivered < counters.accepted && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      counters = await relayCounters(relay.url);
    }
    // Read within one poll (50 ms) of the last delivery; polling /metrics costs next to nothing.
    const cpuSeconds = relay.server.cpu() - serverCpuAtStart;
    const sink = await sinkStats(ctx);
    const seconds = (sink.last - load.startedAt) / 1000;
    return {
      eventsPerSecond: sink.count / seconds,
      events: sink.count,
      seconds,
      lost: counters.accepted - sink.count,
      requestsPerSecond: load.rate,
      ackP99Ms: percentiles(load).p99Ms,
      errors: load.errors,
      wrapped: load.wrapped,
      duplicates: counters.duplicates,
      serverCores,
      cpuMicrosPerEvent: microsEach(cpuSeconds, sink.count),
      peakMb: relay.server.memory().peak,
      readyMs: relay.readyMs,
    };
  } finally {
    await relay.server.stop();
  }
}

/**
 * hero-relay on default settings at a fixed rate: the ack latency a sender sees under ordinary
 * traffic.
 */
export async function paced(ctx: Context): Promise<PacedRelayResult> {
  await sinkReset(ctx);
  const relay = await startRelayFor(ctx, { delivering: true });
  try {
    return { ...await pacedSample(ctx, relay), readyMs: relay.readyMs };
  } finally {
    await relay.server.stop();
  }
}

/** The bare server at the same fixed rate: the latency floor of this machine and load generator. */
export async function pacedCeiling(ctx: Context): Promise<LoadSample> {
  const started = await startCeiling();
  try {
    return await pacedSample(ctx, started);
  } finally {
    await started.server.stop();
  }
}

/** The limit reference at the same fixed rate: the ack latency its required work allows. */
export async function pacedLimit(ctx: Context): Promise<LoadSample> {
  const started = await startLimitReference(ctx.secret, ctx.tmp);
  try {
    return await pacedSample(ctx, started);
  } finally {
    await started.server.stop();
  }
}

async function pacedSample(
  ctx: Context,
  started: Started,
): Promise<LoadSample & { serverCores: number }> {
  const measured = await measureLoad(started.server, pacedLoad(ctx, started.url));
  note(ctx, "paced load (hero-relay, the limit reference and the ceiling)", measured.load.command);
  return loadSample(measured, started.server.memory().peak);
}

/**
 * adnanh/webhook doing the relay's job its own way: one hook per event type checks the same
 * HMAC-SHA256 header, then runs curl to forward the raw body to the sink and answers when curl
 * is done (so its 200, like the relay's, means the event went somewhere).
 */
function writePeerFiles(ctx: Context): { hooks: string; forward: string } {
  const forward = `${ctx.tmp}/forward.sh`;
  Deno.writeTextFileSync(
    forward,
    "#!/bin/sh\n" +
      'exec curl -sS -o /dev/null --fail -X POST -H "content-type: application/json" ' +
      '--data-binary "$2" "$1"\n',
  );
  Deno.chmodSync(forward, 0o755);
  const hooks = Object.keys(SAMPLES).map((type) => ({
    "id": type,
    "execute-command": forward,
    "command-working-directory": ctx.tmp,
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      { "source": "string", "name": `${ctx.sinkUrl}/events` },
      { "source": "raw-request-body" },
    ],
    "trigger-rule-mismatch-http-response-code": 401,
    "trigger-rule": {
      "match": {
        "type": "payload-hmac-sha256",
        "secret": ctx.secret,
        "parameter": { "source": "header", "name": "X-InfluencerHero-Signature" },
      },
    },
  }));
  const path = `${ctx.tmp}/hooks.json`;
  Deno.writeTextFileSync(path, JSON.stringify(hooks, null, 2));
  return { hooks: path, forward };
}

/** The peer's files that `peer()` wrote in `tmp`, as the report shows them. */
export function readPeerFiles(tmp: string): PeerFiles {
  const hooks = JSON.parse(Deno.readTextFileSync(`${tmp}/hooks.json`)) as unknown[];
  return {
    hook: JSON.stringify(hooks[0], null, 2).replaceAll(tmp, "$TMP")
      .replace(/127\.0\.0\.1:\d+/, "127.0.0.1:PORT"),
    forward: Deno.readTextFileSync(`${tmp}/forward.sh`).trimEnd(),
  };
}

/** adnanh/webhook (the binary at `webhook`) under the closed load, forwarding to the sink. */
export async function peer(ctx: Context, webhook: string): Promise<PeerResult> {
  await sinkReset(ctx);
  const { hooks } = writePeerFiles(ctx);
  const started = await startWebhook(webhook, hooks);
  note(ctx, "webhook", started.command);
  try {
    const measured = await measureLoad(
      started.server,
      closedLoad(ctx, started.url, ctx.settings.threads),
    );
    const { load } = measured;
    note(ctx, RELAY_LOAD, load.command);
    // Its CPU is not reported: the curls it reaps in bursts are booked at more cores than the
    // machine has.
    const ack: LoadSample = {
      ...loadSample(measured, started.server.memory().peak),
      serverCores: null,
      serverCpuMicrosPerRequest: null,
    };
    // The last forwards may still be running: wait until the sink stops counting.
    let sink = await sinkStats(ctx);
    for (let quiet = 0; quiet < 10;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const next = await sinkStats(ctx);
      quiet = next.count === sink.count ? quiet + 1 : 0;
      sink = next;
    }
    const seconds = (sink.last - load.startedAt) / 1000;
    return {
      ack,
      endToEnd: {
        eventsPerSecond: sink.count === 0 ? 0 : sink.count / seconds,
        events: sink.count,
        seconds,
        requestsPerSecond: load.rate,
        ackP99Ms: percentiles(load).p99Ms,
        errors: load.errors,
        lost: null,
        peakMb: ack.peakMb,
        serverCores: null,
        cpuMicrosPerEvent: null,
      },
      readyMs: started.readyMs,
    };
  } finally {
    await started.server.stop();
  }
}

/**
 * Runs every scenario `settings.runs` times, interleaved, after one warm-up start of the relay
 * (so that ready-to-serve times measure starting, not compiling). `peer` is the webhook binary,
 * or null to skip the peer.
 */
export async function runScenarios(
  ctx: Context,
  options: { peer: string | null; log: (text: string) => void },
): Promise<BenchResults> {
  const { settings } = ctx;
  await (await startRelayFor(ctx, { delivering: true })).server.stop();
  const results: Omit<BenchResults, "consoleQueries"> = {
    ceiling: [],
    ceilingOneThread: [],
    limit: [],
    ingest: [],
    endToEnd: [],
    endToEndFixed: [],
    peer: [],
    pacedCeiling: [],
    pacedLimit: [],
    paced: [],
  };
  for (let run = 1; run <= settings.runs; run++) {
    const step = (what: string) => options.log(`run ${run} of ${settings.runs}: ${what}`);
    step("ceiling");
    results.ceiling.push(await ceiling(ctx, settings.threads));
    if (ctx.wrk !== null && settings.threads > 1 && !settings.smoke) {
      step("ceiling with 1 wrk thread");
      results.ceilingOneThread.push(await ceiling(ctx, 1));
    }
    step("limit reference");
    results.limit.push(await limitReference(ctx));
    step("hero-relay ingest");
    results.ingest.push(await ingest(ctx));
    step("hero-relay end to end, default settings");
    results.endToEnd.push(await endToEnd(ctx));
    step(`hero-relay end to end, concurrency ${settings.connections}`);
    results.endToEndFixed.push(await endToEnd(ctx, { concurrency: settings.connections }));
    if (options.peer !== null) {
      step("adnanh/webhook");
      results.peer.push(await peer(ctx, options.peer));
    }
    step("bare Deno.serve at a fixed rate");
    results.pacedCeiling.push(await pacedCeiling(ctx));
    step("limit reference at a fixed rate");
    results.pacedLimit.push(await pacedLimit(ctx));
    step("hero-relay at a fixed rate");
    results.paced.push(await paced(ctx));
  }
  const consoleQueries = settings.consoleEvents === 0
    ? null
    : await consoleSearches(ctx, options.log);
  return { ...results, consoleQueries };
}

/**
 * The console's searches timed on a SQLite store of `settings.consoleEvents` events and on one of
 * 1,000 (bench/console_queries.ts), in the run's directory; no relay runs.
 */
export function consoleSearches(
  ctx: Pick<Context, "settings" | "tmp">,
  log: (text: string) => void,
): Promise<ConsoleQueriesResult> {
  log(`console searches on ${ctx.settings.consoleEvents.toLocaleString("en-US")} events`);
  return consoleQueries({ events: ctx.settings.consoleEvents, dir: ctx.tmp, log });
}
