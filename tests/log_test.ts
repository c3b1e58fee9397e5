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
  const buffered = new BufferedWriter(out.write, { maxBytes: 10 });
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

Deno.test("BufferedWriter: a failing sink loses lines, not the process, and is reported once", async () => {
  const errors: unknown[] = [];
  let broken = true;
  const written: string[] = [];
  const buffered = new BufferedWriter((text) => {
    if (broken) throw new Deno.errors.BrokenPipe("closed");
    written.push(text);
  }, { onError: (error) => errors.push(error) });
  buffered.write("a\n");
  await new Promise((resolve) => setTimeout(resolve, 5));
  buffered.write("b\n");
  buffered.flush();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof Deno.errors.BrokenPipe);
  broken = false;
  buffered.write("c\n");
  buffered.flush();
  assert.deepEqual(written, ["c\n"]);
});

Deno.test("BufferedWriter.writeNow writes what was buffered first, and throws its own failure", () => {
  const written: string[] = [];
  let failNext = false;
  const buffered = new BufferedWriter((text) => {
    if (failNext) throw new Deno.errors.BrokenPipe("closed");
    written.push(text);
  });
  buffered.write("log\n");
  buffered.writeNow("message\n");
  assert.deepEqual(written, ["log\n", "message\n"]);
  failNext = true;
  assert.throws(() => buffered.writeNow("lost\n"), Deno.errors.BrokenPipe);
});
