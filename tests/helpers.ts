// Test helpers: signed requests as Influencer Hero sends them, relays on temporary SQLite files,
// recording fake servers on 127.0.0.1 that answer as real services do, and the relay run as a
// process (one command to its end, or a long-running `serve` whose log lines are read as they come).

import { type Config, parseConfig } from "../src/config.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { type Relay, startRelay } from "../src/relay.ts";
import { SAMPLES } from "../src/samples.ts";
import { sign } from "../src/verify.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

/** The signing secret the tests' configs use. */
export const SECRET = "test-signing-secret-0f8e2c1d";

/** A sample payload with a fresh `webhook_timestamp` (where the type has one) and a nonce. */
export function freshSample(
  type: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const payload = structuredClone(SAMPLES[type] ?? {}) as Record<string, unknown>;
  if ("webhook_timestamp" in payload) {
    payload["webhook_timestamp"] = String(Math.floor(Date.now() / 1000));
  }
  return { ...payload, test_nonce: crypto.randomUUID(), ...extra };
}

/** Headers and bytes of a correctly signed webhook. */
export async function signed(
  payload: unknown,
  options: { secret?: string; timestamp?: number } = {},
): Promise<{ body: Uint8Array<ArrayBuffer>; headers: Record<string, string> }> {
  const body = new TextEncoder().encode(
    typeof payload === "string" ? payload : JSON.stringify(payload),
  );
  return {
    body,
    headers: {
      "content-type": "application/json",
      "x-influencerhero-signature": await sign(body, options.secret ?? SECRET),
      "x-influencerhero-timestamp": String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    },
  };
}

/** POSTs a signed payload to a relay; returns status and parsed JSON body. */
export async function post(
  baseUrl: string,
  path: string,
  payload: unknown,
  options: { secret?: string; timestamp?: number } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const { body, headers } = await signed(payload, options);
  const response = await fetch(`${baseUrl}${path}`, { method: "POST", headers, body });
  return { status: response.status, json: await response.json() };
}

/** A log sink that keeps every line, for assertions and the secret-redaction check. */
export class LogCapture {
  lines: string[] = [];
  logger: Logger = createLogger((line) => this.lines.push(line), "debug");

  /** Parsed lines whose `msg` equals `msg`. */
  find(msg: string): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === msg);
  }
}

/** A config object for tests: one secret, a temp SQLite file, and the given parts. */
export function testConfig(
  dir: string,
  parts: { destinations: Record<string, unknown>; routes: unknown[]; [key: string]: unknown },
): Config {
  const raw = {
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets: [SECRET] },
    store: { sqlite: `${dir}/relay.db` },
    ...parts,
  };
  return parseConfig(JSON.stringify(raw), "test config", { env: () => undefined });
}

/** Starts a relay on port 0 with a capturing logger and console output. */
export async function testRelay(
  config: Config,
  options: { now?: () => number; pollMs?: number } = {},
): Promise<{ relay: Relay; logs: LogCapture; printed: string[] }> {
  const logs = new LogCapture();
  const printed: string[] = [];
  const relay = await startRelay({
    config,
    source: "test config",
    log: logs.logger,
    write: (text) => printed.push(text),
    port: 0,
    pollMs: options.pollMs ?? 50,
    ...(options.now ? { now: options.now } : {}),
  });
  return { relay, logs, printed };
}

/** A request a fake server received. */
export interface Received {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** How a fake answers one request. */
export type Answer = { status: number; body?: string; headers?: Record<string, string> };

/**
 * A recording HTTP server on 127.0.0.1. `script` chooses each answer from the request and its
 * index; the default answers 200 "ok" as Slack does.
 */
export class FakeServer {
  received: Received[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters: Array<{ count: number; resolve: () => void }> = [];
  url: string;

  constructor(
    script: (request: Received, index: number) => Answer | Promise<Answer> = () => ({
      status: 200,
      body: "ok",
    }),
  ) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (request) => {
        const url = new URL(request.url);
        const received: Received = {
          method: request.method,
          path: url.pathname + url.search,
          headers: request.headers,
          body: await request.text(),
        };
        const index = this.received.length;
        this.received.push(received);
        const answer = await script(received, index);
        this.#waiters = this.#waiters.filter((w) => {
          if (this.received.length >= w.count) w.resolve();
          return this.received.length < w.count;
        });
        const empty = answer.status === 204 || answer.status === 304;
        return new Response(empty ? null : answer.body ?? "", {
          status: answer.status,
          headers: answer.headers ?? { "content-type": "text/plain" },
        });
      },
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Resolves once `count` requests arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`Expected ${count} requests, got ${this.received.length}`));
      }, timeoutMs);
      this.#waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

/** Polls `check` until it returns true; throws after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Event types that have a sample payload. */
export const SAMPLE_TYPES: string[] = Object.keys(SAMPLES);

/**
 * The runtime flags `deno task compile` gives the binary (its V8 flags and its permission set),
 * read from deno.json: every flag of the task but `--output` and its value.
 */
