// The benchmark's smoke run: `deno task bench --smoke` must keep working (a tiny load, a table,
// exit 0), without writing bench/RESULTS.md. Numbers are not checked: speed is for the benchmark.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("the benchmark's smoke run prints its tables and exits 0", async () => {
  const results = `${ROOT}bench/RESULTS.md`;
  const before = await Deno.readTextFile(results).catch(() => null);
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-run",
      "bench/run.ts",
      "--smoke",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `exit code ${output.code}\n${stdout}\n${stderr}`);
  for (
    const line of [
      "| scenario | requests/s |",
      "| ceiling: bare Deno.serve",
      "| ingest: hero-relay",
      "| hero-relay → sink |",
      "| ready to serve after start | ms |",
      "| ingest ÷ ceiling |",
      "| console search (pages of 50) | rows | ms at 20,000 events |",
      "| page 10,000 events deep, by cursor | 50 |",
    ]
  ) {
    assert.ok(stdout.includes(line), `missing "${line}" in:\n${stdout}`);
  }
  const e2e = stdout.split("\n").find((line) => line.startsWith("| hero-relay → sink |"))!;
  const [, , delivered, events, , , , , lost] = e2e.split("|").map((cell) => cell.trim());
  assert.ok(Number(events!.replaceAll(",", "")) > 0, `nothing was delivered: ${e2e}`);
  assert.notEqual(delivered, "0");
  assert.equal(lost, "0", `accepted events went missing: ${e2e}`);
  assert.equal(await Deno.readTextFile(results).catch(() => null), before, "smoke writes nothing");
});
