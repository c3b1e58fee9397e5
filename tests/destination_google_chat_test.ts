// Google Chat: a fake chat.googleapis.com webhook on 127.0.0.1 that checks key and token, the
// content type and the card structure, and answers with the created Message or Google's error
// JSON; the classification of each answer.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import { GoogleChatDestination } from "../src/destination_google_chat.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

const PATH =
  "/v1/spaces/AAAA1234/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=tok-9z";

function googleError(code: number, status: string, message: string): Answer {
  return {
    status: code,
    headers: { "content-type": "application/json; charset=UTF-8" },
    body: JSON.stringify({ error: { code, message, status } }),
  };
}

/** A Chat space's webhook: validates like the API, answers 200 with the Message resource. */
function fakeGoogleChat(mode: () => "ok" | "quota" = () => "ok"): FakeServer {
  return new FakeServer((request: Received) => {
    const url = new URL(request.path, "http://x");
    if (url.pathname !== "/v1/spaces/AAAA1234/messages") {
      return googleError(404, "NOT_FOUND", "Requested entity was not found.");
    }
    if (!url.searchParams.get("key")) {
      return googleError(403, "PERMISSION_DENIED", "The request is missing a valid API key.");
    }
    if (url.searchParams.get("token") !== "tok-9z") {
      return googleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    }
    if (mode() === "quota") {
      return googleError(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
      );
    }
    if (!request.headers.get("content-type")?.startsWith("application/json")) {
      return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    if (new TextEncoder().encode(request.body).length > 32_000) {
      return googleError(400, "INVALID_ARGUMENT", "Message too large.");
    }
    const body = JSON.parse(request.body);
    const cards = body.cardsV2 ?? [];
    if (!body.text && cards.length === 0) {
      return googleError(400, "INVALID_ARGUMENT", "Message cannot be empty.");
    }
    for (const card of cards) {
      if (!card.cardId || typeof card.card !== "object") {
        return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload: cardsV2.card");
      }
    }
    return {
      status: 200,
      headers: { "content-type": "application/json; charset=UTF-8" },
      body: JSON.stringify({
        name: "spaces/AAAA1234/messages/abc.abc",
        sender: { name: "users/114022495153014004089", type: "BOT" },
        createTime: "2026-01-15T12:00:00.000000Z",
        text: body.text ?? "",
        cardsV2: cards,
        space: { name: "spaces/AAAA1234", type: "ROOM" },
      }),
    };
  });
}

Deno.test("GoogleChatDestination posts a card the Chat API accepts", async () => {
  const chat = fakeGoogleChat();
  try {
    const destination = new GoogleChatDestination("chat", { url: chat.url + PATH });
    const outcome = await destination.send(deliveryOf("new_influencer_post"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const request = chat.received[0]!;
    assert.equal(request.headers.get("content-type"), "application/json; charset=UTF-8");
    const body = JSON.parse(request.body);
    const card = body.cardsV2[0].card;
    assert.match(card.header.title, /New post by Dwayne Johnson/);
    assert.equal(card.header.subtitle, "Dwayne Johnson (@therock)");
    assert.equal(card.header.imageType, "CIRCLE");
    assert.match(body.fallbackText, /New post by Dwayne Johnson/);
    const widgets = card.sections[0].widgets;
    assert.ok(widgets.some((w: Json) => w.buttonList?.buttons[0].text === "View post"));
  } finally {
    await chat.close();
  }
});

Deno.test("hostile text is HTML-escaped in Google Chat cards and fits 32,000 bytes", async () => {
  const chat = fakeGoogleChat();
  try {
    const destination = new GoogleChatDestination("chat", { url: chat.url + PATH });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const widgets = JSON.parse(chat.received[0]!.body).cardsV2[0].card.sections[0].widgets;
    const texts = widgets.flatMap((w: Json) => [w.textParagraph?.text, w.decoratedText?.text])
      .filter((t: unknown) => typeof t === "string");
    for (const text of texts) {
      // Only the relay's own <br> remains; every payload < and & is an entity.
      assert.doesNotMatch(text.replace(/<br>/g, ""), /<|&(?!(amp|lt|gt|quot);)/);
    }
    assert.match(texts[0], /&lt;users\/all&gt;|&lt;!channel&gt;/);
  } finally {
    await chat.close();
  }
});

Deno.test("Google Chat answers are classified: a bad token or deleted space is gone, 429 retried", async () => {
  let mode: "ok" | "quota" = "ok";
  const chat = fakeGoogleChat(() => mode);
  try {
    const delivery = deliveryOf("update_custom_link");
    const context = sendContext();
    const badToken = new GoogleChatDestination("c", {
      url: chat.url + PATH.replace("tok-9z", "x"),
    });
    const outcome = await badToken.send(delivery, context);
    assert.equal(outcome.kind, "gone");
    assert.equal(outcome.httpStatus, 401);
    const deleted = new GoogleChatDestination("c", {
      url: chat.url + PATH.replace("AAAA1234", "GONE"),
    });
    assert.equal((await deleted.send(delivery, context)).kind, "gone");
    mode = "quota";
    const quota = await new GoogleChatDestination("c", { url: chat.url + PATH }).send(
      delivery,
      context,
    );
    assert.equal(quota.kind, "retry");
    assert.equal(quota.httpStatus, 429);
    mode = "ok";
    const empty = new GoogleChatDestination("c", { url: chat.url + PATH, body: () => "{}" });
    assert.equal((await empty.send(delivery, context)).kind, "failed");
  } finally {
    await chat.close();
  }
});

Deno.test("render() hides the webhook key and token", () => {
  const destination = new GoogleChatDestination("c", { url: "https://chat.googleapis.com" + PATH });
  const rendered = destination.render(deliveryOf("media_kpi_updated"));
  assert.equal(rendered.url, "https://chat.googleapis.com/…");
  assert.doesNotMatch(JSON.stringify(rendered), /tok-9z|AIzaSy/);
});

destinationContract({
  type: "google_chat",
  config: (base) => ({
    type: "google_chat",
    url: `${base}/v1/spaces/A/messages?key=k&token=chat-tok3n`,
  }),
  secrets: ["chat-tok3n"],
  json: true,
  maxBodyBytes: 32_000,
  service: {
    ok: jsonAnswer(200, { name: "spaces/A/messages/1" }),
    gone: jsonAnswer(404, { error: { code: 404, status: "NOT_FOUND" } }),
    rateLimited: {
      answer: jsonAnswer(429, { error: { code: 429, status: "RESOURCE_EXHAUSTED" } }, {
        "retry-after": "7",
      }),
      waitMs: 7_000,
    },
    serverError: jsonAnswer(503, { error: { code: 503, status: "UNAVAILABLE" } }),
    rejected: jsonAnswer(400, { error: { code: 400, status: "INVALID_ARGUMENT" } }),
  },
  hostile(rendered) {
    const widgets = JSON.parse(rendered.body).cardsV2[0].card.sections[0].widgets;
    for (const w of widgets) {
      for (
        const text of [w.textParagraph?.text, w.decoratedText?.text, w.decoratedText?.topLabel]
      ) {
        assert.doesNotMatch((text ?? "").replace(/<br>/g, ""), /</);
      }
    }
  },
});
