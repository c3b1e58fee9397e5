// Verification fuzzing: generated requests — random, truncated, over-long, non-hex, wrong-case,
// Unicode, duplicated headers, empty and huge bodies, non-UTF-8 bytes — thrown at the verifier
// and at the real request handler, each checked against an independent HMAC (node:crypto): no
// crash, no 5xx, no false accept, and every correctly signed request accepted.
//
// The generator is seeded; a failure prints its seed and case number. Run another seed with
// HERO_RELAY_FUZZ_SEED=<n> deno task test.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { SAMPLES } from "../src/samples.ts";
import { createHandler } from "../src/server.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { Verifier } from "../src/verify.ts";

const SEED = Number(Deno.env.get("HERO_RELAY_FUZZ_SEED") ?? 20_241_128);
const VERIFIER_CASES = 100_000;
const HANDLER_CASES = 2_000;
/** Two secrets, as during a rotation; one with non-ASCII characters (keyed by its UTF-8 bytes). */
const SECRETS = ["primary-signing-secret-3f9a", "rotation-sëcret-ü-日本-77"];
const ATTACKER_SECRET = "attacker-guess-secret";
const TOLERANCE = 300;
/** A fixed clock with a millisecond part, so tolerance boundaries are exact. */
const NOW_MS = 1_750_000_000_250;
const NOW_S = Math.floor(NOW_MS / 1000);
const MAX_BODY = 64 * 1024;

type Reason =
  | "missing_signature"
  | "malformed_signature"
  | "missing_timestamp"
  | "malformed_timestamp"
  | "stale_timestamp"
  | "future_timestamp"
  | "bad_signature";

/** A small, fast, seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference: hex HMAC-SHA256 of the raw bytes with the secret's UTF-8 bytes. */
function referenceMac(secret: string, body: Uint8Array): string {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(body).digest("hex");
}

/**
 * What the verifier must decide, written independently of src/verify.ts: the signature must be
 * exactly 64 hex digits (either case: both spell the same 32 bytes), the timestamp 1–12 ASCII
 * digits within the tolerance, and the digits must equal a reference HMAC.
 */
function oracle(
  body: Uint8Array,
  signature: string | null,
  timestamp: string | null,
): Reason | "accept" {
  if (signature === null || signature.length === 0) return "missing_signature";
  if (signature.length !== 64) return "malformed_signature";
  for (const ch of signature) {
    if (!"0123456789abcdefABCDEF".includes(ch)) return "malformed_signature";
  }
  if (timestamp === null || timestamp.length === 0) return "missing_timestamp";
  if (timestamp.length > 12) return "malformed_timestamp";
  for (const ch of timestamp) if (ch < "0" || ch > "9") return "malformed_timestamp";
  const skew = Number(timestamp) - NOW_MS / 1000;
  if (skew < -TOLERANCE) return "stale_timestamp";
  if (skew > TOLERANCE) return "future_timestamp";
  const presented = signature.toLowerCase();
  return SECRETS.some((secret) => referenceMac(secret, body) === presented)
    ? "accept"
    : "bad_signature";
}

/** Builds generated cases: a body and the signature and timestamp headers as received. */
class Generator {
  #random: () => number;
  #huge: number;

  /** `huge` is the share of binary bodies that are large (around the body limit, up to 1 MiB). */
  constructor(seed: number, huge: number) {
    this.#random = prng(seed);
    this.#huge = huge;
  }

  int(n: number): number {
    return Math.floor(this.#random() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const word = (this.#random() * 4294967296) >>> 0;
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
    }
    return out;
  }

  text(n: number): string {
    const pools = [
      "abcdefghijklmnopqrstuvwxyz0123456789",
      "0123456789abcdef",
      "0123456789ABCDEFabcdef",
      " \t,;=:-+.",
      "éüñ日本語🎉\u0000\u200b\ufeff٠١٢٣٤٥٦٧٨٩０１２３ａｂｃ",
    ];
    let out = "";
    for (let i = 0; i < n; i++) out += this.pick([...this.pick(pools)]);
    return out;
  }

