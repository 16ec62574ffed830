#!/usr/bin/env bash
# A throwaway OpenStack Ironic for the tests: standalone (noauth, no message bus), API and
# conductor in one process (Debian's `ironic` command), the fake-hardware driver with every
# interface fake (network and storage noop), an SQLite database, listening on 127.0.0.1 only on
# a free port. Configuration, database and logs live in a temporary directory.
#
# By hand (prints shell lines that set CAC_TEST_IRONIC_URL and CAC_TEST_IRONIC_DIR):
#
#   eval "$(scripts/ironic.sh start)"
#   curl -H 'X-OpenStack-Ironic-API-Version: 1.82' "$CAC_TEST_IRONIC_URL/v1/nodes"
#   scripts/ironic.sh stop             # stops the server in $CAC_TEST_IRONIC_DIR, removes it
#   scripts/ironic.sh stop DIR         # the same for a directory that start printed
#
# The fake driver's delays, in whole seconds (it takes no fractions), come from the environment:
# CAC_IRONIC_DEPLOY_DELAY, CAC_IRONIC_POWER_DELAY, CAC_IRONIC_BOOT_DELAY (default 0). A deploy or
# rebuild sleeps the deploy delay twice (prepare, then deploy).
#
# Servers live in /tmp/cac-ironic.*, the server's process group id in DIR/pid; one whose script
# was killed outright is left running there: `scripts/ironic.sh stop /tmp/cac-ironic.XXXXXX`
# ends it.
#
# From another script: source it, then
#
#   trap ironic_stop EXIT
#   ironic_start                       # exports CAC_TEST_IRONIC_URL and CAC_TEST_IRONIC_DIR
#
# It needs the ironic and ironic-dbsync commands: Debian's ironic-common package. The Go tests
# start their own servers the same way (internal/ironictest); keep the two configurations in step.

_ironic_log() { printf 'ironic.sh: %s\n' "$*" >&2; }

# _ironic_port_taken PORT: some socket on this machine, listening or connected, uses local PORT.
_ironic_port_taken() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" 'substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# _ironic_config DIR PORT writes DIR/ironic.conf.
_ironic_config() {
	local dir=$1 port=$2
	cat >"$dir/ironic.conf" <<-EOF
		[DEFAULT]
		auth_strategy = noauth
		rpc_transport = none
		host = cac-test
		enabled_hardware_types = fake-hardware
		enabled_bios_interfaces = fake
		enabled_boot_interfaces = fake
		enabled_console_interfaces = fake
		enabled_deploy_interfaces = fake
		enabled_inspect_interfaces = fake
		enabled_management_interfaces = fake
		enabled_power_interfaces = fake
		enabled_raid_interfaces = fake
		enabled_rescue_interfaces = fake
		enabled_vendor_interfaces = fake
		enabled_network_interfaces = noop
		enabled_storage_interfaces = noop
		default_network_interface = noop
		state_path = $dir
		tempdir = $dir/tmp
		log_dir = $dir
		log_file = ironic.log
		use_stderr = false

		[api]
		host_ip = 127.0.0.1
		port = $port

		[conductor]
		automated_clean = false

		[database]
		connection = sqlite:///$dir/ironic.sqlite

		[dhcp]
		dhcp_provider = none

		[fake]
		deploy_delay = ${CAC_IRONIC_DEPLOY_DELAY:-0}
		power_delay = ${CAC_IRONIC_POWER_DELAY:-0}
		boot_delay = ${CAC_IRONIC_BOOT_DELAY:-0}

		[oslo_concurrency]
		lock_path = $dir/tmp
	EOF
}

# _ironic_signal DIR SIGNAL: send SIGNAL to the server's process group; false when there is none.
_ironic_signal() {
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -s "$2" -- "-$pid" 2>/dev/null
}

