// The load of a benchmark run: the signed bodies written beforehand, and the load generator (wrk
// with bench/bodies.lua or bench/paced.lua, or bench/load.ts without wrk) run against a server
// while the CPU of both is measured.

import { fileURLToPath } from "node:url";
import { SAMPLES } from "../src/samples.ts";
import { procCpu, type Server, statCpu } from "./processes.ts";

const BENCH = fileURLToPath(new URL(".", import.meta.url));
/** Connections of the paced wrk run: enough that one slow answer holds up few requests. */
export const PACED_CONNECTIONS = 50;

/**
 * Writes `count` distinct signed webhooks, cycling through every sample event type, each with
 * its own deal (and collaboration) so no two share an ordering key: a bulk change across many
 * deals, as in a real burst. One "signature<TAB>path<TAB>body" line each. Returns the average
 * body size in bytes.
 */
export async function writeBodies(
  path: string,
  options: { count: number; secret: string },
): Promise<number> {
  const { count } = options;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(options.secret),
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
  return bytes / count;
}

/** What a load generator reports (wrk's summary, or bench/load.ts's equivalent). */
export interface LoadReport {
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

/** A finished load: the generator's report and what was measured around it. */
export interface LoadResult extends LoadReport {
  /** Requests per second. */
  rate: number;
  errors: number;
  /** CPU the load generator used, in cores (1 = one core busy all the time). */
  clientCores: number;
  /** Wall clock (ms since the epoch) of the first request, and when the generator ended. */
  startedAt: number;
  endedAt: number;
  /** The generator's command line as the report shows it (PORT and $TMP for the run's own). */
  command: string;
}

/** A closed loop of `connections` (wrk spreading them over `threads`), or a steady `rate`. */
export type Loop =
  | { kind: "closed"; connections: number; threads: number }
  | { kind: "paced"; rate: number };

/** Where the load goes, what it sends, for how long, and with which generator. */
export interface LoadOptions {
  url: string;
  /** The file `writeBodies()` wrote. */
  bodies: string;
  seconds: number;
  loop: Loop;
  /** The wrk binary, or null for bench/load.ts. */
  wrk: string | null;
}

/** A load on a server: the load, and the server's CPU while it ran. */
export interface MeasuredLoad {
  load: LoadResult;
  /** The server's CPU while the load ran, in cores. */
  serverCores: number;
  /** The server's CPU seconds while the load ran. */
  serverCpuSeconds: number;
  /**
   * The server's CPU seconds used when the load started, so a caller can count its CPU until
   * later (the last delivery) against the same start.
   */
  serverCpuAtStart: number;
}

function generatorCommand(options: LoadOptions): { argv: string[]; command: string } {
  const { loop, seconds, url } = options;
  const shownUrl = url.replace(/:\d+/, ":PORT");
  if (options.wrk !== null) {
    // Paced: each of the connections pauses connections / rate seconds after every answer.
    const threads = loop.kind === "paced" ? 1 : loop.threads;
    const connections = loop.kind === "paced" ? PACED_CONNECTIONS : loop.connections;
    const script = loop.kind === "paced" ? "paced.lua" : "bodies.lua";
    const extra = loop.kind === "paced" ? [String((PACED_CONNECTIONS * 1000) / loop.rate)] : [];
    const argv = [
      "stdbuf",
      "-oL",
      options.wrk,
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      `${BENCH}${script}`,
      url,
      "--",
      options.bodies,
      String(threads),
      ...extra,
    ];
    const command = `wrk -t${threads} -c${connections} -d${seconds}s --timeout 10s ` +
      `-s bench/${script} ${shownUrl} -- $TMP/bodies.tsv ` + [threads, ...extra].join(" ");
    return { argv, command };
  }
  const amount = loop.kind === "paced" ? loop.rate : loop.connections;
  const argv = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    `${BENCH}load.ts`,
    url,
    options.bodies,
    loop.kind,
    String(amount),
    String(seconds),
  ];
  const command = `deno run --allow-net --allow-read bench/load.ts ` +
    `${shownUrl} $TMP/bodies.tsv ${loop.kind} ${amount} ${seconds}`;
  return { argv, command };
}

/**
 * Runs the load generator to completion inside `sh`, which reports the CPU its child used
 * (cutime + cstime of the shell once it has reaped the generator). `onStart` is called when the
 * load starts (the generator has loaded its bodies).
 */
export async function runLoad(options: LoadOptions, onStart?: () => void): Promise<LoadResult> {
  const { argv, command } = generatorCommand(options);
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
      onStart?.();
    }
  }
  const status = await child.status;
  const endedAt = Date.now();
  const json = /(?:WRK|LOAD)_JSON (\{.*\})/.exec(stdout)?.[1];
  const stat = /SHELL_STAT (.*?\) .*)/.exec(stdout)?.[1];
  if (!status.success || json === undefined || stat === undefined) {
    throw new Error(`The load generator failed: ${command}\n${stdout}${await stderr}`);
  }
  await stderr;
  const report = JSON.parse(json) as LoadReport;
  // No "Running" line (the generator never started its load): all of its CPU counts.
  const clientCpu = statCpu(stat, [13, 14]) - (cpuAtStart ?? 0);
  const seconds = report.duration_us / 1e6;
  return {
    ...report,
    rate: report.requests / seconds,
    errors: report.connect_errors + report.read_errors + report.write_errors +
      report.status_errors + report.timeouts,
    clientCores: clientCpu / seconds,
    startedAt: endedAt - report.duration_us / 1000,
    endedAt,
    command,
  };
}

/** Runs the load against a started server, measuring the server's CPU while the load ran. */
export async function measureLoad(server: Server, options: LoadOptions): Promise<MeasuredLoad> {
  let serverCpuAtStart = server.cpu();
  const load = await runLoad(options, () => serverCpuAtStart = server.cpu());
  const serverCpuSeconds = server.cpu() - serverCpuAtStart;
  return {
    load,
    serverCores: serverCpuSeconds / (load.duration_us / 1e6),
    serverCpuSeconds,
    serverCpuAtStart,
  };
}
