// The contract every destination keeps, checked on each one built from config the way the relay
// builds it: every default message renders every sample event; hostile payload text renders
// safely within each service's limits; previews never show secrets; an unreachable endpoint is
// retried, never thrown. Also: config.example.json loads with and without its variables.

import assert from "node:assert/strict";
import { compileConfig, type Runtime } from "../src/compile.ts";
import { ConfigError, loadConfig, parseConfig } from "../src/config.ts";
import type { Destination, Rendered } from "../src/destination.ts";
import { SAMPLES } from "../src/samples.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  parseTelegramHtml,
  sendContext,
} from "./destination_kit.ts";
import { SECRET } from "./helpers.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

/** Secret parts of the destinations below; none may appear in a preview. */
const SECRETS = [
  "slacktok3n",
  "discordtok3n",
  "teams-sig-s3cr3t",
  "AAHdqTcvCH1vGWJxfSeofSAs",
  "chat-tok3n",
  "mm-hook-k3y",
  "tk_ntfys3cr3t",
  "smtp-pa55",
  "SG.s3cr3t",
  "crm-bearer-s3cr3t",
];

/** One destination of every type, as an operator would configure it. */
function destinationsConfig(base = "https://services.example"): Record<string, unknown> {
  return {
    console: { type: "console" },
    slack: { type: "slack", url: `${base}/services/T0/B0/slacktok3n` },
    http: {
      type: "http",
      url: `${base}/crm`,
      headers: { authorization: "Bearer crm-bearer-s3cr3t" },
      signing_secrets: ["whsec_" + btoa("0123456789abcdef0123456789abcdef")],
    },
    discord: { type: "discord", url: `${base}/api/webhooks/1/discordtok3n` },
    teams: { type: "teams", url: `${base}/workflows/1/invoke?sig=teams-sig-s3cr3t` },
    telegram: {
      type: "telegram",
      bot_token: "123456:AAHdqTcvCH1vGWJxfSeofSAs",
      chat_id: "-100123",
      api_url: base,
    },
    google_chat: { type: "google_chat", url: `${base}/v1/spaces/A/messages?token=chat-tok3n` },
    mattermost: { type: "mattermost", url: `${base}/hooks/mm-hook-k3y` },
    ntfy: { type: "ntfy", url: `${base}/alerts`, token: "tk_ntfys3cr3t", priority: "high" },
    email: {
      type: "email",
      smtp_url: "smtps://relay:smtp-pa55@smtp.example:465",
      from: "Hero Relay <relay@brand.example>",
      to: "finance@brand.example",
      subject: "{{ message.title }} ({{ event.type }})",
    },
    email_api: {
      type: "email",
      provider: "sendgrid",
      api_key: "SG.s3cr3t",
      api_url: base,
      from: "relay@brand.example",
      to: ["finance@brand.example"],
      cc: ["boss@brand.example"],
    },
  };
}

function runtimeOf(destinations: Record<string, unknown>): Runtime {
  const text = JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations,
    routes: [{ name: "all", events: "*", to: Object.keys(destinations) }],
  });
  const config = parseConfig(text, "test config", { env: () => undefined });
  return compileConfig(config, "test config", { write: () => {} });
}

function allDestinations(base?: string): Destination[] {
  return [...runtimeOf(destinationsConfig(base)).destinations.values()].map((d) => d.destination);
}

const JSON_TYPES = new Set([
  "slack",
  "http",
  "discord",
  "teams",
  "telegram",
  "google_chat",
  "mattermost",
  "ntfy",
]);

function assertRendered(destination: Destination, rendered: Rendered, what: string): void {
  assert.notEqual(rendered.method, "ERROR", `${destination.name} ${what}: ${rendered.body}`);
  assert.ok(rendered.body.length > 0, `${destination.name} ${what}: empty body`);
  if (JSON_TYPES.has(destination.type) || destination.name === "email_api") {
    assert.doesNotThrow(() => JSON.parse(rendered.body), `${destination.name} ${what}`);
  }
  const shown = JSON.stringify(rendered);
  for (const secret of SECRETS) {
    assert.ok(!shown.includes(secret), `${destination.name} ${what} shows "${secret}"`);
  }
}

