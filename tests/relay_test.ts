// End to end: signed webhooks into a real relay (real SQLite file), out to fake Slack and HTTP
// servers on 127.0.0.1 that answer as the real services do.

import assert from "node:assert/strict";
import {
  eventually,
  FakeServer,
  freshSample,
  post,
  SAMPLE_TYPES,
  SECRET,
  signed,
  testConfig,
  testRelay,
} from "./helpers.ts";
import { parseConfig } from "../src/config.ts";
import { SAMPLES } from "../src/samples.ts";

Deno.test("a signed update_commission reaches Slack naming the influencer and both percentages", async () => {
  const dir = await Deno.makeTempDir();
  const slack = new FakeServer();
  const config = testConfig(dir, {
    destinations: { slack: { type: "slack", url: `${slack.url}/services/T000/B000/XXXX` } },
    routes: [{ name: "commissions", events: ["update_commission"], to: ["slack"] }],
  });
  const { relay } = await testRelay(config);
  try {
    const answer = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.json["type"], "update_commission");
    assert.match(String(answer.json["id"]), /^evt_[0-9A-Z]{26}$/);
    await slack.waitFor(1);
    const request = slack.received[0]!;
    assert.equal(request.path, "/services/T000/B000/XXXX");
    assert.equal(request.headers.get("content-type"), "application/json; charset=utf-8");
    const body = JSON.parse(request.body);
    const all = JSON.stringify(body);
    assert.match(all, /Dwayne Johnson/);
    assert.match(all, /10% → 15%/);
    assert.match(body.text, /Commission changed from 10% to 15%/);
    assert.equal(body.blocks[0].type, "header");
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
  } finally {
    await relay.stop();
    await slack.close();
  }
});

Deno.test('a "*" route forwards every sample event to an HTTP endpoint with its payload intact', async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer(() => ({ status: 200, body: '{"status":"success"}' }));
  const config = testConfig(dir, {
    destinations: { zap: { type: "http", url: `${sink.url}/hooks/catch/1/abc/` } },
    routes: [{ name: "all", events: "*", to: ["zap"] }],
  });
  const { relay } = await testRelay(config);
  try {
    const sent = new Map<string, string>();
    for (const type of SAMPLE_TYPES) {
      const payload = freshSample(type);
      const { body, headers } = await signed(payload);
      const response = await fetch(`${relay.url}/hooks/${type}`, { method: "POST", headers, body });
      const answer = await response.json();
      assert.equal(response.status, 200, type);
      sent.set(answer.id, new TextDecoder().decode(body));
    }
    await sink.waitFor(SAMPLE_TYPES.length);
    for (const request of sink.received) {
      const wrapped = JSON.parse(request.body);
      assert.ok(sent.has(wrapped.id), "the event id is sent");
      assert.deepEqual(wrapped.payload, JSON.parse(sent.get(wrapped.id)!), "payload intact");
      assert.equal(request.headers.get("x-hero-relay-event"), wrapped.type);
      assert.match(request.headers.get("webhook-id")!, /^dlv_/);
      assert.ok(!Number.isNaN(Date.parse(wrapped.received_at)));
    }
    assert.deepEqual(
      new Set(sink.received.map((r) => JSON.parse(r.body).type)),
      new Set(SAMPLE_TYPES),
    );
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("POST /hooks detects the event type from the payload's shape", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, { destinations: { out: { type: "console" } }, routes: [] });
  const { relay } = await testRelay(config);
  try {
    for (
      const type of ["update_commission", "new_email_sent", "new_influencer_reply", "product_sent"]
    ) {
      const answer = await post(relay.url, "/hooks", freshSample(type));
      assert.equal(answer.status, 200);
      assert.equal(answer.json["type"], type);
    }
    const unknown = await post(relay.url, "/hooks", { something_new: { a: 1 } });
    assert.equal(unknown.status, 200);
    assert.equal(unknown.json["type"], "unknown");
  } finally {
    await relay.stop();
  }
});

Deno.test('a new event type is accepted, stored and routed by "*" routes only', async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" }, other: { type: "console" } },
    routes: [
      { name: "all", events: "*", to: ["out"] },
      { name: "commission", events: ["update_commission"], to: ["other"] },
    ],
  });
  const { relay, printed } = await testRelay(config);
  try {
    const answer = await post(relay.url, "/hooks/brand_new_type", { deal_id: "d1", x: 1 });
    assert.equal(answer.status, 200);
    assert.equal(answer.json["type"], "brand_new_type");
    await eventually(() => printed.length === 1);
    assert.match(printed[0]!, /brand_new_type/);
    assert.match(printed[0]!, /→ out/);
  } finally {
    await relay.stop();
  }
});

