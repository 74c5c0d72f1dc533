#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the results-store tests, on 127.0.0.1 only.
#
#   eval "$(bash .ci/start-postgres.sh)"        # prints: export TESTBENCH_PG_URL=...
#   bash .ci/start-postgres.sh stop              # stops it and removes its data folder
#
# Installs Debian's `postgresql` package when the server binaries are missing (needs root),
# creates a new cluster in a temporary folder owned by the `postgres` user when run as root
# (the server refuses to run as root), with user/password/database testbench/testbench/
# testbench on a free port, and starts it. Only the export line goes to stdout; progress
# and errors go to stderr. State (data folder, port) is kept in $TESTBENCH_PG_STATE
# (default /tmp/testbench-pg.state) so `stop` finds it.
set -euo pipefail

STATE="${TESTBENCH_PG_STATE:-/tmp/testbench-pg.state}"
PG_USER=testbench
PG_PASSWORD=testbench
PG_DB=testbench

log() { echo "start-postgres: $*" >&2; }

pg_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
    fi
}

# Run a command as the cluster owner: the postgres user when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_cluster() {
    [ -f "$STATE" ] || { log "nothing to stop ($STATE not found)"; return 0; }
    # shellcheck disable=SC1090
    . "$STATE"
    local bindir
    bindir="$(pg_bindir)"
    if [ -n "${PGDATA_DIR:-}" ] && [ -d "$PGDATA_DIR" ]; then
        as_owner "$bindir/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 || true
        rm -rf "$(dirname "$PGDATA_DIR")"
    fi
    rm -f "$STATE"
    log "stopped"
}

if [ "${1:-start}" = stop ]; then
    stop_cluster
    exit 0
fi

BINDIR="$(pg_bindir)"
if [ -z "$BINDIR" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL server binaries not found; install them: sudo apt-get install -y postgresql"
        exit 1
    fi
    log "installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # policy-rc.d: do not start the distribution's own cluster; we start our own below.
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BINDIR="$(pg_bindir)"
    [ -n "$BINDIR" ] || { log "postgresql installed but initdb/pg_ctl not found"; exit 1; }
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    log "creating the postgres system user"
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# A previous cluster of ours still running? Stop it first: one throwaway server at a time.
[ -f "$STATE" ] && stop_cluster

BASE="$(mktemp -d "${TMPDIR:-/tmp}/testbench-pg.XXXXXX")"
PGDATA_DIR="$BASE/data"
PWFILE="$BASE/pwfile"
printf '%s\n' "$PG_PASSWORD" > "$PWFILE"
chmod 0755 "$BASE"
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$BASE"
fi

PORT="$(python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
)"

log "initdb in $PGDATA_DIR ($("$BINDIR/postgres" --version))"
as_owner "$BINDIR/initdb" -D "$PGDATA_DIR" -U "$PG_USER" --pwfile="$PWFILE" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
    || { cat "$BASE/initdb.log" >&2; exit 1; }

cat > "$STATE" <<EOF
PGDATA_DIR='$PGDATA_DIR'
PG_PORT='$PORT'
EOF

as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -l "$BASE/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $BASE -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2 || { cat "$BASE/server.log" >&2; exit 1; }

PGPASSWORD="$PG_PASSWORD" "$BINDIR/psql" -q -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d postgres \
    -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB" >&2

log "PostgreSQL listening on 127.0.0.1:$PORT (stop with: bash .ci/start-postgres.sh stop)"
echo "export TESTBENCH_PG_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/$PG_DB"