Deno.test("every default message renders every sample event in every destination", () => {
  const destinations = allDestinations();
  assert.equal(new Set(destinations.map((d) => d.type)).size, 10, "every destination type");
  for (const type of [...Object.keys(SAMPLES), "some_future_event"]) {
    const delivery = deliveryOf(type, type in SAMPLES ? {} : { payload: { deal_id: "d1" } });
    assert.ok(delivery.message.title !== "", `${type} has a title`);
    for (const destination of destinations) {
      assertRendered(destination, destination.render(delivery), type);
    }
  }
});

Deno.test("hostile payload text renders safely in every destination", () => {
  const delivery = deliveryWith(hostileMessage());
  for (const destination of allDestinations()) {
    const rendered = destination.render(delivery);
    assertRendered(destination, rendered, "hostile");
    const body = rendered.body;
    switch (destination.type) {
      case "slack": {
        // Slack parses <…> only in mrkdwn; the relay's own links are the only ones left there.
        const json = JSON.parse(body);
        const mrkdwn: string[] = [json.text];
        JSON.stringify(json.blocks, (_key, value) => {
          if (value?.type === "mrkdwn") mrkdwn.push(value.text);
          return value;
        });
        for (const text of mrkdwn) assert.doesNotMatch(text, /<(?!https:\/\/example\.com\/)/);
        break;
      }
      case "discord": {
        const json = JSON.parse(body);
        assert.deepEqual(json.allowed_mentions, { parse: [] });
        const embed = json.embeds[0];
        assert.ok(embed.title.length <= 256 && embed.description.length <= 4096);
        assert.ok(embed.fields.length <= 25);
        assert.ok(embed.fields.every((f: Json) => f.name.length <= 256 && f.value.length <= 1024));
        const total = embed.title.length + embed.description.length + embed.author.name.length +
          embed.footer.text.length +
          embed.fields.reduce((n: number, f: Json) => n + f.name.length + f.value.length, 0);
        assert.ok(total <= 6000, `embed total ${total}`);
        assert.doesNotMatch(embed.description, /(?<!\\)\*bold/);
        break;
      }
      case "telegram": {
        const json = JSON.parse(body);
        const parsed = parseTelegramHtml(json.text);
        assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
        assert.ok(parsed.text.length <= 4096);
        assert.ok(parsed.tags.every((t) => t === "b" || t === "a"));
        break;
      }
      case "teams":
        assert.ok(new TextEncoder().encode(body).length <= 28 * 1024);
        assert.doesNotMatch(body, /(?<!\\\\)\*bold/);
        break;
      case "google_chat": {
        const widgets = JSON.parse(body).cardsV2[0].card.sections[0].widgets;
        for (const w of widgets) {
          for (
            const text of [w.textParagraph?.text, w.decoratedText?.text, w.decoratedText?.topLabel]
          ) {
            assert.doesNotMatch((text ?? "").replace(/<br>/g, ""), /</);
          }
        }
        assert.ok(new TextEncoder().encode(body).length <= 32_000);
        break;
      }
      case "mattermost":
        assert.doesNotMatch(body, /<!channel>|(^|[\s"])@(everyone|here|channel|all)\b/);
        break;
      case "ntfy":
        assert.ok(new TextEncoder().encode(JSON.parse(body).message).length <= 4096);
        break;
      case "email": {
        const html = destination.name === "email"
          ? body.slice(body.indexOf("--- text/html ---"))
          : destination.name === "email_api"
          ? JSON.parse(body).content[1].value
          : "";
        assert.doesNotMatch(html, /<script>|<b>bold/);
        assert.match(html, /&lt;script&gt;/);
        break;
      }
    }
  }
});

Deno.test("an unreachable endpoint is a retry for every destination, never a throw", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const config = destinationsConfig(`http://127.0.0.1:${port}`);
  (config["email"] as Record<string, unknown>)["smtp_url"] = `smtp://u:p@127.0.0.1:${port}`;
  delete config["console"];
  for (const { destination } of runtimeOf(config).destinations.values()) {
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(outcome.kind, "retry", destination.name);
    assert.equal(outcome.httpStatus, null, destination.name);
  }
});

Deno.test("config.example.json loads and compiles with no environment variables set", () => {
  const config = loadConfig("config.example.json", { env: () => undefined });
  const runtime = compileConfig(config, "config.example.json", { write: () => {} });
  const types = new Set<string>(Object.values(config.destinations).map((d) => d.type));
  for (const type of JSON_TYPES) assert.ok(types.has(type), `the example shows ${type}`);
  assert.ok(types.has("email"));
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
