#!/usr/bin/env bash
# Measures webhook intake: signed deliveries per second that `bot serve` verifies, stores
# durably in its SQLite store (synchronous=FULL) and answers 2xx, and the time to that answer,
# with a load generator (cmd/webhookload) in another process on loopback. The queue's workers
# run during the load; the deliveries are of an action the bot stores and then ignores, so no
# GitHub is needed. Bounded: COUNT deliveries per run and at most a minute each.
#
#   scripts/bench-webhooks.sh [COUNT]      (default 20000)
#
# Runs: closed loop with 16 and 64 senders (the most the bot takes), then open loop at
# 1,000/s (latency at the issue's target rate). Then it checks with /metrics that every
# accepted delivery was counted, and restarts the bot to check they are all still stored.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20000}

work=$(mktemp -d)
bot_pid=
cleanup() {
	[ -n "$bot_pid" ] && kill "$bot_pid" 2>/dev/null && wait "$bot_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/bot" ./cmd/bot
go build -o "$work/webhookload" ./cmd/webhookload
openssl genrsa -out "$work/app.pem" 2048 2>/dev/null
export CAC_WEBHOOK_SECRET=bench-secret-$RANDOM$RANDOM
port=$(( 20000 + RANDOM % 10000 ))

start_bot() {
	# GitHub is a closed port: the start-up check only warns, and no job calls it.
	"$work/bot" serve --listen "127.0.0.1:$port" --app-id 1 --private-key-file "$work/app.pem" \
		--github-url http://127.0.0.1:9/ --data-dir "$work/data" --log-format text 2>>"$work/bot.log" &
	bot_pid=$!
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-webhooks: the bot did not start; its log:" >&2
	cat "$work/bot.log" >&2
	exit 1
}
metric() {
	curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

start_bot
url=http://127.0.0.1:$port/api/github/webhooks
echo "== closed loop, 16 senders"
"$work/webhookload" -url "$url" -count "$count" -concurrency 16
echo "== closed loop, 64 senders"
"$work/webhookload" -url "$url" -count "$count" -concurrency 64
echo "== open loop, 1000/s"
"$work/webhookload" -url "$url" -count "$count" -rate 1000 -concurrency 256

accepted=$(metric 'cac_webhook_deliveries_total{event="pull_request",outcome="accepted"}')
echo "== /metrics: ${accepted:-0} deliveries accepted, expected $((3 * count))"
kill "$bot_pid"; wait "$bot_pid" || true; bot_pid=
start_bot
for _ in $(seq 300); do
	pending=$(metric cac_jobs_pending)
	[ "${pending%.*}" = 0 ] && break
	sleep 0.2
done
echo "== after a restart: ${pending:-?} pending jobs (every stored delivery worked)"
