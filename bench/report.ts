// The benchmark's tables and bench/RESULTS.md, rendered from typed results. A cell is the median
// (min–max) of the runs, or the value alone for a single run; a measurement no run produced is
// "–".

import { PACED_CONNECTIONS } from "./load_runner.ts";
import type { Machine } from "./machine.ts";
import type { BenchResults, DeliverySample, LoadSample, PeerFiles } from "./scenarios.ts";
import {
  BATCH,
  type ConsoleQueriesResult,
  DEAD_EVERY,
  EVENTS_PER_DEAL,
  INFLUENCER_NAMES,
} from "./console_queries.ts";
import type { Settings } from "./settings.ts";
import { SAMPLES } from "../src/samples.ts";

/** The rendered parts printed after a run and put into the report. */
export interface Rendered {
  /** The load, end-to-end and ready-to-serve tables. */
  results: string;
  /** The ratios and targets table. */
  targets: string;
  /** The sentence saying whether every request carried a distinct body. */
  checks: string;
  /** The console's searches on a big store and on a small one, and their section's heading. */
  consoleQueries: string;
  consoleQueriesHeading: string;
}

/** What the report says besides the rendered tables. */
export interface ReportDetails {
  settings: Settings;
  measuredAt: Date;
  machine: Machine;
  /** The bodies' average size, in bytes. */
  averageBytes: number;
  /** The peer's hook and forward.sh, or null when the peer did not run. */
  peerFiles: PeerFiles | null;
  /** The command line of each kind of process run, in the order first run. */
  commands: ReadonlyMap<string, string>;
}

interface Summary {
  median: number;
  min: number;
  max: number;
}

/** `value` in en-US with exactly `digits` decimals ("48,328", "1.12"). */
export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function summarise(values: Array<number | null>): Summary | null {
  const measured = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (measured.length === 0) return null;
  const middle = Math.floor(measured.length / 2);
  const median = measured.length % 2 === 1
    ? measured[middle]!
    : (measured[middle - 1]! + measured[middle]!) / 2;
  return { median, min: measured[0]!, max: measured[measured.length - 1]! };
}

function median(values: Array<number | null>): number | null {
  return summarise(values)?.median ?? null;
}

