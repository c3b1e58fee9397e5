// Delivery guarantees through a real relay and real SQLite, against fake destinations on
// 127.0.0.1: retry schedules under an injected clock, Retry-After, disabling, dead letters,
// timeouts, isolation, ordering, replay, shutdown and retention.

import assert from "node:assert/strict";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";
import type { Relay } from "../src/relay.ts";
import type { Delivery } from "../src/store.ts";
import { DatabaseSync } from "node:sqlite";

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; set: (t: number) => void } {
  let t = Date.now();
  return { now: () => t, set: (value) => t = value };
}

async function onlyDelivery(relay: Relay): Promise<Delivery> {
  const all = await relay.store.listDeliveries({});
  assert.equal(all.length, 1);
  return all[0]!;
}

/** A TCP server that accepts connections and never answers: a black hole that still connects. */
function blackHole(): { url: string; connections: () => number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // closed
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connections: () => conns.length,
    close: () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    },
  };
}

Deno.test("the retry schedule under an injected clock matches the configuration exactly", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer(() => ({ status: 503, body: "unavailable" }));
  const clock = manualClock();
  const schedule = [0, 5_000, 300_000, 1_800_000];
  const config = testConfig(dir, {
    destinations: {
      sink: {
        type: "http",
        url: sink.url,
        retry: { schedule: ["0s", "5s", "5m", "30m"], jitter: 0 },
      },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay } = await testRelay(config, { now: clock.now });
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    for (let attempt = 1; attempt <= 4; attempt++) {
      await sink.waitFor(attempt);
      await eventually(async () => (await onlyDelivery(relay)).attempts === attempt);
      const delivery = await onlyDelivery(relay);
      if (attempt < 4) {
        assert.equal(delivery.status, "failed");
        assert.equal(
          delivery.nextAt - clock.now(),
          schedule[attempt],
          `delay after attempt ${attempt}`,
        );
        // One millisecond early, nothing happens.
        clock.set(delivery.nextAt - 1);
        await new Promise((resolve) => setTimeout(resolve, 150));
        assert.equal(sink.received.length, attempt);
        clock.set(delivery.nextAt);
      } else {
        assert.equal(delivery.status, "dead");
      }
    }
    const { attempts } = (await relay.store.getDelivery((await onlyDelivery(relay)).id))!;
    assert.deepEqual(attempts.map((a) => a.outcome), ["retry", "retry", "retry", "dead"]);
    assert.deepEqual(attempts.map((a) => a.httpStatus), [503, 503, 503, 503]);
    assert.equal(attempts[0]!.error, "HTTP 503: unavailable");
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("Retry-After pushes the next attempt out and pauses the destination", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer((_, i) =>
    i === 0
      ? { status: 429, body: '{"error":"rate_limited"}', headers: { "retry-after": "120" } }
      : { status: 200, body: "ok" }
  );
  const clock = manualClock();
  const config = testConfig(dir, {
    destinations: {
      slack: {
        type: "slack",
        url: `${sink.url}/services/T/B/X`,
        retry: { schedule: ["0s", "1s"], jitter: 0 },
      },
    },
    routes: [{ name: "all", events: "*", to: ["slack"] }],
  });
  const { relay } = await testRelay(config, { now: clock.now });
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await sink.waitFor(1);
    await eventually(async () => (await onlyDelivery(relay)).attempts === 1);
    const delivery = await onlyDelivery(relay);
    assert.equal(delivery.nextAt - clock.now(), 120_000);
    clock.set(clock.now() + 60_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(sink.received.length, 1, "nothing is sent before Retry-After has passed");
    clock.set(delivery.nextAt);
    await sink.waitFor(2);
    await eventually(async () => (await onlyDelivery(relay)).status === "delivered");
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("410 disables the destination and parks its deliveries until it is enabled", async () => {
  const dir = await Deno.makeTempDir();
  let gone = true;
  const sink = new FakeServer(() =>
    gone ? { status: 410, body: "gone" } : { status: 200, body: "" }
  );
  const other = new FakeServer(() => ({ status: 200 }));
  const config = testConfig(dir, {
    destinations: {
      sink: { type: "http", url: sink.url },
      other: { type: "http", url: other.url },
    },
    routes: [{ name: "all", events: "*", to: ["sink", "other"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await sink.waitFor(1);
    await eventually(async () => (await relay.store.disabledDestinations()).length === 1);
    assert.equal((await relay.store.disabledDestinations())[0]!.name, "sink");
    assert.equal(logs.find("destination disabled: its endpoint says it is gone").length, 1);
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await other.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.received.length, 1, "a disabled destination gets nothing");
    const parked = await relay.store.listDeliveries({ destination: "sink" });
    assert.equal(parked.length, 2);
    for (const d of parked) {
      assert.notEqual(d.status, "dead");
      assert.equal(d.attempts, 0, "parking uses no attempt");
    }
    gone = false;
    await relay.store.setDisabled("sink", null, Date.now());
    await sink.waitFor(3);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "sink", status: "delivered" })).length === 2
    );
  } finally {
    await relay.stop();
    await sink.close();
    await other.close();
  }
});

Deno.test("Slack's no_service disables, and invalid_payload makes the delivery dead at once", async () => {
  const dir = await Deno.makeTempDir();
  const slack = new FakeServer((request) =>
    request.path.startsWith("/services/GONE")
      ? { status: 404, body: "no_service" }
      : { status: 400, body: "invalid_payload" }
  );
  const config = testConfig(dir, {
    destinations: {
      gone: { type: "slack", url: `${slack.url}/services/GONE/B/X` },
      bad: { type: "slack", url: `${slack.url}/services/T/B/X` },
    },
    routes: [{ name: "all", events: "*", to: ["gone", "bad"] }],
  });
  const { relay } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await slack.waitFor(2);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "bad", status: "dead" })).length === 1
    );
    const dead = (await relay.store.listDeliveries({ destination: "bad" }))[0]!;
    assert.equal(dead.attempts, 1);
    assert.equal(dead.lastError, "HTTP 400: invalid_payload");
    await eventually(async () => (await relay.store.disabledDestinations()).length === 1);
    const parked = (await relay.store.listDeliveries({ destination: "gone" }))[0]!;
    assert.equal(parked.status, "pending");
    assert.equal(parked.attempts, 0);
  } finally {
    await relay.stop();
    await slack.close();
  }
});

