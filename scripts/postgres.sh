#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a fresh cluster in a temporary directory, trust
# authentication, listening on 127.0.0.1 only on a free port, with its unix socket in that
# directory and fsync off. It never touches the cluster that Debian's postgresql package creates.
#
# By hand (prints shell lines that set CAC_TEST_DATABASE_URL and CAC_TEST_POSTGRES_DIR):
#
#   eval "$(scripts/postgres.sh start)"
#   psql "$CAC_TEST_DATABASE_URL" -c 'select 1'
#   go test ./...
#   scripts/postgres.sh stop           # stops the server in $CAC_TEST_POSTGRES_DIR, removes it
#   scripts/postgres.sh stop DIR       # the same for a directory that start printed
#
# Servers live in /tmp/cac-postgres.*; one whose script was killed outright (SIGKILL) is left
# running there: `scripts/postgres.sh stop /tmp/cac-postgres.XXXXXX` ends it.
#
# From another script (scripts/test.sh does this): source it, then
#
#   trap postgres_stop EXIT
#   postgres_start                     # exports CAC_TEST_DATABASE_URL and CAC_TEST_POSTGRES_DIR
#
# It needs initdb and pg_ctl: Debian's postgresql package (under /usr/lib/postgresql/*/bin), or
# set CAC_PG_BINDIR to the directory that holds them. PostgreSQL refuses to run as root, so as
# root the server runs as the postgres user, which the Debian package creates.

# postgres_bindir prints the directory that holds initdb and pg_ctl: $CAC_PG_BINDIR, else the
# newest /usr/lib/postgresql/*/bin, else the directory of initdb on PATH.
postgres_bindir() {
	if [ -n "${CAC_PG_BINDIR:-}" ]; then
		[ -x "$CAC_PG_BINDIR/initdb" ] && [ -x "$CAC_PG_BINDIR/pg_ctl" ] || return 1
		printf '%s\n' "$CAC_PG_BINDIR"
		return 0
	fi
	local dir found=
	# Newest version first by number, not by name: the glob sorts 10 before 9.
	for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
			found=$dir
		fi
	done
	if [ -n "$found" ]; then
		printf '%s\n' "$found"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return 0
	fi
	return 1
}

_pg_log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# _pg_as_owner COMMAND...: run COMMAND as the server's owner, from a directory it can read.
_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# _pg_port_taken PORT: some socket on this machine, listening or connected, uses local PORT.
_pg_port_taken() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" 'substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# postgres_start starts the server and exports CAC_TEST_DATABASE_URL (database cac_test, user
# postgres) and CAC_TEST_POSTGRES_DIR (the directory to give postgres_stop). On failure it
# removes what it made and returns 1.
postgres_start() {
	local bindir dir port attempt
	if ! bindir=$(postgres_bindir); then
		_pg_log "initdb and pg_ctl not found: apt-get install postgresql, or set CAC_PG_BINDIR"
		return 1
	fi
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		_pg_log "running as root, and there is no postgres user to run the server as"
		return 1
	fi
	# /tmp, not $TMPDIR: as root the server runs as postgres, who may not reach root's TMPDIR.
	dir=$(mktemp -d /tmp/cac-postgres.XXXXXX) || return 1
	export CAC_TEST_POSTGRES_DIR=$dir
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir" || { postgres_stop; return 1; }
	fi

	if ! _pg_as_owner "$bindir/initdb" --pgdata="$dir/data" --username=postgres \
		--auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		_pg_log "initdb failed:"
		cat "$dir/initdb.log" >&2
		postgres_stop
		return 1
	fi
	# Loopback only, no password; the socket lives in the temporary directory, not in
	# /var/run/postgresql where Debian's own cluster puts its socket.
	_pg_as_owner sh -c 'cat >"$1/data/pg_hba.conf"' sh "$dir" <<-EOF || { postgres_stop; return 1; }
		local all all trust
		host  all all 127.0.0.1/32 trust
	EOF
	_pg_as_owner sh -c 'cat >>"$1/data/postgresql.conf"' sh "$dir" <<-EOF || { postgres_stop; return 1; }
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF

	# A random port below Linux's ephemeral range (32768 and up) that no socket uses now; if
	# another process takes it before the server binds it, try another.
	local started=
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 12000))
		if _pg_port_taken "$port"; then
			continue
		fi
		rm -f "$dir/server.log"
		if _pg_as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" \
			--options="-p $port" --wait --timeout=60 --silent start >/dev/null 2>&1; then
			started=yes
			break
		fi
		if ! grep -q 'could not bind\|Address already in use' "$dir/server.log" 2>/dev/null; then
			_pg_log "the server did not start:"
			tail -n 20 "$dir/server.log" >&2 || true
			postgres_stop
			return 1
		fi
		_pg_log "port $port was taken, trying another"
	done
	if [ -z "$started" ]; then
		_pg_log "found no free port in 10 tries"
		postgres_stop
		return 1
	fi

	for attempt in $(seq 1 60); do
		if "$bindir/pg_isready" --quiet --host=127.0.0.1 --port="$port"; then
			break
		fi
		if [ "$attempt" -eq 60 ]; then
			_pg_log "the server does not accept connections on 127.0.0.1:$port after 30 s"
			postgres_stop
			return 1
		fi
		sleep 0.5
	done
	if ! "$bindir/createdb" --host=127.0.0.1 --port="$port" --username=postgres cac_test; then
		postgres_stop
		return 1
	fi
	export CAC_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/cac_test?sslmode=disable"
	_pg_log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port in $dir"
}

# postgres_stop [DIR] stops the server in DIR (default $CAC_TEST_POSTGRES_DIR) and removes DIR.
# It does nothing when there is no such directory, so it is safe in a trap that may run before
# postgres_start or after a start that failed.
postgres_stop() {
	local dir=${1:-${CAC_TEST_POSTGRES_DIR:-}} bindir pid
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		return 0
	fi
	case $dir in
	/tmp/cac-postgres.*) ;;
	*)
		_pg_log "refusing to remove $dir: not a directory that postgres_start made"
		return 1
		;;
	esac
	if [ -f "$dir/data/postmaster.pid" ]; then
		pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null) || pid=
		# Fast: no need to wait for clients; immediate if that hangs; kill as the last resort,
		# so that no server outlives its directory.
		if bindir=$(postgres_bindir) && {
			_pg_as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait \
				--timeout=30 --silent stop >/dev/null 2>&1 ||
				_pg_as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait \
					--timeout=30 --silent stop >/dev/null 2>&1
		}; then
			:
		elif [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; then
			_pg_log "pg_ctl could not stop the server in $dir: killed it (pid $pid)"
		else
			_pg_log "could not stop the server in $dir (pid ${pid:-unknown})"
		fi
	fi
	rm -rf "$dir"
	if [ "$dir" = "${CAC_TEST_POSTGRES_DIR:-}" ]; then
		unset CAC_TEST_POSTGRES_DIR CAC_TEST_DATABASE_URL
	fi
}

# Run as a command, not sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case ${1:-} in
	start)
		postgres_start
		printf 'export CAC_TEST_DATABASE_URL=%q\n' "$CAC_TEST_DATABASE_URL"
		printf 'export CAC_TEST_POSTGRES_DIR=%q\n' "$CAC_TEST_POSTGRES_DIR"
		_pg_log "stop it with: scripts/postgres.sh stop $CAC_TEST_POSTGRES_DIR"
		;;
	stop)
		postgres_stop "${2:-}"
		;;
	*)
		echo "usage: eval \"\$($0 start)\" | $0 stop [DIR]" >&2
		exit 2
		;;
	esac
fi
