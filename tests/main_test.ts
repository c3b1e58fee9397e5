// main.ts run as a subprocess with exactly the permission flags `deno task compile` uses, so a
// missing permission fails here and not at a customer's.

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { eventually, FakeServer, freshSample, post, runCli, SECRET, testRelay } from "./helpers.ts";
import { parseConfig } from "../src/config.ts";

Deno.test("--version prints the version from deno.json", async () => {
  const { code, stdout } = await runCli(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout, `hero-relay ${denoJson.version}\n`);
});

Deno.test("unknown flags and commands are errors, not ignored", async () => {
  const flag = await runCli(["check", "--config", "config.example.json", "--verbose"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--verbose'/);
  const command = await runCli(["serv"]);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /Unknown command "serv"/);
});

Deno.test("every command has --help", async () => {
  for (
    const command of [
      "serve",
      "check",
      "deliveries",
      "replay",
      "enable",
      "pause",
      "resume",
      "render",
      "send-test",
      "register",
      "sign",
      "events",
    ]
  ) {
    const { code, stdout } = await runCli([command, "--help"]);
    assert.equal(code, 0, command);
    assert.match(stdout, new RegExp(`Usage: hero-relay ${command}`), command);
  }
  const { stdout } = await runCli(["--help"]);
  for (
    const command of [
      "serve",
      "check",
      "deliveries",
      "replay",
      "enable",
      "pause",
      "resume",
      "render",
    ]
  ) {
    assert.match(stdout, new RegExp(`\\n  ${command} `), command);
  }
});

Deno.test("check prints the routing table with secrets masked", async () => {
  const { code, stdout } = await runCli(["check", "--config", "config.example.json"]);
  assert.equal(code, 0);
  assert.match(stdout, /update_commission\s+everything-to-console → console/);
  assert.match(stdout, /Signing secrets: 1 configured \(values hidden\)/);
  assert.doesNotMatch(stdout, /dev-secret-change-me/);
});

Deno.test("check lists every problem with its JSON path and exits 1, without secrets", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      influencer_hero: { signing_secrets: ["super-secret-value"] },
      destinations: {
        slack: { type: "slack", url: "https://hooks.slack.com/services/T/B/TOKEN123" },
      },
      routes: [
        { name: "a", events: ["update_commission"], to: ["slak"] },
        { name: "b", events: "*", to: ["slack"], message: { title: "{{ x | nope }}" } },
      ],
    }),
  );
  const { code, stdout, stderr } = await runCli(["check", "--config", path]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /routes\[0\]\.to\[0\] names destination "slak", which is not defined \(defined: "slack"\)/,
  );
  assert.match(stderr, /routes\[1\]\.message\.title: undefined filter: nope/);
  assert.doesNotMatch(stderr, /super-secret-value|TOKEN123/);
});

Deno.test("serve on a missing config says how to create one", async () => {
  const { code, stderr } = await runCli(["serve", "--config", "/nonexistent/config.json"]);
  assert.equal(code, 1);
  assert.match(stderr, /cp config\.example\.json/);
});

