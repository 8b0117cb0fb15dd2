#!/usr/bin/env bash
# A throwaway PostgreSQL for the catalog tests, on a unix socket only (no TCP port).
#   scripts/test_postgres.sh start   # prints the connection URI
#   scripts/test_postgres.sh stop
set -euo pipefail
DIR="${SLUICE_TEST_PG_DIR:-/tmp/sluice-test-pg-$(id -u)}"
PORT="${SLUICE_TEST_PG_PORT:-54329}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$BIN" ] || { echo "test_postgres: PostgreSQL is not installed (make setup installs it)" >&2; exit 1; }
# PostgreSQL refuses to run as root: use the postgres account Debian's package creates.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    if [ -f "$DIR/data/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -A trust -U sluice >"$DIR/initdb.log" 2>&1
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
      -o "-k $DIR -h '' -p $PORT -c fsync=off -c max_connections=100" start >/dev/null
    echo "postgresql:///postgres?host=$DIR&port=$PORT&user=sluice"
    ;;
  stop)
    if [ -f "$DIR/data/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null; fi
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
