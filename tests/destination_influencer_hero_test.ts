// Influencer Hero affiliate tracking: a fake tracking API on 127.0.0.1 that checks X-API-KEY, the
// path and the JSON body's required fields and types the way a FastAPI service does (401
// `{"detail": ...}` for a bad key, 400/422 with a reason for a bad body, 429 with Retry-After),
// and counts each referral's order_id once; the destination built from config as the relay
// builds it; the schema's rules; and the README's Shopify recipe.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import { parseConfig } from "../src/config.ts";
import type { DeliveryRequest, Destination } from "../src/destination.ts";
import { compileCondition } from "../src/template.ts";
import {
  compiledDestination,
  deliveryOf,
  destinationConfigError,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { createHmac } from "node:crypto";
import {
  type Answer,
  eventually,
  FakeServer,
  type Received,
  SECRET,
  testConfig,
  testRelay,
} from "./helpers.ts";

const KEY = "ih_live_4f9a2b7c1d8e";

const REFERRAL_PATH = "/v1/crm/new_influencer_referral";
const CLICK_PATH = "/v1/crm/new_influencer_click";

/** A FastAPI validation error: one `{loc, msg, type}` per refused field. */
function invalid(field: string, msg: string, type: string): Answer {
  return jsonAnswer(422, { detail: [{ loc: ["body", field], msg, type }] });
}

/** The tracking API: referrals counted by order_id, clicks summed by lookup key. */
class FakeInfluencerHero {
  referrals = new Map<string, Json>();
  clicks = new Map<string, number>();
  limited = false;
  server: FakeServer;

  constructor() {
    this.server = new FakeServer((request) => this.#answer(request));
  }

  get url(): string {
    return this.server.url;
  }

  get received(): Received[] {
    return this.server.received;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  #answer(request: Received): Answer {
    if (request.headers.get("x-api-key") !== KEY) {
      return jsonAnswer(401, { detail: "Invalid API key" });
    }
    if (this.limited) {
      return jsonAnswer(429, { detail: "Rate limit exceeded" }, { "retry-after": "30" });
    }
    if (
      request.method !== "POST" || (request.path !== REFERRAL_PATH && request.path !== CLICK_PATH)
    ) {
      return jsonAnswer(404, { detail: "Not Found" });
    }
    let body: Json;
    try {
      body = JSON.parse(request.body);
    } catch {
      return invalid("body", "JSON decode error", "json_invalid");
    }
    const lookups = ["collab_id", "deal_id", "influencer_handle"].filter((k) => k in body);
    if (lookups.length !== 1) {
      return jsonAnswer(400, {
        detail: "Provide exactly one of collab_id, deal_id or influencer_handle",
      });
    }
    const lookup = lookups[0]!;
    if (typeof body[lookup] !== "string" || body[lookup] === "") {
      return invalid(lookup, "field required", "missing");
    }
    if (body.currency !== undefined && !/^[A-Z]{3}$/.test(body.currency)) {
      return invalid("currency", "currency must be a 3-letter ISO 4217 code", "value_error");
    }
    if (request.path === CLICK_PATH) {
      if (!Number.isInteger(body.increase_clicks) || body.increase_clicks < 1) {
        return invalid("increase_clicks", "ensure this value is greater than or equal to 1", "ge");
      }
      const key = `${lookup}:${body[lookup]}`;
      this.clicks.set(key, (this.clicks.get(key) ?? 0) + body.increase_clicks);
      return jsonAnswer(200, { status: "success", message: "Click recorded" });
    }
    for (const field of ["order_id", "order_platform"]) {
      if (typeof body[field] !== "string") return invalid(field, "field required", "missing");
    }
    for (const field of ["order_revenue", "order_commission"]) {
      const value = body[field];
      if (value === undefined && field === "order_commission") continue;
      if (typeof value !== "number") {
        return invalid(field, "value is not a valid float", "type_error.float");
      }
    }
    // A repeated order is success, counted once.
    if (!this.referrals.has(body.order_id)) this.referrals.set(body.order_id, body);
    return jsonAnswer(200, { status: "success", message: "Referral recorded" });
  }
}

/** The relay's way: parse the config, compile it, take destination "ih". */
function build(entry: Record<string, unknown>): Destination {
  return compiledDestination("ih", entry).destination;
}

/** The problems `check` would list for one destination entry. */
function problems(entry: Record<string, unknown>): string[] {
  return destinationConfigError("ih", entry)?.problems ?? [];
}

const ORDER_FIELDS = {
  influencer_handle: "{{ deal_info.deal_name }}",
  order_id: "{{ order_information.order_id }}",
  order_revenue: "{{ order_information.order_revenue }}",
  order_commission: "{{ order_information.paid_commission }}",
  currency: "{{ order_information.order_currency }}",
  order_platform: "{{ order_information.platform }}",
};

function referral(base: string, fields: Record<string, string> = ORDER_FIELDS) {
  return { type: "influencer_hero", action: "referral", api_key: KEY, api_url: base, fields };
}

destinationContract({
  type: "influencer_hero",
  config: (base) => ({
    type: "influencer_hero",
    action: "referral",
    api_key: KEY,
    api_url: base,
    // Every sample event, and one of an unknown type, must make a request.
    fields: {
      influencer_handle: "{{ deal_info.deal_name | default: 'therock' }}",
      order_id: "{{ event.id }}",
      order_revenue: "{{ order_information.order_revenue | default: 0 }}",
      order_platform: "shopify",
    },
  }),
  secrets: [KEY],
  json: true,
  hostile(rendered) {
    // The message is not part of the body: nothing of it can reach the API.
    assert.doesNotMatch(rendered.body, /@everyone|<script>/);
  },
  service: {
    ok: jsonAnswer(200, { status: "success", message: "Referral recorded" }),
    gone: jsonAnswer(401, { detail: "Invalid API key" }),
    rateLimited: {
      answer: jsonAnswer(429, { detail: "Rate limit exceeded" }, { "retry-after": "30" }),
      waitMs: 30_000,
    },
    serverError: jsonAnswer(500, { detail: "Internal Server Error" }),
    rejected: jsonAnswer(422, {
      detail: [{ loc: ["body", "order_revenue"], msg: "value is not a valid float" }],
    }),
  },
});

Deno.test("a new_influencer_order becomes a referral with its fields templated from the payload", async () => {
  const api = new FakeInfluencerHero();
  try {
    const outcome = await build(referral(api.url)).send(
      deliveryOf("new_influencer_order"),
      sendContext(),
    );
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const [request] = api.received;
    assert.equal(request!.path, REFERRAL_PATH);
    assert.equal(request!.headers.get("x-api-key"), KEY);
    assert.equal(request!.headers.get("content-type"), "application/json");
    // Numbers as JSON numbers, the rest as strings, in the config's order.
    assert.equal(
      request!.body,
      JSON.stringify({
        influencer_handle: "therock",
        order_id: "5123456789",
        order_revenue: 149.99,
        order_commission: 15,
        currency: "USD",
        order_platform: "shopify",
      }),
    );
    assert.equal(api.referrals.size, 1);
  } finally {
    await api.close();
  }
});

Deno.test("a click counts one by default, or the number its template renders", async () => {
  const api = new FakeInfluencerHero();
  try {
    const click = (fields: Record<string, string>) =>
      build({ type: "influencer_hero", action: "click", api_key: KEY, api_url: api.url, fields });
    const delivery = deliveryOf("update_custom_link");
    const once = await click({ deal_id: "{{ deal_id }}", country_code: "US" })
      .send(delivery, sendContext());
    assert.deepEqual(once, { kind: "delivered", httpStatus: 200 });
    assert.equal(api.received[0]!.path, CLICK_PATH);
    assert.deepEqual(JSON.parse(api.received[0]!.body), {
      deal_id: "deal321",
      country_code: "US",
      increase_clicks: 1,
    });
    const three = await click({ deal_id: "{{ deal_id }}", increase_clicks: "{{ 1 | plus: 2 }}" })
      .send(delivery, sendContext());
    assert.equal(three.kind, "delivered");
    assert.equal(JSON.parse(api.received[1]!.body).increase_clicks, 3);
    assert.equal(api.clicks.get("deal_id:deal321"), 4);
    // A field the relay does not know passes through as a string, digits or not.
    const extra = await click({ deal_id: "{{ deal_id }}", utm_id: "{{ 40 | plus: 2 }}" })
      .send(delivery, sendContext());
    assert.equal(extra.kind, "delivered");
    assert.deepEqual(JSON.parse(api.received[2]!.body), {
      deal_id: "deal321",
      utm_id: "42",
      increase_clicks: 1,
    });
    const zero = await click({ deal_id: "{{ deal_id }}", increase_clicks: "0" })
      .send(delivery, sendContext());
    assert.deepEqual(zero, {
      kind: "failed",
      httpStatus: null,
      error: 'fields.increase_clicks rendered "0", not a whole number >= 1: not sent',
    });
    assert.equal(api.received.length, 3);
  } finally {
    await api.close();
  }
});

Deno.test("a repeated order_id is delivered again and counted once", async () => {
  const api = new FakeInfluencerHero();
  try {
    const destination = build(referral(api.url));
    const delivery = deliveryOf("new_influencer_order");
    const first = await destination.send(delivery, sendContext());
    const again = await destination.send({ ...delivery, attempt: 2 }, sendContext());
    assert.equal(first.kind, "delivered");
    assert.equal(again.kind, "delivered");
    assert.equal(api.received.length, 2);
    assert.deepEqual([...api.referrals.keys()], ["5123456789"]);
  } finally {
    await api.close();
  }
});

Deno.test("a field that renders empty or not a number fails the delivery unsent, naming the field", async () => {
  const api = new FakeInfluencerHero();
  try {
    const destination = build(referral(api.url));
    // A payout request has no order_information: order_id, order_revenue … render empty.
    const payout = deliveryOf("new_payout_request");
    const outcome = await destination.send(payout, sendContext());
    assert.equal(outcome.kind, "failed");
    assert.equal(outcome.httpStatus, null);
    assert.match(
      (outcome as { error: string }).error,
      /^fields\.order_id rendered empty, and the referral needs it: not sent$/,
    );
    const rendered = destination.render(payout);
    assert.equal(rendered.method, "ERROR");
    assert.match(rendered.body, /fields\.order_id rendered empty/);

    const noRevenue = structuredClone(deliveryOf("new_influencer_order").payload) as Json;
    noRevenue.order_information.order_revenue = "n/a";
    const text = await destination.send(
      deliveryOf("new_influencer_order", { payload: noRevenue }),
      sendContext(),
    );
    assert.equal(text.kind, "failed");
    assert.match(
      (text as { error: string }).error,
      /^fields\.order_revenue did not render a number: not sent$/,
    );

    const noHandle = structuredClone(deliveryOf("new_influencer_order").payload) as Json;
    delete noHandle.deal_info;
    const lookup = await destination.send(
      deliveryOf("new_influencer_order", { payload: noHandle }),
      sendContext(),
    );
    assert.match(
      (lookup as { error: string }).error,
      /fields\.influencer_handle rendered empty, and the referral needs it/,
    );
    assert.equal(api.received.length, 0);
  } finally {
    await api.close();
  }
});

Deno.test("the API's answers: a bad key disables, 429 waits Retry-After, a refused body fails with its reason", async () => {
  const api = new FakeInfluencerHero();
  try {
    const delivery = deliveryOf("new_influencer_order");
    const badKey = await build({ ...referral(api.url), api_key: "ih_live_wrong" }).send(
      delivery,
      sendContext(),
    );
    assert.deepEqual(badKey, {
      kind: "gone",
      httpStatus: 401,
      error: "HTTP 401: Invalid API key",
    });
    const refused = await build(referral(api.url, { ...ORDER_FIELDS, currency: "dollars" }))
      .send(delivery, sendContext());
    assert.deepEqual(refused, {
      kind: "failed",
      httpStatus: 422,
      error: "HTTP 422: currency: currency must be a 3-letter ISO 4217 code",
    });
    const twoKeys = await build({
      type: "http",
      url: `${api.url}${REFERRAL_PATH}`,
      headers: { "x-api-key": KEY },
      body: '{"deal_id":"a","collab_id":"b"}',
    }).send(delivery, sendContext());
    assert.equal(twoKeys.httpStatus, 400, "the fake refuses two lookup keys");
    api.limited = true;
    const now = Date.now();
    const limited = await build(referral(api.url)).send(delivery, sendContext(() => now));
    assert.deepEqual(limited, {
      kind: "retry",
      httpStatus: 429,
      error: 'HTTP 429: {"detail":"Rate limit exceeded"}',
      retryAfterMs: 30_000,
    });
    assert.equal(api.referrals.size, 0);
  } finally {
    await api.close();
  }
});

Deno.test("render() shows the body and the path, the API key masked", () => {
  const destination = build(referral("https://api.influencer-hero.com"));
  const rendered = destination.render(deliveryOf("new_influencer_order"));
  assert.equal(rendered.method, "POST");
  assert.equal(rendered.url, `https://api.influencer-hero.com${REFERRAL_PATH}`);
  assert.equal(rendered.headers["x-api-key"], "***");
  assert.equal(JSON.parse(rendered.body).order_revenue, 149.99);
  assert.doesNotMatch(JSON.stringify(rendered), new RegExp(KEY));
  // Without api_url: the public API.
  const { api_url: _, ...publicApi } = referral("");
  assert.equal(
    build(publicApi).render(deliveryOf("new_influencer_order")).url,
    `https://api.influencer-hero.com${REFERRAL_PATH}`,
  );
});

Deno.test("a field template that does not compile is a config problem at its path", () => {
  const found = problems(referral("https://x.example", { ...ORDER_FIELDS, order_id: "{% if %}" }));
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0]!, /^destinations\.ih\.fields\.order_id: /);
});

