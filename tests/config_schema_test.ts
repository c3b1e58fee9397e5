// config.schema.json against what `check` accepts: config.example.json and every config in
// README.md pass a strict JSON Schema validator (ajv) and `check` run as the binary runs it.

import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { runCli } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url);
const schema = JSON.parse(await Deno.readTextFile(new URL("config.schema.json", ROOT)));
// "x-secret" is the schema's own annotation of secret fields (with the standard writeOnly).
const validate = new Ajv2020({ strict: true, allErrors: true }).addVocabulary(["x-secret"])
  .compile(schema);

/** Plausible values for every variable the README's configs name. */
const ENV: Record<string, string> = {
  IH_SECRET: "ih-secret-for-tests",
  SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/X0",
  CRM_TOKEN: "crm-token",
  DATABASE_URL: "postgres://relay:pw@127.0.0.1:5432/relay",
  DISCORD_WEBHOOK_URL: "https://discord.com/api/webhooks/1/x",
  TEAMS_WEBHOOK_URL: "https://prod.westeurope.logic.azure.com/workflows/1/triggers/manual/paths",
  TELEGRAM_BOT_TOKEN: "123456:ABCdef",
  GOOGLE_CHAT_WEBHOOK_URL: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
  MATTERMOST_WEBHOOK_URL: "https://chat.example.com/hooks/abc",
  NTFY_TOPIC: "relay-tests",
  NTFY_TOKEN: "tk_test",
  SMTP_URL: "smtp://user:pw@mail.example.com:587",
  POSTMARK_SERVER_TOKEN: "pm-token",
  HUBSPOT_TOKEN: "pat-na1-test-token",
  CRM_KEY: "crm-key",
  CRM_WEBHOOK_URL: "https://example.com/crm",
  CRM_SIGNING_SECRET: "whsec_" + btoa("0123456789abcdef0123456789abcdef"),
  AIRTABLE_TOKEN: "patTest0123456789.abcdef",
  KLAVIYO_PRIVATE_KEY: "pk_test0123456789",
  SHOPIFY_WEBHOOK_SECRET: "shopify-secret",
  BILLING_WEBHOOK_SECRET: "whsec_" + btoa("fedcba9876543210fedcba9876543210"),
  GITHUB_WEBHOOK_SECRET: "github-secret",
  STRIPE_WEBHOOK_SECRET: "whsec_stripe-secret",
  REFERSION_WEBHOOK_SECRET: "refersion-secret",
  UPPROMOTE_WEBHOOK_SECRET: "uppromote-secret",
  INFLUENCER_HERO_API_KEY: "ih_live_test",
};

function schemaErrors(config: unknown): string {
  return validate(config) ? "" : JSON.stringify(validate.errors, null, 1);
}

/** Writes `config` (mode 600) and runs `check` on it; each /run/secrets/ file is a temp file. */
async function check(config: unknown): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const text = JSON.stringify(config).replace(/"\/run\/secrets\/([a-z.-]+)"/g, (_, name) => {
      const file = `${dir}/${name}`;
      Deno.writeTextFileSync(
        file,
        name.endsWith(".json") ? SERVICE_ACCOUNT_KEY : "a-secret-read-from-a-file\n",
      );
      return JSON.stringify(file);
    });
    await Deno.writeTextFile(`${dir}/config.json`, text, { mode: 0o600 });
    return await runCli(["check", "--config", `${dir}/config.json`], { env: ENV });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A `.json` secret is a Google service account key file (google_sheets' `credentials_file`), in
 * the shape check accepts; check signs nothing, so the key needs no real RSA key inside.
 */
const SERVICE_ACCOUNT_KEY = JSON.stringify({
  type: "service_account",
  client_email: "hero-relay@brand-sheets.iam.gserviceaccount.com",
  private_key:
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
  token_uri: "https://oauth2.googleapis.com/token",
});

/** The ```json blocks of README.md, each parsed as a config or as a fragment of one. */
async function readmeBlocks(): Promise<Array<{ line: number; value: Record<string, unknown> }>> {
  const text = await Deno.readTextFile(new URL("README.md", ROOT));
  const blocks: Array<{ line: number; value: Record<string, unknown> }> = [];
  const fence = /^```json\n([\s\S]*?)^```$/gm;
  for (const match of text.matchAll(fence)) {
    const line = text.slice(0, match.index).split("\n").length;
    const body = match[1]!;
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      // A fragment to paste into a config: one or more "key": value pairs.
      try {
        value = JSON.parse(`{${body}}`);
      } catch (error) {
        throw new Error(`README.md line ${line}: not plain JSON: ${(error as Error).message}`);
      }
    }
    assert.ok(typeof value === "object" && value !== null, `README.md line ${line}`);
    blocks.push({ line, value: value as Record<string, unknown> });
  }
  return blocks;
}

