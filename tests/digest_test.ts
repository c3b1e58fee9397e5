// Digests: the window computation (rolling, and calendar windows across daylight-saving changes),
// the built-in summary, and real relays with fake destinations on 127.0.0.1: a rolling window,
// max_events, empty windows, an injected clock across a change to winter time, and a relay
// killed with SIGKILL inside a window.

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { previewDeliveries } from "../src/console/preview.ts";
import { type DigestSpec, digestSpecOf, localTime, windowOf } from "../src/digest.ts";
import {
  builtInDigestMessage,
  compileDigestMessage,
  DIGEST_EVENT,
  digestBody,
} from "../src/digest_message.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { freshSchema, POSTGRES_URL } from "./postgres.ts";
import {
  eventually,
  FakeServer,
  freePort,
  freshSample,
  post,
  runCli,
  SECRET,
  ServeProcess,
  testConfig,
  testRelay,
} from "./helpers.ts";

const HOUR = 3_600_000;
const BERLIN_DAILY: DigestSpec = digestSpecOf({
  every: "1d",
  at: "09:00",
  timezone: "Europe/Berlin",
}, 86_400_000);

const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("windowOf() gives a Berlin day from 09:00 to 09:00 that is 23 hours long on 2026-03-29", () => {
  const w = windowOf(BERLIN_DAILY, Date.parse("2026-03-28T12:00:00Z"));
  assert.equal(iso(w.start), "2026-03-28T08:00:00.000Z"); // 09:00 CET
  assert.equal(iso(w.end), "2026-03-29T07:00:00.000Z"); // 09:00 CEST
  assert.equal((w.end - w.start) / HOUR, 23);
  const next = windowOf(BERLIN_DAILY, w.end);
  assert.equal(iso(next.start), "2026-03-29T07:00:00.000Z");
  assert.equal((next.end - next.start) / HOUR, 24);
});

Deno.test("windowOf() gives a Berlin day from 09:00 to 09:00 that is 25 hours long on 2026-10-25", () => {
  const w = windowOf(BERLIN_DAILY, Date.parse("2026-10-24T12:00:00Z"));
  assert.equal(iso(w.start), "2026-10-24T07:00:00.000Z"); // 09:00 CEST
  assert.equal(iso(w.end), "2026-10-25T08:00:00.000Z"); // 09:00 CET
  assert.equal((w.end - w.start) / HOUR, 25);
  // The instant before the boundary is still in it; the boundary itself starts the next one.
  assert.equal(windowOf(BERLIN_DAILY, w.end - 1).start, w.start);
  assert.equal(windowOf(BERLIN_DAILY, w.end).start, w.end);
});

Deno.test("localTime() moves a wall time in the spring gap forward and takes the first of two in autumn", () => {
  const gap = localTime("Europe/Berlin", { year: 2026, month: 3, day: 29, hour: 2, minute: 30 });
  assert.equal(iso(gap), "2026-03-29T01:30:00.000Z"); // 03:30 CEST
  const twice = localTime("Europe/Berlin", { year: 2026, month: 10, day: 25, hour: 2, minute: 30 });
  assert.equal(iso(twice), "2026-10-25T00:30:00.000Z"); // the first 02:30, still CEST
});

Deno.test("windowOf() runs hourly calendar windows on the zone's clock and rolling windows from the first event", () => {
  const hourly = digestSpecOf({ every: "6h", at: "00:00", timezone: "Europe/Berlin" }, 6 * HOUR);
  const w = windowOf(hourly, Date.parse("2026-03-29T03:00:00Z")); // 05:00 CEST
  assert.equal(iso(w.start), "2026-03-28T23:00:00.000Z"); // 00:00 CET
  assert.equal(iso(w.end), "2026-03-29T04:00:00.000Z"); // 06:00 CEST: five hours
  const rolling = digestSpecOf({ every: "15m" }, 15 * 60_000);
  assert.deepEqual(windowOf(rolling, 1_000_000), { start: 1_000_000, end: 1_900_000 });
});

