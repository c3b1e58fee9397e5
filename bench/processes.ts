// The processes of a benchmark run: the servers under test (hero-relay, the ceiling, the limit
// reference, adnanh/webhook) and the delivery sink, each spawned, waited for until it serves,
// measured through /proc while it runs, and stopped.

import denoJson from "../deno.json" with { type: "json" };
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = fileURLToPath(new URL(".", import.meta.url));
/** The flags `deno task compile` builds the binary with, so the relay runs as it ships. */
const RELAY_FLAGS = denoJson.tasks.compile.split(/\s+/).filter((arg, i, args) =>
  arg.startsWith("--") && arg !== "--output" && args[i - 1] !== "--output"
);
const CLK_TCK = 100;

/** The first path in $PATH holding an executable `name`, or null. */
export function which(name: string): string | null {
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
export function proc(path: string): string {
  const output = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!output.success) throw new Error(`Cannot read ${path}`);
  return new TextDecoder().decode(output.stdout);
}

/** CPU seconds from a /proc/<pid>/stat file: the sum of the given fields after the name. */
export function procCpu(path: string, fields: number[]): number {
  return statCpu(proc(path), fields);
}

/** CPU seconds from the text of a /proc/<pid>/stat file, as `procCpu()` reads it. */
export function statCpu(stat: string, fields: number[]): number {
  const values = stat.split(") ")[1]!.split(" ");
  return fields.reduce((sum, i) => sum + Number(values[i]), 0) / CLK_TCK;
}

/** A server under test, with its CPU time and memory read from /proc. */
export class Server {
  readonly pid: number;
  #child: Deno.ChildProcess;

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
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

  /** SIGTERM, then SIGKILL if the process has not ended within 15 s. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 15_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}

/** A started process: where it serves and the command line the report shows for it. */
export interface Started {
  server: Server;
  url: string;
  command: string;
}

/** A started process whose start-up was timed: spawn to its first answer, in ms. */
export interface StartedTimed extends Started {
  readyMs: number;
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

/** Spawns one of bench/*.ts under Deno with `flags`; it prints its port once it listens. */
async function startBenchServer(
  script: string,
  options: { flags: string[]; args?: string[] },
): Promise<Started> {
  const [server, port] = await spawnWithPort(Deno.execPath(), [
    "run",
    ...options.flags,
    `${BENCH}${script}`,
    ...(options.args ?? []),
  ]);
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    command: `deno run ${options.flags.join(" ")} bench/${script}`,
  };
}

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Polls `url` until it answers (any status when `anyStatus`), returning the time taken (ms). */
async function waitUntilServing(
  url: string,
  started: number,
  options: { anyStatus: boolean },
): Promise<number> {
  const deadline = started + 30_000;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (options.anyStatus || response.ok) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} did not answer within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The delivery sink (bench/sink.ts): counts what it is sent. */
export function startSink(): Promise<Started> {
  return startBenchServer("sink.ts", { flags: ["--allow-net"] });
}

/** The ceiling (bench/ceiling_server.ts): a bare Deno.serve handler that reads and answers. */
export function startCeiling(): Promise<Started> {
  return startBenchServer("ceiling_server.ts", { flags: ["--allow-net"] });
}

/** The limit reference (bench/limit_server.ts) on a fresh database in a new directory of `tmp`. */
export async function startLimitReference(secret: string, tmp: string): Promise<Started> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "limit-" });
  return await startBenchServer("limit_server.ts", {
    flags: ["--allow-net", "--allow-read", "--allow-write"],
    args: [secret, `${dir}/limit.db`],
  });
}

/** How hero-relay is configured for a run. */
export interface RelayOptions {
  /** The directory its config and database are made in (a fresh one for each start). */
  tmp: string;
  secret: string;
  sinkUrl: string;
  /** The sink destination's `concurrency`, or null to leave it to the relay (adaptive). */
  concurrency: number | null;
  /** False switches the destination off, so the relay receives alone. */
  delivering: boolean;
}

/**
 * Writes a relay config: every event routed to an http destination pointing at the sink, the
 * rest left at its defaults (synchronous=FULL among them).
 */
function relayConfig(dir: string, port: number, options: RelayOptions): string {
  const path = `${dir}/relay.json`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify(
      {
        listen: { hostname: "127.0.0.1", port },
        influencer_hero: { signing_secrets: [options.secret] },
        store: { sqlite: `${dir}/relay.db` },
        destinations: {
          sink: {
            type: "http",
            url: `${options.sinkUrl}/events`,
            ...(options.concurrency === null ? {} : { concurrency: options.concurrency }),
            ...(options.delivering ? {} : { enabled: false }),
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

/** Starts hero-relay as the binary would run, timed until its first 200 on /healthz. */
export async function startRelay(options: RelayOptions): Promise<StartedTimed> {
  const dir = await Deno.makeTempDir({ dir: options.tmp, prefix: "relay-" });
  const port = freePort();
  const config = relayConfig(dir, port, options);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RELAY_FLAGS, "main.ts", "serve", "--config", config],
    cwd: ROOT,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const server = new Server(child);
  const url = `http://127.0.0.1:${port}`;
  const command = `deno run ${RELAY_FLAGS.join(" ")} main.ts serve --config $TMP/relay.json`;
  try {
    const readyMs = await waitUntilServing(`${url}/healthz`, started, { anyStatus: false });
    return { server, url, readyMs, command };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Starts adnanh/webhook (the binary at `webhook`) with a hooks file, timed until it answers. */
export async function startWebhook(webhook: string, hooks: string): Promise<StartedTimed> {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(webhook, {
    args: ["-hooks", hooks, "-ip", "127.0.0.1", "-port", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const server = new Server(child);
  const url = `http://127.0.0.1:${port}`;
  const command = "webhook -hooks $TMP/hooks.json -ip 127.0.0.1 -port PORT";
  try {
    const readyMs = await waitUntilServing(`${url}/`, started, { anyStatus: true });
    return { server, url, readyMs, command };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
