// The durable store behind one interface: events as accepted, the deliveries routed from them,
// every attempt, and destination state. Implementations: store_sqlite.ts (embedded default).
// Nothing here needs SQLite-only SQL: leasing maps onto SELECT ... FOR UPDATE SKIP LOCKED.

import { eventFacets, type Facets } from "./events.ts";

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
  /** The digests it joins, routed at ingest with its deliveries (see {@linkcode NewDigestItem}). */
  digests?: NewDigestItem[];
  /** What the console searches by, taken from the payload by the receive step. */
  facets?: EventFacets;
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

/**
 * The events' search indexes, the same SQL on both stores, run after a migration has added the
 * columns they cover. Newest-first pages walk (received_at, id) backwards; events_received, on
 * received_at alone, is a prefix of it.
 */
export const EVENT_INDEXES = `
CREATE INDEX IF NOT EXISTS events_newest ON events (received_at, id);
DROP INDEX IF EXISTS events_received;
CREATE INDEX IF NOT EXISTS events_type_newest ON events (type, received_at, id);
CREATE INDEX IF NOT EXISTS events_deal ON events (deal_id, received_at, id)
  WHERE deal_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_collab ON events (collab_id, received_at, id)
  WHERE collab_id IS NOT NULL;
`;

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

/** An event's place in a digest route's next message, recorded instead of a delivery. */
export interface NewDigestItem {
  id: string;
  eventId: string;
  route: string;
  destination: string;
}

/** A digest item with its event, as the digest scheduler reads it. */
export interface DigestItem extends NewDigestItem {
  eventType: string;
  /** The event's receipt time (ms): which window it falls in. */
  receivedAt: number;
  body: string;
}

/** The items of one route and destination not yet taken by a digest. */
export interface OpenDigest {
  route: string;
  destination: string;
  /** The earliest item's receipt time (ms). */
  firstAt: number;
  count: number;
}

/** Query of {@linkcode Store.digestItems}. */
export interface DigestItemQuery {
  route: string;
  destination: string;
  /** Received at or after (ms). */
  since?: number;
  /** Received before (ms). */
  before: number;
  limit: number;
  /** Items already taken by a digest too (by default only open ones). */
  taken?: boolean;
}

/** What routing an event gives: deliveries, and places in digests. */
export interface Routing {
  deliveries: NewDelivery[];
  digests: NewDigestItem[];
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
  /** Only the deliveries routed from this event. */
  eventId?: string;
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
  /**
   * Events received before this (ms) with no remaining deliveries and in no open digest are
   * removed, and digest items taken before it.
   */
  eventsBefore: number;
  /** Rows removed per transaction, so pruning never stalls intake. */
  batch: number;
}

/** What the console and the API search events by; every field narrows, all are optional. */
export interface EventQuery {
  type?: string;
  /** Events with at least one delivery in this status. */
  status?: DeliveryStatus;
  /** Events with at least one delivery to this destination. */
  destination?: string;
  /** Events whose payload's `deal_id` or `collab_id` is this value. */
  dealOrCollab?: string;
  /** Events whose influencer (`deal_info.full_name`) contains this, ignoring case. */
  influencer?: string;
  /** Received at or after (ms). */
  since?: number;
  /** Received before (ms). */
  until?: number;
  /** Keyset cursor: only events after this one in newest-first order. */
  after?: EventCursor;
  limit: number;
}

/** Where a newest-first page of events ended. */
export interface EventCursor {
  receivedAt: number;
  id: string;
}

/** What searches the payload: taken from it once, at insert ({@linkcode eventFacets}). */
export type EventFacets = Facets;

/** Where a newest-first page of deliveries ended. */
export interface DeliveryCursor {
  createdAt: number;
  id: string;
}

