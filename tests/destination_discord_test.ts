// Discord: a fake webhook endpoint on 127.0.0.1 that validates requests the way Discord does
// (content type, embed limits, empty messages) and answers with Discord's own success and error
// bodies; the relay's classification of each answer; and one delivery through a real relay.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer, textAnswer } from "./destination_contract.ts";
import { classifyDiscord, DiscordDestination } from "../src/destination_discord.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  type Received,
  testConfig,
  testRelay,
} from "./helpers.ts";

const HOOK = "/api/webhooks/1234567890/secret-token-abc";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return {
    status,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  };
}

/** Checks a request as Discord's Execute Webhook does; null when it is acceptable. */
function discordProblem(request: Received): Answer | null {
  const url = new URL(request.path, "http://x");
  const match = /^\/api\/webhooks\/(\d+)\/([^/]+)$/.exec(url.pathname);
  if (match === null || match[1] !== "1234567890") {
    return json(404, { message: "Unknown Webhook", code: 10015 });
  }
  if (match[2] !== "secret-token-abc") {
    return json(401, { message: "Invalid Webhook Token", code: 50027 });
  }
  if (!request.headers.get("content-type")?.startsWith("application/json")) {
    return json(400, { code: 50035, errors: {}, message: "Invalid Form Body" });
  }
  const body = JSON.parse(request.body);
  const embeds: Array<Record<string, Json>> = body.embeds ?? [];
  if (!body.content && embeds.length === 0) {
    return json(400, { message: "Cannot send an empty message", code: 50006 });
  }
  const invalid = (field: string) =>
    json(400, {
      code: 50035,
      errors: { [field]: { _errors: [{ code: "BASE_TYPE_MAX_LENGTH", message: "Too long" }] } },
      message: "Invalid Form Body",
    });
  if ((body.content ?? "").length > 2000) return invalid("content");
  if (embeds.length > 10) return invalid("embeds");
  let total = 0;
  for (const embed of embeds) {
    const lengths: Array<[string, string | undefined, number]> = [
      ["title", embed.title, 256],
      ["description", embed.description, 4096],
      ["footer.text", embed.footer?.text, 2048],
      ["author.name", embed.author?.name, 256],
    ];
    for (const field of embed.fields ?? []) {
      if (!field.name || !field.value) return invalid("fields");
      lengths.push(["fields.name", field.name, 256], ["fields.value", field.value, 1024]);
    }
    if ((embed.fields ?? []).length > 25) return invalid("fields");
    for (const [name, value, max] of lengths) {
      const length = (value ?? "").trim().length;
      if (length > max) return invalid(name);
      total += length;
    }
  }
  if (total > 6000) return invalid("embeds");
  const mentions = body.allowed_mentions;
  if (mentions?.parse?.includes("users") && mentions?.users?.length) return invalid("mentions");
  return null;
}

/** A Discord webhook: validates, then 200 + message with ?wait=true, 204 without. */
function fakeDiscord(mode: () => "ok" | "rate" | "down" = () => "ok"): FakeServer {
  return new FakeServer((request) => {
    const now = mode();
    if (now === "rate") {
      return json(429, {
        message: "You are being rate limited.",
        retry_after: 1.337,
        global: false,
      }, {
        "retry-after": "2",
        "x-ratelimit-limit": "5",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-scope": "user",
      });
    }
    if (now === "down") return { status: 502, body: "<html>Bad Gateway</html>" };
    const problem = discordProblem(request);
    if (problem) return problem;
    if (new URL(request.path, "http://x").searchParams.get("wait") !== "true") {
      return { status: 204 };
    }
    const body = JSON.parse(request.body);
    return json(200, {
      id: "1100000000000000001",
      type: 0,
      channel_id: "1000000000000000000",
      webhook_id: "1234567890",
      content: body.content ?? "",
      embeds: body.embeds ?? [],
      mentions: [],
      mention_everyone: false,
    });
  });
}

