// Review: a destination removed by a reload and added back by the next one, while its lane still
// finishes an attempt, keeps being delivered to.

import assert from "node:assert/strict";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

Deno.test("a destination removed and re-added while an attempt is in flight gets a lane again", async () => {
  const dir = await Deno.makeTempDir();
  const held = Promise.withResolvers<void>();
  const sink = new FakeServer(async (_, i) => {
    if (i === 0) await held.promise;
    return { status: 200, body: "ok" };
  });
  const withSink = testConfig(dir, {
    destinations: { sink: { type: "http", url: sink.url } },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const without = testConfig(dir, { destinations: {}, routes: [] });
  const { relay } = await testRelay(withSink);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await eventually(() => sink.received.length === 1);
    // An operator removes the destination by mistake, then puts it back.
    await relay.reload(without);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await relay.reload(withSink);
    held.resolve();
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await sink.waitFor(2);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 2
    );
    assert.equal(sink.received.length, 2);
  } finally {
    held.resolve();
    await relay.stop();
    await sink.close();
  }
});
