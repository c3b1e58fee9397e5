// `deno task bench`: the whole comparison on loopback, in one run, printed as a table and written
// to bench/RESULTS.md. Every scenario is repeated (3 times by default) and reported as the median
// with min–max, interleaved so that a noisy neighbour hurts every scenario alike:
//
//   ceiling   a bare Deno.serve handler that reads the body and answers (bench/ceiling_server.ts)
//   limit     only the required work: read, verify (WebCrypto), FULL group commit, answer
//             (bench/limit_server.ts)
//   ingest    hero-relay (`main.ts serve`, synchronous=FULL) receiving alone, delivery off
//   e2e       hero-relay delivering to a local sink (bench/sink.ts): first request to last delivery
//   peer      adnanh/webhook checking the same signature and forwarding with curl, same load
//   paced     hero-relay, and the bare server, at a steady 1,000 requests/s: the ack latency
//   ready     from spawning hero-relay to its first 200 on /healthz
//
// Options: --runs N, --seconds S, --connections C, --threads T (wrk), --out FILE, --builtin,
// --default-concurrency (the sink destination without `concurrency`: adaptive, as users get it)
// (bench/load.ts and no peer even where wrk and webhook are installed). `--smoke` (or
// HERO_RELAY_BENCH_SMOKE=1) runs a tiny load once and writes nothing, so CI keeps the benchmark
// working; without wrk the built-in load generator stands in, without webhook the peer is
// skipped.

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { fileURLToPath } from "node:url";
import { writeStderr, writeStdout } from "../src/log.ts";
import { SAMPLES } from "../src/samples.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = fileURLToPath(new URL(".", import.meta.url));
const SECRET = "bench-signing-secret-7d41c09a";
/** The flags `deno task compile` builds the binary with, so the relay runs as it ships. */
const RELAY_FLAGS = denoJson.tasks.compile.split(/\s+/).filter((arg, i, args) =>
  arg.startsWith("--") && arg !== "--output" && args[i - 1] !== "--output"
);
const CLK_TCK = 100;
/** Connections of the paced wrk run: enough that one slow answer holds up few requests. */
const PACED_CONNECTIONS = 50;

interface Settings {
  smoke: boolean;
  /** Use bench/load.ts and skip the peer even where wrk and webhook are installed (as on CI). */
  builtin: boolean;
  runs: number;
  seconds: number;
  connections: number;
  threads: number;
  pacedRate: number;
  bodies: number;
  out: string | null;
  /** Leave the destination's concurrency to the relay (adaptive) instead of one per connection. */
  defaultConcurrency: boolean;
}

/** What a load generator reports (wrk's summary, or bench/load.ts's equivalent). */
interface LoadReport {
  requests: number;
  duration_us: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  status_errors: number;
  timeouts: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  wrapped: number;
}

interface LoadResult extends LoadReport {
  /** Requests per second. */
  rate: number;
  errors: number;
  /** CPU the load generator used, in cores (1 = one core busy all the time). */
  clientCores: number;
  /** Wall clock (ms since the epoch) of the first request, and when the generator ended. */
  startedAt: number;
  endedAt: number;
}

/** One measured run of one scenario; every field is a number so runs can be summarised. */
type Sample = Record<string, number>;

const commands = new Map<string, string>();

function note(what: string, command: string): void {
  if (!commands.has(what)) commands.set(what, command);
}

function log(text: string): void {
  writeStderr(`${text}\n`);
}

