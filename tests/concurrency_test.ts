// Adaptive concurrency: the limiter's rules exactly, then lanes finding a fast endpoint's speed,
// backing off from an overloaded one, and keeping a configured concurrency as it is.

import assert from "node:assert/strict";
import { ADAPTIVE_MAX, ADAPTIVE_START, AdaptiveLimit } from "../src/concurrency.ts";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

Deno.test("the limit doubles per round of fast successes, then grows by one per round", () => {
  const limit = new AdaptiveLimit();
  assert.equal(limit.value, ADAPTIVE_START);
  for (let i = 0; i < 4; i++) limit.success(10);
  assert.equal(limit.value, 8, "slow start: one more per success");
  limit.overload(1_000, 10);
  assert.equal(limit.value, 4, "halved");
  for (let i = 0; i < 4; i++) limit.success(10);
  assert.equal(limit.value, 4, "after an overload, +1/limit per success: just under 5 after 4");
  limit.success(10);
  assert.equal(limit.value, 5);
});

Deno.test("an overload halves the limit once per round trip, never below 1, and slow answers do not grow it", () => {
  const limit = new AdaptiveLimit(32);
  limit.overload(1_000, 200);
  limit.overload(1_100, 200); // the same round: 100 ms later, the attempt took 200 ms
  assert.equal(limit.value, 16);
  limit.overload(1_300, 200);
  assert.equal(limit.value, 8);
  for (let t = 2_000; t < 10_000; t += 1_000) limit.overload(t, 200);
  assert.equal(limit.value, 1);
  limit.success(10); // the fastest seen
  const before = limit.value;
  limit.success(500); // far slower than the fastest: requests queue at the endpoint
  assert.equal(limit.value, before);
});

Deno.test("the limit never passes its maximum", () => {
  const limit = new AdaptiveLimit();
  for (let i = 0; i < 1_000; i++) limit.success(5);
  assert.equal(limit.value, ADAPTIVE_MAX);
});

/**
 * A sink that holds each request `holdMs` (and every request until `gate` opens) and records the
 * most requests it had at once.
 */
function countingSink(
  answer: () => { status: number; body: string },
  holdMs = 25,
  gate: Promise<void> = Promise.resolve(),
) {
  let now = 0;
  const sink = new FakeServer(async () => {
    now++;
    sink.most = Math.max(sink.most, now);
    await gate;
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    now--;
    return answer();
  }) as FakeServer & { most: number };
  sink.most = 0;
  return sink;
}

async function limitOf(url: string, destination: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = new RegExp(
    `^hero_relay_destination_concurrency_limit\\{destination="${destination}"\\} (\\d+)$`,
    "m",
  ).exec(text);
  assert.ok(line, text);
  return Number(line[1]);
}

Deno.test("an HTTP destination without concurrency set finds a fast endpoint's speed, and one with it keeps it", async () => {
  const dir = await Deno.makeTempDir();
  // Every event is stored before the first answer, so there is a backlog however fast intake is.
  const posted = Promise.withResolvers<void>();
  const fast = countingSink(() => ({ status: 200, body: "ok" }), 25, posted.promise);
  const fixed = countingSink(() => ({ status: 200, body: "ok" }), 25, posted.promise);
  const { relay } = await testRelay(testConfig(dir, {
    destinations: {
      fast: { type: "http", url: fast.url, ordered: false },
      fixed: { type: "http", url: fixed.url, ordered: false, concurrency: 3 },
    },
    routes: [{ name: "all", events: "*", to: ["fast", "fixed"] }],
  }));
  try {
    assert.equal(await limitOf(relay.url, "fast"), ADAPTIVE_START);
    const events = 300;
    for (let n = 0; n < events; n++) {
      const answer = await post(
        relay.url,
        "/hooks/product_sent",
        freshSample("product_sent", { n }),
      );
      assert.equal(answer.status, 200);
    }
    posted.resolve();
    await eventually(
      async () =>
        (await relay.store.listDeliveries({ status: "delivered", limit: 1_000 })).length ===
          2 * events,
      60_000,
    );
    assert.ok(fast.most > ADAPTIVE_START, `at most ${fast.most} in flight: the limit never grew`);
    assert.ok(fast.most <= ADAPTIVE_MAX);
    assert.ok((await limitOf(relay.url, "fast")) > ADAPTIVE_START);
    assert.ok(fixed.most <= 3, `${fixed.most} in flight with concurrency 3`);
    assert.equal(await limitOf(relay.url, "fixed"), 3);
  } finally {
    posted.resolve();
    await relay.stop();
    await Promise.all([fast.close(), fixed.close()]);
  }
});

Deno.test("an endpoint answering 503 brings its destination's limit down to 1", async () => {
  const dir = await Deno.makeTempDir();
  const busy = countingSink(() => ({ status: 503, body: "overloaded" }), 5);
  const { relay } = await testRelay(testConfig(dir, {
    destinations: {
      busy: {
        type: "http",
        url: busy.url,
        ordered: false,
        retry: { schedule: ["0s", "0s", "0s", "0s", "0s", "0s", "0s", "0s"], jitter: 0 },
      },
    },
    routes: [{ name: "all", events: "*", to: ["busy"] }],
  }));
  try {
    for (let n = 0; n < 20; n++) {
      await post(relay.url, "/hooks/product_sent", freshSample("product_sent", { n }));
    }
    await eventually(async () => (await limitOf(relay.url, "busy")) === 1, 30_000);
  } finally {
    await relay.stop();
    await busy.close();
  }
});