/** "median (min–max)" of one value per run, or just the value for a single run. */
function cell(values: Array<number | null>, digits = 0): string {
  const s = summarise(values);
  if (s === null) return "–";
  const median = formatNumber(s.median, digits);
  if (values.length === 1) return median;
  return `${median} (${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)})`;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function loadTable(results: BenchResults, options: { settings: Settings; wrk: boolean }): string {
  const { settings } = options;
  const lines = [
    "| scenario | requests/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU (cores) | server CPU µs per request | load generator CPU (cores) |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  const row = (name: string, samples: LoadSample[]) => {
    if (samples.length === 0) return;
    const column = (pick: (s: LoadSample) => number | null, digits = 0) =>
      cell(samples.map(pick), digits);
    lines.push(
      `| ${name} | ${column((s) => s.requestsPerSecond)} | ${column((s) => s.p50Ms, 2)} | ` +
        `${column((s) => s.p99Ms, 2)} | ${column((s) => s.errors)} | ` +
        `${column((s) => s.peakMb)} | ${column((s) => s.serverCores, 2)} | ` +
        `${column((s) => s.serverCpuMicrosPerRequest)} | ${column((s) => s.clientCores, 2)} |`,
    );
  };
  const threads = `${settings.threads} thread${settings.threads === 1 ? "" : "s"}`;
  row(`ceiling: bare Deno.serve${options.wrk ? ` (wrk, ${threads})` : ""}`, results.ceiling);
  row("ceiling: bare Deno.serve (wrk, 1 thread)", results.ceilingOneThread);
  row("limit reference: read + verify + FULL group commit + 2xx", results.limit);
  row("ingest: hero-relay (verify + FULL commit + 2xx; delivery off)", results.ingest);
  row("peer: adnanh/webhook + curl (ack after forwarding)", results.peer.map((p) => p.ack));
  const rate = `${formatNumber(settings.pacedRate)} requests/s`;
  row(`paced: bare Deno.serve at ${rate} (this machine's floor)`, results.pacedCeiling);
  row(`paced: limit reference at ${rate}`, results.pacedLimit);
  row(`paced: hero-relay at ${rate} (default settings)`, results.paced);
  return lines.join("\n");
}

function endToEndTable(results: BenchResults, settings: Settings): string {
  const lines = [
    "| end to end | events delivered/s | events | first request → last delivery (s) | " +
    "requests/s while loaded | p99 ms | errors | lost | peak RSS MB | " +
    "server CPU while loaded (cores) | server CPU µs per delivered event |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  const row = (name: string, samples: DeliverySample[]) => {
    if (samples.length === 0) return;
    const column = (pick: (s: DeliverySample) => number | null, digits = 0) =>
      cell(samples.map(pick), digits);
    lines.push(
      `| ${name} | ${column((s) => s.eventsPerSecond)} | ${column((s) => s.events)} | ` +
        `${column((s) => s.seconds, 2)} | ${column((s) => s.requestsPerSecond)} | ` +
        `${column((s) => s.ackP99Ms, 2)} | ${column((s) => s.errors)} | ` +
        `${column((s) => s.lost)} | ${column((s) => s.peakMb)} | ` +
        `${column((s) => s.serverCores, 2)} | ${column((s) => s.cpuMicrosPerEvent)} |`,
    );
  };
  row("hero-relay → sink, default settings (adaptive concurrency)", results.endToEnd);
  row(`hero-relay → sink, \`concurrency: ${settings.connections}\``, results.endToEndFixed);
  row("adnanh/webhook + curl → sink", results.peer.map((p) => p.endToEnd));
  return lines.join("\n");
}

/** Every run of hero-relay: ingest, both end-to-end runs and paced. */
function relayRuns(results: BenchResults): Array<{ readyMs: number; peakMb: number }> {
  return [...results.ingest, ...results.endToEnd, ...results.endToEndFixed, ...results.paced];
}

/** Every start of hero-relay that was timed. */
function relayReadyMs(results: BenchResults): number[] {
  return relayRuns(results).map((r) => r.readyMs);
}

function readyTable(results: BenchResults): string {
  const lines = [
    "| ready to serve after start | ms |",
    "| --- | --: |",
    `| hero-relay (spawn → first 200 from /healthz) | ${cell(relayReadyMs(results))} |`,
  ];
  if (results.peer.length > 0) {
    const peerReady = cell(results.peer.map((p) => p.readyMs));
    lines.push(`| adnanh/webhook (spawn → first answer) | ${peerReady} |`);
  }
  return lines.join("\n");
}

function targetsTable(results: BenchResults, settings: Settings): string {
  const rate = (samples: Array<{ requestsPerSecond: number }>) =>
    median(samples.map((s) => s.requestsPerSecond));
  const ratio = (a: number | null, b: number | null) => a === null || b === null ? null : a / b;
  const ceilingRate = rate(results.ceiling);
  const ingestRate = rate(results.ingest);
  const limitRate = rate(results.limit);
  const e2eRate = median(results.endToEnd.map((s) => s.eventsPerSecond));
  const e2eFixedRate = median(results.endToEndFixed.map((s) => s.eventsPerSecond));
  const peerRate = median(results.peer.map((p) => p.endToEnd.eventsPerSecond));
  const peaks = relayRuns(results).map((s) => s.peakMb);
  const peak = peaks.length === 0 ? null : Math.max(...peaks);
  const pacedP99 = median(results.paced.map((s) => s.p99Ms));
  const pacedLimitP99 = median(results.pacedLimit.map((s) => s.p99Ms));
  const deliveredMicros = median(results.endToEnd.map((s) => s.cpuMicrosPerEvent));
  const acceptedMicros = median(results.ingest.map((s) => s.cpuMicrosPerEvent));
  const ready = median(relayReadyMs(results));
  const e2eOverPeer = ratio(e2eRate, peerRate);
  /** A row whose value is `value` shown with `digits`, met when `meets` holds; "–" if missing. */
  const measure = (
    name: string,
    value: number | null,
    target: string,
    options: { digits: number; meets: (value: number) => boolean },
  ): [string, string, string, boolean | null] =>
    value === null
      ? [name, "–", target, null]
      : [name, formatNumber(value, options.digits), target, options.meets(value)];
  /** A row without a target: shown for what it tells, never met or missed. */
  const inform = (
    name: string,
    value: number | null,
    digits: number,
  ): [string, string, string, boolean | null] => [
    name,
    value === null ? "–" : formatNumber(value, digits),
    "–",
    null,
  ];
  const peerMeasured = e2eOverPeer !== null && Number.isFinite(e2eOverPeer);
  const rows: Array<[string, string, string, boolean | null]> = [
    measure("ingest ÷ limit reference", ratio(ingestRate, limitRate), "≥ 0.8", {
      digits: 2,
      meets: (v) => v >= 0.8,
    }),
    measure("end to end on default settings ÷ ingest", ratio(e2eRate, ingestRate), "≥ 0.5", {
      digits: 2,
      meets: (v) => v >= 0.5,
    }),
    measure(
      "paced p99 ÷ limit reference's paced p99",
      ratio(pacedP99, pacedLimitP99),
      "≤ 2",
      { digits: 2, meets: (v) => v <= 2 },
    ),
    measure("peak RSS under load, MB", peak, "≤ 150", { digits: 0, meets: (v) => v <= 150 }),
    inform("server CPU µs per delivered event, end to end on default settings", deliveredMicros, 0),
    inform("server CPU µs per accepted event, ingest (delivery off)", acceptedMicros, 0),
    inform(
      "delivery's own server CPU µs per event (the difference)",
      deliveredMicros === null || acceptedMicros === null ? null : deliveredMicros - acceptedMicros,
      0,
    ),
    inform(
      `end to end with \`concurrency: ${settings.connections}\` ÷ ingest`,
      ratio(e2eFixedRate, ingestRate),
      2,
    ),
    measure("ingest ÷ ceiling", ratio(ingestRate, ceilingRate), "≥ 0.25", {
      digits: 2,
      meets: (v) => v >= 0.25,
    }),
    measure("end to end on default settings, events/s", e2eRate, "≥ 5,000", {
      digits: 0,
      meets: (v) => v >= 5000,
    }),
    [
      "end to end on default settings ÷ peer",
      peerMeasured ? `${formatNumber(e2eOverPeer)} ×` : "– (peer skipped)",
      "≥ 100 ×",
      peerMeasured ? e2eOverPeer >= 100 : null,
    ],
    measure("ready to serve, ms", ready, "≤ 300", { digits: 0, meets: (v) => v <= 300 }),
  ];
  return [
    "| measure | this run | target | met |",
    "| --- | --: | --: | :-: |",
    ...rows.map(([name, value, target, met]) =>
      `| ${name} | ${value} | ${target} | ${met === null ? "–" : met ? "yes" : "**no**"} |`
    ),
  ].join("\n");
}

function checksSentence(results: BenchResults): string {
  const wrapped = sum([
    ...results.ingest.map((s) => s.wrapped),
    ...results.endToEnd.map((s) => s.wrapped),
    ...results.endToEndFixed.map((s) => s.wrapped),
    ...results.peer.map((p) => p.ack.wrapped),
  ]);
  // The peer keeps no store, so only the relay's runs can count duplicates.
  const duplicates = sum(
    [...results.ingest, ...results.endToEnd, ...results.endToEndFixed].map((s) => s.duplicates),
  );
  return `Every request to hero-relay and webhook carried a distinct body: ${
    wrapped === 0 && duplicates === 0
      ? "yes (no load generator wrapped around its bodies, the relay saw 0 duplicates)"
      : `**no** (${wrapped} wrap-arounds, ${duplicates} duplicates)`
  }.`;
}

/** "a million events", or the count. */
function eventsPhrase(events: number): string {
  return events === 1_000_000 ? "a million events" : `${formatNumber(events)} events`;
}

/** The heading of the console searches' section in bench/RESULTS.md. */
export function consoleQueriesHeading(result: ConsoleQueriesResult | null): string {
  return result === null
    ? "## Console queries"
    : `## Console queries at ${eventsPhrase(result.events)}`;
}

/** The console searches' table and what it was measured on, or that they were skipped. */
export function renderConsoleQueries(result: ConsoleQueriesResult | null): string {
  if (result === null) return "Not run: `--console-events 0` skipped the console's searches.";
  const big = formatNumber(result.events);
  const small = formatNumber(result.baselineEvents);
  const lines = [
    `| console search (pages of 50) | rows | ms at ${big} events | ms at ${small} | ` +
    `${big} ÷ ${small} | how the store answers |`,
    "| --- | --: | --: | --: | --: | --- |",
    ...result.queries.map((q) => {
      const ratio = median(q.ms)! / median(q.baselineMs)!;
      const rows = q.rows === q.baselineRows
        ? formatNumber(q.rows)
        : `${formatNumber(q.rows)} (${formatNumber(q.baselineRows)})`;
      return `| ${q.name} | ${rows} | ${cell(q.ms, 2)} | ${cell(q.baselineMs, 2)} | ` +
        `${formatNumber(ratio, ratio < 10 ? 2 : 0)} | ${q.how} |`;
    }),
  ];
  return [
    lines.join("\n"),
    "",
    `SQLite (src/store_sqlite.ts, opened by the bench process; no relay) filled through ` +
    `insertEvents() in batches of ${formatNumber(BATCH)} and complete(): ${big} events cycling ` +
    `through the sample bodies of every type, ${EVENTS_PER_DEAL} events per \`deal_id\`, a ` +
    `\`collab_id\` each where the type has one, and ${INFLUENCER_NAMES} influencer names ` +
    `(\`deal_info.full_name\`) plus one that occurs once; one delivery each, 1 in ` +
    `${formatNumber(DEAD_EVERY)} dead and the rest delivered (${
      formatNumber(result.buildSeconds, 1)
    } s to ` +
    `fill, a ${formatNumber(result.fileMb)} MB file). Each search ran once untimed, then ` +
    `${result.repetitions} times on each store, interleaved; cells are the median (min–max) in ms. ` +
    `The ${small}-event store is built the same way: ${big} ÷ ${small} near 1 means the search ` +
    `does not grow with the store (keyset pages on an index). Rows in brackets are the small ` +
    `store's; its deep page starts 500 events in. An influencer search is a LIKE '%…%' no index ` +
    `serves: it walks the events newest first until 50 match, the whole table when fewer do.`,
  ].join("\n");
}

/** Renders the tables and the distinct-bodies check; `wrk` says whether wrk made the load. */
export function renderResults(
  results: BenchResults,
  options: { settings: Settings; wrk: boolean },
): Rendered {
  return {
    results: [
      loadTable(results, options),
      endToEndTable(results, options.settings),
      readyTable(results),
    ].join("\n\n"),
    targets: targetsTable(results, options.settings),
    checks: checksSentence(results),
    consoleQueries: renderConsoleQueries(results.consoleQueries),
    consoleQueriesHeading: consoleQueriesHeading(results.consoleQueries),
  };
}

function machineLines(machine: Machine): string[] {
  const memory = machine.memoryGiB === null
    ? "unknown"
    : `${formatNumber(machine.memoryGiB, 1)} GiB`;
  return [
    `- CPU: ${machine.cpus} × ${machine.cpuModel} (nproc ${machine.cpus})`,
    `- memory: ${memory}`,
    `- OS: ${machine.os} ${machine.osRelease} (${machine.arch})`,
    `- Deno ${machine.deno} (V8 ${machine.v8})`,
    `- wrk: ${machine.wrk}`,
    `- webhook: ${machine.webhook}`,
    `- hero-relay: ${machine.heroRelay}`,
    `- load average (1, 5, 15 min) at the start and at the end: ${machine.loadAtStart} and ${machine.loadAtEnd}; the machine is shared with other developers' work, so absolute numbers are noisy: the ` +
    "ratios are measured within one run, scenarios interleaved",
  ];
}

/** The text of bench/RESULTS.md. */
export function renderReport(rendered: Rendered, details: ReportDetails): string {
  const { settings } = details;
  const date = details.measuredAt.toISOString().replace(/\.\d+Z$/, "Z");
  return [
    "# hero-relay benchmark results",
    "",
    `Measured ${date} by \`deno task bench\` (bench/run.ts); ${settings.runs} ` +
    `run${settings.runs === 1 ? "" : "s"} of each ` +
    `scenario, interleaved, ${settings.seconds} s of load each, ${settings.connections} ` +
    `connections. Cells are the median (min–max) of the runs.`,
    "",
    "## Machine",
    "",
    ...machineLines(details.machine),
    "",
    "## Ratios and targets",
    "",
    rendered.targets,
    "",
    "## Results",
    "",
    rendered.results,
    "",
    rendered.checks,
    "",
    rendered.consoleQueriesHeading,
    "",
    rendered.consoleQueries,
    "",
    "## What was run",
    "",
    `- bodies: ${formatNumber(settings.bodies)} distinct webhooks, ${
      formatNumber(details.averageBytes)
    } bytes on average, cycling through the ${Object.keys(SAMPLES).length} sample event types, ` +
    "each with its own `deal_id` (and `collab_id`) so no two share an ordering key, signed with " +
    "HMAC-SHA256 beforehand; the `X-InfluencerHero-Timestamp` header is set as each request is " +
    "sent. Every hero-relay run starts on a fresh database, so no request is a duplicate",
    "- ceiling: bench/ceiling_server.ts, a bare `Deno.serve` handler that reads the body and " +
    "answers a small JSON, under the same load and bodies",
    "- limit reference: bench/limit_server.ts, only the work hero-relay cannot skip: read the " +
    "body, verify its HMAC with WebCrypto, commit it to SQLite (WAL, `synchronous=FULL`, one " +
    "transaction per turn of the event loop), answer after the commit",
    "- hero-relay runs as the binary would (`main.ts serve`, the permission flags of " +
    "`deno task compile`), default settings (`synchronous=FULL`, WAL), logging one JSON line per " +
    "request and delivery to /dev/null, one route sending every event to an `http` destination " +
    "pointing at the sink (bench/sink.ts) without `concurrency`, so the relay's adaptive limit " +
    "(src/concurrency.ts) decides how many deliveries run at once, as users get it; only the " +
    "second end-to-end row sets it",
    "- ingest: that relay with its destination switched off (`enabled: false`): receive, verify, " +
    "commit durably, route, answer 2xx; nothing delivered",
    "- end to end: the same load with delivery on; events/s = events the sink received ÷ (its last " +
    "delivery − the first request); the run goes on after the load until the relay has delivered " +
    "every event it accepted. On default settings it is the headline (end to end ÷ ingest = its " +
    "events/s ÷ ingest's requests/s); a second run sets the destination's " +
    `\`concurrency: ${settings.connections}\`, the number of load connections, i.e. the ` +
    "concurrency the peer gets from its one curl per request",
    "- peer: adnanh/webhook from Debian's `webhook` package, one hook per event type with a " +
    "`payload-hmac-sha256` trigger rule on `X-InfluencerHero-Signature` (it has no timestamp " +
    "check and no store), running curl (forward.sh below) to forward the raw body to the sink and " +
    "answering when curl is done (`include-command-output-in-response`), so its 200, like the " +
    "relay's, means the event went somewhere",
    "- paced: hero-relay (default settings, delivery on), the limit reference and the bare server, " +
    "each under the same paced load; paced p99 ÷ the limit reference's paced p99 is the ratio of " +
    "their medians: the tail hero-relay adds to the work it cannot skip. wrk 4 cannot hold an " +
    "open-loop rate (wrk2 is not in Debian), so bench/paced.lua " +
    `has each of ${PACED_CONNECTIONS} connections pause before every request for a random time ` +
    `averaging ${PACED_CONNECTIONS} / rate seconds; latencies are wrk's own. The pauses come ` +
    "after answers, so fewer requests meet a stall than an open loop would send into it; the " +
    "bare server's row, measured the same way, is the floor to compare with. Without wrk, " +
    "bench/load.ts runs an open loop and counts each latency from when the request was due",
    "- CPU is read from /proc (utime + stime, children included; the load generator's through " +
    "the shell that waits for it): one core busy all the time is 1.00. The ceiling run " +
    "saturates the server, not the load generator, when the server runs at its limit while wrk " +
    "has CPU to spare, and a second wrk thread adds little. Not shown for the peer: the curl " +
    "processes it reaps are booked at more CPU than the machine has",
    "- server CPU µs per request: the server's CPU while the load ran ÷ the requests it answered. " +
    "Per delivered event (end to end): the relay's CPU from the load's start (when the load " +
    "generator begins sending) until its `/metrics` count every accepted event delivered " +
    "(polled every 50 ms) ÷ the events the sink received, so receiving and delivering alike. Per " +
    "accepted event (ingest): its CPU while the load ran ÷ the events its `/metrics` count " +
    "accepted (each is committed before its answer, so nothing is left to do after the load). " +
    "The difference is what delivering costs per event. /proc counts CPU in 10 ms ticks",
    "- the targets table's ratios are of the runs' medians",
    "- peak RSS is VmHWM from /proc/<pid>/status at the end of each run",
    "- ready to serve: from spawning the process to its first 200 on `/healthz` (polled every " +
    "2 ms), on a warm Deno module cache",
    "",
    ...(details.peerFiles === null ? [] : [
      "The peer's hooks file has one such hook per event type (paths are the run's own):",
      "",
      "```json",
      details.peerFiles.hook,
      "```",
      "",
      "```sh",
      "# $TMP/forward.sh, the command each hook runs",
      details.peerFiles.forward,
      "```",
      "",
    ]),
    "Commands (PORT and $TMP are chosen at run time):",
    "",
    "```sh",
    ...[...details.commands].map(([what, command]) => `# ${what}\n${command}`),
    "```",
    "",
    "Reproduce: `apt-get install -y wrk webhook curl && deno task bench` (about five minutes, " +
    "a minute and a half of it the console's store; `--console-events 0` skips its searches; " +
    "`deno task bench --smoke` runs a tiny load once and writes nothing).",
    "",
  ].join("\n");
}
