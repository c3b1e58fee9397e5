// What an internet-facing receiver must withstand: slow bodies, floods of concurrent requests,
// oversized chunked bodies; and the warning about a config file others can read.

import assert from "node:assert/strict";
import { parseConfig, permissionWarning } from "../src/config.ts";
import { SILENT } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { createHandler, type Handler, type HandlerOptions } from "../src/server.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { Verifier } from "../src/verify.ts";
import { freshSample, SECRET, signed, testConfig, testRelay } from "./helpers.ts";

/** A handler on a real in-memory store, with the given limits. */
async function handlerWith(
  limits: Partial<HandlerOptions>,
): Promise<{ handle: Handler; store: SqliteStore; close: () => Promise<void> }> {
  const store = SqliteStore.open(":memory:");
  const verifier = await Verifier.create([SECRET], { toleranceSeconds: 300 });
  const handle = createHandler({
    verifier: () => verifier,
    ingest: async (event) => (await store.insertEvents([event]))[0]!,
    accepted: () => {},
    ready: () => store.ping(),
    maxBodyBytes: () => 1024 * 1024,
    replayWindowMs: 7 * 86_400_000,
    log: SILENT,
    metrics: new Metrics(),
    ...limits,
  });
  return {
    handle,
    store,
    close: async () => {
      handle.close();
      await store.close();
    },
  };
}

/** A request body that sends `head` and then holds the connection open until `finish()`. */
function heldBody(head: Uint8Array) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(head);
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    stream,
    get cancelled() {
      return cancelled;
    },
    finish(rest: Uint8Array) {
      controller.enqueue(rest);
      controller.close();
    },
  };
}

Deno.test("a body that does not arrive within the body timeout is answered 408 and dropped", async () => {
  const { handle, store, close } = await handlerWith({ bodyTimeoutMs: () => 50 });
  try {
    const { body, headers } = await signed(freshSample("update_commission"));
    const slow = heldBody(body.subarray(0, 10));
    const response = await handle(
      new Request("http://relay/hooks/update_commission", {
        method: "POST",
        headers,
        body: slow.stream,
      }),
    );
    assert.equal(response.status, 408);
    assert.deepEqual(await response.json(), {
      ok: false,
      error: "The request body was not received in time",
    });
    assert.ok(slow.cancelled, "the body stream is cancelled");
    assert.equal((await store.listEvents({})).length, 0);
  } finally {
    await close();
  }
});

Deno.test("a real slow client that sends part of its body is answered 408 once the body timeout passes", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    listen: { hostname: "127.0.0.1", port: 0, body_timeout: "200ms" },
    destinations: { out: { type: "console" } },
    routes: [],
  });
  const { relay } = await testRelay(config);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(relay.url).port),
  });
  try {
    const { body, headers } = await signed(freshSample("product_sent"));
    const head = `POST /hooks/product_sent HTTP/1.1\r\nhost: relay\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
      `content-length: ${body.length}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    await conn.write(body.subarray(0, 20));
    const answer = new Uint8Array(4096);
    const n = await conn.read(answer);
    assert.match(new TextDecoder().decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 408 /);
  } finally {
    conn.close();
    await relay.stop();
  }
});

Deno.test("requests beyond max_concurrent_requests get 503 with Retry-After; capacity comes back", async () => {
  // Two requests are held in the store step, where the slots are spent.
  const gate = Promise.withResolvers<void>();
  const bothEntered = Promise.withResolvers<void>();
  const store = SqliteStore.open(":memory:");
  let entered = 0;
  const { handle, close } = await handlerWith({
    maxConcurrent: () => 2,
    ingest: async (event) => {
      if (entered < 2) {
        if (++entered === 2) bothEntered.resolve();
        await gate.promise;
      }
      return (await store.insertEvents([event]))[0]!;
    },
  });
  try {
    const answers = await Promise.all([freshSample("product_sent"), freshSample("new_max_bid")].map(
      async (payload) => {
        const { body, headers } = await signed(payload);
        return {
          answer: handle(new Request("http://relay/hooks", { method: "POST", headers, body })),
        };
      },
    ));
    await bothEntered.promise;
    const { body, headers } = await signed(freshSample("update_commission"));
    const refused = await handle(
      new Request("http://relay/hooks", { method: "POST", headers, body }),
    );
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(refused.headers.get("x-reason"), null, "internal headers are not sent");
    gate.resolve();
    for (const { answer } of answers) assert.equal((await answer).status, 200);
    const accepted = await handle(
      new Request("http://relay/hooks", { method: "POST", headers, body }),
    );
    assert.equal(accepted.status, 200);
  } finally {
    await close();
    await store.close();
  }
});

