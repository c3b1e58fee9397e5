// What a new user meets on the command line: commands read only the config parts they use,
// relative paths follow the config file, store commands never create an empty store, unknown
// names are errors, and network errors say what happened.

import assert from "node:assert/strict";
import { FakeServer, freePort, runCli, SECRET, ServeProcess } from "./helpers.ts";

/** A config in a new folder with a relative store path and an admin token from the environment. */
async function relayFolder(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port: freePort() },
      admin: { port: 0, token: "${HERO_RELAY_ADMIN_TOKEN}" },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: "./store/relay.db" },
      destinations: {
        log: { type: "console" },
        team: { type: "slack", url: "${SLACK_WEBHOOK_URL}" },
      },
      routes: [{ name: "all", events: "*", to: ["log", "team"] }],
    }),
    { mode: 0o600 },
  );
  return { dir, path };
}

const SERVE_ENV = {
  HERO_RELAY_ADMIN_TOKEN: "an-admin-token-of-32-characters!",
  SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/X0",
};

Deno.test("store commands refuse a store that does not exist, and create nothing", async () => {
  const { dir, path } = await relayFolder();
  try {
    for (const args of [["deliveries"], ["replay", "--dead"], ["enable", "log"]]) {
      const { code, stdout, stderr } = await runCli([...args, "--config", path], { cwd: "/" });
      assert.equal(code, 1, `${args[0]}: ${stdout}`);
      assert.match(
        stderr,
        new RegExp(`No store at "${dir}/store/relay\\.db"; is --config the relay's config\\?`),
      );
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["config.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a relative store path is the config folder's, and store commands skip unused parts", async (t) => {
  const { dir, path } = await relayFolder();
  try {
    // serve runs elsewhere; its store goes beside the config all the same.
    const serve = await ServeProcess.start(path, { cwd: "/", env: SERVE_ENV });
    await serve.stop();
    assert.ok(Deno.statSync(`${dir}/store/relay.db`).isFile);

    await t.step("deliveries runs from another folder without the admin token set", async () => {
      const { code, stdout, stderr } = await runCli(["deliveries", "--config", path], {
        cwd: "/",
      });
      assert.equal(code, 0, stderr);
      assert.match(stdout, /0 deliveries\n$/);
    });

    await t.step("replay --dead with nothing to replay exits 1", async () => {
      const { code, stderr } = await runCli(["replay", "--dead", "--config", path]);
      assert.equal(code, 1);
      assert.match(stderr, /Nothing to replay/);
    });

    await t.step("enable of an unknown destination exits 1 naming the defined ones", async () => {
      const { code, stderr } = await runCli(["enable", "nosuch", "--config", path]);
      assert.equal(code, 1);
      assert.match(stderr, /No destination "nosuch" in .* \(defined: "log", "team"\)/);
    });

    await t.step('enable of a destination never disabled explains "enabled": false', async () => {
      const { code, stdout, stderr } = await runCli(["enable", "team", "--config", path]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /"team" was not disabled by the relay .* "enabled": false/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sign, send-test and render need only the parts they use", async () => {
  const { dir, path } = await relayFolder();
  try {
    const sign = await runCli(["sign", "--config", path], { stdin: "{}" });
    assert.equal(sign.code, 0, sign.stderr);
    assert.match(sign.stdout, /X-InfluencerHero-Signature: [0-9a-f]{64}\n/);

    const sent = await runCli(["send-test", "product_sent", "--config", path]);
    assert.equal(sent.code, 1);
    assert.doesNotMatch(sent.stderr, /HERO_RELAY_ADMIN_TOKEN/);
    assert.match(sent.stdout, /^product_sent\s+cannot reach http:\/\/127\.0\.0\.1:\d+\/hooks/);

    const render = await runCli(["render", "product_sent", "--config", path], {
      env: { SLACK_WEBHOOK_URL: SERVE_ENV.SLACK_WEBHOOK_URL },
    });
    assert.equal(render.code, 0, render.stderr);
    assert.match(render.stdout, /=== route "all" → team/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("render --route with an unknown route is an error naming the defined ones", async () => {
  const { dir, path } = await relayFolder();
  try {
    const { code, stderr } = await runCli(
      ["render", "product_sent", "--route", "nosuch", "--config", path],
      { env: { SLACK_WEBHOOK_URL: SERVE_ENV.SLACK_WEBHOOK_URL } },
    );
    assert.equal(code, 2);
    assert.match(stderr, /No route "nosuch" in .* \(defined: "all"\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("send-test says why a relay cannot be reached: refused, or no such host", async () => {
  const port = freePort();
  const refused = await runCli([
    "send-test",
    "product_sent",
    "--url",
    `http://127.0.0.1:${port}`,
    "--secret",
    "s",
  ]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /cannot reach .*: tcp connect error: Connection refused/);
  const dns = await runCli([
    "send-test",
    "product_sent",
    "--url",
    "http://nosuch.invalid",
    "--secret",
    "s",
  ]);
  assert.equal(dns.code, 1);
  assert.match(dns.stdout, /cannot reach .*: dns error: /);
});

Deno.test("a JSON mistake is shown by line and column, without the text around it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(path, '{\n  "admin": { "token": "hunter2-hunter2-hunter2" x }\n}\n');
    const { code, stderr } = await runCli(["check", "--config", path]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /the file is not valid JSON: line 2, column 49: expected ',' or '}' after property value\n$/,
    );
    assert.doesNotMatch(stderr, /hunter2/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a JSON mistake found on reload is logged by line and column too", async () => {
  const { dir, path } = await relayFolder();
  const serve = await ServeProcess.start(path, { env: SERVE_ENV });
  try {
    // Answered only once serve's start-up code, which sets up the file watcher, has run.
    const port = JSON.parse(await Deno.readTextFile(path)).listen.port;
    await (await fetch(`http://127.0.0.1:${port}/healthz`)).body?.cancel();
    const from = serve.stdout.length;
    await Deno.writeTextFile(path, '{\n  "listen": {\n    "port": 80,\n  }\n}\n');
    const failed = await serve.waitForLog(
      (l) => String(l.msg).startsWith("config reload failed"),
      15_000,
      from,
    );
    assert.match(
      String(failed["problems"]),
      /the file is not valid JSON: line 4, column 3: expected double-quoted property name$/,
    );
  } finally {
    await serve.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve --hostname 999.1.1.1 says the address is not one and how to choose one", async () => {
  const { dir, path } = await relayFolder();
  try {
    const { code, stderr } = await runCli(["serve", "--config", path, "--hostname", "999.1.1.1"], {
      env: SERVE_ENV,
    });
    assert.equal(code, 1);
    assert.match(
      stderr,
      /Cannot listen on "999\.1\.1\.1": it is not an address or a known host name; give --hostname/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check and deliveries show a destination the relay disabled because its endpoint is gone", async () => {
  const sink = new FakeServer(() => ({ status: 410, body: "gone" }));
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    const port = freePort();
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        listen: { hostname: "127.0.0.1", port },
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: "./relay.db" },
        destinations: {
          sink: { type: "http", url: `${sink.url}/hook` },
          off: { type: "console", enabled: false },
        },
        routes: [{ name: "all", events: "*", to: ["sink"] }],
      }),
      { mode: 0o600 },
    );
    const serve = await ServeProcess.start(path);
    try {
      const sent = await runCli(["send-test", "product_sent", "--config", path]);
      assert.equal(sent.code, 0, sent.stdout);
      await serve.waitForLog((l) => String(l.msg).startsWith("destination disabled"));
    } finally {
      await serve.stop();
    }
    const gone =
      /disabled by the relay since \d{4}-\d\d-\d\dT[\d:]+Z because its endpoint is gone \(HTTP 410: gone\); deliveries wait: fix it, then run "hero-relay enable sink"/;
    const check = await runCli(["check", "--config", path]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, new RegExp(`  sink \\(http\\) .*\\[${gone.source}\\]`));
    assert.match(check.stdout, / {2}off \(console\) \[disabled in the config\]/);
    assert.match(check.stdout, /product_sent\s+all → sink \[disabled\]/);
    const list = await runCli(["deliveries", "--config", path]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`Destination "sink" is ${gone.source}\\n$`));
    const enable = await runCli(["enable", "sink", "--config", path]);
    assert.equal(enable.code, 0, enable.stderr);
    assert.match(enable.stdout, /Enabled "sink": its parked deliveries resume/);
    const after = await runCli(["check", "--config", path]);
    assert.doesNotMatch(after.stdout, /disabled by the relay/);
  } finally {
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README's Commands table gives every command's usage and every option its --help lists", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Commands"), readme.indexOf("Every command has"));
  // Each row's command, with markdown's escaped pipes undone.
  const rows = [...section.matchAll(/^\| `(hero-relay [^`]+)` +\|/gm)].map((m) =>
    m[1]!.replaceAll("\\|", "|")
  );
  const overview = await runCli(["--help"]);
  const commands = [...overview.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 11, overview.stdout);
  for (const command of commands) {
    const help = (await runCli([command, "--help"])).stdout;
    // The usage paragraph: one or more forms, each perhaps wrapped onto indented lines.
    const usage = help.slice(0, help.indexOf("\n\n")).replace(/^Usage: /, "");
    const forms = usage.split(/\n\s*(?=hero-relay )/).map((f) => f.replace(/\s+/g, " ").trim());
    for (const form of forms) assert.ok(rows.includes(form), `README lacks \`${form}\``);
    const documented = rows.filter((r) =>
      r.startsWith(`hero-relay ${command} `) || r === `hero-relay ${command}`
    )
      .join(" ");
    for (const [, flag] of help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)) {
      if (flag !== "--help") {
        assert.ok(documented.includes(flag!), `${command} ${flag} not in README`);
      }
    }
  }
});
