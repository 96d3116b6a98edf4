#!/usr/bin/env bash
# Starts Vigil (with vigil.yaml, a fresh SQLite database in a temporary
# directory, and one-time codes written to its log) and the sign-in example
# application on http://localhost:3000. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."

vigil_addr=localhost:8080
app_addr=localhost:3000
# DEMO ONLY: a fixed, public secret so that the example runs with one
# command. Export SIGNIN_DEMO_SERVER_SECRET to use your own.
export SIGNIN_DEMO_SERVER_SECRET="${SIGNIN_DEMO_SERVER_SECRET:-demo-only-signin-server-secret-do-not-reuse}"

for tool in go curl; do
	command -v "$tool" >/dev/null || { echo "run.sh needs $tool" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-signin.XXXXXX")
vigil_log="$tmp/vigil.log"
pids=()
cleanup() {
	trap - EXIT INT TERM
	# SIGTERM, not SIGINT: background jobs of a script start with SIGINT
	# ignored. Both programs shut down gracefully on either.
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
	echo "Stopped Vigil and the example; removed $tmp."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "Building Vigil and the example into $tmp ..."
go build -o "$tmp/vigil" ./cmd/vigil
go build -o "$tmp/signin" ./examples/signin

# Vigil's whole log goes to $vigil_log. One-time codes and magic links are
# logged (not sent) by the development email sender: the second background
# job copies exactly those lines to this terminal.
"$tmp/vigil" serve \
	--addr "$vigil_addr" \
	--public-url "http://$vigil_addr" \
	--data-dir "$tmp/data" \
	--database-url "sqlite:$tmp/data/vigil.db" \
	--config examples/signin/vigil.yaml \
	--email-provider log \
	>"$vigil_log" 2>&1 &
pids+=("$!")

for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "http://$vigil_addr/readyz" 2>/dev/null; then break; fi
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "Vigil exited; its log:" >&2
		cat "$vigil_log" >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS -o /dev/null "http://$vigil_addr/readyz" || { echo "Vigil is not ready; its log: $vigil_log" >&2; exit 1; }

# tail --pid ends with Vigil, and grep with tail.
tail --pid="${pids[0]}" -n +1 -F "$vigil_log" 2>/dev/null | grep --line-buffered 'NOT sent' &
pids+=("$!")

VIGIL_URL="http://$vigil_addr" VIGIL_SERVER_SECRET="$SIGNIN_DEMO_SERVER_SECRET" \
	"$tmp/signin" -addr "$app_addr" -public-url "http://$app_addr" &
pids+=("$!")

cat <<MSG

  Vigil:    http://$vigil_addr   (log: $vigil_log)
  Example:  http://$app_addr     sign in as alice / correct-horse

  Vigil sends no email here: each one-time code and magic link appears in
  this terminal as a line "delivery: development sender: message logged,
  NOT sent" with code=... (or link=...), and in $vigil_log.

  Press Ctrl-C to stop both.

MSG
wait -n "${pids[@]}" || true
echo "Vigil or the example stopped; stopping the other." >&2
