// The Shopify source: bodies signed as Shopify signs them (base64 HMAC-SHA256 of the raw bytes,
// computed here with node:crypto, apart from the relay's WebCrypto code), through the source
// contract; and the console's event type filter finding a Shopify event.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { eventQuery } from "../src/console/pages/events.tsx";
import { post, SECRET, testConfig, testRelay } from "./helpers.ts";
import { sourceContract } from "./source_contract.ts";

const SECRETS = [
  "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",
  "shpss_rotated_7a9c1e3b5d7f9a1c3e5b",
] as const;

function sign(body: string, secret: string): string {
  return createHmac("sha256", secret).update(new TextEncoder().encode(body)).digest("base64");
}

function order(n: number): string {
  return JSON.stringify({
    id: 820982911946154500 + n,
    name: `#${1000 + n}`,
    email: "jon@example.com",
    total_price: "199.65",
    currency: "USD",
    line_items: [{ title: "IPod Nano - 8GB", quantity: 1, price: "199.00" }],
  });
}

sourceContract({
  type: "shopify",
  name: "shop",
  entry: (secrets) => ({ type: "shopify", secrets }),
  secrets: SECRETS,
  topic: "orders/create",
  eventType: "shop.orders_create",
  body: (_topic, n) => order(n),
  sign: (body, { secret, topic, id, at }) => ({
    "X-Shopify-Hmac-Sha256": sign(body, secret),
    "X-Shopify-Topic": topic,
    "X-Shopify-Webhook-Id": id,
    "X-Shopify-Triggered-At": new Date(at).toISOString(),
    "X-Shopify-Shop-Domain": "example.myshopify.com",
    "X-Shopify-API-Version": "2025-07",
  }),
  signatureHeader: "X-Shopify-Hmac-Sha256",
  malformed: "not base64!",
  signsTimestamp: false,
});

Deno.test("shopify: the console's type filter finds shop.orders_create among other events", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    sources: { shop: { type: "shopify", secrets: [SECRETS[0]] } },
    destinations: { log: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["log"] }],
  }));
  try {
    for (const topic of ["orders/create", "products/update"]) {
      const body = order(1);
      const response = await fetch(`${relay.url}/sources/shop`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-shopify-hmac-sha256": sign(body, SECRETS[0]),
          "x-shopify-topic": topic,
          "x-shopify-webhook-id": `id-${topic}`,
        },
        body,
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    const hero = await post(relay.url, "/hooks/new_payout_request", { deal_id: "d1" }, {
      secret: SECRET,
    });
    assert.equal(hero.status, 200);
    const { query, problems } = eventQuery(new URLSearchParams("type=shop.orders_create"));
    assert.deepEqual(problems, []);
    const found = await relay.store.searchEvents({ ...query, limit: 10 });
    assert.deepEqual(found.map((e) => e.type), ["shop.orders_create"]);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shopify: the same webhook id from two sources is two events", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    sources: {
      shop: { type: "shopify", secrets: [SECRETS[0]] },
      outlet: { type: "shopify", secrets: [SECRETS[1]] },
    },
    destinations: { log: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["log"] }],
  }));
  try {
    const answers = [];
    for (const [name, secret] of [["shop", SECRETS[0]], ["outlet", SECRETS[1]]] as const) {
      const body = order(7);
      const response = await fetch(`${relay.url}/sources/${name}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-shopify-hmac-sha256": sign(body, secret),
          "x-shopify-topic": "orders/paid",
          "x-shopify-webhook-id": "same-id",
        },
        body,
      });
      answers.push(await response.json());
    }
    assert.deepEqual(answers.map((a) => [a.type, a.duplicate]), [
      ["shop.orders_paid", false],
      ["outlet.orders_paid", false],
    ]);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
