// What holds across source types: each has a test file running the source contract
// (tests/source_contract.ts); a bad source in the config, or a route naming a source that is not
// configured, is refused at its JSON path; source secrets are marked (and may come from files);
// metric labels stay one per source; a digest of source events reads well; `check` shows them.

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { ConfigError, configSecrets, parseConfig } from "../src/config.ts";
import { builtInDigestMessage } from "../src/digest_message.ts";
import { sourceEventType, sourceOf } from "../src/events.ts";
import { metricType } from "../src/metrics.ts";
import { SOURCE_TYPES } from "../src/sources.ts";
import { runCli, SECRET, testConfig, testRelay } from "./helpers.ts";

Deno.test("every source type has its own test file, and it runs the source contract", async () => {
  for (const { type } of SOURCE_TYPES) {
    const file = new URL(`./source_${type}_test.ts`, import.meta.url);
    const text = await Deno.readTextFile(file).catch(() => "");
    assert.match(text, /sourceContract\(\{\s*type: "/, `tests/source_${type}_test.ts`);
    assert.ok(text.includes(`type: "${type}"`), `tests/source_${type}_test.ts names ${type}`);
  }
});

/** The problems of a config with these sources and routes: parsed, then compiled. */
function problems(
  sources: unknown,
  routes: unknown[] = [],
  readFile?: (path: string) => string,
): string[] {
  try {
    const config = parseConfig(
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        sources,
        destinations: { log: { type: "console" } },
        routes,
      }),
      "test config",
      { env: () => undefined, ...(readFile ? { readFile } : {}) },
    );
    compileConfig(config, "test config", { write: () => {} });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

Deno.test("a bad source is refused at its JSON path, never repeating a secret", () => {
  assert.deepEqual(problems({ shop: { type: "shopfy", secrets: ["top-secret-1"] } }), [
    'sources.shop.type: expected one of "shopify", "standard_webhooks", "hmac"',
  ]);
  assert.deepEqual(problems({ shop: { type: "shopify" } }), [
    "sources.shop.secrets: expected array, received undefined",
  ]);
  assert.deepEqual(problems({ shop: { type: "shopify", secrets: ["", ""] } }), [
    'sources.shop.secrets: expected at least one non-empty secret (or "enabled": false until ' +
    "there is one)",
  ]);
  // A disabled source needs no secret yet: its variables may not be set.
  assert.deepEqual(problems({ shop: { type: "shopify", enabled: "", secrets: [""] } }), []);
  assert.deepEqual(problems({ shop: { type: "shopify", secrets: ["a1", "b2", "c3"] } }), [
    "sources.shop.secrets: expected one or two secrets (two during a rotation)",
  ]);
  assert.deepEqual(problems({ shop: { type: "shopify", secrets: ["   "] } }), [
    "sources.shop.secrets[0]: expected a secret, got only whitespace",
  ]);
  const notWhsec = problems({ billing: { type: "standard_webhooks", secrets: ["top-secret-1"] } });
  assert.deepEqual(notWhsec, [
    'sources.billing.secrets: expected secrets of "whsec_" followed by base64, as the sender ' +
    "shows them",
  ]);
  assert.deepEqual(problems({ Shop: { type: "shopify", secrets: ["a1"] } }), [
    'sources.Shop: expected a source name of lowercase letters, digits, "_" and "-"',
  ]);
  assert.deepEqual(problems({ hero_relay: { type: "shopify", secrets: ["a1"] } }), [
    `sources.hero_relay: "hero_relay" names the relay's own events; choose another source name`,
  ]);
  assert.deepEqual(problems({ shop: { type: "shopify", secrets: ["a1"], topic: "x" } }), [
    'sources.shop.topic: unknown key "topic"',
  ]);
});

Deno.test("a route naming a source that is not configured is refused at its JSON path", () => {
  const sources = { shop: { type: "shopify", secrets: ["a1"] } };
  const route = (events: string[]) => [{ name: "r", events, to: ["log"] }];
  assert.deepEqual(problems(sources, route(["new_influencer_order", "crm.contact_created"])), [
    'routes[0].events[1]: "crm.contact_created" names source "crm", which is not configured ' +
    'under "sources" (configured: "shop")',
  ]);
  assert.deepEqual(problems({}, route(["crm.*"])), [
    'routes[0].events[0]: "crm.*" names source "crm", which is not configured under "sources" ' +
    "(configured: none)",
  ]);
  assert.deepEqual(problems(sources, route(["shop.Orders/Create"])), [
    'routes[0].events[0]: "shop.Orders/Create": expected "shop." followed by a topic of ' +
    'lowercase letters, digits and "_" (a sender\'s "/" and "." become "_"), or "*"',
  ]);
  assert.deepEqual(problems(sources, route(["shop.orders_create", "shop.*", "*"])), []);
});

Deno.test("source secrets are marked as secrets, and secrets_files reads them from files", () => {
  const config = parseConfig(
    JSON.stringify({
      influencer_hero: { signing_secrets: [SECRET] },
      sources: {
        shop: { type: "shopify", secrets_files: ["/run/secrets/shop", "/run/secrets/old"] },
        github: {
          type: "hmac",
          secrets: ["github-inline-secret"],
          signature_header: "X-Hub-Signature-256",
          prefix: "sha256=",
        },
      },
      destinations: {},
      routes: [],
    }),
    "test config",
    { env: () => undefined, readFile: (path) => `${path.slice(13)}-secret-from-file\n` },
  );
  assert.deepEqual(config.sources.shop!.secrets, ["shop-secret-from-file", "old-secret-from-file"]);
  const marked = configSecrets(config).map((s) => s.value);
  for (const value of ["shop-secret-from-file", "old-secret-from-file", "github-inline-secret"]) {
    assert.ok(marked.includes(value), `${value} is marked`);
  }
});

Deno.test("a source event's type is <source>.<topic>, its metric label one per source", () => {
  assert.equal(sourceEventType("shop", "orders/create"), "shop.orders_create");
  assert.equal(sourceEventType("pay", "payment_intent.succeeded"), "pay.payment_intent_succeeded");
  assert.equal(sourceEventType("aff", "NEW_CONVERSION"), "aff.new_conversion");
  assert.equal(sourceEventType("aff", null), "aff.unknown");
  assert.equal(sourceEventType("aff", "x".repeat(64)), `aff.${"x".repeat(64)}`);
  // Longer topics keep 55 characters and a hash of the whole: two that start alike stay apart.
  const long = (end: string) => sourceEventType("aff", "x".repeat(70) + end);
  assert.match(long("a"), /^aff\.x{55}_[0-9a-f]{8}$/);
  assert.notEqual(long("a"), long("b"));
  assert.equal(long("a"), long("a"));
  assert.equal(sourceOf(long("a")), "aff", "a long topic's type is still a source event type");
  assert.equal(metricType("shop.orders_create"), "shop.*");
  assert.equal(metricType("shop.*"), "shop.*");
  assert.equal(metricType("new_influencer_order"), "new_influencer_order");
  assert.equal(metricType("Shop.Orders"), "other");
});

Deno.test("a digest of source events counts them and tells each in a line", () => {
  const event = (n: number) => ({
    name: `#100${n}`,
    total_price: "10.00",
    api_token: "never-shown-token",
    event: { id: `evt_${n}`, type: "shop.orders_create", received_at: 1 },
  });
  const message = builtInDigestMessage({
    digest: { start_ms: 0, end_ms: 3_600_000, timezone: "UTC" },
    events: [event(1), event(2)],
    counts: { "shop.orders_create": 2 },
    sums: { revenue: {}, commission: {}, payouts: {} },
  });
  assert.match(message.title, /2 shop\.orders_create events/);
  assert.match(message.text, /name: #1001 · total_price: 10\.00/);
  assert.doesNotMatch(JSON.stringify(message), /never-shown-token/);
});

Deno.test("check lists each source's URL, and routes taking <source>.* in the routing table", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: `${dir}/relay.db` },
        sources: {
          shop: { type: "shopify", secrets: ["shop-secret-for-check"] },
          later: { type: "shopify", enabled: false, secrets: [] },
        },
        destinations: { log: { type: "console" }, crm: { type: "console" } },
        routes: [
          { name: "orders", events: ["shop.orders_create"], to: ["crm"] },
          { name: "shop", events: "shop.*", to: ["log"] },
        ],
      }),
      { mode: 0o600 },
    );
    const { code, stdout, stderr } = await runCli(["check", "--config", path]);
    assert.equal(code, 0, stderr);
    assert.ok(
      stdout.includes("Sources:\n  shop (shopify) at POST /sources/shop, 1 secret (values hidden)"),
      stdout,
    );
    assert.ok(
      stdout.includes("  later (shopify) disabled: POST /sources/later answers 404"),
      stdout,
    );
    assert.match(stdout, /shop\.orders_create +orders → crm, shop → log\n/);
    assert.doesNotMatch(stdout + stderr, /shop-secret-for-check/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a source's body that does not arrive within the body timeout is answered 408", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    listen: { hostname: "127.0.0.1", port: 0, body_timeout: "200ms" },
    sources: { shop: { type: "shopify", secrets: ["shop-secret-slow"] } },
    destinations: { out: { type: "console" } },
    routes: [],
  }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(relay.url).port) });
  try {
    const head =
      "POST /sources/shop HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n" +
      "x-shopify-hmac-sha256: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\ncontent-length: 100\r\n\r\n";
    await conn.write(new TextEncoder().encode(head + '{"id": 1'));
    const answer = new Uint8Array(4096);
    const n = await conn.read(answer);
    assert.match(new TextDecoder().decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 408 /);
    assert.equal((await relay.store.searchEvents({ limit: 10 })).length, 0);
  } finally {
    conn.close();
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("render shows a source event's built-in message without the sender's secret set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        influencer_hero: { signing_secrets: ["${IH_SECRET_NOT_SET}"] },
        store: { sqlite: `${dir}/relay.db` },
        sources: { shop: { type: "shopify", secrets: ["${SHOP_SECRET_NOT_SET}"] } },
        destinations: { log: { type: "console" } },
        routes: [{ name: "shop", events: ["shop.*"], to: ["log"] }],
      }),
      { mode: 0o600 },
    );
    await Deno.writeTextFile(
      `${dir}/order.json`,
      JSON.stringify({ name: "#1001", total_price: "59.00", api_token: "never-rendered-token" }),
    );
    const { code, stdout, stderr } = await runCli([
      "render",
      "shop.orders_create",
      "--config",
      path,
      "--payload",
      `${dir}/order.json`,
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /shop: orders_create\nname: #1001\ntotal_price: 59\.00\n/);
    assert.doesNotMatch(stdout, /never-rendered-token/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a disabled source is not received: its URL answers 404 and nothing is stored", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    sources: {
      shop: { type: "shopify", enabled: false, secrets: [] },
      billing: { type: "shopify", secrets: ["billing-secret"] },
    },
    destinations: { out: { type: "console" } },
    routes: [{ name: "shop", events: ["shop.*"], to: ["out"] }],
  }));
  try {
    const response = await fetch(`${relay.url}/sources/shop`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-shopify-topic": "orders/create" },
      body: "{}",
    });
    assert.equal(response.status, 404);
    assert.match((await response.json()).error, /Unknown source/);
    assert.equal((await relay.store.searchEvents({ limit: 10 })).length, 0);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
