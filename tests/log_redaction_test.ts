// Secrets never reach the logs. A real `serve` (subprocess, the binary's permissions) gets every
// kind of secret the config knows — signing secrets from the environment and written inline, a
// Slack URL with its token, an HTTP destination with a token in its query and auth headers, an
// admin token from a file — and representative traffic: good and forged webhooks, failing and
// gone destinations, admin calls with right and wrong tokens, a reload with a broken file. Then
// every line it wrote is searched for every secret used, and for a request body.

import assert from "node:assert/strict";
import { FakeServer, freshSample, post, runCli, ServeProcess } from "./helpers.ts";
import { sign } from "../src/verify.ts";

const IH_SECRET = "ih-env-secret-Qm4vT9";
const IH_INLINE = "ih-inline-rotation-secret-Zk2P";
const ATTACKER = "attacker-secret-Wq7R";
const SLACK_PATH = "/services/T0SLACKTEAM/B0SLACKHOOK/slackTokenXyZ12345";
const SLACK_GONE_PATH = "/services/T0GONETEAM/B0GONEHOOK/goneTokenAbC67890";
const QUERY_TOKEN = "querySecretKey8Hn3";
const BEARER = "crm-bearer-token-Jd83kQ";
const API_KEY = "crm-api-key-Pw02Lx";
const DEAD_PATH_TOKEN = "deadPathToken5Vb1";
const ADMIN_TOKEN = "admin-token-from-file-Rf7Yq2Ns";
const WRONG_ADMIN = "wrong-admin-token-Ux9Mv4Lp";
const BODY_CANARY = "body-canary-Hs81Ke";

