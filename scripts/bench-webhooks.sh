#!/usr/bin/env bash
# Measures webhook intake: signed deliveries per second that `bot serve` verifies, stores
# durably in its SQLite store (synchronous=FULL) and answers 2xx, and the time to that answer,
# with a load generator (cmd/webhookload) in another process on loopback. The queue's workers
# run during the load; the deliveries are of an action the bot stores and then ignores, so no
# GitHub is needed. Bounded: COUNT deliveries per run and at most a minute each.
#
#   scripts/bench-webhooks.sh [COUNT]      (default 10000)
#
# Runs: closed loop with 16 and 64 senders (the most the bot takes), then open loop at
# 1,000/s (latency at a fixed arrival rate, timed from when each delivery was due). Then it
# kills the bot with SIGKILL, starts it again on the same data directory, and checks that every
# delivery answered 2xx is in the store, and how fast the backlog is worked off.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}

work=$(mktemp -d)
bot_pid=
cleanup() {
	if [ -n "$bot_pid" ]; then
		kill "$bot_pid" 2>/dev/null || true
		wait "$bot_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/bot" ./cmd/bot
go build -o "$work/webhookload" ./cmd/webhookload
openssl genrsa -out "$work/app.pem" 2048 2>/dev/null
export CAC_WEBHOOK_SECRET=bench-secret-$RANDOM$RANDOM
port=$((20000 + RANDOM % 10000))
base=http://127.0.0.1:$port

start_bot() {
	# GitHub is a closed port: the start-up check only warns, and no job calls it.
	"$work/bot" serve --listen "127.0.0.1:$port" --app-id 1 --private-key-file "$work/app.pem" \
		--github-url http://127.0.0.1:9/ --data-dir "$work/data" --log-format text 2>>"$work/bot.log" &
	bot_pid=$!
	for _ in $(seq 100); do
		curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-webhooks: the bot did not start; its log:" >&2
	cat "$work/bot.log" >&2
	exit 1
}
metric() {
	curl -fsS "$base/metrics" | awk -v m="$1" '$1 == m { printf "%d\n", $2 }'
}

start_bot
url=$base/api/github/webhooks
echo "== closed loop, 16 senders"
"$work/webhookload" -url "$url" -count "$count" -concurrency 16
echo "== closed loop, 64 senders"
"$work/webhookload" -url "$url" -count "$count" -concurrency 64
echo "== open loop, 1000/s"
"$work/webhookload" -url "$url" -count "$count" -rate 1000 -concurrency 256

accepted=$(metric 'cac_webhook_deliveries_total{event="pull_request",outcome="accepted"}')
pending=$(metric cac_jobs_pending)
echo "== answered 202: $accepted of $((3 * count)); $pending not yet worked"
kill -KILL "$bot_pid" # the shell reports "Killed" below: that is the point
wait "$bot_pid" 2>/dev/null || true
bot_pid=
start_bot
stored=$(metric cac_deliveries_stored)
echo "== after SIGKILL and a restart: $stored deliveries in the store (want $accepted)"
[ "$stored" = "$accepted" ] || { echo "bench-webhooks: deliveries were lost" >&2; exit 1; }
start=$(date +%s.%N)
pending=$(metric cac_jobs_pending)
first=$pending
while [ "$pending" != 0 ]; do
	sleep 0.5
	pending=$(metric cac_jobs_pending)
	if awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - s > 300) }'; then
		echo "== $pending jobs still pending after 5 minutes" >&2
		exit 1
	fi
done
awk -v s="$start" -v now="$(date +%s.%N)" -v n="$first" \
	'BEGIN { printf "== worked off %d pending jobs in %.1f s = %.0f jobs/s (4 workers)\n", n, now - s, n / (now - s) }'
