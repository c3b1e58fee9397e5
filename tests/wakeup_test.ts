import assert from "node:assert/strict";
import { Wakeup } from "../src/worker.ts";

Deno.test("Wakeup: a notify with nobody waiting is kept for the next wait, once", async () => {
  const wake = new Wakeup();
  wake.notify();
  const started = performance.now();
  await wake.wait(5_000);
  assert.ok(performance.now() - started < 1_000, "the kept notify ended the wait at once");
  const timed = performance.now();
  await wake.wait(30);
  assert.ok(performance.now() - timed >= 25, "it was used up: the next wait runs its time");
});

Deno.test("Wakeup: notify ends every current wait and leaves nothing behind", async () => {
  const wake = new Wakeup();
  const waits = [wake.wait(5_000), wake.wait(5_000)];
  wake.notify();
  await Promise.all(waits);
  const timed = performance.now();
  await wake.wait(30);
  assert.ok(performance.now() - timed >= 25, "a notify that woke someone is not kept");
});
