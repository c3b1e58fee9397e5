// Identifiers: a prefix and 26 Crockford base-32 characters, time-sortable like ULIDs, so ids sort
// in the order things happened and say nothing secret.

import { hash } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Random bytes drawn 4 KiB at a time: one call into the system per 256 ids, not one per id. */
const pool = new Uint8Array(4096);
let poolUsed = pool.length;

/** A new id such as "evt_01JD3V6T8K2M9QW4X7Z5B1C0NR": 48 bits of time, 80 random bits. */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolUsed + 16 > pool.length) {
    crypto.getRandomValues(pool);
    poolUsed = 0;
  }
  let tail = "";
  for (let i = poolUsed; i < poolUsed + 16; i++) tail += ALPHABET[pool[i]! % 32];
  poolUsed += 16;
  return `${prefix}_${time}${tail}`;
}

/**
 * The SHA-256 of bytes, in lowercase hex. Computed on the calling thread: WebCrypto's digest would
 * go to a worker thread and back, which costs more than hashing a webhook.
 */
export function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Promise.resolve(hash("sha256", bytes, "hex"));
}