Deno.test("the schema wants exactly one lookup key and a referral's required fields", () => {
  const { influencer_handle: _, ...noLookup } = ORDER_FIELDS;
  assert.deepEqual(problems(referral("https://x.example", noLookup)), [
    'destinations.ih.fields: expected one lookup key naming the influencer: "collab_id", ' +
    '"deal_id" or "influencer_handle"',
  ]);
  assert.deepEqual(
    problems(referral("https://x.example", { deal_id: "{{ deal_id }}", ...ORDER_FIELDS })),
    [
      'destinations.ih.fields.influencer_handle: expected one lookup key, got "deal_id" and ' +
      '"influencer_handle": keep only one',
    ],
  );
  const { order_id: __, ...noOrder } = ORDER_FIELDS;
  assert.deepEqual(problems(referral("https://x.example", noOrder)), [
    'destinations.ih.fields.order_id: expected a template: a referral needs "order_id"',
  ]);
  assert.deepEqual(
    problems({
      type: "influencer_hero",
      action: "click",
      api_key: KEY,
      fields: { deal_id: "{{ deal_id }}", order_id: "{{ x }}", "bad name": "x" },
    }),
    [
      'destinations.ih.fields.order_id: "order_id" belongs to a referral, and "action" is "click"',
      'destinations.ih.fields["bad name"]: expected a field name such as "order_id", got "bad name"',
    ],
  );
  assert.deepEqual(problems({ ...referral("https://x.example"), api_key: "" }), [
    "destinations.ih.api_key: expected the API key, got an empty string",
  ]);
  // A disabled destination may be incomplete, as its variables are not set.
  assert.deepEqual(
    problems({ type: "influencer_hero", enabled: "", action: "referral", api_key: "", fields: {} }),
    [],
  );
});

