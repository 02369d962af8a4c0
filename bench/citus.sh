#!/usr/bin/env bash
# bench/citus.sh - what the ledger costs on a Citus cluster.
#
# On this machine, side by side: a single server, and a Citus cluster of a
# coordinator and two workers with the ledger distributed
# (ledger.distribute()).  Each holds one book of 200 wallets; the cluster
# also 8 books of 25 wallets, spread over both workers.  16 clients of
# single transfers between random wallets (synchronous_commit on) run for T
# seconds on: the single server's book ("single"), the cluster's one book
# through the coordinator ("one book"), the cluster's 8 books through the
# coordinator ("8 books"); and batches of two transfers through the
# coordinator, both in one book ("batch") or one in a book on each worker
# ("across": a two-phase commit); ROUNDS rounds, the order turning from
# round to round, after a warm-up run of each.  A run's figures are its
# seconds after the fifth (pgbench -P 1): before that the clients' new
# backends on the coordinator load Citus's metadata, connect to the
# workers and look up their accounts' books.  Printed: each run's calls
# per second (a batch is one call of two transfers) and mean latency, the
# medians, and the ratios to the single server and, for the batches, of
# across to one book.  Then, for one call of each kind, the commands the
# coordinator sends the workers (each a round trip), the nodes it reaches
# and its two-phase commits; the CPU time a call costs each node; and
# what the first call of 16 new clients at once costs.  On 2 CPUs all
# three servers of the cluster share the cores, so this measures what a
# call costs, not how a cluster scales; see docs/performance.md for the
# model.
# Usage: bench/citus.sh [-T SECONDS (15)] [--rounds N (3)] [--no-build]
set -euo pipefail

TIME=15
SKIP=5
ROUNDS=3
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		-T|--time) TIME=${2:?}; shift 2 ;;
		--rounds) ROUNDS=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) sed -n 2,27p "$0"; exit 0 ;;
		*) echo "usage: bench/citus.sh [-T SECONDS] [--rounds N] [--no-build]" >&2; exit 2 ;;
	esac
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"
cd "$LEDGER_ROOT"
ledger_require_packages
[ "$BUILD" = 1 ] && ledger_build_install
citus_require
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
WORK=$(mktemp -d)
trap 'citus_stop_cluster; ledger_stop_server; rm -rf "$WORK"' EXIT

ledger_start_server bench_citus
SINGLE_HOST=$PGHOST SINGLE_PORT=$PGPORT
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE ledger" -c "\\c ledger" \
	-c "CREATE EXTENSION ledger" >/dev/null
citus_start_cluster 2
citus_distribute

# books HOST PORT BOOKS WALLETS - BOOKS books of WALLETS funded wallets;
# prints "first_wallet_id" of each book, one per line.
books() {
	"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d ledger <<SQL
CREATE TEMP TABLE firsts (id bigint);
DO \$\$
DECLARE b bigint; f bigint; w bigint; lo bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM ledger.assets) THEN
        PERFORM ledger.create_asset('USD', 2);
    END IF;
    FOR k IN 1..$3 LOOP
        b := ledger.create_book('bench' || clock_timestamp() || k);
        f := ledger.create_book_account(b, 'USD', 'fund', normal_balance => 'debit', min_balance => NULL);
        lo := NULL;
        FOR i IN 1..$4 LOOP
            w := ledger.create_book_account(b, 'USD', 'w' || i);
            lo := coalesce(lo, w);
            PERFORM ledger.transfer(f, w, 100000000);
        END LOOP;
        INSERT INTO firsts VALUES (lo);
    END LOOP;
END
\$\$;
SELECT id FROM firsts ORDER BY id;
SQL
}
single_first=$(books "$SINGLE_HOST" "$SINGLE_PORT" 1 200)
one_first=$(books "$CITUS_DIR" "$(citus_node_port 0)" 1 200)
mapfile -t many_firsts < <(books "$CITUS_DIR" "$(citus_node_port 0)" 8 25)

