// The benchmark's command line: `deno task bench [--smoke] [--builtin] [--runs N] [--seconds S]
// [--connections C] [--threads T] [--out FILE] [--console-events N] [--console-only]`.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const BENCH = fileURLToPath(new URL(".", import.meta.url));

/** How one benchmark run is shaped, from its flags (and HERO_RELAY_BENCH_SMOKE). */
export interface Settings {
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
  /** Events in the store the console's searches are timed on; 0 skips those searches. */
  consoleEvents: number;
  /** Run only the console's searches, print their table and write nothing. */
  consoleOnly: boolean;
}

/** Parses the benchmark's flags; `--smoke` (or HERO_RELAY_BENCH_SMOKE=1) shrinks every default. */
export function settingsFrom(args: string[]): Settings {
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
      "console-events": { type: "string" },
      "console-only": { type: "boolean", default: false },
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
  // 0 is a size here: it skips the console's searches, so a throughput run takes minutes.
  const consoleEvents = values["console-events"] === "0"
    ? 0
    : Math.floor(number(values["console-events"], smoke ? 20_000 : 1_000_000));
  if (values["console-only"] && consoleEvents === 0) {
    throw new RangeError(
      '"--console-only" runs only the console\'s searches, which "--console-events 0" skips',
    );
  }
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
    out: values["console-only"] ? null : values.out ?? (smoke ? null : `${BENCH}RESULTS.md`),
    consoleEvents,
    consoleOnly: values["console-only"],
  };
}
