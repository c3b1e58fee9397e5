import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { sign, Verifier } from "../src/verify.ts";

const NOW = 1_700_000_000_000;
const encoder = new TextEncoder();

function verifier(secrets: string[]): Promise<Verifier> {
  return Verifier.create(secrets, { toleranceSeconds: 300, now: () => NOW });
}

function hmac(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

Deno.test("sign() matches GitHub's published HMAC-SHA256 known-answer vector", async () => {
  const body = encoder.encode("Hello, World!");
  assert.equal(
    await sign(body, "It's a Secret to Everybody"),
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  );
});

Deno.test("verify() accepts a body signed with the secret, in lower or upper case hex", async () => {
  const v = await verifier(["s3cret"]);
  const body = '{"a":1}';
  const ts = String(NOW / 1000);
  assert.deepEqual(await v.verify(encoder.encode(body), hmac(body, "s3cret"), ts), { ok: true });
  assert.deepEqual(
    await v.verify(encoder.encode(body), hmac(body, "s3cret").toUpperCase(), ts),
    { ok: true },
  );
});

Deno.test("verify() rejects a tampered body, another secret, and missing or malformed headers", async () => {
  const v = await verifier(["s3cret"]);
  const body = '{"a":1}';
  const good = hmac(body, "s3cret");
  const ts = String(NOW / 1000);
  const cases: Array<[string, string | null, string | null, string]> = [
    ['{"a":2}', good, ts, "bad_signature"],
    [body, hmac(body, "other"), ts, "bad_signature"],
    [body, null, ts, "missing_signature"],
    [body, "", ts, "missing_signature"],
    [body, good.slice(0, 63), ts, "malformed_signature"],
    [body, good + "0", ts, "malformed_signature"],
    [body, `sha256=${good}`, ts, "malformed_signature"],
    [body, ` ${good}`, ts, "malformed_signature"],
    [body, `${good}, ${good}`, ts, "malformed_signature"],
    [body, "g".repeat(64), ts, "malformed_signature"],
    [body, good, null, "missing_timestamp"],
    [body, good, "17000000OO", "malformed_timestamp"],
    [body, good, ` ${ts}`, "malformed_timestamp"],
    [body, good, `${ts}.5`, "malformed_timestamp"],
    [body, good, "١٧٠٠٠٠٠٠٠٠", "malformed_timestamp"],
  ];
  for (const [b, signature, timestamp, reason] of cases) {
    assert.deepEqual(
      await v.verify(encoder.encode(b), signature, timestamp),
      { ok: false, reason },
      `${b} ${signature} ${timestamp}`,
    );
  }
});

Deno.test("verify() holds the timestamp within the tolerance in both directions", async () => {
  const v = await verifier(["s3cret"]);
  const body = "{}";
  const sig = hmac(body, "s3cret");
  const at = (offset: number) => v.verify(encoder.encode(body), sig, String(NOW / 1000 + offset));
  assert.deepEqual(await at(-300), { ok: true });
  assert.deepEqual(await at(300), { ok: true });
  assert.deepEqual(await at(-301), { ok: false, reason: "stale_timestamp" });
  assert.deepEqual(await at(301), { ok: false, reason: "future_timestamp" });
});

Deno.test("verify() accepts either secret during a rotation", async () => {
  const v = await verifier(["new-secret", "old-secret"]);
  const body = '{"x":true}';
  const ts = String(NOW / 1000);
  assert.deepEqual(await v.verify(encoder.encode(body), hmac(body, "old-secret"), ts), {
    ok: true,
  });
  assert.deepEqual(await v.verify(encoder.encode(body), hmac(body, "new-secret"), ts), {
    ok: true,
  });
  assert.equal((await v.verify(encoder.encode(body), hmac(body, "third"), ts)).ok, false);
});

Deno.test("verify() checks the raw bytes, including bytes that are not UTF-8", async () => {
  const v = await verifier(["s3cret"]);
  const a = new Uint8Array([0x7b, 0xff, 0x7d]);
  const b = new Uint8Array([0x7b, 0xfe, 0x7d]);
  const sigA = createHmac("sha256", "s3cret").update(a).digest("hex");
  const ts = String(NOW / 1000);
  assert.deepEqual(await v.verify(a, sigA, ts), { ok: true });
  assert.deepEqual(await v.verify(b, sigA, ts), { ok: false, reason: "bad_signature" });
});
