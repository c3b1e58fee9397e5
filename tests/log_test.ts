import assert from "node:assert/strict";
import { BufferedWriter, createLogger } from "../src/log.ts";

function sink(): { writes: string[]; write: (text: string) => void } {
  const writes: string[] = [];
  return { writes, write: (text) => writes.push(text) };
}

Deno.test("BufferedWriter: lines of one turn leave in one write, in order", async () => {
  const out = sink();
  const buffered = new BufferedWriter(out.write);
  buffered.write("a\n");
  buffered.write("b\n");
  buffered.write("c\n");
  assert.deepEqual(out.writes, []);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(out.writes, ["a\nb\nc\n"]);
  buffered.write("d\n");
  buffered.flush();
  assert.deepEqual(out.writes, ["a\nb\nc\n", "d\n"]);
  buffered.flush();
  assert.equal(out.writes.length, 2, "an empty flush writes nothing");
});

Deno.test("BufferedWriter: a full buffer is written at once", () => {
  const out = sink();
  const buffered = new BufferedWriter(out.write, 10);
  buffered.write("12345");
  assert.deepEqual(out.writes, []);
  buffered.write("67890");
  assert.deepEqual(out.writes, ["1234567890"]);
  buffered.flush();
});

Deno.test("logger on a BufferedWriter: warnings and errors flush everything before them", () => {
  const out = sink();
  const buffered = new BufferedWriter(out.write);
  const log = createLogger(buffered);
  log.info("first", { n: 1 });
  assert.deepEqual(out.writes, []);
  log.warn("second");
  assert.equal(out.writes.length, 1);
  const lines: Array<Record<string, unknown>> = out.writes.join("").trim().split("\n")
    .map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((l) => [l["level"], l["msg"]]), [["info", "first"], [
    "warn",
    "second",
  ]]);
  assert.equal(lines[0]!["n"], 1);
  log.debug("dropped");
  buffered.flush();
  assert.equal(out.writes.length, 1, "a line below the level is never buffered");
});
