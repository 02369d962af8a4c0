# test/lib/citus.sh - a throwaway Citus cluster on this machine, for the tests
# and benchmarks of the ledger on Citus.  Sourced after test/lib/pg.sh.
#
# A coordinator and N workers, each a PostgreSQL 15 server of its own on a
# data directory under one /tmp directory, all listening only on that
# directory's socket, on ports 5432, 5433, ...; the nodes reach each other
# through the same socket directory, so nothing is exposed on TCP and two runs
# never meet.  Citus has no Debian package: when it is missing it is built
# from ../shared/citus (beside the repository); when that is missing too,
# citus_require exits 77, which test/run.sh counts as skipped.

# citus_build_script - the script that builds Citus here: $CITUS_BUILD, or
# shared/citus/build.sh beside the repository, or beside the repository
# this one was cloned from (a clone made elsewhere for a clean run).
citus_build_script() {
	local origin
	if [ -n "${CITUS_BUILD:-}" ]; then
		echo "$CITUS_BUILD"
		return
	fi
	if [ -f "$LEDGER_ROOT/../shared/citus/build.sh" ]; then
		echo "$LEDGER_ROOT/../shared/citus/build.sh"
		return
	fi
	origin=$(git -C "$LEDGER_ROOT" config --get remote.origin.url 2>/dev/null || true)
	if [ -n "$origin" ] && [ -f "$origin/../shared/citus/build.sh" ]; then
		echo "$origin/../shared/citus/build.sh"
		return
	fi
	echo "$LEDGER_ROOT/../shared/citus/build.sh"
}

# citus_require - make sure Citus is installed, building it if need be; exit
# 77 (skipped) when it is not and cannot be.
citus_require() {
	local build
	[ -f "$($PG_CONFIG --pkglibdir)/citus.so" ] && return 0
	build=$(citus_build_script)
	if [ ! -f "$build" ]; then
		echo "SKIPPED: Citus is not installed and $build is not there to build it" >&2
		exit 77
	fi
	log "building Citus with $build (about 3 minutes)"
	PG_CONFIG=$PG_CONFIG bash "$build" >&2 || { echo "ledger: building Citus failed" >&2; exit 1; }
}

# citus_node_port I - the port of node I (0 is the coordinator).
citus_node_port() { echo $((5432 + $1)); }

# citus_init_node I [setting...] - make and start node I.
citus_init_node() {
	local i=$1 dir="$CITUS_DIR/node$1"
	shift
	as_server_user "$PG_BIN/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 --locale=C \
		>"$CITUS_DIR/initdb$i.log" 2>&1 || { cat "$CITUS_DIR/initdb$i.log" >&2; exit 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$CITUS_DIR'"
		echo "port = $(citus_node_port "$i")"
		echo "max_connections = 200"
		echo "shared_buffers = 128MB"
		echo "shared_preload_libraries = 'citus, ledger'"
		echo "max_prepared_transactions = 100"
		echo "wal_level = logical"
		echo "max_wal_senders = 20"
		echo "max_replication_slots = 20"
		echo "citus.shard_count = 8"
		echo "citus.local_hostname = '$CITUS_DIR'"
		echo "ledger.expiry_database = '${DB:-ledger}'"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] '"
		local setting
		for setting in "$@"; do echo "$setting"; done
	} | as_server_user tee -a "$dir/postgresql.conf" >/dev/null
	citus_start_node "$i"
}

# citus_start_node I / citus_stop_node I [MODE] - start or stop node I.
citus_start_node() {
	as_server_user "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$1" -l "$CITUS_DIR/node$1.log" -w -t 60 \
		start >/dev/null || { cat "$CITUS_DIR/node$1.log" >&2; exit 1; }
}
citus_stop_node() {
	as_server_user "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$1" -m "${2:-fast}" -w stop >/dev/null 2>&1
}

# citus_psql I [psql args...] - psql on node I, database $DB, tuples only.
citus_psql() {
	local i=$1
	shift
	"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$(citus_node_port "$i")" \
		-U postgres -d "${DB:-ledger}" "$@"
}

