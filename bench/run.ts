// `deno task bench`: the whole comparison on loopback, in one run, printed as a table and written
// to bench/RESULTS.md. Every scenario is repeated (3 times by default) and reported as the median
// with min–max, interleaved so that a noisy neighbour hurts every scenario alike:
//
//   ceiling   a bare Deno.serve handler that reads the body and answers (bench/ceiling_server.ts)
//   limit     only the required work: read, verify (WebCrypto), FULL group commit, answer
//             (bench/limit_server.ts)
//   ingest    hero-relay (`main.ts serve`, synchronous=FULL) receiving alone, delivery off
//   e2e       hero-relay on default settings (adaptive concurrency) delivering to a local sink
//             (bench/sink.ts): first request to last delivery, and the relay's CPU per delivered
//             event; again with the destination's `concurrency` set to the load's connections
//   peer      adnanh/webhook checking the same signature and forwarding with curl, same load
//   paced     hero-relay, the limit reference and the bare server at a steady 1,000 requests/s:
//             the ack latency
//   ready     from spawning hero-relay to its first 200 on /healthz
//   console   the console's searches on a SQLite store of a million events, and of 1,000
//             (bench/console_queries.ts; opened in this process, no relay)
//
// Options: --runs N, --seconds S, --connections C, --threads T (wrk), --out FILE, --builtin
// (bench/load.ts and no peer even where wrk and webhook are installed), --console-events N (the
// big store's size; 0 skips the console's searches, so a throughput run takes minutes),
// --console-only (only the console's searches, printed; nothing written). `--smoke` (or
// HERO_RELAY_BENCH_SMOKE=1) runs a tiny load once and writes nothing, so CI keeps the benchmark
// working; without wrk the built-in load generator stands in, without webhook the peer is
// skipped.
//
// The parts: bench/settings.ts (the flags), bench/processes.ts (the servers and the sink),
// bench/load_runner.ts (bodies and load generator), bench/scenarios.ts (each scenario and its
// typed result), bench/machine.ts and bench/report.ts (the tables and RESULTS.md).

import { writeStderr, writeStdout } from "../src/log.ts";
import { writeBodies } from "./load_runner.ts";
import { describeMachine, loadAverage } from "./machine.ts";
import { startSink, which } from "./processes.ts";
import { formatNumber, renderConsoleQueries, renderReport, renderResults } from "./report.ts";
import { consoleSearches, type Context, readPeerFiles, runScenarios } from "./scenarios.ts";
import { type Settings, settingsFrom } from "./settings.ts";

const SECRET = "bench-signing-secret-7d41c09a";

function log(text: string): void {
  writeStderr(`${text}\n`);
}

async function main(): Promise<number> {
  const loadAtStart = loadAverage();
  const settings = settingsFrom(Deno.args);
  if (settings.consoleOnly) return await consoleOnly(settings);
  const wrk = settings.builtin ? null : which("wrk");
  const webhook = settings.builtin ? null : which("webhook");
  const curl = which("curl");
  const tmp = await Deno.makeTempDir({ prefix: "hero-relay-bench-" });
  const sink = await startSink();
  const commands = new Map([["sink", sink.command]]);
  try {
    const bodies = `${tmp}/bodies.tsv`;
    log(`writing ${formatNumber(settings.bodies)} signed bodies`);
    const averageBytes = await writeBodies(bodies, { count: settings.bodies, secret: SECRET });
    const ctx: Context = {
      settings,
      tmp,
      bodies,
      secret: SECRET,
      wrk,
      sinkUrl: sink.url,
      commands,
    };
    const peer = webhook !== null && curl !== null ? webhook : null;
    if (wrk === null) {
      log("wrk is not installed: using the built-in load generator (bench/load.ts)");
    }
    if (peer === null) log("webhook or curl is not installed: skipping the peer");
    const results = await runScenarios(ctx, { peer, log });
    const rendered = renderResults(results, { settings, wrk: wrk !== null });
    writeStdout(
      `\n${rendered.results}\n\n${rendered.targets}\n\n${rendered.checks}\n\n` +
        `${rendered.consoleQueries}\n`,
    );
    if (settings.out !== null) {
      const measuredAt = new Date();
      const report = renderReport(rendered, {
        settings,
        measuredAt,
        machine: await describeMachine({ wrk, webhook, loadAtStart }),
        averageBytes,
        peerFiles: results.peer.length === 0 ? null : readPeerFiles(tmp),
        commands,
      });
      await Deno.writeTextFile(settings.out, report);
      log(`wrote ${settings.out}`);
    }
    return 0;
  } finally {
    await sink.server.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Only the console's searches: their table printed, nothing written. */
async function consoleOnly(settings: Settings): Promise<number> {
  const tmp = await Deno.makeTempDir({ prefix: "hero-relay-bench-" });
  try {
    const result = await consoleSearches({ settings, tmp }, log);
    writeStdout(`\n${renderConsoleQueries(result)}\n`);
    return 0;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
