// The one logger: JSON lines with `ts`, `level`, `msg` and fields such as `event`, `delivery`,
// `destination`, `status`, `attempt`, `ms`. Callers never pass bodies, secrets, signatures or
// token-bearing URLs; fields are written as given, so that rule is kept at each call site.

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

/** A logger writing one JSON line per call with `write`, dropping lines below `level`. */
export function createLogger(write: (line: string) => void, level: Level = "info"): Logger {
  const min = RANK[level];
  const emit = (lvl: Level, msg: string, fields?: Fields) => {
    if (RANK[lvl] < min) return;
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level: lvl, msg };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) line[key] = value;
    }
    write(JSON.stringify(line) + "\n");
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
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