Deno.test("a destination that fails 3 times then succeeds receives the event once successfully", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer((_, i) =>
    i < 3 ? { status: 500, body: "oops" } : { status: 200, body: "ok" }
  );
  const config = testConfig(dir, {
    destinations: {
      sink: { type: "http", url: sink.url, retry: { schedule: ["0s", "10ms"], max_attempts: 10 } },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/new_payout_request", freshSample("new_payout_request"));
    await eventually(async () => (await onlyDelivery(relay)).status === "delivered");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sink.received.length, 4);
    const ids = new Set(sink.received.map((r) => r.headers.get("webhook-id")));
    assert.equal(ids.size, 1, "every attempt carries the same delivery id");
    assert.equal((await onlyDelivery(relay)).attempts, 4);
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("a destination that hangs costs one timeout per attempt", async () => {
  const dir = await Deno.makeTempDir();
  const hole = blackHole();
  const config = testConfig(dir, {
    destinations: {
      hole: {
        type: "http",
        url: hole.url,
        timeout: { total: "300ms" },
        retry: { schedule: ["0s", "10ms"], max_attempts: 2 },
      },
    },
    routes: [{ name: "all", events: "*", to: ["hole"] }],
  });
  const { relay } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    await eventually(async () => (await onlyDelivery(relay)).status === "dead");
    const { attempts } = (await relay.store.getDelivery((await onlyDelivery(relay)).id))!;
    assert.equal(attempts.length, 2);
    for (const a of attempts) assert.equal(a.error, "timed out after 300 ms");
  } finally {
    await relay.stop();
    hole.close();
  }
});

Deno.test("a black-holed destination never delays a healthy one", async () => {
  const dir = await Deno.makeTempDir();
  const hole = blackHole();
  const healthy = new FakeServer(() => ({ status: 200 }));
  const config = testConfig(dir, {
    destinations: {
      hole: { type: "http", url: hole.url, timeout: { total: "20s" }, concurrency: 2 },
      healthy: { type: "http", url: healthy.url },
    },
    delivery: { lease: "60s" },
    routes: [{ name: "all", events: "*", to: ["hole", "healthy"] }],
  });
  const { relay } = await testRelay(config);
  try {
    for (let i = 0; i < 40; i++) {
      const answer = await post(
        relay.url,
        "/hooks/new_influencer_order",
        freshSample("new_influencer_order", { n: i }),
      );
      assert.equal(answer.status, 200);
    }
    await healthy.waitFor(40);
    // Every healthy delivery landed while the black hole's first attempts are still hanging.
    const holeDeliveries = await relay.store.listDeliveries({ destination: "hole" });
    assert.equal(holeDeliveries.filter((d) => d.attempts > 0).length, 0);
    assert.ok(hole.connections() <= 2, `at most the concurrency in flight (${hole.connections()})`);
  } finally {
    await relay.stop(100);
    await healthy.close();
    hole.close();
  }
});

Deno.test("one collaboration's events are delivered in the order received", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer((_, i) => i === 0 ? { status: 503 } : { status: 200 });
  const config = testConfig(dir, {
    destinations: {
      sink: { type: "http", url: sink.url, retry: { schedule: ["0s", "200ms"], jitter: 0 } },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay } = await testRelay(config);
  try {
    const first = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
    );
    const second = await post(
      relay.url,
      "/hooks/update_discount_code",
      freshSample("update_discount_code", { collab_id: "collab987" }),
    );
    await sink.waitFor(3);
    const order = sink.received.map((r) => JSON.parse(r.body).id);
    assert.deepEqual(order, [first.json["id"], first.json["id"], second.json["id"]]);
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("graceful stop finishes in-flight attempts, or releases them untouched past the deadline", async () => {
  const dir = await Deno.makeTempDir();
  const slow = new FakeServer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { status: 200 };
  });
  const config = testConfig(dir, {
    destinations: { slow: { type: "http", url: slow.url } },
    routes: [{ name: "all", events: "*", to: ["slow"] }],
  });
  const { relay } = await testRelay(config);
  await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
  await slow.waitFor(1);
  await relay.stop(5_000);
  await slow.close();
  const reopened = await testRelay(testConfig(dir, {
    destinations: { slow: { type: "http", url: "http://127.0.0.1:9/" } },
    routes: [],
  }));
  try {
    assert.equal((await onlyDelivery(reopened.relay)).status, "delivered");
  } finally {
    await reopened.relay.stop();
  }

  const dir2 = await Deno.makeTempDir();
  const hole = blackHole();
  const second = await testRelay(testConfig(dir2, {
    destinations: { hole: { type: "http", url: hole.url, timeout: { total: "30s" } } },
    delivery: { lease: "60s" },
    routes: [{ name: "all", events: "*", to: ["hole"] }],
  }));
  await post(second.relay.url, "/hooks/product_sent", freshSample("product_sent"));
  // The connect probe and the request itself both connect; once either has, the attempt is
  // under way and hangs.
  await eventually(() => hole.connections() >= 1);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await second.relay.stop(100);
  hole.close();
  const again = await testRelay(testConfig(dir2, { destinations: {}, routes: [] }));
  try {
    const delivery = await onlyDelivery(again.relay);
    assert.equal(delivery.status, "pending");
    assert.equal(delivery.attempts, 0, "an attempt cut short by shutdown is not counted");
  } finally {
    await again.relay.stop();
  }
});

Deno.test("retention prunes delivered deliveries and their events, keeping fingerprints 7 days", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["out"] }],
    retention: { delivered: "1d", dead: "30d" },
  });
  const { relay } = await testRelay(config);
  try {
    const payload = freshSample("new_max_bid");
    await post(relay.url, "/hooks/new_max_bid", payload);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    const day = 86_400_000;
    assert.deepEqual(await relay.dispatcher.prune(Date.now() + 2 * day), {
      deliveries: 1,
      events: 0,
    });
    const again = await post(relay.url, "/hooks/new_max_bid", payload);
    assert.equal(again.json["duplicate"], true, "the fingerprint outlives the delivered record");
    assert.deepEqual(await relay.dispatcher.prune(Date.now() + 8 * day), {
      deliveries: 0,
      events: 1,
    });
  } finally {
    await relay.stop();
  }
});

