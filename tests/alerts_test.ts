// Alerts end to end: relays with fake destinations on 127.0.0.1 that go away, fail or die, and
// the alerts that reach the other destinations — once, grouped, never about themselves.

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { ConfigError } from "../src/config.ts";
import {
  eventually,
  FakeServer,
  freshSample,
  post,
  type Received,
  testConfig,
  testRelay,
} from "./helpers.ts";

const ALERT = "hero_relay.alert";
const CRM_TOKEN = "crm-token-9f8e7d6c5b4a3921";

/** The alert fields an http destination received, in order. */
function httpAlerts(server: FakeServer): Array<Record<string, unknown>> {
  return server.received
    .filter((r) => r.headers.get("x-hero-relay-event") === ALERT)
    .map((r) => JSON.parse(r.body).payload);
}

/** Whether a request to a fake is an alert (its body names the event type or an alert title). */
function isAlertBody(r: Received): boolean {
  return /is disabled|keeps failing|has recovered|died|cannot commit/.test(r.body);
}

/** The header text of each Slack message received. */
function slackTitles(server: FakeServer): string[] {
  return server.received.map((r) => {
    const blocks = JSON.parse(r.body).blocks as Array<{ type: string; text?: { text: string } }>;
    return blocks.find((b) => b.type === "header")?.text?.text ?? "";
  });
}

Deno.test("a gone destination raises one disabled alert, to the other destination only, and after enable and a success one recovered alert", async () => {
  const dir = await Deno.makeTempDir();
  let gone = true;
  const crm = new FakeServer((request) =>
    request.headers.get("x-hero-relay-event") === ALERT
      ? { status: 200 }
      : gone
      ? { status: 410, body: `the hook with token ${CRM_TOKEN} was deleted` }
      : { status: 200 }
  );
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/hooks/${CRM_TOKEN}` },
      ops: { type: "slack", url: `${ops.url}/services/T0/B0/opstoken1234567890` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm"] }],
    alerts: { to: ["ops", "crm"], window: "1s" },
  });
  const { relay, logs } = await testRelay(config);
  try {
    const sent = await Promise.all(
      [1, 2, 3].map(() =>
        post(relay.url, "/hooks/update_commission", freshSample("update_commission"))
      ),
    );
    assert.deepEqual(sent.map((s) => s.status), [200, 200, 200]);
    await ops.waitFor(1);
    await eventually(() => relay.dispatcher.isDisabled("crm"), 10_000, "crm disabled");

    gone = false;
    await relay.store.setDisabled("crm", null, Date.now());
    await relay.dispatcher.refreshDisabled();
    await ops.waitFor(2);
    await eventually(
      async () => {
        const waiting = await relay.store.queueStats();
        return (waiting.find((s) => s.destination === "crm")?.depth ?? 0) === 0;
      },
      10_000,
      "crm's deliveries delivered",
    );
  } finally {
    await relay.stop();
    await crm.close();
    await ops.close();
  }
  const titles = slackTitles(ops);
  assert.deepEqual(titles, ["crm is disabled: its endpoint is gone", "crm has recovered"]);
  const disabled = ops.received[0]!.body;
  assert.match(disabled, /hero-relay enable crm/);
  assert.match(disabled, /\*Waiting\*\\n3/);
  assert.match(disabled, /\*Answer\*\\nHTTP 410: the hook with token \[redacted\] was deleted/);
  assert.ok(!ops.received.some((r) => r.body.includes(CRM_TOKEN)), "no token in an alert");
  assert.ok(!logs.lines.some((l) => l.includes(CRM_TOKEN)), "no token in the log");
  // An alert about crm never goes to crm.
  assert.equal(httpAlerts(crm).length, 0);
  assert.equal(
    await relay.metrics.value("hero_relay_alerts_sent_total", {
      destination: "ops",
      kind: "disabled",
    }),
    1,
  );
});

Deno.test("200 dying deliveries produce one grouped alert that counts 200, not 200 alerts", async () => {
  const dir = await Deno.makeTempDir();
  const crm = new FakeServer((request) =>
    request.headers.get("x-hero-relay-event") === ALERT
      ? { status: 200 }
      : { status: 400, body: "unknown field 'deal_info'" }
  );
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/in`, ordered: false },
      ops: { type: "http", url: `${ops.url}/alerts` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm"] }],
    alerts: { to: ["ops"], window: "5s", consecutive_failures: 1000 },
  });
  const { relay } = await testRelay(config);
  try {
    // Held back while they arrive, so that all 200 die within one window.
    await relay.store.setPaused("crm", true, Date.now());
    await relay.dispatcher.refreshPaused();
    for (let batch = 0; batch < 10; batch++) {
      const sent = await Promise.all(
        Array.from(
          { length: 20 },
          () => post(relay.url, "/hooks/update_commission", freshSample("update_commission")),
        ),
      );
      assert.ok(sent.every((s) => s.status === 200));
    }
    await relay.store.setPaused("crm", false, Date.now());
    await relay.dispatcher.refreshPaused();
    await eventually(
      async () => (await relay.store.listDeliveries({ status: "dead", limit: 500 })).length === 200,
      20_000,
      "200 dead deliveries",
    );
    await ops.waitFor(1, 15_000);
  } finally {
    await relay.stop();
    await crm.close();
    await ops.close();
  }
  const alerts = httpAlerts(ops);
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  assert.equal(alerts[0]!["kind"], "dead");
  assert.equal(alerts[0]!["destination"], "crm");
  assert.equal(alerts[0]!["count"], 200);
  assert.match(String(alerts[0]!["first_error"]), /^HTTP 400: unknown field/);
  assert.equal(alerts[0]!["command"], "hero-relay replay --dead --destination crm");
});

