# test/lib/pg.sh - shared set-up for the demo, the test suite and the benchmarks.
#
# Sourced, not run.  Installs the Debian packages the project needs, builds and
# installs the extension, and starts a throwaway PostgreSQL 15 server on a data
# directory under /tmp with a private socket directory, so it never meets a
# server already listening on 5432 and two runs never share anything.  The
# server refuses to run as root, so a root caller runs it as "postgres".

LEDGER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PG_CONFIG=$PG_BIN/pg_config

# Everything the demo, the tests and the benchmarks use, as Debian packages.
LEDGER_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR \
postgresql-$PG_MAJOR-pgtap postgresql-$PG_MAJOR-wal2json libtap-parser-sourcehandler-pgtap-perl \
build-essential ${LEDGER_EXTRA_PACKAGES:-}"

log() { printf '==> %s\n' "$*" >&2; }

# as_root CMD... - run CMD with root rights: directly, through sudo, or not at all.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo "$@"
	else
		return 126
	fi
}

# ledger_require_packages [PACKAGE...] - install those of the packages (by
# default LEDGER_PACKAGES) that are missing, or say how.
ledger_require_packages() {
	local missing="" pkg
	for pkg in ${*:-$LEDGER_PACKAGES}; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
			missing="$missing $pkg"
		fi
	done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
		! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; then
		echo "ledger: these packages are missing and could not be installed:$missing" >&2
		echo "ledger: install them with:" >&2
		echo "    sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
}

# ledger_build_install - build the extension with -Werror and install it.
ledger_build_install() {
	log "building"
	make -C "$LEDGER_ROOT" -s >/dev/null || { echo "ledger: build failed" >&2; exit 1; }
	log "installing into $($PG_CONFIG --sharedir)/extension"
	if ! as_root make -C "$LEDGER_ROOT" -s install >/dev/null; then
		echo "ledger: 'make install' needs root; run: sudo make -C $LEDGER_ROOT install" >&2
		exit 1
	fi
}

# as_server_user CMD... - run CMD as the user that owns the throwaway server,
# from / when that is another user: postgres may not be allowed to enter the
# caller's directory (a home directory of mode 700), and pg_ctl and initdb
# complain when they cannot change back into it.
as_server_user() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# ledger_start_server [NAME] [extra postgres -c settings...] - start a server and
# export PGHOST/PGPORT/PGUSER for it.  The caller owns stopping it
# (ledger_stop_server), normally from an EXIT trap.
ledger_start_server() {
	local name=${1:-ledger}
	shift || true
	LEDGER_PGDATA=$(mktemp -d "/tmp/$name.XXXXXX")
	chmod 755 "$LEDGER_PGDATA"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$LEDGER_PGDATA"
	export LEDGER_PGDATA
	log "starting PostgreSQL $PG_MAJOR in $LEDGER_PGDATA"
	as_server_user "$PG_BIN/initdb" -D "$LEDGER_PGDATA/data" -U postgres -A trust \
		--no-sync -E UTF8 --locale=C >"$LEDGER_PGDATA/initdb.log" 2>&1 ||
		{ cat "$LEDGER_PGDATA/initdb.log" >&2; exit 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$LEDGER_PGDATA'"
		echo "port = 5432"
		echo "max_connections = 120"
		echo "shared_buffers = 256MB"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] '"
		local setting
		for setting in "$@"; do echo "$setting"; done
	} | as_server_user tee -a "$LEDGER_PGDATA/data/postgresql.conf" >/dev/null
	as_server_user "$PG_BIN/pg_ctl" -D "$LEDGER_PGDATA/data" -l "$LEDGER_PGDATA/server.log" \
		-w -t 60 start >/dev/null ||
		{ cat "$LEDGER_PGDATA/server.log" >&2; exit 1; }
	export PGHOST=$LEDGER_PGDATA PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
}

# ledger_stop_server - stop the server started above and remove its files.
ledger_stop_server() {
	[ -n "${LEDGER_PGDATA:-}" ] && [ -d "$LEDGER_PGDATA/data" ] || return 0
	as_server_user "$PG_BIN/pg_ctl" -D "$LEDGER_PGDATA/data" -m fast -w stop >/dev/null 2>&1 ||
		as_server_user "$PG_BIN/pg_ctl" -D "$LEDGER_PGDATA/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$LEDGER_PGDATA"
	LEDGER_PGDATA=
}
