// Shopify webhooks (an app's subscriptions, or those made in the Shopify admin under Settings >
// Notifications > Webhooks): X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body,
// keyed with the app's client secret (or the admin's webhook signing key). X-Shopify-Topic names
// the event ("orders/create"), X-Shopify-Webhook-Id the delivery. Shopify signs no timestamp
// (X-Shopify-Triggered-At is informational), so a redelivery is caught by its id alone.

import { z } from "zod";
import { sourceOptions, sourceSecrets } from "./schema_kit.ts";
import { anyMatches, fail, fromBase64, hmacKeys, sourceType, textOf } from "./source.ts";

const SIGNATURE = "X-Shopify-Hmac-Sha256";

/** The `shopify` source type. */
export const shopifyType = sourceType({
  type: "shopify",
  schema: z.strictObject({
    type: z.literal("shopify"),
    secrets: sourceSecrets(
      "The app's client secret, or the key shown under Settings > Notifications > Webhooks " +
        '("Your webhooks will be signed with …"); two during a rotation',
    ),
    ...sourceOptions,
  }).describe("Shopify webhooks, received at /sources/<name>"),
  async create(entry) {
    const keys = await hmacKeys(entry.secrets);
    return {
      async verify(headers, body) {
        const header = headers.get(SIGNATURE);
        if (header === null || header === "") {
          return fail("missing_signature", `Missing ${SIGNATURE} header`);
        }
        const mac = fromBase64(header);
        if (mac === null || mac.byteLength !== 32) {
          return fail("malformed_signature", `${SIGNATURE} must be a base64 HMAC-SHA256`);
        }
        return await anyMatches(keys, [mac], body)
          ? { ok: true }
          : fail("bad_signature", "Signature does not match");
      },
      identify(headers) {
        return {
          topic: textOf(headers.get("x-shopify-topic")),
          id: textOf(headers.get("x-shopify-webhook-id")),
        };
      },
    };
  },
});
