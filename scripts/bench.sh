#!/usr/bin/env bash
# Measures Vigil's track and validate on loopback, with the floor program
# (cmd/vigil-floor) measured beside it on the same machine in the same run.
# Usage: scripts/bench.sh [postgres-url]
#   With a PostgreSQL URL the PostgreSQL runs are made too. The database it
#   names is EMPTIED (its public schema is dropped) before and after: use a
#   dedicated one, e.g. postgres://postgres@127.0.0.1:5432/vigil_bench?sslmode=disable
# Environment: DURATION (default 10s), CONNS (default 64), CLIENT (the load
# tool's HTTP client: raw, the default, or std for net/http), ROUNDS (default
# 1: how many times to run the whole sequence; with more than one, a summary
# follows: each row's median, range and median p99, and each Vigil row's
# median over its floor's, which is steadier on a noisy machine than any one
# run's figures).
# Every server listens on 127.0.0.1 only and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_url=${1:-}
duration=${DURATION:-10s}
conns=${CONNS:-64}
client=${CLIENT:-raw}
rounds=${ROUNDS:-1}
case $rounds in '' | *[!0-9]* | 0) echo "ROUNDS=$rounds: want a positive integer" >&2; exit 2 ;; esac
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

# The same tenant with the benchmark's action under a realistic rule set:
# 10 rules of 2-4 conditions over data points of every kind (IP, device,
# user, velocity, travel, custom, time), one membership test in a
# 100,000-item value list and one CIDR test (the rule set of
# internal/rules' benchmarks).
{
	cat "$work/vigil.yaml"
	cat <<'YAML'
    valueLists:
      - name: Blocked emails
        itemType: string
        valueListItems:
YAML
	seq 0 99999 | sed 's/.*/          - blocked-&@example.com/'
	cat <<'YAML'
    actions:
      - actionCode: bench
        defaultUserActionResult: ALLOW
        rules:
          - {ruleId: r0, name: r0, isActive: true, priority: 0, type: CHALLENGE, conditions: {"and": [{"==": [{"var": "device.isNew"}, true]}, {"in": [{"var": "ip.location.country.countryCode"}, ["NZ", "AU"]]}]}}
          - {ruleId: r1, name: r1, isActive: true, priority: 1, type: REVIEW, conditions: {"and": [{"==": [{"var": "ip.isAnonymous"}, true]}, {">": [{"var": "custom.amount"}, 1000]}]}}
          - {ruleId: r2, name: r2, isActive: true, priority: 2, type: CHALLENGE, conditions: {"and": [{"<": [{"var": "user.accountAgeDays"}, 7]}, {">=": [{"var": "action.countLastHour"}, 5]}, {"==": [{"var": "user.isEnrolled"}, false]}]}}
          - {ruleId: r3, name: r3, isActive: true, priority: 3, type: BLOCK, conditions: {"or": [{"==": [{"var": "ip.countryCodeInOfacList"}, true]}, {"==": [{"var": "ip.impossibleTravel"}, true]}]}}
          - {ruleId: r4, name: r4, isActive: true, priority: 4, type: BLOCK, conditions: {"and": [{"!=": [{"var": "user.hasPreviouslyVerified"}, true]}, {"in": [{"var": "user.email"}, {"var": "valueLists.blocked-emails"}]}]}}
          - {ruleId: r5, name: r5, isActive: true, priority: 5, type: ALLOW, conditions: {"and": [{"cidr": [{"var": "ip.address"}, ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]]}, {"==": [{"var": "device.isBot"}, false]}]}}
          - {ruleId: r6, name: r6, isActive: true, priority: 6, type: CHALLENGE, conditions: {"and": [{">=": [{"var": "user.failedChallengesLastHour"}, 3]}, {"<=": [0, {"var": "time.hourOfDay"}, 5]}, {"!": {"var": "device.isRemembered"}}]}}
          - {ruleId: r7, name: r7, isActive: true, priority: 7, type: BLOCK, conditions: {"and": [{">": [{"var": "user.distinctIpsLastDay"}, 4]}, {"in": [{"var": "device.browser"}, ["Tor Browser", "HeadlessChrome", "PhantomJS"]]}]}}
          - {ruleId: r8, name: r8, isActive: true, priority: 8, type: REVIEW, conditions: {"and": [{">": [{"var": "custom.amount"}, 50]}, {"==": [{"var": "device.isNew"}, true]}, {"!": {"var": "user.hasPreviouslyVerified"}}, {"<": [{"var": "user.accountAgeDays"}, 30]}]}}
          - {ruleId: r9, name: r9, isActive: true, priority: 9, type: CHALLENGE, conditions: {"and": [{"==": [{"var": "ip.location.country.countryCode"}, "NZ"]}, {">": [{"var": "action.countLastDay"}, 20]}]}}