Deno.test("digestSpecOf() refuses an unknown time zone, uneven calendar windows and empty text on rolling ones", () => {
  assert.throws(() => digestSpecOf({ every: "1d", timezone: "Mars/Olympus" }, 86_400_000), {
    message: /timezone: "Mars\/Olympus" is not a time zone/,
  });
  assert.throws(() => digestSpecOf({ every: "5h", at: "09:00" }, 5 * HOUR), /every: calendar/);
  assert.throws(() => digestSpecOf({ every: "1h", empty: "x" }, HOUR), /empty: only calendar/);
});

/** Digest items as the store gives them, from sample payloads. */
function items(
  list: Array<[string, Record<string, unknown>]>,
): Array<{ eventId: string; eventType: string; receivedAt: number; body: string }> {
  return list.map(([eventType, payload], i) => ({
    eventId: `evt_${i}`,
    eventType,
    receivedAt: 1_700_000_000_000 + i,
    body: JSON.stringify(payload),
  }));
}

function order(revenue: number, currency: string, name = "Dwayne Johnson") {
  const sample = freshSample("new_influencer_order");
  return {
    ...sample,
    order_information: {
      ...(sample["order_information"] as object),
      order_revenue: revenue,
      order_currency: currency,
      account_currency: currency,
      paid_commission: revenue / 10,
    },
    deal_info: { ...(sample["deal_info"] as object), full_name: name },
  };
}

Deno.test("a mixed digest counts each type, sums revenue, commission and payouts per currency, and names who changed what", () => {
  const body = digestBody({
    route: "daily",
    destination: "slack",
    spec: BERLIN_DAILY,
    window: { start: Date.parse("2026-01-15T08:00:00Z"), end: Date.parse("2026-01-16T08:00:00Z") },
    items: items([
      ["new_influencer_order", order(100, "USD")],
      ["new_influencer_order", order(49.99, "USD", "Ana Lima")],
      ["new_influencer_order", order(20, "EUR", "Ana Lima")],
      ["new_payout_request", freshSample("new_payout_request")],
      ["update_commission", freshSample("update_commission")],
      ["update_discount_code", freshSample("update_discount_code")],
      ["new_influencer_reply", freshSample("new_influencer_reply")],
      ["new_max_bid", freshSample("new_max_bid")],
    ]),
  });
  assert.deepEqual(body.counts, {
    new_influencer_order: 3,
    new_payout_request: 1,
    update_commission: 1,
    update_discount_code: 1,
    new_influencer_reply: 1,
    new_max_bid: 1,
  });
  assert.deepEqual(body.sums.revenue, { USD: 149.99, EUR: 20 });
  assert.deepEqual(body.sums.commission, { USD: 15, EUR: 2 });
  assert.deepEqual(body.sums.payouts, { USD: 1500 });
  const message = builtInDigestMessage(body);
  assert.match(message.title, /^Digest 2026-01-15 09:00 – 2026-01-16 09:00 \(Europe\/Berlin\): /);
  assert.match(message.title, /3 orders, 1 commission change, 1 discount code change/);
  assert.match(message.text, /Revenue: €20\.00 · \$149\.99/);
  assert.match(message.text, /Top influencers: Dwayne Johnson \(@therock\) \(1 order, \$100\.00\)/);
  assert.match(message.text, /Dwayne Johnson \(@therock\): 10% → 15%/);
  assert.match(message.text, /FIT2023 \(15%\) → FIT2024 \(20%\)/);
  assert.match(message.text, /Payout requests \(1\)\nTotal: \$1,500\.00/);
  assert.match(
    message.text,
    /Replies \(1\)\nDwayne Johnson \(@therock\): Re: Collaboration Proposal/,
  );
  assert.match(message.text, /Rate requests \(1\)\n/);
  assert.deepEqual(message.fields.map((f) => f.name), [
    "Orders",
    "Revenue",
    "Commission",
    "Payout requests",
    "Payouts",
  ]);
});

