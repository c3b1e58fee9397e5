// Mattermost: a fake server on 127.0.0.1 answering incoming webhooks as Mattermost does (200
// "ok" as text/plain; AppError JSON with an id for a bad hook or empty post); the classification
// of each answer; and a check that payload text cannot trigger mentions or Slack-style commands.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer, textAnswer } from "./destination_contract.ts";
import { MattermostDestination } from "../src/destination_mattermost.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

function appError(status: number, id: string, message: string): Answer {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      id,
      message,
      detailed_error: "",
      request_id: "8kq4pcr9xj8e3cmrcz1s1bycbr",
      status_code: status,
    }),
  };
}

/** Mattermost's incoming webhook handler, for the hook "h0ok" only. */
function fakeMattermost(): FakeServer {
  return new FakeServer((request: Received) => {
    const match = /^\/hooks\/([a-z0-9]+)$/.exec(request.path);
    if (match === null || match[1] !== "h0ok") {
      return appError(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.");
    }
    let body: Record<string, Json>;
    try {
      body = JSON.parse(request.body);
    } catch {
      return appError(
        400,
        "web.incoming_webhook.parse.app_error",
        "Unable to parse incoming data.",
      );
    }
    if (!body.text && !body.attachments) {
      return appError(400, "web.incoming_webhook.text.app_error", "No text specified.");
    }
    if ((body.text ?? "").length > 16383) {
      return appError(400, "web.incoming_webhook.text.length.app_error", "Text too long.");
    }
    if (body.channel === "locked") {
      return appError(
        403,
        "web.incoming_webhook.channel_locked.app_error",
        "This webhook is not permitted to post to the requested channel.",
      );
    }
    return { status: 200, body: "ok", headers: { "content-type": "text/plain" } };
  });
}

Deno.test("MattermostDestination posts Markdown text and an attachment, answered 200 ok", async () => {
  const mattermost = fakeMattermost();
  try {
    const destination = new MattermostDestination("mm", {
      url: `${mattermost.url}/hooks/h0ok`,
      channel: "town-square",
    });
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(mattermost.received[0]!.body);
    assert.match(body.text, /^\*\*Commission changed for Dwayne Johnson\*\*$/);
    assert.equal(body.channel, "town-square");
    for (const slackOnly of ["blocks", "mrkdwn", "unfurl_links", "unfurl_media", "link_names"]) {
      assert.ok(!(slackOnly in body), `${slackOnly} is Slack-only`);
    }
    const attachment = body.attachments[0];
    assert.equal(attachment.color, "#2eb67d");
    assert.match(attachment.author_name, /Dwayne Johnson/);
    assert.ok(attachment.fields.some((f: Json) => f.title === "Commission"));
  } finally {
    await mattermost.close();
  }
});

Deno.test("payload text cannot mention, announce or format in Mattermost", async () => {
  const mattermost = fakeMattermost();
  try {
    const destination = new MattermostDestination("mm", { url: `${mattermost.url}/hooks/h0ok` });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const all = mattermost.received[0]!.body;
    const body = JSON.parse(all);
    for (const text of [body.text, body.attachments[0].text, body.attachments[0].author_name]) {
      assert.doesNotMatch(text, /<!(channel|here|everyone)>/);
      assert.doesNotMatch(text, /(^|\s)@(everyone|here|channel|all)\b/);
    }
    assert.match(body.attachments[0].text, /&lt;b&gt;bold&lt;\/b&gt;/);
    assert.match(body.attachments[0].text, /\\\*bold\\\*/);
    assert.match(body.attachments[0].text, /@\u200beveryone/);
  } finally {
    await mattermost.close();
  }
});

Deno.test("Mattermost answers are classified: an invalid or locked webhook is gone", async () => {
  const mattermost = fakeMattermost();
  try {
    const delivery = deliveryOf("new_email_sent");
    const context = sendContext();
    const invalid = new MattermostDestination("mm", { url: `${mattermost.url}/hooks/deleted` });
    const outcome = await invalid.send(delivery, context);
    assert.equal(outcome.kind, "gone");
    assert.equal(outcome.httpStatus, 400);
    const locked = new MattermostDestination("mm", {
      url: `${mattermost.url}/hooks/h0ok`,
      channel: "locked",
    });
    assert.equal((await locked.send(delivery, context)).kind, "gone");
    const empty = new MattermostDestination("mm", {
      url: `${mattermost.url}/hooks/h0ok`,
      body: () => "{}",
    });
    const failed = await empty.send(delivery, context);
    assert.equal(failed.kind, "failed");
    assert.match((failed as { error: string }).error, /text\.app_error/);
  } finally {
    await mattermost.close();
  }
});

destinationContract({
  type: "mattermost",
  config: (base) => ({ type: "mattermost", url: `${base}/hooks/mm-hook-k3y` }),
  secrets: ["mm-hook-k3y"],
  json: true,
  service: {
    ok: textAnswer(200, "ok"),
    gone: jsonAnswer(400, {
      id: "web.incoming_webhook.invalid.app_error",
      message: "Invalid webhook.",
      status_code: 400,
    }),
    rateLimited: {
      answer: textAnswer(429, "limit exceeded", { "retry-after": "7" }),
      waitMs: 7_000,
    },
    serverError: jsonAnswer(500, { id: "app.internal", status_code: 500 }),
    rejected: jsonAnswer(400, {
      id: "web.incoming_webhook.text.app_error",
      message: "No text specified.",
      status_code: 400,
    }),
  },
  hostile(rendered) {
    assert.doesNotMatch(rendered.body, /<!channel>|(^|[\s"])@(everyone|here|channel|all)\b/);
  },
});
