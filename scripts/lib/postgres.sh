# Makes a PostgreSQL server available on 127.0.0.1:5432 for the tests, installing and
# starting Debian's package when it is missing. Sets SWITCHBOARD_TEST_PG_URL on success.
# Sourced by scripts/test.sh and scripts/bench.sh.

PG_URL_DEFAULT="postgres://postgres:postgres@127.0.0.1:5432/postgres"

pg_ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432
}

ensure_postgres() {
    export SWITCHBOARD_TEST_PG_URL="${SWITCHBOARD_TEST_PG_URL:-$PG_URL_DEFAULT}"
    if [ "$SWITCHBOARD_TEST_PG_URL" != "$PG_URL_DEFAULT" ]; then
        return 0 # a server of the caller's choosing
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing PostgreSQL (apt-get install -y postgresql)"
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        else
            return 1
        fi
    fi
    if ! pg_ready; then
        local cluster
        cluster=$(pg_lsclusters -h 2>/dev/null | head -n1 | awk '{print $1" "$2}')
        if [ -z "$cluster" ]; then
            local version
            version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
            pg_createcluster "$version" main >/dev/null
            cluster="$version main"
        fi
        echo "==> starting PostgreSQL cluster $cluster"
        # shellcheck disable=SC2086
        pg_ctlcluster $cluster start || return 1
        for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
        pg_ready || return 1
    fi
    # The tests connect over TCP with a password; give the superuser a known local one.
    # A connection its client gave up on mid-handshake (a test's server killed, a pool
    # dropped) holds every `DROP DATABASE … WITH (FORCE)` until the server times the
    # handshake out: a minute by default, in which the tests' teardowns stalled.
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null || return 1
        runuser -u postgres -- psql -q -c "ALTER SYSTEM SET authentication_timeout = '5s'" \
            -c "SELECT pg_reload_conf()" >/dev/null || return 1
    fi
    return 0
}

# Drops test databases left behind by an interrupted run.
drop_stale_test_databases() {
    local dbs
    dbs=$(psql "$SWITCHBOARD_TEST_PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'sbt\_%'" 2>/dev/null || true)
    for db in $dbs; do
        psql "$SWITCHBOARD_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
