// Secrets out of everything the relay writes or shows. The config marks its secret fields; each
// value is expanded once per config load into every form it may come back in (raw, percent-
// encoded and -decoded, JSON-escaped, base64 and base64url at any byte offset, a URL's token
// segments and query values, SMTP user and password, a header's credential), and one pattern
// replaces them all.

/**
 * How a secret value is read: a plain secret; a URL whose path and query carry tokens (a
 * webhook URL); a URL whose user and password are the secret (SMTP, PostgreSQL); a header value;
 * a Google service account's JSON key file, whose private key travels alone too.
 */
export type SecretKind = "text" | "url" | "credentials" | "header" | "service_account";

/** One configured secret. */
export interface SecretValue {
  value: string;
  kind: SecretKind;
}

/** What takes the place of a secret. */
export const REDACTED = "[redacted]";

/**
 * Forms shorter than this are not replaced: a 1–5 character value ("api", "2024", "hooks") would
 * turn up by chance in ids, times and words and wreck the text around it.
 */
export const MIN_SECRET_LENGTH = 6;

/** Replaces every form of the configured secrets; `set()` swaps them at a reload. */
export class Redactor {
  #pattern: RegExp | null = null;
  #shortest = Infinity;
  #prefixes = new Set<string>();
  #longest = 0;

  /** Expands `secrets` into their forms and builds the one pattern that finds them. */
  set(secrets: readonly SecretValue[]): void {
    const forms = new Set<string>();
    for (const secret of secrets) {
      for (const part of secretParts(secret)) addForms(part, forms);
    }
    const list = [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
    // Longest first, so a form containing another is replaced whole.
    list.sort((a, b) => b.length - a.length);
    this.#shortest = list.at(-1)?.length ?? Infinity;
    this.#longest = list[0]?.length ?? 0;
    this.#prefixes = new Set();
    for (const form of list) {
      for (let n = MIN_SECRET_LENGTH; n < form.length; n++) this.#prefixes.add(form.slice(0, n));
    }
    this.#pattern = list.length === 0 ? null : new RegExp(list.map(escapeRegExp).join("|"), "g");
  }

  /** The text with every secret replaced by {@linkcode REDACTED}. */
  redact = (text: string): string => {
    if (this.#pattern === null || text.length < this.#shortest) return text;
    return text.replace(this.#pattern, REDACTED);
  };

  /**
   * Like {@linkcode redact}, for text that may have been cut short (an error quoting the first
   * 200 characters of an answer): a secret's beginning left at the very end is replaced too.
   */
  redactCut = (text: string): string => {
    const out = this.redact(text);
    for (let n = Math.min(out.length, this.#longest - 1); n >= MIN_SECRET_LENGTH; n--) {
      if (this.#prefixes.has(out.slice(-n))) return out.slice(0, -n) + REDACTED;
    }
    return out;
  };

  /** JSON text of `value` with every string in it redacted. */
  stringify(value: unknown, space?: number): string {
    if (this.#pattern === null) return JSON.stringify(value, null, space);
    return JSON.stringify(
      value,
      (_key, v) => typeof v === "string" ? this.redact(v) : v,
      space,
    );
  }
}

/** The values a secret consists of: itself, and the parts that travel alone. */
function secretParts({ value, kind }: SecretValue): string[] {
  const parts = [value];
  if (kind === "header") {
    // "Bearer <token>", "Basic <base64>", "Token <t>": the credential travels alone too.
    const match = /^\s*[A-Za-z-]+\s+(\S+)\s*$/.exec(value);
    if (match) {
      parts.push(match[1]!);
      const decoded = decodeBase64(match[1]!);
      if (decoded !== null) parts.push(decoded, ...decoded.split(":"));
    }
  }
  if (kind === "service_account") parts.push(...privateKeyParts(value));
  if (kind === "url" || kind === "credentials") {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return parts;
    }
    const user = safeDecode(url.username);
    const password = safeDecode(url.password);
    if (user !== "") parts.push(user, `\0${user}\0${password}`, `${user}:${password}`);
    if (password !== "") parts.push(password);
    if (kind === "credentials") return parts;
    const rest = url.pathname + url.search;
    if (rest.length > 1) parts.push(rest, url.pathname, url.search);
    for (const segment of url.pathname.split("/")) {
      if (isTokenLike(segment)) parts.push(segment);
    }
    for (const [, v] of url.searchParams) if (isTokenLike(v)) parts.push(v);
  }
  return parts;
}

/** A key file's `private_key`: the PEM, and its base64 body on one line (the key's bytes). */
function privateKeyParts(value: string): string[] {
  let key: unknown;
  try {
    key = (JSON.parse(value) as Record<string, unknown>)?.["private_key"];
  } catch {
    return [];
  }
  if (typeof key !== "string") return [];
  const body = key.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return [key, body];
}

/** A path segment or query value that is a token rather than a word such as "webhooks". */
function isTokenLike(text: string): boolean {
  if (text.length >= 16) return true;
  if (text.length < 8) return false;
  return (/[0-9]/.test(text) && /[A-Za-z]/.test(text)) ||
    (/[a-z]/.test(text) && /[A-Z]/.test(text));
}

function addForms(value: string, forms: Set<string>): void {
  if (value.trim().length < MIN_SECRET_LENGTH && !value.includes("\0")) return;
  const raw = [value, safeDecode(value), encodeURIComponent(value), encodeURI(value)];
  for (const text of raw) {
    forms.add(text);
    forms.add(JSON.stringify(text).slice(1, -1));
    forms.add(text.replaceAll("%20", "+"));
  }
  const bytes = new TextEncoder().encode(value);
  for (const encoded of base64Forms(bytes)) {
    forms.add(encoded);
    forms.add(toBase64Url(encoded));
  }
}

/**
 * base64 of the bytes as they would appear at each of the three offsets inside longer encoded
 * text (Basic credentials "user:secret", SMTP AUTH PLAIN "\0user\0secret"): the whole encoding,
 * and for each offset the characters that depend on the secret's bytes alone.
 */
function base64Forms(bytes: Uint8Array): string[] {
  const out = [encodeBase64(bytes), encodeBase64(bytes).replace(/=+$/, "")];
  for (let offset = 0; offset < 3; offset++) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    const encoded = encodeBase64(padded);
    const start = offset === 0 ? 0 : 4;
    const end = Math.floor(padded.length / 3) * 4;
    if (end - start >= 8) out.push(encoded.slice(start, end));
  }
  return out;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function toBase64Url(base64: string): string {
  return base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function decodeBase64(text: string): string | null {
  if (!/^[A-Za-z0-9+/]{8,}={0,2}$/.test(text)) return null;
  try {
    const binary = atob(text);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
