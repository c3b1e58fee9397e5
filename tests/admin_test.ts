// The admin API on a real relay: bearer token checks, listing and fetching what the store holds,
// replaying deliveries and enabling a destination, with the worker acting on each.

import assert from "node:assert/strict";
import { parseConfig } from "../src/config.ts";
import type { Relay } from "../src/relay.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  SECRET,
  testConfig,
  testRelay,
} from "./helpers.ts";

const TOKEN = "admin-token-for-tests-6b1f0c";
const LIST_KEYS = ["id", "receivedAt", "routedAt", "type"];

/** A relay with the admin API on and one HTTP destination answering as `script` says. */
async function adminRelay(script: (index: number) => Answer) {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer((_, index) => script(index));
  const config = testConfig(dir, {
    admin: { port: 0, token: TOKEN },
    destinations: {
      sink: { type: "http", url: sink.url, retry: { schedule: ["0s", "50ms"], max_attempts: 5 } },
    },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  });
  const { relay, logs } = await testRelay(config);
  const admin = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
    fetch(`${relay.adminUrl}${path}`, {
      ...init,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
  /** The status of an answer whose body is not needed (read to the end, so nothing leaks). */
  const adminStatus = async (...args: Parameters<typeof admin>) => {
    const response = await admin(...args);
    await response.body?.cancel();
    return response.status;
  };
  const close = async () => {
    await relay.stop();
    await sink.close();
  };
  return { relay, sink, admin, adminStatus, logs, close, dir };
}

async function statusOf(relay: Relay, id: string): Promise<string | undefined> {
  return (await relay.store.getDelivery(id))?.delivery.status;
}

Deno.test("the admin API answers a missing or wrong token with a bare 401, whatever the path", async () => {
  const { close, relay, logs, adminStatus } = await adminRelay(() => ({ status: 200 }));
  try {
    assert.match(relay.adminUrl!, /^http:\/\/127\.0\.0\.1:\d+$/, "bound to 127.0.0.1 by default");
    const attempts: Array<[string, Record<string, string>]> = [
      ["/deliveries", {}],
      ["/deliveries", { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ["/deliveries", { authorization: `Bearer ${TOKEN}x` }],
      ["/deliveries", { authorization: `Bearer ${TOKEN.toUpperCase()}` }],
      ["/deliveries", { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }],
      ["/deliveries", { authorization: TOKEN }],
      ["/deliveries", { authorization: "Bearer" }],
      [`/deliveries?token=${TOKEN}`, {}],
      ["/no/such/path", {}],
      ["/destinations/sink/enable", { authorization: "Bearer wrong" }],
    ];
    for (const [path, headers] of attempts) {
      const response = await fetch(`${relay.adminUrl}${path}`, { method: "GET", headers });
      assert.equal(response.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(await response.text(), '{"ok":false,"error":"Unauthorized"}');
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="hero-relay admin"');
    }
    const lowercase = await fetch(`${relay.adminUrl}/deliveries`, {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    assert.equal(lowercase.status, 200, "the scheme is case-insensitive");
    await lowercase.body?.cancel();
    assert.equal(await adminStatus("/nope"), 404);
    const lines = logs.find("admin request");
    assert.equal(lines.filter((l) => l["status"] === 401).length, attempts.length);
    assert.ok(lines.every((l) => !JSON.stringify(l).includes("token")));
  } finally {
    await close();
  }
});

Deno.test("the admin API is off when the config has no admin section", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, { destinations: {}, routes: [] }));
  try {
    assert.equal(relay.adminUrl, null);
  } finally {
    await relay.stop();
  }
});

Deno.test("the admin API lists events and deliveries with filters, and shows a delivery's attempts", async () => {
  const { relay, admin, close, adminStatus } = await adminRelay((i) =>
    i === 0 ? { status: 503, body: "busy" } : { status: 200 }
  );
  try {
    const sample = (type: string, n: number) => freshSample(type, { test_nonce: n });
    const first = await post(relay.url, "/hooks/product_sent", sample("product_sent", 1));
    await eventually(async () => (await relay.store.listDeliveries({})).length === 1);
    const second = await post(relay.url, "/hooks/new_max_bid", sample("new_max_bid", 2));
    const third = await post(relay.url, "/hooks/product_sent", sample("product_sent", 3));
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 3
    );

    const events = await (await admin("/events")).json();
    assert.deepEqual(
      events.events.map((e: { id: string }) => e.id),
      [third.json["id"], second.json["id"], first.json["id"]],
      "newest first",
    );
    const bids = await (await admin("/events?type=new_max_bid")).json();
    assert.deepEqual(bids.events.map((e: { type: string }) => e.type), ["new_max_bid"]);
    const one = await (await admin(`/events/${second.json["id"]}`)).json();
    assert.equal(one.event.payload.test_nonce, 2);
    assert.equal(one.event.payload.deal_id, "DEAL-67890");
    assert.equal(await adminStatus("/events/evt_nope"), 404);

    const sent = await (await admin("/deliveries?event=product_sent&destination=sink")).json();
    assert.equal(sent.deliveries.length, 2);
    assert.deepEqual(
      sent.deliveries.map((d: { eventId: string }) => d.eventId),
      [first.json["id"], third.json["id"]],
    );
    const own = await (await admin(`/deliveries?event_id=${third.json["id"]}`)).json();
    assert.deepEqual(
      own.deliveries.map((d: { eventId: string }) => d.eventId),
      [third.json["id"]],
      "event_id is one event's deliveries, event its type",
    );
    for (const e of events.events) assert.deepEqual(Object.keys(e).sort(), LIST_KEYS, "no body");
    for (const path of ["/events?limit=501", "/deliveries?limit=501", "/events?limit=999999"]) {
      const tooMany = await admin(path);
      assert.equal(tooMany.status, 400, path);
      assert.match((await tooMany.json()).error, /limit takes a whole number from 1 to 500/);
    }
    assert.equal(
      (await (await admin("/events?limit=500")).json()).events.length,
      3,
      "500 is the largest limit allowed",
    );
    const delivered = await (await admin("/deliveries?status=delivered&limit=1")).json();
    assert.equal(delivered.deliveries.length, 1);
    const none = await (await admin("/deliveries?destination=other")).json();
    assert.deepEqual(none.deliveries, []);
    const bad = await admin("/deliveries?status=lost");
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /status takes one of pending, failed, dead, delivered/);

    const id = sent.deliveries[0].id;
    const detail = await (await admin(`/deliveries/${id}`)).json();
    assert.equal(detail.delivery.id, id);
    assert.equal(detail.delivery.status, "delivered");
    assert.deepEqual(
      detail.attempts.map((
        a: { outcome: string; httpStatus: number },
      ) => [a.outcome, a.httpStatus]),
      [["retry", 503], ["delivered", 200]],
    );
    assert.equal(detail.attempts[0].error, "HTTP 503: busy");
    assert.equal(await adminStatus("/deliveries/dlv_nope"), 404);
    assert.equal(await adminStatus("/deliveries", { method: "POST" }), 405);
  } finally {
    await close();
  }
});

Deno.test("the admin API replays one delivery and every dead one; the worker delivers them", async () => {
  let up = false;
  const { relay, admin, sink, close, adminStatus } = await adminRelay(() =>
    up ? { status: 200 } : { status: 400, body: "bad" }
  );
  try {
    const a = await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    const b = await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "dead" })).length === 2
    );
    const [deadA, deadB] = await relay.store.listDeliveries({ status: "dead" });
    assert.equal(deadA!.eventId, a.json["id"]);
    assert.equal(deadB!.eventId, b.json["id"]);
    up = true;

    const replayed = await admin(`/deliveries/${deadA!.id}/replay`, { method: "POST" });
    assert.equal(replayed.status, 200);
    assert.deepEqual(await replayed.json(), { replayed: [deadA!.id] });
    await eventually(async () => await statusOf(relay, deadA!.id) === "delivered");
    assert.equal(await statusOf(relay, deadB!.id), "dead", "only the one asked for");

    const all = await admin("/deliveries/replay-dead", { method: "POST" });
    assert.deepEqual(await all.json(), { replayed: [deadB!.id] });
    await eventually(async () => await statusOf(relay, deadB!.id) === "delivered");
    assert.equal(sink.received.length, 4);

    const history = (await relay.store.getDelivery(deadB!.id))!.attempts.map((x) => x.outcome);
    assert.deepEqual(history, ["failed", "replay", "delivered"]);
    assert.equal(await adminStatus("/deliveries/dlv_nope/replay", { method: "POST" }), 404);
    assert.equal(await adminStatus(`/deliveries/${deadA!.id}/replay`), 405);
    assert.deepEqual(
      await (await admin("/deliveries/replay-dead", { method: "POST" })).json(),
      { replayed: [] },
    );
  } finally {
    await close();
  }
});

