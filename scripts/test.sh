#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, and every test against SQLite,
# PostgreSQL and Redis. Starts PostgreSQL and Redis if they are not running.
set -euo pipefail
cd "$(dirname "$0")/.."

postgres_url="${ZEROTRACE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"

postgres_up() {
    command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432
}

if ! postgres_up; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
        for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
    fi
fi
if ! postgres_up; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432; the postgres half of the suite needs it" >&2
    echo "(set ZEROTRACE_TEST_POSTGRES to use another server)" >&2
    exit 1
fi
export ZEROTRACE_TEST_POSTGRES="$postgres_url"

# Redis: the scale-out tests (queue on Redis Streams, shared rate limits, events) need it.
redis_url="${ZEROTRACE_TEST_REDIS:-redis://127.0.0.1:6379}"
redis_up() {
    command -v redis-cli >/dev/null && redis-cli -u "$redis_url" ping 2>/dev/null | grep -q PONG
}
if ! redis_up; then
    if ! command -v redis-server >/dev/null; then
        echo "installing redis-server"
        apt-get install -y -q redis-server >/dev/null
    fi
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
fi
if ! redis_up; then
    echo "Redis is not reachable at $redis_url; the scale-out tests need it" >&2
    echo "(set ZEROTRACE_TEST_REDIS to use another server)" >&2
    exit 1
fi
export ZEROTRACE_TEST_REDIS="$redis_url"

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --locked --doc
else
    cargo test --workspace --locked --no-fail-fast
fi