Deno.test("a route's message parts replace the digest's built-in parts, with events, counts and sums in scope", () => {
  const body = digestBody({
    route: "orders",
    destination: "slack",
    spec: { at: null, timezone: "UTC", empty: null },
    window: { start: 0, end: 1000 },
    items: items([["new_influencer_order", order(10, "USD")], [
      "new_influencer_order",
      order(5, "USD"),
    ]]),
  });
  const message = compileDigestMessage({
    title: "{{ counts.new_influencer_order }} orders, {{ sums.revenue.USD }} USD",
    text: "{% for e in events %}{{ e.order_information.order_revenue }};{% endfor %}",
  })(body);
  assert.equal(message.title, "2 orders, 15 USD");
  assert.equal(message.text, "10;5;");
  // Parts not given keep the built-in ones.
  assert.equal(message.fields[0]?.name, "Orders");
});

Deno.test("an empty window's message says the route's empty text", () => {
  const body = digestBody({
    route: "daily",
    destination: "d",
    spec: { ...BERLIN_DAILY, empty: "Nothing today." },
    window: { start: 0, end: 86_400_000 },
    items: [],
  });
  const message = builtInDigestMessage(body);
  assert.match(message.title, /no events$/);
  assert.equal(message.text, "Nothing today.");
});

/** A relay with one http destination "sink" (the digest body as it is) and the given digest. */
async function digestRelay(
  dir: string,
  sink: FakeServer,
  digest: Record<string, unknown>,
  options: { now?: () => number } = {},
) {
  const config = testConfig(dir, {
    destinations: { sink: { type: "http", url: sink.url } },
    routes: [{ name: "orders", events: ["new_influencer_order"], to: ["sink"], digest }],
  });
  return await testRelay(config, options);
}

