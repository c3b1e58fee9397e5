// End to end on PostgreSQL: signed webhooks into relays whose store is the test database, out to
// fake HTTP endpoints on 127.0.0.1. Ignored when HERO_RELAY_TEST_POSTGRES_URL is not set.

import assert from "node:assert/strict";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";
import { freshSchema, POSTGRES_URL, TcpProxy, warnPostgresSkipped } from "./postgres.ts";

warnPostgresSkipped("store_postgres_relay_test.ts");
const ignore = POSTGRES_URL === undefined;
const PASSWORD = POSTGRES_URL === undefined
  ? ""
  : decodeURIComponent(new URL(POSTGRES_URL).password);

/** A new_content payload that no other test sends (identical bodies are one event). */
function sample(): Record<string, unknown> {
  return freshSample("new_content", { nonce: crypto.randomUUID() });
}

function sinkConfig(dir: string, url: string, sink: FakeServer) {
  return testConfig(dir, {
    store: { postgres: url },
    destinations: { sink: { type: "http", url: `${sink.url}/hook` } },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
}

Deno.test({
  name: "a relay on PostgreSQL stores a signed event and delivers it",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const dir = await Deno.makeTempDir();
    const sink = new FakeServer();
    const { relay, logs } = await testRelay(sinkConfig(dir, schema.url, sink));
    try {
      const answer = await post(relay.url, "/hooks/new_content", sample());
      assert.equal(answer.status, 200);
      await sink.waitFor(1);
      assert.equal(JSON.parse(sink.received[0]!.body).id, answer.json["id"]);
      await eventually(async () =>
        (await relay.store.listDeliveries({ status: "delivered" })).length === 1
      );
      const stored = await schema.query(
        `SELECT e.id, d.status FROM ${schema.name}.events e ` +
          `JOIN ${schema.name}.deliveries d ON d.event_id = e.id`,
      );
      assert.deepEqual(stored.rows, [{ id: answer.json["id"], status: "delivered" }]);
      const [started] = logs.find("relay started");
      assert.match(String(started!["store"]), /^postgres postgres:\/\/[^:]+:\*\*\*@/);
      assert.equal(started!["synchronous_commit"], "on");
      assert.ok(!logs.lines.some((line) => line.includes(PASSWORD)), "no password in the logs");
    } finally {
      await relay.stop();
      await sink.close();
      await schema.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "two relays sharing one PostgreSQL database deliver each event once",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const sink = new FakeServer();
    const a = await testRelay(sinkConfig(dirs[0]!, schema.url, sink));
    const b = await testRelay(sinkConfig(dirs[1]!, schema.url, sink));
    try {
      const sent: string[] = [];
      for (let i = 0; i < 12; i++) {
        const relay = i % 2 === 0 ? a.relay : b.relay;
        const answer = await post(relay.url, "/hooks/new_content", sample());
        assert.equal(answer.status, 200);
        sent.push(String(answer.json["id"]));
      }
      await eventually(async () =>
        (await a.relay.store.listDeliveries({ status: "delivered" })).length === 12
      );
      const deliveries = await a.relay.store.listDeliveries({});
      assert.equal(deliveries.length, 12, "each event routed once");
      for (const delivery of deliveries) {
        const { attempts } = (await b.relay.store.getDelivery(delivery.id))!;
        assert.equal(attempts.length, 1, "each delivery attempted once");
      }
      const received = sink.received.map((r) => JSON.parse(r.body).id).sort();
      assert.deepEqual(received, [...sent].sort());
    } finally {
      await a.relay.stop();
      await b.relay.stop();
      await sink.close();
      await schema.drop();
      for (const dir of dirs) await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a relay whose PostgreSQL goes away answers 503, keeps running and accepts again",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const dir = await Deno.makeTempDir();
    const target = new URL(POSTGRES_URL!);
    const proxy = new TcpProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const sink = new FakeServer();
    const { relay, logs } = await testRelay(
      sinkConfig(dir, TcpProxy.urlThrough(schema.url, proxy), sink),
    );
    try {
      assert.equal(
        (await post(relay.url, "/hooks/new_content", sample())).status,
        200,
      );
      await sink.waitFor(1);
      proxy.cut();
      const refused = await post(relay.url, "/hooks/new_content", sample());
      assert.equal(refused.status, 503);
      const ready = await fetch(`${relay.url}/readyz`);
      assert.equal(ready.status, 503);
      await ready.body?.cancel();
      proxy.restore();
      await eventually(async () => {
        const response = await fetch(`${relay.url}/readyz`);
        await response.body?.cancel();
        return response.status === 200;
      });
      const accepted = await post(relay.url, "/hooks/new_content", sample());
      assert.equal(accepted.status, 200);
      await sink.waitFor(2);
      assert.equal(JSON.parse(sink.received[1]!.body).id, accepted.json["id"]);
      assert.ok(!logs.lines.some((line) => line.includes(PASSWORD)), "no password in the logs");
    } finally {
      await relay.stop();
      await sink.close();
      await proxy.close();
      await schema.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
