#!/usr/bin/env bash
# Measures Vigil's track and validate on loopback, with the floor program
# (cmd/vigil-floor) measured beside it on the same machine in the same run.
# Usage: scripts/bench.sh [postgres-url]
#   With a PostgreSQL URL the PostgreSQL runs are made too. The database it
#   names is EMPTIED (its public schema is dropped) before and after: use a
#   dedicated one, e.g. postgres://postgres@127.0.0.1:5432/vigil_bench?sslmode=disable
# Environment: DURATION (default 10s), CONNS (default 64).
# Every server listens on 127.0.0.1 only and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_url=${1:-}
duration=${DURATION:-10s}
conns=${CONNS:-64}
secret=bench-server-secret-0123456789abcdef
work=$(mktemp -d)
bin=$work/bin
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$bin"
go build -o "$bin/vigil" ./cmd/vigil
go build -o "$bin/vigil-bench" ./cmd/vigil-bench
go build -o "$bin/vigil-floor" ./cmd/vigil-floor

cat > "$work/vigil.yaml" <<YAML
tenants:
  - tenantId: 11111111-2222-4333-8444-555555555555
    name: Bench
    serverSecret: $secret
    managementSecret: bench-management-secret-0123456789
YAML

wait_ready() { # url
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "server at $1 did not become ready" >&2; return 1
}

reset_pg() { # empties the benchmark database named by $pg_url
	PGOPTIONS='-c client_min_messages=warning' psql "$pg_url" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public' >/dev/null
}

machine() {
	echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench() { # label, args...
	local label=$1; shift
	echo "## $label   (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
	"$bin/vigil-bench" -secret "$secret" -c "$conns" -d "$duration" "$@" | sed 's/^/    /'
}

floor() { # db, label
	"$bin/vigil-floor" -addr 127.0.0.1:8090 -secret "$secret" -db "$1" -drop >"$work/floor.log" 2>&1 &
	local pid=$!
	sleep 1
	bench "floor, $2, track" -url http://127.0.0.1:8090/v1 -mode track
	kill -INT $pid; wait $pid || true
}

vigil() { # database-url, label
	rm -rf "$work/data"
	"$bin/vigil" serve --addr 127.0.0.1:8080 --data-dir "$work/data" --database-url "$1" \
		--config "$work/vigil.yaml" --log-level warn >"$work/vigil.log" 2>&1 &
	local pid=$!
	wait_ready http://127.0.0.1:8080/readyz
	bench "vigil, $2, track" -url http://127.0.0.1:8080/v1 -mode track
	bench "vigil, $2, validate (read path: token of an action not yet succeeded)" -url http://127.0.0.1:8080/v1 -mode validate
	bench "vigil, $2, validate (consuming path: first validation of a CHALLENGE_SUCCEEDED action)" \
		-url http://127.0.0.1:8080/v1 -mode validate -succeed -setup 100000 -d 5s -warmup 1s
	kill -INT $pid; wait $pid || true
}

machine
floor "sqlite:$work/floor.db" SQLite
vigil "sqlite:$work/vigil.db" SQLite
if [ -n "$pg_url" ]; then
	reset_pg
	floor "$pg_url" PostgreSQL
	vigil "$pg_url" PostgreSQL
	reset_pg
fi
machine