function settingsFrom(args: string[]): Settings {
  const { values } = parseArgs({
    args,
    options: {
      smoke: { type: "boolean", default: false },
      builtin: { type: "boolean", default: false },
      runs: { type: "string" },
      seconds: { type: "string" },
      connections: { type: "string" },
      threads: { type: "string" },
      out: { type: "string" },
      "default-concurrency": { type: "boolean", default: false },
    },
    strict: true,
  });
  const smoke = values.smoke || Deno.env.get("HERO_RELAY_BENCH_SMOKE") === "1";
  const number = (value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!(n > 0)) throw new RangeError(`Expected a positive number, got "${value}"`);
    return n;
  };
  const seconds = number(values.seconds, smoke ? 1 : 5);
  return {
    smoke,
    builtin: values.builtin,
    runs: number(values.runs, smoke ? 1 : 3),
    seconds,
    connections: number(values.connections, smoke ? 8 : 64),
    threads: number(values.threads, smoke ? 1 : 2),
    pacedRate: smoke ? 100 : 1000,
    // Enough that a run never sends the same body twice to one relay (each run starts afresh).
    bodies: smoke ? 5_000 : Math.ceil(seconds * 20_000),
    out: values.out ?? (smoke ? null : `${BENCH}RESULTS.md`),
    defaultConcurrency: values["default-concurrency"],
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

/** The first path in $PATH holding an executable `name`, or null. */
function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${name}`;
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Reads a file of /proc. Deno wants --allow-all for another process's /proc entries, so `cat`
 * reads them and the task keeps its narrower flags.
 */
function proc(path: string): string {
  const output = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!output.success) throw new Error(`Cannot read ${path}`);
  return new TextDecoder().decode(output.stdout);
}

/** CPU seconds from a /proc/<pid>/stat file: the sum of the given fields after the name. */
function procCpu(path: string, fields: number[]): number {
  const values = proc(path).split(") ")[1]!.split(" ");
  return fields.reduce((sum, i) => sum + Number(values[i]), 0) / CLK_TCK;
}

/** A server under test, with its CPU time and memory read from /proc. */
class Server {
  readonly child: Deno.ChildProcess;
  readonly pid: number;

  constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.pid = child.pid;
  }

  /** CPU seconds used so far, its reaped children (webhook's curls) included. */
  cpu(): number {
    return procCpu(`/proc/${this.pid}/stat`, [11, 12, 13, 14]);
  }

  /** Peak and current resident memory, in MB. */
  memory(): { peak: number; now: number } {
    const status = proc(`/proc/${this.pid}/status`);
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    return { peak: kb("VmHWM") / 1024, now: kb("VmRSS") / 1024 };
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 15_000);
    await this.child.status;
    clearTimeout(timer);
  }
}

/** Starts a process that prints its port on its first line of output. */
async function spawnWithPort(command: string, args: string[]): Promise<[Server, number]> {
  const child = new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${command} ${args.join(" ")} ended before printing its port`);
    text += value;
  }
  reader.releaseLock();
  return [new Server(child), Number(text.split("\n")[0])];
}

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Polls `url` until it answers (any status when `anyStatus`), returning the time taken (ms). */
async function waitUntilServing(url: string, started: number, anyStatus = false): Promise<number> {
  const deadline = started + 30_000;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (anyStatus || response.ok) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} did not answer within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// ---------------------------------------------------------------------------------------------
// Bodies and load

/**
 * Writes `count` distinct signed webhooks, cycling through every sample event type, each with
 * its own deal (and collaboration) so no two share an ordering key: a bulk change across many
 * deals, as in a real burst. One "signature<TAB>path<TAB>body" line each.
 */
async function writeBodies(path: string, count: number): Promise<{ bytes: number }> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const types = Object.keys(SAMPLES);
  const now = String(Math.floor(Date.now() / 1000));
  const encoder = new TextEncoder();
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  let bytes = 0;
  let lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const type = types[i % types.length]!;
    const payload: Record<string, unknown> = { ...SAMPLES[type] };
    payload["deal_id"] = `bench-deal-${i}`;
    if ("collab_id" in payload) payload["collab_id"] = `bench-collab-${i}`;
    if ("webhook_timestamp" in payload) payload["webhook_timestamp"] = now;
    const body = JSON.stringify(payload);
    const encoded = encoder.encode(body);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoded));
    const signature = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
    lines.push(`${signature}\t/hooks/${type}\t${body}\n`);
    bytes += encoded.length;
    if (lines.length === 5_000 || i === count - 1) {
      await file.write(encoder.encode(lines.join("")));
      lines = [];
    }
  }
  file.close();
  return { bytes: bytes / count };
}

interface LoadOptions {
  /** Called when the load starts (the generator has loaded its bodies). */
  onStart?: () => void;
  url: string;
  bodies: string;
  seconds: number;
  /** Closed loop with this many connections, or an open loop at `rate` requests per second. */
  connections?: number;
  threads?: number;
  rate?: number;
  wrk: string | null;
}

/**
 * Runs the load generator to completion inside `sh`, which reports the CPU its child used
 * (cutime + cstime of the shell once it has reaped the generator).
 */
