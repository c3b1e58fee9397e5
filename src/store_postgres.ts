// The shared store: PostgreSQL (npm pg, one connection pool), for when one machine is not
// enough and several relays behind a load balancer share one database. Same tables and the same
// behaviour as store_sqlite.ts; what SQLite gets from being the only writer, this file gets from
// row locks: leases are taken with SELECT ... FOR UPDATE SKIP LOCKED, and an event is routed by
// the one transaction that flips its routed_at. synchronous_commit stays on, so a commit is
// durable before the sender gets its 2xx.

// @ts-types="@types/pg"
// pg itself is loaded when a PostgreSQL store is opened, so SQLite relays start without it.
import type pg from "pg";
import type {
  Attempt,
  Completion,
  Delivery,
  DeliveryCursor,
  DeliveryFilter,
  DestinationActivity,
  DigestItem,
  DigestItemQuery,
  DisabledDestination,
  EventCount,
  EventQuery,
  EventSummary,
  InsertResult,
  LeasedDelivery,
  LeaseOptions,
  NewDelivery,
  NewDigestItem,
  NewEvent,
  OpenDigest,
  PausedDestination,
  PruneOptions,
  PruneResult,
  QueueStats,
  Store,
  StoredEvent,
  StoreFacts,
} from "./store.ts";
import {
  bucketSize,
  containsPattern,
  DIGEST_ITEM_COLUMNS,
  EVENT_INDEXES,
  EVENT_SUMMARY_COLUMNS,
  FACET_COLUMNS,
  facetsOf,
  searchText,
  toActivity,
  toCount,
  toDelivery,
  toDigestItem,
  toEvent,
  toEventSummary,
  toOpenDigest,
} from "./store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  order_key TEXT,
  body TEXT NOT NULL,
  routed_at BIGINT,
  deal_id TEXT,
  collab_id TEXT,
  influencer TEXT,
  influencer_lower TEXT
);
CREATE INDEX IF NOT EXISTS events_unrouted ON events (seq) WHERE routed_at IS NULL;
CREATE TABLE IF NOT EXISTS deliveries (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  destination TEXT NOT NULL,
  route TEXT NOT NULL,
  order_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  cycle_at BIGINT NOT NULL,
  lease_until BIGINT,
  lease_owner TEXT,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (destination, next_at)
  WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (destination, order_key, seq)
  WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated_at);