  body(): Uint8Array<ArrayBuffer> {
    const encode = (s: string) => new TextEncoder().encode(s);
    switch (this.int(8)) {
      case 0:
        return new Uint8Array(0);
      case 1:
        return this.bytes(this.int(300)); // Non-UTF-8 bytes, mostly.
      case 2:
        return encode(this.text(this.int(200)));
      case 3:
        if (!this.chance(this.#huge)) return this.bytes(2048);
        return this.bytes(this.pick([MAX_BODY, MAX_BODY + 1, 256 * 1024 + this.int(768 * 1024)]));
      default: {
        const type = this.pick(Object.keys(SAMPLES));
        const payload: Record<string, unknown> = { ...SAMPLES[type], nonce: this.int(1e9) };
        if ("webhook_timestamp" in payload) payload["webhook_timestamp"] = String(NOW_S);
        if (this.chance(0.1)) payload["note"] = this.text(20);
        return encode(JSON.stringify(payload));
      }
    }
  }

  timestamp(): string | null {
    const near = NOW_S + this.int(2 * TOLERANCE + 1) - TOLERANCE;
    switch (this.int(16)) {
      case 0:
        return null;
      case 1:
        return "";
      case 2:
        return String(
          this.pick([
            NOW_S - TOLERANCE,
            NOW_S - TOLERANCE - 1,
            NOW_S + TOLERANCE,
            NOW_S + TOLERANCE + 1,
          ]),
        );
      case 3:
        return String(NOW_S + this.pick([-1, 1]) * (TOLERANCE + 1 + this.int(1e8)));
      case 4:
        return this.pick(["+", "-", " ", "0x", "\t"]) + near;
      case 5:
        return near + this.pick([".0", "e0", " ", "s", "\u0000"]);
      case 6:
        // Unicode digits that look like a time.
        return String(near).replace(
          /[0-9]/g,
          (d) => this.chance(0.3) ? "٠١٢٣٤٥٦٧٨٩"[Number(d)]! : d,
        );
      case 7:
        return "0".repeat(1 + this.int(5)) + near; // Over 12 digits.
      case 8:
        return `${near}, ${near}`; // Duplicated header.
      case 9:
        return this.text(this.int(15));
      case 10:
        return String(this.int(1e12));
      default:
        return String(near);
    }
  }

  /** A signature header for `body`: valid, near-valid or garbage. */
  signature(body: Uint8Array): string | null {
    const valid = () => referenceMac(this.pick(SECRETS), body);
    const flipDigit = (hex: string) => {
      const i = this.int(hex.length);
      const old = hex[i]!;
      let digit = old;
      while (digit.toLowerCase() === old.toLowerCase()) digit = this.pick([..."0123456789abcdef"]);
      return hex.slice(0, i) + digit + hex.slice(i + 1);
    };
    switch (this.int(22)) {
      case 0:
        return null;
      case 1:
        return "";
      case 2:
        return valid().toUpperCase(); // Wrong case: the same bytes.
      case 3:
        return [...valid()].map((c) => this.chance(0.5) ? c.toUpperCase() : c).join("");
      case 4:
        return referenceMac(ATTACKER_SECRET, body);
      case 5:
        return referenceMac(this.pick(SECRETS), new Uint8Array([...body, this.int(256)]));
      case 6:
        return valid().slice(0, this.int(64)); // Truncated.
      case 7:
        return valid() + this.pick(["0", "00", valid(), " ", "\u0000"]); // Over-long.
      case 8:
        return flipDigit(valid());
      case 9: {
        const hex = valid();
        const i = this.int(64);
        return hex.slice(0, i) + this.pick([..."gGxz ٣３ａ-"]) + hex.slice(i + 1); // Non-hex.
      }
      case 10:
        return this.pick(["sha256=", "v1=", " ", "0x"]) + valid();
      case 11:
        return `${valid()}, ${valid()}`; // Duplicated header, joined as Headers does.
      case 12:
        return `${referenceMac(ATTACKER_SECRET, body)}, ${valid()}`;
      case 13:
        return this.text(this.int(130));
      case 14:
        return this.text(64);
      case 15:
        return "0".repeat(64);
      case 16:
        // The MAC of the body with the last byte dropped (a truncated body, signed before).
        return body.length > 0
          ? referenceMac(this.pick(SECRETS), body.subarray(0, body.length - 1))
          : valid();
      default:
        return valid();
    }
  }
}

Deno.test(`the verifier decides ${VERIFIER_CASES.toLocaleString("en")} generated requests exactly as an independent HMAC says (seed ${SEED})`, async () => {
  const verifier = await Verifier.create(SECRETS, {
    toleranceSeconds: TOLERANCE,
    now: () => NOW_MS,
  });
  const generate = new Generator(SEED, 0.01);
  const seen = new Map<string, number>();
  const BATCH = 200;
  for (let start = 0; start < VERIFIER_CASES; start += BATCH) {
    const cases: Array<{
      i: number;
      body: Uint8Array<ArrayBuffer>;
      signature: string | null;
      timestamp: string | null;
      expected: Reason | "accept";
    }> = [];
    for (let i = start; i < Math.min(start + BATCH, VERIFIER_CASES); i++) {
      const body = generate.body();
      const signature = generate.signature(body);
      const timestamp = generate.timestamp();
      cases.push({ i, body, signature, timestamp, expected: oracle(body, signature, timestamp) });
    }
    const results = await Promise.all(
      cases.map((c) => verifier.verify(c.body, c.signature, c.timestamp)),
    );
    results.forEach((result, k) => {
      const c = cases[k]!;
      const got = result.ok ? "accept" : result.reason;
      seen.set(got, (seen.get(got) ?? 0) + 1);
      if (got !== c.expected) {
        assert.fail(
          `seed ${SEED}, case ${c.i}: expected ${c.expected}, got ${got} for signature ` +
            `${JSON.stringify(c.signature)}, timestamp ${JSON.stringify(c.timestamp)}, body of ` +
            `${c.body.length} bytes`,
        );
      }
    });
  }
  // The generator reaches every outcome often, so the check above means something.
  for (
    const outcome of [
      "accept",
      "missing_signature",
      "malformed_signature",
      "missing_timestamp",
      "malformed_timestamp",
      "stale_timestamp",
      "future_timestamp",
      "bad_signature",
    ]
  ) {
    assert.ok((seen.get(outcome) ?? 0) >= 1_000, `${outcome}: ${seen.get(outcome) ?? 0} cases`);
  }
});

/** A header value as it can travel in HTTP: Latin-1 bytes, no NUL, CR or LF. */
function onTheWire(value: string): string {
  const bytes = new TextEncoder().encode(value);
  return Array.from(bytes, (b) => String.fromCharCode(b)).join("").replace(/[\0\r\n]/g, "");
}

/** What the handler must answer, from the request as the handler will see it. */
function expectedStatus(
  request: { path: string; contentType: string | null; body: Uint8Array; headers: Headers },
): number {
  const segment = request.path.split("/")[2];
  if (segment !== undefined && segment !== "" && !/^[a-z0-9_]{1,64}$/.test(segment)) return 404;
  const media = (request.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (media !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(media)) return 415;
  if (request.body.length > MAX_BODY) return 413;
  const decision = oracle(
    request.body,
    request.headers.get("x-influencerhero-signature"),
    request.headers.get("x-influencerhero-timestamp"),
  );
  if (decision !== "accept") return 401;
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? 200 : 400;
  } catch {
    return 400;
  }
}

Deno.test(`the request handler answers ${HANDLER_CASES.toLocaleString("en")} generated requests with no 5xx and no false accept (seed ${SEED})`, async () => {
  const store = SqliteStore.open(":memory:");
  const verifier = await Verifier.create(SECRETS, {
    toleranceSeconds: TOLERANCE,
    now: () => NOW_MS,
  });
  const errors: string[] = [];
  const handle = createHandler({
    verifier: () => verifier,
    ingest: async (event) => (await store.insertEvents([event]))[0]!,
    accepted: () => {},
    ready: () => store.ping(),
    maxBodyBytes: () => MAX_BODY,
    replayWindowMs: 7 * 86_400_000,
    log: createLogger((line) => {
      if (JSON.parse(line).level === "error") errors.push(line);
    }),
    metrics: new Metrics(),
    now: () => NOW_MS,
  });
  const generate = new Generator(SEED + 1, 0.3);
  const statuses = new Map<number, number>();
  try {
    for (let i = 0; i < HANDLER_CASES; i++) {
      const body = generate.body();
      const headers = new Headers();
      const contentType = generate.pick([
        "application/json",
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/vnd.hero+json",
        "text/plain",
        null,
      ]);
      if (contentType !== null) headers.set("content-type", contentType);
      const names = [
        ["x-influencerhero-signature", generate.signature(body)],
        ["x-influencerhero-timestamp", generate.timestamp()],
      ] as const;
      for (const [name, value] of names) {
        if (value === null) continue;
        // Header names arrive in any case; repeated headers are joined with ", " by Headers.
        const spelled = generate.chance(0.2) ? name.toUpperCase() : name;
        for (const part of generate.chance(0.05) ? [value, value] : [value]) {
          headers.append(spelled, onTheWire(part));
        }
      }
      const path = generate.pick([
        "/hooks",
        "/hooks/update_commission",
        "/hooks/new_type_7",
        "/hooks/Bad-Type",
      ]);
      const request = new Request(`http://relay${path}`, { method: "POST", headers, body });
      const expected = expectedStatus({ path, contentType, body, headers: request.headers });
      const response = await handle(request);
      await response.body?.cancel();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      assert.ok(response.status < 500, `seed ${SEED + 1}, case ${i}: ${response.status}`);
      assert.equal(response.status, expected, `seed ${SEED + 1}, case ${i}`);
    }
  } finally {
    handle.close();
    await store.close();
  }
  assert.deepEqual(errors, []);
  for (const status of [200, 400, 401, 404, 413, 415]) {
    assert.ok((statuses.get(status) ?? 0) >= 10, `status ${status}: ${statuses.get(status) ?? 0}`);
  }
});