Deno.test("an answer that echoes the destination's secret path is stored without it", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer((request) => ({ status: 404, body: `Cannot POST ${request.path}` }));
  const config = testConfig(dir, {
    destinations: { crm: { type: "http", url: `${sink.url}/hooks/tok_9f8e7d6c5b4a?key=s3cr3t` } },
    routes: [{ name: "all", events: "*", to: ["crm"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    await eventually(async () => (await onlyDelivery(relay)).status === "dead");
    const delivery = await onlyDelivery(relay);
    assert.equal(delivery.lastError, "HTTP 404: Cannot POST /…");
    assert.doesNotMatch(logs.lines.join("\n"), /tok_9f8e7d6c5b4a|s3cr3t/);
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("a sequence of one deal's events goes out one after another without waiting for a poll", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer();
  const config = testConfig(dir, {
    destinations: { crm: { type: "http", url: `${sink.url}/hook` } },
    routes: [{ name: "all", events: "*", to: ["crm"] }],
  });
  // Polls every 10 s: only the lane's own wake-ups can deliver five in a row within seconds.
  const { relay } = await testRelay(config, { pollMs: 10_000 });
  try {
    const sent: number[] = [];
    for (let n = 1; n <= 5; n++) {
      const { status } = await post(
        relay.url,
        "/hooks/update_commission",
        freshSample("update_commission", { deal_id: "deal-7", collab_id: "collab-7", n }),
      );
      assert.equal(status, 200);
      sent.push(n);
    }
    const started = performance.now();
    await sink.waitFor(5);
    assert.ok(performance.now() - started < 5_000, "delivered without waiting for polls");
    assert.deepEqual(sink.received.map((r) => JSON.parse(r.body).payload.n), sent, "in order");
  } finally {
    await relay.stop();
    await sink.close();
  }
});

// a store error in the middle of an attempt (here: disabling a destination that answered
// 410 while another process holds SQLite's write lock) is logged and retried, never an unhandled
// rejection that ends the relay.
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

Deno.test("a destination paused by hand gets nothing until resumed, then everything, across a restart; another is unaffected", async () => {
  const dir = await Deno.makeTempDir();
  const paused = new FakeServer(() => ({ status: 200 }));
  const other = new FakeServer(() => ({ status: 200 }));
  const config = testConfig(dir, {
    destinations: {
      paused: { type: "http", url: paused.url },
      other: { type: "http", url: other.url },
    },
    routes: [{ name: "all", events: "*", to: ["paused", "other"] }],
  });
  let { relay } = await testRelay(config);
  try {
    assert.equal(await relay.store.setPaused("paused", true, Date.now()), true);
    await relay.dispatcher.refreshPaused();
    assert.equal(relay.dispatcher.destinationStates().get("paused")?.state, "paused");
    for (const n of [1, 2]) {
      await post(relay.url, "/hooks/product_sent", freshSample("product_sent", { test_nonce: n }));
    }
    // Both lanes were woken by the same events; the other one's deliveries are done.
    await other.waitFor(2);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "other", status: "delivered" })).length ===
        2
    );
    assert.equal(paused.received.length, 0, "a paused destination gets nothing");
    const waiting = async () =>
      (await relay.store.listDeliveries({ destination: "paused" })).map((d) => [
        d.status,
        d.attempts,
      ]);
    assert.deepEqual(await waiting(), [["pending", 0], ["pending", 0]], "they wait, unspent");

    // The pause is the store's: a restarted relay keeps it.
    await relay.stop();
    ({ relay } = await testRelay(config));
    assert.equal(relay.dispatcher.destinationStates().get("paused")?.state, "paused");
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent", { test_nonce: 3 }));
    await other.waitFor(3);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "other", status: "delivered" })).length ===
        3
    );
    assert.equal(paused.received.length, 0, "still nothing after the restart");
    assert.deepEqual(await waiting(), [["pending", 0], ["pending", 0], ["pending", 0]]);

    assert.equal(await relay.store.setPaused("paused", false, Date.now()), true);
    await relay.dispatcher.refreshPaused();
    await paused.waitFor(3);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "paused", status: "delivered" }))
        .length === 3
    );
    assert.deepEqual(
      paused.received.map((r) => JSON.parse(r.body).payload.test_nonce).sort(),
      [1, 2, 3],
      "every waiting delivery, once",
    );
    assert.equal(other.received.length, 3, "the other destination got each event once");
  } finally {
    await relay.stop();
    await paused.close();
    await other.close();
  }
});