Deno.test("DiscordDestination posts an embed Discord accepts, waiting for confirmation", async () => {
  const discord = fakeDiscord();
  try {
    const destination = new DiscordDestination("discord", { url: discord.url + HOOK });
    const outcome = await destination.send(deliveryOf("new_influencer_order"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const request = discord.received[0]!;
    assert.equal(new URL(request.path, "http://x").searchParams.get("wait"), "true");
    assert.equal(request.headers.get("content-type"), "application/json");
    const body = JSON.parse(request.body);
    assert.deepEqual(body.allowed_mentions, { parse: [] });
    const embed = body.embeds[0];
    assert.match(embed.title, /New order from Dwayne Johnson's audience: \$149\.99/);
    assert.equal(embed.author.name, "Dwayne Johnson (@therock)");
    assert.equal(embed.author.url, "https://instagram.com/therock");
    assert.match(embed.thumbnail.url, /^https:\/\/imgp\.sptds\.icu\//);
    assert.equal(embed.color, 0x2eb67d);
    assert.ok(embed.fields.some((f: Json) => f.name === "Revenue" && f.value === "$149.99"));
    assert.match(embed.footer.text, /new_influencer_order/);
    assert.equal(embed.timestamp, "2026-01-15T12:00:00.000Z");
  } finally {
    await discord.close();
  }
});

Deno.test("DiscordDestination keeps a thread_id already in the webhook URL", async () => {
  const discord = fakeDiscord();
  try {
    const destination = new DiscordDestination("discord", {
      url: `${discord.url}${HOOK}?thread_id=42`,
    });
    await destination.send(deliveryOf("product_sent"), sendContext());
    const query = new URL(discord.received[0]!.path, "http://x").searchParams;
    assert.equal(query.get("thread_id"), "42");
    assert.equal(query.get("wait"), "true");
  } finally {
    await discord.close();
  }
});

Deno.test("a hostile 10 KB message stays within every Discord limit and cannot ping", async () => {
  const discord = fakeDiscord();
  try {
    const destination = new DiscordDestination("discord", { url: discord.url + HOOK });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(discord.received[0]!.body);
    const embed = body.embeds[0];
    assert.deepEqual(body.allowed_mentions, { parse: [] });
    assert.ok(embed.description.length <= 4096);
    assert.ok(embed.fields.length <= 25);
    assert.ok(
      embed.description.endsWith(
        "[Open <deal\\> & \\*more\\*](https://example.com/deal?a=1&b=%282%29)",
      ),
    );
    // Markdown from the payload is escaped; nothing is left to format or link.
    assert.doesNotMatch(embed.description, /(?<!\\)\*bold(?<!\\)\*/);
    assert.match(embed.description, /\\\[link\\\]\\\(https/);
  } finally {
    await discord.close();
  }
});

Deno.test("a link over Discord's 2,048-character embed URL limit is left out", async () => {
  const discord = fakeDiscord();
  try {
    const message = deliveryOf("new_influencer_post").message;
    const url = "https://example.com/" + "p".repeat(5000);
    const destination = new DiscordDestination("discord", { url: discord.url + HOOK });
    const outcome = await destination.send(
      deliveryWith({ ...message, link: { url, label: "View post" } }),
      sendContext(),
    );
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const embed = JSON.parse(discord.received[0]!.body).embeds[0];
    assert.equal(embed.url, undefined);
    assert.doesNotMatch(embed.description ?? "", /View post|ppppp/);
  } finally {
    await discord.close();
  }
});

Deno.test("a body template replaces the embed but allowed_mentions is still added", async () => {
  const discord = fakeDiscord();
  try {
    const destination = new DiscordDestination("discord", {
      url: discord.url + HOOK,
      body: (request) => JSON.stringify({ content: `New ${request.eventType}` }),
    });
    const outcome = await destination.send(deliveryOf("new_max_bid"), sendContext());
    assert.equal(outcome.kind, "delivered");
    const body = JSON.parse(discord.received[0]!.body);
    assert.deepEqual(body, { content: "New new_max_bid", allowed_mentions: { parse: [] } });
  } finally {
    await discord.close();
  }
});

Deno.test("Discord's answers are classified: unknown webhook and bad token are gone", async () => {
  const discord = fakeDiscord();
  try {
    const context = sendContext();
    const delivery = deliveryOf("update_commission");
    const unknown = new DiscordDestination("d", {
      url: `${discord.url}/api/webhooks/999/secret-token-abc`,
    });
    const outcome = await unknown.send(delivery, context);
    assert.equal(outcome.kind, "gone");
    assert.equal(outcome.httpStatus, 404);
    const badToken = new DiscordDestination("d", {
      url: `${discord.url}/api/webhooks/1234567890/revoked`,
    });
    const second = await badToken.send(delivery, context);
    assert.equal(second.kind, "gone");
    assert.equal(second.httpStatus, 401);
    const emptyBody = new DiscordDestination("d", {
      url: discord.url + HOOK,
      body: () => "{}",
    });
    const third = await emptyBody.send(delivery, context);
    assert.equal(third.kind, "failed");
    assert.equal(third.httpStatus, 400);
    assert.match((third as { error: string }).error, /50006/);
  } finally {
    await discord.close();
  }
});

Deno.test("Discord's 429 is retried after its retry_after (float seconds), 502 is retried", async () => {
  let mode: "ok" | "rate" | "down" = "rate";
  const discord = fakeDiscord(() => mode);
  try {
    const destination = new DiscordDestination("d", { url: discord.url + HOOK });
    const limited = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(limited.kind, "retry");
    assert.equal((limited as { retryAfterMs?: number }).retryAfterMs, 1337);
    mode = "down";
    const down = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(down.kind, "retry");
    assert.equal(down.httpStatus, 502);
  } finally {
    await discord.close();
  }
});

Deno.test("classifyDiscord() falls back to Retry-After and treats 204 as delivered", () => {
  const now = 0;
  assert.deepEqual(
    classifyDiscord({ status: 204, headers: new Headers(), body: "" }, now),
    { kind: "delivered", httpStatus: 204 },
  );
  const limited = classifyDiscord({
    status: 429,
    headers: new Headers({ "retry-after": "3" }),
    body: "error code: 1015",
  }, now);
  assert.equal(limited.kind, "retry");
  assert.equal((limited as { retryAfterMs?: number }).retryAfterMs, 3000);
});

Deno.test("render() shows the embed without the webhook token", () => {
  const destination = new DiscordDestination("d", {
    url: "https://discord.com/api/webhooks/1234567890/secret-token-abc",
  });
  const rendered = destination.render(deliveryOf("new_payout_request"));
  assert.equal(rendered.url, "https://discord.com/…");
  assert.doesNotMatch(JSON.stringify(rendered), /secret-token-abc/);
  assert.match(JSON.parse(rendered.body).embeds[0].title, /Payout requested/);
});

Deno.test("a signed order reaches a fake Discord through a real relay, after a 429", async () => {
  const dir = await Deno.makeTempDir();
  let calls = 0;
  const discord = fakeDiscord(() => (++calls === 1 ? "rate" : "ok"));
  const config = testConfig(dir, {
    destinations: {
      discord: {
        type: "discord",
        url: discord.url + HOOK,
        retry: { schedule: ["0s", "10ms"], max_attempts: 3 },
      },
    },
    routes: [{ name: "orders", events: ["new_influencer_order"], to: ["discord"] }],
  });
  const { relay, logs } = await testRelay(config);
  try {
    const answer = await post(
      relay.url,
      "/hooks/new_influencer_order",
      freshSample("new_influencer_order"),
    );
    assert.equal(answer.status, 200);
    await eventually(
      async () => (await relay.store.listDeliveries({ status: "delivered" })).length === 1,
      15_000,
      "the delivery to be delivered",
    );
    assert.equal(discord.received.length, 2);
    const embed = JSON.parse(discord.received[1]!.body).embeds[0];
    assert.match(embed.title, /\$149\.99/);
    assert.doesNotMatch(logs.lines.join("\n"), /secret-token-abc/);
  } finally {
    await relay.stop();
    await discord.close();
  }
});

destinationContract({
  type: "discord",
  config: (base) => ({ type: "discord", url: `${base}/api/webhooks/1/discordtok3n` }),
  secrets: ["discordtok3n"],
  json: true,
  service: {
    ok: jsonAnswer(200, { id: "1100000000000000001", type: 0, content: "" }),
    gone: jsonAnswer(404, { message: "Unknown Webhook", code: 10015 }),
    rateLimited: {
      answer: jsonAnswer(429, {
        message: "You are being rate limited.",
        retry_after: 1.337,
        global: false,
      }, { "retry-after": "2" }),
      waitMs: 1_337,
    },
    serverError: textAnswer(502, "<html>Bad Gateway</html>"),
    rejected: jsonAnswer(400, { code: 50035, errors: {}, message: "Invalid Form Body" }),
  },
  hostile(rendered) {
    const json = JSON.parse(rendered.body);
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
  },
});
