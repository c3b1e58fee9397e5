// The embedded store: one SQLite file (node:sqlite) in WAL mode with synchronous=FULL, so a
// commit survives a crash of the process and of the machine before the sender gets its 2xx.

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
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
import { WalSync } from "./wal_sync.ts";

// `seq` is the rowid: a new row always gets a seq above every row present, which is all that
// ordering needs. AUTOINCREMENT would also never hand out a deleted row's number again, at the
// price of a write to sqlite_sequence in every transaction.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  order_key TEXT,
  body TEXT NOT NULL,
  routed_at INTEGER,
  deal_id TEXT,
  collab_id TEXT,
  influencer TEXT,
  influencer_lower TEXT
);
CREATE INDEX IF NOT EXISTS events_unrouted ON events (seq) WHERE routed_at IS NULL;
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  destination TEXT NOT NULL,
  route TEXT NOT NULL,
  order_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  cycle_at INTEGER NOT NULL,
  lease_until INTEGER,
  lease_owner TEXT,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
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
  seq INTEGER PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  http_status INTEGER,
  error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
CREATE INDEX IF NOT EXISTS attempts_at ON attempts (at);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at INTEGER);
CREATE TABLE IF NOT EXISTS destination_state (
  name TEXT PRIMARY KEY,
  disabled_at INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS destination_pause (name TEXT PRIMARY KEY, paused_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digest_items (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL,
  route TEXT NOT NULL,
  destination TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  taken_by TEXT,
  taken_at INTEGER
);
CREATE INDEX IF NOT EXISTS digest_items_open ON digest_items (route, destination, received_at)
  WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS digest_items_window ON digest_items (route, destination, received_at);
CREATE INDEX IF NOT EXISTS digest_items_event ON digest_items (event_id) WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS digest_items_taken ON digest_items (taken_at) WHERE taken_at IS NOT NULL;
`;

/** The columns added to events by the console's migration, in order. */
const FACET_COLUMNS_DDL = [
  "deal_id TEXT",
  "collab_id TEXT",
  "influencer TEXT",
  "influencer_lower TEXT",
];

/** store_meta's key for the facet backfill: the last seq done, present until it is complete. */
const BACKFILL_KEY = "facets_backfill_seq";

/** Events whose facets one backfill transaction computes. */
const BACKFILL_BATCH = 1000;

const FAILED_OUTCOMES = "('retry', 'failed', 'dead', 'disabled')";
const HOUR = 3_600_000;
const DAY = 86_400_000;

const DELIVERY_COLUMNS = "d.id, d.event_id, d.event_type, d.destination, d.route, d.order_key, " +
  "d.status, d.attempts, d.next_at, d.cycle_at, d.created_at, d.updated_at, d.last_error";

type Row = Record<string, SQLInputValue>;

/** Options of {@linkcode SqliteStore.open}. */
export interface SqliteOptions {
  /** "FULL" (default) makes each commit durable against power loss; "NORMAL" only against crashes. */
  synchronous?: "FULL" | "NORMAL";
}

/** The SQLite implementation of {@linkcode Store}. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  /** Flushes the WAL off the JavaScript thread; null when SQLite flushes in COMMIT itself. */
  #wal: WalSync | null;
  #unsynced = false;

  /** Why the last write failed, until a write succeeds again. */
  #writeError: Error | null = null;

  private constructor(db: DatabaseSync, wal: WalSync | null) {
    this.#db = db;
    this.#wal = wal;
  }

  /** Opens (and creates if needed) the database file; ":memory:" for tests. */
  static open(path: string, options: SqliteOptions = {}): SqliteStore {
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? "FULL"}`);
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA foreign_keys = OFF");
    db.exec(SCHEMA);
    migrate(db);
    db.exec(EVENT_INDEXES);
    const full = (options.synchronous ?? "FULL") === "FULL";
    return new SqliteStore(db, full && path !== ":memory:" ? WalSync.find(path) : null);
  }

  facts(): StoreFacts {
    const level = this.synchronous();
    return {
      soleOwner: true,
      durability: { synchronous: level === 2 ? "FULL" : level === 3 ? "EXTRA" : String(level) },
      warnings: level < 2 ? ["SQLite's synchronous is below FULL: a crash may lose events"] : [],
    };
  }

  /** The synchronous setting in force, read back from SQLite (2 = FULL, 1 = NORMAL). */
  synchronous(): number {
    return Number((this.#db.prepare("PRAGMA synchronous").get() as Row)["synchronous"]);
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `work` in a write transaction. With a WalSync, COMMIT leaves the fsync to #settle, which
   * flushes the WAL off the JavaScript thread before resolving: as durable as synchronous=FULL.
   */
  #transaction<T>(work: () => T): T {
    // Prepared once: exec() would parse these four statements again for every transaction.
    if (this.#wal) this.#stmt("PRAGMA synchronous = NORMAL").run();
    this.#stmt("BEGIN IMMEDIATE").run();
    try {
      const result = work();
      this.#stmt("COMMIT").run();
      this.#unsynced = this.#wal !== null;
      if (!this.#unsynced) this.#writeError = null;
      return result;
    } catch (error) {
      this.#writeError = error as Error;
      // A failed COMMIT (a full disk, say) may already have ended the transaction; a ROLLBACK
      // then fails too, and its error must not take the place of SQLite's own reason.
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // the reason that matters is `error`
        }
      }
      throw error;
    } finally {
      if (this.#wal) this.#stmt("PRAGMA synchronous = FULL").run();
    }
  }

  /** Runs `work`; resolves with its result once the transactions it ran are on disk. */
  #settle<T>(work: () => T): Promise<T> {
    let result: T;
    try {
      result = work();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.#unsynced || this.#wal === null) return Promise.resolve(result);
    this.#unsynced = false;
    return this.#wal.sync().then(() => {
      this.#writeError = null;
      return result;
    }, (error) => {
      this.#writeError = error as Error;
      throw error;
    });
  }

  insertEvents(events: readonly NewEvent[]): Promise<InsertResult[]> {
    const insert = this.#stmt(
      "INSERT INTO events (id, type, received_at, fingerprint, order_key, body, routed_at, " +
        "deal_id, collab_id, influencer, influencer_lower) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
    );
    const existing = this.#stmt("SELECT id, type FROM events WHERE fingerprint = ?");
    return this.#settle(() =>
      this.#transaction(() =>
        events.map((event) => {
          const facets = facetsOf(event);
          const { changes } = insert.run(
            event.id,
            event.type,
            event.receivedAt,
            event.fingerprint,
            event.orderKey,
            event.body,
            event.deliveries === undefined ? null : event.receivedAt,
            facets.dealId,
            facets.collabId,
            facets.influencer,
            searchText(facets.influencer),
          );
          if (changes > 0) {
            this.#insertDeliveries(event.type, event.deliveries ?? [], event.receivedAt);
            this.#insertDigestItems(event.digests ?? [], event.receivedAt);
            return { id: event.id, type: event.type, duplicate: false };
          }
          const row = existing.get(event.fingerprint) as Row;
          return { id: String(row["id"]), type: String(row["type"]), duplicate: true };
        })
      )
    );
  }

  #insertDeliveries(eventType: string, deliveries: readonly NewDelivery[], at: number): void {
    const insert = this.#stmt(
      "INSERT INTO deliveries (id, event_id, event_type, destination, route, order_key, status, " +
        "next_at, cycle_at, created_at, updated_at) " +
        "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
    );
    for (const d of deliveries) {
      insert.run(d.id, d.eventId, eventType, d.destination, d.route, d.orderKey, at, at, at, at);
    }
  }

  #insertDigestItems(items: readonly NewDigestItem[], receivedAt: number): void {
    if (items.length === 0) return;
    const insert = this.#stmt(
      "INSERT INTO digest_items (id, event_id, route, destination, received_at) " +
        "VALUES (?, ?, ?, ?, ?)",
    );
    for (const i of items) insert.run(i.id, i.eventId, i.route, i.destination, receivedAt);
  }

  async unroutedEvents(limit: number): Promise<StoredEvent[]> {
    // Only what is on disk is routed and delivered, as when COMMIT itself flushed.
    await this.#wal?.settled();
    const rows = this.#stmt(
      "SELECT * FROM events WHERE routed_at IS NULL ORDER BY seq LIMIT ?",
    ).all(limit) as Row[];
    return rows.map(toEvent);
  }

  routeEvents(
    routed: ReadonlyArray<
      { eventId: string; deliveries: NewDelivery[]; digests?: NewDigestItem[] }
    >,
    at: number,
  ): Promise<void> {
    const receivedAt = this.#stmt("SELECT received_at FROM events WHERE id = ?");
    const insert = this.#stmt(
      "INSERT INTO deliveries (id, event_id, event_type, destination, route, order_key, status, " +
        "next_at, cycle_at, created_at, updated_at) " +
        "SELECT ?, id, type, ?, ?, ?, 'pending', ?, ?, ?, ? FROM events WHERE id = ?",
    );
    const mark = this.#stmt("UPDATE events SET routed_at = ? WHERE id = ?");
    return this.#settle(() =>
      this.#transaction(() => {
        for (const { eventId, deliveries, digests } of routed) {
          for (const d of deliveries) {
            insert.run(d.id, d.destination, d.route, d.orderKey, at, at, at, at, eventId);
          }
          if (digests?.length) {
            const row = receivedAt.get(eventId) as Row | undefined;
            if (row !== undefined) this.#insertDigestItems(digests, Number(row["received_at"]));
          }
          mark.run(at, eventId);
        }
      })
    );
  }

  async openDigests(): Promise<OpenDigest[]> {
    await this.#wal?.settled();
    return (this.#stmt(
      "SELECT route, destination, MIN(received_at) AS first_at, COUNT(*) AS count " +
        "FROM digest_items WHERE taken_at IS NULL GROUP BY route, destination " +
        "ORDER BY route, destination",
    ).all() as Row[]).map(toOpenDigest);
  }

  async digestItems(query: DigestItemQuery): Promise<DigestItem[]> {
    await this.#wal?.settled();
    const sql = `SELECT ${DIGEST_ITEM_COLUMNS} FROM digest_items i ` +
      "JOIN events e ON e.id = i.event_id WHERE i.route = ? AND i.destination = ? " +
      "AND i.received_at >= ? AND i.received_at < ?" +
      (query.taken ? "" : " AND i.taken_at IS NULL") +
      " ORDER BY i.received_at, i.seq LIMIT ?";
    return (this.#stmt(sql).all(
      query.route,
      query.destination,
      query.since ?? 0,
      query.before,
      query.limit,
    ) as Row[]).map(toDigestItem);
  }

  closeDigest(event: NewEvent, itemIds: readonly string[]): Promise<boolean> {
    const insert = this.#stmt(
      "INSERT INTO events (id, type, received_at, fingerprint, order_key, body, routed_at) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
    );
    const take = this.#stmt(
      "UPDATE digest_items SET taken_by = ?, taken_at = ? WHERE id = ? AND taken_at IS NULL",
    );
    return this.#settle(() => {
      try {
        return this.#transaction(() => {
          const at = event.receivedAt;
          const { changes } = insert.run(
            event.id,
            event.type,
            at,
            event.fingerprint,
            event.orderKey,
            event.body,
            at,
          );
          if (changes === 0) throw TAKEN;
          for (const id of itemIds) if (take.run(event.id, at, id).changes === 0) throw TAKEN;
          this.#insertDeliveries(event.type, event.deliveries ?? [], at);
          return true;
        });
      } catch (error) {
        if (error !== TAKEN) throw error;
        this.#writeError = null;
        return false;
      }
    });
  }

  async lease(destination: string, options: LeaseOptions): Promise<LeasedDelivery[]> {
    await this.#wal?.settled();
    const select = this.#stmt(
      `SELECT ${DELIVERY_COLUMNS}, d.seq, e.body, e.received_at AS event_received_at ` +
        "FROM deliveries d JOIN events e ON e.id = d.event_id " +
        "WHERE d.destination = ? AND d.status IN ('pending', 'failed') AND d.next_at <= ? " +
        "AND (d.lease_until IS NULL OR d.lease_until <= ?) " +
        "AND (? = 0 OR d.order_key IS NULL OR NOT EXISTS (" +
        "SELECT 1 FROM deliveries p WHERE p.destination = d.destination " +
        "AND p.order_key = d.order_key AND p.seq < d.seq AND p.status IN ('pending', 'failed'))) " +
        "ORDER BY d.next_at, d.seq LIMIT ?",
    );
    // Looked for outside a write transaction: a quiet lane's lease mostly finds nothing, and
    // then takes no lock and writes nothing.
    const rows = select.all(
      destination,
      options.now,
      options.now,
      options.ordered ? 1 : 0,
      options.limit,
    ) as Row[];
    if (rows.length === 0) return [];
    // A leased delivery is due again when its lease runs out, so next_at moves there: the due
    // index then holds no leased rows, and a lease never steps over the ones in flight. A row is
    // taken only if it is still due and free (another connection, the CLI's replay say, may have
    // written in between).
    const take = this.#stmt(
      "UPDATE deliveries SET lease_until = ?, lease_owner = ?, next_at = ? WHERE seq = ? " +
        "AND status IN ('pending', 'failed') AND next_at <= ? " +
        "AND (lease_until IS NULL OR lease_until <= ?)",
    );
    const until = options.now + options.leaseMs;
    // A lease need not wait for the disk: one lost to a power cut only means the delivery is
    // leased again after the restart (which releases every lease anyway). The WAL flush of the
    // next durable write covers it.
    return this.#transaction(() =>
      rows.filter((row) =>
        take.run(until, options.owner, until, row["seq"]!, options.now, options.now).changes > 0
      ).map((row) => ({
        ...toDelivery(row),
        body: String(row["body"]),
        eventReceivedAt: Number(row["event_received_at"]),
      }))
    );
  }

  complete(completions: readonly Completion[]): Promise<void> {
    const update = this.#stmt(
      "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_error = ?, " +
        "lease_until = NULL, lease_owner = NULL, updated_at = ? WHERE id = ?",
    );
    return this.#settle(() =>
      this.#transaction(() => {
        for (const c of completions) {
          update.run(c.status, c.attempts, c.nextAt, c.lastError, c.attempt.at, c.deliveryId);
          this.#recordAttempt(c.attempt);
        }
      })
    );
  }

  #recordAttempt(a: Attempt): void {
    this.#stmt(
      "INSERT INTO attempts (delivery_id, at, ms, outcome, http_status, error) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    ).run(a.deliveryId, a.at, Math.round(a.ms), a.outcome, a.httpStatus, a.error);
  }

  release(deliveryIds: readonly string[] | null, at: number): Promise<void> {
    return this.#settle(() => {
      if (deliveryIds === null) {
        this.#transaction(() =>
          this.#stmt(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, " +
              "next_at = MIN(next_at, ?) WHERE lease_until IS NOT NULL",
          ).run(at)
        );
        return;
      }
      const clear = this.#stmt(
        "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, next_at = MIN(next_at, ?) " +
          "WHERE id = ? AND lease_until IS NOT NULL",
      );
      this.#transaction(() => deliveryIds.forEach((id) => clear.run(at, id)));
    });
  }

  listDeliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.status !== undefined) (where.push("d.status = ?"), args.push(filter.status));
    if (filter.destination !== undefined) {
      where.push("d.destination = ?");
      args.push(filter.destination);
    }
    if (filter.eventType !== undefined) {
      (where.push("d.event_type = ?"), args.push(filter.eventType));
    }
    if (filter.eventId !== undefined) (where.push("d.event_id = ?"), args.push(filter.eventId));
    if (filter.since !== undefined) (where.push("d.created_at >= ?"), args.push(filter.since));
    args.push(filter.limit ?? 1000);
    const sql = `SELECT ${DELIVERY_COLUMNS} FROM ${deliveriesOf(filter)}` +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") + " ORDER BY d.seq LIMIT ?";
    return promised(() => (this.#db.prepare(sql).all(...args) as Row[]).map(toDelivery));
  }

  getDelivery(id: string): Promise<{ delivery: Delivery; attempts: Attempt[] } | null> {
    return promised(() => {
      const row = this.#stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = ?`)
        .get(id) as Row | undefined;
      if (row === undefined) return null;
      const attempts = (this.#stmt("SELECT * FROM attempts WHERE delivery_id = ? ORDER BY seq")
        .all(id) as Row[]).map((a) => ({
          deliveryId: String(a["delivery_id"]),
          at: Number(a["at"]),
          ms: Number(a["ms"]),
          outcome: String(a["outcome"]) as Attempt["outcome"],
          httpStatus: a["http_status"] === null ? null : Number(a["http_status"]),
          error: a["error"] === null ? null : String(a["error"]),
        }));
      return { delivery: toDelivery(row), attempts };
    });
  }

  getEvent(id: string): Promise<StoredEvent | null> {
    const row = this.#stmt("SELECT * FROM events WHERE id = ?").get(id) as Row | undefined;
    return Promise.resolve(row === undefined ? null : toEvent(row));
  }

  listEvents(options: { type?: string; limit?: number }): Promise<EventSummary[]> {
    const limit = options.limit ?? 100;
    const rows = options.type === undefined
      ? this.#stmt(`SELECT ${EVENT_SUMMARY_COLUMNS} FROM events ORDER BY seq DESC LIMIT ?`).all(
        limit,
      )
      : this.#stmt(
        `SELECT ${EVENT_SUMMARY_COLUMNS} FROM events WHERE type = ? ORDER BY seq DESC LIMIT ?`,
      )
        .all(options.type, limit);
    return Promise.resolve((rows as Row[]).map(toEventSummary));
  }

  replay(ids: readonly string[], at: number): Promise<string[]> {
    const update = this.#stmt(
      "UPDATE deliveries SET status = 'pending', attempts = 0, cycle_at = ?, next_at = ?, " +
        "lease_until = NULL, lease_owner = NULL, updated_at = ? " +
        "WHERE id = ? AND (lease_until IS NULL OR lease_until <= ?)",
    );
    return this.#settle(() =>
      this.#transaction(() => {
        const replayed: string[] = [];
        for (const id of ids) {
          if (update.run(at, at, at, id, at).changes === 0) continue;
          this.#recordAttempt({
            deliveryId: id,
            at,
            ms: 0,
            outcome: "replay",
            httpStatus: null,
            error: null,
          });
          replayed.push(id);
        }
        return replayed;
      })
    );
  }

  searchEvents(query: EventQuery): Promise<EventSummary[]> {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (query.type !== undefined) (where.push("e.type = ?"), args.push(query.type));
    if (query.dealOrCollab !== undefined) {
      where.push("(e.deal_id = ? OR e.collab_id = ?)");
      args.push(query.dealOrCollab, query.dealOrCollab);
    }
    if (query.influencer !== undefined) {
      where.push("e.influencer_lower LIKE ? ESCAPE '\\'");
      args.push(containsPattern(query.influencer));
    }
    if (query.since !== undefined) (where.push("e.received_at >= ?"), args.push(query.since));
    if (query.until !== undefined) (where.push("e.received_at < ?"), args.push(query.until));
    if (query.after !== undefined) {
      where.push("(e.received_at, e.id) < (?, ?)");
      args.push(query.after.receivedAt, query.after.id);
    }
    if (query.status !== undefined || query.destination !== undefined) {
      const match: string[] = ["d.event_id = e.id"];
      if (query.status !== undefined) (match.push("d.status = ?"), args.push(query.status));
      if (query.destination !== undefined) {
        match.push("d.destination = ?");
        args.push(query.destination);
      }
      // An event's own deliveries, found by its id: left to itself SQLite probes by status
      // (deliveries_status), reading every delivery in that status for each event it walks.
      where.push(
        `EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_event WHERE ${
          match.join(" AND ")
        })`,
      );
    }
    args.push(query.limit);
    const sql = `SELECT ${EVENT_SUMMARY_COLUMNS}, ${FACET_COLUMNS} FROM events e` +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY e.received_at DESC, e.id DESC LIMIT ?";
    return promised(() => (this.#stmt(sql).all(...args) as Row[]).map(toEventSummary));
  }

  searchDeliveries(filter: DeliveryFilter & { after?: DeliveryCursor }): Promise<Delivery[]> {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.status !== undefined) (where.push("d.status = ?"), args.push(filter.status));
    if (filter.destination !== undefined) {
      where.push("d.destination = ?");
      args.push(filter.destination);
    }
    if (filter.eventType !== undefined) {
      (where.push("d.event_type = ?"), args.push(filter.eventType));
    }
    if (filter.eventId !== undefined) (where.push("d.event_id = ?"), args.push(filter.eventId));
    if (filter.since !== undefined) (where.push("d.created_at >= ?"), args.push(filter.since));
    if (filter.after !== undefined) {
      where.push("(d.created_at, d.id) < (?, ?)");
      args.push(filter.after.createdAt, filter.after.id);
    }
    args.push(filter.limit ?? 100);
    const sql = `SELECT ${DELIVERY_COLUMNS} FROM ${deliveriesOf(filter)}` +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY d.created_at DESC, d.id DESC LIMIT ?";
    return promised(() => (this.#stmt(sql).all(...args) as Row[]).map(toDelivery));
  }

  destinationActivity(now: number): Promise<DestinationActivity[]> {
    return promised(() => {
      const hour = now - HOUR;
      const day = now - DAY;
      const counts = this.#stmt(
        "SELECT d.destination, " +
          "SUM(a.outcome = 'delivered' AND a.at >= ?) AS delivered_hour, " +
          "SUM(a.outcome = 'delivered') AS delivered_day, " +
          `SUM(a.outcome IN ${FAILED_OUTCOMES} AND a.at >= ?) AS failed_hour, ` +
          `SUM(a.outcome IN ${FAILED_OUTCOMES}) AS failed_day, ` +
          "MAX(CASE WHEN a.outcome = 'delivered' THEN a.at END) AS last_success " +
          "FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.at >= ? " +
          "AND a.at <= ? GROUP BY d.destination ORDER BY d.destination",
      ).all(hour, hour, day, now) as Row[];
      const errors = this.#stmt(
        "SELECT destination, at, error, http_status FROM (SELECT d.destination, a.at, a.error, " +
          "a.http_status, ROW_NUMBER() OVER (PARTITION BY d.destination " +
          "ORDER BY a.at DESC, a.seq DESC) AS n FROM attempts a " +
          "JOIN deliveries d ON d.id = a.delivery_id " +
          `WHERE a.at >= ? AND a.at <= ? AND a.outcome IN ${FAILED_OUTCOMES}) AS last WHERE n = 1`,
      ).all(day, now) as Row[];
      return toActivity(counts, errors);
    });
  }

  eventCounts(since: number, bucketMs: number): Promise<EventCount[]> {
    return promised(() => {
      const size = bucketSize(bucketMs);
      return (this.#stmt(
        "SELECT type, (received_at / ?) * ? AS bucket, COUNT(*) AS count FROM events " +
          "WHERE received_at >= ? GROUP BY type, bucket ORDER BY bucket, type",
      ).all(BigInt(size), BigInt(size), since) as Row[]).map(toCount);
    });
  }

  disabledDestinations(): Promise<DisabledDestination[]> {
    const rows = this.#stmt("SELECT * FROM destination_state ORDER BY name").all() as Row[];
    return Promise.resolve(rows.map((row) => ({
      name: String(row["name"]),
      at: Number(row["disabled_at"]),
      reason: String(row["reason"]),
    })));
  }

  setDisabled(name: string, reason: string | null, at: number): Promise<boolean> {
    return promised(() => {
      if (reason === null) {
        return this.#stmt("DELETE FROM destination_state WHERE name = ?").run(name).changes > 0;
      }
      return this.#stmt(
        "INSERT INTO destination_state (name, disabled_at, reason) VALUES (?, ?, ?) " +
          "ON CONFLICT (name) DO UPDATE SET disabled_at = excluded.disabled_at, reason = excluded.reason",
      ).run(name, at, reason).changes > 0;
    });
  }

  pausedDestinations(): Promise<PausedDestination[]> {
    return promised(() =>
      (this.#stmt("SELECT name, paused_at FROM destination_pause ORDER BY name").all() as Row[])
        .map((row) => ({ name: String(row["name"]), at: Number(row["paused_at"]) }))
    );
  }

  setPaused(name: string, paused: boolean, at: number): Promise<boolean> {
    return promised(() =>
      paused
        ? this.#stmt(
          "INSERT INTO destination_pause (name, paused_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        ).run(name, at).changes > 0
        : this.#stmt("DELETE FROM destination_pause WHERE name = ?").run(name).changes > 0
    );
  }

  queueStats(): Promise<QueueStats[]> {
    const rows = this.#stmt(
      "SELECT destination, COUNT(*) AS depth, MIN(created_at) AS oldest FROM deliveries " +
        "WHERE status IN ('pending', 'failed') GROUP BY destination",
    ).all() as Row[];
    return Promise.resolve(rows.map((row) => ({
      destination: String(row["destination"]),
      depth: Number(row["depth"]),
      oldestAt: row["oldest"] === null ? null : Number(row["oldest"]),
    })));
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    const result = { deliveries: 0, events: 0 };
    const deleteDeliveries = this.#stmt(
      "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE " +
        "(status = 'delivered' AND updated_at < ?) OR (status = 'dead' AND updated_at < ?) LIMIT ?) " +
        "RETURNING id",
    );
    const deleteAttempts = this.#stmt("DELETE FROM attempts WHERE delivery_id = ?");
    const deleteEvents = this.#stmt(
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE e.received_at < ? " +
        "AND e.routed_at IS NOT NULL AND NOT EXISTS " +
        "(SELECT 1 FROM deliveries d WHERE d.event_id = e.id) AND NOT EXISTS " +
        "(SELECT 1 FROM digest_items i WHERE i.event_id = e.id AND i.taken_at IS NULL) LIMIT ?)",
    );
    const deleteItems = this.#stmt(
      "DELETE FROM digest_items WHERE seq IN (SELECT seq FROM digest_items " +
        "WHERE taken_at IS NOT NULL AND taken_at < ? LIMIT ?)",
    );
    for (;;) {
      const removed = await this.#settle(() =>
        this.#transaction(() => {
          const rows = deleteDeliveries.all(
            options.deliveredBefore,
            options.deadBefore,
            options.batch,
          ) as Row[];
          for (const row of rows) deleteAttempts.run(row["id"]!);
          return rows.length;
        })
      );
      result.deliveries += removed;
      if (removed < options.batch) break;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (;;) {
      const removed = await this.#settle(() =>
        this.#transaction(() =>
          Number(deleteEvents.run(options.eventsBefore, options.batch).changes)
        )
      );
      result.events += removed;
      if (removed < options.batch) break;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (;;) {
      const removed = await this.#settle(() =>
        this.#transaction(() =>
          Number(deleteItems.run(options.eventsBefore, options.batch).changes)
        )
      );
      if (removed < options.batch) break;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return result;
  }

  /**
   * Resolves when the store can take events. After a failed write (a full disk, say) that takes a
   * write that reaches the disk: until one does, the store is not ready, with SQLite's reason.
   */
  ping(): Promise<void> {
    if (this.#writeError === null) return promised(() => void this.#stmt("SELECT 1").get());
    const probe = this.#stmt(
      "INSERT INTO health (id, checked_at) VALUES (1, ?) " +
        "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
    );
    return this.#settle(() => this.#transaction(() => void probe.run(Date.now())));
  }

  async close(): Promise<void> {
    const wal = this.#wal;
    this.#wal = null;
    await wal?.settled();
    // SQLite closes first: the WAL's descriptor stays open for as long as the connection is.
    if (this.#db.isOpen) {
      this.#statements.clear();
      this.#db.close();
    }
    await wal?.close();
  }
}

