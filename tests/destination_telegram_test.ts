// Telegram: a fake Bot API on 127.0.0.1 that parses HTML mode as Telegram does (unknown tags,
// stray `<`/`&`, unclosed tags, the 4096-character limit after parsing) and answers with the Bot
// API's envelopes; the classification of each answer; one delivery through a real relay.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import { classifyTelegram, TelegramDestination } from "../src/destination_telegram.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  parseTelegramHtml,
  sendContext,
} from "./destination_kit.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  testConfig,
  testRelay,
} from "./helpers.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const CHAT = "-1001234567890";

function envelope(status: number, description: string, parameters?: unknown): Answer {
  const body: Record<string, unknown> = { ok: false, error_code: status, description };
  if (parameters) body["parameters"] = parameters;
  return { status, body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

/** A Bot API server with one bot and a few chats, each answering as Telegram would. */
function fakeTelegram(mode: () => "ok" | "flood" = () => "ok"): FakeServer {
  return new FakeServer((request) => {
    const match = /^\/bot([^/]+)\/sendMessage$/i.exec(request.path);
    if (match === null) return envelope(404, "Not Found");
    if (match[1] !== TOKEN) return envelope(401, "Unauthorized");
    if (!request.headers.get("content-type")?.startsWith("application/json")) {
      return envelope(400, "Bad Request: message text is empty");
    }
    const body = JSON.parse(request.body);
    if (body.chat_id === undefined || body.chat_id === "") {
      return envelope(400, "Bad Request: chat_id is empty");
    }
    const chat = String(body.chat_id);
    if (chat === "-100999") return envelope(400, "Bad Request: chat not found");
    if (chat === "42") return envelope(403, "Forbidden: bot was blocked by the user");
    if (chat === "-555") {
      return envelope(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        { migrate_to_chat_id: -1005550000000 },
      );
    }
    if (mode() === "flood") {
      return envelope(429, "Too Many Requests: retry after 7", { retry_after: 7 });
    }
    let text = String(body.text ?? "");
    if (body.parse_mode === "HTML") {
      const parsed = parseTelegramHtml(text);
      if (!parsed.ok) return envelope(400, parsed.error);
      text = parsed.text;
    } else if (body.parse_mode !== undefined) {
      return envelope(400, "Bad Request: unsupported parse_mode");
    }
    if (text.trim() === "") return envelope(400, "Bad Request: message text is empty");
    if (text.length > 4096) return envelope(400, "Bad Request: message is too long");
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        ok: true,
        result: { message_id: 7, date: 1700000000, chat: { id: Number(chat) }, text },
      }),
    };
  });
}

function telegram(server: FakeServer, chatId = CHAT, token = TOKEN): TelegramDestination {
  return new TelegramDestination("tg", { botToken: token, chatId, apiUrl: server.url });
}

