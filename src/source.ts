// Receiving from other senders ("sources", configured under `sources`): what a source gives the
// handler (verify a request from its headers and raw bytes, then name its topic and delivery id)
// and how each source type describes itself (listed once in src/sources.ts). The checks share
// verify.ts's way of comparing: WebCrypto's HMAC verify, which compares in constant time. No
// schema library is imported here, not even its types: the receive step's module graph stays
// without one (tests/module_graph_test.ts).

import type { Payload } from "./events.ts";
import { VERIFY_FAILURES } from "./verify.ts";

/**
 * Every reason a source's request can fail verification; the `reason` label of its metric:
 * Influencer Hero's, and a sender's missing delivery id.
 */
export const SOURCE_FAILURES = [...VERIFY_FAILURES, "missing_id"] as const;

export type SourceFailure = typeof SOURCE_FAILURES[number];

/** The outcome of {@linkcode Source.verify}; `message` is told to the sender (no secret in it). */
export type SourceVerdict = { ok: true } | { ok: false; reason: SourceFailure; message: string };

/** What the handler asks of one configured source. */
export interface Source {
  /** Checks the signature (and signed timestamp, where the scheme has one); never throws. */
  verify(headers: Headers, body: Uint8Array<ArrayBuffer>): Promise<SourceVerdict>;
  /**
   * The sender's topic and the delivery's id (for deduplication), from the headers or the
   * verified payload; null where the request carries none.
   */
  identify(headers: Headers, payload: Payload): { topic: string | null; id: string | null };
}

/** The validated config a schema gives (zod's output type, read without importing zod). */
export type OutputOf<S> = S extends { _zod: { output: infer O } } ? O : never;

/**
 * A source type, described by its own module and listed once in src/sources.ts: the config's
 * `type`, its schema (a strict object with a literal `type` and `secrets`, marked with
 * `secret()`), and how to create one source from a validated entry.
 */
export interface SourceType<S = unknown> {
  readonly type: string;
  readonly schema: S;
  create(entry: OutputOf<S>, options: { now: () => number }): Promise<Source>;
}

/** Declares a source type, keeping its schema's type for `create`. */
export function sourceType<S>(type: SourceType<S>): SourceType<S> {
  return type;
}

/** Source names: lowercase letters, digits, "_" and "-". */
export const SOURCE_NAME = /^[a-z0-9_-]{1,64}$/;

/** The HMAC hash functions a source may use. */
export type HmacHash = "SHA-1" | "SHA-256" | "SHA-512";

/** Digest sizes in bytes, to tell a malformed signature from a wrong one. */
export const DIGEST_BYTES: Readonly<Record<HmacHash, number>> = {
  "SHA-1": 20,
  "SHA-256": 32,
  "SHA-512": 64,
};

/** Imports each secret (its UTF-8 bytes, or the bytes given) as a verify-only HMAC key. */
export function hmacKeys(
  secrets: readonly (string | Uint8Array<ArrayBuffer>)[],
  hash: HmacHash = "SHA-256",
): Promise<CryptoKey[]> {
  const encoder = new TextEncoder();
  return Promise.all(secrets.map((secret) =>
    crypto.subtle.importKey(
      "raw",
      typeof secret === "string" ? encoder.encode(secret) : secret,
      { name: "HMAC", hash },
      false,
      ["verify"],
    )
  ));
}

/** Whether any signature is the HMAC of `content` under any key (compared in constant time). */
export async function anyMatches(
  keys: readonly CryptoKey[],
  signatures: readonly Uint8Array<ArrayBuffer>[],
  content: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  for (const key of keys) {
    for (const signature of signatures) {
      try {
        if (await crypto.subtle.verify("HMAC", key, signature, content)) return true;
      } catch {
        // An engine error must reject, never accept.
      }
    }
  }
  return false;
}

/** The bytes of standard base64 (padding required), or null when the text is not that. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text === "") return null;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The bytes of hexadecimal text (either case), or null when the text is not that. */
export function fromHex(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) return null;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The parts as one byte string: the content a scheme signs around the raw body. */
export function joinBytes(...parts: (string | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const chunks = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

const UNIX_SECONDS = /^[0-9]{1,12}$/;

/**
 * Checks a signed Unix-seconds timestamp against `toleranceSeconds` both ways; null when it is
 * fine. `header` names it in the messages.
 */
export function timestampProblem(
  value: string | null,
  header: string,
  toleranceSeconds: number,
  now: number,
): SourceVerdict | null {
  if (value === null || value === "") {
    return fail("missing_timestamp", `Missing ${header}`);
  }
  if (!UNIX_SECONDS.test(value)) {
    return fail("malformed_timestamp", `${header} must be Unix seconds`);
  }
  const skew = Number(value) - now / 1000;
  if (skew < -toleranceSeconds) return fail("stale_timestamp", `${header} is too old`);
  if (skew > toleranceSeconds) {
    return fail("future_timestamp", `${header} is too far in the future`);
  }
  return null;
}

/** A failed verdict. */
export function fail(reason: SourceFailure, message: string): SourceVerdict {
  return { ok: false, reason, message };
}

/** The value at a dot path ("data.type") of a payload, or undefined. */
export function fieldAt(payload: Payload, path: string): unknown {
  let node: unknown = payload;
  for (const key of path.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

/** A header's or field's value as text, when it is a non-empty string or a finite number. */
export function textOf(value: unknown): string | null {
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}
