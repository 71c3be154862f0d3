#!/usr/bin/env bash
# Throughput and latency of an authenticated `GET /api/v1/agents` (a page of 100 agents, API-key
# auth), on the embedded SQLite default and on PostgreSQL, each next to `GET /healthz` (no auth,
# no database) measured in the same run as the baseline.
#
#   benches/api_agents_list.sh [path/to/zerotrace] [postgres admin url]
#
# Needs wrk (apt-get install wrk), curl and jq. Loopback only; each load run is bounded (-d).
set -euo pipefail
binary="${1:-target/release/zerotrace}"
postgres_admin="${2:-postgres://postgres@127.0.0.1:5432/test}"
duration="${DURATION:-15s}"
connections="${CONNECTIONS:-32}"
work="$(mktemp -d)"
server_pid=""
schema=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "$schema" ] && psql -q "$postgres_admin" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

wrk_figures() { # prints "requests/s p50 p99" for one URL
    wrk -t2 -c"$connections" -d"$duration" --latency "$@" 2>/dev/null | awk '
        /Requests\/sec/ {rps=$2}
        $1=="50%" {p50=$2}
        $1=="99%" {p99=$2}
        END {printf "%s req/s  p50 %s  p99 %s", rps, p50, p99}'
}

run_backend() {
    local name="$1" database_url="$2"
    local data="$work/$name"
    mkdir -p "$data"
    export ZEROTRACE_DATA_DIR="$data" DATABASE_URL="$database_url"
    "$binary" org create --name "Bench Org" --json >/dev/null
    local key token
    key=$("$binary" apikey create --org bench-org --name bench --scopes read --json | jq -r .key)
    token=$("$binary" token create --org bench-org --name bench --json | jq -r .token)
    "$binary" serve --listen 127.0.0.1:0 2>"$data/serve.log" >/dev/null &
    server_pid=$!
    local address=""
    for _ in $(seq 1 100); do
        address=$(sed -n 's/^ZeroTrace is listening on http:\/\/\([^ ]*\).*/\1/p' "$data/serve.log")
        [ -n "$address" ] && break
        sleep 0.1
    done
    [ -n "$address" ] || { echo "serve did not start:"; cat "$data/serve.log"; exit 1; }
    for n in $(seq 1 100); do
        curl -sf "http://$address/api/v1/agents/enroll" -H 'content-type: application/json' \
            -d "{\"token\":\"$token\",\"hostname\":\"host-$n\",\"os\":\"linux\",\"os_version\":\"Debian 12\",\"arch\":\"x86_64\",\"agent_version\":\"0.1.0\"}" >/dev/null
    done
    local count
    count=$(curl -sf "http://$address/api/v1/agents" -H "Authorization: Bearer $key" | jq '.items | length')
    [ "$count" = 100 ] || { echo "expected a page of 100 agents, got $count"; exit 1; }
    local idle_rss
    idle_rss=$(ps -o rss= -p "$server_pid")
    echo "[$name] idle RSS after setup: $((idle_rss / 1024)) MiB"
    echo "[$name] GET /healthz (baseline):       $(wrk_figures "http://$address/healthz")"
    echo "[$name] GET /api/v1/agents (100 rows): $(wrk_figures -H "Authorization: Bearer $key" "http://$address/api/v1/agents")"
    echo "[$name] RSS after load: $(( $(ps -o rss= -p "$server_pid") / 1024 )) MiB"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

echo "binary: $binary ($(du -h "$binary" | cut -f1)), wrk -t2 -c$connections -d$duration, $(nproc) cores"
run_backend sqlite ""

schema="zt_bench_$$"
psql -q "$postgres_admin" -c "DO \$\$ BEGIN CREATE ROLE zerotrace_test LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$" >/dev/null
psql -q "$postgres_admin" -c "CREATE SCHEMA $schema AUTHORIZATION zerotrace_test" >/dev/null
host_and_db="${postgres_admin#*://}"; host_and_db="${host_and_db#*@}"
run_backend postgres "postgres://zerotrace_test@$host_and_db?options%5Bsearch_path%5D=$schema"