Deno.test("no log line of a representative run holds a secret, a signature or a body", async () => {
  const dir = await Deno.makeTempDir();
  const slack = new FakeServer((r) =>
    r.path === SLACK_GONE_PATH
      ? { status: 403, body: "invalid_token" }
      : { status: 200, body: "ok" }
  );
  let crmCalls = 0;
  const crm = new FakeServer(() =>
    crmCalls++ === 0 ? { status: 500, body: "internal error" } : { status: 200, body: "{}" }
  );
  await Deno.writeTextFile(`${dir}/admin-token`, `${ADMIN_TOKEN}\n`);
  const config = {
    listen: { hostname: "127.0.0.1", port: 0 },
    influencer_hero: { signing_secrets: ["${IH_SECRET}", IH_INLINE] },
    admin: { port: 0, token_file: `${dir}/admin-token` },
    store: { sqlite: `${dir}/relay.db` },
    destinations: {
      team: { type: "slack", url: "${SLACK_URL}" },
      team_gone: { type: "slack", url: `${slack.url}${SLACK_GONE_PATH}` },
      crm: {
        type: "http",
        url: `${crm.url}/in?api_key=${QUERY_TOKEN}`,
        headers: { authorization: "Bearer ${CRM_TOKEN}", "x-api-key": API_KEY },
        retry: { schedule: ["0s", "200ms"] },
      },
      crm_dead: {
        type: "http",
        url: `http://127.0.0.1:1/hook/${DEAD_PATH_TOKEN}`,
        retry: { schedule: ["0s", "1h"] },
      },
    },
    routes: [{ name: "all", events: "*", to: ["team", "team_gone", "crm", "crm_dead"] }],
  };
  const path = `${dir}/config.json`;
  const text = JSON.stringify(config, null, 2);
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o644); // Readable by others while holding secrets: warned about.
  const env = {
    IH_SECRET,
    SLACK_URL: `${slack.url}${SLACK_PATH}`,
    CRM_TOKEN: BEARER,
  };
  const signatures: string[] = [];
  const serve = await ServeProcess.start(path, { env });
  let code: number;
  try {
    const url = String(serve.logs.find((l) => l.msg === "relay started")!["url"]);
    const adminUrl = String(serve.logs.find((l) => l.msg === "admin API started")!["url"]);

    // Webhooks signed with each secret, and forged ones.
    const accepted: string[] = [];
    for (const [type, secret] of [["update_commission", IH_SECRET], ["product_sent", IH_INLINE]]) {
      const payload = freshSample(type!, { note: BODY_CANARY });
      const body = new TextEncoder().encode(JSON.stringify(payload));
      signatures.push(await sign(body, secret!));
      const answer = await post(url, `/hooks/${type}`, payload, { secret: secret! });
      assert.equal(answer.status, 200);
      accepted.push(String(answer.json["id"]));
    }
    const forged = freshSample("new_max_bid", { note: BODY_CANARY });
    signatures.push(await sign(new TextEncoder().encode(JSON.stringify(forged)), ATTACKER));
    assert.equal((await post(url, "/hooks/new_max_bid", forged, { secret: ATTACKER })).status, 401);
    const garbage = await fetch(`${url}/hooks/new_max_bid`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-influencerhero-signature": signatures[0]!.toUpperCase().slice(0, 60) + "zzzz",
        "x-influencerhero-timestamp": String(Math.floor(Date.now() / 1000)),
      },
      body: JSON.stringify(forged),
    });
    assert.equal(garbage.status, 401);
    await garbage.body?.cancel();
    const tokenInUrl = await fetch(`${url}/hooks/x?token=${QUERY_TOKEN}&secret=${IH_SECRET}`);
    assert.equal(tokenInUrl.status, 405);
    await tokenInUrl.body?.cancel();

    // Admin calls with the right and a wrong token.
    const admin = async (path: string, token: string) => {
      const response = await fetch(`${adminUrl}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: await response.text() };
    };
    assert.equal((await admin("/deliveries", WRONG_ADMIN)).status, 401);
    assert.equal((await admin(`/events/${accepted[0]}`, ADMIN_TOKEN)).status, 200);

    // Deliveries: Slack delivered and gone, HTTP failed then delivered, a dead endpoint.
    await serve.waitForLog(() => {
      const logs = serve.logs;
      const delivered = (d: string) =>
        logs.filter((l) => l.msg === "delivered" && l["destination"] === d).length;
      return delivered("team") === 2 && delivered("crm") === 2 &&
        logs.some((l) => String(l.msg).startsWith("destination disabled")) &&
        logs.some((l) => l.msg === "attempt failed" && l["destination"] === "crm_dead");
    }, 20_000);

    // A reload with a broken file that has secrets next to the error.
    const broken = text.replace(`"${IH_INLINE}"`, IH_INLINE);
    const from = serve.logs.length;
    await Deno.writeTextFile(path, broken);
    const failure = await serve.waitForLog(
      (l) => String(l.msg).startsWith("config reload failed"),
      15_000,
      from,
    );
    assert.match(String(failure["problems"]), /not valid JSON/);

    // Every request line names its event, every attempt line its event and delivery.
    const requests = serve.logs.filter((l) => l.msg === "request" && l["status"] === 200);
    assert.deepEqual(requests.map((l) => l["event"]), accepted);
    const attempts = serve.logs.filter((l) =>
      ["delivered", "attempt failed"].includes(String(l.msg))
    );
    assert.ok(attempts.length >= 6);
    for (const line of attempts) {
      assert.ok(accepted.includes(String(line["event"])), JSON.stringify(line));
      assert.match(String(line["delivery"]), /^dlv_/);
    }
  } finally {
    code = await serve.stop();
    await slack.close();
    await crm.close();
  }
  assert.equal(code, 0);

  // `check` and `render` on the same config, as an operator would run them.
  await Deno.writeTextFile(path, text);
  const check = await runCli(["check", "--config", path], { env });
  assert.equal(check.code, 0, check.stderr);
  const render = await runCli(["render", "update_commission", "--config", path], { env });
  assert.equal(render.code, 0, render.stderr);

  const lines = [...serve.stdout, ...serve.stderr.split("\n")].filter((l) => l !== "");
  for (const line of serve.stdout) {
    const parsed = JSON.parse(line); // Every line on standard output is a JSON log line.
    assert.ok(parsed.ts && parsed.level && parsed.msg, line);
  }
  assert.ok(
    serve.logs.some((l) => String(l.msg).includes("readable by other users")),
    "the permission warning was given",
  );
  const secrets = [
    IH_SECRET,
    IH_INLINE,
    ATTACKER,
    ...SLACK_PATH.split("/").filter((s) => s.length > 8),
    ...SLACK_GONE_PATH.split("/").filter((s) => s.length > 8),
    QUERY_TOKEN,
    BEARER,
    API_KEY,
    DEAD_PATH_TOKEN,
    ADMIN_TOKEN,
    WRONG_ADMIN,
    BODY_CANARY,
    ...signatures,
    ...signatures.map((s) => s.toUpperCase()),
  ];
  assert.equal(signatures.length, 3);
  const outputs = {
    "serve logs": lines,
    "check output": check.stdout.split("\n"),
    "render output": render.stdout.split("\n"),
  };
  // Any 10 characters in a row of a secret count: a leak of part of one is a leak.
  const pieces = secrets.flatMap((secret) =>
    Array.from({ length: secret.length - 9 }, (_, i) => secret.slice(i, i + 10))
  );
  const hits: string[] = [];
  for (const [where, all] of Object.entries(outputs)) {
    for (const line of all) {
      const piece = pieces.find((p) => line.includes(p));
      if (piece !== undefined) hits.push(`${where}: "${piece}" in ${line}`);
    }
  }
  assert.deepEqual(hits, []);
  assert.ok(lines.length > 20, `a representative run (${lines.length} lines)`);
});
