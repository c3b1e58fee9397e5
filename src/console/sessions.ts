// The console's sign-in state: the admin token checked in constant time, sessions kept in memory
// by the admin server that made them (each with its CSRF token), and a mild limit on wrong
// tokens. Nothing here survives a restart, and a new token ends every session.

/** How long a session lasts from sign-in unless the options say otherwise: 12 hours. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;

/** The most sessions kept at once; the oldest goes first. */
const MAX_SESSIONS = 1_000;

/** One signed-in browser. */
export interface Session {
  id: string;
  /** The token every form of this session carries. */
  csrf: string;
  createdAt: number;
  /** A message to show on the next page, set after a POST and shown once. */
  flash: { text: string; kind: "ok" | "error" } | null;
  /** The preview's last input, so its page can be shown again after a POST. */
  preview: PreviewInput | null;
}

/** What the preview page was asked to show. */
export interface PreviewInput {
  type: string;
  source: "sample" | "event" | "json";
  eventId: string;
  json: string;
}

/** Sessions of one admin server, expiring a fixed time after sign-in. */
export class Sessions {
  #sessions = new Map<string, Session>();
  #lifetimeMs: number;
  #now: () => number;

  constructor(options: { lifetimeMs: number; now: () => number }) {
    this.#lifetimeMs = options.lifetimeMs;
    this.#now = options.now;
  }

  /** Starts a session. */
  create(): Session {
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const session: Session = {
      id: randomToken(),
      csrf: randomToken(),
      createdAt: this.#now(),
      flash: null,
      preview: null,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session of this id, or null (unknown or expired). */
  get(id: string | null): Session | null {
    if (id === null) return null;
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    if (this.#now() - session.createdAt >= this.#lifetimeMs) {
      this.#sessions.delete(id);
      return null;
    }
    return session;
  }

  /** Ends one session. */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  /** Ends every session (the token changed, or the server stops). */
  clear(): void {
    this.#sessions.clear();
  }

  /** Seconds a new session's cookie lives. */
  get maxAgeSeconds(): number {
    return Math.max(1, Math.floor(this.#lifetimeMs / 1000));
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, session] of this.#sessions) {
      if (now - session.createdAt >= this.#lifetimeMs) this.#sessions.delete(id);
    }
  }
}

/**
 * A checker of presented tokens. Both sides go through HMAC with a random key and WebCrypto
 * compares the MACs in constant time, so neither the token's bytes nor its length can be learnt
 * from timing (as the admin API checks its bearer token).
 */
export async function tokenMatcher(
  token: string,
): Promise<(presented: string) => Promise<boolean>> {
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  const encoder = new TextEncoder();
  const expected = await crypto.subtle.sign("HMAC", key, encoder.encode(token));
  return (presented) => crypto.subtle.verify("HMAC", key, expected, encoder.encode(presented));
}

/** Whether two strings are equal, in time that depends only on their lengths. */
export function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Counts wrong tokens in a sliding minute; once over the limit, sign-in waits. */
export class FailureLimit {
  #failures: number[] = [];
  #limit: number;
  #windowMs: number;
  #now: () => number;

  constructor(options: { limit: number; windowMs: number; now: () => number }) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#now = options.now;
  }

  /** Whether sign-in is refused for now. */
  blocked(): boolean {
    const since = this.#now() - this.#windowMs;
    this.#failures = this.#failures.filter((at) => at > since);
    return this.#failures.length >= this.#limit;
  }

  /** Records a wrong token. */
  fail(): void {
    this.#failures.push(this.#now());
  }
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}
