import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import {
  ConfigError,
  configJsonSchema,
  configSecrets,
  loadConfig,
  parseConfig,
  parseDuration,
} from "../src/config.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

const BASE = {
  influencer_hero: { signing_secrets: ["s"] },
  destinations: { slack: { type: "slack", url: "https://hooks.slack.com/services/T/B/X" } },
  routes: [{ name: "r", events: ["update_commission"], to: ["slack"] }],
};

function problems(raw: unknown, env: Record<string, string> = {}): string[] {
  try {
    const config = parseConfig(JSON.stringify(raw), "relay.json", { env: (name) => env[name] });
    compileConfig(config, "relay.json", { write: () => {} });
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
}

Deno.test("config.example.json loads and compiles with no environment variables set", () => {
  const config = loadConfig("config.example.json", { env: () => undefined });
  const runtime = compileConfig(config, "config.example.json", { write: () => {} });
  assert.ok(runtime.destinations.get("console")?.enabled);
  assert.equal(runtime.destinations.get("slack")?.enabled, false);
});

Deno.test("config.example.json switches Slack on when its environment variable is set", () => {
  const env: Record<string, string> = {
    SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/X",
  };
  const config = loadConfig("config.example.json", { env: (name) => env[name] });
  const runtime = compileConfig(config, "config.example.json", { write: () => {} });
  assert.ok(runtime.destinations.get("slack")?.enabled);
});

Deno.test("a misspelled destination is reported with its path and the defined names", () => {
  const found = problems({ ...BASE, routes: [{ name: "r", events: "*", to: ["slak"] }] });
  assert.deepEqual(found, [
    'routes[0].to[0] names destination "slak", which is not defined (defined: "slack")',
  ]);
});

Deno.test("a bad template and a bad condition are reported with their paths and locations", () => {
  const found = problems({
    ...BASE,
    routes: [{
      name: "r",
      events: ["update_commission"],
      when: "commission_information.new_commission_perc >",
      to: ["slack"],
      message: { title: "{{ deal_info.full_name | nosuchfilter }}", text: "{% if x %}" },
    }],
  });
  assert.equal(found.length, 3, found.join("\n"));
  assert.match(found[0]!, /^routes\[0\]\.when: the condition ends where a value is expected/);
  assert.match(found[1]!, /^routes\[0\]\.message\.title: undefined filter: nosuchfilter, line:1/);
  assert.match(found[2]!, /^routes\[0\]\.message\.text: tag \{% if x %\} not closed, line:1/);
});

Deno.test("unknown keys, wrong types and bad values are all reported at once", () => {
  const found = problems({
    ...BASE,
    listen: { port: "8080", hostnme: "x" },
    influencer_hero: { signing_secrets: [], tolerance_seconds: 0 },
    destinations: {
      slack: { type: "slack", url: "ftp://x", retries: 3 },
      weird: { type: "pager" },
    },
  });
  const text = found.join("\n");
  assert.match(text, /listen\.port: expected number, received string/);
  assert.match(text, /listen\.hostnme: unknown key "hostnme"/);
  assert.match(
    text,
    /influencer_hero\.signing_secrets: expected at least one non-empty signing secret/,
  );
  assert.match(text, /influencer_hero\.tolerance_seconds: /);
  assert.match(text, /destinations\.slack\.retries: unknown key "retries"/);
  assert.match(text, /destinations\.weird\.type: expected one of "console", "slack", "http"/);
});

Deno.test("environment variables are substituted after parsing, with defaults and alternatives", () => {
  const config = parseConfig(
    JSON.stringify({
      ...BASE,
      influencer_hero: { signing_secrets: ["${SECRET}"] },
      destinations: {
        slack: { type: "slack", url: "${SLACK_URL:-https://hooks.slack.com/services/default}" },
        crm: { type: "http", enabled: "${CRM:+true}", url: "${CRM:-}" },
      },
    }),
    "relay.json",
    { env: (name) => ({ SECRET: 'a"b\nc: ${NOT}' } as Record<string, string>)[name] },
  );
  assert.equal(config.influencer_hero.signing_secrets[0], 'a"b\nc: ${NOT}');
  const slack = config.destinations["slack"]!;
  assert.ok("url" in slack);
  assert.equal(slack.url, "https://hooks.slack.com/services/default");
  assert.equal(config.destinations["crm"]!.enabled, false);
});

Deno.test("a missing environment variable is reported at its path without its value", () => {
  const found = problems({ ...BASE, influencer_hero: { signing_secrets: ["${IH_SECRET}"] } });
  assert.ok(
    found.includes(
      'influencer_hero.signing_secrets[0]: environment variable "IH_SECRET" is not set',
    ),
  );
});

Deno.test("secrets can be read from files with *_file keys", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/secret`, "from-a-file\n");
  const config = parseConfig(
    JSON.stringify({ ...BASE, influencer_hero: { signing_secrets_files: [`${dir}/secret`] } }),
    "relay.json",
  );
  assert.deepEqual(config.influencer_hero.signing_secrets, ["from-a-file"]);
});

Deno.test("a missing config file says how to create one", () => {
  assert.throws(() => loadConfig("/nonexistent/config.json"), /cp config\.example\.json/);
});

Deno.test("parseDuration() reads units and plain seconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration(3), 3000);
  assert.throws(() => parseDuration("5 minutes"), RangeError);
});

Deno.test("destination and header names ending in _file are names, not file references", () => {
  const config = parseConfig(
    JSON.stringify({
      ...BASE,
      destinations: {
        audit_file: {
          type: "http",
          url: "https://example.com/audit",
          headers: { x_file: "kept as it is" },
        },
      },
    }),
    "relay.json",
    { readFile: () => assert.fail("no file may be read") },
  );
  const destination = config.destinations["audit_file"]!;
  assert.ok(destination.type === "http");
  assert.deepEqual(destination.headers, { x_file: "kept as it is" });
});

Deno.test("listen.body_timeout is kept between 100ms and 1h", () => {
  for (const body_timeout of ["50ms", 0, "2h", "30d"]) {
    assert.deepEqual(problems({ ...BASE, listen: { body_timeout } }), [
      "listen.body_timeout: expected a duration from 100ms to 1h",
    ], String(body_timeout));
  }
  for (const body_timeout of ["100ms", "10s", 3600]) {
    assert.deepEqual(problems({ ...BASE, listen: { body_timeout } }), [], String(body_timeout));
  }
});

Deno.test("a secret of only whitespace is refused at its JSON path", () => {
  const config = {
    admin: { token: " ".repeat(20) },
    influencer_hero: { signing_secrets: ["a-real-signing-secret", " \t "] },
    destinations: {
      alert: { type: "ntfy", url: "https://ntfy.sh/topic", token: "   " },
      crm: { type: "http", url: "https://crm.example/hook", headers: { authorization: "  " } },
    },
    routes: [],
  };
  let error: unknown;
  try {
    parseConfig(JSON.stringify(config), "test");
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  const expected = [
    "admin.token",
    "influencer_hero.signing_secrets[1]",
    "destinations.alert.token",
    "destinations.crm.headers.authorization",
  ];
  for (const path of expected) {
    assert.ok(
      error.problems.includes(`${path}: expected a secret, got only whitespace`),
      `${path} in ${error.problems.join("; ")}`,
    );
  }
});

Deno.test("the schema marks every secret field, and configSecrets() finds each value", () => {
  const config = parseConfig(
    JSON.stringify({
      admin: { token: "admin-token-0123456789" },
      influencer_hero: { signing_secrets: ["signing-secret-1"] },
      store: { postgres: "postgres://relay:pg-password@127.0.0.1/relay" },
      destinations: {
        s: { type: "slack", url: "https://hooks.slack.com/services/T1/B1/slack-token" },
        h: { type: "http", url: "https://x.example/h", headers: { "x-key": "header-key" } },
        t: { type: "telegram", bot_token: "123456:telegram-token", chat_id: 1 },
        n: { type: "ntfy", url: "https://ntfy.sh/topic-x", token: "tk_ntfy-token" },
        e: {
          type: "email",
          provider: "sendgrid",
          api_key: "SG.api-key",
          from: "a@b.c",
          to: "d@e.f",
        },
        m: {
          type: "email",
          smtp_url: "smtp://u:smtp-pass@127.0.0.1:25",
          from: "a@b.c",
          to: "d@e.f",
        },
      },
      routes: [],
    }),
    "test",
  );
  assert.deepEqual(configSecrets(config).map((s) => s.value).sort(), [
    "123456:telegram-token",
    "SG.api-key",
    "admin-token-0123456789",
    "header-key",
    "https://hooks.slack.com/services/T1/B1/slack-token",
    "https://ntfy.sh/topic-x",
    "https://x.example/h",
    "postgres://relay:pg-password@127.0.0.1/relay",
    "signing-secret-1",
    "smtp://u:smtp-pass@127.0.0.1:25",
    "tk_ntfy-token",
  ]);
  const schema = JSON.stringify(configJsonSchema());
  assert.equal(schema.match(/"x-secret"/g)?.length, schema.match(/"writeOnly":true/g)?.length);
  assert.ok((schema.match(/"x-secret"/g)?.length ?? 0) >= 14);
});

Deno.test("configSecrets() also holds whatever a *_file supplied, whichever field it fills", () => {
  const files: Record<string, string> = {
    "/run/secrets/ih": "signing-secret-from-file\n",
    "/run/secrets/chat": "-100123456789\n",
  };
  const config = parseConfig(
    JSON.stringify({
      influencer_hero: { signing_secrets_files: ["/run/secrets/ih"] },
      destinations: {
        tg: {
          type: "telegram",
          bot_token: "123456:telegram-token",
          chat_id_file: "/run/secrets/chat",
        },
      },
      routes: [],
    }),
    "test",
    { readFile: (path) => files[path]! },
  );
  const values = configSecrets(config).map((s) => s.value);
  assert.ok(values.includes("signing-secret-from-file"));
  assert.ok(values.includes("-100123456789"), "a file's content is a secret even in chat_id");
});

// a config that is not valid JSON is reported without quoting the text around the
// mistake, which may be a secret written by hand (single quotes, a missing quote).
Deno.test("a JSON syntax error in the config never quotes the text near it", () => {
  const texts = [
    `{"influencer_hero": {"signing_secrets": ['s3cr3t-value-abcdef']}}`,
    `{"destinations": {"s": {"type": "slack", "url": https://hooks.slack.com/services/T/B/TOKENxyz}}}`,
  ];
  for (const text of texts) {
    assert.throws(() => parseConfig(text, "config.json", { env: () => undefined }), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /not valid JSON/);
      for (const secret of ["s3cr3t", "hooks.slack", "TOKEN"]) {
        assert.ok(!error.message.includes(secret), `"${secret}" in: ${error.message}`);
      }
      return true;
    });
  }
});
