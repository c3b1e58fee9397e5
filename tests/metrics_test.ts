// GET /metrics after real traffic: every family the README names is there, with the labels and
// values the traffic implies, in Prometheus' text format.

import assert from "node:assert/strict";
import {
  eventually,
  FakeServer,
  freePort,
  freshSample,
  post,
  SAMPLE_TYPES,
  SECRET,
  ServeProcess,
  signed,
  testConfig,
  testRelay,
} from "./helpers.ts";

/** Parses Prometheus text into series → value, checking each line's shape. */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    const comment = /^# (HELP|TYPE) ([a-z_]+) (.+)$/.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        assert.match(comment[3]!, /^(counter|gauge|histogram)$/, line);
        typed.add(comment[2]!);
      }
      continue;
    }
    const sample = /^([a-z_]+)(\{[a-z_]+="[^"\\\n]*"(?:,[a-z_]+="[^"\\\n]*")*\})? (\S+)$/.exec(
      line,
    );
    assert.ok(sample, `not a Prometheus sample line: ${line}`);
    const family = sample[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(sample[1]!) || typed.has(family), `no # TYPE before ${line}`);
    assert.ok(!Number.isNaN(Number(sample[3])), line);
    series.set(sample[1]! + (sample[2] ?? ""), Number(sample[3]));
  }
  return series;
}

