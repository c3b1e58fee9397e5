import assert from "node:assert/strict";
import { maskUrl } from "../src/destination.ts";
import { classifySlack } from "../src/destination_slack.ts";
import {
  classifyHttp,
  decide,
  DEFAULT_POLICY,
  type HttpAnswer,
  MAX_RETRY_AFTER_MS,
  type Outcome,
  parseRetryAfter,
  retryDelay,
  type RetryPolicy,
} from "../src/retry.ts";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

const NOW = 1_700_000_000_000;

function answer(status: number, body = "", headers: Record<string, string> = {}): HttpAnswer {
  return { status, body, headers: new Headers(headers) };
}

Deno.test("the default policy is the Standard Webhooks schedule with 8 attempts", () => {
  assert.deepEqual(DEFAULT_POLICY.scheduleMs, [
    0,
    5_000,
    300_000,
    1_800_000,
    7_200_000,
    18_000_000,
    36_000_000,
    36_000_000,
  ]);
  assert.equal(DEFAULT_POLICY.maxAttempts, 8);
});

Deno.test("retryDelay() spreads each delay within the jitter bounds, exactly at the edges", () => {
  const policy: RetryPolicy = {
    scheduleMs: [0, 10_000, 60_000],
    jitter: 0.2,
    maxAttempts: 5,
    maxAgeMs: null,
  };
  assert.equal(retryDelay(policy, 1, () => 0.5), 10_000);
  assert.equal(retryDelay(policy, 1, () => 0), 8_000);
  assert.equal(retryDelay(policy, 1, () => 0.999999), 12_000);
  assert.equal(retryDelay(policy, 2, () => 0), 48_000);
  // Past the end of the schedule the last delay repeats.
  assert.equal(retryDelay(policy, 4, () => 0.5), 60_000);
  for (let i = 0; i < 1000; i++) {
    const delay = retryDelay(policy, 2, Math.random);
    assert.ok(delay >= 48_000 && delay <= 72_000, String(delay));
  }
});

Deno.test("decide() follows the schedule and makes a delivery dead after max attempts", () => {
  const policy: RetryPolicy = {
    scheduleMs: [0, 5_000, 300_000],
    jitter: 0,
    maxAttempts: 3,
    maxAgeMs: null,
  };
  const retry: Outcome = { kind: "retry", httpStatus: 503, error: "HTTP 503" };
  const options = { policy, now: NOW, random: () => 0.5 };
  const first = decide(retry, { attempts: 0, cycleAt: NOW, status: "pending" }, options);
  assert.deepEqual(first, { status: "failed", attempts: 1, nextAt: NOW + 5_000, label: "retry" });
  const second = decide(retry, { attempts: 1, cycleAt: NOW, status: "failed" }, options);
  assert.deepEqual(second, {
    status: "failed",
    attempts: 2,
    nextAt: NOW + 300_000,
    label: "retry",
  });
  const third = decide(retry, { attempts: 2, cycleAt: NOW, status: "failed" }, options);
  assert.deepEqual(third, { status: "dead", attempts: 3, nextAt: NOW, label: "dead" });
});

Deno.test("decide() makes a delivery dead once its retry cycle is older than max_age", () => {
  const policy: RetryPolicy = {
    scheduleMs: [0, 1_000],
    jitter: 0,
    maxAttempts: 100,
    maxAgeMs: 60_000,
  };
  const retry: Outcome = { kind: "retry", httpStatus: null, error: "connection refused" };
  const young = decide(retry, { attempts: 5, cycleAt: NOW - 59_999, status: "failed" }, {
    policy,
    now: NOW,
    random: () => 0.5,
  });
  assert.equal(young.status, "failed");
  const old = decide(retry, { attempts: 5, cycleAt: NOW - 60_000, status: "failed" }, {
    policy,
    now: NOW,
    random: () => 0.5,
  });
  assert.equal(old.status, "dead");
});

Deno.test("decide() lets Retry-After push the next attempt out, capped at a day", () => {
  const options = { policy: DEFAULT_POLICY, now: NOW, random: () => 0.5 };
  const later = decide(
    { kind: "retry", httpStatus: 429, error: "HTTP 429", retryAfterMs: 120_000 },
    { attempts: 0, cycleAt: NOW, status: "pending" },
    options,
  );
  assert.equal(later.nextAt, NOW + 120_000);
  const shorter = decide(
    { kind: "retry", httpStatus: 429, error: "HTTP 429", retryAfterMs: 1_000 },
    { attempts: 0, cycleAt: NOW, status: "pending" },
    options,
  );
  assert.equal(shorter.nextAt, NOW + 5_000, "never sooner than the schedule");
  const absurd = decide(
    { kind: "retry", httpStatus: 503, error: "HTTP 503", retryAfterMs: 10 * MAX_RETRY_AFTER_MS },
    { attempts: 0, cycleAt: NOW, status: "pending" },
    options,
  );
  assert.equal(absurd.nextAt, NOW + MAX_RETRY_AFTER_MS);
});

