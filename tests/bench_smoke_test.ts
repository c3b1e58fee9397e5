// The benchmark's smoke run: `deno task bench --smoke` must keep working (a tiny load, a table,
// exit 0), without writing bench/RESULTS.md. Numbers are not checked: speed is for the benchmark.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { renderResults } from "../bench/report.ts";
import { settingsFrom } from "../bench/settings.ts";

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
      "| paced: limit reference at 100 requests/s |",
      "| ready to serve after start | ms |",
      "| ingest ÷ ceiling |",
      "| ingest ÷ limit reference |",
      "| end to end on default settings ÷ ingest |",
      "| paced p99 ÷ limit reference's paced p99 |",
      "| server CPU µs per delivered event, end to end on default settings |",
      "| server CPU µs per accepted event, ingest (delivery off) |",
      "| console search (pages of 50) | rows | ms at 20,000 events |",
      "| page 10,000 events deep, by cursor | 50 |",
    ]
  ) {
    assert.ok(stdout.includes(line), `missing "${line}" in:\n${stdout}`);
  }
  for (const name of ["default settings (adaptive concurrency)", "`concurrency: 8`"]) {
    const start = `| hero-relay → sink, ${name} |`;
    const e2e = stdout.split("\n").find((line) => line.startsWith(start));
    assert.ok(e2e !== undefined, `missing "${start}" in:\n${stdout}`);
    const [, , delivered, events, , , , , lost, , , micros] = e2e.split("|").map((cell) =>
      cell.trim()
    );
    assert.ok(Number(events!.replaceAll(",", "")) > 0, `nothing was delivered: ${e2e}`);
    assert.notEqual(delivered, "0");
    assert.equal(lost, "0", `accepted events went missing: ${e2e}`);
    assert.ok(Number(micros!.replaceAll(",", "")) > 0, `no CPU per delivered event: ${e2e}`);
  }
  assert.equal(await Deno.readTextFile(results).catch(() => null), before, "smoke writes nothing");
});

Deno.test("--console-events 0 skips the console's searches, and --console-only refuses it", () => {
  assert.equal(settingsFrom(["--console-events", "0"]).consoleEvents, 0);
  assert.equal(settingsFrom(["--console-events", "5000"]).consoleEvents, 5000);
  assert.throws(() => settingsFrom(["--console-events=-1"]), RangeError);
  assert.throws(() => settingsFrom(["--console-only", "--console-events", "0"]), RangeError);
});

Deno.test("a measurement no run produced is – in every table, never 0", () => {
  const settings = settingsFrom(["--smoke", "--console-events", "0"]);
  const rendered = renderResults({
    ceiling: [],
    ceilingOneThread: [],
    limit: [],
    ingest: [],
    endToEnd: [],
    endToEndFixed: [],
    peer: [],
    pacedCeiling: [],
    pacedLimit: [],
    paced: [],
    consoleQueries: null,
  }, { settings, wrk: false });
  for (
    const row of [
      "| ingest ÷ limit reference | – | ≥ 0.8 | – |",
      "| end to end on default settings ÷ ingest | – | ≥ 0.5 | – |",
      "| paced p99 ÷ limit reference's paced p99 | – | ≤ 2 | – |",
      "| peak RSS under load, MB | – | ≤ 150 | – |",
      "| server CPU µs per delivered event, end to end on default settings | – | – | – |",
      "| delivery's own server CPU µs per event (the difference) | – | – | – |",
      "| end to end on default settings ÷ peer | – (peer skipped) | ≥ 100 × | – |",
    ]
  ) {
    assert.ok(rendered.targets.includes(row), `missing "${row}" in:\n${rendered.targets}`);
  }
  assert.equal(rendered.consoleQueriesHeading, "## Console queries");
  assert.match(rendered.consoleQueries, /^Not run: `--console-events 0`/);
});