/** Deliveries of one destination over a window, for the overview. */
export interface DestinationActivity {
  destination: string;
  /** Attempts delivered in the last hour and the last 24 hours. */
  deliveredHour: number;
  deliveredDay: number;
  /** Attempts that failed (retry, failed, dead, disabled) in the last hour and 24 hours. */
  failedHour: number;
  failedDay: number;
  lastSuccessAt: number | null;
  lastError: { at: number; error: string; httpStatus: number | null } | null;
}

/** Events of one type received in one bucket of time. */
export interface EventCount {
  type: string;
  /** The bucket's start (ms), a multiple of the bucket size. */
  bucket: number;
  count: number;
}

/** A destination paused by hand: nothing is attempted until it is resumed. */
export interface PausedDestination {
  name: string;
  at: number;
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
    routed: ReadonlyArray<
      { eventId: string; deliveries: NewDelivery[]; digests?: NewDigestItem[] }
    >,
    at: number,
  ): Promise<void>;
  /** Open digest items grouped by route and destination. */
  openDigests(): Promise<OpenDigest[]>;
  /** One route and destination's digest items in a time range, oldest first, with their events. */
  digestItems(query: DigestItemQuery): Promise<DigestItem[]>;
  /**
   * Closes a digest window in one transaction: stores its digest event with its deliveries and
   * marks the items taken by it. False, with nothing written, when the event is a duplicate (its
   * fingerprint names the window) or another relay took an item first.
   */
  closeDigest(event: NewEvent, itemIds: readonly string[]): Promise<boolean>;
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
  /**
   * Events matching every field of the query, newest first (received_at, then id), with their
   * facets. `status` and `destination` together ask for one delivery with both.
   */
  searchEvents(query: EventQuery): Promise<EventSummary[]>;
  /** Deliveries matching the filter, newest first (created_at, then id), after the cursor. */
  searchDeliveries(filter: DeliveryFilter & { after?: DeliveryCursor }): Promise<Delivery[]>;
  /**
   * Every destination with attempts since `now - 24 h`: delivered and failed counted over the
   * last hour and the last 24 hours, and its last success and last error within those 24 hours.
   */
  destinationActivity(now: number): Promise<DestinationActivity[]>;
  /**
   * Events received from `since`, counted per type and per bucket (`floor(receivedAt / bucketMs)
   * * bucketMs`), oldest bucket first; buckets with none are left out.
   */
  eventCounts(since: number, bucketMs: number): Promise<EventCount[]>;
  disabledDestinations(): Promise<DisabledDestination[]>;
  /** Disables a destination (reason given) or enables it (null). */
  setDisabled(name: string, reason: string | null, at: number): Promise<boolean>;
  /** Destinations paused by hand (durable across restarts). */
  pausedDestinations(): Promise<PausedDestination[]>;
  /** Pauses (true) or resumes (false) a destination; false when nothing changed. */
  setPaused(name: string, paused: boolean, at: number): Promise<boolean>;
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

/**
 * An event summary from a row of {@linkcode EVENT_SUMMARY_COLUMNS}, with its facets when the row
 * has {@linkcode FACET_COLUMNS}.
 */
export function toEventSummary(row: Record<string, unknown>): EventSummary {
  const summary: EventSummary = {
    id: String(row["id"]),
    type: String(row["type"]),
    receivedAt: Number(row["received_at"]),
    orderKey: row["order_key"] === null ? null : String(row["order_key"]),
    routedAt: row["routed_at"] === null ? null : Number(row["routed_at"]),
  };
  if ("deal_id" in row) {
    const text = (value: unknown) => value === null || value === undefined ? null : String(value);
    summary.facets = {
      dealId: text(row["deal_id"]),
      collabId: text(row["collab_id"]),
      influencer: text(row["influencer"]),
    };
  }
  return summary;
}

/** The facet columns {@linkcode Store.searchEvents} answers with. */
export const FACET_COLUMNS = "deal_id, collab_id, influencer";

const NO_FACETS: EventFacets = { dealId: null, collabId: null, influencer: null };