Deno.test("deliveries, replay and enable work on the store of a running relay", async () => {
  const dir = await Deno.makeTempDir();
  let accept = false;
  const sink = new FakeServer(() => accept ? { status: 200 } : { status: 400, body: "bad" });
  const raw = {
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets: [SECRET] },
    store: { sqlite: `${dir}/relay.db` },
    destinations: { crm: { type: "http", url: sink.url } },
    routes: [{ name: "all", events: "*", to: ["crm"] }],
  };
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify(raw));
  const { relay } = await testRelay(
    parseConfig(JSON.stringify(raw), path, { env: () => undefined }),
  );
  try {
    for (const type of ["update_commission", "new_payout_request"]) {
      await post(relay.url, `/hooks/${type}`, freshSample(type));
    }
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "dead" })).length === 2
    );

    const table = await runCli(["deliveries", "--config", path, "--status", "dead"]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /DELIVERY\s+EVENT TYPE\s+DESTINATION\s+STATUS/);
    assert.match(table.stdout, /update_commission\s+crm\s+dead\s+1/);
    assert.match(table.stdout, /HTTP 400: bad/);
    assert.match(table.stdout, /2 deliveries/);

    const json = await runCli([
      "deliveries",
      "--config",
      path,
      "--json",
      "--event",
      "new_payout_request",
    ]);
    const rows = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, "dead");

    accept = true;
    const one = await runCli(["replay", rows[0].id, "--config", path]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /Replayed 1 delivery/);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );

    const all = await runCli(["replay", "--dead", "--destination", "crm", "--config", path]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Replayed 1 delivery/);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 2
    );
    const history = await relay.store.getDelivery(rows[0].id);
    assert.deepEqual(history!.attempts.map((a) => a.outcome), ["failed", "replay", "delivered"]);

    const missing = await runCli(["replay", "dlv_nope", "--config", path]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No delivery "dlv_nope"/);

    await relay.store.setDisabled("crm", "HTTP 410", Date.now());
    const enable = await runCli(["enable", "crm", "--config", path]);
    assert.equal(enable.code, 0);
    assert.match(enable.stdout, /Enabled "crm"/);
    assert.equal((await relay.store.disabledDestinations()).length, 0);
  } finally {
    await relay.stop();
    await sink.close();
  }
});

Deno.test("pause and resume hold a running relay's deliveries to a destination and let them go, shown by deliveries and check", async () => {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer(() => ({ status: 200 }));
  const raw = {
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets: [SECRET] },
    store: { sqlite: `${dir}/relay.db` },
    destinations: { crm: { type: "http", url: sink.url } },
    routes: [{ name: "all", events: "*", to: ["crm"] }],
  };
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify(raw));
  const { relay } = await testRelay(
    parseConfig(JSON.stringify(raw), path, { env: () => undefined }),
  );
  try {
    const pause = await runCli(["pause", "crm", "--config", path]);
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, /Paused "crm": its deliveries wait until "hero-relay resume crm"/);
    assert.deepEqual((await relay.store.pausedDestinations()).map((p) => p.name), ["crm"]);
    const again = await runCli(["pause", "crm", "--config", path]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /"crm" was already paused/);
    // The relay's maintenance loop re-reads what another process wrote.
    await eventually(() => relay.dispatcher.isPaused("crm"), 10_000, "the relay to see it");
    await post(relay.url, "/hooks/product_sent", freshSample("product_sent"));
    await eventually(async () => (await relay.store.listDeliveries({})).length === 1);

    const table = await runCli(["deliveries", "--config", path]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /crm\s+pending\s+0/);
    assert.match(
      table.stdout,
      /Destination "crm" is paused by hand since \S+Z; deliveries wait: run "hero-relay resume crm"/,
    );
    const check = await runCli(["check", "--config", path]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /crm \(http\) .*\[paused by hand since/);
    assert.match(check.stdout, /all → crm \[paused\]/);
    assert.equal(sink.received.length, 0);

    const resume = await runCli(["resume", "crm", "--config", path]);
    assert.equal(resume.code, 0, resume.stderr);
    assert.match(resume.stdout, /Resumed "crm": its waiting deliveries are sent/);
    await sink.waitFor(1);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    const twice = await runCli(["resume", "crm", "--config", path]);
    assert.match(twice.stdout, /"crm" was not paused/);
    const after = await runCli(["deliveries", "--config", path]);
    assert.doesNotMatch(after.stdout, /paused/);

    const unknown = await runCli(["pause", "nosuch", "--config", path]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No destination "nosuch" in ".*" \(defined: "crm"\)/);
    const none = await runCli(["resume", "--config", path]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Name one destination/);
  } finally {
    await relay.stop();
    await sink.close();
  }
});
