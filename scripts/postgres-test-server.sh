#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster on loopback, then remove the cluster.
#
#   scripts/postgres-test-server.sh COMMAND [ARGS...]
#
# - Installs Debian's `postgresql` package with apt-get when no server binaries are found
#   (needs root; the CI machine runs as root).
# - initdb in a new temporary folder, with an ICU en-US default collation on purpose: a
#   linguistic collation orders 'a' < 'B' and ignores punctuation first, so the byte-order
#   tie-breaks of the dbt project (macro byte_order, COLLATE "C") are really exercised.
# - Starts the server on a free port of 127.0.0.1 only (Unix socket inside the temporary folder),
#   as the `postgres` system user when run as root (PostgreSQL refuses to run as root).
# - Runs COMMAND with PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE exported (the variables
#   the dbt profile's `postgres` output and rait_registry.engines read), and exits with its status.
# - Stops the server (fast, then immediate) and deletes the folder on exit, also on Ctrl-C / TERM.
#
# Environment: PG_TEST_START_TIMEOUT (seconds to wait for the server, default 60).
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]  (runs COMMAND against a throwaway PostgreSQL on 127.0.0.1)" >&2
    exit 2
fi

log() { echo "postgres-test-server: $*" >&2; }

find_bindir() {
    local dir
    # newest major version first
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        log "no PostgreSQL server found under /usr/lib/postgresql; install it: sudo apt-get install -y postgresql"
        exit 1
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q postgresql >/dev/null
    }
    BINDIR="$(find_bindir)" || { log "postgresql installed but no server binaries found"; exit 1; }
fi

# As root, run the server tools as the unprivileged `postgres` user (created by the package).
AS_SERVER=()
if [[ "$(id -u)" -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    AS_SERVER=(runuser -u postgres --)
fi

# The server user must reach the cluster folder: try $TMPDIR, then /tmp.
TMP_ROOT=""
for base in "${TMPDIR:-/tmp}" /tmp; do
    candidate="$(mktemp -d "$base/rait-pg.XXXXXX")" || continue
    if [[ ${#AS_SERVER[@]} -gt 0 ]]; then
        chown postgres: "$candidate"
        if ! "${AS_SERVER[@]}" test -w "$candidate"; then
            rm -rf "$candidate"
            continue
        fi
    fi
    TMP_ROOT="$candidate"
    break
done
if [[ -z "$TMP_ROOT" ]]; then
    log "no temporary folder that the postgres user can write to; set TMPDIR to one"
    exit 1
fi
DATA="$TMP_ROOT/data"
SOCKET_DIR="$TMP_ROOT/socket"
if [[ ${#AS_SERVER[@]} -gt 0 ]]; then
    "${AS_SERVER[@]}" mkdir -p "$SOCKET_DIR"
else
    mkdir -p "$SOCKET_DIR"
fi

STARTED=0
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ $STARTED -eq 1 ]]; then
        "${AS_SERVER[@]}" "$BINDIR/pg_ctl" -D "$DATA" -m fast -t 30 -w stop >/dev/null 2>&1 \
            || "${AS_SERVER[@]}" "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 \
            || true
    fi
    rm -rf "$TMP_ROOT"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 - <<'EOF'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

USER_NAME=rait
DB_NAME=rait
INITDB_LOCALE=(--locale-provider=icu --icu-locale=en-US --locale=C.UTF-8)
if [[ "$("$BINDIR/initdb" --help 2>/dev/null)" != *--locale-provider* ]]; then
    INITDB_LOCALE=(--locale=C.UTF-8)  # PostgreSQL < 15: no ICU default collation
fi
"${AS_SERVER[@]}" "$BINDIR/initdb" -D "$DATA" -U "$USER_NAME" --auth=trust --encoding=UTF8 \
    "${INITDB_LOCALE[@]}" >"$TMP_ROOT/initdb.log" 2>&1 \
    || { cat "$TMP_ROOT/initdb.log" >&2; log "initdb failed"; exit 1; }

START_TIMEOUT="${PG_TEST_START_TIMEOUT:-60}"
for attempt in 1 2 3 4 5; do
    PORT="$(free_port)"
    if "${AS_SERVER[@]}" "$BINDIR/pg_ctl" -D "$DATA" -l "$TMP_ROOT/server.log" -w -t "$START_TIMEOUT" \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SOCKET_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40" \
        start >/dev/null 2>&1; then
        STARTED=1
        break
    fi
    log "server did not start on port $PORT (attempt $attempt); server log:"
    tail -n 5 "$TMP_ROOT/server.log" >&2 || true
done
if [[ $STARTED -ne 1 ]]; then
    log "giving up: PostgreSQL did not start"
    exit 1
fi

"$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB_NAME"
log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (database $DB_NAME, user $USER_NAME)"

export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER="$USER_NAME" PGPASSWORD="" PGDATABASE="$DB_NAME"
set +e
"$@"
status=$?
set -e
exit "$status"