# One book of 200 wallets from FIRST; or 8 books of 25.
one_book_script() {
	printf '\\set x random(0, 199)\n\\set y random(0, 198)\n\\set amount random(1, 1000)\n'
	printf 'SELECT ledger.transfer(%d + :x, %d + (:x + 1 + :y) %% 200, :amount);\n' "$1" "$1"
}
one_book_script "$single_first" >"$WORK/single.sql"
one_book_script "$one_first" >"$WORK/one.sql"
{
	printf '\\set b random(0, 7)\n\\set x random(0, 24)\n\\set y random(0, 23)\n\\set amount random(1, 1000)\n'
	# The books' first wallets are 26 ids apart (a fund, then 25 wallets).
	printf 'SELECT ledger.transfer(%d + :b * 26 + :x, %d + :b * 26 + (:x + 1 + :y) %% 25, :amount);\n' \
		"${many_firsts[0]}" "${many_firsts[0]}"
} >"$WORK/many.sql"
[ $((many_firsts[7] - many_firsts[0])) = $((7 * 26)) ] || { echo "bench: the books' ids are not 26 apart" >&2; exit 1; }

# Batches of two transfers: both in one book ("batch"), or one in a book on
# each worker ("across", a two-phase commit).  worker_of WALLET - the port of
# the worker holding the wallet's book.
worker_of() {
	citus_psql 0 -c "SELECT p.nodeport FROM ledger.accounts AS a
		JOIN pg_dist_shard_placement AS p ON p.shardid = get_shard_id_for_distribution_column('ledger.accounts', a.book_id)
		WHERE a.id = $1"
}
batch_a=${many_firsts[0]} batch_b=
for f in "${many_firsts[@]:1}"; do
	[ "$(worker_of "$f")" != "$(worker_of "$batch_a")" ] && { batch_b=$f; break; }
done
[ -n "$batch_b" ] || { echo "bench: the 8 books are all on one worker" >&2; exit 1; }
pair() { printf '%d + :%s, %d + (:%s + 1 + :%s) %% 25' "$1" "$2" "$1" "$2" "$3"; }
batch_script() {
	printf '\\set x random(0, 24)\n\\set y random(0, 23)\n\\set u random(0, 24)\n\\set v random(0, 23)\n'
	printf 'SELECT ledger.transfer_batch(ARRAY[ROW(%s, 100, NULL, NULL, NULL), ROW(%s, 100, NULL, NULL, NULL)]::ledger.transfer_request[]);\n' \
		"$(pair "$1" x y)" "$(pair "$2" u v)"
}
batch_script "$batch_a" "$batch_a" >"$WORK/batch.sql"
batch_script "$batch_a" "$batch_b" >"$WORK/across.sql"

# run KIND - "tps latency_ms" of one run, over its seconds after the first
# SKIP: a new backend on a Citus coordinator loads Citus's metadata and
# opens its connections to the workers first, which for 16 new clients at
# once on 2 cores takes seconds (see "first call of a backend" below), and
# a pool of connections pays once.
run() {
	local host=$CITUS_DIR port out
	port=$(citus_node_port 0)
	[ "$1" = single ] && host=$SINGLE_HOST port=$SINGLE_PORT
	out=$("$PG_BIN/pgbench" -n -c 16 -j 2 -T "$TIME" -P 1 -f "$WORK/$1.sql" -h "$host" -p "$port" -U postgres ledger 2>&1) ||
		{ echo "$out" >&2; exit 1; }
	awk -v skip="$SKIP" '/^progress: / && $2 + 0 > skip { n++; tps += $4; lat += $7 }
		END { if (n == 0) exit 1; printf "%.1f %.3f\n", tps / n, lat / n }' <<<"$out" ||
		{ echo "bench: no progress line after ${SKIP}s: $out" >&2; exit 1; }
}

