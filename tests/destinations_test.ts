// What holds across destinations: each type has a test file running the shared contract
// (tests/destination_contract.ts); config.example.json shows every type, loads with no variables
// set and enables each destination when its variables are set; destination config problems name
// their JSON path and never echo a secret.

import assert from "node:assert/strict";
import { compileConfig, type Runtime } from "../src/compile.ts";
import { ConfigError, loadConfig, parseConfig } from "../src/config.ts";
import { DESTINATION_TYPES } from "../src/destinations.ts";
import { SECRET } from "./helpers.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

function runtimeOf(destinations: Record<string, unknown>): Runtime {
  const text = JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations,
    routes: [{ name: "all", events: "*", to: Object.keys(destinations) }],
  });
  const config = parseConfig(text, "test config", { env: () => undefined });
  return compileConfig(config, "test config", { write: () => {} });
}

Deno.test("every destination type has its own test file, and it runs the destination contract", async () => {
  for (const { type } of DESTINATION_TYPES) {
    const file = new URL(`./destination_${type}_test.ts`, import.meta.url);
    const text = await Deno.readTextFile(file).catch(() => "");
    assert.match(text, /destinationContract\(\{\s*type: "/, `tests/destination_${type}_test.ts`);
    assert.ok(text.includes(`type: "${type}"`), `tests/destination_${type}_test.ts names ${type}`);
  }
});

Deno.test("config.example.json loads and compiles with no environment variables set", () => {
  const config = loadConfig("config.example.json", { env: () => undefined });
  const runtime = compileConfig(config, "config.example.json", { write: () => {} });
  const types = new Set<string>(Object.values(config.destinations).map((d) => d.type));
  for (const { type } of DESTINATION_TYPES) {
    assert.ok(types.has(type), `the example shows ${type}`);
  }
  const enabled = [...runtime.destinations].filter(([, d]) => d.enabled).map(([n]) => n);
  assert.deepEqual(enabled, ["console"]);
});

Deno.test("config.example.json enables each destination when its variables are set", () => {
  const env: Record<string, string> = {
    SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/x",
    CRM_WEBHOOK_URL: "https://example.com/crm",
    CRM_SIGNING_SECRET: "whsec_" + btoa("0123456789abcdef0123456789abcdef"),
    DISCORD_WEBHOOK_URL: "https://discord.com/api/webhooks/1/x",
    TEAMS_WEBHOOK_URL: "https://prod-01.westus.logic.azure.com/workflows/1/x?sig=y",
    TELEGRAM_BOT_TOKEN: "123456:ABCdef",
    TELEGRAM_CHAT_ID: "-100123",
    GOOGLE_CHAT_WEBHOOK_URL: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
    MATTERMOST_WEBHOOK_URL: "https://mm.example.com/hooks/x",
    NTFY_TOPIC_URL: "https://ntfy.sh/hero-relay-test",
    SMTP_URL: "smtps://u:p@smtp.example.com:465",
    SENDGRID_API_KEY: "SG.x",
    GOOGLE_SHEET_ID: "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
    GOOGLE_SERVICE_ACCOUNT_KEY: JSON.stringify({
      type: "service_account",
      client_email: "relay@project.iam.gserviceaccount.com",
      private_key: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
      token_uri: "https://oauth2.googleapis.com/token",
    }),
    AIRTABLE_TOKEN: "patX.y",
    AIRTABLE_BASE_ID: "appABCDEFGHIJKLMN",
    KLAVIYO_PRIVATE_KEY: "pk_x",
    HUBSPOT_TOKEN: "pat-na1-x",
    INFLUENCER_HERO_API_KEY: "ih_live_x",
  };
  const config = loadConfig("config.example.json", { env: (name) => env[name] });
  const runtime = compileConfig(config, "config.example.json", { write: () => {} });
  const disabled = [...runtime.destinations].filter(([, d]) => !d.enabled).map(([n]) => n);
  assert.deepEqual(disabled, []);
});

Deno.test("destination config problems name their JSON path and never echo secrets", () => {
  const load = (destination: Record<string, unknown>) =>
    parseConfig(
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        destinations: { d: destination },
        routes: [],
      }),
      "relay.json",
      { env: () => undefined },
    );
  const problems = (destination: Record<string, unknown>): string => {
    try {
      load(destination);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    return "";
  };
  assert.match(
    problems({ type: "email", from: "a@b.example", to: "c@d.example" }),
    /destinations\.d\.smtp_url: expected either "smtp_url" or "provider"/,
  );
  const smtp = problems({
    type: "email",
    smtp_url: "http://user:hunter2@x",
    from: "a@b.example",
    to: "c",
  });
  assert.match(smtp, /destinations\.d\.smtp_url: expected an smtp:\/\/ or smtps:\/\/ URL/);
  assert.match(smtp, /destinations\.d\.to: expected an e-mail address, got "c"/);
  assert.doesNotMatch(smtp, /hunter2/);
  assert.match(
    problems({ type: "email", provider: "resend", from: "a@b.example", to: ["c@d.example"] }),
    /destinations\.d\.api_key: expected the resend API key/,
  );
  const telegram = problems({ type: "telegram", bot_token: "leaked-token", chat_id: "" });
  assert.match(telegram, /destinations\.d\.bot_token: expected a bot token/);
  assert.match(telegram, /destinations\.d\.chat_id: expected a chat id/);
  assert.doesNotMatch(telegram, /leaked-token/);
  assert.match(
    problems({ type: "ntfy", url: "https://ntfy.sh/" }),
    /destinations\.d\.url: expected a topic URL/,
  );
  assert.match(
    problems({ type: "discord", url: "" }),
    /destinations\.d\.url: expected an http:\/\/ or https:\/\/ URL, got an empty string/,
  );
  assert.match(
    problems({ type: "teams", url: "https://x.example", colour: "red" }),
    /destinations\.d\.colour: unknown key "colour"/,
  );
  // A disabled destination may be incomplete: its variables are simply not set.
  assert.equal(problems({ type: "telegram", enabled: "", bot_token: "", chat_id: "" }), "");
  assert.throws(
    () =>
      runtimeOf({
        d: {
          type: "email",
          smtp_url: "smtp://h",
          from: "a@b.example",
          to: "c@d.example",
          subject: "{% if %}",
        },
      }),
    /destinations\.d\.subject: /,
  );
});
