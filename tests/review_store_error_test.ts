// Review: a store error in the middle of an attempt (here: disabling a destination that answered
// 410 while another process holds SQLite's write lock) is logged and retried, never an unhandled
// rejection that ends the relay.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

Deno.test("a store error while disabling a gone destination does not end the relay", async () => {
  const dir = await Deno.makeTempDir();
  const other = new DatabaseSync(`${dir}/relay.db`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sink = new FakeServer((_, i) => {
    if (i === 0) {
      // Another process (say, the CLI) takes the write lock for longer than busy_timeout.
      other.exec("BEGIN IMMEDIATE");
      timer = setTimeout(() => other.exec("COMMIT"), 1_000);
    }
    return { status: 410, body: "gone" };
  });
  const config = testConfig(dir, {
    destinations: { sink: { type: "http", url: sink.url } },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await sink.waitFor(1);
    // Once the lock is gone, the next 410 disables the destination; nothing was lost.
    await eventually(async () => (await relay.store.disabledDestinations()).length === 1, 20_000);
    const [delivery] = await relay.store.listDeliveries({});
    assert.notEqual(delivery!.status, "dead");
    assert.equal(delivery!.attempts, 0);
    assert.ok(logs.lines.some((line) => line.includes("database is locked")));
  } finally {
    clearTimeout(timer);
    await relay.stop();
    await sink.close();
    other.close();
  }
});
