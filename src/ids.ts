// Identifiers: a prefix and 26 Crockford base-32 characters, time-sortable like ULIDs, so ids sort
// in the order things happened and say nothing secret.

import { hash } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Random bytes drawn 4 KiB at a time: one call into the system per 256 ids, not one per id. */
const pool = new Uint8Array(4096);
let poolUsed = pool.length;

/** The last id's time and random digits: ids made in the same millisecond count up from it. */
let lastTime = -1;
const lastTail: number[] = [];

/**
 * A new id such as "evt_01JD3V6T8K2M9QW4X7Z5B1C0NR": 48 bits of time, 80 random bits. Within one
 * millisecond the random part counts up (as monotonic ULIDs do), so ids made in one process sort
 * in the order they were made, which newest-first pages tie-break on.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (now !== lastTime || !increment(lastTail)) {
    if (poolUsed + 16 > pool.length) {
      crypto.getRandomValues(pool);
      poolUsed = 0;
    }
    lastTail.length = 0;
    for (let i = poolUsed; i < poolUsed + 16; i++) lastTail.push(pool[i]! % 32);
    poolUsed += 16;
    lastTime = now;
  }
  let tail = "";
  for (const digit of lastTail) tail += ALPHABET[digit];
  return `${prefix}_${time}${tail}`;
}

/** Adds one to base-32 digits in place; false when they were all at the top. */
function increment(digits: number[]): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]!++;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}

/**
 * The SHA-256 of bytes, in lowercase hex. Computed on the calling thread: WebCrypto's digest would
 * go to a worker thread and back, which costs more than hashing a webhook.
 */
export function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Promise.resolve(hash("sha256", bytes, "hex"));
}