async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let argv: string[];
  let shown: string;
  if (options.wrk !== null) {
    // Paced: each of the connections pauses connections / rate seconds after every answer.
    const paced = options.rate !== undefined;
    const threads = paced ? 1 : options.threads ?? 1;
    const connections = paced ? PACED_CONNECTIONS : options.connections!;
    const script = paced ? "paced.lua" : "bodies.lua";
    const extra = paced ? [String((PACED_CONNECTIONS * 1000) / options.rate!)] : [];
    argv = [
      "stdbuf",
      "-oL",
      options.wrk,
      `-t${threads}`,
      `-c${connections}`,
      `-d${options.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      `${BENCH}${script}`,
      options.url,
      "--",
      options.bodies,
      String(threads),
      ...extra,
    ];
    shown = `wrk -t${threads} -c${connections} -d${options.seconds}s --timeout 10s ` +
      `-s bench/${script} ${options.url.replace(/:\d+/, ":PORT")} -- $TMP/bodies.tsv ` +
      [threads, ...extra].join(" ");
  } else {
    const mode = options.rate === undefined ? "closed" : "paced";
    const amount = options.rate ?? options.connections!;
    argv = [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-read",
      `${BENCH}load.ts`,
      options.url,
      options.bodies,
      mode,
      String(amount),
      String(options.seconds),
    ];
    shown = `deno run --allow-net --allow-read bench/load.ts ` +
      `${
        options.url.replace(/:\d+/, ":PORT")
      } $TMP/bodies.tsv ${mode} ${amount} ${options.seconds}`;
  }
  // The shell reports the generator's pid, then, once it has reaped it, the CPU it used in all
  // (cutime + cstime); the CPU it had used when it printed "Running" (its bodies loaded) is
  // taken off, so what remains is the CPU of sending the load.
  const script = '"$@" & pid=$!; echo "LOAD_PID $pid"; wait $pid; status=$?; ' +
    'echo "SHELL_STAT $(cat /proc/$$/stat)"; exit $status';
  const child = new Deno.Command("sh", {
    args: ["-c", script, "sh", ...argv],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let stdout = "";
  let cpuAtStart: number | null = null;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    if (cpuAtStart === null && /^Running/m.test(stdout)) {
      const pid = /LOAD_PID (\d+)/.exec(stdout)?.[1];
      cpuAtStart = pid === undefined ? 0 : procCpu(`/proc/${pid}/stat`, [11, 12]);
      options.onStart?.();
    }
  }
  const status = await child.status;
  const endedAt = Date.now();
  const json = /(?:WRK|LOAD)_JSON (\{.*\})/.exec(stdout)?.[1];
  const stat = /SHELL_STAT .*?\) (.*)/.exec(stdout)?.[1]?.split(" ");
  if (!status.success || json === undefined || stat === undefined) {
    throw new Error(`The load generator failed: ${shown}\n${stdout}${await stderr}`);
  }
  await stderr;
  const report = JSON.parse(json) as LoadReport;
  const clientCpu = (Number(stat[13]) + Number(stat[14])) / CLK_TCK - (cpuAtStart ?? 0);
  const seconds = report.duration_us / 1e6;
  return {
    ...report,
    shown,
    rate: report.requests / seconds,
    errors: report.connect_errors + report.read_errors + report.write_errors +
      report.status_errors + report.timeouts,
    clientCores: clientCpu / seconds,
    startedAt: endedAt - report.duration_us / 1000,
    endedAt,
  } as LoadResult & { shown: string };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Context {
  settings: Settings;
  tmp: string;
  bodies: string;
  wrk: string | null;
  webhook: string | null;
  curl: string | null;
  sinkUrl: string;
}

interface Sink {
  count: number;
  first: number;
  last: number;
}

async function sinkStats(ctx: Context): Promise<Sink> {
  return await (await fetch(`${ctx.sinkUrl}/stats`)).json();
}

async function sinkReset(ctx: Context): Promise<void> {
  await (await fetch(`${ctx.sinkUrl}/reset`, { method: "POST" })).body?.cancel();
}

/** Runs the load against a started server, measuring both processes' CPU. */
async function loadServer(
  ctx: Context,
  server: Server,
  url: string,
  what: string,
  threads = ctx.settings.threads,
): Promise<{ load: LoadResult; serverCores: number }> {
  let cpuBefore = server.cpu();
  const load = await runLoad({
    url,
    bodies: ctx.bodies,
    seconds: ctx.settings.seconds,
    connections: ctx.settings.connections,
    threads,
    wrk: ctx.wrk,
    onStart: () => cpuBefore = server.cpu(),
  });
  note(what, (load as LoadResult & { shown: string }).shown);
  const serverCores = (server.cpu() - cpuBefore) / (load.duration_us / 1e6);
  return { load, serverCores };
}

function loadSample(load: LoadResult, serverCores: number, memory: { peak: number }): Sample {
  return {
    rate: load.rate,
    ...percentiles(load),
    errors: load.errors,
    requests: load.requests,
    wrapped: load.wrapped,
    peakMb: memory.peak,
    serverCores,
    clientCores: load.clientCores,
  };
}

/**
 * p50 and p99 in ms. wrk 4.1 sometimes answers 0 for a percentile of latencies in the seconds
 * (seen with the peer); such a value is left out rather than shown as 0.
 */
function percentiles(load: LoadResult): Sample {
  const sample: Sample = {};
  if (load.p50_us > 0) sample["p50"] = load.p50_us / 1000;
  if (load.p99_us > 0 && load.p99_us >= load.p50_us) sample["p99"] = load.p99_us / 1000;
  return sample;
}

/** Spawns a bench server that prints its port, puts it under load, and stops it. */
async function loadSpawned(
  ctx: Context,
  args: string[],
  label: string,
  threads?: number,
): Promise<Sample> {
  const [server, port] = await spawnWithPort(Deno.execPath(), args);
  try {
    const { load, serverCores } = await loadServer(
      ctx,
      server,
      `http://127.0.0.1:${port}`,
      label,
      threads,
    );
    return loadSample(load, serverCores, server.memory());
  } finally {
    await server.stop();
  }
}