Deno.test("GET /metrics reports requests, verification failures, events, deliveries, latency, queues and disabled destinations", async () => {
  const dir = await Deno.makeTempDir();
  const ok = new FakeServer();
  const flaky = new FakeServer(() => ({ status: 503, body: "overloaded" }));
  const slack = new FakeServer(() => ({ status: 404, body: "no_service" }));
  const config = testConfig(dir, {
    destinations: {
      ok: { type: "http", url: ok.url },
      flaky: { type: "http", url: flaky.url, retry: { schedule: ["0s", "1h"] } },
      gone: { type: "slack", url: `${slack.url}/services/T0/B0/x` },
    },
    routes: [
      { name: "commissions", events: ["update_commission"], to: ["ok", "flaky", "gone"] },
      { name: "products", events: ["product_sent"], to: ["ok"] },
    ],
  });
  const { relay } = await testRelay(config);
  try {
    assert.equal(
      (await post(relay.url, "/hooks/update_commission", freshSample("update_commission"))).status,
      200,
    );
    assert.equal(
      (await post(relay.url, "/hooks/product_sent", freshSample("product_sent"))).status,
      200,
    );
    const forged = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
      {
        secret: "not-the-secret",
      },
    );
    assert.equal(forged.status, 401);
    const stale = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
      {
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      },
    );
    assert.equal(stale.status, 401);
    const { body, headers } = await signed(freshSample("update_commission"));
    delete headers["x-influencerhero-signature"];
    const unsigned = await fetch(`${relay.url}/hooks/update_commission`, {
      method: "POST",
      headers,
      body,
    });
    assert.equal(unsigned.status, 401);
    await unsigned.body?.cancel();
    const lost = await fetch(`${relay.url}/wp-login.php`);
    assert.equal(lost.status, 404);
    await lost.body?.cancel();

    await eventually(async () => {
      const [delivered, failed, disabled] = await Promise.all([
        relay.store.listDeliveries({ destination: "ok", status: "delivered" }),
        relay.store.listDeliveries({ destination: "flaky", status: "failed" }),
        relay.store.disabledDestinations(),
      ]);
      return delivered.length === 2 && failed.length === 1 && disabled.length === 1;
    });
    // The counters move once the worker has heard of the commit, a moment after the store has it.
    await eventually(async () => {
      const text = await (await fetch(`${relay.url}/metrics`)).text();
      const m = parseMetrics(text);
      return m.get('hero_relay_deliveries_total{destination="ok",outcome="delivered"}') === 2 &&
        m.get('hero_relay_deliveries_total{destination="flaky",outcome="retry"}') === 1 &&
        m.get('hero_relay_deliveries_total{destination="gone",outcome="disabled"}') === 1;
    });

    const response = await fetch(`${relay.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(await response.text());
    const value = (series: string) => {
      assert.ok(m.has(series), `missing ${series}`);
      return m.get(series)!;
    };

    // Requests by path and status.
    assert.equal(
      value('hero_relay_http_requests_total{path="/hooks/update_commission",status="200"}'),
      1,
    );
    assert.equal(
      value('hero_relay_http_requests_total{path="/hooks/update_commission",status="401"}'),
      3,
    );
    assert.equal(
      value('hero_relay_http_requests_total{path="/hooks/product_sent",status="200"}'),
      1,
    );
    assert.equal(value('hero_relay_http_requests_total{path="other",status="404"}'), 1);
    // Verification failures by reason.
    assert.equal(value('hero_relay_verification_failures_total{reason="bad_signature"}'), 1);
    assert.equal(value('hero_relay_verification_failures_total{reason="stale_timestamp"}'), 1);
    assert.equal(value('hero_relay_verification_failures_total{reason="missing_signature"}'), 1);
    // Events accepted by type.
    assert.equal(value('hero_relay_events_accepted_total{type="update_commission"}'), 1);
    assert.equal(value('hero_relay_events_accepted_total{type="product_sent"}'), 1);
    // Deliveries by destination and outcome.
    assert.equal(value('hero_relay_deliveries_total{destination="ok",outcome="delivered"}'), 2);
    assert.equal(value('hero_relay_deliveries_total{destination="flaky",outcome="retry"}'), 1);
    assert.equal(value('hero_relay_deliveries_total{destination="gone",outcome="disabled"}'), 1);
    // Attempt latency histogram: cumulative buckets ending in +Inf = count.
    const les = [
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "30",
    ];
    const buckets = [...les, "+Inf"].map((le) =>
      value(`hero_relay_attempt_duration_seconds_bucket{destination="ok",le="${le}"}`)
    );
    assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), "cumulative");
    assert.equal(buckets.at(-1), 2);
    assert.equal(value('hero_relay_attempt_duration_seconds_count{destination="ok"}'), 2);
    assert.ok(value('hero_relay_attempt_duration_seconds_sum{destination="ok"}') >= 0);
    assert.equal(value('hero_relay_attempt_duration_seconds_count{destination="flaky"}'), 1);
    // Queue depth and age of the oldest waiting delivery, per destination (0 when idle).
    assert.equal(value('hero_relay_queue_depth{destination="ok"}'), 0);
    assert.equal(value('hero_relay_queue_depth{destination="flaky"}'), 1);
    assert.equal(value('hero_relay_queue_depth{destination="gone"}'), 1);
    assert.equal(value('hero_relay_queue_oldest_age_seconds{destination="ok"}'), 0);
    const age = value('hero_relay_queue_oldest_age_seconds{destination="flaky"}');
    assert.ok(age >= 0 && age < 600, String(age));
    // Disabled destinations.
    assert.equal(value('hero_relay_destination_disabled{destination="gone"}'), 1);
    assert.equal(value('hero_relay_destination_disabled{destination="ok"}'), 0);
    assert.equal(value('hero_relay_destination_disabled{destination="flaky"}'), 0);
    // The process: resident memory as /proc tells it, and the JavaScript heap.
    const rss = value("process_resident_memory_bytes");
    assert.ok(rss > 1024 * 1024, String(rss));
    // Compared with /proc where there is one (and it may be read).
    const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
    const vmRss = /VmRSS:\s+(\d+) kB/.exec(status);
    if (vmRss) assert.ok(Math.abs(rss - Number(vmRss[1]) * 1024) < 64 * 1024 * 1024, String(rss));
    const used = value('hero_relay_js_heap_bytes{kind="used"}');
    assert.ok(used > 0 && used <= value('hero_relay_js_heap_bytes{kind="total"}'));
    assert.ok(value("process_start_time_seconds") <= Date.now() / 1000);
  } finally {
    await relay.stop();
    await Promise.all([ok.close(), flaky.close(), slack.close()]);
  }
});

Deno.test("serve exports every counter and histogram from the first scrape, at zero for the label sets its config names, and again after a reload", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const port = freePort();
  const config = (destinations: Record<string, unknown>, routes: unknown[]) =>
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: `${dir}/relay.db` },
      destinations,
      routes,
    });
  await Deno.writeTextFile(
    path,
    config({ ops: { type: "console" } }, [
      { name: "codes", events: ["discount_code_created"], to: ["ops"] },
    ]),
    { mode: 0o600 },
  );
  const serve = await ServeProcess.start(path);
  const scrape = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return { text, m: parseMetrics(text) };
  };
  try {
    const { text, m } = await scrape();
    const zero = (series: string) => assert.equal(m.get(series), 0, `${series} at zero`);
    for (
      const reason of [
        "missing_signature",
        "malformed_signature",
        "missing_timestamp",
        "malformed_timestamp",
        "stale_timestamp",
        "future_timestamp",
        "bad_signature",
        "stale_webhook_timestamp",
      ]
    ) zero(`hero_relay_verification_failures_total{reason="${reason}"}`);
    for (const type of [...SAMPLE_TYPES, "discount_code_created", "unknown"]) {
      zero(`hero_relay_events_accepted_total{type="${type}"}`);
      zero(`hero_relay_events_duplicate_total{type="${type}"}`);
      zero(`hero_relay_events_unrouted_total{type="${type}"}`);
    }
    for (const outcome of ["delivered", "retry", "failed", "dead", "disabled"]) {
      zero(`hero_relay_deliveries_total{destination="ops",outcome="${outcome}"}`);
    }
    zero('hero_relay_attempt_duration_seconds_count{destination="ops"}');
    zero('hero_relay_attempt_duration_seconds_bucket{destination="ops",le="+Inf"}');
    zero("hero_relay_connections_evicted_total");
    // A family whose labels come only from traffic is announced, with no series yet.
    assert.match(text, /^# TYPE hero_relay_http_requests_total counter$/m);

    // A destination added by a reload gets its series without a restart; counts are kept.
    const from = serve.logs.length;
    assert.equal(
      (await post(`http://127.0.0.1:${port}`, "/hooks/product_sent", freshSample("product_sent")))
        .status,
      200,
    );
    await Deno.writeTextFile(
      path,
      config({ ops: { type: "console" }, ledger: { type: "console" } }, [
        { name: "codes", events: ["discount_code_created"], to: ["ops", "ledger"] },
      ]),
    );
    await serve.waitForLog((l) => l.msg === "config reloaded", 15_000, from);
    const after = (await scrape()).m;
    assert.equal(after.get('hero_relay_deliveries_total{destination="ledger",outcome="dead"}'), 0);
    assert.equal(after.get('hero_relay_attempt_duration_seconds_sum{destination="ledger"}'), 0);
    assert.equal(after.get('hero_relay_events_accepted_total{type="product_sent"}'), 1);
    assert.equal(after.get('hero_relay_events_unrouted_total{type="product_sent"}'), 1);
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

Deno.test({
  name: "promtool check metrics accepts /metrics before and after traffic",
  async fn() {
    // .ci/run installs it; a machine without it fails here rather than skipping the check.
    let found = false;
    try {
      found = (await new Deno.Command("promtool", { args: ["--version"], stdout: "null" })
        .output()).success;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    assert.ok(found, "promtool not found: apt-get install prometheus");
    const dir = await Deno.makeTempDir();
    const sink = new FakeServer();
    const { relay } = await testRelay(testConfig(dir, {
      destinations: { sink: { type: "http", url: sink.url } },
      routes: [{ name: "all", events: "*", to: ["sink"] }],
    }));
    const check = async () => {
      const text = await (await fetch(`${relay.url}/metrics`)).text();
      const child = new Deno.Command("promtool", {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(text));
      await writer.close();
      const out = await child.output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, said);
      // Lint findings (naming, missing help) are printed too, with a zero exit: none allowed.
      assert.equal(said.trim(), "", said);
    };
    try {
      await check();
      await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
      await sink.waitFor(1);
      await eventually(async () =>
        (await relay.store.listDeliveries({ status: "delivered" })).length === 1
      );
      await check();
    } finally {
      await relay.stop();
      await sink.close();
    }
  },
});
