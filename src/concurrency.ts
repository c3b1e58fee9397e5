// Adaptive concurrency for destinations without a documented rate limit (HTTP endpoints, no-code
// tools, Mattermost): how many attempts a lane keeps in flight, found by asking the endpoint.
// Additive increase, multiplicative decrease, as TCP finds a link's speed: it starts at 4, doubles
// while every answer is a fast success (slow start), then grows by one per round of successes;
// a 429, a 5xx, a timeout or a refused connection halves it, once per round trip, down to 1.

/** Where the limit starts, and the most it reaches when the config sets no `concurrency`. */
export const ADAPTIVE_START = 4;
export const ADAPTIVE_MAX = 64;

export class AdaptiveLimit {
  #limit: number;
  #max: number;
  #slowStart = true;
  #lastDecrease = -Infinity;
  #fastest = Infinity;

  constructor(start = ADAPTIVE_START, max = ADAPTIVE_MAX) {
    this.#limit = Math.min(start, max);
    this.#max = max;
  }

  /** Attempts allowed in flight now. */
  get value(): number {
    return Math.max(1, Math.floor(this.#limit));
  }

  /**
   * A delivered attempt that took `ms`. The limit grows unless the answer was slow: more than
   * four times the fastest seen says requests already queue at the endpoint.
   */
  success(ms: number): void {
    this.#fastest = Math.min(this.#fastest, Math.max(ms, 1));
    if (ms > 4 * this.#fastest + 50) return;
    this.#limit = Math.min(
      this.#max,
      this.#slowStart ? this.#limit + 1 : this.#limit + 1 / this.#limit,
    );
  }

  /**
   * The endpoint pushed back (429, 5xx, a timeout, a refused or reset connection) at `at` for an
   * attempt that took `ms`: the limit halves, at most once per round trip, since the attempts of
   * one round all met the same overload.
   */
  overload(at: number, ms: number): void {
    this.#slowStart = false;
    if (at - this.#lastDecrease < Math.max(ms, 100)) return;
    this.#lastDecrease = at;
    this.#limit = Math.max(1, this.#limit / 2);
  }
}