/** The limit reference: read, verify, FULL group commit, answer (bench/limit_server.ts). */
async function limitReference(ctx: Context): Promise<Sample> {
  const dir = await Deno.makeTempDir({ dir: ctx.tmp, prefix: "limit-" });
  const flags = ["--allow-net", "--allow-read", "--allow-write"];
  note("limit reference", `deno run ${flags.join(" ")} bench/limit_server.ts`);
  return await loadSpawned(
    ctx,
    ["run", ...flags, `${BENCH}limit_server.ts`, SECRET, `${dir}/limit.db`],
    "load on the limit reference",
  );
}

function ceiling(ctx: Context, threads: number): Promise<Sample> {
  note("ceiling server", "deno run --allow-net bench/ceiling_server.ts");
  return loadSpawned(
    ctx,
    ["run", "--allow-net", `${BENCH}ceiling_server.ts`],
    `load on the ceiling, ${threads} thread${threads === 1 ? "" : "s"}`,
    threads,
  );
}

/**
 * Writes a relay config: every event routed to an http destination pointing at the sink, the
 * rest left at its defaults (synchronous=FULL among them). The sink takes as many deliveries at
 * once as the load has connections, the concurrency the peer gets from its one curl per request.
 * `delivering: false` switches the destination off, so the run measures receiving alone.
 */
function relayConfig(ctx: Context, dir: string, port: number, delivering: boolean): string {
  const path = `${dir}/relay.json`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify(
      {
        listen: { hostname: "127.0.0.1", port },
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: `${dir}/relay.db` },
        destinations: {
          sink: {
            type: "http",
            url: `${ctx.sinkUrl}/events`,
            ...(ctx.settings.defaultConcurrency ? {} : { concurrency: ctx.settings.connections }),
            ...(delivering ? {} : { enabled: false }),
          },
        },
        routes: [{ name: "everything", events: "*", to: ["sink"] }],
      },
      null,
      2,
    ),
  );
  return path;
}

/** Starts hero-relay as the binary would run, returning it and its ready-to-serve time (ms). */
async function startRelay(
  ctx: Context,
  delivering = true,
): Promise<{ server: Server; url: string; readyMs: number }> {
  const dir = await Deno.makeTempDir({ dir: ctx.tmp, prefix: "relay-" });
  const port = freePort();
  const config = relayConfig(ctx, dir, port, delivering);
  note("hero-relay", `deno run ${RELAY_FLAGS.join(" ")} main.ts serve --config $TMP/relay.json`);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RELAY_FLAGS, "main.ts", "serve", "--config", config],
    cwd: ROOT,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const readyMs = await waitUntilServing(`${url}/healthz`, started);
  return { server: new Server(child), url, readyMs };
}

