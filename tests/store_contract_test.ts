// One contract every Store implementation passes, run against each of them (as Hono runs one
// router suite against every router): SQLite on a temporary file, and PostgreSQL on the database
// HERO_RELAY_TEST_POSTGRES_URL names, each test in a schema of its own. "Another store on the same
// database" is a second SqliteStore on the same file, or a second PostgresStore (another relay).

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type {
  Completion,
  EventQuery,
  EventSummary,
  LeaseOptions,
  NewEvent,
  Store,
} from "../src/store.ts";
import { PostgresStore } from "../src/store_postgres.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { OLD_POSTGRES_SCHEMA, OLD_SQLITE_SCHEMA } from "./old_schema.ts";
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
  /**
   * Runs `test` on a database an older relay made (tests/old_schema.ts) holding `events`, after
   * `sql` (in the store's own dialect) ran on it; `open` opens this version's store on it.
   */
  withOldDatabase(
    events: readonly OldEvent[],
    sql: string,
    test: (open: () => Promise<Store>) => Promise<void>,
  ): Promise<void>;
}

/** An event row as an older relay stored it. */
interface OldEvent {
  id: string;
  type: string;
  receivedAt: number;
  body: string;
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
  async withOldDatabase(events, sql, test) {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/store.db`;
    const db = new DatabaseSync(path);
    db.exec(OLD_SQLITE_SCHEMA);
    db.exec("BEGIN");
    const insert = db.prepare(
      "INSERT INTO events (id, type, received_at, fingerprint, body, routed_at) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    );
    for (const e of events) {
      insert.run(e.id, e.type, e.receivedAt, `fp-${e.id}`, e.body, e.receivedAt);
    }
    db.exec("COMMIT");
    db.exec(sql);
    db.close();
    const opened: Store[] = [];
    try {
      await test(() => {
        const store = SqliteStore.open(path);
        opened.push(store);
        return Promise.resolve(store);
      });
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
  async withOldDatabase(events, sql, test) {
    const schema = await freshSchema();
    await schema.query(`SET search_path TO ${schema.name}; ${OLD_POSTGRES_SCHEMA}`);
    const rows = events.map((e) =>
      `(${quote(e.id)}, ${quote(e.type)}, ${e.receivedAt}, ${quote(`fp-${e.id}`)}, ` +
      `${quote(e.body)}, ${e.receivedAt})`
    );
    for (let i = 0; i < rows.length; i += 500) {
      await schema.query(
        "INSERT INTO events (id, type, received_at, fingerprint, body, routed_at) VALUES " +
          rows.slice(i, i + 500).join(", "),
      );
    }
    await schema.query(sql);
    const opened: Store[] = [];
    try {
      await test(async () => {
        const store = await PostgresStore.open(schema.url, { maxConnections: 4 });
        opened.push(store);
        return store;
      });
    } finally {
      for (const store of opened) await store.close();
      await schema.drop();
    }
  },
};

/** A PostgreSQL string literal. */
function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

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

// The console's queries.

/** Registers one contract test for every implementation, on a database an older relay made. */
function oldContract(
  name: string,
  test: (implementation: Implementation) => Promise<void>,
): void {
  for (const implementation of IMPLEMENTATIONS) {
    Deno.test({
      name: `${implementation.name}: ${name}`,
      ignore: implementation.ignore,
      fn: () => test(implementation),
    });
  }
}

const HOUR = 60 * MINUTE;

/** A body with the facets the console searches by. */
function facetBody(fields: { deal?: string | number; collab?: string; name?: string }): string {
  return JSON.stringify({
    ...(fields.deal !== undefined ? { deal_id: fields.deal } : {}),
    ...(fields.collab !== undefined ? { collab_id: fields.collab } : {}),
    ...(fields.name !== undefined ? { deal_info: { full_name: fields.name } } : {}),
    nonce: crypto.randomUUID(),
  });
}

/**
 * Stores 24 events, three to each received_at (ties), of two types, with deals, collaborations
 * and influencers, each routed to "slack" and every third also to "crm"; event i's slack
 * delivery is delivered when i is even, dead when i % 4 === 1, pending otherwise.
 */
async function searchable(store: Store): Promise<NewEvent[]> {
  const names = ["Dwayne Johnson", "ANNA 100%_Real", "Bob", null];
  const events = Array.from({ length: 24 }, (_, i) => {
    const id = `evt_S${String(i).padStart(3, "0")}${crypto.randomUUID().slice(0, 6)}`;
    const name = names[i % 4]!;
    const deliveries = [{
      id: `dlv_s_${id}`,
      eventId: id,
      destination: "slack",
      route: "r",
      orderKey: null,
    }];
    if (i % 3 === 0) {
      deliveries.push({
        id: `dlv_c_${id}`,
        eventId: id,
        destination: "crm",
        route: "r",
        orderKey: null,
      });
    }
    return {
      id,
      type: i % 2 === 0 ? "product_sent" : "new_max_bid",
      receivedAt: T + Math.floor(i / 3) * MINUTE,
      body: facetBody({
        deal: i % 6 === 0 ? 4242 : `deal-${i % 5}`,
        ...(i % 8 === 0 ? { collab: "collab-x" } : {}),
        ...(name !== null ? { name } : {}),
      }),
      fingerprint: `fp-${id}`,
      orderKey: null,
      deliveries,
    };
  });
  // Reversed ids within a tie, so id order is not insertion order.
  await store.insertEvents([...events].reverse());
  await store.complete(
    events.flatMap((e, i) =>
      i % 2 === 0
        ? [completion(`dlv_s_${e.id}`, { at: T + HOUR })]
        : i % 4 === 1
        ? [completion(`dlv_s_${e.id}`, { at: T + HOUR, status: "dead" })]
        : []
    ),
  );
  return events;
}

/** Newest first as the stores order: received_at, then id, both descending. */
function newestFirst(events: readonly NewEvent[]): string[] {
  return [...events].sort((a, b) =>
    b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
  ).map((e) => e.id);
}

contract(
  "searchEvents() narrows by every field of the query, newest first",
  async ({ store }) => {
    const events = await searchable(store);
    const at = (i: number) => events[i]!;
    const search = async (query: Omit<EventQuery, "limit">) =>
      ids(await store.searchEvents({ ...query, limit: 100 }));
    const expect = (keep: (e: NewEvent, i: number) => boolean) => newestFirst(events.filter(keep));
    assert.deepEqual(await search({}), newestFirst(events), "all, newest first");
    assert.deepEqual(
      await search({ type: "new_max_bid" }),
      expect((e) => e.type === "new_max_bid"),
    );
    assert.deepEqual(await search({ status: "dead" }), expect((_, i) => i % 4 === 1));
    assert.deepEqual(
      await search({ status: "pending" }),
      expect((_, i) => i % 4 === 3 || i % 3 === 0),
      "pending slack deliveries, and every crm delivery",
    );
    assert.deepEqual(await search({ destination: "crm" }), expect((_, i) => i % 3 === 0));
    assert.deepEqual(
      await search({ destination: "crm", status: "delivered" }),
      [],
      "one delivery with both: crm's deliveries are all pending",
    );
    assert.deepEqual(
      await search({ destination: "slack", status: "delivered" }),
      expect((_, i) => i % 2 === 0),
    );
    assert.deepEqual(await search({ dealOrCollab: "4242" }), expect((_, i) => i % 6 === 0));
    assert.deepEqual(
      await search({ dealOrCollab: "deal-2" }),
      expect((_, i) => i % 6 !== 0 && i % 5 === 2),
    );
    assert.deepEqual(await search({ dealOrCollab: "collab-x" }), expect((_, i) => i % 8 === 0));
    assert.deepEqual(await search({ dealOrCollab: "deal" }), [], "ids match whole");
    assert.deepEqual(
      await search({ influencer: "johnSON" }),
      expect((_, i) => i % 4 === 0),
      "a substring, ignoring case",
    );
    assert.deepEqual(
      await search({ influencer: "100%_r" }),
      expect((_, i) => i % 4 === 1),
      "% and _ are taken literally",
    );
    assert.deepEqual(await search({ influencer: "100%%" }), []);
    assert.deepEqual(await search({ influencer: "a_n" }), [], "_ is no wildcard");
    assert.deepEqual(
      await search({ influencer: "o" }),
      expect((_, i) => i % 4 === 0 || i % 4 === 2),
    );
    assert.deepEqual(
      await search({ since: T + 2 * MINUTE, until: T + 5 * MINUTE }),
      expect((e) => e.receivedAt >= T + 2 * MINUTE && e.receivedAt < T + 5 * MINUTE),
      "since is inclusive, until exclusive",
    );
    assert.deepEqual(
      await search({ type: "product_sent", status: "delivered", influencer: "bob" }),
      expect((e, i) => e.type === "product_sent" && i % 2 === 0 && i % 4 === 2),
      "fields combine",
    );
    const [first] = await store.searchEvents({ dealOrCollab: "4242", limit: 1 });
    assert.equal(first?.id, at(18).id);
    assert.deepEqual(first?.facets, {
      dealId: "4242",
      collabId: null,
      influencer: "Bob",
    }, "answers carry the facets, a numeric deal id as text");
  },
);

contract(
  "searchEvents() keyset pages cover every event once, ties on received_at included",
  async ({ store }) => {
    const events = await searchable(store);
    for (const limit of [1, 2, 3, 5, 24]) {
      const seen: EventSummary[] = [];
      for (let page = 0; page < 30; page++) {
        const last = seen.at(-1);
        const rows = await store.searchEvents({
          limit,
          ...(last ? { after: { receivedAt: last.receivedAt, id: last.id } } : {}),
        });
        seen.push(...rows);
        if (rows.length < limit) break;
      }
      assert.deepEqual(ids(seen), newestFirst(events), `pages of ${limit}`);
    }
    const crm = events.filter((_, i) => i % 3 === 0);
    const first = await store.searchEvents({ destination: "crm", limit: 3 });
    const rest = await store.searchEvents({
      destination: "crm",
      limit: 100,
      after: { receivedAt: first.at(-1)!.receivedAt, id: first.at(-1)!.id },
    });
    assert.deepEqual([...ids(first), ...ids(rest)], newestFirst(crm), "filters page too");
  },
);

contract(
  "searchDeliveries() pages newest first by created_at and id, with listDeliveries' filters",
  async ({ store }) => {
    const events = Array.from({ length: 9 }, () => newEvent());
    await store.insertEvents(events);
    // Three deliveries created at each time: ties on created_at.
    for (let i = 0; i < 3; i++) {
      await store.routeEvents(
        events.slice(i * 3, i * 3 + 3).map((e, j) => ({
          eventId: e.id,
          deliveries: [{
            id: `dlv_${String.fromCharCode(90 - j)}${e.id.slice(4)}`,
            eventId: e.id,
            destination: j === 0 ? "crm" : "slack",
            route: "r",
            orderKey: null,
          }],
        })),
        T + i * MINUTE,
      );
    }
    const all = await store.listDeliveries({});
    const expected = [...all].sort((a, b) =>
      b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
    );
    for (const limit of [1, 2, 4]) {
      const seen: string[] = [];
      let after: { createdAt: number; id: string } | undefined;
      for (let page = 0; page < 20; page++) {
        const rows = await store.searchDeliveries({ limit, ...(after ? { after } : {}) });
        seen.push(...ids(rows));
        const last = rows.at(-1);
        if (rows.length < limit || last === undefined) break;
        after = { createdAt: last.createdAt, id: last.id };
      }
      assert.deepEqual(seen, ids(expected), `pages of ${limit}`);
    }
    assert.deepEqual(
      ids(await store.searchDeliveries({ destination: "crm" })),
      ids(expected.filter((d) => d.destination === "crm")),
    );
    assert.deepEqual(
      ids(await store.searchDeliveries({ since: T + MINUTE, status: "pending" })),
      ids(expected.filter((d) => d.createdAt >= T + MINUTE)),
    );
    assert.deepEqual(await store.searchDeliveries({ status: "dead" }), []);
  },
);

contract(
  "listDeliveries() and searchDeliveries() with eventId find exactly that event's deliveries",
  async ({ store }) => {
    // Same type, routed in one transaction at one time: nothing but the event id tells them apart.
    const events = Array.from({ length: 4 }, () => newEvent({ type: "product_sent" }));
    await store.insertEvents(events);
    const planned = (e: NewEvent, destinations: string[]) =>
      destinations.map((destination) => ({
        id: `dlv_${destination}_${e.id.slice(4)}`,
        eventId: e.id,
        destination,
        route: "r",
        orderKey: null,
      }));
    await store.routeEvents(
      events.map((e, i) => ({
        eventId: e.id,
        deliveries: planned(e, i === 3 ? [] : ["slack", "crm", "mail"].slice(0, i + 1)),
      })),
      T,
    );
    const atIngest = newEvent({ type: "product_sent" });
    await store.insertEvents([{ ...atIngest, deliveries: planned(atIngest, ["crm", "slack"]) }]);
    const all = await store.listDeliveries({});
    for (const e of [...events, atIngest]) {
      const own = all.filter((d) => d.eventId === e.id);
      assert.deepEqual(ids(await store.listDeliveries({ eventId: e.id })), ids(own), e.id);
      assert.deepEqual(
        ids(await store.searchDeliveries({ eventId: e.id })).sort(),
        ids(own).sort(),
        e.id,
      );
    }
    const third = events[2]!;
    assert.equal((await store.listDeliveries({ eventId: third.id })).length, 3);
    assert.deepEqual(ids(await store.searchDeliveries({ eventId: third.id, destination: "crm" })), [
      `dlv_crm_${third.id.slice(4)}`,
    ]);
    assert.deepEqual(ids(await store.listDeliveries({ eventId: third.id, status: "dead" })), []);
    assert.deepEqual(await store.listDeliveries({ eventId: events[3]!.id }), [], "none routed");
    assert.deepEqual(await store.searchDeliveries({ eventId: "evt_nope" }), []);
  },
);

contract(
  "insertEvents() takes the facets from the body when the event comes without them",
  async ({ store }) => {
    const given = newEvent({
      body: facetBody({ deal: "in-body", name: "In Body" }),
      facets: { dealId: "given", collabId: null, influencer: "Given Name" },
    });
    const read = newEvent({ body: facetBody({ deal: 77, collab: "c-9", name: "Mixed Case" }) });
    const none = newEvent({ body: JSON.stringify({ deal_info: { full_name: 5 }, deal_id: "" }) });
    await store.insertEvents([given, read, none]);
    const facets = async (id: string) =>
      (await store.searchEvents({ limit: 10 })).find((e) => e.id === id)?.facets;
    assert.deepEqual(await facets(given.id), given.facets, "the receive step's facets are kept");
    assert.deepEqual(await facets(read.id), {
      dealId: "77",
      collabId: "c-9",
      influencer: "Mixed Case",
    });
    assert.deepEqual(await facets(none.id), { dealId: null, collabId: null, influencer: null });
    assert.deepEqual(ids(await store.searchEvents({ influencer: "mixed", limit: 10 })), [read.id]);
    assert.deepEqual(ids(await store.searchEvents({ dealOrCollab: "given", limit: 10 })), [
      given.id,
    ]);
  },
);

/** Events as an older relay stored them: 2,500 (several backfill batches), every 7th with facets. */
function oldEvents(): OldEvent[] {
  return Array.from({ length: 2500 }, (_, i) => ({
    id: `evt_old${String(i).padStart(5, "0")}`,
    type: "product_sent",
    receivedAt: T + i,
    body: i % 7 === 0
      ? facetBody({ deal: `deal-${i}`, collab: `collab-${i % 3}`, name: `Old Name ${i}` })
      : JSON.stringify({ n: i }),
  }));
}

oldContract(
  "a database an older relay made gains the facet columns, filled in from every stored body",
  async (implementation) => {
    const events = oldEvents();
    await implementation.withOldDatabase(events, "SELECT 1", async (open) => {
      const store = await open();
      assert.deepEqual(
        ids(await store.searchEvents({ dealOrCollab: "deal-2498", limit: 10 })),
        [],
        "2498 is no multiple of 7",
      );
      assert.deepEqual(
        ids(await store.searchEvents({ dealOrCollab: "deal-2492", limit: 10 })),
        ["evt_old02492"],
        "the last batch is filled in",
      );
      assert.deepEqual(
        ids(await store.searchEvents({ dealOrCollab: "deal-7", limit: 10 })),
        ["evt_old00007"],
        "the first batch is filled in",
      );
      const withCollab = await store.searchEvents({ dealOrCollab: "collab-1", limit: 1000 });
      assert.equal(withCollab.length, events.filter((_, i) => i % 7 === 0 && i % 3 === 1).length);
      assert.equal(
        (await store.searchEvents({ influencer: "old name", limit: 1000 })).length,
        Math.ceil(2500 / 7),
      );
      // What it stored before still reads, and new events go in beside the old.
      assert.equal((await store.getEvent("evt_old00100"))?.body, events[100]!.body);
      const fresh = newEvent({ receivedAt: T + 10_000, body: facetBody({ name: "New One" }) });
      await store.insertEvents([fresh]);
      assert.deepEqual(ids(await store.searchEvents({ limit: 2 })), [fresh.id, "evt_old02499"]);
      await store.close();
      const again = await open();
      assert.equal(
        (await again.searchEvents({ influencer: "old name", limit: 1000 })).length,
        Math.ceil(2500 / 7),
        "opening again changes nothing",
      );
    });
  },
);

oldContract(
  "a facet backfill stopped halfway carries on from where it stopped",
  async (implementation) => {
    const events = oldEvents();
    // As the migration leaves it after its first batches: columns there, the place noted.
    const sql = implementation.name === "SqliteStore"
      ? "ALTER TABLE events ADD COLUMN deal_id TEXT; ALTER TABLE events ADD COLUMN collab_id TEXT; " +
        "ALTER TABLE events ADD COLUMN influencer TEXT; " +
        "ALTER TABLE events ADD COLUMN influencer_lower TEXT; " +
        "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); " +
        "INSERT INTO store_meta VALUES ('facets_backfill_seq', " +
        "(SELECT seq FROM events WHERE id = 'evt_old01399'))"
      : "ALTER TABLE events ADD COLUMN deal_id TEXT, ADD COLUMN collab_id TEXT, " +
        "ADD COLUMN influencer TEXT, ADD COLUMN influencer_lower TEXT; " +
        "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); " +
        "INSERT INTO store_meta VALUES ('facets_backfill_seq', " +
        "(SELECT seq FROM events WHERE id = 'evt_old01399')::text)";
    await implementation.withOldDatabase(events, sql, async (open) => {
      const store = await open();
      const named = await store.searchEvents({ influencer: "old name", limit: 1000 });
      assert.ok(named.length > 0);
      assert.ok(
        named.every((e) => e.id > "evt_old01399"),
        "rows before the noted place are not done again (here: left empty)",
      );
      assert.equal(named.length, events.filter((_, i) => i > 1399 && i % 7 === 0).length);
    });
  },
);

contract(
  "destinationActivity() counts attempts over the last hour and day, with the last success and error",
  async ({ store }) => {
    const now = T + 2 * DAY;
    const [slack1, slack2, crm1, old] = await seed(store, [
      { destination: "slack" },
      { destination: "slack" },
      { destination: "crm" },
      { destination: "ntfy" },
    ]);
    const attempt = (
      deliveryId: string,
      at: number,
      outcome: Completion["attempt"]["outcome"],
      httpStatus: number | null = null,
      error: string | null = null,
    ) =>
      completion(deliveryId, {
        at,
        status: outcome === "delivered" ? "delivered" : "failed",
        attempt: { deliveryId, at, ms: 5, outcome, httpStatus, error },
      });
    await store.complete([
      attempt(slack1!, now - 2 * HOUR, "retry", 503, "HTTP 503: busy"),
      attempt(slack1!, now - 30 * MINUTE, "delivered", 200),
      attempt(slack2!, now - 20 * MINUTE, "retry", 429, "HTTP 429: slow down"),
      attempt(slack2!, now - 10 * MINUTE, "replay"),
      attempt(slack2!, now - 5 * MINUTE, "dead", null, "timed out"),
      attempt(crm1!, now - 23 * HOUR, "delivered", 200),
      attempt(crm1!, now - 25 * HOUR, "failed", 500, "outside the day"),
      attempt(old!, now - 25 * HOUR, "delivered", 200),
      attempt(old!, now - 3 * DAY, "disabled", 410, "gone"),
    ]);
    assert.deepEqual(await store.destinationActivity(now), [
      {
        destination: "crm",
        deliveredHour: 0,
        deliveredDay: 1,
        failedHour: 0,
        failedDay: 0,
        lastSuccessAt: now - 23 * HOUR,
        lastError: null,
      },
      {
        destination: "slack",
        deliveredHour: 1,
        deliveredDay: 1,
        failedHour: 2,
        failedDay: 3,
        lastSuccessAt: now - 30 * MINUTE,
        lastError: { at: now - 5 * MINUTE, error: "timed out", httpStatus: null },
      },
    ], "ntfy's attempts are all older than a day; replays count as neither");
    const earlier = await store.destinationActivity(now - 15 * MINUTE);
    assert.equal(earlier.find((a) => a.destination === "slack")?.failedHour, 1, "none after now");
    assert.deepEqual(
      earlier.find((a) => a.destination === "slack")?.lastError,
      { at: now - 20 * MINUTE, error: "HTTP 429: slow down", httpStatus: 429 },
    );
    assert.deepEqual(await store.destinationActivity(T - 2 * DAY), [], "nothing yet");
  },
);

contract(
  "eventCounts() counts events per type and bucket from a time on",
  async ({ store }) => {
    const bucket = HOUR;
    const start = Math.floor(T / bucket) * bucket;
    const at = [
      [start - 1, "product_sent"],
      [start, "product_sent"],
      [start + bucket - 1, "product_sent"],
      [start + 10, "new_max_bid"],
      [start + bucket, "product_sent"],
      [start + 3 * bucket + 5, "new_max_bid"],
      [start + 3 * bucket + 6, "new_max_bid"],
    ] as const;
    await store.insertEvents(at.map(([receivedAt, type]) => newEvent({ receivedAt, type })));
    assert.deepEqual(await store.eventCounts(start, bucket), [
      { type: "new_max_bid", bucket: start, count: 1 },
      { type: "product_sent", bucket: start, count: 2 },
      { type: "product_sent", bucket: start + bucket, count: 1 },
      { type: "new_max_bid", bucket: start + 3 * bucket, count: 2 },
    ]);
    assert.deepEqual(await store.eventCounts(start + 3 * bucket + 6, DAY), [
      { type: "new_max_bid", bucket: Math.floor((start + 3 * bucket) / DAY) * DAY, count: 1 },
    ]);
    await assert.rejects(store.eventCounts(start, 0), RangeError);
  },
);

contract(
  "setPaused() pauses and resumes a destination, says when nothing changed, and lasts",
  async ({ store, another }) => {
    assert.deepEqual(await store.pausedDestinations(), []);
    assert.equal(await store.setPaused("slack", true, T), true);
    assert.equal(await store.setPaused("slack", true, T + 5), false, "already paused");
    assert.equal(await store.setPaused("crm", true, T + 1), true);
    assert.equal(await store.setPaused("nobody", false, T), false, "was not paused");
    assert.deepEqual(await store.pausedDestinations(), [
      { name: "crm", at: T + 1 },
      { name: "slack", at: T },
    ], "the first pause's time is kept");
    await store.close();
    const reopened = await another();
    assert.deepEqual(
      (await reopened.pausedDestinations()).map((d) => d.name),
      ["crm", "slack"],
      "across close and reopen",
    );
    assert.equal(await reopened.setPaused("crm", false, T + 2), true);
    assert.deepEqual(await reopened.pausedDestinations(), [{ name: "slack", at: T }]);
    assert.deepEqual(await reopened.disabledDestinations(), [], "pausing is not disabling");
  },
);

// Digests: items recorded instead of deliveries, windows closed once.

/** A digest item of `event` for route "daily" to "slack". */
function digestItem(event: NewEvent, route = "daily", destination = "slack") {
  return { id: `dgi_${route}_${destination}_${event.id}`, eventId: event.id, route, destination };
}

/** The digest event closing a window, with its one delivery. */
function digestEvent(key: string, at: number): NewEvent {
  const event = newEvent({
    type: "hero_relay.digest",
    receivedAt: at,
    fingerprint: `digest-${key}`,
  });
  event.body = JSON.stringify({ key });
  event.deliveries = [{
    id: `dlv_${event.id}`,
    eventId: event.id,
    destination: "slack",
    route: "daily",
    orderKey: null,
  }];
  return event;
}

contract(
  "records digest items at ingest and at routing, and lists the open ones per route and destination",
  async ({ store }) => {
    const a = newEvent({ receivedAt: T + 1 });
    const b = newEvent({ receivedAt: T + 2 });
    const late = newEvent({ receivedAt: T + 3 });
    a.deliveries = [];
    a.digests = [digestItem(a), digestItem(a, "hourly", "crm")];
    b.deliveries = [{
      id: `dlv_${b.id}`,
      eventId: b.id,
      destination: "crm",
      route: "main",
      orderKey: null,
    }];
    b.digests = [digestItem(b)];
    await store.insertEvents([a, b, late]);
    // A duplicate stores no items.
    await store.insertEvents([{
      ...newEvent(),
      fingerprint: a.fingerprint,
      digests: [digestItem(a, "x")],
    }]);
    await store.routeEvents(
      [{ eventId: late.id, deliveries: [], digests: [digestItem(late)] }],
      T + 10,
    );
    assert.deepEqual(await store.unroutedEvents(10), [], "items count as routed");
    assert.deepEqual(await store.openDigests(), [
      { route: "daily", destination: "slack", firstAt: T + 1, count: 3 },
      { route: "hourly", destination: "crm", firstAt: T + 1, count: 1 },
    ]);
    const items = await store.digestItems({
      route: "daily",
      destination: "slack",
      before: T + 3,
      limit: 10,
    });
    assert.deepEqual(items.map((i) => [i.eventId, i.eventType, i.receivedAt, i.body]), [
      [a.id, a.type, T + 1, a.body],
      [b.id, b.type, T + 2, b.body],
    ]);
    const later = await store.digestItems({
      route: "daily",
      destination: "slack",
      since: T + 2,
      before: T + 100,
      limit: 1,
    });
    assert.deepEqual(later.map((i) => i.eventId), [b.id]);
    assert.deepEqual((await store.listDeliveries({})).map((d) => d.eventId), [b.id]);
  },
);

contract(
  "closes a digest window once: its event and delivery stored, its items taken; closing it again writes nothing",
  async ({ store, another }) => {
    const events = [newEvent(), newEvent(), newEvent()];
    for (const e of events) (e.deliveries = [], e.digests = [digestItem(e)]);
    await store.insertEvents(events);
    const items = await store.digestItems({
      route: "daily",
      destination: "slack",
      before: T + 1_000_000,
      limit: 2,
    });
    const first = digestEvent("w1", T + 500);
    assert.equal(await store.closeDigest(first, items.map((i) => i.id)), true);
    assert.equal(
      await store.closeDigest(digestEvent("w1", T + 600), items.map((i) => i.id)),
      false,
    );
    // Another relay that read the same items closes them under another key: refused whole.
    const other = await another();
    const refused = digestEvent("w1-other", T + 700);
    assert.equal(
      await other.closeDigest(refused, [items[0]!.id, `dgi_daily_slack_${events[2]!.id}`]),
      false,
    );
    assert.equal(await store.getEvent(refused.id), null, "nothing of the refused close is stored");
    assert.deepEqual(await store.openDigests(), [
      { route: "daily", destination: "slack", firstAt: events[2]!.receivedAt, count: 1 },
    ]);
    const stored = await store.getEvent(first.id);
    assert.equal(stored?.type, "hero_relay.digest");
    assert.equal(stored?.routedAt, T + 500);
    const deliveries = await store.listDeliveries({});
    assert.deepEqual(deliveries.map((d) => [d.eventId, d.destination, d.route, d.status]), [
      [first.id, "slack", "daily", "pending"],
    ]);
    const leased = await store.lease("slack", leaseOptions({ now: T + 500 }));
    assert.equal(leased[0]?.body, first.body);
    // Taken items are still found when asked for, as the empty-window check does.
    const all = await store.digestItems({
      route: "daily",
      destination: "slack",
      before: T + 1_000_000,
      limit: 10,
      taken: true,
    });
    assert.equal(all.length, 3);
    // An empty window closes with no items, once.
    assert.equal(await store.closeDigest(digestEvent("empty", T + 800), []), true);
    assert.equal(await store.closeDigest(digestEvent("empty", T + 900), []), false);
  },
);

contract(
  "two stores closing the same window at once store one digest",
  async ({ store, another }) => {
    const events = [newEvent(), newEvent()];
    for (const e of events) (e.deliveries = [], e.digests = [digestItem(e)]);
    await store.insertEvents(events);
    const other = await another();
    const itemIds = events.map((e) => `dgi_daily_slack_${e.id}`);
    const results = await Promise.all([
      store.closeDigest(digestEvent("same", T + 1), itemIds),
      other.closeDigest(digestEvent("same", T + 2), itemIds),
    ]);
    assert.deepEqual(results.sort(), [false, true]);
    assert.equal((await store.listDeliveries({})).length, 1);
    assert.deepEqual(await store.openDigests(), []);
  },
);

contract(
  "prune keeps an event in an open digest and removes digest items taken long ago",
  async ({ store }) => {
    const open = newEvent({ receivedAt: T });
    const taken = newEvent({ receivedAt: T });
    for (const e of [open, taken]) (e.deliveries = [], e.digests = [digestItem(e)]);
    await store.insertEvents([open, taken]);
    assert.equal(await store.closeDigest(digestEvent("old", T + 1), [digestItem(taken).id]), true);
    const removed = await store.prune({
      deliveredBefore: T,
      deadBefore: T,
      eventsBefore: T + DAY,
      batch: 100,
    });
    assert.equal(removed.events, 1, "the taken event goes; the open one stays");
    assert.notEqual(await store.getEvent(open.id), null);
    assert.equal(await store.getEvent(taken.id), null);
    const left = await store.digestItems({
      route: "daily",
      destination: "slack",
      before: T + DAY,
      limit: 10,
      taken: true,
    });
    assert.deepEqual(left.map((i) => i.eventId), [open.id]);
  },
);
