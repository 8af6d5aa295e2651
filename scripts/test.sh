#!/usr/bin/env bash
# Runs every test: unit tests, the black-box suite against SQLite and against PostgreSQL, and
# the portal's browser tests in headless Chromium. Installs what is missing (PostgreSQL, Redis,
# the WebAssembly toolchain, Chromium) and builds the portal first. With CI=true a missing PostgreSQL fails
# the run; elsewhere it is reported loudly and the PostgreSQL pass is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/redis.sh
source scripts/lib/redis.sh

if ! ensure_redis_server; then
    echo "ERROR: redis-server is needed by the tests (shared rate limits) and could not be installed." >&2
    exit 1
fi

have_pg=0
if ensure_postgres; then
    have_pg=1
    drop_stale_test_databases
elif [ "${CI:-}" = "true" ]; then
    echo "ERROR: PostgreSQL is required in CI but could not be installed or started." >&2
    exit 1
fi

scripts/setup.sh --browser
scripts/build-portal.sh

echo "==> tests (unit tests, the API suite on SQLite, and the browser tests)"
# Built first, then flushed: a cold build leaves hundreds of MiB of dirty pages, and written
# back while the tests run they stalled the databases' fsyncs for up to a second each (a
# clean-clone run's 100,000-row import on PostgreSQL went 30 times slower than a warm one).
cargo test --workspace --no-run
sync
SWITCHBOARD_TEST_DB=sqlite SWITCHBOARD_BROWSER_TESTS=1 cargo test --workspace

if [ "$have_pg" = 1 ]; then
    echo "==> API suite on PostgreSQL"
    # --workspace, as above: the same feature set, so the build of the first pass is reused.
    SWITCHBOARD_TEST_DB=postgres cargo test --workspace --test api
    drop_stale_test_databases
else
    cat >&2 <<'MSG'

  ###########################################################################
  #  PostgreSQL tests were NOT run: no PostgreSQL server could be installed  #
  #  or started on 127.0.0.1:5432. Only SQLite was tested.                   #
  ###########################################################################

MSG
fi
