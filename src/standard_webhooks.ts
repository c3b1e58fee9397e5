// Outbound signatures in the Standard Webhooks format (standardwebhooks.com), so n8n, Make or a
// customer's own service can check that a call came from their relay: HMAC-SHA256 over
// `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the base64 bytes of a `whsec_` secret, sent
// as `webhook-signature: v1,<base64>`; with two secrets (a rotation), two space-separated
// signatures.

const PREFIX = "whsec_";

/** Whether `secret` is a `whsec_` secret holding 24 to 64 bytes, as the specification asks. */
export function isWebhookSecret(secret: string): boolean {
  try {
    const length = secretBytes(secret).length;
    return length >= 24 && length <= 64;
  } catch {
    return false;
  }
}

/** The key bytes of a `whsec_` secret; throws TypeError when it is not one. */
export function secretBytes(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith(PREFIX)) throw new TypeError('Expected a secret starting with "whsec_"');
  const encoded = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    throw new TypeError('Expected base64 after "whsec_"');
  }
  return Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
}

/** Signs webhook bodies with one or more secrets. */
export class WebhookSigner {
  #keys: Promise<CryptoKey[]>;

  /** Throws TypeError when a secret is not a `whsec_` secret. */
  constructor(secrets: readonly string[]) {
    const raw = secrets.map(secretBytes);
    this.#keys = Promise.all(
      raw.map((bytes) =>
        crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
      ),
    );
  }

  /** The `webhook-signature` value for one message: `v1,<base64>` per secret, space-separated. */
  async sign(message: { id: string; timestamp: number; body: string }): Promise<string> {
    const content = new TextEncoder().encode(`${message.id}.${message.timestamp}.${message.body}`);
    const signatures = await Promise.all((await this.#keys).map(async (key) => {
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, content));
      return `v1,${btoa(String.fromCharCode(...mac))}`;
    }));
    return signatures.join(" ");
  }
}