Deno.test("the admin API enables a destination disabled because its endpoint was gone", async () => {
  let gone = true;
  const { relay, admin, close } = await adminRelay(() =>
    gone ? { status: 410, body: "gone" } : { status: 200 }
  );
  try {
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await eventually(async () => (await relay.store.disabledDestinations()).length === 1);
    const listed = await (await admin("/destinations")).json();
    assert.equal(listed.destinations.length, 1);
    const [{ state, until, inFlight, ...sink }] = listed.destinations;
    assert.deepEqual({ ...sink, disabled: { ...sink.disabled, at: 0 } }, {
      name: "sink",
      type: "http",
      enabled: true,
      disabled: { at: 0, reason: "HTTP 410: gone" },
      paused: null,
      queued: 1,
    });
    // The worker's view, when the relay passes it to the admin API.
    if (state !== undefined) {
      assert.deepEqual({ state, until, inFlight }, {
        state: "disabled",
        until: null,
        inFlight: 0,
      });
    }
    assert.equal(typeof sink.disabled.at, "number");
    gone = false;
    const enabled = await admin("/destinations/sink/enable", { method: "POST" });
    assert.deepEqual(await enabled.json(), { name: "sink", enabled: true, changed: true });
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    const again = await admin("/destinations/sink/enable", { method: "POST" });
    assert.equal((await again.json()).changed, false);
    const unknown = await admin("/destinations/nosuch/enable", { method: "POST" });
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { ok: false, error: 'No destination "nosuch"' });
  } finally {
    await close();
  }
});

