// ntfy: a fake ntfy server on 127.0.0.1 taking JSON publishes at its root the way ntfy's
// handlePublish does (topic, priority, size, access token) and answering with the message JSON
// or ntfy's `{code, http, error}` errors; the classification of each answer.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import { NtfyDestination, splitTopicUrl } from "../src/destination_ntfy.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

function ntfyError(status: number, code: number, error: string): Answer {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, http: status, error, link: "https://ntfy.sh/docs/publish/" }),
  };
}

/** An ntfy server with a public topic "alerts" and a protected one, "private". */
function fakeNtfy(mode: () => "ok" | "limited" = () => "ok"): FakeServer {
  return new FakeServer((request: Received) => {
    if (mode() === "limited") {
      return ntfyError(429, 42901, "limit reached: too many requests, please be nice");
    }
    if (request.path !== "/sub/") return ntfyError(404, 40401, "page not found");
    let body: Record<string, Json>;
    try {
      body = JSON.parse(request.body);
    } catch {
      return ntfyError(400, 40017, "invalid request: request body must be message JSON");
    }
    if (!/^[-_A-Za-z0-9]{1,64}$/.test(body.topic ?? "")) {
      return ntfyError(400, 40009, "invalid request: topic invalid");
    }
    if (body.topic === "private" && request.headers.get("authorization") !== "Bearer tk_abc") {
      return ntfyError(403, 40301, "forbidden");
    }
    if (body.priority !== undefined && !(body.priority >= 1 && body.priority <= 5)) {
      return ntfyError(400, 40007, "invalid request: priority invalid");
    }
    if (new TextEncoder().encode(body.message ?? "").length > 4096) {
      return ntfyError(413, 41301, "too large: attachment too large, or bandwidth limit reached");
    }
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "sPs71M8A2T",
        time: 1700000000,
        expires: 1700043200,
        event: "message",
        topic: body.topic,
        title: body.title,
        message: body.message || "triggered",
        priority: body.priority,
        tags: body.tags,
        click: body.click,
      }),
    };
  });
}

Deno.test("NtfyDestination publishes JSON to the server root with title, priority, tags and click", async () => {
  const ntfy = fakeNtfy();
  try {
    const destination = new NtfyDestination("ntfy", {
      url: `${ntfy.url}/sub/private`,
      token: "tk_abc",
      priority: 4,
      tags: ["moneybag"],
    });
    const outcome = await destination.send(deliveryOf("new_payout_request"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(ntfy.received[0]!.body);
    assert.equal(body.topic, "private");
    assert.equal(body.priority, 4);
    assert.deepEqual(body.tags, ["moneybag"]);
    assert.match(body.title, /Payout requested by Dwayne Johnson: \$1,500\.00/);
    assert.match(body.message, /January bonus payment/);
    assert.match(body.click, /^https:\/\//);
    assert.equal(body.actions[0].action, "view");
  } finally {
    await ntfy.close();
  }
});

Deno.test("a hostile 10 KB message is cut to ntfy's 4096 bytes", async () => {
  const ntfy = fakeNtfy();
  try {
    const destination = new NtfyDestination("ntfy", { url: `${ntfy.url}/sub/alerts` });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(ntfy.received[0]!.body);
    assert.ok(new TextEncoder().encode(body.message).length <= 4096);
    assert.match(body.message, /…/);
    assert.ok(body.title.length <= 250);
  } finally {
    await ntfy.close();
  }
});

Deno.test("ntfy answers are classified: forbidden is gone, 429 retried, 400 failed", async () => {
  let mode: "ok" | "limited" = "ok";
  const ntfy = fakeNtfy(() => mode);
  try {
    const delivery = deliveryOf("new_max_bid");
    const context = sendContext();
    const noToken = new NtfyDestination("n", { url: `${ntfy.url}/sub/private` });
    const forbidden = await noToken.send(delivery, context);
    assert.equal(forbidden.kind, "gone");
    assert.equal(forbidden.httpStatus, 403);
    const badPriority = new NtfyDestination("n", { url: `${ntfy.url}/sub/alerts`, priority: 9 });
    assert.equal((await badPriority.send(delivery, context)).kind, "failed");
    mode = "limited";
    const limited = await new NtfyDestination("n", { url: `${ntfy.url}/sub/alerts` }).send(
      delivery,
      context,
    );
    assert.equal(limited.kind, "retry");
    assert.equal(limited.httpStatus, 429);
  } finally {
    await ntfy.close();
  }
});

Deno.test("splitTopicUrl() finds the root and topic, also under a sub-path", () => {
  assert.deepEqual(splitTopicUrl("https://ntfy.sh/alerts"), {
    root: "https://ntfy.sh/",
    topic: "alerts",
  });
  assert.deepEqual(splitTopicUrl("https://example.com/ntfy/alerts/"), {
    root: "https://example.com/ntfy/",
    topic: "alerts",
  });
});

Deno.test("render() hides the access token", () => {
  const destination = new NtfyDestination("n", {
    url: "https://ntfy.sh/alerts",
    token: "tk_secret123",
  });
  const rendered = destination.render(deliveryOf("product_sent"));
  assert.equal(rendered.headers["authorization"], "***");
  assert.doesNotMatch(JSON.stringify(rendered), /tk_secret123/);
});

destinationContract({
  type: "ntfy",
  config: (base) => ({
    type: "ntfy",
    url: `${base}/alerts-s3cr3t-topic`,
    token: "tk_ntfys3cr3t",
    priority: "high",
  }),
  secrets: ["tk_ntfys3cr3t", "alerts-s3cr3t-topic"],
  json: true,
  service: {
    ok: jsonAnswer(200, { id: "abc", event: "message", topic: "alerts-s3cr3t-topic" }),
    gone: jsonAnswer(403, { code: 40301, http: 403, error: "forbidden" }),
    // ntfy states no wait: the retry schedule decides.
    rateLimited: {
      answer: jsonAnswer(429, { code: 42901, http: 429, error: "limit reached" }),
      waitMs: null,
    },
    serverError: jsonAnswer(500, { code: 50001, http: 500, error: "internal server error" }),
    rejected: jsonAnswer(400, { code: 40001, http: 400, error: "invalid request" }),
  },
  hostile(rendered) {
    assert.ok(new TextEncoder().encode(JSON.parse(rendered.body).message).length <= 4096);
  },
});
