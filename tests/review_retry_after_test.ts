// Review: a destination's Retry-After pauses its lane no longer than the capped wait that the
// delivery itself is scheduled for, so an absurd header cannot park a destination forever.

import assert from "node:assert/strict";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";
import { MAX_RETRY_AFTER_MS } from "../src/retry.ts";

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