CREATE INDEX IF NOT EXISTS deliveries_newest ON deliveries (created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_destination_newest ON deliveries (destination, created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_status_newest ON deliveries (status, created_at, id);
CREATE TABLE IF NOT EXISTS attempts (
  seq BIGSERIAL PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  http_status INTEGER,
  error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
CREATE INDEX IF NOT EXISTS attempts_at ON attempts (at);
CREATE TABLE IF NOT EXISTS destination_state (
  name TEXT PRIMARY KEY,
  disabled_at BIGINT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS destination_pause (name TEXT PRIMARY KEY, paused_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digest_items (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL,
  route TEXT NOT NULL,
  destination TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  taken_by TEXT,
  taken_at BIGINT
);
CREATE INDEX IF NOT EXISTS digest_items_open ON digest_items (route, destination, received_at)
  WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS digest_items_window ON digest_items (route, destination, received_at);
CREATE INDEX IF NOT EXISTS digest_items_event ON digest_items (event_id) WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS digest_items_taken ON digest_items (taken_at) WHERE taken_at IS NOT NULL;
`;

/** The facet columns a migration adds to an older database's events. */
const ADD_FACET_COLUMNS = "ALTER TABLE events ADD COLUMN IF NOT EXISTS deal_id TEXT, " +
  "ADD COLUMN IF NOT EXISTS collab_id TEXT, ADD COLUMN IF NOT EXISTS influencer TEXT, " +
  "ADD COLUMN IF NOT EXISTS influencer_lower TEXT";

/** store_meta's key for the facet backfill: the last seq done, present until it is complete. */
const BACKFILL_KEY = "facets_backfill_seq";

/** Events whose facets one backfill transaction computes. */
const BACKFILL_BATCH = 1000;

const FAILED_OUTCOMES = "('retry', 'failed', 'dead', 'disabled')";
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Serialises schema creation when several relays start at once on an empty database. */
const SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('hero-relay schema'))";

const DELIVERY_COLUMNS = "d.id, d.event_id, d.event_type, d.destination, d.route, d.order_key, " +
  "d.status, d.attempts, d.next_at, d.cycle_at, d.created_at, d.updated_at, d.last_error";

// BIGINT and COUNT(*) arrive as strings (pg keeps 64-bit integers exact); the mappers convert.
type Row = Record<string, unknown>;

/** Options of {@linkcode PostgresStore.open}. */
export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** Time allowed to open a connection, in ms (default 10 000). */
  connectTimeoutMs?: number;
}

/**
 * The PostgreSQL implementation of {@linkcode Store}. Several instances, in one process or many,
 * may share one database: no delivery is leased twice while its lease runs, and each event is
 * routed once.
 */
export class PostgresStore implements Store {
  #pool: pg.Pool;
  #owners = new Set<string>();
  #closed: Promise<void> | null = null;
  #synchronousCommit = "";

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Connects to the database a `postgres://` URL names and creates the tables if needed. Rejects
   * when the database cannot be reached; the error never carries the URL or its password.
   */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    if (!isPostgresUrl(url)) {
      throw new TypeError(
        `Cannot open PostgreSQL store ${maskPostgresUrl(url)}: expected a postgres:// URL`,
      );
    }
    const { default: pgModule } = await import("pg");
    const pool = new pgModule.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      application_name: "hero-relay",
    });
    // A pooled connection that breaks while idle is dropped by the pool and replaced on next
    // use; without a listener the error would end the process.
    pool.on("error", () => {});
    const store = new PostgresStore(pool);
    try {
      await store.#transaction(async (client) => {
        await client.query(SCHEMA_LOCK);
        await client.query(SCHEMA);
        await migrateColumns(client);
        await client.query(EVENT_INDEXES);
      });
      await store.#backfill();
      const { rows } = await store.#query("SHOW synchronous_commit");
      store.#synchronousCommit = String(rows[0]?.["synchronous_commit"]);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /**
   * The server's synchronous_commit, read at open and left as the server has it: "on" (the
   * default) or stronger makes each commit durable before it is acknowledged; "off" does not.
   */
  synchronousCommit(): string {
    return this.#synchronousCommit;
  }

  facts(): StoreFacts {
    return {
      soleOwner: false,
      durability: { synchronous_commit: this.#synchronousCommit },
      warnings: this.#synchronousCommit === "off"
        ? ["synchronous_commit is off: a crash of the database may lose acknowledged events"]
        : [],
    };
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    // A checked-out client that loses its connection between queries emits "error"; the
    // listener keeps that from crashing the process, and the client is then discarded.
    const onError = (error: Error) => broken = error;
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollback: Error) => broken ??= rollback);
      throw error;
    } finally {
      client.removeListener("error", onError);
      client.release(broken);
    }
  }

  async #query(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    return await this.#pool.query<Row>(sql, params);
  }

  insertEvents(events: readonly NewEvent[]): Promise<InsertResult[]> {
    if (events.length === 0) return Promise.resolve([]);
    const facets = events.map(facetsOf);
    return this.#transaction(async (client) => {
      // One statement for the whole batch; the first of several identical bodies is stored.
      const inserted = await client.query<Row>(
        "INSERT INTO events (id, type, received_at, fingerprint, order_key, body, routed_at, " +
          "deal_id, collab_id, influencer, influencer_lower) " +
          "SELECT id, type, received_at, fingerprint, order_key, body, routed_at, deal_id, " +
          "collab_id, influencer, influencer_lower FROM unnest(" +
          "$1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], " +
          "$7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[]) " +
          "WITH ORDINALITY AS u(id, type, received_at, fingerprint, order_key, body, routed_at, " +
          "deal_id, collab_id, influencer, influencer_lower, n) " +
          "ORDER BY n ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
        [
          events.map((e) => e.id),
          events.map((e) => e.type),
          events.map((e) => e.receivedAt),
          events.map((e) => e.fingerprint),
          events.map((e) => e.orderKey),
          events.map((e) => e.body),
          events.map((e) => e.deliveries === undefined ? null : e.receivedAt),
          facets.map((f) => f.dealId),
          facets.map((f) => f.collabId),
          facets.map((f) => f.influencer),
          facets.map((f) => searchText(f.influencer)),
        ],
      );
      const fresh = new Set(inserted.rows.map((row) => String(row["id"])));
      // Deliveries routed at ingest, for the events actually stored, in arrival order.
      const routed = events.filter((e) => fresh.has(e.id) && e.deliveries?.length);
      const deliveries = routed.flatMap((e) =>
        e.deliveries!.map((d) => ({ ...d, type: e.type, at: e.receivedAt }))
      );
      if (deliveries.length > 0) {
        await client.query(
          "INSERT INTO deliveries (id, event_id, event_type, destination, route, order_key, " +
            "status, next_at, cycle_at, created_at, updated_at) " +
            "SELECT id, event_id, event_type, destination, route, order_key, 'pending', at, at, " +
            "at, at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], " +
            "$6::text[], $7::bigint[]) WITH ORDINALITY " +
            "AS u(id, event_id, event_type, destination, route, order_key, at, n) ORDER BY n",
          [
            deliveries.map((d) => d.id),
            deliveries.map((d) => d.eventId),
            deliveries.map((d) => d.type),
            deliveries.map((d) => d.destination),
            deliveries.map((d) => d.route),
            deliveries.map((d) => d.orderKey),
            deliveries.map((d) => d.at),
          ],
        );
      }
      await insertDigestItems(
        client,
        events.filter((e) => fresh.has(e.id)).flatMap((e) =>
          (e.digests ?? []).map((i) => ({ ...i, receivedAt: e.receivedAt }))
        ),
      );
      const duplicates = events.filter((e) => !fresh.has(e.id)).map((e) => e.fingerprint);
      const first = new Map<string, { id: string; type: string }>();
      if (duplicates.length > 0) {
        const found = await client.query<Row>(
          "SELECT id, type, fingerprint FROM events WHERE fingerprint = ANY($1::text[])",
          [duplicates],
        );
        for (const row of found.rows) {
          first.set(String(row["fingerprint"]), {
            id: String(row["id"]),
            type: String(row["type"]),
          });
        }
      }
      return events.map((event) => {
        if (fresh.has(event.id)) return { id: event.id, type: event.type, duplicate: false };
        const stored = first.get(event.fingerprint);
        if (stored === undefined) {
          throw new Error(`Event "${event.id}" was neither stored nor found`);
        }
        return { ...stored, duplicate: true };
      });
    });
  }

  async unroutedEvents(limit: number): Promise<StoredEvent[]> {
    const { rows } = await this.#query(
      "SELECT * FROM events WHERE routed_at IS NULL ORDER BY seq LIMIT $1",
      [limit],
    );
    return rows.map(toEvent);
  }

  routeEvents(
    routed: ReadonlyArray<
      { eventId: string; deliveries: NewDelivery[]; digests?: NewDigestItem[] }
    >,
    at: number,
  ): Promise<void> {
    if (routed.length === 0) return Promise.resolve();
    return this.#transaction(async (client) => {
      // Claim the events first: when two relays route the same event at once, only one claims
      // it (the other skips it while it is locked, or finds it routed) and records deliveries.
      const claimed = await client.query<Row>(
        "WITH mine AS (SELECT seq FROM events WHERE id = ANY($2::text[]) AND routed_at IS NULL " +
          "ORDER BY seq FOR UPDATE SKIP LOCKED) " +
          "UPDATE events e SET routed_at = $1 FROM mine WHERE e.seq = mine.seq " +
          "RETURNING e.id, e.received_at",
        [at, routed.map((r) => r.eventId)],
      );
      const mine = new Set(claimed.rows.map((row) => String(row["id"])));
      const receivedAt = new Map(
        claimed.rows.map((row) => [String(row["id"]), Number(row["received_at"])]),
      );
      await insertDigestItems(
        client,
        routed.filter((r) => mine.has(r.eventId)).flatMap((r) =>
          (r.digests ?? []).map((i) => ({ ...i, receivedAt: receivedAt.get(r.eventId)! }))
        ),
      );
      const deliveries = routed.filter((r) => mine.has(r.eventId)).flatMap((r) => r.deliveries);
      if (deliveries.length === 0) return;
      // Sequence numbers follow the given order, which ordered delivery relies on.
      await client.query(
        "INSERT INTO deliveries (id, event_id, event_type, destination, route, order_key, " +
          "status, next_at, cycle_at, created_at, updated_at) " +
          "SELECT u.id, e.id, e.type, u.destination, u.route, u.order_key, 'pending', " +
          "$6, $6, $6, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], " +
          "$5::text[]) WITH ORDINALITY AS u(id, event_id, destination, route, order_key, n) " +
          "JOIN events e ON e.id = u.event_id ORDER BY u.n",
        [
          deliveries.map((d) => d.id),
          deliveries.map((d) => d.eventId),
          deliveries.map((d) => d.destination),
          deliveries.map((d) => d.route),
          deliveries.map((d) => d.orderKey),
          at,
        ],
      );
    });
  }

  async openDigests(): Promise<OpenDigest[]> {
    const { rows } = await this.#query(
      "SELECT route, destination, MIN(received_at) AS first_at, COUNT(*) AS count " +
        "FROM digest_items WHERE taken_at IS NULL GROUP BY route, destination " +
        "ORDER BY route, destination",
    );
    return rows.map(toOpenDigest);
  }

  async digestItems(query: DigestItemQuery): Promise<DigestItem[]> {
    const { rows } = await this.#query(
      `SELECT ${DIGEST_ITEM_COLUMNS} FROM digest_items i ` +
        "JOIN events e ON e.id = i.event_id WHERE i.route = $1 AND i.destination = $2 " +
        "AND i.received_at >= $3 AND i.received_at < $4" +
        (query.taken ? "" : " AND i.taken_at IS NULL") +
        " ORDER BY i.received_at, i.seq LIMIT $5",
      [query.route, query.destination, query.since ?? 0, query.before, query.limit],
    );
    return rows.map(toDigestItem);
  }

  async closeDigest(event: NewEvent, itemIds: readonly string[]): Promise<boolean> {
    try {
      return await this.#transaction(async (client) => {
        const at = event.receivedAt;
        // A second relay closing the same window waits here for the first one's commit, then
        // finds its fingerprint and writes nothing.
        const inserted = await client.query(
          "INSERT INTO events (id, type, received_at, fingerprint, order_key, body, routed_at) " +
            "VALUES ($1, $2, $3, $4, $5, $6, $3) ON CONFLICT (fingerprint) DO NOTHING",
          [event.id, event.type, at, event.fingerprint, event.orderKey, event.body],
        );
        if (inserted.rowCount === 0) throw TAKEN;
        if (itemIds.length > 0) {
          const taken = await client.query(
            "UPDATE digest_items SET taken_by = $1, taken_at = $2 " +
              "WHERE id = ANY($3::text[]) AND taken_at IS NULL",
            [event.id, at, itemIds],
          );
          if (taken.rowCount !== itemIds.length) throw TAKEN;
        }
        for (const d of event.deliveries ?? []) {
          await client.query(
            "INSERT INTO deliveries (id, event_id, event_type, destination, route, order_key, " +
              "status, next_at, cycle_at, created_at, updated_at) " +
              "VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7, $7)",
            [d.id, d.eventId, event.type, d.destination, d.route, d.orderKey, at],
          );
        }
        return true;
      });
    } catch (error) {
      if (error === TAKEN) return false;
      throw error;
    }
  }

  async lease(destination: string, options: LeaseOptions): Promise<LeasedDelivery[]> {
    this.#owners.add(options.owner);
    // One statement, so one transaction: rows another relay is leasing right now are skipped
    // rather than waited for, and a row leased since this statement's snapshot is re-checked
    // (lease_until) once locked.
    const { rows } = await this.#query(
      "WITH due AS (SELECT d.seq FROM deliveries d " +
        "WHERE d.destination = $1 AND d.status IN ('pending', 'failed') AND d.next_at <= $2 " +
        "AND (d.lease_until IS NULL OR d.lease_until <= $2) " +
        "AND (NOT $3::boolean OR d.order_key IS NULL OR NOT EXISTS (" +
        "SELECT 1 FROM deliveries p WHERE p.destination = d.destination " +
        "AND p.order_key = d.order_key AND p.seq < d.seq AND p.status IN ('pending', 'failed'))) " +
        "ORDER BY d.seq LIMIT $4 FOR UPDATE OF d SKIP LOCKED) " +
        "UPDATE deliveries d SET lease_until = $5, lease_owner = $6, next_at = $5 FROM due, events e " +
        "WHERE d.seq = due.seq AND e.id = d.event_id " +
        `RETURNING ${DELIVERY_COLUMNS}, d.seq, e.body, e.received_at AS event_received_at`,
      [
        destination,
        options.now,
        options.ordered,
        options.limit,
        options.now + options.leaseMs,
        options.owner,
      ],
    );
    return rows
      .sort((a, b) => Number(a["seq"]) - Number(b["seq"]))
      .map((row) => ({
        ...toDelivery(row),
        body: String(row["body"]),
        eventReceivedAt: Number(row["event_received_at"]),
      }));
  }

  complete(completions: readonly Completion[]): Promise<void> {
    if (completions.length === 0) return Promise.resolve();
    return this.#transaction(async (client) => {
      for (const c of completions) {
        await client.query(
          "UPDATE deliveries SET status = $1, attempts = $2, next_at = $3, last_error = $4, " +
            "lease_until = NULL, lease_owner = NULL, updated_at = $5 WHERE id = $6",
          [c.status, c.attempts, c.nextAt, c.lastError, c.attempt.at, c.deliveryId],
        );
      }
      await insertAttempts(client, completions.map((c) => c.attempt));
    });
  }

  /**
   * Releases leases without recording an attempt. With no ids, releases only the leases taken
   * through this store object: other relays sharing the database hold live leases, and a dead
   * relay's leases become leasable again when they expire.
   */
  async release(deliveryIds: readonly string[] | null, at: number): Promise<void> {
    if (deliveryIds === null) {
      if (this.#owners.size === 0) return;
      await this.#query(
        "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, " +
          "next_at = LEAST(next_at, $2) WHERE lease_owner = ANY($1::text[])",
        [[...this.#owners], at],
      );
      return;
    }
    if (deliveryIds.length === 0) return;
    await this.#query(
      "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, " +
        "next_at = LEAST(next_at, $2) WHERE id = ANY($1::text[]) AND lease_until IS NOT NULL",
      [deliveryIds, at],
    );
  }

  async listDeliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(`${sql} $${params.length}`);
    };
    if (filter.status !== undefined) add("d.status =", filter.status);
    if (filter.destination !== undefined) add("d.destination =", filter.destination);
    if (filter.eventType !== undefined) add("d.event_type =", filter.eventType);
    if (filter.eventId !== undefined) add("d.event_id =", filter.eventId);
    if (filter.since !== undefined) add("d.created_at >=", filter.since);
    params.push(filter.limit ?? 1000);
    const { rows } = await this.#query(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d` +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
        ` ORDER BY d.seq LIMIT $${params.length}`,
      params,
    );
    return rows.map(toDelivery);
  }

  async getDelivery(id: string): Promise<{ delivery: Delivery; attempts: Attempt[] } | null> {
    const found = await this.#query(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = $1`,
      [id],
    );
    const row = found.rows[0];
    if (row === undefined) return null;
    const history = await this.#query(
      "SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY seq",
      [id],
    );
    const attempts = history.rows.map((a) => ({
      deliveryId: String(a["delivery_id"]),
      at: Number(a["at"]),
      ms: Number(a["ms"]),
      outcome: String(a["outcome"]) as Attempt["outcome"],
      httpStatus: a["http_status"] === null ? null : Number(a["http_status"]),
      error: a["error"] === null ? null : String(a["error"]),
    }));
    return { delivery: toDelivery(row), attempts };
  }

  async getEvent(id: string): Promise<StoredEvent | null> {
    const { rows } = await this.#query("SELECT * FROM events WHERE id = $1", [id]);
    return rows[0] === undefined ? null : toEvent(rows[0]);
  }

  async listEvents(options: { type?: string; limit?: number }): Promise<EventSummary[]> {
    const limit = options.limit ?? 100;
    const { rows } = options.type === undefined
      ? await this.#query(
        `SELECT ${EVENT_SUMMARY_COLUMNS} FROM events ORDER BY seq DESC LIMIT $1`,
        [limit],
      )
      : await this.#query(
        `SELECT ${EVENT_SUMMARY_COLUMNS} FROM events WHERE type = $1 ORDER BY seq DESC LIMIT $2`,
        [options.type, limit],
      );
    return rows.map(toEventSummary);
  }

  replay(ids: readonly string[], at: number): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#transaction(async (client) => {
      const updated = await client.query<Row>(
        "UPDATE deliveries SET status = 'pending', attempts = 0, cycle_at = $1, next_at = $1, " +
          "lease_until = NULL, lease_owner = NULL, updated_at = $1 " +
          "WHERE id = ANY($2::text[]) AND (lease_until IS NULL OR lease_until <= $1) RETURNING id",
        [at, ids],
      );
      const done = new Set(updated.rows.map((row) => String(row["id"])));
      const replayed = [...new Set(ids)].filter((id) => done.has(id));
      await insertAttempts(
        client,
        replayed.map((id) => ({
          deliveryId: id,
          at,
          ms: 0,
          outcome: "replay",
          httpStatus: null,
          error: null,
        })),
      );
      return replayed;
    });
  }

  /**
   * Fills in the facets of events stored before the columns existed, a batch per transaction.
   * The row in store_meta keeps the place and is locked by the relay doing a batch, so relays
   * starting together share the work and a relay stopped halfway is followed by the next.
   */
  async #backfill(): Promise<void> {
    for (let done = false; !done;) {
      done = await this.#transaction(async (client) => {
        const marker = await client.query<Row>(
          "SELECT value FROM store_meta WHERE key = $1 FOR UPDATE",
          [BACKFILL_KEY],
        );
        if (marker.rows[0] === undefined) return true;
        const { rows } = await client.query<Row>(
          "SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
          [marker.rows[0]["value"], BACKFILL_BATCH],
        );
        const facets = rows.map((row) => facetsOf({ body: String(row["body"]) }));
        await client.query(
          "UPDATE events e SET deal_id = u.deal_id, collab_id = u.collab_id, " +
            "influencer = u.influencer, influencer_lower = u.influencer_lower " +
            "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) " +
            "AS u(seq, deal_id, collab_id, influencer, influencer_lower) WHERE e.seq = u.seq",
          [
            rows.map((row) => row["seq"]),
            facets.map((f) => f.dealId),
            facets.map((f) => f.collabId),
            facets.map((f) => f.influencer),
            facets.map((f) => searchText(f.influencer)),
          ],
        );
        if (rows.length < BACKFILL_BATCH) {
          await client.query("DELETE FROM store_meta WHERE key = $1", [BACKFILL_KEY]);
          return true;
        }
        await client.query("UPDATE store_meta SET value = $1 WHERE key = $2", [
          String(rows.at(-1)!["seq"]),
          BACKFILL_KEY,
        ]);
        return false;
      });
    }
  }

  async searchEvents(query: EventQuery): Promise<EventSummary[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => (params.push(value), `$${params.length}`);
    if (query.type !== undefined) where.push(`e.type = ${param(query.type)}`);
    if (query.dealOrCollab !== undefined) {
      const value = param(query.dealOrCollab);
      where.push(`(e.deal_id = ${value} OR e.collab_id = ${value})`);
    }
    if (query.influencer !== undefined) {
      where.push(`e.influencer_lower LIKE ${param(containsPattern(query.influencer))} ESCAPE '\\'`);
    }
    if (query.since !== undefined) where.push(`e.received_at >= ${param(query.since)}`);
    if (query.until !== undefined) where.push(`e.received_at < ${param(query.until)}`);
    if (query.after !== undefined) {
      where.push(
        `(e.received_at, e.id) < (${param(query.after.receivedAt)}::bigint, ` +
          `${param(query.after.id)}::text)`,
      );
    }
    if (query.status !== undefined || query.destination !== undefined) {
      const match: string[] = ["d.event_id = e.id"];
      if (query.status !== undefined) match.push(`d.status = ${param(query.status)}`);
      if (query.destination !== undefined) {
        match.push(`d.destination = ${param(query.destination)}`);
      }
      where.push(`EXISTS (SELECT 1 FROM deliveries d WHERE ${match.join(" AND ")})`);
    }
    const { rows } = await this.#query(
      `SELECT ${EVENT_SUMMARY_COLUMNS}, ${FACET_COLUMNS} FROM events e` +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
        ` ORDER BY e.received_at DESC, e.id DESC LIMIT ${param(query.limit)}`,
      params,
    );
    return rows.map(toEventSummary);
  }

  async searchDeliveries(
    filter: DeliveryFilter & { after?: DeliveryCursor },
  ): Promise<Delivery[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => (params.push(value), `$${params.length}`);
    if (filter.status !== undefined) where.push(`d.status = ${param(filter.status)}`);
    if (filter.destination !== undefined) {
      where.push(`d.destination = ${param(filter.destination)}`);
    }
    if (filter.eventType !== undefined) where.push(`d.event_type = ${param(filter.eventType)}`);
    if (filter.eventId !== undefined) where.push(`d.event_id = ${param(filter.eventId)}`);
    if (filter.since !== undefined) where.push(`d.created_at >= ${param(filter.since)}`);
    if (filter.after !== undefined) {
      where.push(
        `(d.created_at, d.id) < (${param(filter.after.createdAt)}::bigint, ` +
          `${param(filter.after.id)}::text)`,
      );
    }
    const { rows } = await this.#query(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d` +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
        ` ORDER BY d.created_at DESC, d.id DESC LIMIT ${param(filter.limit ?? 100)}`,
      params,
    );
    return rows.map(toDelivery);
  }

  async destinationActivity(now: number): Promise<DestinationActivity[]> {
    const counts = await this.#query(
      "SELECT d.destination, " +
        "COUNT(*) FILTER (WHERE a.outcome = 'delivered' AND a.at >= $1) AS delivered_hour, " +
        "COUNT(*) FILTER (WHERE a.outcome = 'delivered') AS delivered_day, " +
        `COUNT(*) FILTER (WHERE a.outcome IN ${FAILED_OUTCOMES} AND a.at >= $1) AS failed_hour, ` +
        `COUNT(*) FILTER (WHERE a.outcome IN ${FAILED_OUTCOMES}) AS failed_day, ` +
        "MAX(a.at) FILTER (WHERE a.outcome = 'delivered') AS last_success " +
        "FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.at >= $2 " +
        "AND a.at <= $3 GROUP BY d.destination ORDER BY d.destination",
      [now - HOUR, now - DAY, now],
    );
    const errors = await this.#query(
      "SELECT destination, at, error, http_status FROM (SELECT d.destination, a.at, a.error, " +
        "a.http_status, ROW_NUMBER() OVER (PARTITION BY d.destination " +
        "ORDER BY a.at DESC, a.seq DESC) AS n FROM attempts a " +
        "JOIN deliveries d ON d.id = a.delivery_id " +
        `WHERE a.at >= $1 AND a.at <= $2 AND a.outcome IN ${FAILED_OUTCOMES}) AS last ` +
        "WHERE n = 1",
      [now - DAY, now],
    );
    return toActivity(counts.rows, errors.rows);
  }

  async eventCounts(since: number, bucketMs: number): Promise<EventCount[]> {
    const { rows } = await this.#query(
      "SELECT type, (received_at / $1::bigint) * $1::bigint AS bucket, COUNT(*) AS count " +
        "FROM events WHERE received_at >= $2 GROUP BY type, bucket ORDER BY bucket, type",
      [bucketSize(bucketMs), since],
    );
    return rows.map(toCount);
  }

  async disabledDestinations(): Promise<DisabledDestination[]> {
    const { rows } = await this.#query("SELECT * FROM destination_state ORDER BY name");
    return rows.map((row) => ({
      name: String(row["name"]),
      at: Number(row["disabled_at"]),
      reason: String(row["reason"]),
    }));
  }

  async setDisabled(name: string, reason: string | null, at: number): Promise<boolean> {
    const result = reason === null
      ? await this.#query("DELETE FROM destination_state WHERE name = $1", [name])
      : await this.#query(
        "INSERT INTO destination_state (name, disabled_at, reason) VALUES ($1, $2, $3) " +
          "ON CONFLICT (name) DO UPDATE SET disabled_at = excluded.disabled_at, " +
          "reason = excluded.reason",
        [name, at, reason],
      );
    return (result.rowCount ?? 0) > 0;
  }

  async pausedDestinations(): Promise<PausedDestination[]> {
    const { rows } = await this.#query(
      "SELECT name, paused_at FROM destination_pause ORDER BY name",
    );
    return rows.map((row) => ({ name: String(row["name"]), at: Number(row["paused_at"]) }));
  }

  async setPaused(name: string, paused: boolean, at: number): Promise<boolean> {
    const result = paused
      ? await this.#query(
        "INSERT INTO destination_pause (name, paused_at) VALUES ($1, $2) " +
          "ON CONFLICT (name) DO NOTHING",
        [name, at],
      )
      : await this.#query("DELETE FROM destination_pause WHERE name = $1", [name]);
    return (result.rowCount ?? 0) > 0;
  }

  async queueStats(): Promise<QueueStats[]> {
    const { rows } = await this.#query(
      "SELECT destination, COUNT(*) AS depth, MIN(created_at) AS oldest FROM deliveries " +
        "WHERE status IN ('pending', 'failed') GROUP BY destination",
    );
    return rows.map((row) => ({
      destination: String(row["destination"]),
      depth: Number(row["depth"]),
      oldestAt: row["oldest"] === null ? null : Number(row["oldest"]),
    }));
  }

  /** Removes what retention says, in batches; rows another relay is pruning are skipped. */
  async prune(options: PruneOptions): Promise<PruneResult> {
    const result = { deliveries: 0, events: 0 };
    for (;;) {
      const removed = await this.#transaction(async (client) => {
        const gone = await client.query<Row>(
          "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE " +
            "(status = 'delivered' AND updated_at < $1) OR (status = 'dead' AND updated_at < $2) " +
            "LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
          [options.deliveredBefore, options.deadBefore, options.batch],
        );
        const ids = gone.rows.map((row) => String(row["id"]));
        if (ids.length > 0) {
          await client.query("DELETE FROM attempts WHERE delivery_id = ANY($1::text[])", [ids]);
        }
        return ids.length;
      });
      result.deliveries += removed;
      if (removed < options.batch) break;
    }
    for (;;) {
      const gone = await this.#query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE e.received_at < $1 " +
          "AND e.routed_at IS NOT NULL AND NOT EXISTS " +
          "(SELECT 1 FROM deliveries d WHERE d.event_id = e.id) AND NOT EXISTS " +
          "(SELECT 1 FROM digest_items i WHERE i.event_id = e.id AND i.taken_at IS NULL) " +
          "LIMIT $2 FOR UPDATE SKIP LOCKED)",
        [options.eventsBefore, options.batch],
      );
      const removed = gone.rowCount ?? 0;
      result.events += removed;
      if (removed < options.batch) break;
    }
    for (;;) {
      const gone = await this.#query(
        "DELETE FROM digest_items WHERE seq IN (SELECT seq FROM digest_items " +
          "WHERE taken_at IS NOT NULL AND taken_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        [options.eventsBefore, options.batch],
      );
      if ((gone.rowCount ?? 0) < options.batch) break;
    }
    return result;
  }

  async ping(): Promise<void> {
    await this.#query("SELECT 1");
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }
}

