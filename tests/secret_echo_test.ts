// Destinations that repeat their credentials in an error answer, as real services do ("invalid
// token xoxb-…", "Unauthorized: /bot123:AA…/sendMessage", an SMTP server quoting the AUTH line):
// a real `serve` process, fake servers on 127.0.0.1 echoing what they received, and then every
// place the relay writes or shows text is searched for every form of every secret: its log
// output, the SQLite file (after the stop), the admin API, and the CLI's `deliveries` and
// `check` output.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SMTPServer } from "smtp-server";
import {
  FakeServer,
  freePort,
  freshSample,
  type Received,
  runCli,
  SECRET,
  ServeProcess,
  signed,
} from "./helpers.ts";

const ADMIN_TOKEN = "admin-token-Vb7Nm3Kq9Lp2";
const SLACK_TOKEN = "slackTokenQ1w2E3r4T5y6";
const DISCORD_ID = "112233445566778899";
const DISCORD_TOKEN = "discordTok-Aa1Bb2Cc3Dd4Ee5Ff6";
const MATTERMOST_KEY = "mm3kq8x1zb9y7wpfrn5cg2tdoa";
const GOOGLE_KEY = "gcKey-AIzaSyD12345";
const GOOGLE_TOKEN = "gcTok-0987zyxw/+=";
const TEAMS_SIG = "teamsSig-Zz9Yy8Xx7";
const BEARER = "httpBearer-5f4e3d2c1b";
const API_KEY = "httpApiKey-a1b2c3d4";
const BASIC_USER = "basicUser";
const BASIC_PASS = "basicPass-77aa";
const NTFY_TOPIC = "ntfyTopic-3x9k2m";
const NTFY_TOKEN = "tk_ntfyToken8a7b6c5d";
const BOT_TOKEN = "123456789:AAtgToken-Qq1Ww2Ee3";
const SENDGRID_KEY = "SG.sendgridKey-Mm3Nn4Oo5";
const MAILGUN_KEY = "mailgunKey-Jj6Kk7Ll8";
const SMTP_USER = "smtpUser-42";
const SMTP_PASS = "smtp Pass@Hh5/Gg4";

/** Every secret of the config, and the compositions they travel in. */
const SECRETS = [
  SECRET,
  ADMIN_TOKEN,
  SLACK_TOKEN,
  DISCORD_TOKEN,
  MATTERMOST_KEY,
  GOOGLE_KEY,
  GOOGLE_TOKEN,
  TEAMS_SIG,
  BEARER,
  API_KEY,
  BASIC_PASS,
  NTFY_TOPIC,
  NTFY_TOKEN,
  BOT_TOKEN,
  BOT_TOKEN.split(":")[1]!,
  SENDGRID_KEY,
  MAILGUN_KEY,
  SMTP_USER,
  SMTP_PASS,
  `${BASIC_USER}:${BASIC_PASS}`,
  `api:${MAILGUN_KEY}`,
  `\0${SMTP_USER}\0${SMTP_PASS}`,
];

