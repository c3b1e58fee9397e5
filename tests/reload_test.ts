// Hot reload: a new config takes effect without a restart, a bad one is refused and logged while
// the old one keeps working, attempts in flight finish, and deliveries to a destination removed
// from the config are parked — kept as they are — until it comes back.

import assert from "node:assert/strict";
import type { Delivery } from "../src/store.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  SECRET,
  ServeProcess,
  testConfig,
  testRelay,
} from "./helpers.ts";

Deno.test("an attempt in flight when its destination is removed finishes and is recorded", async () => {
  const dir = await Deno.makeTempDir();
  const release = Promise.withResolvers<Answer>();
  const slow = new FakeServer(() => release.promise);
  const withSlow = testConfig(dir, {
    destinations: { slow: { type: "http", url: slow.url }, out: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["slow", "out"] }],
  });
  const { relay } = await testRelay(withSlow);
  try {
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    // (FakeServer.waitFor counts answered requests; this one is held unanswered.)
    await eventually(() => slow.received.length === 1);
    await relay.reload(testConfig(dir, {
      destinations: { out: { type: "console" } },
      routes: [{ name: "all", events: "*", to: ["out"] }],
    }));
    release.resolve({ status: 200, body: "ok" });
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "slow", status: "delivered" })).length === 1
    );
    const [delivery] = await relay.store.listDeliveries({ destination: "slow" });
    const { attempts } = (await relay.store.getDelivery(delivery!.id))!;
    assert.deepEqual(attempts.map((a) => [a.outcome, a.httpStatus]), [["delivered", 200]]);
  } finally {
    release.resolve({ status: 200, body: "ok" });
    await relay.stop();
    await slow.close();
  }
});

Deno.test("deliveries to a removed destination are parked unchanged and delivered once it is back", async () => {
  const dir = await Deno.makeTempDir();
  let up = false;
  const sink = new FakeServer(() => up ? { status: 200 } : { status: 503, body: "down" });
  const withSink = testConfig(dir, {
    destinations: {
      sink: { type: "http", url: sink.url, retry: { schedule: ["0s", "400ms"], max_attempts: 50 } },
      out: { type: "console" },
    },
    routes: [
      { name: "to-sink", events: "*", to: ["sink"] },
      { name: "to-out", events: "*", to: ["out"] },
    ],
  });
  const withoutSink = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{ name: "to-out", events: "*", to: ["out"] }],
  });
  const { relay, printed } = await testRelay(withSink);
  const sinkDeliveries = () => relay.store.listDeliveries({ destination: "sink" });
  const snapshot = (ds: Delivery[]) => ds.map((d) => `${d.id} ${d.status} ${d.attempts}`);
  try {
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await post(relay.url, "/hooks/new_email_sent", freshSample("new_email_sent"));
    // Both failed once and wait for their next attempt: nothing is in flight.
    await eventually(async () => {
      const ds = await sinkDeliveries();
      return ds.length === 2 && ds.every((d) => d.status === "failed" && d.attempts === 1);
    });
    await relay.reload(withoutSink);
    const parked = snapshot(await sinkDeliveries());
    up = true;
    const seen = sink.received.length;
    // Several retry intervals pass with no lane for "sink": nothing is attempted or changed.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(sink.received.length, seen, "no attempt to a removed destination");
    assert.deepEqual(snapshot(await sinkDeliveries()), parked, "kept, status unchanged");
    assert.match(await relay.metrics.render(), /hero_relay_queue_depth\{destination="sink"\} 2\n/);

    // Events arriving meanwhile reach the destinations that remain.
    await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    await eventually(() => printed.some((p) => p.includes("new_max_bid")));
    assert.equal((await sinkDeliveries()).length, 2);

    await relay.reload(withSink);
    await eventually(async () =>
      (await sinkDeliveries()).filter((d) => d.status === "delivered").length === 2
    );
    assert.equal(sink.received.length, seen + 2);
  } finally {
    await relay.stop();
    await sink.close();
  }
});

/** Writes a config file for `serve` the way editors save: a new file renamed over the old. */
async function writeConfig(path: string, raw: unknown): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(raw, null, 2));
  await Deno.chmod(`${path}.tmp`, 0o600);
  await Deno.rename(`${path}.tmp`, path);
}

