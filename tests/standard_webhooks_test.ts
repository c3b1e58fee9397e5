// Outbound signing of the http destination, checked by a verifier written here from the Standard
// Webhooks specification with node:crypto (not by src/standard_webhooks.ts): the signed content
// is `id.timestamp.body`, the key is the base64 after `whsec_`, the header is a space-separated
// list of `v1,<base64 HMAC-SHA256>`.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError, parseConfig } from "../src/config.ts";
import { HttpDestination } from "../src/destination_http.ts";
import { WebhookSigner } from "../src/standard_webhooks.ts";
import { deliveryOf, sendContext } from "./destination_kit.ts";
import { FakeServer, SECRET } from "./helpers.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

const NEW_SECRET = "whsec_" + btoa("0123456789abcdef0123456789abcdef");
const OLD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/**
 * Verifies a webhook as the specification tells receivers to: recompute the signature with the
 * secret, compare it in constant time with each `v1` signature in the header, and check the
 * timestamp is within `toleranceSeconds` of now.
 */
function verifyStandardWebhook(
  secret: string,
  headers: { id: string | null; timestamp: string | null; signature: string | null },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  if (!headers.id || !headers.timestamp || !headers.signature) return false;
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return false;
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key)
    .update(`${headers.id}.${headers.timestamp}.${body}`)
    .digest();
  return headers.signature.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

Deno.test("the test's verifier agrees with the specification's published example", () => {
  // The example from the Standard Webhooks / Svix documentation.
  const headers = {
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: "1614265330",
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };
  assert.ok(verifyStandardWebhook(OLD_SECRET, headers, '{"test": 2432232314}', 1614265330));
  assert.ok(!verifyStandardWebhook(OLD_SECRET, headers, '{"test": 2432232315}', 1614265330));
  assert.ok(!verifyStandardWebhook(NEW_SECRET, headers, '{"test": 2432232314}', 1614265330));
});

Deno.test("WebhookSigner reproduces the specification's published example", async () => {
  const signer = new WebhookSigner([OLD_SECRET]);
  const signature = await signer.sign({
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: 1614265330,
    body: '{"test": 2432232314}',
  });
  assert.equal(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
});

Deno.test("a signed http delivery verifies with each of two secrets during a rotation", async () => {
  const sink = new FakeServer(() => ({ status: 200, body: "{}" }));
  try {
    const now = 1_767_000_000_123;
    const destination = new HttpDestination("crm", {
      url: `${sink.url}/hook`,
      headers: { "webhook-timestamp": "1" }, // an operator's header cannot break the signature
      signingSecrets: [NEW_SECRET, OLD_SECRET],
    });
    const delivery = deliveryOf("new_influencer_order");
    const outcome = await destination.send(delivery, sendContext(() => now));
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const request = sink.received[0]!;
    const headers = {
      id: request.headers.get("webhook-id"),
      timestamp: request.headers.get("webhook-timestamp"),
      signature: request.headers.get("webhook-signature"),
    };
    assert.equal(headers.id, delivery.deliveryId);
    assert.equal(headers.timestamp, "1767000000");
    assert.equal(headers.signature!.split(" ").length, 2);
    assert.match(headers.signature!, /^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
    const nowSeconds = Math.floor(now / 1000);
    assert.ok(verifyStandardWebhook(NEW_SECRET, headers, request.body, nowSeconds));
    assert.ok(verifyStandardWebhook(OLD_SECRET, headers, request.body, nowSeconds));
    const stranger = "whsec_" + btoa("another-secret-of-24-bytes!!");
    assert.ok(!verifyStandardWebhook(stranger, headers, request.body, nowSeconds));
    assert.ok(!verifyStandardWebhook(NEW_SECRET, headers, request.body + " ", nowSeconds));
    assert.ok(!verifyStandardWebhook(NEW_SECRET, headers, request.body, nowSeconds + 3600));
  } finally {
    await sink.close();
  }
});

Deno.test("a retry is signed again with the same webhook-id and a new timestamp", async () => {
  let fail = true;
  const sink = new FakeServer(() => (fail ? { status: 503 } : { status: 200, body: "{}" }));
  try {
    let now = 1_767_000_000_000;
    const destination = new HttpDestination("crm", {
      url: sink.url,
      signingSecrets: [NEW_SECRET],
    });
    const delivery = deliveryOf("update_commission");
    assert.equal((await destination.send(delivery, sendContext(() => now))).kind, "retry");
    fail = false;
    now += 65_000;
    const second = await destination.send({ ...delivery, attempt: 2 }, sendContext(() => now));
    assert.equal(second.kind, "delivered");
    const [a, b] = sink.received;
    assert.equal(a!.headers.get("webhook-id"), b!.headers.get("webhook-id"));
    assert.notEqual(a!.headers.get("webhook-timestamp"), b!.headers.get("webhook-timestamp"));
    for (const request of [a!, b!]) {
      const headers = {
        id: request.headers.get("webhook-id"),
        timestamp: request.headers.get("webhook-timestamp"),
        signature: request.headers.get("webhook-signature"),
      };
      assert.ok(verifyStandardWebhook(NEW_SECRET, headers, request.body, Math.floor(now / 1000)));
    }
  } finally {
    await sink.close();
  }
});

Deno.test("render() shows a signed request's headers with the signature hidden", () => {
  const destination = new HttpDestination("crm", {
    url: "https://hooks.zapier.com/hooks/catch/1/abc/",
    signingSecrets: [NEW_SECRET],
  });
  const rendered = destination.render(deliveryOf("product_sent"));
  assert.equal(rendered.headers["webhook-signature"], "***");
  assert.equal(rendered.headers["webhook-id"], "dlv_01TESTDELIVERY");
  assert.doesNotMatch(JSON.stringify(rendered), new RegExp(NEW_SECRET.slice(6, 20)));
});

function httpConfig(destination: Record<string, unknown>): string {
  return JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: { crm: { type: "http", url: "https://example.com/hook", ...destination } },
    routes: [],
  });
}

Deno.test("the config refuses a signing secret that is not whsec_ base64, without echoing it", () => {
  const attempt = () =>
    parseConfig(httpConfig({ signing_secrets: ["my-plain-password-123"] }), "relay.json", {
      env: () => undefined,
    });
  assert.throws(attempt, (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /destinations\.crm\.signing_secrets\[0\]: expected "whsec_"/);
    assert.doesNotMatch(error.message, /my-plain-password-123/);
    return true;
  });
  const tooShort = () =>
    parseConfig(httpConfig({ signing_secrets: ["whsec_" + btoa("short")] }), "relay.json", {
      env: () => undefined,
    });
  assert.throws(tooShort, ConfigError);
});

Deno.test("an unset second secret is ignored, so ${OLD:-} can stay in the list", () => {
  const config = parseConfig(
    httpConfig({ signing_secrets: ["${NEW_SECRET}", "${OLD_SECRET:-}"] }),
    "relay.json",
    { env: (name) => (name === "NEW_SECRET" ? NEW_SECRET : undefined) },
  );
  const crm = config.destinations["crm"]!;
  assert.equal(crm.type, "http");
  assert.deepEqual((crm as { signing_secrets?: string[] }).signing_secrets, [NEW_SECRET, ""]);
});
