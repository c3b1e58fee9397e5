// The durable store behind one interface: events as accepted, the deliveries routed from them,
// every attempt, and destination state. Implementations: store_sqlite.ts (embedded default).
// Nothing here needs SQLite-only SQL: leasing maps onto SELECT ... FOR UPDATE SKIP LOCKED.

/** An event to store, as accepted from Influencer Hero. */
export interface NewEvent {
  id: string;
  type: string;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  /** The raw body, exactly as signed. */
  body: string;
  /** SHA-256 of the body in hex: identical bodies are one event. */
  fingerprint: string;
  /** The key whose events are delivered in order, if any. */
  orderKey: string | null;
  /**
   * The deliveries routed from it at ingest. When given, a new event is stored already routed,
   * its deliveries in the same transaction; a duplicate stores neither. When absent, the
   * worker routes the event later.
   */
  deliveries?: NewDelivery[];
}

/** The outcome of storing one event. */
export interface InsertResult {
  id: string;
  type: string;
  /** True when an identical body was already stored; `id` is then the first one's. */
  duplicate: boolean;
}

/** A stored event. */
export interface StoredEvent extends NewEvent {
  /** When the event was turned into deliveries; null until routed. */
  routedAt: number | null;
}

/** An event as a list shows it: everything but the body (and its fingerprint). */
export type EventSummary = Omit<StoredEvent, "body" | "fingerprint" | "deliveries">;

/** The columns of an {@linkcode EventSummary}, so list queries never read a body. */
export const EVENT_SUMMARY_COLUMNS = "id, type, received_at, order_key, routed_at";

/** Where a delivery stands. */
export type DeliveryStatus = "pending" | "failed" | "dead" | "delivered";

/** A delivery to create when routing an event. */
export interface NewDelivery {
  id: string;
  eventId: string;
  destination: string;
  route: string;
  orderKey: string | null;
}

/** A stored delivery. */
export interface Delivery extends NewDelivery {
  eventType: string;
  status: DeliveryStatus;
  /** Attempts made that count against the retry policy. */
  attempts: number;
  /** When the next attempt is due (ms), for pending and failed deliveries. */
  nextAt: number;
  /** When the current retry cycle began: creation, or the last replay. */
  cycleAt: number;
  createdAt: number;
  updatedAt: number;
  lastError: string | null;
}

/** A delivery leased to a worker, with what is needed to send it. */
export interface LeasedDelivery extends Delivery {
  eventReceivedAt: number;
  body: string;
}

/** One attempt, or an operator's replay, as recorded in a delivery's history. */
export interface Attempt {
  deliveryId: string;
  at: number;
  /** Milliseconds the attempt took. */
  ms: number;
  outcome: "delivered" | "retry" | "failed" | "dead" | "disabled" | "replay" | "abandoned";
  httpStatus: number | null;
  error: string | null;
}

/** The result of an attempt to write back, releasing the lease. */
export interface Completion {
  deliveryId: string;
  status: DeliveryStatus;
  attempts: number;
  nextAt: number;
  lastError: string | null;
  attempt: Attempt;
}

/** Options of {@linkcode Store.lease}. */
export interface LeaseOptions {
  now: number;
  limit: number;
  /** Lease length in ms; an unfinished delivery is leasable again after it. */
  leaseMs: number;
  owner: string;
  /** Only lease a delivery when no earlier one of its order key is still unfinished. */
  ordered: boolean;
}

/** Filter of {@linkcode Store.listDeliveries}. */
export interface DeliveryFilter {
  status?: DeliveryStatus;
  destination?: string;
  eventType?: string;
  /** Only deliveries created at or after this time (ms). */
  since?: number;
  limit?: number;
}

/** A destination disabled because its endpoint said it is gone. */
export interface DisabledDestination {
  name: string;
  at: number;
  reason: string;
}

/** Per-destination queue figures, for metrics. */
export interface QueueStats {
  destination: string;
  /** Pending and failed deliveries. */
  depth: number;
  /** Creation time of the oldest unfinished delivery (ms), or null. */
  oldestAt: number | null;
}

/** Counts of records removed by {@linkcode Store.prune}. */
export interface PruneResult {
  deliveries: number;
  events: number;
}

/** Options of {@linkcode Store.prune}. */
export interface PruneOptions {
  /** Delivered deliveries last updated before this time (ms) are removed. */
  deliveredBefore: number;
  /** Dead deliveries last updated before this time (ms) are removed. */
  deadBefore: number;
  /** Events received before this (ms) with no remaining deliveries are removed. */
  eventsBefore: number;
  /** Rows removed per transaction, so pruning never stalls intake. */
  batch: number;
}