YAML
} > "$work/vigil-rules.yaml"

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
	"$bin/vigil-bench" -secret "$secret" -c "$conns" -d "$duration" -client "$client" "$@" | sed 's/^/    /'
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
	VIGIL_EMAIL_WEBHOOK_SECRET=bench-hook-secret "$bin/vigil" serve --addr 127.0.0.1:8080 --data-dir "$work/data" \
		--database-url "$1" --config "$work/vigil.yaml" --log-level warn \
		--email-provider webhook --email-webhook-url http://127.0.0.1:8099/ >"$work/vigil.log" 2>&1 &
	local pid=$!
	wait_ready http://127.0.0.1:8080/readyz
	bench "vigil, $2, track (no rules)" -url http://127.0.0.1:8080/v1 -mode track -action plain
	bench "vigil, $2, validate (read path: token of an action not yet succeeded)" -url http://127.0.0.1:8080/v1 -mode validate
	bench "vigil, $2, validate (consuming path: first validation of a CHALLENGE_SUCCEEDED action)" \
		-url http://127.0.0.1:8080/v1 -mode validate -succeed -setup 100000 -d 5s -warmup 1s
	bench "vigil, $2, OTP verify round trip (POST /v1/verify, right code of a server-side email challenge)" \
		-url http://127.0.0.1:8080/v1 -mode otp -hook 127.0.0.1:8099 -setup 60000 -d 5s -warmup 1s
	kill -INT $pid; wait $pid || true
}

vigil_rules() { # database-url, label
	rm -rf "$work/data"
	"$bin/vigil" serve --addr 127.0.0.1:8080 --data-dir "$work/data" --database-url "$1" \
		--config "$work/vigil-rules.yaml" --log-level warn >"$work/vigil.log" 2>&1 &
	local pid=$!
	wait_ready http://127.0.0.1:8080/readyz
	bench "vigil, $2, track with 10 rules, every kind of data point, a 100,000-item list" \
		-url http://127.0.0.1:8080/v1 -mode track -action bench
	kill -INT $pid; wait $pid || true
}

round() {
	machine
	floor "sqlite:$work/floor.db" SQLite
	vigil "sqlite:$work/vigil.db" SQLite
	vigil_rules "sqlite:$work/vigil-rules.db" SQLite
	if [ -n "$pg_url" ]; then
		reset_pg
		floor "$pg_url" PostgreSQL
		vigil "$pg_url" PostgreSQL
		reset_pg
		vigil_rules "$pg_url" PostgreSQL
		reset_pg
	fi
	machine
	rm -f "$work"/*.db "$work"/*.db-wal "$work"/*.db-shm
}

# summary reads the rounds' output and prints, per row, the median
# throughput, its range and the median p99, and for each Vigil row the
# ratio of its median to the median of the floor on the same database.
summary() {
	awk -v rounds="$rounds" '
	function median(list,    n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function lo(list,    n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
	function hi(list,    n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
	/^## / { label = $0; sub(/^## /, "", label); sub(/   \(load average.*/, "", label); if (!(label in rps)) order[++n] = label }
	/^    throughput:/ { rps[label] = rps[label] " " $2 }
	/^    latency:/ { for (i = 1; i < NF; i++) if ($i == "p99") { v = $(i+1); sub(/ms$/, "", v); p99[label] = p99[label] " " v } }
	END {
		printf "## summary over %d rounds: median req/s (range), median p99, and Vigil over its floor\n", rounds
		for (k = 1; k <= n; k++) if (order[k] ~ /^floor, /) { db = order[k]; sub(/^floor, /, "", db); sub(/, track$/, "", db); fl[db] = median(rps[order[k]]) }
		for (k = 1; k <= n; k++) {
			l = order[k]; m = median(rps[l])
			line = sprintf("    %-110s %7.0f (%s-%s)  p99 %5.1f ms", l, m, lo(rps[l]), hi(rps[l]), median(p99[l]))
			if (l ~ /^vigil, / && l ~ /track/) { db = l; sub(/^vigil, /, "", db); sub(/,.*/, "", db); if (fl[db] > 0) line = line sprintf("  %.2f of the floor", m / fl[db]) }
			print line
		}
	}' "$work/out"
}

for r in $(seq 1 "$rounds"); do
	[ "$rounds" -gt 1 ] && echo "# round $r of $rounds"
	round
done | tee "$work/out"
if [ "$rounds" -gt 1 ]; then
	summary
fi
