// What happens after an attempt: the outcome of an answer, when to try again, and when to give up.
// Time and randomness are passed in, so schedules are tested exactly.

/** How an attempt ended, as a destination classifies its answer. */
export type Outcome =
  | { kind: "delivered"; httpStatus: number | null }
  /** Worth trying again later; `retryAfterMs` is the destination's own wish, if it said one. */
  | { kind: "retry"; httpStatus: number | null; error: string; retryAfterMs?: number }
  /** Will never succeed as it is: the delivery is dead at once. */
  | { kind: "failed"; httpStatus: number | null; error: string }
  /** The destination is gone (deleted hook, archived channel): disable it, keep the delivery. */
  | { kind: "gone"; httpStatus: number | null; error: string };

/** A retry policy with durations in milliseconds. */
export interface RetryPolicy {
  /** Delay before each attempt; entry 0 is the first attempt's (usually 0). */
  scheduleMs: number[];
  /** Random spread of each delay as a fraction: 0.2 spreads 10 s over 8–12 s. */
  jitter: number;
  /** Attempts after which a failing delivery is dead. */
  maxAttempts: number;
  /** Time since the retry cycle began after which a failing delivery is dead; null for none. */
  maxAgeMs: number | null;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Standard Webhooks / Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_SCHEDULE_MS: readonly number[] = [
  0,
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
];

/** The default policy: the schedule above, ±20% jitter, dead after its 8 attempts. */
export const DEFAULT_POLICY: RetryPolicy = {
  scheduleMs: [...DEFAULT_SCHEDULE_MS],
  jitter: 0.2,
  maxAttempts: DEFAULT_SCHEDULE_MS.length,
  maxAgeMs: null,
};

/** The longest wait a `Retry-After` may impose before it is capped. */
export const MAX_RETRY_AFTER_MS = 24 * HOUR;

/** The state of a delivery after an attempt. */
export interface Decision {
  status: "delivered" | "pending" | "failed" | "dead";
  attempts: number;
  nextAt: number;
  /** The label recorded in the delivery's history. */
  label: DeliveryOutcome;
}

/** Every label an attempt can end with; also the `outcome` label of the metric. */
export const DELIVERY_OUTCOMES = ["delivered", "retry", "failed", "dead", "disabled"] as const;

/** The label an attempt ends with. */
export type DeliveryOutcome = typeof DELIVERY_OUTCOMES[number];

/**
 * Decides what follows an attempt. `attempts` counts attempts made before this one; `cycleAt` is
 * when the delivery's retry cycle began; `random` returns a number in [0, 1).
 */
export function decide(
  outcome: Outcome,
  delivery: { attempts: number; cycleAt: number; status: string },
  options: { policy: RetryPolicy; now: number; random: () => number },
): Decision {
  const { policy, now } = options;
  const made = delivery.attempts + 1;
  switch (outcome.kind) {
    case "delivered":
      return { status: "delivered", attempts: made, nextAt: now, label: "delivered" };
    case "failed":
      return { status: "dead", attempts: made, nextAt: now, label: "failed" };
    case "gone":
      // The destination is disabled; the delivery waits for it without burning an attempt.
      return {
        status: delivery.status === "failed" ? "failed" : "pending",
        attempts: delivery.attempts,
        nextAt: now,
        label: "disabled",
      };
    case "retry": {
      const tooOld = policy.maxAgeMs !== null && now - delivery.cycleAt >= policy.maxAgeMs;
      if (made >= policy.maxAttempts || tooOld) {
        return { status: "dead", attempts: made, nextAt: now, label: "dead" };
      }
      let delay = retryDelay(policy, made, options.random);
      if (outcome.retryAfterMs !== undefined) {
        delay = Math.max(delay, Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS));
      }
      return { status: "failed", attempts: made, nextAt: now + delay, label: "retry" };
    }
  }
}

/** The delay before attempt `made + 1`, jitter included. */
export function retryDelay(policy: RetryPolicy, made: number, random: () => number): number {
  const schedule = policy.scheduleMs;
  const base = schedule[Math.min(made, schedule.length - 1)] ?? 0;
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

/** Parses a `Retry-After` header: seconds, or an HTTP date. Null when absent or unparsable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

/** An HTTP answer as destinations classify it; the body is cut to a few KiB. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * The common classification of an HTTP answer: 2xx delivered; 3xx a failure, never followed,
 * retried; 408, 425, 429 and 5xx retried, honouring Retry-After; 410 gone; other 4xx failed.
 */
export function classifyHttp(answer: HttpAnswer, now: number): Outcome {
  const { status } = answer;
  const error = describe(answer);
  if (status >= 200 && status < 300) return { kind: "delivered", httpStatus: status };
  if (status === 410) return { kind: "gone", httpStatus: status, error };
  if (status >= 300 && status < 400) {
    return { kind: "retry", httpStatus: status, error: `${error} (redirects are not followed)` };
  }
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfter = parseRetryAfter(answer.headers.get("retry-after"), now);
    return retryAfter === null
      ? { kind: "retry", httpStatus: status, error }
      : { kind: "retry", httpStatus: status, error, retryAfterMs: retryAfter };
  }
  return { kind: "failed", httpStatus: status, error };
}

/** "HTTP 400: invalid_payload", with the body shortened to one line. */
export function describe(answer: HttpAnswer): string {
  const body = answer.body.replace(/\s+/g, " ").trim().slice(0, 200);
  return body === "" ? `HTTP ${answer.status}` : `HTTP ${answer.status}: ${body}`;
}
