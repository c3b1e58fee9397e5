// Slack: the shared destination contract with Slack's own answers, and Slack's rules on the
// hostile message (no <!channel> or link syntax from the payload in mrkdwn).

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { parseConfig } from "../src/config.ts";
import { destinationContract } from "./destination_contract.ts";
import { deliveryOf, sendContext } from "./destination_kit.ts";
import { FakeServer, SECRET } from "./helpers.ts";

const text = (status: number, body: string, headers: Record<string, string> = {}) => ({
  status,
  body,
  headers: { "content-type": "text/html", ...headers },
});

destinationContract({
  type: "slack",
  config: (base) => ({ type: "slack", url: `${base}/services/T0/B0/slacktok3n` }),
  secrets: ["slacktok3n"],
  json: true,
  service: {
    ok: text(200, "ok"),
    gone: text(404, "no_service"),
    rateLimited: { answer: text(429, "rate_limited", { "retry-after": "7" }), waitMs: 7_000 },
    serverError: text(500, "rollup_error"),
    rejected: text(400, "invalid_payload"),
  },
  hostile(rendered) {
    // Slack parses <…> only in mrkdwn; the relay's own links are the only ones left there.
    const json = JSON.parse(rendered.body);
    const mrkdwn: string[] = [json.text];
    JSON.stringify(json.blocks, (_key, value) => {
      if (value?.type === "mrkdwn") mrkdwn.push(value.text);
      return value;
    });
    for (const text of mrkdwn) assert.doesNotMatch(text, /<(?!https:\/\/example\.com\/)/);
  },
});

Deno.test("a Slack body template that does not make a JSON object fails at once, unsent", async () => {
  const slack = new FakeServer();
  try {
    const config = parseConfig(
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        destinations: {
          d: { type: "slack", url: `${slack.url}/services/T/B/x`, body: "not {{ deal_id }} json" },
        },
        routes: [],
      }),
      "test config",
      { env: () => undefined },
    );
    const destination = compileConfig(config, "test", { write: () => {} }).destinations.get("d")!
      .destination;
    const delivery = deliveryOf("update_commission");
    assert.deepEqual(destination.render(delivery).method, "ERROR");
    const outcome = await destination.send(delivery, sendContext());
    assert.deepEqual(outcome, {
      kind: "failed",
      httpStatus: null,
      error: "the body template did not produce valid JSON",
    });
    assert.equal(slack.received.length, 0);
  } finally {
    await slack.close();
  }
});