Deno.test("destinationStates() tells off, disabled, paused, waiting, retrying and idle apart", async () => {
  const dir = await Deno.makeTempDir();
  const busy = new FakeServer(() => ({
    status: 429,
    body: "slow down",
    headers: { "retry-after": "120" },
  }));
  const failing = new FakeServer(() => ({ status: 503, body: "unavailable" }));
  const gone = new FakeServer(() => ({ status: 410, body: "gone" }));
  const fine = new FakeServer(() => ({ status: 200 }));
  const retry = { schedule: ["0s", "1h"], jitter: 0 };
  const config = testConfig(dir, {
    destinations: {
      busy: { type: "http", url: busy.url, retry },
      failing: { type: "http", url: failing.url, retry },
      gone: { type: "http", url: gone.url },
      fine: { type: "http", url: fine.url },
      held: { type: "http", url: fine.url },
      off: { type: "http", url: fine.url, enabled: false },
    },
    routes: [{ name: "all", events: "*", to: ["busy", "failing", "gone", "fine"] }],
  });
  const { relay } = await testRelay(config);
  try {
    await relay.store.setPaused("held", true, Date.now());
    await relay.dispatcher.refreshPaused();
    const before = Date.now();
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    const states = () => Object.fromEntries(relay.dispatcher.destinationStates());
    await eventually(
      () => {
        const now = states();
        return now["busy"]?.state === "waiting" && now["failing"]?.state === "retrying" &&
          now["gone"]?.state === "disabled" && fine.received.length === 1 &&
          now["fine"]?.state === "idle";
      },
      10_000,
      "every lane's first attempt",
    );
    const now = states();
    assert.ok(now["busy"]!.until! >= before + 120_000, JSON.stringify(now["busy"]));
    assert.deepEqual({ ...now, busy: { ...now["busy"], until: 0 } }, {
      busy: { state: "waiting", until: 0, inFlight: 0 },
      failing: { state: "retrying", until: null, inFlight: 0 },
      gone: { state: "disabled", until: null, inFlight: 0 },
      fine: { state: "idle", until: null, inFlight: 0 },
      held: { state: "paused", until: null, inFlight: 0 },
      off: { state: "off", until: null, inFlight: 0 },
    });
    assert.equal(
      (await relay.store.listDeliveries({ destination: "fine" }))[0]?.status,
      "delivered",
      "fine delivered and is idle again",
    );
  } finally {
    await relay.stop();
    for (const server of [busy, failing, gone, fine]) await server.close();
  }
});