kinds=(single one many batch across)
for kind in "${kinds[@]}"; do run "$kind" >/dev/null; done
: >"$WORK/runs"
for r in $(seq 1 "$ROUNDS"); do
	for k in "${!kinds[@]}"; do
		kind=${kinds[$(((k + r - 1) % ${#kinds[@]}))]}
		res=$(run "$kind")
		echo "$r $kind $res" >>"$WORK/runs"
		log "round $r, $kind: $res"
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "citus benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, ledger" \
	"$(citus_psql 0 -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'") (commit $commit)," \
	"Citus $(citus_psql 0 -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'");" \
	"-T $TIME (figures of the seconds after the ${SKIP}th), $ROUNDS rounds; 16 clients, synchronous_commit on"
echo
echo "| round | single server | one book through the coordinator | 8 books over 2 workers | batches of 2 in one book | batches of 2 across 2 workers |"
echo "|---|--:|--:|--:|--:|--:|"
for r in $(seq 1 "$ROUNDS"); do
	printf '| %d |' "$r"
	for kind in "${kinds[@]}"; do
		awk -v r="$r" -v k="$kind" '$1 == r && $2 == k { printf " %.0f/s, %.1f ms |", $3, $4 }' "$WORK/runs"
	done
	echo
done
for kind in "${kinds[@]}"; do
	printf '%s ' "$(awk -v k="$kind" '$2 == k { print $3 }' "$WORK/runs" | median)"
done | awk '{
	printf "| median | %.0f/s | %.0f/s | %.0f/s | %.0f/s | %.0f/s |\n", $1, $2, $3, $4, $5
	printf "| to the single server | 1 | %.2fx | %.2fx | | |\n", $2 / $1, $3 / $1
	printf "| across to one book | | | | 1 | %.2fx |\n", $5 / $4 }'

# What one call sends from the coordinator to the workers, as Citus logs it
# (citus.log_remote_commands): each command is a round trip.  remote
# WARM SQL - "commands nodes prepared" for SQL called once with logging on,
# after WARM calls of it in the same session (0: a new backend, which
# first looks the accounts' books up).
remote() {
	local out i args=()
	for ((i = 0; i < $1; i++)); do args+=(-c "$2"); done
	out=$(citus_psql 0 "${args[@]}" -c "SET citus.log_remote_commands = on" \
		-c "SET client_min_messages = log" -c "$2" 2>&1 >/dev/null)
	echo "$(grep -c '^[A-Z]*:  issuing ' <<<"$out")" \
		"$(grep -o 'on server [^ ]*' <<<"$out" | sort -u | wc -l)" \
		"$(grep -c '^[A-Z]*:  issuing PREPARE TRANSACTION' <<<"$out")"
}
item() { printf 'ROW(%d, %d, 100, NULL, NULL, NULL)' "$1" "$2"; }
batch_sql() { echo "SELECT ledger.transfer_batch(ARRAY[$1, $2]::ledger.transfer_request[])"; }
echo
echo "| one call through the coordinator | commands sent to workers | nodes | two-phase commits |"
echo "|---|--:|--:|--:|"
while IFS='|' read -r label warm sql; do
	read -r n nodes prepared < <(remote "$warm" "$sql")
	echo "| $label | $n | $nodes | $prepared |"
done <<ROWS
transfer, first call of a backend|0|SELECT ledger.transfer($one_first, $((one_first + 1)), 1)
transfer|1|SELECT ledger.transfer($one_first, $((one_first + 1)), 1)
transfer with an idempotency key|1|SELECT ledger.transfer($one_first, $((one_first + 1)), 1, 'bench-' || clock_timestamp())
hold|1|SELECT ledger.hold($one_first, $((one_first + 1)), 1)
balance|1|SELECT * FROM ledger.balance($one_first)
batch of 2 in one book|1|$(batch_sql "$(item "$batch_a" $((batch_a + 1)))" "$(item $((batch_a + 1)) $((batch_a + 2)))")
batch of 2 across 2 workers|1|$(batch_sql "$(item "$batch_a" $((batch_a + 1)))" "$(item "$batch_b" $((batch_b + 1)))")
ROWS

# The CPU a call costs each node: the CPU time its postmaster's children
# (the backends, and on a worker the coordinator's connections to it)
# used in a run of KIND, once they have all exited, less that of a run of
# one call per client (the new backends' start), per further call.
# node_cpu DIR - the CPU ticks of DIR's server's exited children.
node_cpu() { awk '{ print $16 + $17 }' "/proc/$(head -1 "$1/postmaster.pid")/stat"; }
# cpu_of KIND ARGS... - "calls ticks..." of a pgbench run of KIND with ARGS,
# one figure per node (the single server's, or the coordinator's and the
# workers').
cpu_of() {
	local kind=$1 host=$CITUS_DIR port dirs=() before=() out i n busy
	shift
	port=$(citus_node_port 0)
	if [ "$kind" = single ]; then
		host=$SINGLE_HOST port=$SINGLE_PORT dirs=("$LEDGER_PGDATA/data")
	else
		for ((i = 0; i < CITUS_NODES; i++)); do dirs+=("$CITUS_DIR/node$i"); done
	fi
	for i in "${!dirs[@]}"; do before[i]=$(node_cpu "${dirs[i]}"); done
	out=$("$PG_BIN/pgbench" -n -c 16 -j 2 "$@" -f "$WORK/$kind.sql" -h "$host" -p "$port" -U postgres ledger 2>&1) ||
		{ echo "$out" >&2; exit 1; }
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	# Until every backend of the run (and its connections to the workers)
	# has exited, then a moment for the postmasters to count them.
	for ((i = 0; i < 100; i++)); do
		busy=0
		for d in "${dirs[@]}"; do
			[ "$("$PG_BIN/psql" -X -At -h "$(sed -n 5p "$d/postmaster.pid")" -p "$(sed -n 4p "$d/postmaster.pid")" \
				-U postgres -d ledger -c "SELECT count(*) FROM pg_stat_activity
				                           WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
				                             AND application_name NOT LIKE 'citus_%'")" = 0 ] || busy=1
		done
		[ "$busy" = 0 ] && break
		sleep 0.1
	done
	sleep 0.5
	printf '%s' "$n"
	for i in "${!dirs[@]}"; do printf ' %s' $(($(node_cpu "${dirs[i]}") - before[i])); done
	echo
}
ticks=$(getconf CLK_TCK)
echo
echo "| CPU per call (ms) | single server, or coordinator | worker 1 | worker 2 | all nodes |"
echo "|---|--:|--:|--:|--:|"
for kind in single one across; do
	read -r -a start <<<"$(cpu_of "$kind" -t 1)"
	read -r -a full <<<"$(cpu_of "$kind" -T "$TIME")"
	awk -v k="$kind" -v t="$ticks" -v s="${start[*]}" -v f="${full[*]}" 'BEGIN {
		ns = split(s, a, " "); split(f, b, " "); calls = b[1] - a[1]; all = 0
		label = k == "single" ? "transfer, single server" : k == "one" ? "transfer, one book through the coordinator" : "batch of 2 across 2 workers"
		printf "| %s |", label
		for (i = 2; i <= 4; i++) {
			if (i > ns) { printf " |"; continue }
			ms = (b[i] - a[i]) * 1000 / t / calls; all += ms
			printf " %.2f |", ms
		}
		printf " %.2f |\n", all }'
done

# The first call of 16 new clients at once: one transaction each.
first() {
	local host=$CITUS_DIR port out
	port=$(citus_node_port 0)
	[ "$1" = single ] && host=$SINGLE_HOST port=$SINGLE_PORT
	out=$("$PG_BIN/pgbench" -n -c 16 -j 2 -t 1 -f "$WORK/$2.sql" -h "$host" -p "$port" -U postgres ledger 2>&1) ||
		{ echo "$out" >&2; exit 1; }
	sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out" | awk '{ printf "%.0f", $1 }'
}
echo
echo "First call of 16 new clients at once (pgbench -t 1, mean latency): single server $(first single single) ms," \
	"one book through the coordinator $(first cluster one) ms."
