// The event domain helpers: omitPaths, which takes the fields a destination must not see out of
// a payload without touching the original.

import assert from "node:assert/strict";
import { omitPaths } from "../src/events.ts";
import { SAMPLES } from "../src/samples.ts";

Deno.test("omitPaths removes nested fields, through lists, and leaves the original whole", () => {
  const payload = structuredClone(SAMPLES["product_sent"]!) as Record<string, unknown>;
  const before = JSON.stringify(payload);
  const out = omitPaths(payload, [
    ["send_product_info", "shipping_address"],
    ["send_product_info", "phone"],
    ["send_product_info", "line_items", "variant_id"],
    ["no_such", "field"],
  ]) as { send_product_info: Record<string, unknown> };
  assert.equal(JSON.stringify(payload), before, "the original is not changed");
  assert.equal(out.send_product_info["shipping_address"], undefined);
  assert.equal(out.send_product_info["phone"], undefined);
  const items = out.send_product_info["line_items"] as Array<Record<string, unknown>>;
  assert.ok(items.length > 0);
  for (const item of items) {
    assert.equal(item["variant_id"], undefined);
    assert.equal(typeof item["variant_name"], "string");
  }
  assert.deepEqual(
    out.send_product_info["customer"],
    (payload["send_product_info"] as Record<string, unknown>)["customer"],
  );
  assert.equal(omitPaths(payload, []), payload, "no paths: the same object");
});
