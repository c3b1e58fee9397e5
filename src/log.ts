// The one logger: JSON lines with `ts`, `level`, `msg` and fields such as `event`, `delivery`,
// `destination`, `status`, `attempt`, `ms`. Callers never pass bodies, secrets, signatures or
// token-bearing URLs; what slips through anyway (a destination's error answer repeating its
// token) is caught by the redactor every message and string field passes.

/** A log level. */
export type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields of a log line. */
export type Fields = Record<string, string | number | boolean | null | undefined>;

/** Writes structured log lines. */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

/**
 * A logger writing one JSON line per call with `write`, dropping lines below `level`. With a
 * {@linkcode BufferedWriter}, warnings and errors are flushed at once, so the lines that explain
 * a crash are on their way out before it.
 */
export function createLogger(
  write: ((line: string) => void) | BufferedWriter,
  level: Level = "info",
  options: { redact?: (text: string) => string } = {},
): Logger {
  const min = RANK[level];
  const redact = options.redact ?? ((text: string) => text);
  const buffered = write instanceof BufferedWriter ? write : null;
  const out = buffered ? buffered.write : write as (line: string) => void;
  const emit = (lvl: Level, msg: string, fields?: Fields) => {
    if (RANK[lvl] < min) return;
    const line: Record<string, unknown> = {
      ts: new Date().toISOString(),
      level: lvl,
      msg: redact(msg),
    };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined) line[key] = typeof value === "string" ? redact(value) : value;
      }
    }
    out(JSON.stringify(line) + "\n");
    if (buffered !== null && RANK[lvl] >= RANK.warn) buffered.flush();
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

/**
 * Text gathered and written in one system call per turn of the event loop, so a webhook's log
 * line does not cost a write of its own. `flush()` writes at once; call it before exiting. Lines
 * wait at most until the event loop is next idle, and never more than `maxBytes` gather. A
 * failing sink (a closed pipe, say) loses the lines, never the process: it is reported once with
 * `onError`.
 */
export class BufferedWriter {
  #sink: (text: string) => void;
  #onError: (error: unknown) => void;
  #maxBytes: number;
  #chunks: string[] = [];
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #failed = false;

  constructor(
    sink: (text: string) => void,
    options: { maxBytes?: number; onError?: (error: unknown) => void } = {},
  ) {
    this.#sink = sink;
    this.#maxBytes = options.maxBytes ?? 64 * 1024;
    this.#onError = options.onError ?? (() => {});
  }

  /** Adds text to the buffer; written by the next flush. */
  write = (text: string): void => {
    this.#chunks.push(text);
    this.#size += text.length;
    if (this.#size >= this.#maxBytes) {
      this.flush();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(this.flush, 0);
      // A pending flush never keeps the process alive; exits flush explicitly.
      this.#timer.unref?.();
    }
  };

  /**
   * Writes what is buffered, then `text`, at once; a failure to write `text` is thrown to the
   * caller (the console destination retries its message).
   */
  writeNow = (text: string): void => {
    this.flush();
    this.#sink(text);
  };

  /** Writes everything buffered so far. Never throws. */
  flush = (): void => {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#chunks.length === 0) return;
    const text = this.#chunks.length === 1 ? this.#chunks[0]! : this.#chunks.join("");
    this.#chunks = [];
    this.#size = 0;
    try {
      this.#sink(text);
    } catch (error) {
      if (this.#failed) return;
      this.#failed = true;
      try {
        this.#onError(error);
      } catch {
        // Nowhere left to report it.
      }
    }
  };
}

/** A logger that writes nothing. */
export const SILENT: Logger = createLogger(() => {}, "error");

/** Writes text to standard output, synchronously so lines never interleave. */
export function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Writes text to standard error. */
export function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}
