// Verifies Influencer Hero's signature: hex HMAC-SHA256 of the raw body bytes, keyed with the
// signing secret's UTF-8 bytes, plus a timestamp header that must be recent. Every malformed
// input ends in the same rejection; nothing here throws.

/** Every reason a request can fail verification; also the `reason` label of the metric. */
export const VERIFY_FAILURES = [
  "missing_signature",
  "malformed_signature",
  "missing_timestamp",
  "malformed_timestamp",
  "stale_timestamp",
  "future_timestamp",
  "bad_signature",
] as const;

/** Why a request failed verification. */
export type VerifyFailure = typeof VERIFY_FAILURES[number];

/** The outcome of {@linkcode Verifier.verify}. */
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/** Options of {@linkcode Verifier.create}. */
export interface VerifierOptions {
  /** Largest allowed distance between the timestamp header and now, in seconds. */
  toleranceSeconds: number;
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
}

const SIGNATURE = /^[0-9a-fA-F]{64}$/;
const TIMESTAMP = /^[0-9]{1,12}$/;

/** Checks signed requests against every configured secret; keys are imported once. */
export class Verifier {
  #keys: CryptoKey[];
  #toleranceSeconds: number;
  #now: () => number;

  private constructor(keys: CryptoKey[], options: VerifierOptions) {
    this.#keys = keys;
    this.#toleranceSeconds = options.toleranceSeconds;
    this.#now = options.now ?? Date.now;
  }

  /** Imports each secret as an HMAC-SHA256 key usable only for verification. */
  static async create(secrets: readonly string[], options: VerifierOptions): Promise<Verifier> {
    const encoder = new TextEncoder();
    const keys = await Promise.all(secrets.map((secret) =>
      crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      )
    ));
    return new Verifier(keys, options);
  }

  /**
   * Checks the timestamp header against the tolerance (both directions), then the signature
   * header against each key. Header values are taken exactly as received: surrounding spaces,
   * prefixes or repeated headers (joined with ", ") make them malformed.
   */
  async verify(
    body: Uint8Array<ArrayBuffer>,
    signature: string | null,
    timestamp: string | null,
  ): Promise<VerifyResult> {
    if (signature === null || signature === "") return fail("missing_signature");
    if (!SIGNATURE.test(signature)) return fail("malformed_signature");
    if (timestamp === null || timestamp === "") return fail("missing_timestamp");
    if (!TIMESTAMP.test(timestamp)) return fail("malformed_timestamp");
    const skew = Number(timestamp) - this.#now() / 1000;
    if (skew < -this.#toleranceSeconds) return fail("stale_timestamp");
    if (skew > this.#toleranceSeconds) return fail("future_timestamp");
    const digest = hexToBytes(signature);
    for (const key of this.#keys) {
      try {
        // WebCrypto compares the computed MAC with `digest` in constant time.
        if (await crypto.subtle.verify("HMAC", key, digest, body)) return { ok: true };
      } catch {
        // An engine error must reject, never accept.
      }
    }
    return fail("bad_signature");
  }
}

/** The lowercase hex HMAC-SHA256 of `body` with `secret`, as Influencer Hero sends it. */
export async function sign(body: Uint8Array<ArrayBuffer>, secret: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fail(reason: VerifyFailure): VerifyResult {
  return { ok: false, reason };
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}