Deno.test("a destination failing past consecutive_failures raises one failing alert, and its first success one recovered alert, in the alert message's own templates", async () => {
  const dir = await Deno.makeTempDir();
  let failures = 0;
  const crm = new FakeServer(() => {
    if (failures < 4) {
      failures++;
      return { status: 503, body: "overloaded" };
    }
    return { status: 200 };
  });
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: {
      crm: {
        type: "http",
        url: `${crm.url}/in`,
        retry: { schedule: ["0s", "50ms", "50ms", "50ms", "50ms", "50ms"], jitter: 0 },
      },
      ops: { type: "slack", url: `${ops.url}/services/T0/B0/opstoken1234567890` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm"] }],
    alerts: {
      to: ["ops"],
      consecutive_failures: 3,
      message: { title: "ALERT {{ kind | upcase }}: {{ destination }} ({{ count }})" },
    },
  });
  const { relay } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await ops.waitFor(2);
  } finally {
    await relay.stop();
    await crm.close();
    await ops.close();
  }
  assert.deepEqual(slackTitles(ops), ["ALERT FAILING: crm (3)", "ALERT RECOVERED: crm ()"]);
  assert.match(ops.received[0]!.body, /The last 3 attempts failed in a row/);
  assert.match(ops.received[0]!.body, /HTTP 503: overloaded/);
});

Deno.test("an alert destination that fails is logged and counted, and the alert about it goes only to the other one, rendered for Discord", async () => {
  const dir = await Deno.makeTempDir();
  const crm = new FakeServer(() => ({ status: 410, body: "gone" }));
  const pager = new FakeServer(() => ({ status: 500, body: "internal_error" }));
  const discord = new FakeServer(() => ({ status: 204 }));
  const config = testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/in` },
      pager: {
        type: "slack",
        url: `${pager.url}/services/T0/B0/pagertoken123456789`,
        retry: { schedule: ["0s", "1h"] },
      },
      chat: { type: "discord", url: `${discord.url}/api/webhooks/1234567890/discord-token-abc` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm", "pager"] }],
    alerts: { to: ["pager", "chat"], consecutive_failures: 1 },
  });
  const { relay, logs } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await discord.waitFor(2);
    await eventually(
      () => relay.metrics.value("hero_relay_alert_failures_total", { destination: "pager" }) === 1,
      15_000,
      "the alert to pager counted as failed",
    );
  } finally {
    await relay.stop();
    await crm.close();
    await pager.close();
    await discord.close();
  }
  const embeds = discord.received.map((r) => JSON.parse(r.body).embeds[0]);
  const titles = embeds.map((e) => e.title).sort();
  assert.deepEqual(titles, ["crm is disabled: its endpoint is gone", "pager keeps failing"]);
  const disabled = embeds.find((e) => e.title.startsWith("crm"));
  assert.ok(
    disabled.fields.some((f: { name: string; value: string }) =>
      f.name === "Command" && f.value.includes("enable crm")
    ),
    JSON.stringify(disabled.fields),
  );
  // pager got its own delivery and three tries of the alert about crm, never one about itself.
  const pagerAlerts = pager.received.filter(isAlertBody);
  assert.equal(pagerAlerts.length, 3);
  assert.ok(pagerAlerts.every((r) => r.body.includes("crm is disabled")));
  const failed = logs.find("alert not delivered");
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!["destination"], "pager");
  assert.equal(failed[0]!["attempt"], 3);
});

Deno.test("no alert loops when the only alert destination is the one failing", async () => {
  const dir = await Deno.makeTempDir();
  const ops = new FakeServer(() => ({ status: 500, body: "internal_error" }));
  const config = testConfig(dir, {
    destinations: {
      ops: {
        type: "http",
        url: `${ops.url}/in`,
        retry: { schedule: ["0s", "50ms"], jitter: 0 },
      },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["ops"] }],
    alerts: { to: ["ops"], window: "1s", consecutive_failures: 1 },
  });
  const { relay, logs } = await testRelay(config);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await eventually(
      () => logs.find("alert not sent: no other alert destination can take it").length === 2,
      10_000,
      "the failing and the dead alert, each with nowhere to go",
    );
  } finally {
    await relay.stop();
    await ops.close();
  }
  const unsent = logs.find("alert not sent: no other alert destination can take it");
  assert.deepEqual(unsent.map((l) => l["alert"]).sort(), ["dead", "failing"]);
  // Two attempts of the one delivery, and nothing else.
  assert.equal(ops.received.length, 2);
  assert.equal(httpAlerts(ops).length, 0);
});

Deno.test("a store that cannot record attempt results raises a store alert, sent without the store", async () => {
  const dir = await Deno.makeTempDir();
  const crm = new FakeServer();
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/in` },
      ops: { type: "http", url: `${ops.url}/alerts` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm"] }],
    alerts: { to: ["ops"], window: "1s" },
  });
  const { relay } = await testRelay(config);
  const store = relay.store;
  const complete = store.complete.bind(store);
  let broken = true;
  store.complete = (completions) =>
    broken ? Promise.reject(new Error("disk I/O error")) : complete(completions);
  try {
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await ops.waitFor(1);
    broken = false;
    await eventually(
      async () => {
        const waiting = await store.queueStats();
        return (waiting.find((s) => s.destination === "crm")?.depth ?? 0) === 0;
      },
      10_000,
      "the attempt recorded",
    );
  } finally {
    await relay.stop();
    await crm.close();
    await ops.close();
  }
  const alerts = httpAlerts(ops);
  assert.ok(alerts.length >= 1 && alerts.length <= 2, JSON.stringify(alerts));
  assert.equal(alerts[0]!["kind"], "store");
  assert.equal(alerts[0]!["step"], "record");
  assert.equal(alerts[0]!["count"], 1);
  assert.equal(alerts[0]!["first_error"], "disk I/O error");
  assert.ok(alerts.every((a) => a["kind"] === "store"));
});

