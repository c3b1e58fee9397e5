#!/usr/bin/env bash
# A throwaway PostgreSQL for the store tests: installs PostgreSQL from apt when it is missing,
# starts a private cluster listening on 127.0.0.1 only (its own data folder and port, so it never
# touches a system cluster), creates a test user and database, and prints the line to evaluate:
#
#   eval "$(.ci/postgres.sh)"        # exports HERO_RELAY_TEST_POSTGRES_URL
#   .ci/postgres.sh stop             # stops the cluster (its data folder stays for the next start)
#
# Idempotent: a second call finds the cluster running and prints the same line. Progress goes to
# stderr; stdout carries only the export line. The URL is also written to "$DIR/url".
set -euo pipefail

PORT=${HERO_RELAY_PG_PORT:-55432}
DIR=${HERO_RELAY_PG_DIR:-/tmp/hero-relay-pg}
DB=hero_relay_test
ROLE=hero_relay_test
PASSWORD=test-pw-5e1b7c
URL="postgres://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DB}"

log() { echo "postgres.sh: $*" >&2; }

# The newest installed server's binaries (Debian keeps them out of PATH).
server_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

BIN=$(server_bin)

if [ "${1:-}" = "stop" ]; then
  if [ -n "$BIN" ] && [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2
  fi
  exit 0
fi

if [ -z "$BIN" ]; then
  log "installing PostgreSQL from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(server_bin)
  [ -n "$BIN" ] || { log "PostgreSQL is still missing after apt-get install"; exit 1; }
fi

if ! "$BIN/pg_isready" -q -h "$DIR" -p "$PORT"; then
  mkdir -p "$DIR"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$DIR"
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    log "creating a cluster in $DIR/data"
    # Local socket: trust (for this script); TCP: password (scram), as a real deployment.
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR" >&2 ||
    { log "the server did not start; its log:"; tail -n 20 "$DIR/server.log" >&2; exit 1; }
fi

admin() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres "$@"; }
if [ -z "$(admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" ]; then
  admin -c "CREATE ROLE $ROLE"
fi
admin -c "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
if [ -z "$(admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
  admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

echo "$URL" >"$DIR/url"
log "ready: $DB on 127.0.0.1:$PORT"
echo "export HERO_RELAY_TEST_POSTGRES_URL=$URL"