Deno.test("an event matching no route is stored and logged as unrouted", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{ name: "orders", events: ["new_influencer_order"], to: ["out"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    const answer = await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    assert.equal(answer.status, 200);
    await eventually(() => logs.find("event unrouted").length === 1);
    const stored = await relay.store.getEvent(String(answer.json["id"]));
    assert.equal(stored?.type, "new_max_bid");
    assert.equal((await relay.store.listDeliveries({})).length, 0);
  } finally {
    await relay.stop();
  }
});

Deno.test("a route's when condition filters on the payload", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{
      name: "raises",
      events: ["update_commission"],
      when:
        "commission_information.new_commission_perc > commission_information.old_commission_perc",
      to: ["out"],
    }],
  });
  const { relay, printed } = await testRelay(config);
  try {
    const raise = freshSample("update_commission");
    const cut = freshSample("update_commission", {
      commission_information: { old_commission_perc: 20, new_commission_perc: 5 },
    });
    assert.equal((await post(relay.url, "/hooks/update_commission", cut)).status, 200);
    assert.equal((await post(relay.url, "/hooks/update_commission", raise)).status, 200);
    await eventually(() => printed.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(printed.length, 1);
    assert.match(printed[0]!, /10% → 15%/);
  } finally {
    await relay.stop();
  }
});

Deno.test("a replayed body is answered 200 duplicate and delivered once", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["out"] }],
  });
  const { relay, printed } = await testRelay(config);
  try {
    const payload = freshSample("new_payout_request");
    const first = await post(relay.url, "/hooks/new_payout_request", payload);
    const second = await post(relay.url, "/hooks/new_payout_request", payload);
    assert.equal(first.json["duplicate"], false);
    assert.equal(second.status, 200);
    assert.equal(second.json["duplicate"], true);
    assert.equal(second.json["id"], first.json["id"]);
    await eventually(() => printed.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(printed.length, 1);
  } finally {
    await relay.stop();
  }
});

Deno.test("undelivered events stored before a stop are delivered after a restart", async () => {
  const dir = await Deno.makeTempDir();
  let up = false;
  const sink = new FakeServer(() =>
    up ? { status: 200, body: "ok" } : { status: 503, body: "down" }
  );
  const raw = {
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets: [SECRET] },
    store: { sqlite: `${dir}/relay.db` },
    destinations: {
      sink: {
        type: "http",
        url: sink.url,
        retry: { schedule: ["0s", "100ms"], max_attempts: 100 },
      },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  };
  const config = parseConfig(JSON.stringify(raw), "test", { env: () => undefined });
  const first = await testRelay(config);
  const ids: string[] = [];
  for (const type of ["update_commission", "product_sent", "new_influencer_order"]) {
    const answer = await post(first.relay.url, `/hooks/${type}`, freshSample(type));
    ids.push(String(answer.json["id"]));
  }
  await sink.waitFor(3);
  await first.relay.stop();
  up = true;
  const seenBefore = sink.received.length;
  const second = await testRelay(config);
  try {
    await eventually(async () =>
      (await second.relay.store.listDeliveries({ status: "delivered" })).length === 3
    );
    const delivered = sink.received.slice(seenBefore).map((r) => JSON.parse(r.body).id);
    assert.deepEqual(new Set(delivered), new Set(ids));
  } finally {
    await second.relay.stop();
    await sink.close();
  }
});

Deno.test("the sample payloads cover every documented event type", () => {
  assert.equal(Object.keys(SAMPLES).length, 11);
});

Deno.test("an event's deliveries are committed with it, before the 2xx", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { a: { type: "console", enabled: false }, b: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["a", "b"] }],
  });
  const { relay } = await testRelay(config);
  try {
    await relay.dispatcher.stop();
    const answer = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
    );
    assert.equal(answer.status, 200);
    const deliveries = await relay.store.listDeliveries({});
    assert.deepEqual(deliveries.map((d) => [d.eventId, d.destination]), [[answer.json["id"], "b"]]);
    assert.equal((await relay.store.unroutedEvents(10)).length, 0);
  } finally {
    await relay.stop();
  }
});
