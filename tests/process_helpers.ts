// Running main.ts as the compiled binary would run: a subprocess with exactly the permission flags
// of `deno task compile`, for one-shot commands and for a long-running `serve` whose log lines are
// read as they come.

import { relayCommand, SECRET } from "./helpers.ts";

/** Runs one command of main.ts to its end. */
export async function runMain(
  args: string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const relay = await relayCommand(args);
  const child = new Deno.Command(relay.command, {
    args: relay.args,
    cwd: options.cwd ?? new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
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

/** A TCP port on 127.0.0.1 that was free a moment ago (serve needs a fixed port). */
export function unusedPort(): number {
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
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
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
  const port = unusedPort();
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
