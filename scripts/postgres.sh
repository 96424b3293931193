# Sourced by the test script: exports DATABASE_URL for the Postgres tests. Uses
# DATABASE_URL if already set; otherwise starts a throwaway cluster (initdb + pg_ctl) on a
# free loopback port in a temp dir and stops it when the calling script exits. Installs
# Debian's postgresql package when the binaries are missing and we are root.
set -euo pipefail

if [ -n "${DATABASE_URL:-}" ]; then
  echo "postgres: using the DATABASE_URL given" >&2
  return 0
fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PG_BIN="$(pg_bin)"
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing postgresql (Debian package) ..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN="$(pg_bin)"
  else
    echo "PostgreSQL server binaries not found: install Debian's postgresql package or set DATABASE_URL" >&2
    exit 1
  fi
fi

PG_DIR="$(mktemp -d /tmp/telepay-pg.XXXXXX)"
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root.
  chown postgres:postgres "$PG_DIR"
  as_pg() { runuser -u postgres -- "$@"; }
fi
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$PG_DIR/server.log" >&2; exit 1; }

stop_postgres() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
# Chain onto whatever EXIT trap the caller set (moto's).
PREVIOUS_EXIT_TRAP="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap "stop_postgres; ${PREVIOUS_EXIT_TRAP:-true}" EXIT

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "postgres: throwaway cluster on 127.0.0.1:$PG_PORT" >&2
