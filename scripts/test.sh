#!/usr/bin/env bash
# Runs every test of the project. On a fresh Debian bookworm machine (as root) it first installs
# the Debian packages the tests need; elsewhere it only checks that they are there.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -run TestPlan   # extra arguments go to go test
#
# Each dependency has its own small function; a test that needs a new real server (Ironic,
# ZooKeeper, etcd, …) adds one here and a line to main.
#
# PostgreSQL: the tests get a throwaway server (scripts/postgres.sh) in CAC_TEST_DATABASE_URL,
# stopped and removed on exit. Set CAC_TEST_DATABASE_URL to use a server of your own instead;
# the database it names must be one the tests may fill and empty.
set -euo pipefail

cd "$(dirname "$0")/.."

# postgres_bindir, postgres_start, postgres_stop.
. scripts/postgres.sh

# Debian packages to install, collected by the need_* functions.
missing=()

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# need_command COMMAND PACKAGE: PACKAGE provides COMMAND.
need_command() {
	if ! command -v "$1" >/dev/null 2>&1; then
		missing+=("$2")
	fi
}

# need_package PACKAGE: a Debian package that provides no command of its own name.
need_package() {
	if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$1")
	fi
}

need_git() { need_command git git; }

# need_postgresql: a throwaway server for the store's PostgreSQL tests (scripts/postgres.sh),
# unless CAC_TEST_DATABASE_URL already names one. Debian's postgresql package puts initdb and
# pg_ctl under /usr/lib/postgresql/*/bin, off PATH; its client package brings psql.
need_postgresql() {
	if [ -n "${CAC_TEST_DATABASE_URL:-}" ]; then
		return
	fi
	if ! postgres_bindir >/dev/null; then
		missing+=(postgresql)
	fi
	need_command psql postgresql-client
}

# need_image_tools: the image pipeline's tests build, test, convert and boot images for real.
# --no-install-recommends leaves out what buildah only recommends, so the runtime is named.
need_image_tools() {
	need_command buildah buildah
	need_command crun crun
	need_command newuidmap uidmap
	need_command mmdebstrap mmdebstrap
	need_command mke2fs e2fsprogs
	need_command mkfs.fat dosfstools
	need_command mcopy mtools
	need_command sfdisk fdisk
	need_command mkfs.xfs xfsprogs
	need_command qemu-img qemu-utils
	need_command qemu-system-x86_64 qemu-system-x86
	need_package ovmf
	need_package systemd-boot-efi
	need_package busybox-static
	need_package debian-archive-keyring
}

# need_ironic: the rollout's tests run a real standalone Ironic (internal/ironictest). Debian's
# ironic-common has the all-in-one `ironic` command; ironic-api and ironic-conductor are not needed.
need_ironic() {
	need_command ironic ironic-common
	need_command ironic-dbsync ironic-common
	need_command curl curl
	need_command setsid util-linux
}

# need_health_servers: the health gates' and rollouts' tests run a real ZooKeeper ensemble
# (internal/zktest; zkServer.sh is not on PATH, so the package is checked by its jar and the
# logging backend Debian's classpath lacks) and a real etcd (internal/etcdtest).
need_health_servers() {
	need_package zookeeper
	need_package libslf4j-java
	need_command java openjdk-17-jre-headless
	need_command etcd etcd-server
}

install_missing() {
	if [ "${#missing[@]}" -eq 0 ]; then
		return
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		die "missing ${missing[*]}, and there is no apt-get to install them: install them by hand"
	fi
	if [ "$(id -u)" -ne 0 ]; then
		die "missing ${missing[*]}: run as root, or install them with: sudo apt-get install ${missing[*]}"
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# start_postgresql exports CAC_TEST_DATABASE_URL for the tests: the one in the environment if
# set, else that of a new server, stopped and removed however this script ends (but SIGKILL).
start_postgresql() {
	if [ -n "${CAC_TEST_DATABASE_URL:-}" ]; then
		log "PostgreSQL: using CAC_TEST_DATABASE_URL from the environment"
		return
	fi
	trap postgres_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	postgres_start
}

check_go() {
	if ! command -v go >/dev/null 2>&1; then
		die "go is not on PATH: install Go $(sed -n 's/^go //p' go.mod) or later"
	fi
}

main() {
	need_git
	need_postgresql
	need_image_tools
	need_ironic
	need_health_servers
	install_missing
	check_go
	start_postgresql
	# The image pipeline's tests bootstrap, build and boot a Debian image: minutes, not
	# seconds, on a fresh machine (buildah's store keeps the images for the next run).
	go test -timeout 60m "$@" ./...
}

main "$@"
