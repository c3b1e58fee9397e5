// The redactor alone: which forms of a secret it finds, what it leaves alone, and that a reload
// of a running relay swaps the secrets it looks for.

import assert from "node:assert/strict";
import { MIN_SECRET_LENGTH, REDACTED, Redactor } from "../src/redact.ts";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

Deno.test("Redactor finds a secret raw, percent-encoded and -decoded, JSON-escaped and in base64", () => {
  const secret = 'p@ss w/rd+"q"-9';
  const redactor = new Redactor();
  redactor.set([{ value: secret, kind: "text" }]);
  const forms = [
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    base64(secret),
    base64(secret).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
  ];
  for (const form of forms) {
    assert.equal(redactor.redact(`before ${form} after`), `before ${REDACTED} after`, form);
  }
  // Inside longer base64 at any byte offset: Basic "user:secret", AUTH PLAIN "\0user\0secret".
  for (const prefix of ["", "a", "ab", "user:", "\0user\0"]) {
    const encoded = base64(prefix + secret);
    const out = redactor.redact(encoded);
    assert.ok(out.includes(REDACTED), `${JSON.stringify(prefix)}: ${out}`);
    assert.ok(out.replace(REDACTED, "").length <= 12, `little is left around it: ${out}`);
  }
});

Deno.test("Redactor takes apart URLs, SMTP credentials and header values", () => {
  const redactor = new Redactor();
  redactor.set([
    { value: "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/xoxbTokenValue", kind: "url" },
    { value: "smtp://mailer:s%40cret-pw@smtp.example.com:587", kind: "url" },
    { value: `Basic ${base64("bob:hunter2-pw")}`, kind: "header" },
  ]);
  const cases: Array<[string, string]> = [
    ["token xoxbTokenValue refused", `token ${REDACTED} refused`],
    ["see /services/T0AB12CD3/B0EF45GH6/xoxbTokenValue", `see ${REDACTED}`],
    ["password s@cret-pw", `password ${REDACTED}`],
    ["password s%40cret-pw", `password ${REDACTED}`],
    [`AUTH PLAIN ${base64("\0mailer\0s@cret-pw")}`, `AUTH PLAIN ${REDACTED}`],
    ["user bob pass hunter2-pw", `user bob pass ${REDACTED}`],
    // Words of the URL that are not tokens stay.
    ["POST /services failed: webhooks are off", "POST /services failed: webhooks are off"],
  ];
  for (const [text, expected] of cases) assert.equal(redactor.redact(text), expected, text);
  // A database URL: the password is the secret, the database name is not.
  redactor.set([{
    value: "postgres://hero_relay:pg-secret-7@db:5432/relay_db",
    kind: "credentials",
  }]);
  assert.equal(
    redactor.redact("postgres://hero_relay:***@db:5432/relay_db; pg-secret-7"),
    `postgres://${REDACTED}:***@db:5432/relay_db; ${REDACTED}`,
  );
});

Deno.test("Redactor leaves short values alone and cuts a secret's beginning at a cut end", () => {
  const redactor = new Redactor();
  redactor.set([
    { value: "x".repeat(MIN_SECRET_LENGTH - 1), kind: "text" },
    { value: "abc", kind: "text" },
    { value: "LongSecretValue-123456", kind: "text" },
  ]);
  assert.equal(redactor.redact("abc xxxxx abcdef"), "abc xxxxx abcdef");
  assert.equal(redactor.redactCut("HTTP 401: key LongSecretV"), `HTTP 401: key ${REDACTED}`);
  assert.equal(redactor.redact("HTTP 401: key LongSecretV"), "HTTP 401: key LongSecretV");
  assert.equal(redactor.redactCut("HTTP 401: no key"), "HTTP 401: no key");
  assert.equal(
    redactor.stringify({ error: "LongSecretValue-123456", n: 1 }),
    `{"error":"${REDACTED}","n":1}`,
  );
  const empty = new Redactor();
  empty.set([]);
  assert.equal(empty.redact("LongSecretValue-123456"), "LongSecretValue-123456");
});

Deno.test("a reload of a running relay redacts the new config's secrets in stored errors", async () => {
  const dir = await Deno.makeTempDir();
  const fake = new FakeServer((request) => ({
    status: 400,
    body: `bad key ${request.headers.get("x-api-key")}`,
  }));
  const configWith = (key: string) =>
    testConfig(dir, {
      delivery: { retry: { schedule: ["0s"], max_attempts: 1 } },
      destinations: { crm: { type: "http", url: `${fake.url}/in`, headers: { "x-api-key": key } } },
      routes: [{ name: "all", events: "*", to: ["crm"] }],
    });
  const { relay } = await testRelay(configWith("first-key-1a2b3c"));
  try {
    await relay.reload(configWith("second-key-4d5e6f"));
    await post(relay.url, "/hooks/new_max_bid", freshSample("new_max_bid"));
    await eventually(async () =>
      (await relay.store.listDeliveries({ status: "dead" })).length === 1
    );
    const [dead] = await relay.store.listDeliveries({ status: "dead" });
    assert.equal(dead!.lastError, `HTTP 400: bad key ${REDACTED}`);
    assert.equal(fake.received[0]!.headers.get("x-api-key"), "second-key-4d5e6f");
  } finally {
    await relay.stop();
    await fake.close();
  }
});
