import assert from "node:assert/strict";
import { newId } from "../src/ids.ts";

Deno.test("newId() makes ids that sort in the order they were made, within one millisecond too", () => {
  const made = Array.from({ length: 2000 }, (_, i) => newId("evt", 1_700_000_000_000 + (i >> 9)));
  assert.deepEqual([...made].sort(), made);
  assert.equal(new Set(made).size, made.length);
  assert.match(made[0]!, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
  const later = newId("dlv", 1_700_000_000_000 + 10);
  assert.ok(later.slice(4) > made.at(-1)!.slice(4), "a later millisecond sorts after");
});