Deno.test("TelegramDestination sends valid HTML that Telegram parses into the message", async () => {
  const server = fakeTelegram();
  try {
    const outcome = await telegram(server).send(deliveryOf("new_payout_request"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const request = server.received[0]!;
    assert.equal(request.path, `/bot${TOKEN}/sendMessage`);
    const body = JSON.parse(request.body);
    assert.equal(body.chat_id, CHAT);
    assert.equal(body.parse_mode, "HTML");
    assert.deepEqual(body.link_preview_options, { is_disabled: true });
    const parsed = parseTelegramHtml(body.text);
    assert.ok(parsed.ok);
    assert.match(parsed.text, /^Payout requested by Dwayne Johnson: \$1,500\.00/);
    assert.match(
      body.text,
      /<a href="https:\/\/instagram\.com\/therock">Dwayne Johnson \(@therock\)<\/a>/,
    );
    assert.match(body.text, /<b>Amount:<\/b> \$1,500\.00/);
  } finally {
    await server.close();
  }
});

Deno.test("hostile payload text is escaped for Telegram HTML and kept within 4096 characters", async () => {
  const server = fakeTelegram();
  try {
    const outcome = await telegram(server).send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(server.received[0]!.body);
    const parsed = parseTelegramHtml(body.text);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
    assert.ok(parsed.text.length <= 4096, `${parsed.text.length} characters`);
    // Only the relay's own tags: the payload's <b> and <script> came through as text.
    assert.deepEqual(new Set(parsed.tags), new Set(["b", "a"]));
    assert.match(parsed.text, /<script>alert\(1\)<\/script>/);
    assert.match(parsed.text, /Tom & Jerry &amp; &lt;/);
    assert.match(body.text, /href="https:\/\/example\.com\/profile\?u=1&amp;v=&lt;2&gt;"/);
  } finally {
    await server.close();
  }
});

Deno.test("the fake Telegram rejects unescaped markup, so the escaping test can fail", async () => {
  const server = fakeTelegram();
  try {
    const destination = new TelegramDestination("tg", {
      botToken: TOKEN,
      chatId: CHAT,
      apiUrl: server.url,
      body: () => JSON.stringify({ text: "Tom & Jerry <3", parse_mode: "HTML" }),
    });
    const outcome = await destination.send(deliveryOf("new_max_bid"), sendContext());
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { error: string }).error, /can't parse entities/);
    // The template left chat_id out; the destination added it.
    assert.equal(JSON.parse(server.received[0]!.body).chat_id, CHAT);
  } finally {
    await server.close();
  }
});

Deno.test("Telegram's answers are classified: blocked, chat not found and a bad token are gone", async () => {
  const server = fakeTelegram();
  try {
    const delivery = deliveryOf("update_commission");
    const context = sendContext();
    const blocked = await telegram(server, "42").send(delivery, context);
    assert.equal(blocked.kind, "gone");
    assert.equal(blocked.httpStatus, 403);
    const missing = await telegram(server, "-100999").send(delivery, context);
    assert.equal(missing.kind, "gone");
    assert.equal(missing.httpStatus, 400);
    const token = await telegram(server, CHAT, "123:wrong").send(delivery, context);
    assert.equal(token.kind, "gone");
    assert.equal(token.httpStatus, 401);
    const migrated = await telegram(server, "-555").send(delivery, context);
    assert.equal(migrated.kind, "gone");
    assert.match((migrated as { error: string }).error, /set chat_id to -1005550000000/);
    // The token is in the URL path, never in an outcome.
    for (const outcome of [blocked, missing, token, migrated]) {
      assert.doesNotMatch(JSON.stringify(outcome), /AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/);
    }
  } finally {
    await server.close();
  }
});

Deno.test("Telegram's 429 is retried after parameters.retry_after", async () => {
  const server = fakeTelegram(() => "flood");
  try {
    const outcome = await telegram(server).send(deliveryOf("product_sent"), sendContext());
    assert.equal(outcome.kind, "retry");
    assert.equal((outcome as { retryAfterMs?: number }).retryAfterMs, 7000);
  } finally {
    await server.close();
  }
});

Deno.test("classifyTelegram() retries 5xx and an unexpected 200", () => {
  const headers = new Headers();
  assert.equal(
    classifyTelegram({ status: 502, headers, body: "Bad Gateway" }, 0).kind,
    "retry",
  );
  assert.equal(
    classifyTelegram({ status: 200, headers, body: "<html>captive portal</html>" }, 0).kind,
    "retry",
  );
  assert.equal(
    classifyTelegram({
      status: 400,
      headers,
      body: '{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}',
    }, 0).kind,
    "failed",
  );
});

Deno.test("render() masks the bot token", () => {
  const destination = new TelegramDestination("tg", { botToken: TOKEN, chatId: CHAT });
  const rendered = destination.render(deliveryOf("new_influencer_reply"));
  assert.equal(rendered.url, "https://api.telegram.org/…");
  assert.doesNotMatch(JSON.stringify(rendered), /AAHdqTcv/);
});

Deno.test("a signed payout request reaches a fake Telegram through a real relay", async () => {
  const dir = await Deno.makeTempDir();
  const server = fakeTelegram();
  const config = testConfig(dir, {
    destinations: {
      telegram: {
        type: "telegram",
        bot_token: TOKEN,
        chat_id: Number(CHAT),
        api_url: server.url,
      },
    },
    routes: [{ name: "payouts", events: ["new_payout_request"], to: ["telegram"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    const answer = await post(
      relay.url,
      "/hooks/new_payout_request",
      freshSample("new_payout_request"),
    );
    assert.equal(answer.status, 200);
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "delivered" })).length === 1
    );
    const body = JSON.parse(server.received[0]!.body);
    assert.equal(body.chat_id, CHAT);
    assert.match(body.text, /Payout requested/);
    assert.doesNotMatch(logs.lines.join("\n"), /AAHdqTcv/);
  } finally {
    await relay.stop();
    await server.close();
  }
});

destinationContract({
  type: "telegram",
  config: (base) => ({
    type: "telegram",
    bot_token: "123456:AAHdqTcvCH1vGWJxfSeofSAs",
    chat_id: "-100123",
    api_url: base,
  }),
  secrets: ["AAHdqTcvCH1vGWJxfSeofSAs"],
  json: true,
  service: {
    ok: jsonAnswer(200, { ok: true, result: { message_id: 1 } }),
    gone: jsonAnswer(403, {
      ok: false,
      error_code: 403,
      description: "Forbidden: bot was kicked from the group chat",
    }),
    rateLimited: {
      answer: jsonAnswer(429, {
        ok: false,
        error_code: 429,
        description: "Too Many Requests: retry after 7",
        parameters: { retry_after: 7 },
      }),
      waitMs: 7_000,
    },
    serverError: jsonAnswer(500, { ok: false, error_code: 500, description: "Internal" }),
    rejected: jsonAnswer(400, {
      ok: false,
      error_code: 400,
      description: "Bad Request: message text is empty",
    }),
  },
  hostile(rendered) {
    const parsed = parseTelegramHtml(JSON.parse(rendered.body).text);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
    assert.ok(parsed.text.length <= 4096);
    assert.ok(parsed.tags.every((t) => t === "b" || t === "a"));
  },
});
