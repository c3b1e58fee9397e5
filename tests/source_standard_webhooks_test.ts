// The Standard Webhooks source: requests signed with the `standardwebhooks` package (the
// specification's own TypeScript library), through the source contract; the event type from a
// nested body field.

import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { testConfig, testRelay } from "./helpers.ts";
import { sourceContract } from "./source_contract.ts";

const SECRETS = [
  "whsec_" + btoa("0123456789abcdef0123456789abcdef"),
  "whsec_" + btoa("rotated-secret-bytes-0123456789ab"),
] as const;

function headers(body: string, options: { secret: string; id: string; at: number }) {
  return {
    "webhook-id": options.id,
    "webhook-timestamp": String(Math.floor(options.at / 1000)),
    "webhook-signature": new Webhook(options.secret).sign(options.id, new Date(options.at), body),
  };
}

sourceContract({
  type: "standard_webhooks",
  name: "billing",
  entry: (secrets) => ({ type: "standard_webhooks", secrets }),
  secrets: SECRETS,
  topic: "invoice.paid",
  eventType: "billing.invoice_paid",
  body: (topic, n) =>
    JSON.stringify({
      type: topic,
      timestamp: "2026-01-16T09:00:00Z",
      data: { invoice: `in_${n}`, amount: 4990, currency: "EUR" },
    }),
  sign: (body, options) => headers(body, options),
  signatureHeader: "webhook-signature",
  malformed: "v1=notbase64",
  signsTimestamp: true,
});

Deno.test("standard_webhooks: type_field takes a dot path, and a rotation's two signatures pass", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    sources: {
      crm: { type: "standard_webhooks", secrets: [SECRETS[1]], type_field: "event.name" },
    },
    destinations: { log: { type: "console" } },
    routes: [{ name: "crm", events: ["crm.*"], to: ["log"] }],
  }));
  try {
    const body = JSON.stringify({ event: { name: "Contact/Updated" }, id: 7 });
    const signed = headers(body, { secret: SECRETS[0], id: "msg_1", at: Date.now() });
    // A sender rotating its secret signs with both, space-separated.
    const other = headers(body, { secret: SECRETS[1], id: "msg_1", at: Date.now() });
    signed["webhook-signature"] += ` ${other["webhook-signature"]}`;
    const response = await fetch(`${relay.url}/sources/crm`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signed },
      body,
    });
    const json = await response.json();
    assert.equal(response.status, 200, JSON.stringify(json));
    assert.equal(json.type, "crm.contact_updated");
    const missingId = await fetch(`${relay.url}/sources/crm`, {
      method: "POST",
      headers: { "content-type": "application/json", ...other, "webhook-id": "" },
      body,
    });
    assert.equal(missingId.status, 401);
    assert.match((await missingId.json()).error, /Missing webhook-id/);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