Deno.test("omit takes fields out of what one destination is sent, its message and its templates; the others get them", async () => {
  const crm = new FakeServer(() => ({ status: 200, body: "{}" }));
  const full = new FakeServer(() => ({ status: 200, body: "{}" }));
  const slack = new FakeServer(() => ({ status: 200, body: "ok" }));
  const dir = await Deno.makeTempDir();
  const omit = ["send_product_info.shipping_address", "send_product_info.phone"];
  const { relay } = await testRelay(testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/crm`, omit },
      full: { type: "http", url: `${full.url}/full` },
      slack: {
        type: "slack",
        url: `${slack.url}/services/T/B/x`,
        omit,
        body: '{"text": "phone [{{ send_product_info.phone }}] {{ message.title }}"}',
      },
    },
    routes: [{ name: "all", events: "*", to: ["crm", "full", "slack"] }],
  }));
  try {
    assert.equal((await post(relay.url, "/hooks", freshSample("product_sent"))).status, 200);
    await Promise.all([crm.waitFor(1), full.waitFor(1), slack.waitFor(1)]);
    const sent = JSON.parse(crm.received[0]!.body).payload.send_product_info;
    assert.equal(sent.shipping_address, undefined);
    assert.equal(sent.phone, undefined);
    assert.ok(Array.isArray(sent.line_items) && sent.customer.first_name === "Dwayne");
    const whole = JSON.parse(full.received[0]!.body).payload.send_product_info;
    assert.equal(whole.phone, "555-555-5555");
    assert.equal(whole.shipping_address.city, "Miami");
    const text = JSON.parse(slack.received[0]!.body).text;
    assert.match(text, /^phone \[\] Product sent to /);
    for (const server of [crm, slack]) {
      assert.doesNotMatch(server.received[0]!.body, /555-555-5555|1 Example Street|Miami/);
    }
    // The stored event keeps every field: omit is per destination, not a change to the event.
    const stored = await relay.store.listEvents({ limit: 1 });
    const event = await relay.store.getEvent(stored[0]!.id);
    assert.match(event!.body, /555-555-5555/);
  } finally {
    await relay.stop();
    for (const server of [crm, full, slack]) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
