// Microsoft Teams Workflows: a fake Power Automate trigger on 127.0.0.1 that checks the SAS
// signature in the query, the message envelope and the card, and answers 202 (queued) as
// Workflows do, or with Logic Apps' error bodies; the classification of each answer.

import assert from "node:assert/strict";
import { destinationContract, jsonAnswer, textAnswer } from "./destination_contract.ts";
import { classifyTeams, TeamsDestination } from "../src/destination_teams.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

const PATH = "/workflows/0a1b2c3d/triggers/manual/paths/invoke" +
  "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3t-sig";

function logicAppsError(status: number, code: string, message: string): Answer {
  return {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ error: { code, message } }),
  };
}

/** A Workflows trigger: 202 for a well-formed Adaptive Card message, else Logic Apps' errors. */
function fakeTeams(mode: () => "ok" | "throttled" = () => "ok"): FakeServer {
  return new FakeServer((request: Received) => {
    const url = new URL(request.path, "http://x");
    if (!url.pathname.startsWith("/workflows/0a1b2c3d/")) {
      return logicAppsError(404, "WorkflowNotFound", "The workflow '0a1b2c3d' could not be found.");
    }
    if (url.searchParams.get("sig") !== "s3cr3t-sig") {
      return logicAppsError(
        401,
        "DirectApiInvalidAuthorizationSignature",
        "The provided callback URL signature is invalid.",
      );
    }
    if (mode() === "throttled") {
      return {
        ...logicAppsError(429, "WorkflowRequestsThrottled", "Rate limit is exceeded."),
        headers: { "content-type": "application/json", "retry-after": "12" },
      };
    }
    if (!request.headers.get("content-type")?.startsWith("application/json")) {
      return logicAppsError(415, "UnsupportedMediaType", "The media type is not supported.");
    }
    if (new TextEncoder().encode(request.body).length > 28 * 1024) {
      return logicAppsError(413, "MessageTooLarge", "The message exceeds 28 KB.");
    }
    const body = JSON.parse(request.body);
    const card = body.attachments?.[0];
    if (
      body.type !== "message" ||
      card?.contentType !== "application/vnd.microsoft.card.adaptive" ||
      card?.content?.type !== "AdaptiveCard" || !Array.isArray(card?.content?.body)
    ) {
      return logicAppsError(400, "InvalidTemplate", "Unable to process template language.");
    }
    return { status: 202, body: "" };
  });
}

Deno.test("TeamsDestination posts an Adaptive Card 1.4 that Workflows queue with 202", async () => {
  const teams = fakeTeams();
  try {
    const destination = new TeamsDestination("teams", { url: teams.url + PATH });
    const outcome = await destination.send(deliveryOf("update_discount_code"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 202 });
    const body = JSON.parse(teams.received[0]!.body);
    const card = body.attachments[0].content;
    assert.equal(card.version, "1.4");
    assert.equal(body.attachments[0].contentUrl, null);
    assert.equal(card.body[0].type, "TextBlock");
    assert.match(card.body[0].text, /Discount code changed for Dwayne Johnson/);
    const facts = card.body.find((b: Json) => b.type === "FactSet").facts;
    assert.ok(facts.some((f: Json) => f.title === "Code" && /FIT2023 → FIT2024/.test(f.value)));
    assert.equal(card.actions[0].type, "Action.OpenUrl");
  } finally {
    await teams.close();
  }
});

Deno.test("hostile text cannot format a Teams card and stays under 28 KB", async () => {
  const teams = fakeTeams();
  try {
    const destination = new TeamsDestination("teams", { url: teams.url + PATH });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 202 });
    const card = JSON.parse(teams.received[0]!.body).attachments[0].content;
    const text = card.body.find((b: Json) => b.type === "TextBlock" && b.wrap && !b.weight).text;
    assert.match(text, /\\\*bold\\\* \\_italic\\_/);
    assert.match(text, /\\\[link\\\]\(https:\/\/evil\.example\)/);
  } finally {
    await teams.close();
  }
});

Deno.test("Teams answers are classified: a wrong signature or deleted flow is gone", async () => {
  let mode: "ok" | "throttled" = "ok";
  const teams = fakeTeams(() => mode);
  try {
    const delivery = deliveryOf("new_max_bid");
    const context = sendContext();
    const wrongSig = new TeamsDestination("t", { url: teams.url + PATH.replace("s3cr3t", "x") });
    assert.equal((await wrongSig.send(delivery, context)).kind, "gone");
    const deleted = new TeamsDestination("t", { url: `${teams.url}/workflows/gone/x?sig=1` });
    const outcome = await deleted.send(delivery, context);
    assert.equal(outcome.kind, "gone");
    assert.equal(outcome.httpStatus, 404);
    mode = "throttled";
    const throttled = await new TeamsDestination("t", { url: teams.url + PATH }).send(
      delivery,
      context,
    );
    assert.equal(throttled.kind, "retry");
    assert.equal((throttled as { retryAfterMs?: number }).retryAfterMs, 12_000);
    mode = "ok";
    const badTemplate = new TeamsDestination("t", {
      url: teams.url + PATH,
      body: () => '{"text":"not a card"}',
    });
    assert.equal((await badTemplate.send(delivery, context)).kind, "failed");
  } finally {
    await teams.close();
  }
});

Deno.test("classifyTeams() retries a legacy connector's 200 that reports a throttle", () => {
  const outcome = classifyTeams({
    status: 200,
    headers: new Headers(),
    body: "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0",
  }, 0);
  assert.equal(outcome.kind, "retry");
  assert.equal(
    classifyTeams({ status: 200, headers: new Headers(), body: "1" }, 0).kind,
    "delivered",
  );
});

Deno.test("render() hides the Workflows signature", () => {
  const destination = new TeamsDestination("t", {
    url: "https://prod-01.westus.logic.azure.com:443" + PATH,
  });
  const rendered = destination.render(deliveryOf("product_sent"));
  assert.equal(rendered.url, "https://prod-01.westus.logic.azure.com/…");
  assert.doesNotMatch(JSON.stringify(rendered), /s3cr3t/);
});

destinationContract({
  type: "teams",
  config: (base) => ({ type: "teams", url: `${base}/workflows/1/invoke?sig=teams-sig-s3cr3t` }),
  secrets: ["teams-sig-s3cr3t"],
  json: true,
  maxBodyBytes: 28 * 1024,
  service: {
    ok: textAnswer(202, ""),
    gone: jsonAnswer(404, { error: { code: "WorkflowNotFound", message: "not found" } }),
    rateLimited: {
      answer: jsonAnswer(429, { error: { code: "TooManyRequests" } }, { "retry-after": "7" }),
      waitMs: 7_000,
    },
    serverError: jsonAnswer(502, { error: { code: "BadGateway" } }),
    rejected: jsonAnswer(400, { error: { code: "InvalidRequestContent" } }),
  },
  hostile(rendered) {
    assert.doesNotMatch(rendered.body, /(?<!\\\\)\*bold/);
  },
});