Deno.test("a field template reading the message makes the destination render messages", () => {
  const runtime = (fields: Record<string, string>) =>
    compiledDestination("ih", referral("https://x.example", fields));
  assert.equal(runtime(ORDER_FIELDS).rendersMessages, false);
  assert.equal(runtime({ ...ORDER_FIELDS, note: "{{ message.title }}" }).rendersMessages, true);
  assert.equal(runtime(ORDER_FIELDS).adaptive, true, "no pace: the lane finds its concurrency");
});

/** The README's Shopify recipe, the ```json block that routes "shop.orders_create". */
async function readmeRecipe(): Promise<Json> {
  const text = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const block = [...text.matchAll(/^```json\n([\s\S]*?)^```$/gm)]
    .map((m) => m[1]!).find((b) => b.includes('"shop.orders_create"'));
  assert.ok(block !== undefined, "README.md has the Shopify recipe");
  return JSON.parse(block);
}

/** A Shopify `orders/create` payload, as the shopify source will pass it on. */
function shopifyOrder(codes: string[]): Record<string, unknown> {
  return {
    id: 5_904_233_701_658,
    name: "#1042",
    total_price: "89.90",
    subtotal_price: "79.90",
    currency: "EUR",
    discount_codes: codes.map((code) => ({ code, amount: "10.00", type: "percentage" })),
    customer: { id: 7_123_456_789, email: "buyer@example.com", first_name: "Ana" },
  };
}