/**
 * Brings a database made by an older relay up to this schema: the facet columns are added in one
 * transaction with a note in store_meta, then filled in from the bodies a batch per transaction,
 * the note keeping the place. A relay stopped halfway carries on where it stopped at its next
 * start. Another connection opening the file at the same time waits on SQLite's lock.
 */
function migrate(db: DatabaseSync): void {
  const hasFacets = () =>
    (db.prepare("PRAGMA table_info(events)").all() as Row[]).some((c) => c["name"] === "deal_id");
  if (!hasFacets()) {
    write(db, () => {
      if (hasFacets()) return;
      for (const column of FACET_COLUMNS_DDL) db.exec(`ALTER TABLE events ADD COLUMN ${column}`);
      db.prepare("INSERT INTO store_meta (key, value) VALUES (?, '0') ON CONFLICT DO NOTHING")
        .run(BACKFILL_KEY);
    });
  }
  const marker = db.prepare("SELECT value FROM store_meta WHERE key = ?");
  const select = db.prepare("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
  const update = db.prepare(
    "UPDATE events SET deal_id = ?, collab_id = ?, influencer = ?, influencer_lower = ? " +
      "WHERE seq = ?",
  );
  const advance = db.prepare("UPDATE store_meta SET value = ? WHERE key = ?");
  const finish = db.prepare("DELETE FROM store_meta WHERE key = ?");
  for (let done = false; !done;) {
    done = write(db, () => {
      const row = marker.get(BACKFILL_KEY) as Row | undefined;
      if (row === undefined) return true;
      const rows = select.all(Number(row["value"]), BACKFILL_BATCH) as Row[];
      for (const event of rows) {
        const facets = facetsOf({ body: String(event["body"]) });
        update.run(
          facets.dealId,
          facets.collabId,
          facets.influencer,
          searchText(facets.influencer),
          event["seq"]!,
        );
      }
      if (rows.length < BACKFILL_BATCH) {
        finish.run(BACKFILL_KEY);
        return true;
      }
      advance.run(String(rows.at(-1)!["seq"]), BACKFILL_KEY);
      return false;
    });
  }
}

/** Runs `work` in one write transaction on a connection not yet wrapped in a store. */
function write<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * The deliveries table of a filter. One event has a handful of deliveries: its index beats any
 * that walks a destination's or a status's deliveries in order, which SQLite would pick to save
 * sorting those few.
 */
function deliveriesOf(filter: DeliveryFilter): string {
  return filter.eventId === undefined ? "deliveries d" : "deliveries d INDEXED BY deliveries_event";
}

/** Thrown inside closeDigest's transaction to roll it back: the window was closed already. */
const TAKEN = new Error("digest window already closed");

/** Runs synchronous work as a promise (a throw becomes a rejection); it waits for no flush. */
function promised<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}
