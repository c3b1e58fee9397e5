// The receiving side through a real relay: every bad request gets its 4xx and leaves no trace.

import assert from "node:assert/strict";
import { freshSample, post, SECRET, signed, testConfig, testRelay } from "./helpers.ts";
import type { Relay } from "../src/relay.ts";

async function withRelay(
  test: (relay: Relay, printed: string[]) => Promise<void>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    destinations: { out: { type: "console" } },
    routes: [{ name: "all", events: "*", to: ["out"] }],
    ...extra,
  });
  const { relay, printed } = await testRelay(config);
  try {
    await test(relay, printed);
  } finally {
    await relay.stop();
  }
}

async function nothingStored(relay: Relay, printed: string[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal((await relay.store.listEvents({})).length, 0, "no event stored");
  assert.equal((await relay.store.listDeliveries({})).length, 0, "no delivery made");
  assert.equal(printed.length, 0, "nothing delivered");
}

Deno.test("forged and stale requests get 401, and nothing is stored or delivered", async () => {
  await withRelay(async (relay, printed) => {
    const payload = freshSample("update_commission");
    const now = Math.floor(Date.now() / 1000);
    const good = await signed(payload);
    const tampered = new TextEncoder().encode(
      new TextDecoder().decode(good.body).replace(
        '"new_commission_perc":15',
        '"new_commission_perc":95',
      ),
    );
    const attempts: Array<[string, Record<string, string>, Uint8Array<ArrayBuffer>]> = [
      ["tampered body", good.headers, tampered],
      ["wrong secret", (await signed(payload, { secret: "not-the-secret" })).headers, good.body],
      ["missing signature", { ...good.headers, "x-influencerhero-signature": "" }, good.body],
      ["malformed signature", { ...good.headers, "x-influencerhero-signature": "abc" }, good.body],
      ["missing timestamp", omit(good.headers, "x-influencerhero-timestamp"), good.body],
      // 30 s past the 300 s tolerance either way: the clock may tick while the test runs.
      ["stale timestamp", (await signed(payload, { timestamp: now - 330 })).headers, good.body],
      ["future timestamp", (await signed(payload, { timestamp: now + 330 })).headers, good.body],
    ];
    for (const [what, headers, body] of attempts) {
      const response = await fetch(`${relay.url}/hooks/update_commission`, {
        method: "POST",
        headers,
        body,
      });
      const answer = await response.json();
      assert.equal(response.status, 401, what);
      assert.equal(answer.ok, false, what);
      assert.ok(!JSON.stringify(answer).includes(SECRET), what);
    }
    await nothingStored(relay, printed);
  });
});

Deno.test("a body whose signed webhook_timestamp is older than 7 days is rejected", async () => {
  await withRelay(async (relay, printed) => {
    const old = String(Math.floor(Date.now() / 1000) - 8 * 86_400);
    const answer = await post(
      relay.url,
      "/hooks/update_commission",
      freshSample("update_commission", { webhook_timestamp: old }),
    );
    assert.equal(answer.status, 401);
    assert.match(String(answer.json["error"]), /webhook_timestamp/);
    await nothingStored(relay, printed);
  });
});

Deno.test("a signed webhook_timestamp in s, ms, float string or fractional number is checked", async () => {
  await withRelay(async (relay) => {
    const nowMs = Date.now();
    const forms = (ms: number): Array<[string, unknown]> => [
      ["seconds string", String(Math.floor(ms / 1000))],
      ["seconds number", Math.floor(ms / 1000)],
      ["milliseconds string", String(ms)],
      ["milliseconds number", ms],
      ["float seconds string", (ms / 1000).toFixed(3)],
      ["fractional seconds number", ms / 1000 + 0.25],
      ["fractional milliseconds number", ms + 0.5],
    ];
    let n = 0;
    for (const [form, value] of forms(nowMs)) {
      const answer = await post(
        relay.url,
        "/hooks/update_commission",
        freshSample("update_commission", { webhook_timestamp: value, n: n++ }),
      );
      assert.equal(answer.status, 200, `fresh ${form} is accepted`);
    }
    for (const [form, value] of forms(nowMs - 8 * 86_400_000)) {
      const answer = await post(
        relay.url,
        "/hooks/update_commission",
        freshSample("update_commission", { webhook_timestamp: value, n: n++ }),
      );
      assert.equal(answer.status, 401, `stale ${form} is refused`);
      assert.match(String(answer.json["error"]), /webhook_timestamp/, form);
    }
    assert.equal((await relay.store.listEvents({})).length, 7, "only the fresh ones are stored");
  });
});

Deno.test("both secrets are accepted during a rotation", async () => {
  const dir = await Deno.makeTempDir();
  const config = testConfig(dir, {
    influencer_hero: { signing_secrets: ["the-new-secret", SECRET] },
    destinations: { out: { type: "console" } },
    routes: [],
  });
  const { relay } = await testRelay(config);
  try {
    const a = await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid", { n: 1 }));
    const b = await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid", { n: 2 }), {
      secret: "the-new-secret",
    });
    const c = await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid", { n: 3 }), {
      secret: "retired-secret",
    });
    assert.deepEqual([a.status, b.status, c.status], [200, 200, 401]);
  } finally {
    await relay.stop();
  }
});

Deno.test("over-size bodies get 413, with or without Content-Length", async () => {
  await withRelay(async (relay, printed) => {
    const big = freshSample("new_email_sent", { filler: "x".repeat(5000) });
    const { body, headers } = await signed(big);
    const declared = await fetch(`${relay.url}/hooks/new_email_sent`, {
      method: "POST",
      headers,
      body,
    });
    assert.equal(declared.status, 413);
    await declared.body?.cancel();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < body.length; i += 1000) controller.enqueue(body.slice(i, i + 1000));
        controller.close();
      },
    });
    const chunked = await fetch(`${relay.url}/hooks/new_email_sent`, {
      method: "POST",
      headers,
      body: stream,
    });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    await nothingStored(relay, printed);
  }, { influencer_hero: { signing_secrets: [SECRET], max_body_bytes: 4096 } });
});

Deno.test("wrong content type 415, invalid JSON 400, wrong method 405, unknown path 404", async () => {
  await withRelay(async (relay, printed) => {
    const { body, headers } = await signed(freshSample("update_commission"));
    const text = await fetch(`${relay.url}/hooks/update_commission`, {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body,
    });
    assert.equal(text.status, 415);
    await text.body?.cancel();

    const invalid = await signed("{not json");
    const bad = await fetch(`${relay.url}/hooks/update_commission`, {
      method: "POST",
      headers: invalid.headers,
      body: invalid.body,
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /JSON/);

    const array = await signed("[1,2]");
    const notObject = await fetch(`${relay.url}/hooks/update_commission`, {
      method: "POST",
      headers: array.headers,
      body: array.body,
    });
    assert.equal(notObject.status, 400);
    await notObject.body?.cancel();

    const get = await fetch(`${relay.url}/hooks/update_commission`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();

    for (const path of ["/nope", "/hooks/Update-Commission", "/hooks/a/b"]) {
      const response = await fetch(`${relay.url}${path}`, { method: "POST", headers, body });
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    await nothingStored(relay, printed);
  });
});

Deno.test("health and readiness endpoints answer", async () => {
  await withRelay(async (relay) => {
    const health = await fetch(`${relay.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const ready = await fetch(`${relay.url}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
  });
});

function omit(headers: Record<string, string>, name: string): Record<string, string> {
  const out = { ...headers };
  delete out[name];
  return out;
}
