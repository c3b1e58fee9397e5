// The console's searches on a big store: a SQLite file filled through the store module itself
// with realistic webhooks (a million by default, 20,000 in smoke), one delivery each, then every
// search the events and event pages make timed 20 times, beside the same search on a store of
// 1,000 events. A keyset page costs the same at any size (1M ÷ 1k near 1); a search no index
// serves grows with the store, and the table says so. No relay runs: the bench process opens the
// store itself. `deno task bench --console-only` runs this scenario alone.

import { hash } from "node:crypto";
import { eventFacets, orderKey } from "../src/events.ts";
import { newId } from "../src/ids.ts";
import { SAMPLES } from "../src/samples.ts";
import type { Completion, EventCursor, EventQuery, NewEvent, Store } from "../src/store.ts";
import { SqliteStore } from "../src/store_sqlite.ts";

/** Events of the store every search is compared with. */
export const BASELINE_EVENTS = 1_000;

/** Times each search is run (after one untimed run); the report gives their median. */
export const REPETITIONS = 20;

/** Events per insertEvents() call while filling. */
export const BATCH = 5_000;

/** How deep the deep page starts; on the baseline store, half its events. */
const DEEP = 10_000;

/** Events per deal: a deal's order, content, payout… */
export const EVENTS_PER_DEAL = 5;

/** One event in this many has a dead delivery (the rest are delivered). */
export const DEAD_EVERY = 1_000;

/** The search for an influencer many events have (1 in FIRST_NAMES.length × …, see below). */
const COMMON_INFLUENCER = "johnson";

/** The name of one influencer with a single event, in the middle of the store. */
const RARE_INFLUENCER = "Zelda Quartermaine";

// deno-fmt-ignore
const FIRST_NAMES = [
  "Ava", "Ben", "Chloe", "Dwayne", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jade",
  "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
];
// deno-fmt-ignore
const LAST_NAMES = [
  "Johnson", "Okafor", "Silva", "Nguyen", "Müller", "Rossi", "Kowalski", "Haddad", "Tanaka",
  "Larsen", "Moreau", "Petrov", "Costa", "Kim", "Schmidt", "Dubois", "Novak", "Ortiz",
  "Fischer", "Lindqvist", "Brennan", "Sato", "Walsh", "Yilmaz", "Zhou",
];

/** Distinct influencer names, besides the rare one. */
export const INFLUENCER_NAMES = FIRST_NAMES.length * LAST_NAMES.length;

/** When the first event arrived; events come 2 s apart from there. */
const FIRST_AT = Date.UTC(2025, 0, 1);
const SPACING_MS = 2_000;

/** One search as timed on both stores. */
export interface ConsoleQueryTiming {
  name: string;
  /** How the store answers it: an index walked in order, or a scan. */
  how: string;
  /** Rows answered on the big store and on the baseline. */
  rows: number;
  baselineRows: number;
  /** Every repetition's time in ms, on the big store and on the baseline. */
  ms: number[];
  baselineMs: number[];
}

/** The console-queries scenario's result. */
export interface ConsoleQueriesResult {
  events: number;
  deliveries: number;
  baselineEvents: number;
  repetitions: number;
  /** Filling the big store through insertEvents() and complete(). */
  buildSeconds: number;
  /** The database file's size after filling (WAL checkpointed at close). */
  fileMb: number;
  queries: ConsoleQueryTiming[];
}

/** A search to time, given the store's size, and how the store serves it. */
interface Search {
  name: string;
  how: string;
  run: (store: Store, shape: StoreShape) => Promise<number>;
}

/** What the searches need to know of a filled store. */
interface StoreShape {
  events: number;
  deepCursor: EventCursor;
  /** An event in the middle of the store, for its deliveries. */
  middleEventId: string;
}

const PAGE = 50;

