// Standard Webhooks senders (standardwebhooks.com; Svix and the services built on it):
// `webhook-signature` holds space-separated `v1,<base64>` signatures, each an HMAC-SHA256 of
// `<webhook-id>.<webhook-timestamp>.<body>` keyed by the bytes of a `whsec_` secret, and
// `webhook-timestamp` must be recent. `webhook-id` names the message, so a redelivery inside
// the tolerance is a duplicate and one outside it is refused. The event type is a body field.

import { z } from "zod";
import { payloadPath, sourceOptions, sourceSecrets, toleranceSeconds } from "./schema_kit.ts";
import {
  anyMatches,
  fail,
  fieldAt,
  fromBase64,
  hmacKeys,
  joinBytes,
  sourceType,
  textOf,
  timestampProblem,
} from "./source.ts";
import { secretBytes } from "./standard_webhooks.ts";

function isSecret(secret: string): boolean {
  try {
    return secretBytes(secret).byteLength > 0;
  } catch {
    return false;
  }
}

/** The `standard_webhooks` source type. */
export const standardWebhooksType = sourceType({
  type: "standard_webhooks",
  schema: z.strictObject({
    type: z.literal("standard_webhooks"),
    secrets: sourceSecrets("The sender's signing secrets (whsec_…); two during a rotation")
      .refine(
        (list) => list.every(isSecret),
        'expected secrets of "whsec_" followed by base64, as the sender shows them',
      ),
    type_field: payloadPath.default("type").describe(
      'The body field (dot path) holding the event type (default "type")',
    ),
    tolerance_seconds: toleranceSeconds,
    ...sourceOptions,
  }).describe("A Standard Webhooks sender, received at /sources/<name>"),
  async create(entry, { now }) {
    const keys = await hmacKeys(entry.secrets.map(secretBytes));
    return {
      async verify(headers, body) {
        const header = headers.get("webhook-signature");
        if (header === null || header === "") {
          return fail("missing_signature", "Missing webhook-signature header");
        }
        const signatures = header.split(" ").flatMap((entry) => {
          const [version, value] = entry.split(",", 2);
          const mac = version === "v1" && value !== undefined ? fromBase64(value) : null;
          return mac !== null && mac.byteLength === 32 ? [mac] : [];
        });
        if (signatures.length === 0) {
          return fail(
            "malformed_signature",
            "webhook-signature must hold v1,<base64> signatures separated by spaces",
          );
        }
        const id = headers.get("webhook-id");
        if (id === null || id === "") return fail("missing_id", "Missing webhook-id header");
        const timestamp = headers.get("webhook-timestamp");
        const problem = timestampProblem(
          timestamp,
          "webhook-timestamp",
          entry.tolerance_seconds,
          now(),
        );
        if (problem !== null) return problem;
        return await anyMatches(keys, signatures, joinBytes(`${id}.${timestamp}.`, body))
          ? { ok: true }
          : fail("bad_signature", "Signature does not match");
      },
      identify(headers, payload) {
        return {
          topic: textOf(fieldAt(payload, entry.type_field)),
          id: textOf(headers.get("webhook-id")),
        };
      },
    };
  },
});