# citus_start_cluster WORKERS [setting...] - a coordinator and WORKERS
# workers with database $DB (default "ledger") holding citus and ledger on
# each, the workers added to the coordinator; PGHOST/PGPORT name the
# coordinator.  Stopped by citus_stop_cluster, normally from an EXIT trap.
citus_start_cluster() {
	local workers=$1 i
	shift
	CITUS_DIR=$(mktemp -d /tmp/citus.XXXXXX)
	chmod 755 "$CITUS_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$CITUS_DIR"
	CITUS_NODES=$((workers + 1))
	export CITUS_DIR CITUS_NODES
	log "starting a Citus cluster of a coordinator and $workers workers in $CITUS_DIR"
	for i in $(seq 0 "$workers"); do
		citus_init_node "$i" "$@"
		citus_add_database "$i"
	done
	citus_psql 0 -c "SELECT citus_set_coordinator_host('$CITUS_DIR', $(citus_node_port 0))" >/dev/null
	for i in $(seq 1 "$workers"); do
		citus_psql 0 -c "SELECT citus_add_node('$CITUS_DIR', $(citus_node_port "$i"))" >/dev/null
	done
	export PGHOST=$CITUS_DIR PGPORT=$(citus_node_port 0) PGUSER=postgres PGDATABASE=${DB:-ledger}
}

# citus_add_database I - database $DB on node I with both extensions.
citus_add_database() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$(citus_node_port "$1")" -U postgres \
		-d postgres -c "CREATE DATABASE ${DB:-ledger}" >/dev/null
	citus_psql "$1" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION ledger" >/dev/null
}

# citus_add_worker - start one more worker (its keys changed first when the
# ledger is distributed: ledger.prepare_distribution()) and add it to the
# cluster; prints its node number.
citus_add_worker() {
	local i=$CITUS_NODES
	citus_init_node "$i" >&2
	citus_add_database "$i" >&2
	# A distributed ledger's tables have their keys changed on every node.
	if [ "$(citus_psql 0 -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'ledger.accounts'::regclass")" = 1 ]; then
		citus_psql "$i" -c "SELECT ledger.prepare_distribution()" >/dev/null
	fi
	citus_psql 0 -c "SELECT citus_add_node('$CITUS_DIR', $(citus_node_port "$i"))" >/dev/null
	# Shards move to it only once it has the reference tables.
	citus_psql 0 -c "SELECT replicate_reference_tables()" >/dev/null
	CITUS_NODES=$((i + 1))
	echo "$i"
}

citus_stop_cluster() {
	[ -n "${CITUS_DIR:-}" ] && [ -d "$CITUS_DIR" ] || return 0
	local i
	for ((i = 0; i < CITUS_NODES; i++)); do
		[ -d "$CITUS_DIR/node$i" ] || continue
		citus_stop_node "$i" fast || citus_stop_node "$i" immediate || true
	done
	# CITUS_KEEP=1 keeps the nodes' directories and logs, to look into.
	if [ -n "${CITUS_KEEP:-}" ]; then
		echo "kept $CITUS_DIR" >&2
	else
		rm -rf "$CITUS_DIR"
	fi
	CITUS_DIR=
}

# citus_distribute - distribute the ledger over the cluster (ledger.distribute()),
# which prints nothing and leaves the session's settings as they were.
citus_distribute() {
	local out
	out=$(citus_psql 0 -c "SELECT ledger.distribute()" -c "SHOW client_min_messages" \
		-c "SHOW citus.enable_unsafe_triggers" -c "SHOW citus.multi_shard_modify_mode" 2>&1) ||
		{ echo "FAILED: ledger.distribute() failed: $out" >&2; exit 1; }
	[ "$out" = $'\nnotice\noff\nparallel' ] ||
		{ echo "FAILED: ledger.distribute() printed or left settings changed: $out" >&2; exit 1; }
}

# citus_test_begin WORKERS - how a cluster test starts: Citus there (or exit
# 77), a coordinator and WORKERS workers, stopped when the test exits.
citus_test_begin() {
	citus_require
	trap citus_stop_cluster EXIT
	citus_start_cluster "$1"
}