const SEARCHES: Search[] = [
  {
    name: "newest page, no filter",
    how: "keyset: (received_at, id) index, newest end",
    run: async (store) => (await store.searchEvents({ limit: PAGE })).length,
  },
  {
    name: `page ${DEEP.toLocaleString("en-US")} events deep, by cursor`,
    how: "keyset: (received_at, id) index from the cursor",
    run: async (store, shape) =>
      (await store.searchEvents({ after: shape.deepCursor, limit: PAGE })).length,
  },
  {
    name: "type new_influencer_order",
    how: "keyset: (type, received_at, id) index",
    run: async (store) =>
      (await store.searchEvents({ type: "new_influencer_order", limit: PAGE }))
        .length,
  },
  {
    name: "deal or collaboration id",
    how: "deal_id and collab_id indexes (OR), a few rows sorted",
    run: async (store, shape) => (await store.searchEvents(dealQuery(shape.events))).length,
  },
  {
    name: `influencer contains "${COMMON_INFLUENCER}" (1 event in ${LAST_NAMES.length})`,
    how: "no index (LIKE '%…%'): walks newest first until 50 match",
    run: async (store) =>
      (await store.searchEvents({ influencer: COMMON_INFLUENCER, limit: PAGE })).length,
  },
  {
    name: `influencer contains "${RARE_INFLUENCER.split(" ")[1]!.toLowerCase()}" (1 event)`,
    how: "no index (LIKE '%…%'): **full scan** of every event",
    run: async (store) =>
      (await store.searchEvents({ influencer: "quartermaine", limit: PAGE })).length,
  },
  {
    name: `delivery status dead (1 event in ${DEAD_EVERY.toLocaleString("en-US")})`,
    how: "walks events newest first, probing each one's deliveries (deliveries_event) until " +
      "50 match: all of them when fewer do",
    run: async (store) => (await store.searchEvents({ status: "dead", limit: PAGE })).length,
  },
  {
    name: "delivery status delivered (nearly every event)",
    how: "walks events newest first, one deliveries_event probe each",
    run: async (store) => (await store.searchEvents({ status: "delivered", limit: PAGE })).length,
  },
  {
    name: "one event's deliveries (event page)",
    how: "deliveries_event index",
    run: async (store, shape) =>
      (await store.listDeliveries({ eventId: shape.middleEventId })).length,
  },
];

/** The deal of the event in the middle of the store: EVENTS_PER_DEAL events share it. */
function dealQuery(events: number): EventQuery {
  return { dealOrCollab: dealOf(Math.floor(events / 2), events), limit: PAGE };
}

function dealOf(i: number, events: number): string {
  return `deal-${i % Math.max(1, Math.floor(events / EVENTS_PER_DEAL))}`;
}

function influencerOf(i: number, events: number): string {
  if (i === Math.floor(events / 2) + 1) return RARE_INFLUENCER;
  const first = FIRST_NAMES[i % FIRST_NAMES.length]!;
  const last = LAST_NAMES[Math.floor(i / FIRST_NAMES.length) % LAST_NAMES.length]!;
  return `${first} ${last}`;
}

/** Event `i` of a store of `events`, as the receive step would store it, with one delivery. */
function eventAt(i: number, events: number, types: readonly string[]): NewEvent {
  const type = types[i % types.length]!;
  const sample = SAMPLES[type]!;
  const receivedAt = FIRST_AT + i * SPACING_MS;
  const name = influencerOf(i, events);
  const payload: Record<string, unknown> = {
    ...sample,
    deal_id: dealOf(i, events),
    deal_info: {
      ...(sample["deal_info"] as Record<string, unknown>),
      full_name: name,
      deal_name: name.toLowerCase().replace(/[^a-z]/g, ""),
    },
  };
  if ("collab_id" in payload) payload["collab_id"] = `collab-${i}`;
  if ("webhook_timestamp" in payload) {
    payload["webhook_timestamp"] = String(Math.floor(receivedAt / 1000));
  }
  const body = JSON.stringify(payload);
  const id = newId("evt", receivedAt);
  const key = orderKey(payload);
  return {
    id,
    type,
    receivedAt,
    body,
    fingerprint: hash("sha256", body, "hex"),
    orderKey: key,
    facets: eventFacets(payload),
    deliveries: [{
      id: newId("dlv", receivedAt),
      eventId: id,
      destination: i % 3 === 0 ? "crm" : "slack",
      route: "main",
      orderKey: key,
    }],
  };
}

/**
 * Fills `store` with `events` events in batches, each with one delivery, then completes the
 * deliveries as they would be: one in DEAD_EVERY dead, the rest delivered.
 */
