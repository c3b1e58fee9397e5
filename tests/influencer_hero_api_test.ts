// `hero-relay register` against a fake Influencer Hero API on 127.0.0.1 that keeps
// registrations and answers as the real one does: 409 for a duplicate, 400 "Webhook URL not
// found" for an unknown one, 401 for a bad key.

import assert from "node:assert/strict";
import { FakeServer, runCli } from "./helpers.ts";
import { registerWebhooks } from "../src/influencer_hero_api.ts";

const KEY = "ih-api-key-7c1f";

function fakeApi(): { server: FakeServer; registered: Set<string> } {
  const registered = new Set<string>();
  const server = new FakeServer((request) => {
    if (request.headers.get("x-api-key") !== KEY) {
      return { status: 401, body: '{"detail":"Invalid API key"}' };
    }
    if (request.headers.get("content-type") !== "application/json") return { status: 415 };
    const body = JSON.parse(request.body);
    if (typeof body.webhook_type !== "string" || typeof body.webhook_url !== "string") {
      return { status: 422, body: '{"detail":"webhook_type and webhook_url are required"}' };
    }
    const key = `${body.webhook_type} ${body.webhook_url}`;
    if (request.path === "/v1/account/create_webhook") {
      if (registered.has(key)) return { status: 409, body: '{"detail":"Webhook already exists"}' };
      registered.add(key);
      return { status: 200, body: '{"message":"Webhook created"}' };
    }
    if (request.path === "/v1/account/delete_webhook") {
      if (!registered.delete(key)) {
        return { status: 400, body: '{"detail":"Webhook URL not found"}' };
      }
      return { status: 200, body: '{"message":"Webhook deleted"}' };
    }
    return { status: 404 };
  });
  return { server, registered };
}

Deno.test("registerWebhooks() registers one URL per event type and treats 409 as already done", async () => {
  const { server, registered } = fakeApi();
  try {
    const options = {
      apiKey: KEY,
      publicUrl: "https://relay.example.com/",
      eventTypes: ["update_commission", "new_payout_request"],
      apiUrl: server.url,
    };
    const first = await registerWebhooks(options);
    assert.deepEqual(first.map((r) => r.outcome), ["registered", "registered"]);
    assert.deepEqual(
      [...registered],
      [
        "update_commission https://relay.example.com/hooks/update_commission",
        "new_payout_request https://relay.example.com/hooks/new_payout_request",
      ],
    );
    assert.equal(JSON.parse(server.received[0]!.body).prevent_duplicate_webhook, true);
    const again = await registerWebhooks(options);
    assert.deepEqual(again.map((r) => r.outcome), ["already registered", "already registered"]);
    const removed = await registerWebhooks({ ...options, remove: true });
    assert.deepEqual(removed.map((r) => r.outcome), ["removed", "removed"]);
    const gone = await registerWebhooks({ ...options, remove: true });
    assert.deepEqual(gone.map((r) => r.outcome), ["not registered", "not registered"]);
    assert.equal(registered.size, 0);
  } finally {
    await server.close();
  }
});

Deno.test("hero-relay register registers every event type and reports a refused key", async () => {
  const { server, registered } = fakeApi();
  try {
    const ok = await runCli([
      "register",
      "--public-url",
      "https://relay.example.com",
      "--api-key",
      KEY,
      "--api-url",
      server.url,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(registered.size, 11);
    assert.match(
      ok.stdout,
      /update_commission\s+registered\s+https:\/\/relay\.example\.com\/hooks\/update_commission/,
    );

    const refused = await runCli([
      "register",
      "--public-url",
      "https://relay.example.com",
      "--api-key",
      "wrong-key",
      "--api-url",
      server.url,
      "--events",
      "update_commission",
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /failed: HTTP 401: the API key was refused/);
    assert.doesNotMatch(refused.stdout + refused.stderr, /wrong-key/);
  } finally {
    await server.close();
  }
});

Deno.test("hero-relay register refuses local URLs, which Influencer Hero would not call", async () => {
  for (
    const url of [
      "http://localhost:8080",
      "http://127.0.0.1:8080",
      "http://192.168.1.5",
      "http://10.0.0.2",
    ]
  ) {
    const result = await runCli([
      "register",
      "--public-url",
      url,
      "--api-key",
      KEY,
      "--api-url",
      "http://127.0.0.1:9",
    ]);
    assert.equal(result.code, 2, url);
    assert.match(result.stderr, /only calls public URLs/, url);
  }
});