function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64Url(text: string): string {
  return base64(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The forms a secret is searched for in: raw, URL-encoded, JSON-escaped, base64, base64url. */
function forms(secret: string): string[] {
  const out = new Set([
    secret,
    encodeURIComponent(secret),
    encodeURI(secret),
    JSON.stringify(secret).slice(1, -1),
    base64(secret),
    base64(secret).replace(/=+$/, ""),
    base64Url(secret),
  ]);
  return [...out].filter((form) => !form.includes("\0"));
}

const FORMS = SECRETS.flatMap((secret) => forms(secret).map((form) => ({ secret, form })));

/** Fails naming the secret and form found in `text`, if any. */
function assertNoSecret(text: string, where: string): void {
  for (const { secret, form } of FORMS) {
    assert.ok(
      !text.includes(form),
      `${where} shows ${JSON.stringify(secret)} as ${JSON.stringify(form)}`,
    );
  }
}

/** What each fake service answers: 401 with a body quoting the credentials it was given. */
function echo(request: Received): { status: number; body: string } {
  const url = new URL(request.path, "http://x");
  const auth = request.headers.get("authorization") ?? "";
  const segments = url.pathname.split("/");
  const last = segments.at(-1)!;
  if (url.pathname.startsWith("/services/")) return { status: 401, body: `invalid_token ${last}` };
  if (url.pathname.startsWith("/api/webhooks/")) {
    return {
      status: 401,
      body: JSON.stringify({
        message: "Invalid Webhook Token",
        path: encodeURIComponent(url.pathname),
      }),
    };
  }
  if (url.pathname.startsWith("/hooks/")) return { status: 401, body: `hook ${base64(last)}` };
  if (url.pathname.startsWith("/v1/spaces/")) {
    const params = url.searchParams;
    return {
      status: 401,
      body: JSON.stringify({
        error: { message: `bad token ${params.get("token")} for key ${params.get("key")}` },
      }),
    };
  }
  if (url.pathname.startsWith("/workflows/")) {
    return { status: 401, body: `sig ${base64Url(url.searchParams.get("sig")!)} refused` };
  }
  if (url.pathname === "/crm") {
    return {
      status: 401,
      body: `auth header was "${auth}" and key ${
        encodeURIComponent(request.headers.get("x-api-key")!)
      }`,
    };
  }
  if (url.pathname === "/basic") {
    const decoded = new TextDecoder().decode(
      Uint8Array.from(atob(auth.replace(/^Basic /, "")), (c) => c.charCodeAt(0)),
    );
    return { status: 401, body: `${auth} is ${decoded}` };
  }
  if (url.pathname.startsWith("/ntfy")) {
    const topic = JSON.parse(request.body)["topic"];
    return {
      status: 401,
      body: JSON.stringify({ code: 40101, error: `unauthorized: ${auth} on ${topic}` }),
    };
  }
  if (url.pathname.startsWith("/bot")) {
    return {
      status: 401,
      body: JSON.stringify({
        ok: false,
        error_code: 401,
        description: `Unauthorized: token ${segments[1]!.slice(3)} is not valid`,
      }),
    };
  }
  if (url.pathname === "/v3/mail/send") {
    return { status: 401, body: JSON.stringify({ errors: [{ message: `bad key ${auth}` }] }) };
  }
  if (url.pathname.endsWith("/messages")) return { status: 401, body: `Forbidden ${auth}` };
  return { status: 404, body: "no such fake" };
}

async function startSmtp(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new SMTPServer({
    logger: false,
    authOptional: false,
    allowInsecureAuth: true,
    hideSTARTTLS: true,
    authMethods: ["PLAIN"],
    onAuth(auth, _session, callback) {
      // A server quoting the AUTH PLAIN line it refused.
      const line = base64(`\0${auth.username}\0${auth.password}`);
      callback(Object.assign(new Error(`Authentication refused for AUTH PLAIN ${line}`), {
        responseCode: 535,
      }));
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

Deno.test("no secret a destination echoes reaches logs, the store, the admin API or the CLI", async () => {
  const dir = await Deno.makeTempDir();
  const fake = new FakeServer(echo);
  const smtp = await startSmtp();
  let serve: ServeProcess | null = null;
  try {
    const once = { retry: { schedule: ["0s"], max_attempts: 1 } };
    const destinations = {
      slack: { type: "slack", url: `${fake.url}/services/T0AB12CD3/B0EF45GH6/${SLACK_TOKEN}` },
      discord: { type: "discord", url: `${fake.url}/api/webhooks/${DISCORD_ID}/${DISCORD_TOKEN}` },
      mattermost: { type: "mattermost", url: `${fake.url}/hooks/${MATTERMOST_KEY}` },
      google_chat: {
        type: "google_chat",
        url: `${fake.url}/v1/spaces/AAAAbcd1234/messages?key=${GOOGLE_KEY}&token=${
          encodeURIComponent(GOOGLE_TOKEN)
        }`,
      },
      teams: {
        type: "teams",
        url: `${fake.url}/workflows/0123abcd4567ef89/triggers/manual/paths/invoke?` +
          `api-version=2016-06-01&sig=${TEAMS_SIG}`,
      },
      crm: {
        type: "http",
        url: `${fake.url}/crm`,
        headers: { authorization: `Bearer ${BEARER}`, "x-api-key": API_KEY },
      },
      basic: {
        type: "http",
        url: `${fake.url}/basic`,
        headers: { authorization: `Basic ${base64(`${BASIC_USER}:${BASIC_PASS}`)}` },
      },
      ntfy: { type: "ntfy", url: `${fake.url}/ntfy/${NTFY_TOPIC}`, token: NTFY_TOKEN },
      telegram: { type: "telegram", bot_token: BOT_TOKEN, chat_id: -100123, api_url: fake.url },
      sendgrid: {
        type: "email",
        provider: "sendgrid",
        api_key: SENDGRID_KEY,
        api_url: fake.url,
        from: "relay@example.com",
        to: "ops@example.com",
      },
      mailgun: {
        type: "email",
        provider: "mailgun",
        api_key: MAILGUN_KEY,
        api_url: fake.url,
        from: "relay@example.com",
        to: "ops@example.com",
      },
      smtp: {
        type: "email",
        smtp_url: `smtp://${encodeURIComponent(SMTP_USER)}:${
          encodeURIComponent(SMTP_PASS)
        }@127.0.0.1:${smtp.port}`,
        from: "relay@example.com",
        to: "ops@example.com",
      },
    };
    const names = Object.keys(destinations);
    const config = {
      listen: { hostname: "127.0.0.1", port: freePort() },
      admin: { port: freePort(), token_file: `${dir}/admin-token` },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: `${dir}/data/relay.db` },
      delivery: once,
      destinations,
      routes: [{ name: "all", events: "*", to: names }],
    };
    await Deno.writeTextFile(`${dir}/admin-token`, `${ADMIN_TOKEN}\n`);
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    await Deno.chmod(configPath, 0o600);

    serve = await ServeProcess.start(configPath);
    const base = `http://127.0.0.1:${config.listen.port}`;
    const adminUrl = `http://127.0.0.1:${config.admin.port}`;
    const request = await signed(freshSample("update_commission"));
    const accepted = await fetch(`${base}/hooks/update_commission`, {
      method: "POST",
      headers: request.headers,
      body: request.body,
    });
    assert.equal(accepted.status, 200, await accepted.text());

    const admin = async (path: string) => {
      const response = await fetch(`${adminUrl}${path}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const text = await response.text();
      assert.equal(response.status, 200, `${path}: ${text}`);
      return text;
    };
    // Each destination tries once and gives up (dead, or disabled as gone).
    for (const name of names) {
      await serve.waitForLog((l) => l["destination"] === name && l["msg"] === "attempt failed");
    }
    const listed = await admin("/deliveries?limit=500");
    const deliveries = JSON.parse(listed).deliveries as Array<
      { id: string; destination: string; lastError: string | null }
    >;
    assert.deepEqual(deliveries.map((d) => d.destination).sort(), [...names].sort());
    for (const delivery of deliveries) {
      // The echo arrived and was cut out: the test would see the secret otherwise.
      assert.match(
        delivery.lastError ?? "",
        /\[redacted\]/,
        `${delivery.destination}: ${delivery.lastError}`,
      );
    }
    const answers = [listed, await admin("/destinations"), await admin("/events")];
    for (const delivery of deliveries) answers.push(await admin(`/deliveries/${delivery.id}`));
    assertNoSecret(answers.join("\n"), "the admin API");

    const stopped = serve;
    serve = null;
    assert.equal(await stopped.stop(), 0);
    const output = stopped.stdout.join("\n") + stopped.stderr;
    assert.match(output, /attempt failed.*\[redacted\]/, "the echoes were logged, redacted");

    assertNoSecret(output, "the log output");

    // The SQLite file, read once the relay is gone: every text in every table.
    const db = new DatabaseSync(`${dir}/data/relay.db`, { readOnly: true });
    const stored: string[] = [];
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      for (const { name } of tables) {
        for (const row of db.prepare(`SELECT * FROM "${String(name)}"`).all()) {
          stored.push(...Object.values(row).filter((v) => typeof v === "string") as string[]);
        }
      }
    } finally {
      db.close();
    }

    assert.ok(stored.some((text) => text.includes("[redacted]")), "attempt errors were stored");
    assertNoSecret(stored.join("\n"), "the SQLite file");

    for (
      const args of [
        ["deliveries"],
        ["deliveries", "--json"],
        ["deliveries", "--status", "dead"],
        ["check"],
        ["replay", "--dead"],
      ]
    ) {
      const result = await runCli([...args, "--config", configPath]);
      assert.ok(result.stdout.length > 0, `${args.join(" ")} printed: ${result.stderr}`);
      assertNoSecret(result.stdout + result.stderr, `hero-relay ${args.join(" ")}`);
    }
  } finally {
    if (serve !== null) await serve.stop();
    await fake.close();
    await smtp.close();
  }
});