Deno.test("decide() parks a delivery to a gone destination without using an attempt", () => {
  const gone = decide(
    { kind: "gone", httpStatus: 410, error: "HTTP 410" },
    { attempts: 2, cycleAt: NOW, status: "failed" },
    { policy: DEFAULT_POLICY, now: NOW, random: () => 0.5 },
  );
  assert.deepEqual(gone, { status: "failed", attempts: 2, nextAt: NOW, label: "disabled" });
  const failed = decide(
    { kind: "failed", httpStatus: 400, error: "HTTP 400" },
    { attempts: 0, cycleAt: NOW, status: "pending" },
    { policy: DEFAULT_POLICY, now: NOW, random: () => 0.5 },
  );
  assert.equal(failed.status, "dead");
  assert.equal(failed.attempts, 1);
});

Deno.test("parseRetryAfter() reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("30", NOW), 30_000);
  assert.equal(parseRetryAfter("1.5", NOW), 1_500);
  assert.equal(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW), 90_000);
  assert.equal(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW), 0);
  assert.equal(parseRetryAfter("soon", NOW), null);
  assert.equal(parseRetryAfter(null, NOW), null);
});

Deno.test("classifyHttp() sorts answers: 2xx delivered, 3xx/408/425/429/5xx retried, 410 gone, 4xx failed", () => {
  const kinds = (status: number) => classifyHttp(answer(status), NOW).kind;
  assert.equal(kinds(200), "delivered");
  assert.equal(kinds(204), "delivered");
  for (const status of [301, 302, 307, 408, 425, 429, 500, 502, 503, 504]) {
    assert.equal(kinds(status), "retry", String(status));
  }
  assert.equal(kinds(410), "gone");
  for (const status of [400, 401, 403, 404, 405, 413, 422]) {
    assert.equal(kinds(status), "failed", String(status));
  }
  const throttled = classifyHttp(answer(503, "busy", { "retry-after": "7" }), NOW);
  assert.deepEqual(throttled, {
    kind: "retry",
    httpStatus: 503,
    error: "HTTP 503: busy",
    retryAfterMs: 7_000,
  });
});

Deno.test("classifySlack() reads Slack's own answers", () => {
  assert.equal(classifySlack(answer(200, "ok"), NOW).kind, "delivered");
  assert.equal(classifySlack(answer(200, "something else"), NOW).kind, "retry");
  assert.equal(classifySlack(answer(400, "invalid_payload"), NOW).kind, "failed");
  assert.equal(classifySlack(answer(400, "no_text"), NOW).kind, "failed");
  for (
    const [status, code] of [
      [404, "no_service"],
      [404, "channel_not_found"],
      [410, "channel_is_archived"],
      [403, "invalid_token"],
      [403, "action_prohibited"],
      [404, "no_service_id"],
    ] as const
  ) {
    assert.equal(classifySlack(answer(status, code), NOW).kind, "gone", code);
  }
  assert.deepEqual(
    classifySlack(answer(429, '{"error":"rate_limited"}', { "retry-after": "3" }), NOW),
    {
      kind: "retry",
      httpStatus: 429,
      error: 'HTTP 429: {"error":"rate_limited"}',
      retryAfterMs: 3_000,
    },
  );
  assert.equal(classifySlack(answer(500, "rollup_error"), NOW).kind, "retry");
});

Deno.test("maskUrl() hides paths, queries and token-like host names", () => {
  assert.equal(
    maskUrl("https://hooks.slack.com/services/T0/B0/secret"),
    "https://hooks.slack.com/…",
  );
  assert.equal(
    maskUrl("https://eo1a2b3c4d5e6f7g8.m.pipedream.net"),
    "https://***.m.pipedream.net/",
  );
  assert.equal(maskUrl("https://example.com/"), "https://example.com/");
  assert.equal(maskUrl("not a url"), "(invalid URL)");
});

// a destination's Retry-After pauses its lane no longer than the capped wait that the
// delivery itself is scheduled for, so an absurd header cannot park a destination forever.
Deno.test("an absurd Retry-After pauses the destination only until the capped next attempt", async () => {
  const dir = await Deno.makeTempDir();
  // Ten years: the delivery is rescheduled 24 h out (the cap); the lane must wake then too.
  const sink = new FakeServer((_, i) =>
    i === 0
      ? { status: 429, body: "slow down", headers: { "retry-after": String(10 * 365 * 86_400) } }
      : { status: 200, body: "ok" }
  );
  let t = Date.now();
  const config = testConfig(dir, {
    destinations: {
      sink: { type: "http", url: sink.url, retry: { schedule: ["0s", "1s"], jitter: 0 } },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay } = await testRelay(config, { now: () => t });
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await sink.waitFor(1);
    await eventually(async () => (await relay.store.listDeliveries({}))[0]?.attempts === 1);
    const delivery = (await relay.store.listDeliveries({}))[0]!;
    assert.equal(delivery.status, "failed");
    assert.equal(delivery.nextAt - t, MAX_RETRY_AFTER_MS);
    t = delivery.nextAt + 1;
    await sink.waitFor(2);
    await eventually(async () => (await relay.store.listDeliveries({}))[0]?.status === "delivered");
  } finally {
    await relay.stop();
    await sink.close();
  }
});
