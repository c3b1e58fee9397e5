// Outbound HTTP for destinations: one attempt with a connect and a total timeout, redirects never
// followed, the answer's body cut to a few KiB. Network failures come back as values, not throws.

import type { HttpAnswer } from "./retry.ts";

/** A request a destination wants sent. */
export interface OutgoingRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Timeouts of one attempt, in milliseconds. */
export interface Timeouts {
  connectMs: number;
  totalMs: number;
}

/** The answer, or why there was none. */
export type SendResult = { ok: true; answer: HttpAnswer } | { ok: false; error: string };

const MAX_ANSWER_BYTES = 16 * 1024;
const REACHABLE_FOR_MS = 30_000;

/** The User-Agent of every request the relay makes. */
export const USER_AGENT = "hero-relay (https://github.com/hero-relay/hero-relay)";

/**
 * Origins that answered in the last 30 s, whose next request skips the connect probe. Each relay
 * keeps its own (its dispatcher's), so nothing outlives the relay that learnt it.
 */
export class ReachableOrigins {
  #until = new Map<string, number>();

  /** Whether `origin` answered recently enough to skip the probe. */
  fresh(origin: string, now: number): boolean {
    return (this.#until.get(origin) ?? 0) >= now;
  }

  /** Records an answer from `origin`. */
  answered(origin: string, now: number): void {
    this.#until.set(origin, now + REACHABLE_FOR_MS);
  }

  /** Records a network failure: the next request probes again. */
  failed(origin: string): void {
    this.#until.delete(origin);
  }
}

/**
 * Sends one request. Before the first request to an origin (and after a network failure) the
 * TCP connection is opened alone under the connect timeout, so a black-holed host fails fast.
 * Without `origins`, every request probes first.
 */
export async function sendHttp(
  request: OutgoingRequest,
  timeouts: Timeouts,
  signal?: AbortSignal,
  origins?: ReachableOrigins,
): Promise<SendResult> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return { ok: false, error: "invalid URL" };
  }
  const origin = url.origin;
  const started = Date.now();
  if (origins === undefined || !origins.fresh(origin, started)) {
    const probe = await probeConnect(url, timeouts.connectMs);
    if (probe !== null) return { ok: false, error: probe };
  }
  // One controller and one timer, cleared as soon as the answer is read: AbortSignal.timeout()
  // would leave a timer behind for the whole total timeout after every request.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, Math.max(1, timeouts.totalMs - (Date.now() - started)));
  const stop = () => controller.abort();
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop);
  try {
    const response = await fetch(url, {
      method: request.method,
      headers: { "user-agent": USER_AGENT, ...request.headers },
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
    const body = redactUrl(await readCapped(response), url);
    origins?.answered(origin, Date.now());
    return { ok: true, answer: { status: response.status, headers: response.headers, body } };
  } catch (error) {
    origins?.failed(origin);
    if (timedOut) return { ok: false, error: `timed out after ${timeouts.totalMs} ms` };
    if (signal?.aborted) return { ok: false, error: "aborted: the relay is shutting down" };
    return { ok: false, error: networkError(error) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}

async function probeConnect(url: URL, connectMs: number): Promise<string | null> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), connectMs);
  });
  const connecting = Deno.connect({ hostname, port });
  try {
    const result = await Promise.race([connecting, timedOut]);
    if (result === "timeout") {
      connecting.then((conn) => conn.close(), () => {});
      return `connect timed out after ${connectMs} ms`;
    }
    result.close();
    return null;
  } catch (error) {
    return networkError(error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Removes the request's path and query from an answer before it is stored or logged: some
 * servers echo them ("Cannot POST /hooks/<token>"), and they may hold the destination's secret.
 */
function redactUrl(body: string, url: URL): string {
  let out = body;
  for (const part of [url.pathname + url.search, url.pathname, url.search]) {
    if (part.length > 1) out = out.split(part).join("/…");
  }
  return out;
}

async function readCapped(response: Response): Promise<string> {
  if (response.body === null) return "";
  // The usual small answer with a length is read whole, without a stream reader per chunk.
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (length <= MAX_ANSWER_BYTES) return await response.text();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ANSWER_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(size, MAX_ANSWER_BYTES));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, all.length - offset);
    all.set(part, offset);
    offset += part.length;
    if (offset >= all.length) break;
  }
  return new TextDecoder().decode(all);
}

/** A network error's kind, without the URL (which may hold a token). */
function networkError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.TimedOut) return "connection timed out";
  if (error instanceof Deno.errors.NotFound) return "host not found";
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  if (/dns|lookup|resolve/i.test(message)) return "host not found";
  if (/certificate|tls|ssl/i.test(message)) return "TLS error";
  if (/refused/i.test(message)) return "connection refused";
  if (/reset|closed|incomplete/i.test(message)) return "connection closed";
  return `network error (${name})`;
}

/**
 * What went wrong with a request that got no answer, in the network's own words: "tcp connect
 * error: Connection refused (os error 111)", "dns error: failed to lookup address information:
 * Name or service not known", "timed out after 15 s".
 */
export function networkErrorMessage(error: unknown, timeoutMs?: number): string {
  const { name, message, cause } = error as Error;
  if (name === "TimeoutError") {
    return timeoutMs === undefined ? "timed out" : `timed out after ${timeoutMs / 1000} s`;
  }
  const text = cause instanceof Error ? cause.message : message;
  return text
    .replace(/^error sending request for url \([^)]*\):\s*/, "")
    .replace(/^client error \([A-Za-z]+\):\s*/, "") || name;
}
