// The generic hmac source, configured as GitHub (X-Hub-Signature-256: sha256=<hex>, the event in
// X-GitHub-Event, the delivery in X-GitHub-Delivery) and as a Stripe-like sender
// (Stripe-Signature: t=<unix>,v1=<hex> over "<t>.<body>", the type and id in the body), each
// signed here with node:crypto and run through the source contract; then a Refersion-style base64
// signature with a separate timestamp header, and the config's refusals.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { parseConfig } from "../src/config.ts";
import { SECRET, testConfig, testRelay } from "./helpers.ts";
import { sourceContract } from "./source_contract.ts";

const SECRETS = ["github-webhook-secret-4c1d9a", "github-webhook-secret-rotated-77b2"] as const;

function hmac(content: string, secret: string, encoding: "hex" | "base64" = "hex"): string {
  return createHmac("sha256", secret).update(new TextEncoder().encode(content)).digest(encoding);
}

sourceContract({
  type: "hmac (GitHub)",
  name: "github",
  entry: (secrets) => ({
    type: "hmac",
    secrets,
    signature_header: "X-Hub-Signature-256",
    encoding: "hex",
    prefix: "sha256=",
    type_header: "X-GitHub-Event",
    id_header: "X-GitHub-Delivery",
  }),
  secrets: SECRETS,
  topic: "pull_request",
  eventType: "github.pull_request",
  body: (_topic, n) =>
    JSON.stringify({
      action: "opened",
      number: n,
      html_url: `https://github.com/acme/shop/pull/${n}`,
      repository: { full_name: "acme/shop" },
    }),
  sign: (body, { secret, topic, id }) => ({
    "X-Hub-Signature-256": `sha256=${hmac(body, secret)}`,
    "X-GitHub-Event": topic,
    "X-GitHub-Delivery": id,
    "User-Agent": "GitHub-Hookshot/044aadd",
  }),
  signatureHeader: "X-Hub-Signature-256",
  malformed: "sha1=0123",
  signsTimestamp: false,
});

const STRIPE_SECRETS = [
  "whsec_stripe_like_secret_one_91ab",
  "whsec_stripe_like_secret_two_c3d4",
] as const;

sourceContract({
  type: "hmac (Stripe-like)",
  name: "payments",
  entry: (secrets) => ({
    type: "hmac",
    secrets,
    signature_header: "Stripe-Signature",
    signature_keys: { timestamp: "t", signature: "v1" },
    signed_content: "{timestamp}.{body}",
    type_field: "type",
    id_field: "id",
  }),
  secrets: STRIPE_SECRETS,
  topic: "payment_intent.succeeded",
  eventType: "payments.payment_intent_succeeded",
  body: (topic, n) =>
    JSON.stringify({
      id: `evt_${n}_${crypto.randomUUID()}`,
      object: "event",
      type: topic,
      data: { object: { id: `pi_${n}`, amount: 2000, currency: "usd" } },
    }),
  sign: (body, { secret, at }) => {
    const t = Math.floor(at / 1000);
    return { "Stripe-Signature": `t=${t},v1=${hmac(`${t}.${body}`, secret)},v0=deadbeef` };
  },
  signatureHeader: "Stripe-Signature",
  malformed: "t=1700000000,v2=abc",
  signsTimestamp: true,
});

Deno.test("hmac: a base64 signature with its own timestamp header, and the body's id dedupes", async () => {
  const dir = await Deno.makeTempDir();
  const secret = "refersion-signing-secret-55e1";
  const { relay } = await testRelay(testConfig(dir, {
    sources: {
      affiliates: {
        type: "hmac",
        secrets: [secret],
        signature_header: "X-Signature",
        encoding: "base64",
        timestamp_header: "X-Timestamp",
        type_header: "Refersion-Topic",
        id_field: "id",
      },
    },
    destinations: { log: { type: "console" } },
    routes: [{ name: "all", events: ["affiliates.*"], to: ["log"] }],
  }));
  try {
    const send = async (body: string, t: number) => {
      const response = await fetch(`${relay.url}/sources/affiliates`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-signature": hmac(`${t}.${body}`, secret, "base64"),
          "x-timestamp": String(t),
          "refersion-topic": "NEW_CONVERSION",
        },
        body,
      });
      return { status: response.status, json: await response.json() };
    };
    const now = Math.floor(Date.now() / 1000);
    const first = await send('{"id": 987654321, "total": "59.00"}', now);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(first.json.type, "affiliates.new_conversion");
    // The same id in a differently written body, signed a second later: still one event.
    const again = await send('{"id":987654321,"total":"59.00"}', now + 1);
    assert.deepEqual([again.status, again.json.duplicate, again.json.id], [
      200,
      true,
      first.json.id,
    ]);
    const unsigned = await fetch(`${relay.url}/sources/affiliates`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-signature": hmac('{"id":1}', secret, "base64"),
      },
      body: '{"id":1}',
    });
    assert.equal(unsigned.status, 401);
    assert.match((await unsigned.json()).error, /Missing X-Timestamp/);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

function problems(sources: unknown, routes: unknown[] = []): string[] {
  try {
    parseConfig(
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        sources,
        destinations: {},
        routes,
      }),
      "test",
      { env: () => undefined },
    );
    return [];
  } catch (error) {
    return (error as { problems?: string[] }).problems ?? [(error as Error).message];
  }
}

Deno.test("hmac: a config that cannot be checked is refused at its JSON path", () => {
  const base = { type: "hmac", secrets: ["s3cret-value"], signature_header: "X-Sig" };
  assert.deepEqual(problems({ a: { ...base, signed_content: "{timestamp}.{body}" } }), [
    "sources.a.signed_content: {timestamp} needs timestamp_header or signature_keys.timestamp",
  ]);
  assert.deepEqual(
    problems({ a: { ...base, timestamp_header: "X-T", signed_content: "{body}" } }),
    [
      "sources.a.signed_content: expected {timestamp}: a timestamp that is not signed proves nothing",
    ],
  );
  assert.deepEqual(problems({ a: { ...base, type_header: "X-E", type_field: "type" } }), [
    'sources.a.type_field: set "type_header" or "type_field", not both',
  ]);
  assert.deepEqual(problems({ a: { ...base, signature_header: "X Sig" } }), [
    'sources.a.signature_header: expected a header name such as "X-Hub-Signature-256"',
  ]);
});