Deno.test("alerts.to naming an undefined destination, and a bad alert template, are config problems with their JSON paths", () => {
  const config = testConfig("/tmp/unused", {
    destinations: { ops: { type: "console" } },
    routes: [],
    alerts: { to: ["ops", "pager"], message: { title: "{{ kind | nope }}" } },
  });
  assert.throws(
    () => compileConfig(config, "relay.json", { write: () => {} }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(
        error.problems.includes(
          'alerts.to[1] names destination "pager", which is not defined (defined: "ops")',
        ),
        error.problems.join("\n"),
      );
      assert.ok(
        error.problems.some((p) => p.startsWith("alerts.message.title: ")),
        error.problems.join("\n"),
      );
      return true;
    },
  );
});

Deno.test("a destination whose oldest waiting delivery passes oldest_waiting raises a failing alert with its age", async () => {
  const dir = await Deno.makeTempDir();
  const crm = new FakeServer(() => ({ status: 503, body: "overloaded" }));
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: {
      crm: { type: "http", url: `${crm.url}/in`, retry: { schedule: ["0s", "1h"] } },
      ops: { type: "http", url: `${ops.url}/alerts` },
    },
    routes: [{ name: "all", events: ["update_commission"], to: ["crm"] }],
    alerts: { to: ["ops"], oldest_waiting: "1s", consecutive_failures: 1000 },
  });
  const { relay } = await testRelay(config);
  try {
    const metrics = await relay.metrics.render();
    assert.match(metrics, /^hero_relay_alert_failures_total\{destination="ops"\} 0$/m);
    assert.match(metrics, /^hero_relay_alerts_sent_total\{destination="ops",kind="failing"\} 0$/m);
    await post(relay.url, "/hooks/update_commission", freshSample("update_commission"));
    await ops.waitFor(1);
  } finally {
    await relay.stop();
    await crm.close();
    await ops.close();
  }
  const [alert] = httpAlerts(ops);
  assert.equal(alert!["kind"], "failing");
  assert.equal(alert!["destination"], "crm");
  assert.equal(alert!["waiting"], 1);
  assert.match(String(alert!["reason"]), /^Its oldest waiting delivery is \d+ seconds? old$/);
  assert.equal(alert!["last_error"], "HTTP 503: overloaded");
});

Deno.test("a webhook answered 503 because the store failed raises a store alert for the receive step", async () => {
  const dir = await Deno.makeTempDir();
  const ops = new FakeServer();
  const config = testConfig(dir, {
    destinations: { ops: { type: "http", url: `${ops.url}/alerts` } },
    routes: [],
    alerts: { to: ["ops"], window: "1s" },
  });
  const { relay } = await testRelay(config);
  const store = relay.store;
  const insertEvents = store.insertEvents.bind(store);
  let broken = true;
  store.insertEvents = (events) =>
    broken ? Promise.reject(new Error("database or disk is full")) : insertEvents(events);
  try {
    const answer = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission"),
    );
    assert.equal(answer.status, 503);
    await ops.waitFor(1);
    broken = false;
  } finally {
    await relay.stop();
    await ops.close();
  }
  const [alert] = httpAlerts(ops);
  assert.equal(alert!["kind"], "store");
  assert.equal(alert!["step"], "receive");
  assert.equal(alert!["first_error"], "database or disk is full");
  assert.equal(httpAlerts(ops).length, 1);
});
