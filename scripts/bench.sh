#!/usr/bin/env bash
# The benchmark suite (see BENCHMARKS.md). Builds in release mode; for each backend, seeds a
# fresh database (default 10,000 patients across 5 clients × 4 locations, 5 tests each), starts
# the server, measures start-up to ready, then drives each scenario with wrk from a separate
# process and records requests/s, p50/p99, errors, the CPU time each request cost (the
# server's process, and on PostgreSQL the database's processes, over the run divided by its
# requests; q2h's includes the hostile load's), the server's peak RSS, and /healthz in the
# same run. Results go to stdout and target/bench/. Scenario q2h is Q2 again while a second
# wrk sends hostile documents (bench/graphql.lua) that must all be refused: its row is Q2's,
# and the hostile load's own figures follow the table. Scenarios m1w and wh are M1 with a
# webhook endpoint subscribed to its events, delivered to a local receiver (bench/receiver.py):
# m1w at full speed (M1's cost of webhooks, and the delivery rate while the backlog drains),
# wh at a steady ~1,000 creates/s (PAUSE_MS) for the delay from commit to arrival. Scenario
# import, after the others on a freshly started server, imports IMPORT_ROWS (default 100,000)
# and then four times as many patients through POST /imports/patients (bench/import.py): the
# job's rows per second, and the server's peak RSS after each (flat: the upload is streamed).
#
#   scripts/bench.sh [--patients N] [--backends "sqlite postgres"] [--duration S] [--connections C]
#                    [--scenarios "q2 q1 …"] [--bin PATH]   (--bin: run that binary, no build; for A/B)
#                    [--credential key|token]   (token: a partner app's OAuth access token instead of the key)
#   scripts/bench.sh --portal   the portal's first visit instead: bytes transferred and time to
#                               the login form in headless Chromium with a cold cache
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/toolchain.sh
source scripts/lib/toolchain.sh

patients=10000
backends="sqlite postgres"
duration=10
connections=32
scenarios="healthz q2 q2h q1 m1 m2 m1w wh import"
import_rows=${IMPORT_ROWS:-100000}
while [ $# -gt 0 ]; do
    case "$1" in
        --patients) patients=$2; shift 2 ;;
        --backends) backends=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --scenarios) scenarios=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --portal) portal=1; shift ;;
        --credential) credential=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

mkdir -p target/bench
if [ "${portal:-0}" = 1 ]; then
    # The same measurement the browser tests make (tests/browser/assets.rs), on a fresh
    # release build of the portal; the tests assert its byte budget, this records the figures.
    report="target/bench/$(date -u +%Y%m%dT%H%M%SZ)-portal.md"
    scripts/build-portal.sh | tail -1 | tee "$report"
    scripts/setup.sh --browser
    SWITCHBOARD_BROWSER_TESTS=1 cargo test -p switchboard-tests --test browser first_visit \
        -- --nocapture 2>&1 | grep '^first visit' | tee -a "$report"
    echo "report: $report"
    exit 0
fi
command -v wrk >/dev/null 2>&1 || apt_install wrk
if [ -z "${bin:-}" ]; then
    cargo build --release --bin switchboard
    bin=target/release/switchboard
fi
# Secrets at rest are sealed under a master key, which PostgreSQL needs configured.
SWITCHBOARD__SECRETS__MASTER_KEY=${SWITCHBOARD__SECRETS__MASTER_KEY:-$("$bin" keys generate)}
export SWITCHBOARD__SECRETS__MASTER_KEY
# The build leaves hundreds of MiB of dirty pages; written back during the first start-up they
# stalled its few fsyncs (326 and 692 ms against ~30 ms otherwise). Flush them first.
sync
report="target/bench/$(date -u +%Y%m%dT%H%M%SZ)-${patients}.md"

now_ms() { date +%s%3N; }