/**
 * Adds the facet columns to an older database's events (inside the schema transaction, under its
 * lock), with the note in store_meta that their backfill is still to do.
 */
async function migrateColumns(client: pg.PoolClient): Promise<void> {
  const found = await client.query<Row>(
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() " +
      "AND table_name = 'events' AND column_name = 'deal_id'",
  );
  if (found.rows.length > 0) return;
  await client.query(ADD_FACET_COLUMNS);
  await client.query(
    "INSERT INTO store_meta (key, value) VALUES ($1, '0') ON CONFLICT (key) DO NOTHING",
    [BACKFILL_KEY],
  );
}

function isPostgresUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === "postgres:" || protocol === "postgresql:";
  } catch {
    return false;
  }
}

/** Shows a connection URL without its password (and without query parameters). */
export function maskPostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${parsed.username}${parsed.password ? ":***" : ""}@` : "";
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

/** Thrown inside closeDigest's transaction to roll it back: the window was closed already. */
const TAKEN = new Error("digest window already closed");

async function insertDigestItems(
  client: pg.PoolClient,
  items: ReadonlyArray<NewDigestItem & { receivedAt: number }>,
): Promise<void> {
  if (items.length === 0) return;
  await client.query(
    "INSERT INTO digest_items (id, event_id, route, destination, received_at) " +
      "SELECT id, event_id, route, destination, received_at FROM unnest($1::text[], " +
      "$2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY " +
      "AS u(id, event_id, route, destination, received_at, n) ORDER BY n",
    [
      items.map((i) => i.id),
      items.map((i) => i.eventId),
      items.map((i) => i.route),
      items.map((i) => i.destination),
      items.map((i) => i.receivedAt),
    ],
  );
}

async function insertAttempts(client: pg.PoolClient, attempts: Attempt[]): Promise<void> {
  if (attempts.length === 0) return;
  await client.query(
    "INSERT INTO attempts (delivery_id, at, ms, outcome, http_status, error) " +
      "SELECT delivery_id, at, ms, outcome, http_status, error FROM unnest($1::text[], " +
      "$2::bigint[], $3::integer[], $4::text[], $5::integer[], $6::text[]) " +
      "WITH ORDINALITY AS u(delivery_id, at, ms, outcome, http_status, error, n) ORDER BY n",
    [
      attempts.map((a) => a.deliveryId),
      attempts.map((a) => a.at),
      attempts.map((a) => Math.round(a.ms)),
      attempts.map((a) => a.outcome),
      attempts.map((a) => a.httpStatus),
      attempts.map((a) => a.error),
    ],
  );
}