export async function compileFlags(): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const words = String(denoJson.tasks.compile).split(/\s+/);
  const flags = words.filter((word, i) =>
    word.startsWith("--") && word !== "--output" && words[i - 1] !== "--output"
  );
  if (!flags.some((flag) => flag.startsWith("--permission-set="))) {
    throw new Error("deno.json's compile task names no --permission-set");
  }
  return flags;
}

/** The path of main.ts. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * How to run the relay with `args`: the compiled binary named by `HERO_RELAY_BINARY` when it is
 * set (CI's binary job runs the subprocess tests that way), else main.ts under `deno run` with
 * exactly the binary's flags (its permission set resolves from deno.json beside main.ts).
 */
export async function relayCommand(args: string[]): Promise<{ command: string; args: string[] }> {
  const binary = Deno.env.get("HERO_RELAY_BINARY");
  if (binary) return { command: binary, args };
  return { command: Deno.execPath(), args: ["run", ...(await compileFlags()), MAIN, ...args] };
}

/**
 * Runs one command of the relay (main.ts with the binary's flags, or HERO_RELAY_BINARY) in a
 * subprocess to its end; returns its exit code and output.
 */
export async function runCli(
  args: string[],
  options: { cwd?: string; stdin?: string | Uint8Array; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const relay = await relayCommand(args);
  const child = new Deno.Command(relay.command, {
    args: relay.args,
    cwd: options.cwd ?? new URL("..", import.meta.url).pathname,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** `hero-relay serve` in a subprocess, its JSON log lines collected as they arrive. */
export class ServeProcess {
  /** Every line written on standard output, in order. */
  stdout: string[] = [];
  /** Everything written on standard error. */
  stderr = "";
  #child: Deno.ChildProcess;
  #reading: Promise<void>;
  #changed = new Set<() => void>();

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const out = this.#lines(child.stdout, (line) => this.stdout.push(line));
    const err = this.#lines(child.stderr, (line) => this.stderr += line + "\n");
    this.#reading = Promise.all([out, err]).then(() => {});
  }

  /** Starts `serve --config path` and waits for "relay started" (or the process's end). */
  static async start(
    configPath: string,
    options: { env?: Record<string, string>; cwd?: string; wrapper?: string[] } = {},
  ): Promise<ServeProcess> {
    // A wrapper that execs its command (prlimit, for one) keeps the relay's process id.
    const relay = await relayCommand(["serve", "--config", configPath]);
    const [command, ...before] = [...(options.wrapper ?? []), relay.command];
    const child = new Deno.Command(command!, {
      args: [...before, ...relay.args],
      cwd: options.cwd ?? new URL("..", import.meta.url).pathname,
      env: { NO_COLOR: "1", ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const serve = new ServeProcess(child);
    const started = await Promise.race([
      serve.waitForLog((l) => l.msg === "relay started", 30_000).then(() => true),
      child.status.then(() => false),
    ]);
    if (!started) {
      await serve.#reading;
      throw new Error(`serve exited before starting:\n${serve.stderr}${serve.stdout.join("\n")}`);
    }
    return serve;
  }

  /** Parsed JSON log lines (any other output on standard output is skipped). */
  get logs(): Array<Record<string, unknown>> {
    return this.stdout.flatMap((line) => {
      try {
        const parsed = JSON.parse(line);
        return typeof parsed === "object" && parsed !== null ? [parsed] : [];
      } catch {
        return [];
      }
    });
  }

  /** Resolves with the first log line (from `from` on) matching `match`; rejects after a while. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 15_000,
    from = 0,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.logs.slice(from).find(match);
        if (found === undefined) return false;
        clearTimeout(timer);
        this.#changed.delete(look);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.#changed.delete(look);
        reject(new Error(`No such log line; got:\n${this.stdout.join("\n")}\n${this.stderr}`));
      }, timeoutMs);
      if (!look()) this.#changed.add(look);
    });
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves with the exit code once the process has ended and all output is read. */
  async exited(): Promise<number> {
    const { code } = await this.#child.status;
    await this.#reading;
    return code;
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Sends SIGTERM and resolves with the exit code once all output is read. */
  async stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const { code } = await this.#child.status;
    await this.#reading;
    return code;
  }

  async #lines(stream: ReadableStream<Uint8Array>, push: (line: string) => void): Promise<void> {
    let rest = "";
    for await (
      const chunk of stream.pipeThrough(
        // @types/node (which puppeteer-core brings) types the decoder's input as BufferSource.
        new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>,
      )
    ) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) push(part);
      for (const look of [...this.#changed]) look();
    }
    if (rest) push(rest);
  }
}

/**
 * Writes a config for `serve` (mode 600) in a new temp folder: a free port on 127.0.0.1, the test
 * secret, a SQLite file there, one console destination "log", and the given routes.
 */
export async function consoleConfig(
  routes: unknown[],
): Promise<{ dir: string; path: string; base: string }> {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: `${dir}/relay.db` },
      destinations: { log: { type: "console" } },
      routes,
    }),
  );
  await Deno.chmod(path, 0o600);
  return { dir, path, base: `http://127.0.0.1:${port}` };
}
