// Group commit: events arriving together share one transaction, and each request is answered
// only after the commit that holds its event is on disk. When the store is idle an event is
// committed at once; while a commit waits for its fsync, the events arriving meanwhile gather
// and share the next one. One fsync then serves many webhooks, and a lone webhook waits for
// nothing but its own.

import type { InsertResult, NewEvent, Store } from "./store.ts";

interface Waiting {
  event: NewEvent;
  resolve: (result: InsertResult) => void;
  reject: (error: unknown) => void;
}

/** Batches {@linkcode Store.insertEvents} calls that arrive while a commit is under way. */
export class GroupCommit {
  #store: Store;
  #maxBatch: number;
  #queue: Waiting[] = [];
  #scheduled = false;

  constructor(store: Store, maxBatch = 512) {
    this.#store = store;
    this.#maxBatch = maxBatch;
  }

  /** Stores an event with whatever else is waiting; resolves once it is durable. */
  add(event: NewEvent): Promise<InsertResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // A microtask, not a timer: a timer costs a millisecond or more before the commit starts,
        // and requests handled in the same turn still join the batch.
        queueMicrotask(() => this.#flush());
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
