// Long URLs in a payload (a 3,500-character profile_url and picture_url) never kill a message:
// each chat destination posts to a fake service on 127.0.0.1 that refuses, as the real one does,
// a message carrying a URL over its limit, and the message still goes out without that URL.

import assert from "node:assert/strict";
import type { Destination } from "../src/destination.ts";
import { DiscordDestination } from "../src/destination_discord.ts";
import { GoogleChatDestination } from "../src/destination_google_chat.ts";
import { SlackDestination } from "../src/destination_slack.ts";
import { TeamsDestination } from "../src/destination_teams.ts";
import { TelegramDestination } from "../src/destination_telegram.ts";
import { SAMPLES } from "../src/samples.ts";
import { deliveryOf, sendContext } from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

const LONG = "https://cdn.example.com/" + "p".repeat(3500 - 24);

/** Every http(s) URL in the strings of a JSON body (as values or inside text and markup). */
function urlsIn(value: unknown): string[] {
  if (typeof value === "string") return value.match(/https?:\/\/[^\s"'<>|()\]]+/g) ?? [];
  if (Array.isArray(value)) return value.flatMap(urlsIn);
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(urlsIn);
  return [];
}

/** A service that answers `refused` to a body holding a URL over `limit`, else `ok`. */
function fakeService(limit: number, refused: Answer, ok: Answer): FakeServer {
  return new FakeServer((request: Received) => {
    const urls = urlsIn(JSON.parse(request.body));
    return urls.some((url) => url.length > limit) ? refused : ok;
  });
}

const CASES: Array<{
  name: string;
  limit: number;
  refused: Answer;
  ok: Answer;
  create(base: string): Destination;
}> = [
  {
    name: "slack",
    limit: 3000,
    refused: { status: 400, body: "invalid_blocks" },
    ok: { status: 200, body: "ok" },
    create: (base) => new SlackDestination("slack", { url: `${base}/services/T0/B0/X0` }),
  },
  {
    name: "discord",
    limit: 2048,
    refused: {
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        message: "Invalid Form Body",
        code: 50035,
        errors: {
          embeds: { 0: { thumbnail: { url: { _errors: [{ code: "BASE_TYPE_MAX_LENGTH" }] } } } },
        },
      }),
    },
    ok: {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "1", type: 0 }),
    },
    create: (base) => new DiscordDestination("discord", { url: `${base}/api/webhooks/1/tok` }),
  },
  {
    name: "teams",
    limit: 2048,
    refused: {
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ error: { code: "InvalidTemplate", message: "Invalid URL." } }),
    },
    ok: { status: 202, body: "" },
    create: (base) => new TeamsDestination("teams", { url: `${base}/workflows/1/triggers/manual` }),
  },
  {
    name: "google_chat",
    limit: 2048,
    refused: {
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        error: { code: 400, message: "Invalid URL", status: "INVALID_ARGUMENT" },
      }),
    },
    ok: {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "spaces/A/messages/1" }),
    },
    create: (base) => new GoogleChatDestination("chat", { url: `${base}/v1/spaces/A/messages` }),
  },
  {
    name: "telegram",
    limit: 2048,
    refused: {
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        ok: false,
        error_code: 400,
        description: "Bad Request: wrong HTTP URL specified",
      }),
    },
    ok: {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ok: true, result: { message_id: 1 } }),
    },
    create: (base) =>
      new TelegramDestination("tg", { botToken: "123:abc", chatId: "-100", apiUrl: base }),
  },
];

for (const { name, limit, refused, ok, create } of CASES) {
  Deno.test(`${name} drops a URL over ${limit} characters and delivers the rest`, async () => {
    const server = fakeService(limit, refused, ok);
    try {
      const payload = structuredClone(SAMPLES["new_influencer_order"]!) as Record<string, unknown>;
      const deal = payload["deal_info"] as Record<string, unknown>;
      deal["profile_url"] = LONG;
      deal["picture_url"] = LONG;
      delete payload["deal_url"];
      const outcome = await create(server.url).send(
        deliveryOf("new_influencer_order", { payload }),
        sendContext(),
      );
      assert.equal(outcome.kind, "delivered", JSON.stringify(outcome));
      const body = JSON.parse(server.received[0]!.body);
      assert.ok(!JSON.stringify(body).includes("ppppp"), "the long URL was sent");
      assert.match(JSON.stringify(body), /Dwayne Johnson|therock/);
    } finally {
      await server.close();
    }
  });
}

Deno.test("the fake services refuse a URL over the limit (the test above can fail)", async () => {
  for (const { limit, refused, ok } of CASES) {
    const server = fakeService(limit, refused, ok);
    try {
      const answer = await fetch(server.url, {
        method: "POST",
        body: JSON.stringify({ image: "https://x.example/" + "p".repeat(limit) }),
      });
      await answer.body?.cancel();
      assert.equal(answer.status, refused.status);
    } finally {
      await server.close();
    }
  }
});
