// The stores' schema before the console (as of commit 81f7294): what an older relay left on disk,
// for the migration cases of store_contract_test.ts. Frozen: never edit to match the stores.

/** SQLite's tables and indexes before the event facets, pauses and the newest-first indexes. */
export const OLD_SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  order_key TEXT,
  body TEXT NOT NULL,
  routed_at INTEGER
);
CREATE INDEX IF NOT EXISTS events_unrouted ON events (seq) WHERE routed_at IS NULL;
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
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
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at INTEGER);
CREATE TABLE IF NOT EXISTS destination_state (
  name TEXT PRIMARY KEY,
  disabled_at INTEGER NOT NULL,
  reason TEXT NOT NULL
);
`;

/** PostgreSQL's tables and indexes before the event facets, pauses and the newest-first indexes. */
export const OLD_POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  order_key TEXT,
  body TEXT NOT NULL,
  routed_at BIGINT
);
CREATE INDEX IF NOT EXISTS events_unrouted ON events (seq) WHERE routed_at IS NULL;
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
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
CREATE TABLE IF NOT EXISTS destination_state (
  name TEXT PRIMARY KEY,
  disabled_at BIGINT NOT NULL,
  reason TEXT NOT NULL
);
`;