Deno.test("a 5-second rolling window collects the orders and sends exactly one digest counting them and summing revenue per currency", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer();
  const { relay } = await digestRelay(dir, sink, { every: "5s" });
  try {
    const sent = Date.now();
    const payloads = [order(10, "USD"), order(20.5, "USD"), order(7, "EUR"), order(1, "USD")];
    for (const payload of payloads) {
      assert.equal((await post(relay.url, "/hooks/new_influencer_order", payload)).status, 200);
    }
    await sink.waitFor(1, 15_000);
    assert.ok(Date.now() - sent >= 4_000, "sent when the window closed, not before");
    const body = JSON.parse(sink.received[0]!.body).payload;
    assert.equal(body.digest.count, 4);
    assert.deepEqual(body.counts, { new_influencer_order: 4 });
    assert.deepEqual(body.sums.revenue, { USD: 31.5, EUR: 7 });
    // Every item was taken by that one digest, and it has the only delivery.
    assert.deepEqual(await relay.store.openDigests(), []);
    await eventually(async () =>
      (await relay.store.listDeliveries({ destination: "sink", status: "delivered" })).length === 1
    );
    assert.equal((await relay.store.listDeliveries({ destination: "sink" })).length, 1);
  } finally {
    await relay.stop();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("max_events sends a window early, once it holds that many events", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer();
  const { relay } = await digestRelay(dir, sink, { every: "1h", max_events: 3 });
  try {
    for (const revenue of [1, 2, 3, 4]) {
      await post(relay.url, "/hooks/new_influencer_order", order(revenue, "USD"));
    }
    await sink.waitFor(1);
    const body = JSON.parse(sink.received[0]!.body).payload;
    assert.equal(body.digest.count, 3);
    assert.deepEqual(body.sums.revenue, { USD: 6 });
    // The fourth waits for the next window.
    const open = await relay.store.openDigests();
    assert.deepEqual(open.map((o) => o.count), [1]);
    assert.equal(sink.received.length, 1);
  } finally {
    await relay.stop();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an empty calendar window sends nothing, or once the route's empty line", async () => {
  const dir = await Deno.makeTempDir();
  const quiet = new FakeServer();
  const told = new FakeServer();
  const t = Date.parse("2026-01-02T10:00:00Z");
  const config = testConfig(dir, {
    destinations: {
      quiet: { type: "http", url: quiet.url },
      told: { type: "http", url: told.url },
    },
    routes: [
      { name: "a", events: "*", to: ["quiet"], digest: { every: "1d", at: "09:00" } },
      {
        name: "b",
        events: "*",
        to: ["told"],
        digest: { every: "1d", at: "09:00", empty: "Nothing today." },
      },
    ],
  });
  const { relay } = await testRelay(config, { now: () => t });
  try {
    await relay.digests.closeDue();
    await relay.digests.closeDue();
    await told.waitFor(1);
    const body = JSON.parse(told.received[0]!.body).payload;
    assert.equal(body.digest.count, 0);
    assert.equal(body.digest.empty, "Nothing today.");
    assert.equal(body.digest.start, "2026-01-01T09:00:00.000Z");
    const digests = await relay.store.listEvents({ type: DIGEST_EVENT });
    assert.equal(digests.length, 1, "one empty digest, for route b only");
    assert.equal((await relay.store.listDeliveries({ destination: "quiet" })).length, 0);
    assert.equal(quiet.received.length, 0);
  } finally {
    await relay.stop();
    await quiet.close();
    await told.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a daily Berlin window across the change to winter time closes at 09:00 CET, 25 hours after it opened", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer();
  let t = Date.parse("2026-10-24T12:00:00Z");
  const { relay } = await digestRelay(
    dir,
    sink,
    { every: "1d", at: "09:00", timezone: "Europe/Berlin" },
    { now: () => t },
  );
  try {
    for (const revenue of [5, 6]) {
      await post(relay.url, "/hooks/new_influencer_order", order(revenue, "EUR"));
    }
    await eventually(async () => (await relay.store.openDigests())[0]?.count === 2);
    // 24 hours after 09:00 CEST is only 08:00 CET: the window is still open.
    t = Date.parse("2026-10-25T07:30:00Z");
    assert.equal(await relay.digests.closeDue(), Date.parse("2026-10-25T08:00:00Z"));
    assert.equal((await relay.store.openDigests())[0]?.count, 2);
    t = Date.parse("2026-10-25T08:00:00Z");
    await relay.digests.closeDue();
    await sink.waitFor(1);
    const body = JSON.parse(sink.received[0]!.body).payload;
    assert.equal(body.digest.start, "2026-10-24T07:00:00.000Z");
    assert.equal(body.digest.end, "2026-10-25T08:00:00.000Z");
    assert.equal(body.digest.count, 2);
    assert.deepEqual(body.sums.revenue, { EUR: 11 });
    assert.equal((await relay.store.listEvents({ type: DIGEST_EVENT })).length, 1);
  } finally {
    await relay.stop();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "a relay killed with SIGKILL inside a window sends exactly one digest with every event after its restart",
  async fn() {
    const dir = await Deno.makeTempDir();
    const sink = new FakeServer();
    const port = freePort();
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({
        listen: { hostname: "127.0.0.1", port },
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: `${dir}/relay.db` },
        destinations: { sink: { type: "http", url: sink.url } },
        routes: [{ name: "orders", events: "*", to: ["sink"], digest: { every: "3s" } }],
      }),
      { mode: 0o600 },
    );
    const base = `http://127.0.0.1:${port}`;
    let serve = await ServeProcess.start(configPath);
    try {
      const opened = Date.now();
      const n = 6;
      for (let i = 0; i < n; i++) {
        const answer = await post(base, "/hooks/new_influencer_order", order(i + 1, "USD"));
        assert.equal(answer.status, 200);
      }
      serve.kill("SIGKILL");
      await serve.exited();
      assert.equal(sink.received.length, 0, "killed inside the window");
      // Down until the window has closed: the restarted relay sends it at start.
      await eventually(() => Date.now() > opened + 3_500, 10_000, "the window's end");
      serve = await ServeProcess.start(configPath);
      await sink.waitFor(1, 15_000);
      const body = JSON.parse(sink.received[0]!.body).payload;
      assert.equal(body.digest.count, n);
      assert.deepEqual(body.sums.revenue, { USD: 21 });
      await serve.waitForLog((l) => l.msg === "delivered");
      assert.equal(await serve.stop(), 0);
      const store = SqliteStore.open(`${dir}/relay.db`);
      try {
        assert.deepEqual(await store.openDigests(), []);
        assert.equal((await store.listEvents({ type: DIGEST_EVENT })).length, 1);
        assert.equal((await store.listDeliveries({ destination: "sink" })).length, 1);
      } finally {
        await store.close();
      }
      assert.equal(sink.received.length, 1);
    } finally {
      await serve.stop();
      await sink.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("render <digest route> shows the digest of one sample per event type, in each destination's native form", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: `${dir}/relay.db` },
        destinations: {
          chat: { type: "slack", url: "https://hooks.slack.com/services/T000/B000/XXXXXXXX" },
        },
        routes: [{
          name: "daily",
          events: ["new_influencer_order", "new_payout_request", "new_influencer_reply"],
          to: ["chat"],
          digest: { every: "1d", at: "08:00", timezone: "Europe/Berlin" },
        }],
      }),
      { mode: 0o600 },
    );
    const { code, stdout, stderr } = await runCli(["render", "daily", "--config", configPath]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /=== digest of route "daily" \(3 sample events\) → chat/);
    assert.match(stdout, /1 order, 1 payout request, 1 reply/);
    assert.match(stdout, /Revenue: \$149\.99/);
    assert.doesNotMatch(stdout, /XXXXXXXX/, "the webhook URL stays masked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("windowOf() starts weekly calendar windows on Monday at the given time", () => {
  const weekly = digestSpecOf(
    { every: "7d", at: "08:00", timezone: "Europe/Berlin" },
    7 * 86_400_000,
  );
  const w = windowOf(weekly, Date.parse("2026-12-03T12:00:00Z")); // a Thursday
  assert.equal(iso(w.start), "2026-11-30T07:00:00.000Z"); // Monday 08:00 CET
  assert.equal(iso(w.end), "2026-12-07T07:00:00.000Z");
});

Deno.test({
  name: "two relays sharing a PostgreSQL store send a window's digest once",
  ignore: POSTGRES_URL === undefined,
  async fn() {
    const schema = await freshSchema();
    const dir = await Deno.makeTempDir();
    const sink = new FakeServer();
    let t = Date.parse("2026-06-01T10:00:00Z");
    const config = testConfig(dir, {
      store: { postgres: schema.url },
      destinations: { sink: { type: "http", url: sink.url } },
      routes: [{ name: "orders", events: "*", to: ["sink"], digest: { every: "10m" } }],
    });
    const a = await testRelay(config, { now: () => t });
    const b = await testRelay(config, { now: () => t });
    try {
      for (const [relay, revenue] of [[a, 1], [a, 2], [b, 3], [b, 4]] as const) {
        await post(relay.relay.url, "/hooks/new_influencer_order", order(revenue, "USD"));
      }
      t += 10 * 60_000;
      await Promise.all([a.relay.digests.closeDue(), b.relay.digests.closeDue()]);
      await sink.waitFor(1);
      const body = JSON.parse(sink.received[0]!.body).payload;
      assert.equal(body.digest.count, 4);
      assert.deepEqual(body.sums.revenue, { USD: 10 });
      await eventually(async () =>
        (await a.relay.store.listDeliveries({ status: "delivered" })).length === 1
      );
      assert.equal((await a.relay.store.listEvents({ type: DIGEST_EVENT })).length, 1);
      assert.deepEqual(await b.relay.store.openDigests(), []);
      assert.equal(sink.received.length, 1);
    } finally {
      await a.relay.stop();
      await b.relay.stop();
      await sink.close();
      await schema.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the console's preview of an event a digest route takes shows that route's digest", async () => {
  const config = testConfig("/tmp", {
    destinations: { chat: { type: "console" } },
    routes: [{
      name: "daily",
      events: ["new_influencer_order", "new_payout_request"],
      to: ["chat"],
      digest: { every: "1d", at: "08:00" },
    }],
  });
  const runtime = compileConfig(config, "test config", { write: () => {} });
  const payload = order(99, "EUR");
  const [item] = await previewDeliveries(runtime, {
    id: "evt_1",
    type: "new_influencer_order",
    receivedAt: Date.parse("2026-01-16T10:00:00Z"),
  }, payload);
  assert.equal(item?.digestEvents, 2);
  assert.match(
    item!.message.title,
    /^Digest 2026-01-16 08:00 – 2026-01-17 08:00 \(UTC\): 1 order, 1 payout request$/,
  );
  assert.match(item!.message.text, /Revenue: €99\.00/);
});
