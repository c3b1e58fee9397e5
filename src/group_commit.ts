// Group commit: events arriving together share one transaction, and each request is answered
// only after the commit that holds its event. One fsync then serves many webhooks.

import type { InsertResult, NewEvent, Store } from "./store.ts";

interface Waiting {
  event: NewEvent;
  resolve: (result: InsertResult) => void;
  reject: (error: unknown) => void;
}

/** Batches {@linkcode Store.insertEvents} calls made in the same turn of the event loop. */
export class GroupCommit {
  #store: Store;
  #maxBatch: number;
  #queue: Waiting[] = [];
  #scheduled = false;

  constructor(store: Store, maxBatch = 512) {
    this.#store = store;
    this.#maxBatch = maxBatch;
  }

  /** Stores an event with whatever else arrives in this turn; resolves once it is durable. */
  add(event: NewEvent): Promise<InsertResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setTimeout(() => this.#flush(), 0);
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        const results = await this.#store.insertEvents(batch.map((w) => w.event));
        batch.forEach((w, i) => w.resolve(results[i]!));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#scheduled = false;
  }
}