const BASE = {
  influencer_hero: { signing_secrets: ["${IH_SECRET}"] },
  destinations: { log: { type: "console" } } as Record<string, unknown>,
  routes: [{ name: "all", events: "*", to: ["log"] }],
};

/** A whole config for a README fragment: top-level keys merged, a destination added. */
function configFor(fragment: Record<string, unknown>): Record<string, unknown> | null {
  const config: Record<string, unknown> = structuredClone(BASE);
  for (const [key, value] of Object.entries(fragment)) {
    if (key === "destinations") {
      Object.assign(config.destinations as object, value);
    } else if (["store", "admin", "listen", "delivery", "retention", "sources"].includes(key)) {
      config[key] = value;
    } else if (typeof value === "object" && value !== null && "type" in value) {
      (config.destinations as Record<string, unknown>)[key] = value;
    } else {
      return null; // A single setting (such as "body"), shown where it goes.
    }
  }
  return config;
}

Deno.test("config.example.json passes ajv (strict) on config.schema.json and check", async () => {
  const example = JSON.parse(await Deno.readTextFile(new URL("config.example.json", ROOT)));
  assert.equal(schemaErrors(example), "");
  const { code, stderr } = await runCli(["check", "--config", "config.example.json"]);
  assert.equal(code, 0, stderr);
});

Deno.test("every config and config fragment in README.md is plain JSON, valid for ajv and check", async () => {
  const blocks = await readmeBlocks();
  const whole = blocks.filter((b) => "routes" in b.value);
  assert.ok(whole.length >= 1, "README.md has a whole config");
  let checked = 0;
  for (const { line, value } of blocks) {
    const config = "routes" in value ? value : configFor(value);
    if (config === null) continue;
    assert.equal(schemaErrors(config), "", `README.md line ${line}`);
    const { code, stderr } = await check(config);
    assert.equal(code, 0, `README.md line ${line}: ${stderr}`);
    checked++;
  }
  assert.ok(checked >= 10, `only ${checked} README blocks checked`);
});

Deno.test("the schema takes ${VAR} where booleans and numbers go, and check takes them too", async () => {
  const config = {
    ...structuredClone(BASE),
    listen: { port: "${PORT:-0}", max_concurrent_requests: "${MAX_REQUESTS:-64}" },
    destinations: {
      log: { type: "console", enabled: "${LOG_ON:-true}", concurrency: "${CONCURRENCY:-2}" },
    },
  };
  assert.equal(schemaErrors(config), "");
  const { code, stdout, stderr } = await check(config);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Listen: 0\.0\.0\.0:0\n/);
});

Deno.test("a number written as a literal string stays an error for check", async () => {
  const { code, stderr } = await check({ ...structuredClone(BASE), listen: { port: "8080" } });
  assert.equal(code, 1);
  assert.match(stderr, /listen\.port: expected number, received string/);
});

Deno.test("the schema takes every *_file twin of a secret or URL, and check reads them", async () => {
  const config = {
    influencer_hero: { signing_secrets_files: ["/run/secrets/ih"] },
    admin: { token_file: "/run/secrets/admin" },
    store: { postgres_file: "/run/secrets/db" },
    destinations: {
      slack: { type: "slack", url_file: "/run/secrets/slack" },
      mail: {
        type: "email",
        provider: "postmark",
        api_key_file: "/run/secrets/pm",
        from: "relay@example.com",
        to: "ops@example.com",
      },
    },
    routes: [{ name: "all", events: "*", to: ["slack", "mail"] }],
  };
  assert.equal(schemaErrors(config), "");
  // Each file holds "a-secret-read-from-a-file", which is no URL: check reads the files and
  // judges what they hold.
  const { code, stderr } = await check(config);
  assert.equal(code, 1);
  assert.match(stderr, /store\.postgres: expected a postgres:\/\/ or postgresql:\/\/ URL/);
  assert.match(stderr, /destinations\.slack\.url: expected an http:\/\/ or https:\/\/ URL/);
  assert.doesNotMatch(stderr, /a-secret-read-from-a-file/);
});

Deno.test("the schema refuses a key and its *_file twin together, as check does", async () => {
  const config = {
    ...structuredClone(BASE),
    destinations: {
      log: { type: "console" },
      slack: { type: "slack", url: "https://hooks.slack.com/services/T/B/X", url_file: "/x" },
    },
  };
  assert.notEqual(schemaErrors(config), "");
  const { code, stderr } = await check(config);
  assert.equal(code, 1);
  assert.match(stderr, /destinations\.slack\.url_file: set "url" or "url_file", not both/);
});

Deno.test("config.schema.json is what `schema` prints (regenerate with deno task schema)", async () => {
  const { code, stdout } = await runCli(["schema"]);
  assert.equal(code, 0);
  assert.equal(stdout, await Deno.readTextFile(new URL("config.schema.json", ROOT)));
});