Deno.test("the README's Shopify recipe: its destination and route parse, and an order becomes a referral", async () => {
  const recipe = await readmeRecipe();
  // The route's condition and the templates on their own; the next test runs the whole recipe.
  assert.deepEqual(recipe.sources, {
    shop: { type: "shopify", secrets: ["${SHOPIFY_WEBHOOK_SECRET}"] },
  });
  const text = JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: recipe.destinations,
    routes: recipe.routes,
  });
  const env = (name: string) => name === "INFLUENCER_HERO_API_KEY" ? KEY : undefined;
  const config = parseConfig(text, "recipe", { env });
  const [route] = config.routes;
  assert.deepEqual(route!.events, ["shop.orders_create"]);
  assert.deepEqual(route!.to, ["influencer-hero"]);
  const when = compileCondition(route!.when!);
  assert.equal(when(shopifyOrder(["FIT2024"])), true);
  assert.equal(when(shopifyOrder([])), false);

  const api = new FakeInfluencerHero();
  try {
    const entry = { ...recipe.destinations["influencer-hero"], api_key: KEY, api_url: api.url };
    const destination = build(entry);
    const order = (codes: string[]): DeliveryRequest =>
      deliveryOf("shop.orders_create", { payload: shopifyOrder(codes) });
    // A lower-case code typed by the buyer, after a code of no influencer.
    const outcome = await destination.send(order(["WELCOME5", "fit2024"]), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    assert.deepEqual(JSON.parse(api.received[0]!.body), {
      influencer_handle: "therock",
      order_id: "5904233701658",
      order_revenue: 89.9,
      currency: "EUR",
      order_platform: "shopify",
    });
    const jane = await destination.send(order(["JANE20"]), sendContext());
    assert.equal(jane.kind, "delivered");
    assert.equal(JSON.parse(api.received[1]!.body).influencer_handle, "janedoe");
    const nobody = await destination.send(order(["WELCOME5"]), sendContext());
    assert.equal(nobody.kind, "failed");
    assert.match((nobody as { error: string }).error, /fields\.influencer_handle rendered empty/);
    assert.equal(api.received.length, 2);
  } finally {
    await api.close();
  }
});

