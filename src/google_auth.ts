// Google's service account flow (OAuth 2.0 JWT bearer grant): a JWT signed with the account's
// RSA key (RS256, WebCrypto) is exchanged at the key file's token_uri for an access token, which
// is kept until shortly before it expires. Deliveries that need a token at the same time share
// one request for it. No browser, no refresh token: a new JWT whenever a token is due.

import type { SendContext } from "./destination.ts";
import { sendHttp } from "./http_client.ts";
import { answerJson } from "./outbound.ts";
import { classifyHttp, describe, type Outcome } from "./retry.ts";
import { isHttpUrl } from "./schema_kit.ts";

/** What the relay uses of a service account key file. */
export interface ServiceAccount {
  clientEmail: string;
  /** The PKCS#8 PEM private key. */
  privateKey: string;
  /** Names the key in the JWT header (`kid`), so Google finds its public half at once. */
  privateKeyId?: string;
  tokenUri: string;
}

const PEM = /^-----BEGIN PRIVATE KEY-----\s+([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/;

/**
 * Reads the JSON key file Google Cloud issues for a service account. The problem, if any, says
 * what is missing and never quotes the file, which holds the private key.
 */
export function parseServiceAccount(text: string): ServiceAccount | { problem: string } {
  if (text.trim() === "") return { problem: "is empty" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problem: "is not JSON" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { problem: "is not a JSON object" };
  }
  const file = json as Record<string, unknown>;
  if (file["type"] !== "service_account") {
    const type = typeof file["type"] === "string" ? `"${file["type"]}"` : "none";
    return { problem: `has "type" ${type}, not "service_account"` };
  }
  for (const key of ["client_email", "private_key", "token_uri"]) {
    if (typeof file[key] !== "string" || file[key] === "") return { problem: `has no "${key}"` };
  }
  const privateKey = file["private_key"] as string;
  if (!PEM.test(privateKey)) {
    return { problem: 'has a "private_key" that is not a PEM "BEGIN PRIVATE KEY" block' };
  }
  const tokenUri = file["token_uri"] as string;
  if (!isHttpUrl(tokenUri)) {
    return {
      problem: 'has a "token_uri" that is not a URL such as https://oauth2.googleapis.com/token',
    };
  }
  const account: ServiceAccount = {
    clientEmail: file["client_email"] as string,
    privateKey,
    tokenUri,
  };
  if (typeof file["private_key_id"] === "string" && file["private_key_id"] !== "") {
    account.privateKeyId = file["private_key_id"];
  }
  return account;
}

/** A token, or the outcome that ends the attempt without one. */
export type TokenResult = { token: string } | Outcome;

/** How long a signed JWT asks its token to be valid: Google's maximum. */
const JWT_LIFETIME_S = 3600;

/** A token is renewed this long before Google says it expires, so none expires in flight. */
const RENEW_EARLY_MS = 60_000;

/** Access tokens of one service account for one scope. */
export class GoogleAccessTokens {
  #account: ServiceAccount;
  #scope: string;
  #key: Promise<CryptoKey> | null = null;
  #cached: { token: string; renewAt: number } | null = null;
  #pending: Promise<TokenResult> | null = null;

  constructor(account: ServiceAccount, scope: string) {
    this.#account = account;
    this.#scope = scope;
  }

  /** A valid access token: the kept one, or a new one from the token endpoint. */
  token(context: SendContext): Promise<TokenResult> {
    const cached = this.#cached;
    if (cached !== null && context.now() < cached.renewAt) {
      return Promise.resolve({ token: cached.token });
    }
    this.#pending ??= this.#fetch(context).finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /**
   * Forgets `token` after the API refused it (revoked, or expired early), unless another
   * delivery has already replaced it.
   */
  refused(token: string): void {
    if (this.#cached?.token === token) this.#cached = null;
  }

  async #fetch(context: SendContext): Promise<TokenResult> {
    let assertion: string;
    try {
      assertion = await this.#assertion(Math.floor(context.now() / 1000));
    } catch {
      // WebCrypto's message says nothing useful, and nothing of the key: the key is unusable.
      return {
        kind: "gone",
        httpStatus: null,
        error:
          "the service account's private_key is not a PKCS#8 RSA key; create a new JSON key for the service account",
      };
    }
    const started = context.now();
    const result = await sendHttp(
      {
        method: "POST",
        url: this.#account.tokenUri,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }).toString(),
      },
      context.timeouts,
      context.signal,
      context.origins,
    );
    if (!result.ok) {
      return { kind: "retry", httpStatus: null, error: `token request: ${result.error}` };
    }
    const { answer } = result;
    const json = answerJson(answer);
    if (answer.status === 200) {
      const token = json?.["access_token"];
      const expiresIn = json?.["expires_in"];
      if (typeof token !== "string" || token === "" || typeof expiresIn !== "number") {
        return {
          kind: "retry",
          httpStatus: 200,
          error: "token request: the answer holds no access_token and expires_in",
        };
      }
      // A token shorter-lived than the margin is still used for the requests it can serve.
      const lifetimeMs = expiresIn * 1000;
      this.#cached = {
        token,
        renewAt: started + lifetimeMs - Math.min(RENEW_EARLY_MS, lifetimeMs / 2),
      };
      return { token };
    }
    if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
      // invalid_grant (key deleted or revoked, bad signature, clock far off), invalid_client,
      // unauthorized_client: the key is refused, and will be until someone replaces it.
      const reason = typeof json?.["error"] === "string"
        ? [json["error"], json["error_description"]].filter((s) => typeof s === "string")
          .join(": ")
        : describe(answer);
      return {
        kind: "gone",
        httpStatus: answer.status,
        error: `Google refused the service account key (${this.#account.clientEmail}): ${reason}`,
      };
    }
    // 429 and 5xx (honouring Retry-After), and anything else unexpected, are tried again.
    const outcome = classifyHttp(answer, context.now());
    if (outcome.kind === "retry") return { ...outcome, error: `token request: ${outcome.error}` };
    return {
      kind: "retry",
      httpStatus: answer.status,
      error: `token request: ${describe(answer)}`,
    };
  }

  /** The signed JWT asking for a token valid from `iat` (seconds) for an hour. */
  async #assertion(iat: number): Promise<string> {
    const header: Record<string, string> = { alg: "RS256", typ: "JWT" };
    if (this.#account.privateKeyId !== undefined) header["kid"] = this.#account.privateKeyId;
    const claims = {
      iss: this.#account.clientEmail,
      scope: this.#scope,
      aud: this.#account.tokenUri,
      iat,
      exp: iat + JWT_LIFETIME_S,
    };
    const input = `${base64Url(json(header))}.${base64Url(json(claims))}`;
    this.#key ??= importPrivateKey(this.#account.privateKey);
    const key = await this.#key;
    const signature = await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      key,
      new TextEncoder().encode(input),
    );
    return `${input}.${base64Url(new Uint8Array(signature))}`;
  }
}

function importPrivateKey(pem: string): Promise<CryptoKey> {
  const body = PEM.exec(pem)?.[1]?.replace(/\s+/g, "") ?? "";
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
