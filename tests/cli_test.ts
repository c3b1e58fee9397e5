// The operator's test tools — send-test, sign, events — run as the compiled binary runs them: a
// subprocess with exactly `deno task compile`'s permission flags, against a real `serve`.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import denoJson from "../deno.json" with { type: "json" };
import { EVENT_TYPES } from "../src/events.ts";
import { SAMPLES } from "../src/samples.ts";
import { freePort, runCli, ServeProcess } from "./helpers.ts";

/** config.example.json as the README's quick start runs it, on a free port and a temp store. */
async function quickStartConfig(): Promise<{ dir: string; path: string; port: number }> {
  const dir = await Deno.makeTempDir();
  const example = JSON.parse(
    await Deno.readTextFile(new URL("../config.example.json", import.meta.url)),
  );
  const port = freePort();
  example.listen.port = port;
  example.store.sqlite = `${dir}/relay.db`;
  delete example.$schema;
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify(example, null, 2));
  await Deno.chmod(path, 0o600);
  return { dir, path, port };
}

Deno.test("the README quick start round trip: serve, send-test all gets 200 for every type, SIGTERM exits 0", async (t) => {
  const { dir, path, port } = await quickStartConfig();
  // The example's development secret, whatever this machine's environment says.
  const env = { HERO_RELAY_SIGNING_SECRET: "" };
  const serve = await ServeProcess.start(path, { env });
  let stopped = false;
  try {
    await t.step("send-test all: every type is answered 200 and printed", async () => {
      const { code, stdout, stderr } = await runCli(["send-test", "all", "--config", path], {
        env,
      });
      assert.equal(code, 0, stderr);
      const lines = stdout.trimEnd().split("\n");
      assert.equal(lines.length, EVENT_TYPES.length);
      for (const [i, type] of EVENT_TYPES.entries()) {
        const [name, status, answer] = lines[i]!.split(/\s+(\d{3}) /);
        assert.equal(name, type.name);
        assert.equal(status, "200", lines[i]!);
        const json = JSON.parse(answer!);
        assert.equal(json.type, type.name);
        assert.equal(json.duplicate, false);
      }
      // The console destination prints each message: the round trip reached the end of the road.
      await serve.waitForLog(() =>
        serve.stderr.split("\n").filter((l) => l.startsWith("── ")).length === 11
      );
    });

    await t.step(
      "send-test again is not answered as a duplicate (each send has a nonce)",
      async () => {
        const { code, stdout } = await runCli(["send-test", "product_sent", "--config", path], {
          env,
        });
        assert.equal(code, 0);
        assert.match(stdout, /^product_sent\s+200 .*"duplicate":false/);
      },
    );

    await t.step("send-test with --url, --secret and --payload", async () => {
      const payload = `${dir}/payload.json`;
      await Deno.writeTextFile(payload, JSON.stringify({ deal_id: "d-1", custom: "x" }));
      const ok = await runCli([
        "send-test",
        "brand_new_type",
        "--url",
        `http://127.0.0.1:${port}/`,
        "--secret",
        "dev-secret-change-me",
        "--payload",
        payload,
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^brand_new_type\s+200 .*"type":"brand_new_type"/);
    });

    await t.step("a wrong secret is answered 401 and send-test exits 1", async () => {
      const { code, stdout } = await runCli([
        "send-test",
        "update_commission",
        "--config",
        path,
        "--secret",
        "not-the-secret",
      ], { env });
      assert.equal(code, 1);
      assert.match(stdout, /^update_commission\s+401 .*Signature does not match/);
    });

    await t.step("a type without a sample and no --payload exits 2", async () => {
      const { code, stderr } = await runCli(["send-test", "brand_new_type", "--config", path], {
        env,
      });
      assert.equal(code, 2);
      assert.match(stderr, /No sample for "brand_new_type"; pass --payload FILE/);
    });

    await t.step("SIGTERM stops the relay gracefully with exit code 0", async () => {
      stopped = true;
      assert.equal(await serve.stop(), 0);
      assert.ok(serve.logs.some((l) => l.msg === "relay stopped"));
      // Standard error holds the console destination's messages and nothing else.
      assert.equal(serve.stderr.split("\n").filter((l) => /^hero-relay|Error/.test(l)).length, 0);
      assert.ok(serve.stdout.every((line) => JSON.parse(line)), "stdout is JSON lines only");
    });

    await t.step("send-test to a relay that is not running says so and exits 1", async () => {
      const { code, stdout } = await runCli(["send-test", "new_max_bid", "--config", path], {
        env,
      });
      assert.equal(code, 1);
      assert.match(stdout, new RegExp(`^new_max_bid\\s+cannot reach http://127.0.0.1:${port}/`));
    });
  } finally {
    if (!stopped) await serve.stop();
  }
});

Deno.test("sign prints the headers Influencer Hero would send; the HMAC checks out independently", async () => {
  const body = new Uint8Array([
    ...new TextEncoder().encode('{"deal_id":"d1","name":"Zoë 🎉"}'),
    0xff,
    0x00,
  ]);
  const { code, stdout, stderr } = await runCli(
    ["sign", "--secret", "s3cret-ü", "--timestamp", "1700000000"],
    { stdin: body },
  );
  assert.equal(code, 0, stderr);
  const expected = createHmac("sha256", "s3cret-ü").update(body).digest("hex");
  assert.equal(
    stdout,
    "Content-Type: application/json\n" +
      `X-InfluencerHero-Signature: ${expected}\n` +
      "X-InfluencerHero-Timestamp: 1700000000\n",
  );
});

Deno.test("sign takes the config's first secret and the current time by default", async () => {
  const { path } = await quickStartConfig();
  const before = Math.floor(Date.now() / 1000);
  const { code, stdout } = await runCli(["sign", "--config", path], {
    stdin: "{}",
    env: { HERO_RELAY_SIGNING_SECRET: "from-the-environment" },
  });
  assert.equal(code, 0);
  const expected = createHmac("sha256", "from-the-environment").update("{}").digest("hex");
  assert.match(stdout, new RegExp(`X-InfluencerHero-Signature: ${expected}\n`));
  const timestamp = Number(/X-InfluencerHero-Timestamp: (\d+)/.exec(stdout)![1]);
  assert.ok(timestamp >= before && timestamp <= Math.floor(Date.now() / 1000));
});

Deno.test("sign refuses a timestamp that is not Unix seconds with exit code 2", async () => {
  const { code, stderr } = await runCli(["sign", "--secret", "s", "--timestamp", "2024-01-01"], {
    stdin: "{}",
  });
  assert.equal(code, 2);
  assert.match(stderr, /--timestamp takes Unix seconds/);
});

Deno.test("events lists every known type on one line each, and prints one's sample payload", async () => {
  const list = await runCli(["events"]);
  assert.equal(list.code, 0);
  const lines = list.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), EVENT_TYPES.map((t) => t.name));
  for (const [i, type] of EVENT_TYPES.entries()) assert.ok(lines[i]!.includes(type.summary));

  const one = await runCli(["events", "new_influencer_order"]);
  assert.equal(one.code, 0);
  assert.deepEqual(JSON.parse(one.stdout), SAMPLES["new_influencer_order"]);

  const unknown = await runCli(["events", "no_such_type"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown event type "no_such_type"/);
});

Deno.test("send-test, sign and events have --help; --version prints deno.json's; unknown flags exit 2", async () => {
  for (const command of ["send-test", "sign", "events"]) {
    const { code, stdout } = await runCli([command, "--help"]);
    assert.equal(code, 0, command);
    assert.match(stdout, new RegExp(`^Usage: hero-relay ${command}`), command);
    const bad = await runCli([command, "--no-such-flag"]);
    assert.equal(bad.code, 2, command);
    assert.match(bad.stderr, /Unknown option '--no-such-flag'/, command);
    assert.match(bad.stderr, new RegExp(`Run "hero-relay ${command} --help" for usage`), command);
  }
  const top = await runCli(["--help"]);
  for (const command of ["send-test", "sign", "events"]) {
    assert.match(top.stdout, new RegExp(`\\n  ${command} +\\S`), command);
  }
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `hero-relay ${denoJson.version}\n`);
});