# A run that stops early (an error, ^C) leaves no server behind to skew the next one.
server_pid=""
rx_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; [ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null; true' EXIT

start_server() { # url logfile → sets server_pid, port, ready_ms
    local url=$1 log=$2 t0
    t0=$(now_ms)
    DATABASE_URL=$url PORT=0 RUST_LOG=warn \
        SWITCHBOARD__WEBHOOKS__ALLOWED_HOSTS=127.0.0.1 \
        "$bin" serve 2>"$log" &
    server_pid=$!
    port=""
    for _ in $(seq 1 2000); do
        port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
        if [ -n "$port" ] && curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            ready_ms=$(( $(now_ms) - t0 ))
            return 0
        fi
        sleep 0.002
    done
    echo "server did not start; log:" >&2
    cat "$log" >&2
    exit 1
}

# --credential token: the scenarios run with a partner app's OAuth access token (client
# credentials) of the bench key's grants instead of the key, so the two can be compared.
token_credential() { # work port
    python3 - "$1" "$2" <<'PY'
import base64, json, os, sys, urllib.parse, urllib.request
d, port = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
f = json.load(open(os.path.join(d, "fixture.json")))
def post(path, body, headers):
    req = urllib.request.Request(base + path, body, headers)
    return json.load(urllib.request.urlopen(req))
def gql(query, variables, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    out = post("/graphql", json.dumps({"query": query, "variables": variables}).encode(), headers)
    assert not out.get("errors"), out
    return out["data"]
admin = gql("mutation($e:String!,$p:String!){ login(email:$e,password:$p){ token } }",
            {"e": "bench@example.org", "p": "bench password 1"})["login"]["token"]
scopes = ["patients:read", "patients:create", "tests:read", "tests:update",
          "patients.demographics:read", "patients.demographics:write", "patients.contact:read"]
app = gql("mutation($i:RegisterPartnerAppInput!){ registerPartnerApp(input:$i){ clientSecret partnerApp { id clientId } } }",
          {"i": {"app": {"name": "bench app", "category": "OTHER", "scopes": scopes,
                         "clientIds": [f["client_id"]], "locationIds": f["location_ids"]},
                 "environment": "SANDBOX", "clientType": "CONFIDENTIAL"}}, admin)["registerPartnerApp"]
# Rate-limited like the bench key: at the highest rate an administrator may set.
gql("mutation($id:ID!){ setPartnerAppLimits(id:$id, input:{ rateLimit: { perMinute: 1000000, burst: 100000 } }){ id } }",
    {"id": app["partnerApp"]["id"]}, admin)
basic = base64.b64encode(f'{app["partnerApp"]["clientId"]}:{app["clientSecret"]}'.encode()).decode()
token = post("/oauth/token", b"grant_type=client_credentials",
             {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + basic})
open(os.path.join(d, "secret"), "w").write(token["access_token"] + "\n")
PY
}

# A webhook receiver (bench/receiver.py) and an endpoint for it, subscribed to
# patient.created: the first time a webhook scenario runs on a backend.
start_webhooks() { # work port → sets rx_pid, rx_port
    python3 bench/receiver.py "$1/rx_port" &
    rx_pid=$!
    for _ in $(seq 1 500); do [ -s "$1/rx_port" ] && break; sleep 0.01; done
    rx_port=$(cat "$1/rx_port")
    python3 - "$2" "$rx_port" <<'PY'
import json, sys, urllib.request
port, rx = sys.argv[1], sys.argv[2]
def gql(query, variables, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 json.dumps({"query": query, "variables": variables}).encode(), headers)
    out = json.load(urllib.request.urlopen(req))
    assert not out.get("errors"), out
    return out["data"]
admin = gql("mutation($e:String!,$p:String!){ login(email:$e,password:$p){ token } }",
            {"e": "bench@example.org", "p": "bench password 1"})["login"]["token"]
gql("mutation($i:WebhookEndpointInput!){ createWebhookEndpoint(input:$i, environment: SANDBOX){ signingSecret } }",
    {"i": {"url": f"http://127.0.0.1:{rx}/hook", "eventTypes": ["PATIENT_CREATED"]}}, admin)
PY
}

# Waits until the receiver has every event of the run (the requests wrk saw succeed) and then
# nothing more for a second (requests still under way when wrk stopped made events it did not
# count: left behind, they arrived during the next scenario with the delay of a backlog), then
# prints its statistics.
webhook_stats() { # expected
    local expected=$1 got last=-1 quiet=0
    for _ in $(seq 1 1800); do
        got=$(curl -fs "http://127.0.0.1:$rx_port/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["distinct"])')
        if [ "$got" -ge "$expected" ] && [ "$got" = "$last" ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -ge 10 ] && break
        else
            quiet=0
        fi
        last=$got
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:$rx_port/stats?window=$duration"
}

# CPU time (user + system, in clock ticks): `ticks` of process $1 (the server, the webhook
# receiver); `database_ticks` of every PostgreSQL process when $1 is the backend `postgres`
# (its backends do the database's work; SQLite's is in the server).
# Why a figure of its own: the machine is shared with wrk and throughput moves with it, while
# the CPU a request costs shows what a change added or saved (BENCHMARKS.md).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
database_ticks() {
    [ "$1" = postgres ] || { echo 0; return; }
    local total=0 pid
    for pid in $(pgrep -u postgres); do total=$(( total + $(ticks "$pid") )); done
    echo "$total"
}
per_request() { # ticks requests → microseconds of CPU per request
    python3 -c "print(round($1 / $(getconf CLK_TCK) * 1e6 / max($2, 1)))"
}

stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

{
    echo "## $(date -u +%Y-%m-%d) — $patients patients, $((patients * 5)) tests, ${connections} connections, ${duration}s per scenario"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB; wrk on the same machine."
    echo
} | tee "$report"

for backend in $backends; do
    work=$(mktemp -d)
    if [ "$backend" = sqlite ]; then
        url="sqlite://$work/bench.db?mode=rwc"
    else
        if ! ensure_postgres; then
            echo "PostgreSQL unavailable: skipping the postgres pass" | tee -a "$report"
            continue
        fi
        dbname="sbbench_$$"
        psql "$SWITCHBOARD_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $dbname" >/dev/null
        psql "$SWITCHBOARD_TEST_PG_URL" -qc "CREATE DATABASE $dbname" >/dev/null
        url="${SWITCHBOARD_TEST_PG_URL%/*}/$dbname"
    fi
    t0=$(now_ms)
    DATABASE_URL=$url RUST_LOG=warn "$bin" seed-bench --patients "$patients" >"$work/fixture.json"
    seed_ms=$(( $(now_ms) - t0 ))
    python3 - "$work" <<'PY'
import json, sys, os
d = sys.argv[1]
f = json.load(open(os.path.join(d, "fixture.json")))
open(os.path.join(d, "secret"), "w").write(f["secret"] + "\n")
open(os.path.join(d, "client"), "w").write(f["client_id"] + "\n")
open(os.path.join(d, "location"), "w").write(f["location_ids"][0] + "\n")
open(os.path.join(d, "patients"), "w").write("\n".join(f["patient_ids"]) + "\n")
open(os.path.join(d, "tests"), "w").write("\n".join(f["test_ids"]) + "\n")
PY
    echo 'bench password 1' | DATABASE_URL=$url RUST_LOG=warn "$bin" admin create \
        --email bench@example.org --role SYSTEM_ADMINISTRATOR >/dev/null
    # Start-up to ready on the existing (seeded and migrated) database.
    start_server "$url" "$work/server.log"
    [ "${credential:-key}" = token ] && token_credential "$work" "$port"
    {
        echo "### $backend"
        echo
        echo "Seeded in ${seed_ms} ms. Start-up to ready (existing database): **${ready_ms} ms**. Credential: ${credential:-key}."
        echo
        echo "| scenario | req/s | p50 ms | p99 ms | requests | errors | vs /healthz | CPU µs/req server | CPU µs/req database |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    } | tee -a "$report"
    healthz_rps=""
    hostile_line=""
    webhook_lines=""
    rx_pid=""
    for scenario in $scenarios; do
        [ "$scenario" = import ] && continue
        run=$scenario
        pause=0
        if [ "$scenario" = m1w ] || [ "$scenario" = wh ]; then
            [ -z "$rx_pid" ] && start_webhooks "$work" "$port"
            curl -fs -XPOST "http://127.0.0.1:$rx_port/reset" >/dev/null
            # The receiver shares the machine: its CPU time during the run is reported.
            rx_ticks=$(ticks "$rx_pid")
            run=m1
            # 32 connections each pausing 30 ms: about 1,000 creates/s.
            [ "$scenario" = wh ] && pause=30
        fi
        if [ "$scenario" = q2h ]; then
            run=q2
            SCENARIO=hostile FIXTURE_DIR=$work wrk -t1 -c4 -d"${duration}s" \
                -s bench/graphql.lua "http://127.0.0.1:$port" >"$work/hostile.out" &
            hostile_pid=$!
        fi
        server_ticks=$(ticks "$server_pid")
        db_ticks=$(database_ticks "$backend")
        line=$(PAUSE_MS=$pause SCENARIO=$run FIXTURE_DIR=$work wrk -t2 -c"$connections" -d"${duration}s" \
            -s bench/graphql.lua "http://127.0.0.1:$port" | grep '^RESULT')
        server_ticks=$(( $(ticks "$server_pid") - server_ticks ))
        db_ticks=$(( $(database_ticks "$backend") - db_ticks ))
        if [ "$scenario" = q2h ]; then
            wait "$hostile_pid"
            hostile_line=$(grep '^RESULT' "$work/hostile.out")
        fi
        rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
        p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
        p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
        reqs=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
        errs=$(sed -E 's/.*errors=([0-9]+) socket_errors=([0-9]+).*/\1+\2/' <<<"$line")
        [ "$scenario" = healthz ] && healthz_rps=$rps
        if [ "$scenario" = m1w ] || [ "$scenario" = wh ]; then
            failed=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
            rx_cpu=$(python3 -c "print(f'{($(ticks "$rx_pid") - $rx_ticks) / $(getconf CLK_TCK):.1f}')")
            webhook_lines+="- $scenario: $(webhook_stats $((reqs - failed))); receiver CPU during the run ${rx_cpu} s of the machine's $(( $(nproc) * duration ))"$'\n'
        fi
        # Four decimals: Q1 is under a hundredth of /healthz, and two would print 0.00 or 0.01.
        # Without /healthz in the run (`--scenarios q2`) there is nothing to divide by.
        ratio=—
        [ -n "$healthz_rps" ] && ratio=$(python3 -c "print(f'{$rps / $healthz_rps:.4f}')")
        server_us=$(per_request "$server_ticks" "$reqs")
        db_us=—
        [ "$backend" = postgres ] && db_us=$(per_request "$db_ticks" "$reqs")
        echo "| $scenario | $rps | $p50 | $p99 | $reqs | $errs | $ratio | $server_us | $db_us |" | tee -a "$report"
    done
    peak_kib=$(awk '/VmHWM/{print $2}' "/proc/$server_pid/status")
    stop_server
    [ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null
    if [[ " $scenarios " == *" import "* ]]; then
        start_server "$url" "$work/import.log"
        import_lines=""
        for rows in "$import_rows" $((import_rows * 4)); do
            line=$(python3 bench/import.py "$port" "$work" "$rows" | grep '^RESULT')
            hwm=$(awk '/VmHWM/{print $2}' "/proc/$server_pid/status")
            import_lines+="- ${line#RESULT }; server peak RSS since start $((hwm / 1024)) MiB"$'\n'
        done
        stop_server
        {
            echo
            echo "Batch import (NDJSON upload, 5 fields a row, a fresh server):"
            echo
            printf '%s' "$import_lines"
        } | tee -a "$report"
    fi
    if [ -n "$webhook_lines" ]; then
        {
            echo
            echo "Webhook deliveries to bench/receiver.py (distinct messages; rate from first to last arrival, and in the run's first seconds; delay from the event's commit to its arrival):"
            echo
            printf '%s' "$webhook_lines"
        } | tee -a "$report"
    fi
    if [ -n "$hostile_line" ]; then
        {
            echo
            echo "Hostile documents beside q2h (4 connections; every answer must be QUERY_TOO_COMPLEX): \`${hostile_line#RESULT }\`."
        } | tee -a "$report"
    fi
    {
        echo
        echo "Peak server RSS (VmHWM): **$((peak_kib / 1024)) MiB**."
        echo
    } | tee -a "$report"
    if [ "$backend" = postgres ]; then
        psql "$SWITCHBOARD_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null
    fi
    rm -rf "$work"
done
echo "report: $report"