/** Counters from the relay's /metrics, summed over their labels. */
async function relayCounters(url: string): Promise<Record<string, number>> {
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

/** Receiving alone: verify, commit (synchronous=FULL), answer; the destination is switched off. */
async function ingest(ctx: Context): Promise<{ sample: Sample; readyMs: number }> {
  const { server, url, readyMs } = await startRelay(ctx, false);
  try {
    const { load, serverCores } = await loadServer(
      ctx,
      server,
      url,
      "load on hero-relay (ingest, end to end) and webhook",
    );
    const sample = loadSample(load, serverCores, server.memory());
    sample["duplicates"] = (await relayCounters(url)).duplicates!;
    return { sample, readyMs };
  } finally {
    await server.stop();
  }
}

/**
 * The whole road under the same load: receive, store, route, deliver to the sink. The run
 * continues after the load until the sink has every accepted event.
 */
async function endToEnd(ctx: Context): Promise<{ sample: Sample; readyMs: number }> {
  await sinkReset(ctx);
  const { server, url, readyMs } = await startRelay(ctx);
  try {
    const { load, serverCores } = await loadServer(
      ctx,
      server,
      url,
      "load on hero-relay (ingest, end to end) and webhook",
    );
    const deadline = Date.now() + (ctx.settings.smoke ? 20_000 : 300_000);
    let counters = await relayCounters(url);
    while (counters.delivered! < counters.accepted! && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      counters = await relayCounters(url);
    }
    const sink = await sinkStats(ctx);
    const seconds = (sink.last - load.startedAt) / 1000;
    return {
      sample: {
        rate: sink.count / seconds,
        events: sink.count,
        seconds,
        lost: counters.accepted! - sink.count,
        ackRate: load.rate,
        ...(percentiles(load)["p99"] === undefined ? {} : { ackP99: load.p99_us / 1000 }),
        errors: load.errors,
        wrapped: load.wrapped,
        duplicates: counters.duplicates!,
        serverCores,
        peakMb: server.memory().peak,
      },
      readyMs,
    };
  } finally {
    await server.stop();
  }
}

/** hero-relay at a fixed rate: the ack latency a sender sees under ordinary traffic. */
async function paced(ctx: Context): Promise<{ sample: Sample; readyMs: number }> {
  await sinkReset(ctx);
  const { server, url, readyMs } = await startRelay(ctx);
  try {
    return { sample: await pacedLoad(ctx, server, url), readyMs };
  } finally {
    await server.stop();
  }
}

/** The bare server at the same fixed rate: the latency floor of this machine and load generator. */
async function pacedCeiling(ctx: Context): Promise<Sample> {
  const [server, port] = await spawnWithPort(Deno.execPath(), [
    "run",
    "--allow-net",
    `${BENCH}ceiling_server.ts`,
  ]);
  try {
    return await pacedLoad(ctx, server, `http://127.0.0.1:${port}`);
  } finally {
    await server.stop();
  }
}

async function pacedLoad(ctx: Context, server: Server, url: string): Promise<Sample> {
  let cpuBefore = server.cpu();
  const load = await runLoad({
    url,
    bodies: ctx.bodies,
    seconds: ctx.settings.seconds,
    rate: ctx.settings.pacedRate,
    wrk: ctx.wrk,
    onStart: () => cpuBefore = server.cpu(),
  });
  note("paced load (hero-relay and the ceiling)", (load as LoadResult & { shown: string }).shown);
  const serverCores = (server.cpu() - cpuBefore) / (load.duration_us / 1e6);
  return loadSample(load, serverCores, server.memory());
}

/**
 * adnanh/webhook doing the relay's job its own way: one hook per event type checks the same
 * HMAC-SHA256 header, then runs curl to forward the raw body to the sink and answers when curl
 * is done (so its 200, like the relay's, means the event went somewhere).
 */
function peerFiles(ctx: Context): { hooks: string; forward: string } {
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
        "secret": SECRET,
        "parameter": { "source": "header", "name": "X-InfluencerHero-Signature" },
      },
    },
  }));
  const path = `${ctx.tmp}/hooks.json`;
  Deno.writeTextFileSync(path, JSON.stringify(hooks, null, 2));
  return { hooks: path, forward };
}