Deno.test("the README's Shopify recipe end to end: a signed orders/create becomes one referral", async () => {
  const recipe = await readmeRecipe();
  const shopSecret = "shpss_test-webhook-secret";
  const api = new FakeInfluencerHero();
  const dir = await Deno.makeTempDir();
  const destination = { ...recipe.destinations["influencer-hero"], api_key: KEY, api_url: api.url };
  const config = testConfig(dir, {
    sources: { shop: { ...recipe.sources.shop, secrets: [shopSecret] } },
    destinations: { "influencer-hero": destination },
    routes: recipe.routes,
  });
  const { relay, logs } = await testRelay(config);
  /** Posts an order as Shopify does: the base64 HMAC of the raw body, topic and webhook id. */
  const send = async (order: Record<string, unknown>, webhookId: string) => {
    const body = JSON.stringify(order);
    const response = await fetch(`${relay.url}/sources/shop`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": createHmac("sha256", shopSecret).update(body).digest("base64"),
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": webhookId,
        "x-shopify-shop-domain": "example.myshopify.com",
      },
      body,
    });
    return { status: response.status, json: await response.json() };
  };
  try {
    const first = await send(shopifyOrder(["fit2024"]), "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert.equal(first.status, 200);
    assert.equal(first.json.type, "shop.orders_create");
    // Shopify sends the same webhook again when our answer was slow: a duplicate, no new delivery.
    const again = await send(shopifyOrder(["fit2024"]), "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert.deepEqual([again.status, again.json.duplicate, again.json.id], [
      200,
      true,
      first.json.id,
    ]);
    // An order without a discount code is stored but routed nowhere.
    const plain = await send({ ...shopifyOrder([]), id: 5_904_233_701_659 }, "c1");
    assert.equal(plain.status, 200);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    assert.equal((await relay.store.listEvents({})).length, 2);
    assert.equal((await relay.store.listDeliveries({})).length, 1);
    assert.deepEqual(JSON.parse(api.received[0]!.body), {
      influencer_handle: "therock",
      order_id: "5904233701658",
      order_revenue: 89.9,
      currency: "EUR",
      order_platform: "shopify",
    });
    assert.equal(api.received[0]!.headers.get("x-api-key"), KEY);
    assert.equal(api.referrals.size, 1);
    // A forged order never reaches the store.
    const forged = await fetch(`${relay.url}/sources/shop`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": createHmac("sha256", "wrong").update("{}").digest("base64"),
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "forged",
      },
      body: "{}",
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
    assert.equal((await relay.store.listEvents({})).length, 2);
    const logged = logs.lines.join("\n");
    assert.ok(!logged.includes(shopSecret) && !logged.includes(KEY), "no secret logged");
  } finally {
    await relay.stop();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