/** An event's facets: as the receive step found them, else read from its body. */
export function facetsOf(event: Pick<NewEvent, "body" | "facets">): EventFacets {
  if (event.facets !== undefined) return event.facets;
  try {
    const payload = JSON.parse(event.body);
    if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
      return eventFacets(payload);
    }
  } catch {
    // a body that is no JSON object has no facets
  }
  return NO_FACETS;
}

/** The lower-cased influencer name stored beside it: what a case-insensitive search matches. */
export function searchText(influencer: string | null): string | null {
  return influencer === null ? null : influencer.toLowerCase();
}

/** A LIKE pattern (with `ESCAPE '\\'`) matching `text` anywhere, ignoring case. */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** An event cursor as the API and the console write it: `<receivedAt>.<id>`. */
export function formatEventCursor(cursor: EventCursor): string {
  return `${cursor.receivedAt}.${cursor.id}`;
}

/** Reads a cursor `<time>.<id>` (an event's or a delivery's); null when malformed. */
export function parseCursor(text: string): { at: number; id: string } | null {
  const match = /^([0-9]{1,16})\.(.{1,200})$/.exec(text);
  if (match === null) return null;
  return { at: Number(match[1]), id: match[2]! };
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

/** The columns of a {@linkcode DigestItem}: digest_items `i` joined with its event `e`. */
export const DIGEST_ITEM_COLUMNS =
  "i.id, i.event_id, i.route, i.destination, i.received_at, e.type, e.body";

/** A digest item from a row of {@linkcode DIGEST_ITEM_COLUMNS}. */
export function toDigestItem(row: Record<string, unknown>): DigestItem {
  return {
    id: String(row["id"]),
    eventId: String(row["event_id"]),
    route: String(row["route"]),
    destination: String(row["destination"]),
    receivedAt: Number(row["received_at"]),
    eventType: String(row["type"]),
    body: String(row["body"]),
  };
}

/** An open digest from a row of route, destination, first_at and count. */
export function toOpenDigest(row: Record<string, unknown>): OpenDigest {
  return {
    route: String(row["route"]),
    destination: String(row["destination"]),
    firstAt: Number(row["first_at"]),
    count: Number(row["count"]),
  };
}

/** A bucket size in whole milliseconds, at least 1. */
export function bucketSize(bucketMs: number): number {
  if (!Number.isFinite(bucketMs) || bucketMs < 1) {
    throw new RangeError(`Cannot count events in buckets of ${bucketMs} ms: expected 1 or more`);
  }
  return Math.floor(bucketMs);
}

/** An event count from a row of type, bucket and count. */
export function toCount(row: Record<string, unknown>): EventCount {
  return { type: String(row["type"]), bucket: Number(row["bucket"]), count: Number(row["count"]) };
}

/**
 * Destination activity from the stores' two queries: counts per destination (delivered_hour,
 * delivered_day, failed_hour, failed_day, last_success) and each one's latest failed attempt.
 */
export function toActivity(
  counts: ReadonlyArray<Record<string, unknown>>,
  errors: ReadonlyArray<Record<string, unknown>>,
): DestinationActivity[] {
  const last = new Map(errors.map((row) => [String(row["destination"]), row]));
  return counts.map((row) => {
    const destination = String(row["destination"]);
    const error = last.get(destination);
    return {
      destination,
      deliveredHour: Number(row["delivered_hour"] ?? 0),
      deliveredDay: Number(row["delivered_day"] ?? 0),
      failedHour: Number(row["failed_hour"] ?? 0),
      failedDay: Number(row["failed_day"] ?? 0),
      lastSuccessAt: row["last_success"] === null ? null : Number(row["last_success"]),
      lastError: error === undefined ? null : {
        at: Number(error["at"]),
        error: error["error"] === null ? "" : String(error["error"]),
        httpStatus: error["http_status"] === null ? null : Number(error["http_status"]),
      },
    };
  });
}