/** What a store says about itself, so the relay never asks which implementation it is. */
export interface StoreFacts {
  /**
   * True when one relay owns the store (SQLite): every lease found at start is a dead relay's and
   * is released. False when relays share it (PostgreSQL): live leases are left to expire.
   */
  soleOwner: boolean;
  /** The durability setting in force, as logged at start ({ synchronous: "FULL" }, …). */
  durability: Record<string, string>;
  /** Settings that put acknowledged events at risk, to be logged as warnings. */
  warnings: string[];
}

/** The durable store. */
export interface Store {
  /** Ownership and durability, read from the database itself. */
  facts(): StoreFacts;
  /** Stores events in one transaction (group commit); resolves once it is durable. */
  insertEvents(events: readonly NewEvent[]): Promise<InsertResult[]>;
  /** Events not yet routed, oldest first. */
  unroutedEvents(limit: number): Promise<StoredEvent[]>;
  /** Records deliveries for routed events and marks them routed, in one transaction. */
  routeEvents(
    routed: ReadonlyArray<{ eventId: string; deliveries: NewDelivery[] }>,
    at: number,
  ): Promise<void>;
  /** Leases due deliveries of one destination, oldest first. */
  lease(destination: string, options: LeaseOptions): Promise<LeasedDelivery[]>;
  /** Writes attempt results and releases their leases, in one transaction. */
  complete(completions: readonly Completion[]): Promise<void>;
  /**
   * Releases leases without recording an attempt (on shutdown), all of them when `deliveryIds`
   * is null; the deliveries are due again from `at`.
   */
  release(deliveryIds: readonly string[] | null, at: number): Promise<void>;
  listDeliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  getDelivery(id: string): Promise<{ delivery: Delivery; attempts: Attempt[] } | null>;
  getEvent(id: string): Promise<StoredEvent | null>;
  /** The newest events first, without their bodies. */
  listEvents(options: { type?: string; limit?: number }): Promise<EventSummary[]>;
  /**
   * Makes deliveries due now again with a fresh retry cycle, recording a "replay" entry in each
   * one's history; history is never rewritten. Skips deliveries leased right now. Returns the ids
   * replayed.
   */
  replay(ids: readonly string[], at: number): Promise<string[]>;
  disabledDestinations(): Promise<DisabledDestination[]>;
  /** Disables a destination (reason given) or enables it (null). */
  setDisabled(name: string, reason: string | null, at: number): Promise<boolean>;
  queueStats(): Promise<QueueStats[]>;
  prune(options: PruneOptions): Promise<PruneResult>;
  /** Throws when the store cannot be used (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A stored event from a row with the stores' shared column names. */
export function toEvent(row: Record<string, unknown>): StoredEvent {
  return {
    id: String(row["id"]),
    type: String(row["type"]),
    receivedAt: Number(row["received_at"]),
    body: String(row["body"]),
    fingerprint: String(row["fingerprint"]),
    orderKey: row["order_key"] === null ? null : String(row["order_key"]),
    routedAt: row["routed_at"] === null ? null : Number(row["routed_at"]),
  };
}

/** An event summary from a row of {@linkcode EVENT_SUMMARY_COLUMNS}. */
export function toEventSummary(row: Record<string, unknown>): EventSummary {
  return {
    id: String(row["id"]),
    type: String(row["type"]),
    receivedAt: Number(row["received_at"]),
    orderKey: row["order_key"] === null ? null : String(row["order_key"]),
    routedAt: row["routed_at"] === null ? null : Number(row["routed_at"]),
  };
}

/** A delivery from a row with the stores' shared column names. */
export function toDelivery(row: Record<string, unknown>): Delivery {
  return {
    id: String(row["id"]),
    eventId: String(row["event_id"]),
    eventType: String(row["event_type"]),
    destination: String(row["destination"]),
    route: String(row["route"]),
    orderKey: row["order_key"] === null ? null : String(row["order_key"]),
    status: String(row["status"]) as Delivery["status"],
    attempts: Number(row["attempts"]),
    nextAt: Number(row["next_at"]),
    cycleAt: Number(row["cycle_at"]),
    createdAt: Number(row["created_at"]),
    updatedAt: Number(row["updated_at"]),
    lastError: row["last_error"] === null ? null : String(row["last_error"]),
  };
}