# ironic_start starts the server and exports CAC_TEST_IRONIC_URL (http://127.0.0.1:PORT) and
# CAC_TEST_IRONIC_DIR (the directory to give ironic_stop). On failure it removes what it made
# and returns 1.
ironic_start() {
	local dir port attempt i started= cmd
	for cmd in ironic ironic-dbsync; do
		if ! command -v "$cmd" >/dev/null 2>&1; then
			_ironic_log "$cmd not found: apt-get install ironic-common"
			return 1
		fi
	done
	dir=$(mktemp -d /tmp/cac-ironic.XXXXXX) || return 1
	export CAC_TEST_IRONIC_DIR=$dir
	# An empty config directory keeps /etc/ironic/ironic.conf.d out of the server's settings.
	mkdir "$dir/conf.d" "$dir/tmp" || { ironic_stop; return 1; }

	_ironic_config "$dir" 0 || { ironic_stop; return 1; }
	# create_schema, not upgrade: the migrations alter constraints, which SQLite cannot do.
	if ! ironic-dbsync --config-file "$dir/ironic.conf" --config-dir "$dir/conf.d" \
		create_schema >"$dir/dbsync.log" 2>&1; then
		_ironic_log "ironic-dbsync create_schema failed:"
		cat "$dir/dbsync.log" >&2
		ironic_stop
		return 1
	fi

	# A random port below Linux's ephemeral range that no socket uses now; if another process
	# takes it before the server binds it, try another.
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 12000))
		if _ironic_port_taken "$port"; then
			continue
		fi
		_ironic_config "$dir" "$port" || { ironic_stop; return 1; }
		rm -f "$dir/ironic.log"
		# setsid: a process group of its own, which ironic_stop kills as a whole; its id is the
		# server's pid. The wrapper writes the pid, closes every descriptor it inherited beyond
		# 0-2 (a pipe held open by a daemon keeps `$(scripts/ironic.sh start)` waiting), then
		# becomes the server.
		(cd "$dir" && exec setsid bash -c '
			echo $$ >pid
			for fd in /proc/$$/fd/*; do
				fd=${fd##*/}
				if [ "$fd" -gt 2 ]; then { eval "exec $fd>&-"; } 2>/dev/null; fi
			done
			exec "$@"' ironic-wrapper \
			ironic --config-file "$dir/ironic.conf" --config-dir "$dir/conf.d") \
			</dev/null >"$dir/stdout.log" 2>&1 &
		for i in $(seq 1 600); do
			if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/v1"; then
				started=yes
				break 2
			fi
			# Gone already: give up on this port, or on the server.
			if [ -f "$dir/pid" ] && ! _ironic_signal "$dir" 0; then
				break
			fi
			sleep 0.1
		done
		if grep -q 'Address already in use' "$dir/ironic.log" "$dir/stdout.log" 2>/dev/null; then
			_ironic_log "port $port was taken, trying another"
			continue
		fi
		_ironic_log "the server did not answer on 127.0.0.1:$port:"
		tail -n 30 "$dir/stdout.log" "$dir/ironic.log" >&2 2>/dev/null || true
		ironic_stop
		return 1
	done
	if [ -z "$started" ]; then
		_ironic_log "found no free port in 10 tries"
		ironic_stop
		return 1
	fi
	export CAC_TEST_IRONIC_URL="http://127.0.0.1:$port"
	_ironic_log "Ironic $(dpkg-query -W -f='${Version}' python3-ironic 2>/dev/null) on 127.0.0.1:$port in $dir"
}

# ironic_stop [DIR] stops the server in DIR (default $CAC_TEST_IRONIC_DIR) and removes DIR. It
# does nothing when there is no such directory, so it is safe in a trap that may run before
# ironic_start or after a start that failed.
ironic_stop() {
	local dir=${1:-${CAC_TEST_IRONIC_DIR:-}} i
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		return 0
	fi
	case $dir in
	/tmp/cac-ironic.*) ;;
	*)
		_ironic_log "refusing to remove $dir: not a directory that ironic_start made"
		return 1
		;;
	esac
	# TERM lets it stop cleanly (about 2 s); KILL after 10 s, so that no server outlives its
	# directory.
	if _ironic_signal "$dir" TERM; then
		for i in $(seq 1 100); do
			_ironic_signal "$dir" 0 || break
			sleep 0.1
		done
		if _ironic_signal "$dir" KILL; then
			_ironic_log "the server in $dir did not stop on TERM: killed it"
		fi
	fi
	rm -rf "$dir"
	if [ "$dir" = "${CAC_TEST_IRONIC_DIR:-}" ]; then
		unset CAC_TEST_IRONIC_DIR CAC_TEST_IRONIC_URL
	fi
}

# Run as a command, not sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case ${1:-} in
	start)
		ironic_start
		printf 'export CAC_TEST_IRONIC_URL=%q\n' "$CAC_TEST_IRONIC_URL"
		printf 'export CAC_TEST_IRONIC_DIR=%q\n' "$CAC_TEST_IRONIC_DIR"
		_ironic_log "stop it with: scripts/ironic.sh stop $CAC_TEST_IRONIC_DIR"
		;;
	stop)
		ironic_stop "${2:-}"
		;;
	*)
		echo "usage: eval \"\$($0 start)\" | $0 stop [DIR]" >&2
		exit 2
		;;
	esac
fi