Deno.test("serve reloads its config when the file changes and on SIGHUP, and keeps the old one when the new one is bad", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const secretFile = `${dir}/ih-secret`;
  await Deno.writeTextFile(secretFile, `${SECRET}\n`);
  const sink = new FakeServer();
  const config = (routes: unknown[]) => ({
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets_files: [secretFile] },
    store: { sqlite: `${dir}/relay.db` },
    destinations: { sink: { type: "http", url: sink.url } },
    routes,
  });
  const commissions = { name: "commissions", events: ["update_commission"], to: ["sink"] };
  const products = { name: "products", events: ["product_sent"], to: ["sink"] };
  await writeConfig(path, config([commissions]));
  const serve = await ServeProcess.start(path);
  const url = String(serve.logs.find((l) => l.msg === "relay started")!["url"]);
  const sent = (type: string) => sink.received.filter((r) => JSON.parse(r.body).type === type);
  try {
    await t.step("an event type with no route is stored but not delivered", async () => {
      const answer = await post(url, "/hooks/product_sent", freshSample("product_sent"));
      assert.equal(answer.status, 200);
      await serve.waitForLog((l) => l.msg === "event unrouted" && l["event"] === answer.json["id"]);
    });

    await t.step("a new route written to the file takes effect", async () => {
      const from = serve.logs.length;
      await writeConfig(path, config([commissions, products]));
      const reloaded = await serve.waitForLog((l) => l.msg === "config reloaded", 15_000, from);
      assert.equal(reloaded["routes"], 2);
      await post(url, "/hooks/product_sent", freshSample("product_sent", { n: 1 }));
      await sink.waitFor(1);
      assert.equal(sent("product_sent").length, 1);
    });

    await t.step(
      "a bad file is refused with its problems logged; the old config keeps working",
      async () => {
        const from = serve.logs.length;
        const bad = config([commissions, { ...products, to: ["slak"] }]);
        await Deno.writeTextFile(path, JSON.stringify(bad));
        const error = await serve.waitForLog(
          (l) => String(l.msg).startsWith("config reload failed"),
          15_000,
          from,
        );
        assert.equal(error["level"], "error");
        assert.equal(error["trigger"], "file changed");
        assert.match(String(error["problems"]), /routes\[1\]\.to\[0\] names destination "slak"/);
        await post(url, "/hooks/product_sent", freshSample("product_sent", { n: 2 }));
        await sink.waitFor(2);
        assert.equal(sent("product_sent").length, 2, "the old route still delivers");
        assert.ok(!serve.logs.slice(from).some((l) => l.msg === "config reloaded"));
      },
    );

    await t.step(
      "SIGHUP re-reads secret files: a rotated signing secret takes effect",
      async () => {
        const fixed = serve.logs.length;
        await writeConfig(path, config([commissions, products]));
        await serve.waitForLog((l) => l.msg === "config reloaded", 15_000, fixed);
        const from = serve.logs.length;
        await Deno.writeTextFile(secretFile, "rotated-signing-secret\n");
        serve.kill("SIGHUP");
        await serve.waitForLog((l) => l.msg === "config reloaded", 15_000, from);
        const rotated = freshSample("update_commission", { n: 3 });
        assert.equal(
          (await post(url, "/hooks/update_commission", rotated, { secret: SECRET })).status,
          401,
        );
        assert.equal(
          (await post(url, "/hooks/update_commission", rotated, {
            secret: "rotated-signing-secret",
          })).status,
          200,
        );
        await sink.waitFor(3);
        assert.equal(sent("update_commission").length, 1);
      },
    );
  } finally {
    assert.equal(await serve.stop(), 0);
    await sink.close();
  }
  // Nothing was lost on the way: every stored event reached the sink or was unrouted.
  const store = SqliteStore.open(`${dir}/relay.db`);
  try {
    const deliveries = await store.listDeliveries({});
    assert.ok(deliveries.every((d) => d.status === "delivered"));
    assert.equal(deliveries.length, 3);
  } finally {
    await store.close();
  }
});

// a destination removed by a reload and added back by the next one, while its lane still
// finishes an attempt, keeps being delivered to.
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
