// One contract every Store implementation passes, run against each of them (as Hono runs one
// router suite against every router): SQLite on a temporary file, and PostgreSQL on the database
// HERO_RELAY_TEST_POSTGRES_URL names, each test in a schema of its own. "Another store on the same
// database" is a second SqliteStore on the same file, or a second PostgresStore (another relay).

import assert from "node:assert/strict";
import type { Completion, LeaseOptions, NewEvent, Store } from "../src/store.ts";
import { PostgresStore } from "../src/store_postgres.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { freshSchema, POSTGRES_URL, warnPostgresSkipped } from "./postgres.ts";

/** A store under test, and a way to open more on the same database. */
interface Harness {
  store: Store;
  /** Another store on the same database, as a second relay would open it. */
  another(): Promise<Store>;
}

interface Implementation {
  name: string;
  ignore: boolean;
  /** Runs `test` on a fresh, empty database and cleans everything up after. */
  withStore(test: (harness: Harness) => Promise<void>): Promise<void>;
}

const SQLITE: Implementation = {
  name: "SqliteStore",
  ignore: false,
  async withStore(test) {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/store.db`;
    const opened: Store[] = [];
    const open = () => {
      const store = SqliteStore.open(path);
      opened.push(store);
      return Promise.resolve(store);
    };
    try {
      await test({ store: await open(), another: open });
    } finally {
      for (const store of opened) await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
};

const POSTGRES: Implementation = {
  name: "PostgresStore",
  ignore: POSTGRES_URL === undefined,
  async withStore(test) {
    const schema = await freshSchema();
    const opened: Store[] = [];
    const open = async () => {
      const store = await PostgresStore.open(schema.url, { maxConnections: 4 });
      opened.push(store);
      return store;
    };
    try {
      await test({ store: await open(), another: open });
    } finally {
      for (const store of opened) await store.close();
      await schema.drop();
    }
  },
};

const IMPLEMENTATIONS = [SQLITE, POSTGRES];
warnPostgresSkipped("store_contract_test.ts");

/** Registers one contract test for every implementation. */
function contract(name: string, test: (harness: Harness) => Promise<void>): void {
  for (const implementation of IMPLEMENTATIONS) {
    Deno.test({
      name: `${implementation.name}: ${name}`,
      ignore: implementation.ignore,
      fn: () => implementation.withStore(test),
    });
  }
}

contract("says who owns it and how durable its commits are", ({ store }) => {
  const facts = store.facts();
  assert.deepEqual(facts.warnings, [], "the defaults put no acknowledged event at risk");
  if (store instanceof SqliteStore) {
    assert.deepEqual(facts, { soleOwner: true, durability: { synchronous: "FULL" }, warnings: [] });
  } else {
    assert.equal(facts.soleOwner, false, "relays share a PostgreSQL store");
    assert.ok(
      ["on", "remote_apply", "remote_write", "local"].includes(
        facts.durability.synchronous_commit!,
      ),
      JSON.stringify(facts),
    );
  }
  return Promise.resolve();
});

const T = 1_700_000_000_000;
const MINUTE = 60_000;
const DAY = 86_400_000;
let counter = 0;

function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  counter++;
  const id = `evt_${String(counter).padStart(6, "0")}_${crypto.randomUUID().slice(0, 8)}`;
  return {
    id,
    type: "new_content",
    receivedAt: T + counter,
    body: JSON.stringify({ n: counter, id }),
    fingerprint: `fp-${id}`,
    orderKey: null,
    ...overrides,
  };
}

function leaseOptions(overrides: Partial<LeaseOptions> = {}): LeaseOptions {
  return {
    now: T,
    limit: 100,
    leaseMs: 10 * MINUTE,
    owner: "worker-a",
    ordered: false,
    ...overrides,
  };
}

/**
 * Stores one event per entry and routes each to one delivery, in order; returns the delivery
 * ids. Deliveries are due at `at`.
 */
async function seed(
  store: Store,
  entries: Array<{ destination?: string; orderKey?: string | null; type?: string }>,
  at = T,
): Promise<string[]> {
  const events = entries.map((e) =>
    newEvent({ orderKey: e.orderKey ?? null, ...(e.type ? { type: e.type } : {}) })
  );
  await store.insertEvents(events);
  const ids: string[] = [];
  await store.routeEvents(
    events.map((event, i) => {
      const id = `dlv_${event.id.slice(4)}`;
      ids.push(id);
      return {
        eventId: event.id,
        deliveries: [{
          id,
          eventId: event.id,
          destination: entries[i]!.destination ?? "slack",
          route: "main",
          orderKey: event.orderKey,
        }],
      };
    }),
    at,
  );
  return ids;
}

function completion(
  deliveryId: string,
  fields: Partial<Omit<Completion, "deliveryId">> & { at: number },
): Completion {
  const status = fields.status ?? "delivered";
  return {
    deliveryId,
    status,
    attempts: fields.attempts ?? 1,
    nextAt: fields.nextAt ?? fields.at,
    lastError: fields.lastError ?? null,
    attempt: fields.attempt ?? {
      deliveryId,
      at: fields.at,
      ms: 12,
      outcome: status === "delivered" ? "delivered" : status === "dead" ? "dead" : "retry",
      httpStatus: status === "delivered" ? 200 : 500,
      error: status === "delivered" ? null : "HTTP 500",
    },
  };
}

const ids = (list: Array<{ id: string }>) => list.map((d) => d.id);

contract(
  "insertEvents() stores a batch and reports a repeated body in it as a duplicate of the first",
  async ({ store }) => {
    const first = newEvent({ type: "update_commission", orderKey: "collab-1" });
    const other = newEvent();
    const repeat = newEvent({ fingerprint: first.fingerprint, type: "new_content" });
    const results = await store.insertEvents([first, other, repeat]);
    assert.deepEqual(results, [
      { id: first.id, type: "update_commission", duplicate: false },
      { id: other.id, type: "new_content", duplicate: false },
      { id: first.id, type: "update_commission", duplicate: true },
    ]);
    assert.deepEqual(await store.getEvent(first.id), { ...first, routedAt: null });
    assert.equal(await store.getEvent(repeat.id), null);
    assert.deepEqual(ids(await store.listEvents({})), [other.id, first.id], "newest first");
    assert.deepEqual(ids(await store.listEvents({ type: "update_commission" })), [first.id]);
    assert.deepEqual(ids(await store.listEvents({ limit: 1 })), [other.id]);
    for (const listed of await store.listEvents({})) {
      assert.ok(!("body" in listed), "a list never carries a body");
      assert.ok(!("fingerprint" in listed));
    }
    assert.deepEqual((await store.listEvents({ limit: 1 }))[0], {
      id: other.id,
      type: other.type,
      receivedAt: other.receivedAt,
      orderKey: other.orderKey,
      routedAt: null,
    });
  },
);

contract(
  "insertEvents() reports a body stored by an earlier batch as a duplicate with the first id",
  async ({ store }) => {
    const first = newEvent();
    await store.insertEvents([first]);
    const again = newEvent({ fingerprint: first.fingerprint });
    const fresh = newEvent();
    assert.deepEqual(await store.insertEvents([again, fresh]), [
      { id: first.id, type: first.type, duplicate: true },
      { id: fresh.id, type: fresh.type, duplicate: false },
    ]);
    assert.equal((await store.listEvents({})).length, 2);
  },
);

contract(
  "insertEvents() from two stores at once keeps one copy of an identical body",
  async ({ store, another }) => {
    const other = await another();
    const a = newEvent();
    const b = newEvent({ fingerprint: a.fingerprint });
    const [ra, rb] = await Promise.all([store.insertEvents([a]), other.insertEvents([b])]);
    const results = [...ra, ...rb];
    assert.equal(results.filter((r) => !r.duplicate).length, 1);
    const kept = results.find((r) => !r.duplicate)!.id;
    assert.ok(results.every((r) => r.id === kept), "the duplicate names the stored event");
    assert.equal((await store.listEvents({})).length, 1);
  },
);

contract(
  "unroutedEvents() lists events oldest first until routeEvents() records their deliveries",
  async ({ store }) => {
    const events = [newEvent({ orderKey: "deal-7" }), newEvent(), newEvent()];
    await store.insertEvents(events);
    assert.deepEqual(ids(await store.unroutedEvents(10)), ids(events));
    assert.deepEqual(ids(await store.unroutedEvents(2)), ids(events.slice(0, 2)));
    const at = T + 5_000;
    await store.routeEvents([
      {
        eventId: events[0]!.id,
        deliveries: [
          {
            id: "dlv_a",
            eventId: events[0]!.id,
            destination: "slack",
            route: "r1",
            orderKey: "deal-7",
          },
          {
            id: "dlv_b",
            eventId: events[0]!.id,
            destination: "crm",
            route: "r2",
            orderKey: "deal-7",
          },
        ],
      },
      { eventId: events[1]!.id, deliveries: [] },
    ], at);
    assert.deepEqual(ids(await store.unroutedEvents(10)), [events[2]!.id]);
    assert.equal((await store.getEvent(events[0]!.id))!.routedAt, at);
    assert.equal((await store.getEvent(events[1]!.id))!.routedAt, at, "routed to nothing");
    const found = await store.getDelivery("dlv_a");
    assert.deepEqual(found, {
      delivery: {
        id: "dlv_a",
        eventId: events[0]!.id,
        eventType: "new_content",
        destination: "slack",
        route: "r1",
        orderKey: "deal-7",
        status: "pending",
        attempts: 0,
        nextAt: at,
        cycleAt: at,
        createdAt: at,
        updatedAt: at,
        lastError: null,
      },
      attempts: [],
    });
    assert.deepEqual(ids(await store.listDeliveries({})), ["dlv_a", "dlv_b"]);
  },
);

contract(
  "lease() takes due deliveries oldest first, with their event, up to the limit",
  async ({ store }) => {
    const due = await seed(store, [{}, {}, {}]);
    const later = await seed(store, [{}], T + MINUTE);
    await seed(store, [{ destination: "crm" }]);
    const first = await store.lease("slack", leaseOptions({ limit: 2 }));
    assert.deepEqual(ids(first), due.slice(0, 2));
    const event = await store.getEvent(first[0]!.eventId);
    assert.equal(first[0]!.body, event!.body);
    assert.equal(first[0]!.eventReceivedAt, event!.receivedAt);
    assert.equal(first[0]!.status, "pending");
    assert.deepEqual(ids(await store.lease("slack", leaseOptions())), [due[2]!], "not yet due");
    assert.deepEqual(ids(await store.lease("slack", leaseOptions({ now: T + MINUTE }))), later);
    assert.deepEqual(await store.lease("slack", leaseOptions({ now: T + MINUTE })), []);
  },
);

contract(
  "lease() hides a leased delivery until the lease expires, then leases it again",
  async ({ store }) => {
    const [id] = await seed(store, [{}]);
    assert.deepEqual(ids(await store.lease("slack", leaseOptions({ leaseMs: 1_000 }))), [id]);
    assert.deepEqual(await store.lease("slack", leaseOptions({ now: T + 999, owner: "b" })), []);
    const again = await store.lease("slack", leaseOptions({ now: T + 1_000, owner: "b" }));
    assert.deepEqual(ids(again), [id]);
  },
);

contract("release() makes leased deliveries leasable again at once", async ({ store }) => {
  const [a, b] = await seed(store, [{}, {}]);
  await store.lease("slack", leaseOptions());
  await store.release([a!], T);
  assert.deepEqual(ids(await store.lease("slack", leaseOptions({ owner: "b" }))), [a]);
  await store.release([], T);
  assert.deepEqual(await store.lease("slack", leaseOptions({ owner: "b" })), [], `${b} held`);
});

contract(
  "a leased delivery is due again when its lease ends, or from the time it is released",
  async ({ store }) => {
    const [a, b] = await seed(store, [{}, {}]);
    const nextAt = async (id: string) => (await store.getDelivery(id))!.delivery.nextAt;
    assert.deepEqual(ids(await store.lease("slack", leaseOptions({ limit: 1 }))), [a]);
    assert.equal(await nextAt(a!), T + 10 * MINUTE, "due again when the lease runs out");
    assert.equal(await nextAt(b!), T, "an unleased delivery keeps its time");
    assert.deepEqual(ids(await store.lease("slack", leaseOptions({ owner: "b" }))), [b]);
    await store.release([a!], T + 5);
    assert.equal(await nextAt(a!), T + 5);
    assert.deepEqual(await store.lease("slack", leaseOptions({ now: T + 4, owner: "c" })), []);
    assert.deepEqual(ids(await store.lease("slack", leaseOptions({ now: T + 5, owner: "c" }))), [
      a,
    ]);
  },
);

contract(
  "lease() with ordered holds back a delivery while an earlier one of its order key is unfinished",
  async ({ store }) => {
    const [k1, k2, j1, none1, k3] = await seed(store, [
      { orderKey: "collab-k" },
      { orderKey: "collab-k" },
      { orderKey: "collab-j" },
      { orderKey: null },
      { orderKey: "collab-k" },
    ]);
    const [crmK] = await seed(store, [{ orderKey: "collab-k", destination: "crm" }]);
    const first = await store.lease("slack", leaseOptions({ ordered: true }));
    assert.deepEqual(ids(first), [k1, j1, none1]);
    assert.deepEqual(
      ids(await store.lease("crm", leaseOptions({ ordered: true }))),
      [crmK],
      "another destination's queue is its own",
    );
    // A failed earlier delivery, waiting for its retry, still holds the key.
    await store.complete([
      completion(k1!, { status: "failed", at: T + 1, nextAt: T + MINUTE }),
    ]);
    assert.deepEqual(await store.lease("slack", leaseOptions({ ordered: true, now: T + 2 })), []);
    await store.complete([completion(k1!, { status: "dead", attempts: 2, at: T + MINUTE })]);
    const next = await store.lease("slack", leaseOptions({ ordered: true, now: T + MINUTE }));
    assert.deepEqual(ids(next), [k2], "a dead delivery no longer holds the key");
    assert.deepEqual(
      ids(await store.lease("slack", leaseOptions({ ordered: false, now: T + MINUTE }))),
      [k3],
      "without ordered, the rest of the key is due",
    );
  },
);

contract("two stores leasing at once never get the same delivery", async ({ store, another }) => {
  const other = await another();
  const all = await seed(store, Array.from({ length: 30 }, () => ({})));
  const seen: string[] = [];
  for (let round = 0; round < 20; round++) {
    const batches = await Promise.all([
      store.lease("slack", leaseOptions({ limit: 4, owner: "a1" })),
      other.lease("slack", leaseOptions({ limit: 4, owner: "b1" })),
      store.lease("slack", leaseOptions({ limit: 3, owner: "a2" })),
      other.lease("slack", leaseOptions({ limit: 3, owner: "b2" })),
    ]);
    const leased = batches.flatMap(ids);
    if (leased.length === 0) break;
    seen.push(...leased);
  }
  assert.equal(new Set(seen).size, seen.length, "no delivery leased twice");
  assert.deepEqual([...seen].sort(), [...all].sort());
});

contract(
  "two stores leasing an order key at once lease only its first delivery",
  async ({ store, another }) => {
    const other = await another();
    const [first] = await seed(store, Array.from({ length: 6 }, () => ({ orderKey: "collab-1" })));
    const batches = await Promise.all([
      store.lease("slack", leaseOptions({ ordered: true, owner: "a" })),
      other.lease("slack", leaseOptions({ ordered: true, owner: "b" })),
      store.lease("slack", leaseOptions({ ordered: true, owner: "c" })),
    ]);
    assert.deepEqual(batches.flatMap(ids), [first]);
  },
);

contract(
  "complete() records the result and the attempt, and releases the lease",
  async ({ store }) => {
    const [id] = await seed(store, [{}]);
    await store.lease("slack", leaseOptions());
    await store.complete([{
      deliveryId: id!,
      status: "failed",
      attempts: 1,
      nextAt: T + 5_000,
      lastError: "HTTP 503: Service Unavailable",
      attempt: {
        deliveryId: id!,
        at: T + 100,
        ms: 12.6,
        outcome: "retry",
        httpStatus: 503,
        error: "HTTP 503: Service Unavailable",
      },
    }]);
    const failed = (await store.getDelivery(id!))!;
    assert.equal(failed.delivery.status, "failed");
    assert.equal(failed.delivery.attempts, 1);
    assert.equal(failed.delivery.nextAt, T + 5_000);
    assert.equal(failed.delivery.updatedAt, T + 100);
    assert.equal(failed.delivery.cycleAt, T, "the retry cycle goes on");
    assert.equal(failed.delivery.lastError, "HTTP 503: Service Unavailable");
    assert.deepEqual(failed.attempts, [{
      deliveryId: id,
      at: T + 100,
      ms: 13,
      outcome: "retry",
      httpStatus: 503,
      error: "HTTP 503: Service Unavailable",
    }]);
    assert.deepEqual(await store.lease("slack", leaseOptions({ now: T + 4_999 })), []);
    const retry = await store.lease("slack", leaseOptions({ now: T + 5_000 }));
    assert.deepEqual(ids(retry), [id], "due again although the first lease ran to T + 10 min");
    assert.equal(retry[0]!.status, "failed");
    assert.equal(retry[0]!.attempts, 1);
    await store.complete([completion(id!, { status: "delivered", attempts: 2, at: T + 5_050 })]);
    const delivered = (await store.getDelivery(id!))!;
    assert.equal(delivered.delivery.status, "delivered");
    assert.equal(delivered.delivery.lastError, null);
    assert.deepEqual(delivered.attempts.map((a) => [a.outcome, a.httpStatus]), [
      ["retry", 503],
      ["delivered", 200],
    ]);
    assert.deepEqual(await store.lease("slack", leaseOptions({ now: T + DAY })), []);
  },
);

contract(
  "replay() makes deliveries due again with a fresh cycle and a history entry, skipping leased ones",
  async ({ store }) => {
    const [dead, delivered, leased, expired] = await seed(store, [{}, {}, {}, {}]);
    await store.lease("slack", leaseOptions({ limit: 2 }));
    await store.complete([
      completion(dead!, { status: "dead", attempts: 5, at: T + 10, lastError: "HTTP 500" }),
      completion(delivered!, { status: "delivered", at: T + 10 }),
    ]);
    await store.lease("slack", leaseOptions({ now: T + 20, limit: 1, leaseMs: MINUTE }));
    await store.lease("slack", leaseOptions({ now: T + 30, leaseMs: 10 }));
    // At T + 1000: `leased` is still leased (until T + 60 020); `expired`'s lease is over.
    const at = T + 1_000;
    const replayed = await store.replay([dead!, delivered!, leased!, expired!, "dlv_unknown"], at);
    assert.deepEqual(replayed, [dead, delivered, expired]);
    const after = (await store.getDelivery(dead!))!;
    assert.equal(after.delivery.status, "pending");
    assert.equal(after.delivery.attempts, 0);
    assert.equal(after.delivery.cycleAt, at);
    assert.equal(after.delivery.nextAt, at);
    assert.equal(after.delivery.updatedAt, at);
    assert.equal(
      after.delivery.lastError,
      "HTTP 500",
      "the last error stays until the next attempt",
    );
    assert.deepEqual(after.attempts.map((a) => a.outcome), ["dead", "replay"], "history is kept");
    assert.deepEqual(after.attempts[1], {
      deliveryId: dead,
      at,
      ms: 0,
      outcome: "replay",
      httpStatus: null,
      error: null,
    });
    assert.deepEqual((await store.getDelivery(leased!))!.attempts, []);
    assert.deepEqual(
      ids(await store.lease("slack", leaseOptions({ now: at, owner: "b" }))),
      [dead, delivered, expired],
    );
  },
);

contract(
  "setDisabled() disables and enables a destination; disabledDestinations() lists them",
  async ({ store }) => {
    assert.deepEqual(await store.disabledDestinations(), []);
    assert.equal(await store.setDisabled("slack", "HTTP 404: no_service", T), true);
    assert.equal(await store.setDisabled("crm", "HTTP 410", T + 1), true);
    assert.equal(await store.setDisabled("slack", "HTTP 403: action_prohibited", T + 2), true);
    assert.deepEqual(await store.disabledDestinations(), [
      { name: "crm", at: T + 1, reason: "HTTP 410" },
      { name: "slack", at: T + 2, reason: "HTTP 403: action_prohibited" },
    ]);
    assert.equal(await store.setDisabled("slack", null, T + 3), true);
    assert.equal(await store.setDisabled("slack", null, T + 4), false, "already enabled");
    assert.deepEqual(ids((await store.disabledDestinations()).map((d) => ({ id: d.name }))), [
      "crm",
    ]);
  },
);

contract(
  "queueStats() counts pending and failed deliveries per destination, with the oldest",
  async ({ store }) => {
    const [a1, a2] = await seed(store, [{}, {}], T);
    await seed(store, [{}], T + 10);
    const [b1] = await seed(store, [{ destination: "crm" }], T + 20);
    const [c1] = await seed(store, [{ destination: "archive" }], T + 30);
    await store.complete([
      completion(a1!, { status: "delivered", at: T + 40 }),
      completion(a2!, { status: "failed", at: T + 40, nextAt: T + MINUTE }),
      completion(b1!, { status: "failed", at: T + 40, nextAt: T + MINUTE }),
      completion(c1!, { status: "dead", at: T + 40 }),
    ]);
    const stats = (await store.queueStats()).sort((x, y) =>
      x.destination.localeCompare(y.destination)
    );
    assert.deepEqual(stats, [
      { destination: "crm", depth: 1, oldestAt: T + 20 },
      { destination: "slack", depth: 2, oldestAt: T },
    ]);
  },
);

contract(
  "listDeliveries() filters by status, destination, event type and creation time, oldest first",
  async ({ store }) => {
    const [s1, s2] = await seed(store, [{ type: "new_content" }, { type: "update_commission" }], T);
    const [c1] = await seed(store, [{ destination: "crm", type: "new_content" }], T + 10);
    const [s3] = await seed(store, [{ type: "new_content" }], T + 20);
    await store.complete([completion(s1!, { status: "dead", at: T + 30 })]);
    assert.deepEqual(ids(await store.listDeliveries({})), [s1, s2, c1, s3]);
    assert.deepEqual(ids(await store.listDeliveries({ status: "pending" })), [s2, c1, s3]);
    assert.deepEqual(ids(await store.listDeliveries({ status: "dead" })), [s1]);
    assert.deepEqual(ids(await store.listDeliveries({ destination: "crm" })), [c1]);
    assert.deepEqual(ids(await store.listDeliveries({ eventType: "new_content" })), [s1, c1, s3]);
    assert.deepEqual(ids(await store.listDeliveries({ since: T + 10 })), [c1, s3]);
    assert.deepEqual(ids(await store.listDeliveries({ limit: 2 })), [s1, s2]);
    assert.deepEqual(
      ids(
        await store.listDeliveries({
          status: "pending",
          destination: "slack",
          eventType: "new_content",
          since: T + 1,
        }),
      ),
      [s3],
    );
    assert.deepEqual(await store.listDeliveries({ destination: "nowhere" }), []);
  },
);

contract(
  "getDelivery() returns null for an unknown id and attempts in the order made",
  async ({ store }) => {
    assert.equal(await store.getDelivery("dlv_unknown"), null);
    assert.equal(await store.getEvent("evt_unknown"), null);
    const [id] = await seed(store, [{}]);
    for (let i = 1; i <= 3; i++) {
      await store.complete([
        completion(id!, { status: "failed", attempts: i, at: T + i, nextAt: T + i }),
      ]);
    }
    const found = (await store.getDelivery(id!))!;
    assert.deepEqual(found.attempts.map((a) => a.at), [T + 1, T + 2, T + 3]);
    assert.equal(found.delivery.attempts, 3);
  },
);

contract(
  "prune() removes what retention says and keeps events that still have deliveries",
  async ({ store }) => {
    const old = T - 10 * DAY;
    const stored = async (receivedAt: number, routeTo: string | null) => {
      const event = newEvent({ receivedAt });
      await store.insertEvents([event]);
      const id = `dlv_${event.id.slice(4)}`;
      await store.routeEvents([{
        eventId: event.id,
        deliveries: routeTo === null
          ? []
          : [{ id, eventId: event.id, destination: routeTo, route: "main", orderKey: null }],
      }], receivedAt);
      return { event: event.id, delivery: id };
    };
    const deliveredOld = await stored(old, "slack");
    const deliveredNew = await stored(old, "slack");
    const deadOld = await stored(old, "slack");
    const deadNew = await stored(old, "slack");
    const pendingOld = await stored(old, "slack");
    const unroutedOld = newEvent({ receivedAt: old });
    await store.insertEvents([unroutedOld]);
    const matchedNothingOld = await stored(old, null);
    const matchedNothingNew = await stored(T, null);
    await store.complete([
      completion(deliveredOld.delivery, { status: "delivered", at: T - 2 * DAY }),
      completion(deliveredNew.delivery, { status: "delivered", at: T - 1_000 }),
      completion(deadOld.delivery, { status: "dead", at: T - 40 * DAY }),
      completion(deadNew.delivery, { status: "dead", at: T - 2 * DAY }),
    ]);
    const result = await store.prune({
      deliveredBefore: T - DAY,
      deadBefore: T - 30 * DAY,
      eventsBefore: T - DAY,
      batch: 1,
    });
    assert.deepEqual(result, { deliveries: 2, events: 3 });
    assert.equal(await store.getDelivery(deliveredOld.delivery), null);
    assert.equal(await store.getDelivery(deadOld.delivery), null);
    for (const kept of [deliveredNew, deadNew, pendingOld]) {
      assert.ok(await store.getDelivery(kept.delivery), "delivery kept");
      assert.ok(await store.getEvent(kept.event), "event with a delivery kept");
    }
    for (const gone of [deliveredOld, deadOld, matchedNothingOld]) {
      assert.equal(await store.getEvent(gone.event), null);
    }
    assert.ok(await store.getEvent(unroutedOld.id), "an unrouted event is kept");
    assert.ok(await store.getEvent(matchedNothingNew.event), "a recent event is kept");
    assert.deepEqual(
      await store.prune({ deliveredBefore: T, deadBefore: T, eventsBefore: T - DAY, batch: 100 }),
      { deliveries: 2, events: 2 },
      "the next pass removes the rest, and events whose deliveries are now gone",
    );
  },
);

contract(
  "ping() resolves while the store is open and rejects once it is closed",
  async ({ another }) => {
    const store = await another();
    await store.ping();
    await store.close();
    await assert.rejects(store.ping());
    await store.close();
  },
);

contract(
  "insertEvents() stores deliveries routed at ingest in the same commit, and none for a duplicate",
  async ({ store }) => {
    const event = newEvent({ orderKey: "collab_id:c1" });
    const routed = {
      ...event,
      deliveries: [
        {
          id: `dlv_a_${event.id}`,
          eventId: event.id,
          destination: "slack",
          route: "r",
          orderKey: "collab_id:c1",
        },
        {
          id: `dlv_b_${event.id}`,
          eventId: event.id,
          destination: "crm",
          route: "r",
          orderKey: "collab_id:c1",
        },
      ],
    };
    const unrouted = newEvent();
    const results = await store.insertEvents([routed, unrouted, {
      ...routed,
      id: "evt_copy",
      deliveries: [{ ...routed.deliveries[0]!, id: "dlv_copy" }],
    }]);
    assert.deepEqual(results.map((r) => r.duplicate), [false, false, true]);
    const pending = await store.unroutedEvents(10);
    assert.deepEqual(
      pending.map((e) => e.id),
      [unrouted.id],
      "only the event without deliveries waits",
    );
    const deliveries = await store.listDeliveries({});
    assert.deepEqual(
      deliveries.map((d) => [d.id, d.destination, d.status, d.eventType, d.nextAt]),
      [
        [`dlv_a_${event.id}`, "slack", "pending", event.type, event.receivedAt],
        [`dlv_b_${event.id}`, "crm", "pending", event.type, event.receivedAt],
      ],
    );
    const leased = await store.lease("crm", leaseOptions({ now: event.receivedAt }));
    assert.equal(leased.length, 1);
    assert.equal(leased[0]!.body, event.body);
  },
);