Deno.test("bodies still arriving hold no slot: complete requests are answered beside them", async () => {
  const { handle, close } = await handlerWith({ maxConcurrent: () => 2 });
  try {
    const held = await Promise.all([1, 2, 3, 4].map(async () => {
      const { body, headers } = await signed(freshSample("product_sent"));
      const slow = heldBody(body.subarray(0, 5));
      const answer = handle(
        new Request("http://relay/hooks", { method: "POST", headers, body: slow.stream }),
      );
      return { slow, answer, rest: body.subarray(5) };
    }));
    for (const type of ["update_commission", "new_max_bid", "product_sent"]) {
      const { body, headers } = await signed(freshSample(type));
      const response = await handle(
        new Request("http://relay/hooks", { method: "POST", headers, body }),
      );
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    for (const h of held) h.slow.finish(h.rest);
    const statuses = await Promise.all(held.map(async (h) => {
      const response = await h.answer;
      await response.body?.cancel();
      return response.status;
    }));
    // Four bodies complete at once against two slots: the ones past the cap are told to retry.
    assert.ok(statuses.every((status) => status === 200 || status === 503), String(statuses));
    assert.ok(statuses.filter((status) => status === 200).length >= 2, String(statuses));
  } finally {
    await close();
  }
});

Deno.test("the body limit holds while streaming a chunked body without Content-Length", async () => {
  const { handle, close } = await handlerWith({ maxBodyBytes: () => 4096 });
  try {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) controller.close();
        else controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const request = new Request("http://relay/hooks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
    });
    assert.equal(request.headers.get("content-length"), null);
    const response = await handle(request);
    assert.equal(response.status, 413);
    assert.ok(pulled < 10, `stopped reading early (read ${pulled} chunks of 1 KiB)`);
  } finally {
    await close();
  }
});

Deno.test("a config file that holds secrets and that others can read gets a warning naming where", async () => {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const write = async (raw: unknown, mode: number) => {
    await Deno.writeTextFile(path, JSON.stringify(raw, null, 2));
    await Deno.chmod(path, mode);
    return parseConfig(await Deno.readTextFile(path), path, {
      env: (name) => ({ CRM_TOKEN: "env-crm-token-value", IH_SECRET: "env-ih-secret" })[name],
    });
  };
  const inline = {
    influencer_hero: { signing_secrets: ["inline-signing-secret"] },
    admin: { token: "inline-admin-token-0123456789" },
    destinations: {
      team: { type: "slack", url: "https://hooks.slack.com/services/T0/B0/inlinetoken" },
      crm: {
        type: "http",
        url: "https://crm.example.com/in",
        headers: { authorization: "Bearer inline-crm-token", "content-type": "application/json" },
      },
    },
    routes: [],
  };
  const config = await write(inline, 0o644);
  const warning = permissionWarning(path, config);
  assert.ok(warning !== null);
  assert.match(warning, /is readable by other users \(mode 644\)/);
  assert.match(
    warning,
    /influencer_hero\.signing_secrets\[0\], admin\.token, destinations\.team\.url, destinations\.crm\.headers\.authorization;/,
  );
  assert.doesNotMatch(warning, /inline-|content-type/);

  await write(inline, 0o600);
  assert.equal(permissionWarning(path, config), null, "only the owner can read it");

  const fromEnvironment = await write({
    influencer_hero: { signing_secrets: ["${IH_SECRET}"] },
    destinations: {
      crm: {
        type: "http",
        url: "https://crm.example.com/in",
        headers: { authorization: "Bearer ${CRM_TOKEN}" },
      },
    },
    routes: [],
  }, 0o644);
  assert.equal(permissionWarning(path, fromEnvironment), null, "no secret is in the file");
});