async function peer(ctx: Context): Promise<{ ack: Sample; e2e: Sample; readyMs: number }> {
  await sinkReset(ctx);
  const { hooks } = peerFiles(ctx);
  const port = freePort();
  note("webhook", `webhook -hooks $TMP/hooks.json -ip 127.0.0.1 -port PORT`);
  const started = performance.now();
  const child = new Deno.Command(ctx.webhook!, {
    args: ["-hooks", hooks, "-ip", "127.0.0.1", "-port", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const server = new Server(child);
  try {
    const url = `http://127.0.0.1:${port}`;
    const readyMs = await waitUntilServing(`${url}/`, started, true);
    const { load, serverCores } = await loadServer(
      ctx,
      server,
      url,
      "load on hero-relay (ingest, end to end) and webhook",
    );
    // Its CPU is not reported: the curls it reaps in bursts are booked at more cores than the
    // machine has.
    const ack = loadSample(load, serverCores, server.memory());
    delete ack["serverCores"];
    // The last forwards may still be running: wait until the sink stops counting.
    let sink = await sinkStats(ctx);
    for (let quiet = 0; quiet < 10;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const next = await sinkStats(ctx);
      quiet = next.count === sink.count ? quiet + 1 : 0;
      sink = next;
    }
    return {
      ack,
      e2e: {
        rate: sink.count === 0 ? 0 : sink.count / ((sink.last - load.startedAt) / 1000),
        events: sink.count,
        seconds: (sink.last - load.startedAt) / 1000,
        ackRate: load.rate,
        ...(percentiles(load)["p99"] === undefined ? {} : { ackP99: load.p99_us / 1000 }),
        errors: load.errors,
        peakMb: ack["peakMb"]!,
      },
      readyMs,
    };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Summaries and output

interface Summary {
  median: number;
  min: number;
  max: number;
}

function summarise(samples: Sample[], key: string): Summary | null {
  const values = samples.map((s) => s[key]).filter((v): v is number => v !== undefined).sort((
    a,
    b,
  ) => a - b);
  if (values.length === 0) return null;
  const middle = Math.floor(values.length / 2);
  const median = values.length % 2 === 1
    ? values[middle]!
    : (values[middle - 1]! + values[middle]!) / 2;
  return { median, min: values[0]!, max: values[values.length - 1]! };
}

function fmt(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** "median (min–max)", or just the value for a single run. */
function cell(samples: Sample[], key: string, digits = 0, scale = 1): string {
  const s = summarise(samples, key);
  if (s === null) return "–";
  const median = fmt(s.median * scale, digits);
  if (samples.length === 1) return median;
  return `${median} (${fmt(s.min * scale, digits)}–${fmt(s.max * scale, digits)})`;
}

function median(samples: Sample[], key: string): number {
  return summarise(samples, key)?.median ?? NaN;
}

interface Results {
  ceiling: Sample[];
  ceiling1: Sample[];
  limit: Sample[];
  ingest: Sample[];
  e2e: Sample[];
  peerAck: Sample[];
  peerE2e: Sample[];
  paced: Sample[];
  pacedCeiling: Sample[];
  ready: Sample[];
  peerReady: Sample[];
}

function tables(results: Results, settings: Settings, wrk: boolean): string {
  const load = [
    "| scenario | requests/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU (cores) | load generator CPU (cores) |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  ];
  const row = (name: string, samples: Sample[]) => {
    if (samples.length === 0) return;
    load.push(
      `| ${name} | ${cell(samples, "rate")} | ${cell(samples, "p50", 2)} | ` +
        `${cell(samples, "p99", 2)} | ${cell(samples, "errors")} | ${cell(samples, "peakMb")} | ` +
        `${cell(samples, "serverCores", 2)} | ${cell(samples, "clientCores", 2)} |`,
    );
  };
  const threads = `${settings.threads} thread${settings.threads === 1 ? "" : "s"}`;
  row(`ceiling: bare Deno.serve${wrk ? ` (wrk, ${threads})` : ""}`, results.ceiling);
  row("ceiling: bare Deno.serve (wrk, 1 thread)", results.ceiling1);
  row("limit reference: read + verify + FULL group commit + 2xx", results.limit);
  row("ingest: hero-relay (verify + FULL commit + 2xx; delivery off)", results.ingest);
  row("peer: adnanh/webhook + curl (ack after forwarding)", results.peerAck);
  const rate = `${fmt(settings.pacedRate)} requests/s`;
  row(`paced: bare Deno.serve at ${rate} (this machine's floor)`, results.pacedCeiling);
  row(`paced: hero-relay at ${rate}`, results.paced);
  const e2e = [
    "| end to end | events delivered/s | events | first request → last delivery (s) | " +
    "requests/s while loaded | p99 ms | errors | lost | peak RSS MB | server CPU (cores) |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  const e2eRow = (name: string, samples: Sample[]) => {
    if (samples.length === 0) return;
    e2e.push(
      `| ${name} | ${cell(samples, "rate")} | ${cell(samples, "events")} | ` +
        `${cell(samples, "seconds", 2)} | ${cell(samples, "ackRate")} | ` +
        `${cell(samples, "ackP99", 2)} | ${cell(samples, "errors")} | ${cell(samples, "lost")} | ` +
        `${cell(samples, "peakMb")} | ${cell(samples, "serverCores", 2)} |`,
    );
  };
  e2eRow("hero-relay → sink", results.e2e);
  e2eRow("adnanh/webhook + curl → sink", results.peerE2e);
  const ready = [
    "| ready to serve after start | ms |",
    "| --- | --: |",
    `| hero-relay (spawn → first 200 from /healthz) | ${cell(results.ready, "ms")} |`,
  ];
  if (results.peerReady.length > 0) {
    ready.push(`| adnanh/webhook (spawn → first answer) | ${cell(results.peerReady, "ms")} |`);
  }
  return [load.join("\n"), e2e.join("\n"), ready.join("\n")].join("\n\n");
}

function targets(results: Results): { table: string; ratios: Record<string, number> } {
  const ceilingRate = median(results.ceiling, "rate");
  const ingestRate = median(results.ingest, "rate");
  const e2eRate = median(results.e2e, "rate");
  const peerRate = median(results.peerE2e, "rate");
  const peak = Math.max(
    ...[...results.ingest, ...results.e2e, ...results.paced].map((s) => s["peakMb"] ?? 0),
  );
  const limitRate = median(results.limit, "rate");
  const ratios = {
    ingestOverCeiling: ingestRate / ceilingRate,
    ingestOverLimit: ingestRate / limitRate,
    e2eOverPeer: e2eRate / peerRate,
  };
  const rows: Array<[string, string, string, boolean | null]> = [
    [
      "ingest ÷ ceiling",
      fmt(ratios.ingestOverCeiling, 2),
      "≥ 0.25",
      ratios.ingestOverCeiling >= 0.25,
    ],
    [
      "ingest ÷ limit reference",
      fmt(ratios.ingestOverLimit, 2),
      "≥ 0.8",
      ratios.ingestOverLimit >= 0.8,
    ],
    ["end to end, events/s", fmt(e2eRate), "≥ 5,000", e2eRate >= 5000],
    [
      "end to end ÷ peer",
      Number.isFinite(ratios.e2eOverPeer) ? `${fmt(ratios.e2eOverPeer)} ×` : "– (peer skipped)",
      "≥ 100 ×",
      Number.isFinite(ratios.e2eOverPeer) ? ratios.e2eOverPeer >= 100 : null,
    ],
    [
      "p99 ack latency at the paced rate, ms",
      fmt(median(results.paced, "p99"), 2),
      "≤ 10",
      median(results.paced, "p99") <= 10,
    ],
    ["peak RSS under load, MB", fmt(peak), "≤ 150", peak <= 150],
    [
      "ready to serve, ms",
      fmt(median(results.ready, "ms")),
      "≤ 300",
      median(results.ready, "ms") <= 300,
    ],
  ];
  const table = [
    "| measure | this run | target | met |",
    "| --- | --: | --: | :-: |",
    ...rows.map(([name, value, target, met]) =>
      `| ${name} | ${value} | ${target} | ${met === null ? "–" : met ? "yes" : "**no**"} |`
    ),
  ].join("\n");
  return { table, ratios };
}

function loadAverage(): string {
  try {
    return proc("/proc/loadavg").split(" ").slice(0, 3).join(", ");
  } catch {
    return "unknown";
  }
}

const loadAtStart = loadAverage();

async function machine(wrk: string | null, webhook: string | null): Promise<string[]> {
  const read = (path: string) => {
    try {
      return proc(path);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const meminfo = read("/proc/meminfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const version = async (command: string | null, flag: string) => {
    if (command === null) return "not installed";
    const args = command === "git" ? ["describe", "--always", "--dirty"] : [flag];
    const out = await new Deno.Command(command, {
      args,
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    })
      .output().catch(() => null);
    if (out === null) return "unknown";
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n")[0]!.trim();
  };
  return [
    `- CPU: ${navigator.hardwareConcurrency} × ${model} (nproc ${navigator.hardwareConcurrency})`,
    `- memory: ${fmt(memKb / 1024 / 1024, 1)} GiB`,
    `- OS: ${Deno.build.os} ${Deno.osRelease()} (${Deno.build.arch})`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
    `- wrk: ${await version(wrk, "-v")}`,
    `- webhook: ${await version(webhook, "-version")}`,
    `- hero-relay: ${await version("git", "describe")}`,
    `- load average (1, 5, 15 min) at the start and at the end: ${loadAtStart} and ${loadAverage()}; the machine is shared with other developers' work, so absolute numbers are noisy: the ` +
    "ratios are measured within one run, scenarios interleaved",
  ];
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const settings = settingsFrom(Deno.args);
  const wrk = settings.builtin ? null : which("wrk");
  const webhook = settings.builtin ? null : which("webhook");
  const curl = which("curl");
  const tmp = await Deno.makeTempDir({ prefix: "hero-relay-bench-" });
  const [sink, sinkPort] = await spawnWithPort(Deno.execPath(), [
    "run",
    "--allow-net",
    `${BENCH}sink.ts`,
  ]);
  note("sink", "deno run --allow-net bench/sink.ts");
  try {
    const bodies = `${tmp}/bodies.tsv`;
    log(`writing ${fmt(settings.bodies)} signed bodies`);
    const { bytes } = await writeBodies(bodies, settings.bodies);
    const ctx: Context = {
      settings,
      tmp,
      bodies,
      wrk,
      webhook,
      curl,
      sinkUrl: `http://127.0.0.1:${sinkPort}`,
    };
    const usePeer = webhook !== null && curl !== null;
    if (wrk === null) {
      log("wrk is not installed: using the built-in load generator (bench/load.ts)");
    }
    if (!usePeer) log("webhook or curl is not installed: skipping the peer");
    // Warm Deno's module cache, so that ready-to-serve times measure starting, not compiling.
    await (await startRelay(ctx)).server.stop();
    const results: Results = {
      ceiling: [],
      ceiling1: [],
      limit: [],
      ingest: [],
      e2e: [],
      peerAck: [],
      peerE2e: [],
      paced: [],
      pacedCeiling: [],
      ready: [],
      peerReady: [],
    };
    for (let run = 1; run <= settings.runs; run++) {
      log(`run ${run} of ${settings.runs}: ceiling`);
      results.ceiling.push(await ceiling(ctx, settings.threads));
      if (wrk !== null && settings.threads > 1 && !settings.smoke) {
        log(`run ${run} of ${settings.runs}: ceiling with 1 wrk thread`);
        results.ceiling1.push(await ceiling(ctx, 1));
      }
      log(`run ${run} of ${settings.runs}: limit reference`);
      results.limit.push(await limitReference(ctx));
      log(`run ${run} of ${settings.runs}: hero-relay ingest`);
      const i = await ingest(ctx);
      results.ingest.push(i.sample);
      results.ready.push({ ms: i.readyMs });
      log(`run ${run} of ${settings.runs}: hero-relay end to end`);
      const e = await endToEnd(ctx);
      results.e2e.push(e.sample);
      results.ready.push({ ms: e.readyMs });
      if (usePeer) {
        log(`run ${run} of ${settings.runs}: adnanh/webhook`);
        const p = await peer(ctx);
        results.peerAck.push(p.ack);
        results.peerE2e.push(p.e2e);
        results.peerReady.push({ ms: p.readyMs });
      }
      log(`run ${run} of ${settings.runs}: bare Deno.serve at a fixed rate`);
      results.pacedCeiling.push(await pacedCeiling(ctx));
      log(`run ${run} of ${settings.runs}: hero-relay at a fixed rate`);
      const q = await paced(ctx);
      results.paced.push(q.sample);
      results.ready.push({ ms: q.readyMs });
    }
    const body = tables(results, settings, wrk !== null);
    const { table } = targets(results);
    const distinct = [...results.ingest, ...results.e2e, ...results.peerAck];
    const wrapped = distinct.reduce((n, s) => n + (s["wrapped"] ?? 0), 0);
    const duplicates = distinct.reduce((n, s) => n + (s["duplicates"] ?? 0), 0);
    const checks = `Every request to hero-relay and webhook carried a distinct body: ${
      wrapped === 0 && duplicates === 0
        ? "yes (no load generator wrapped around its bodies, the relay saw 0 duplicates)"
        : `**no** (${wrapped} wrap-arounds, ${duplicates} duplicates)`
    }.`;
    writeStdout(`\n${body}\n\n${table}\n\n${checks}\n`);
    if (settings.out !== null) {
      await Deno.writeTextFile(
        settings.out,
        await report(settings, { body, table, checks, bytes, wrk, webhook, tmp }),
      );
      log(`wrote ${settings.out}`);
    }
    return 0;
  } finally {
    await sink.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function report(
  settings: Settings,
  parts: {
    body: string;
    table: string;
    checks: string;
    bytes: number;
    wrk: string | null;
    webhook: string | null;
    tmp: string;
  },
): Promise<string> {
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
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
    ...(await machine(parts.wrk, parts.webhook)),
    "",
    "## Ratios and targets",
    "",
    parts.table,
    "",
    "## Results",
    "",
    parts.body,
    "",
    parts.checks,
    "",
    "## What was run",
    "",
    `- bodies: ${fmt(settings.bodies)} distinct webhooks, ${
      fmt(parts.bytes)
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
    `pointing at the sink (bench/sink.ts) with \`concurrency: ${settings.connections}\`, the ` +
    "number of load connections, i.e. the concurrency the peer gets from its one curl per request",
    "- ingest: that relay with its destination switched off (`enabled: false`): receive, verify, " +
    "commit durably, route, answer 2xx; nothing delivered",
    "- end to end: the same load with delivery on; events/s = events the sink received ÷ (its last " +
    "delivery − the first request); the run goes on after the load until the relay has delivered " +
    "every event it accepted",
    "- peer: adnanh/webhook from Debian's `webhook` package, one hook per event type with a " +
    "`payload-hmac-sha256` trigger rule on `X-InfluencerHero-Signature` (it has no timestamp " +
    "check and no store), running curl (forward.sh below) to forward the raw body to the sink and " +
    "answering when curl is done (`include-command-output-in-response`), so its 200, like the " +
    "relay's, means the event went somewhere",
    "- paced: wrk 4 cannot hold an open-loop rate (wrk2 is not in Debian), so bench/paced.lua " +
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
    "- peak RSS is VmHWM from /proc/<pid>/status at the end of each run",
    "- ready to serve: from spawning the process to its first 200 on `/healthz` (polled every " +
    "2 ms), on a warm Deno module cache",
    "",
    ...(parts.webhook === null ? [] : [
      "The peer's hooks file has one such hook per event type (paths are the run's own):",
      "",
      "```json",
      JSON.stringify(
        (JSON.parse(Deno.readTextFileSync(`${parts.tmp}/hooks.json`)) as unknown[])[0],
        null,
        2,
      ).replaceAll(parts.tmp, "$TMP").replace(/127\.0\.0\.1:\d+/, "127.0.0.1:PORT"),
      "```",
      "",
      "```sh",
      "# $TMP/forward.sh, the command each hook runs",
      ...Deno.readTextFileSync(`${parts.tmp}/forward.sh`).trimEnd().split("\n"),
      "```",
      "",
    ]),
    "Commands (PORT and $TMP are chosen at run time):",
    "",
    "```sh",
    ...[...commands].map(([what, command]) => `# ${what}\n${command}`),
    "```",
    "",
    "Reproduce: `apt-get install -y wrk webhook curl && deno task bench` (about three minutes; " +
    "`deno task bench --smoke` runs a tiny load once and writes nothing).",
    "",
  ].join("\n");
}

if (import.meta.main) Deno.exit(await main());