async function fill(
  store: Store,
  events: number,
  log: (text: string) => void,
): Promise<void> {
  const types = Object.keys(SAMPLES);
  for (let start = 0; start < events; start += BATCH) {
    const batch: NewEvent[] = [];
    for (let i = start; i < Math.min(events, start + BATCH); i++) {
      batch.push(eventAt(i, events, types));
    }
    await store.insertEvents(batch);
    const completions = batch.map((event, j): Completion => {
      const delivery = event.deliveries![0]!;
      const dead = (start + j) % DEAD_EVERY === DEAD_EVERY / 2;
      const at = event.receivedAt + 300;
      return {
        deliveryId: delivery.id,
        status: dead ? "dead" : "delivered",
        attempts: dead ? 8 : 1,
        nextAt: at,
        lastError: dead ? "HTTP 500" : null,
        attempt: {
          deliveryId: delivery.id,
          at,
          ms: 120,
          outcome: dead ? "dead" : "delivered",
          httpStatus: dead ? 500 : 200,
          error: dead ? "HTTP 500" : null,
        },
      };
    });
    await store.complete(completions);
    const done = Math.min(events, start + BATCH);
    if (done % 100_000 === 0) log(`  ${done.toLocaleString("en-US")} events stored`);
  }
}

/** The cursor after the first `depth` events, newest first. */
async function cursorAt(store: Store, depth: number): Promise<EventCursor> {
  const page = await store.searchEvents({ limit: depth });
  const last = page.at(-1)!;
  return { receivedAt: last.receivedAt, id: last.id };
}

async function shapeOf(store: Store, events: number): Promise<StoreShape> {
  const middle = await store.searchEvents({
    until: FIRST_AT + Math.floor(events / 2) * SPACING_MS + 1,
    limit: 1,
  });
  return {
    events,
    deepCursor: await cursorAt(store, Math.min(DEEP, Math.floor(events / 2))),
    middleEventId: middle[0]!.id,
  };
}

/** Times one search: one untimed run, then REPETITIONS timed ones. */
async function time(
  search: Search,
  store: Store,
  shape: StoreShape,
): Promise<{ rows: number; ms: number[] }> {
  const rows = await search.run(store, shape);
  const ms: number[] = [];
  for (let i = 0; i < REPETITIONS; i++) {
    const started = performance.now();
    await search.run(store, shape);
    ms.push(performance.now() - started);
  }
  return { rows, ms };
}

async function filled(
  path: string,
  events: number,
  log: (text: string) => void,
): Promise<{ store: SqliteStore; seconds: number }> {
  // NORMAL: the fill measures nothing, and the searches only read.
  const store = SqliteStore.open(path, { synchronous: "NORMAL" });
  const started = performance.now();
  try {
    await fill(store, events, log);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, seconds: (performance.now() - started) / 1000 };
}

/** Builds both stores in `dir`, times every search on each, and removes the files. */
export async function consoleQueries(
  options: { events: number; dir: string; log: (text: string) => void },
): Promise<ConsoleQueriesResult> {
  const { events, dir, log } = options;
  const path = `${dir}/console-${events}.db`;
  const baselinePath = `${dir}/console-${BASELINE_EVENTS}.db`;
  try {
    const baseline = (await filled(baselinePath, BASELINE_EVENTS, log)).store;
    log(`filling a store with ${events.toLocaleString("en-US")} events`);
    const big = await filled(path, events, log);
    const timings: ConsoleQueryTiming[] = [];
    try {
      const shape = await shapeOf(big.store, events);
      const baselineShape = await shapeOf(baseline, BASELINE_EVENTS);
      for (const search of SEARCHES) {
        // Interleaved, so a noisy neighbour hurts both stores alike.
        const onBaseline = await time(search, baseline, baselineShape);
        const onBig = await time(search, big.store, shape);
        timings.push({
          name: search.name,
          how: search.how,
          rows: onBig.rows,
          baselineRows: onBaseline.rows,
          ms: onBig.ms,
          baselineMs: onBaseline.ms,
        });
      }
    } finally {
      await big.store.close();
      await baseline.close();
    }
    return {
      events,
      deliveries: events,
      baselineEvents: BASELINE_EVENTS,
      repetitions: REPETITIONS,
      buildSeconds: big.seconds,
      fileMb: (await Deno.stat(path)).size / 1e6,
      queries: timings,
    };
  } finally {
    for (const file of [path, baselinePath]) {
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(file + suffix).catch(() => {});
    }
  }
}