Deno.test("secrets can come from files (*_file, *_files), e.g. container secrets, or the environment", async () => {
  const dir = await Deno.makeTempDir();
  const files: Record<string, string> = {
    ih1: "file-signing-secret-1",
    ih2: "file-signing-secret-2",
    slack: "https://hooks.slack.com/services/T0/B0/fromfile",
    crm: "https://crm.example.com/in?key=fromfile",
    admin: "admin-token-from-a-file-0123",
  };
  for (const [name, value] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, `${value}\n`);
  }
  const config = parseConfig(
    JSON.stringify({
      influencer_hero: { signing_secrets_files: [`${dir}/ih1`, `${dir}/ih2`] },
      admin: { token_file: `${dir}/admin` },
      destinations: {
        team: { type: "slack", url_file: `${dir}/slack` },
        crm: {
          type: "http",
          url_file: `${dir}/crm`,
          headers: { authorization: "Bearer ${CRM_TOKEN}", accept: "application/json" },
        },
        off: { type: "slack", enabled: false, url_file: `${dir}/missing` },
      },
      routes: [],
    }),
    "test",
    // Header names are the operator's own (one may end in "_file"): header secrets come from
    // the environment.
    { env: (name) => name === "CRM_TOKEN" ? "crm-token-from-env" : undefined },
  );
  assert.deepEqual(config.influencer_hero.signing_secrets, [files.ih1, files.ih2]);
  assert.equal(config.admin?.token, files.admin);
  const team = config.destinations["team"]!;
  const crm = config.destinations["crm"]!;
  assert.equal(team.type === "slack" && team.url, files.slack);
  assert.equal(crm.type === "http" && crm.url, files.crm);
  assert.deepEqual(crm.type === "http" && crm.headers, {
    authorization: "Bearer crm-token-from-env",
    accept: "application/json",
  });

  assert.throws(
    () =>
      parseConfig(
        JSON.stringify({
          influencer_hero: { signing_secrets: ["x"], signing_secrets_files: [`${dir}/ih1`] },
          admin: { token_file: `${dir}/nope` },
          destinations: {},
          routes: [],
        }),
        "test",
      ),
    (error: Error) => {
      assert.match(
        error.message,
        /influencer_hero\.signing_secrets_files: set "signing_secrets" or "signing_secrets_files", not both/,
      );
      assert.match(error.message, /admin\.token_file: cannot read ".*\/nope": NotFound/);
      assert.doesNotMatch(error.message, /file-signing-secret/);
      return true;
    },
  );
});

Deno.test("GET /readyz answers 503 once the store is unusable, /healthz still 200", async () => {
  const { handle, store } = await handlerWith({});
  handle.close();
  assert.equal((await handle(new Request("http://relay/readyz"))).status, 200);
  await store.close();
  const ready = await handle(new Request("http://relay/readyz"));
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { ok: false, error: "The store is not usable" });
  assert.equal((await handle(new Request("http://relay/healthz"))).status, 200);
});

Deno.test("the permission warning names every inline secret the schema marks, for every destination type", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const from = "Relay <relay@example.com>";
  const destinations: Record<string, Record<string, unknown>> = {
    slack: { type: "slack", url: "https://hooks.slack.com/services/T0/B0/slack-token-1" },
    discord: { type: "discord", url: "https://discord.com/api/webhooks/1/discord-token-2" },
    teams: { type: "teams", url: "https://example.webhook.office.com/teams-token-3" },
    chat: {
      type: "google_chat",
      url: "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=chat-token-4",
    },
    mattermost: { type: "mattermost", url: "https://mm.example.com/hooks/mattermost-key-5" },
    ntfy: { type: "ntfy", url: "https://ntfy.sh/secret-topic-6", token: "tk_ntfy-token-7" },
    telegram: { type: "telegram", bot_token: "123456:telegram-token-8", chat_id: "42" },
    smtp: {
      type: "email",
      smtp_url: "smtps://relay:smtp-password-9@smtp.example.com",
      from,
      to: ["ops@example.com"],
    },
    api: {
      type: "email",
      provider: "sendgrid",
      api_key: "SG.sendgrid-key-10",
      from,
      to: ["ops@example.com"],
    },
    crm: {
      type: "http",
      url: "https://crm.example.com/in?key=http-key-11",
      headers: { "x-api-key": "http-header-12", "content-type": "application/json" },
    },
  };
  await Deno.writeTextFile(
    path,
    JSON.stringify({ influencer_hero: { signing_secrets: [SECRET] }, destinations, routes: [] }),
    { mode: 0o644 },
  );
  await Deno.chmod(path, 0o644);
  const config = parseConfig(await Deno.readTextFile(path), path, { env: () => undefined });
  const warning = permissionWarning(path, config);
  assert.ok(warning !== null);
  const named = /holds secrets at (.*); run/.exec(warning)![1]!.split(", ");
  assert.deepEqual(named, [
    "influencer_hero.signing_secrets[0]",
    "destinations.slack.url",
    "destinations.discord.url",
    "destinations.teams.url",
    "destinations.chat.url",
    "destinations.mattermost.url",
    "destinations.ntfy.url",
    "destinations.ntfy.token",
    "destinations.telegram.bot_token",
    "destinations.smtp.smtp_url",
    "destinations.api.api_key",
    "destinations.crm.url",
    'destinations.crm.headers["x-api-key"]',
  ]);
  assert.doesNotMatch(warning, /token-|password|key-1|header-12/, "names, never values");
  await Deno.remove(dir, { recursive: true });
});