Deno.test("the admin token comes from ${VAR} or token_file, and is at least 16 characters", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/token`, `${TOKEN}-from-file\n`);
  const base = {
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: {},
    routes: [],
  };
  const fromFile = parseConfig(
    JSON.stringify({ ...base, admin: { token_file: `${dir}/token` } }),
    "test",
  );
  assert.deepEqual(fromFile.admin, {
    hostname: "127.0.0.1",
    port: 8081,
    token: `${TOKEN}-from-file`,
    console: true,
  });
  const fromEnv = parseConfig(
    JSON.stringify({ ...base, admin: { port: 9000, token: "${ADMIN_TOKEN}" } }),
    "test",
    { env: (name) => name === "ADMIN_TOKEN" ? `${TOKEN}-from-env` : undefined },
  );
  assert.equal(fromEnv.admin?.token, `${TOKEN}-from-env`);
  assert.throws(
    () => parseConfig(JSON.stringify({ ...base, admin: { token: "short" } }), "test"),
    /admin\.token: expected a token of at least 16 characters/,
  );
});

Deno.test("a reload replaces the admin token", async () => {
  const { relay, admin, close, dir, adminStatus } = await adminRelay(() => ({ status: 200 }));
  try {
    const next = testConfig(dir, {
      admin: { port: 0, token: `${TOKEN}-rotated` },
      destinations: { sink: { type: "http", url: "http://127.0.0.1:9/" } },
      routes: [{ name: "all", events: "*", to: ["sink"] }],
    });
    await relay.reload(next);
    assert.equal(await adminStatus("/destinations"), 401);
    const rotated = await admin("/destinations", {}, `${TOKEN}-rotated`);
    assert.equal(rotated.status, 200);
    await rotated.body?.cancel();
  } finally {
    await close();
  }
});

Deno.test("the admin API pauses and resumes a destination, and the worker re-reads it at once", async () => {
  const { relay, admin, close, sink } = await adminRelay(() => ({ status: 200 }));
  try {
    const pause = await admin("/destinations/sink/pause", { method: "POST" });
    assert.deepEqual(await pause.json(), { name: "sink", paused: true, changed: true });
    assert.equal(relay.dispatcher.isPaused("sink"), true, "the worker knows before the answer");
    const again = await admin("/destinations/sink/pause", { method: "POST" });
    assert.deepEqual(await again.json(), { name: "sink", paused: true, changed: false });
    const [listed] = (await (await admin("/destinations")).json()).destinations;
    assert.equal(typeof listed.paused.at, "number");
    assert.deepEqual(Object.keys(listed.paused), ["at"]);
    assert.deepEqual((await relay.store.pausedDestinations()).map((p) => p.name), ["sink"]);

    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await eventually(async () => (await relay.store.listDeliveries({})).length === 1);
    const resume = await admin("/destinations/sink/resume", { method: "POST" });
    assert.deepEqual(await resume.json(), { name: "sink", paused: false, changed: true });
    assert.equal(relay.dispatcher.isPaused("sink"), false);
    await sink.waitFor(1);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    const [after] = (await (await admin("/destinations")).json()).destinations;
    assert.equal(after.paused, null);
    const twice = await admin("/destinations/sink/resume", { method: "POST" });
    assert.equal((await twice.json()).changed, false);
    for (const action of ["pause", "resume"]) {
      const unknown = await admin(`/destinations/nosuch/${action}`, { method: "POST" });
      assert.equal(unknown.status, 404);
      assert.deepEqual(await unknown.json(), { ok: false, error: 'No destination "nosuch"' });
      const get = await admin(`/destinations/sink/${action}`);
      assert.equal(get.status, 405);
      await get.body?.cancel();
    }
  } finally {
    await close();
  }
});

Deno.test("GET /events narrows by type, status, destination, deal, influencer and time, and pages with next", async () => {
  const { relay, admin, adminStatus, close } = await adminRelay(() => ({ status: 200 }));
  try {
    const sent: string[] = [];
    for (
      const [n, deal, name] of [[1, "deal-a", "Anna Lee"], [2, "deal-b", "Bob Ray"], [
        3,
        "deal-a",
        "Cara Anna",
      ]] as const
    ) {
      const body = freshSample("product_sent", {
        test_nonce: n,
        deal_id: deal,
        deal_info: { full_name: name },
      });
      sent.push(String((await post(relay.url, "/hooks/product_sent", body)).json["id"]));
    }
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 3
    );
    const list = async (query: string) => {
      const answer = await (await admin(`/events?${query}`)).json();
      return { ids: answer.events.map((e: { id: string }) => e.id), next: answer.next };
    };
    const [first, second, third] = sent;
    assert.deepEqual(await list(""), { ids: [third, second, first], next: null });
    assert.deepEqual((await list("deal=deal-a")).ids, [third, first]);
    assert.deepEqual((await list("influencer=ANNA")).ids, [third, first]);
    assert.deepEqual((await list("influencer=bob&deal=deal-a")).ids, []);
    assert.deepEqual((await list("type=new_max_bid")).ids, []);
    assert.deepEqual((await list("status=delivered&destination=sink")).ids, [third, second, first]);
    assert.deepEqual((await list("status=dead")).ids, []);
    assert.deepEqual((await list("destination=other")).ids, []);
    const secondAt = (await relay.store.getEvent(second!))!.receivedAt;
    assert.deepEqual((await list(`since=${secondAt}`)).ids.includes(first), false);
    assert.deepEqual(
      (await list(`until=${new Date(secondAt).toISOString()}`)).ids.includes(second),
      false,
      "until is exclusive, and takes an ISO date too",
    );

    const page = await list("limit=2");
    assert.deepEqual(page.ids, [third, second]);
    assert.match(page.next, /^\d+\.evt_/);
    const rest = await list(`limit=2&after=${encodeURIComponent(page.next)}`);
    assert.deepEqual(rest, { ids: [first], next: null });
    const full = await list(`limit=1&after=${encodeURIComponent(page.next)}`);
    assert.deepEqual(full.ids, [first]);
    assert.notEqual(full.next, null, "a full page says where the next one starts");
    assert.deepEqual(await list(`after=${encodeURIComponent(full.next)}`), { ids: [], next: null });

    for (const bad of ["after=nope", "status=lost", "since=yesterday", "until=soon"]) {
      assert.equal(await adminStatus(`/events?${bad}`), 400, bad);
    }
  } finally {
    await close();
  }
});

Deno.test("GET /deliveries pages newest first with order=newest and after, and keeps its oldest-first list", async () => {
  const { relay, admin, adminStatus, close } = await adminRelay(() => ({ status: 200 }));
  try {
    for (const n of [1, 2, 3]) {
      await post(relay.url, "/hooks/product_sent", freshSample("product_sent", { test_nonce: n }));
    }
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 3
    );
    const oldest = (await (await admin("/deliveries")).json()).deliveries.map((d: { id: string }) =>
      d.id
    );
    const newest = [...oldest].reverse();
    const page = await (await admin("/deliveries?order=newest&limit=2")).json();
    assert.deepEqual(page.deliveries.map((d: { id: string }) => d.id), newest.slice(0, 2));
    assert.match(page.next, /^\d+\.dlv_/);
    const rest = await (await admin(
      `/deliveries?limit=2&after=${encodeURIComponent(page.next)}&status=delivered`,
    )).json();
    assert.deepEqual(rest.deliveries.map((d: { id: string }) => d.id), newest.slice(2));
    assert.equal(rest.next, null);
    assert.equal(await adminStatus("/deliveries?after=x"), 400);
    assert.equal(await adminStatus("/deliveries?order=sideways"), 400);
  } finally {
    await close();
  }
});
