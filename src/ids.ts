// Identifiers: a prefix and 26 Crockford base-32 characters, time-sortable like ULIDs, so ids sort
// in the order things happened and say nothing secret.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A new id such as "evt_01JD3V6T8K2M9QW4X7Z5B1C0NR": 48 bits of time, 80 random bits. */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += ALPHABET[byte % 32];
  return `${prefix}_${time}${tail}`;
}

/** The SHA-256 of bytes, in lowercase hex. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
