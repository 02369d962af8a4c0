#!/usr/bin/env bash
# bench/run.sh - race the ledger extension against a hand-written SQL ledger
# (bench/baseline.sql) and against PostgreSQL's own pgbench -N, with pgbench.
#
# Starts a throwaway PostgreSQL 15 (test/lib/pg.sh), builds one database with
# both ledgers, 10,000 funded accounts on each side and pgbench's own tables
# (pgbench -i -s 10), then runs every workload against each side with
# synchronous_commit on and off, R times, interleaved (ledger, baseline,
# ledger, ... with pgbench -N among them), and prints the medians: transfers
# per second, p50 and p99 latency, WAL bytes per transfer, and the ratios
# ledger/baseline and ledger/pgbench -N.  The targets of the "Performance"
# issue follow as PASS/FAIL lines; they are information, never the exit
# status.  Timings are not tests: test/run.sh does not call this.
#
# Workloads (each side, synchronous_commit on and off):
#   uniform      one transfer per transaction between two random accounts
#                of 10,000, at 1, 4 and 16 clients; at 16 clients also as
#                side "app": the same calls by a role that holds post on
#                book 1 and nothing else, so that every call checks its
#                grants, against the owner's (which holds every privilege);
#                and as side "events": the owner's calls with book 1
#                publishing events (ledger.set_book_events), the library
#                preloaded so that its worker sends the NOTIFY; the events
#                are pruned and vacuumed after each such run; the owner's,
#                app's and events' runs take turns going first
#   hot          16 clients, every transfer credits one account (the ledger
#                side in its hot-account mode when the extension has one)
#   batch N      one client, N transfers between random pairs per call:
#                ledger.transfer_batch vs baseline.transfer_batch; batch
#                10,000 also as side "events"
#   pgbench -N   pgbench's simple-update at 16 clients: one commit per
#                transaction, the ceiling for single transfers
#   memory       last, once: bench/memory.sh in the same server and database,
#                the memory of one backend over 1,000,000 single calls
#                (100,000 with --quick) and of one batch of 10,000 items
#
# The accounts are bench/lib.sh's: 1..10,000 credit-normal with min_balance
# 0, each funded with 1,000,000,000 minor units, so no transfer of a run can
# fail; account 10,001 is the hot account.
#
# Usage: bench/run.sh [--quick] [-T SECONDS] [-R REPEATS] [--markdown FILE] [--no-build] [--no-memory]
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/run.sh [options]
  -T, --time SECONDS   length of each timed pgbench run (default 10)
  -R, --repeat N       runs of each configuration; medians are reported (default 3)
  --quick              smoke test: -T 3, -R 1, uniform at 16 clients only,
                       fewer batch calls, 100,000 calls for bench/memory.sh
  --markdown FILE      also write the report as markdown to FILE
  --no-build           use the installed extension; do not build or install
  --no-memory          skip bench/memory.sh (target 6)
  -h, --help           this text
EOF
}

TIME=10
REPEAT=3
QUICK=0
MARKDOWN=
BUILD=1
MEMORY=1
time_set=0
repeat_set=0
while [ $# -gt 0 ]; do
	case $1 in
		-T|--time) TIME=${2:?}; time_set=1; shift 2 ;;
		-R|--repeat) REPEAT=${2:?}; repeat_set=1; shift 2 ;;
		--quick) QUICK=1; shift ;;
		--markdown) MARKDOWN=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		--no-memory) MEMORY=0; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
done
if [ "$QUICK" -eq 1 ]; then
	[ "$time_set" -eq 1 ] || TIME=3
	[ "$repeat_set" -eq 1 ] || REPEAT=1
fi
[[ $TIME =~ ^[1-9][0-9]*$ ]] || { echo "bench: -T wants a positive number of seconds" >&2; exit 2; }
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "bench: -R wants a positive count" >&2; exit 2; }
if [ -n "$MARKDOWN" ]; then
	case $MARKDOWN in /*) ;; *) MARKDOWN=$PWD/$MARKDOWN ;; esac
fi

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

# ---------------------------------------------------------------------------
# The ledger's hot-account mode (ledger.set_account_hot, docs/operations.md).
# The hot workload credits one account from 16 clients.  When the function
# named here exists (to_regprocedure), the bench runs LEDGER_HOT_ENABLE_SQL
# once, before the first run, with :hot set to the hot account's id, and the
# ledger side of the hot workload runs in that mode; otherwise (a build
# without it) it runs the ordinary path and the report says so.
# ---------------------------------------------------------------------------
LEDGER_HOT_FUNCTION=${LEDGER_HOT_FUNCTION:-'ledger.set_account_hot(bigint,boolean)'}
LEDGER_HOT_ENABLE_SQL=${LEDGER_HOT_ENABLE_SQL:-'SELECT ledger.set_account_hot(:hot)'}

DB=bench
CLIENTS_MAX=16
PGBENCH_SCALE=10
if [ "$QUICK" -eq 1 ]; then
	UNIFORM_CLIENTS="16"
	BATCH_CALLS_1000=3		# ledger.transfer_batch calls of 1,000 items per run
	BATCH_CALLS_10000=1
	MEMORY_CALLS=100000		# single calls of bench/memory.sh
else
	UNIFORM_CLIENTS="1 4 16"
	BATCH_CALLS_1000=20
	BATCH_CALLS_10000=5
	MEMORY_CALLS=1000000
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-bench.XXXXXX")
chmod 755 "$WORK"
cleanup() {
	ledger_stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
if [ "$BUILD" -eq 1 ]; then
	ledger_require_packages
	ledger_build_install
fi
commit=$(bench_commit)
# Preloaded, with the worker in the bench's database: how a ledger that
# publishes events runs (docs/operations.md).
ledger_start_server bench "${BENCH_SERVER_SETTINGS[@]}" "shared_preload_libraries = 'ledger'" \
	"ledger.expiry_database = '$DB'"

# ---------------------------------------------------------------------------
# Set-up: both ledgers with the same accounts and balances, and pgbench's
# tables, in one database.
# ---------------------------------------------------------------------------
log "setting up $ACCOUNTS accounts on each side and pgbench -i -s $PGBENCH_SCALE"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
bench_setup_ledger
psql_db -f bench/baseline.sql >/dev/null
psql_db >/dev/null <<EOF
INSERT INTO baseline.assets (code, scale) VALUES ('USD', 2);
INSERT INTO baseline.accounts (id, asset, name, normal_balance)
SELECT i, 'USD', 'user-' || i, 'credit' FROM generate_series(1, $ACCOUNTS) AS i;
INSERT INTO baseline.accounts (id, asset, name, normal_balance)
VALUES ($HOT_ACCOUNT, 'USD', 'merchant', 'credit'), ($TREASURY, 'USD', 'treasury', 'debit');
SELECT setval('baseline.accounts_id_seq', $TREASURY);
SELECT cardinality(baseline.transfer_batch(array_agg($TREASURY::bigint ORDER BY i),
                                           array_agg(i::bigint ORDER BY i),
                                           array_agg($FUNDING::numeric ORDER BY i)))
  FROM generate_series(1, $ACCOUNTS) AS i;
EOF
# Both sides must start from the same accounts and balances.
check=$(psql_db <<EOF
SELECT (SELECT count(*) FROM ledger.accounts AS a
         WHERE (a.id <= $ACCOUNTS AND a.name = 'user-' || a.id
                AND (SELECT posted FROM ledger.balance(a.id))::numeric = $FUNDING)
            OR (a.id = $HOT_ACCOUNT AND a.name = 'merchant')
            OR (a.id = $TREASURY AND a.name = 'treasury'))
    || ' ' ||
       (SELECT count(*) FROM baseline.accounts AS a
         WHERE (a.id <= $ACCOUNTS AND a.name = 'user-' || a.id
                AND a.credits_posted - a.debits_posted = $FUNDING)
            OR (a.id = $HOT_ACCOUNT AND a.name = 'merchant')
            OR (a.id = $TREASURY AND a.name = 'treasury'));
EOF
)
want="$((ACCOUNTS + 2)) $((ACCOUNTS + 2))"
[ "$check" = "$want" ] || { echo "bench: set-up went wrong: accounts '$check', want '$want'" >&2; exit 1; }
# The application role of side "app": EXECUTE on transfer, post on book 1.
psql_db >/dev/null <<EOF
CREATE ROLE bench_app;
GRANT USAGE ON SCHEMA ledger TO bench_app;
GRANT EXECUTE ON FUNCTION ledger.transfer(bigint, bigint, ledger.amount, text, text, jsonb) TO bench_app;
SELECT ledger.grant_privilege(1, 'bench_app', 'post');
EOF
"$PG_BIN/pgbench" -i -q -s "$PGBENCH_SCALE" "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
	{ cat "$WORK/pgbench-init.log" >&2; exit 1; }

hot_function=$(psql_db -c "SELECT to_regprocedure('$LEDGER_HOT_FUNCTION')")
if [ -n "$hot_function" ]; then
	log "hot-account mode: $hot_function on account $HOT_ACCOUNT"
	psql_db -v hot="$HOT_ACCOUNT" >/dev/null <<<"$LEDGER_HOT_ENABLE_SQL"
	HOT_MODE="on ($hot_function)"
else
	HOT_MODE="absent ($LEDGER_HOT_FUNCTION not found): ordinary path"
	others=$(psql_db -c "SELECT string_agg(p.oid::regprocedure::text, ', ')
	                       FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
	                      WHERE n.nspname = 'ledger' AND p.proname LIKE '%hot%'")
	[ -z "$others" ] || log "note: found $others; set LEDGER_HOT_FUNCTION and LEDGER_HOT_ENABLE_SQL to use it"
fi
# No CHECKPOINT after the set-up: every page the bench touches was written
# after the last one, so no run pays full-page images and the WAL figures are
# the steady-state cost of a transfer, the same for every run.
psql_db -c "VACUUM ANALYZE"
checkpoints_before=$(psql_db -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")

# ---------------------------------------------------------------------------
# pgbench scripts.  The credit account is drawn so that it never equals the
# debit account, uniformly over the others (as pairs() in bench/lib.sh).
# ---------------------------------------------------------------------------
mkdir -p "$WORK/scripts" "$WORK/log"
pair="\\set debit random(1, $ACCOUNTS)
\\set credit 1 + (:debit - 1 + random(1, $((ACCOUNTS - 1)))) % $ACCOUNTS
\\set amount random(1, 1000)"
printf '%s\nSELECT ledger.transfer(:debit, :credit, :amount);\n' "$pair" >"$WORK/scripts/uniform-ledger.sql"
printf '%s\nSELECT baseline.transfer(:debit, :credit, :amount);\n' "$pair" >"$WORK/scripts/uniform-baseline.sql"
hot="\\set debit random(1, $ACCOUNTS)
\\set amount random(1, 1000)"
printf '%s\nSELECT ledger.transfer(:debit, %d, :amount);\n' "$hot" "$HOT_ACCOUNT" >"$WORK/scripts/hot-ledger.sql"
printf '%s\nSELECT baseline.transfer(:debit, %d, :amount);\n' "$hot" "$HOT_ACCOUNT" >"$WORK/scripts/hot-baseline.sql"
for n in 1000 10000; do
	cat >"$WORK/scripts/batch$n-ledger.sql" <<EOF
SELECT cardinality(ledger.transfer_batch(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request)))
  FROM $(pairs "$n");
EOF
	cat >"$WORK/scripts/batch$n-baseline.sql" <<EOF
SELECT cardinality(baseline.transfer_batch(array_agg(d::bigint), array_agg(c::bigint), array_agg(1::numeric)))
  FROM $(pairs "$n");
EOF
done

# ---------------------------------------------------------------------------
# One run: pgbench for one workload, side and synchronous_commit setting.
# Appends to results.tsv: workload clients sync side rep ops/s p50_us p99_us
# wal_bytes_per_op ops.
# ---------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"
run_no=0

# run_one WORKLOAD SIDE SYNC CLIENTS REP
run_one() {
	local wl=$1 side=$2 sync=$3 clients=$4 rep=$5
	local items=1 jobs=$(($4 < 2 ? $4 : 2)) prefix out lsn wal ntx tps ops lat options=
	local -a args=(-n -M prepared -c "$clients" -j "$jobs")
	case $wl-$side in
		uniform-app) args+=(-T "$TIME" -f "$WORK/scripts/uniform-ledger.sql"); options="-c role=bench_app" ;;
		uniform-events) args+=(-T "$TIME" -f "$WORK/scripts/uniform-ledger.sql") ;;
		batch10000-events) items=10000; args+=(-t "$BATCH_CALLS_10000" -f "$WORK/scripts/batch10000-ledger.sql") ;;
		uniform-* | hot-*) args+=(-T "$TIME" -f "$WORK/scripts/$wl-$side.sql") ;;
		batch1000-*) items=1000; args+=(-t "$BATCH_CALLS_1000" -f "$WORK/scripts/$wl-$side.sql") ;;
		batch10000-*) items=10000; args+=(-t "$BATCH_CALLS_10000" -f "$WORK/scripts/$wl-$side.sql") ;;
		pgbench-N-*) args+=(-T "$TIME" -b simple-update) ;;
	esac
	run_no=$((run_no + 1))
	prefix=$WORK/log/run$run_no
	out=$WORK/log/output$run_no.txt
	[ "$side" = events ] && psql_db -c "SELECT ledger.set_book_events(1, true)" >/dev/null
	lsn=$(psql_db -c "SELECT pg_current_wal_insert_lsn()")
	if ! PGOPTIONS="-c synchronous_commit=$sync $options" "$PG_BIN/pgbench" "${args[@]}" \
		-l --log-prefix="$prefix" "$DB" >"$out" 2>&1 ||
		grep -q -E 'aborted|failed transactions: [1-9]' "$out"; then
		echo "bench: pgbench failed: $wl $side synchronous_commit=$sync clients=$clients" >&2
		cat "$out" >&2
		exit 1
	fi
	wal=$(psql_db -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn')")
	if [ "$side" = events ]; then
		# Pruned and vacuumed, so that no autovacuum of it falls in a later run.
		psql_db -c "SELECT ledger.set_book_events(1, false)" -c "SELECT ledger.prune_events()" \
			-c "VACUUM ledger.events" >/dev/null
	fi
	ntx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
	[ -n "$ntx" ] && [ -n "$tps" ] && [ "$ntx" -gt 0 ] ||
		{ echo "bench: cannot read pgbench's output" >&2; cat "$out" >&2; exit 1; }
	# Latency of each transaction in microseconds, third column of the log.
	lat=$(cat "$prefix".* | awk '{ print $3 }' | sort -n | awk '
		{ v[NR] = $1 }
		END {
			i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
			i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
			print v[i50], v[i99]
		}')
	rm -f "$prefix".*
	ops=$(awk -v t="$tps" -v n="$items" 'BEGIN { printf "%.1f", t * n }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$clients" "$sync" "$side" "$rep" "$ops" \
		"${lat% *}" "${lat#* }" \
		"$(awk -v w="$wal" -v n="$ntx" -v i="$items" 'BEGIN { printf "%.1f", w / (n * i) }')" \
		>>"$RESULTS"
	log "$(printf '[%d/%d] %-10s c=%-2s sync=%-3s %-8s %10.0f/s  p50 %s us  p99 %s us  WAL %s B/op' \
		"$run_no" "$total_runs" "$wl" "$clients" "$sync" "$side" "$ops" "${lat% *}" "${lat#* }" \
		"$(tail -n 1 "$RESULTS" | cut -f 9)")"
}

# The configurations in report order: workload clients side.
CONFIGS=$WORK/configs.tsv
: >"$CONFIGS"
for c in $UNIFORM_CLIENTS; do
	printf 'uniform\t%s\n' "$c" >>"$CONFIGS"
done
printf 'hot\t%s\n' "$CLIENTS_MAX" >>"$CONFIGS"
printf 'batch1000\t1\nbatch10000\t1\n' >>"$CONFIGS"
printf 'pgbench-N\t%s\n' "$CLIENTS_MAX" >>"$CONFIGS"
n_configs=$(wc -l <"$CONFIGS")
total_runs=$(((2 * n_configs - 1 + 3) * 2 * REPEAT))
estimate=$(((2 * (n_configs - 2) + 1) * 2 * REPEAT * TIME))
log "$total_runs runs; the timed ones alone take $((estimate / 60)) min $((estimate % 60)) s"

# Brief warm-up of both sides, so that the first measured runs do not pay for
# the first touch of every page after the set-up's checkpoint alone.
for side in ledger baseline; do
	PGOPTIONS="-c synchronous_commit=off" "$PG_BIN/pgbench" -n -M prepared -c "$CLIENTS_MAX" -j 2 \
		-T 2 -f "$WORK/scripts/uniform-$side.sql" "$DB" >/dev/null 2>&1 ||
		{ echo "bench: warm-up of $side failed" >&2; exit 1; }
done

# Interleave: per repetition, per setting, per workload, ledger then baseline
# (baseline first in even repetitions), and the sync order flips each time.
for rep in $(seq 1 "$REPEAT"); do
	if [ $((rep % 2)) -eq 1 ]; then syncs="on off"; sides="ledger baseline"; else syncs="off on"; sides="baseline ledger"; fi
	for sync in $syncs; do
		while IFS=$'\t' read -r wl clients; do
			if [ "$wl" = pgbench-N ]; then
				run_one "$wl" pgbench "$sync" "$clients" "$rep"
				continue
			fi
			for side in $sides; do
				# sides app and events beside the owner's run of the same
				# calls, before it in every other repetition
				group=$side
				if [ "$wl-$clients-$side" = "uniform-$CLIENTS_MAX-ledger" ]; then
					group="ledger app events"
				elif [ "$wl-$side" = "batch10000-ledger" ]; then
					group="ledger events"
				fi
				[ $((rep % 2)) -eq 1 ] || group=$(echo "$group" | tr ' ' '\n' | tac | tr '\n' ' ')
				for s in $group; do
					run_one "$wl" "$s" "$sync" "$clients" "$rep"
				done
			done
		done <"$CONFIGS"
	done
done
checkpoints=$(($(psql_db -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter") - checkpoints_before))

# ---------------------------------------------------------------------------
# Memory (target 6), after the timed runs, which its million transfers would
# otherwise slow down.  Its report goes to $WORK/memory; a failure costs its
# figures, not the ones above.
# ---------------------------------------------------------------------------
if [ "$MEMORY" -eq 1 ]; then
	if bash "$LEDGER_ROOT/bench/memory.sh" --db "$DB" --calls "$MEMORY_CALLS" --report-dir "$WORK/memory"; then
		MEMORY_NOTE="bench/memory.sh, $MEMORY_CALLS single calls in one backend, then single batches of 10,000 and 100,000 items, after the timed runs"
	else
		MEMORY=0
		MEMORY_NOTE="bench/memory.sh FAILED (its output above); no figures"
	fi
else
	MEMORY_NOTE="skipped (--no-memory)"
fi

# ---------------------------------------------------------------------------
# Report: medians over the repetitions, as text and as markdown.
# ---------------------------------------------------------------------------
pg_version=$(psql_db -c "SHOW server_version")
ext_version=$(psql_db -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'")
settings=$(psql_db -F ' = ' -c "SELECT name, current_setting(name) FROM pg_settings
	WHERE name IN ('shared_buffers', 'max_connections', 'max_wal_size', 'checkpoint_timeout',
	               'fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'wal_buffers',
	               'wal_init_zero', 'autovacuum') ORDER BY name" | paste -sd ';' | sed 's/;/; /g')
elapsed=$(($(date +%s) - started))

{
	echo "# ledger benchmark"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $pg_version, ledger $ext_version (commit $commit)"
	echo "- server: $settings"
	echo "- runs: -T $TIME s (batches: $BATCH_CALLS_1000 calls of 1,000, $BATCH_CALLS_10000 of 10,000), $REPEAT repetitions, medians; pgbench -M prepared -j 2; $((elapsed / 60)) min $((elapsed % 60)) s in all"
	echo "- accounts: $ACCOUNTS credit-normal, min_balance 0, each funded with $FUNDING minor units; transfers of 1..1000 minor units never fail"
	echo "- hot-account mode: $HOT_MODE"
	echo "- latency is per transaction: one transfer, or one whole batch call for batch rows; WAL is pg_current_wal_insert_lsn() before and after each run over its transfers (pgbench -N: over its transactions)"
	echo "- checkpoints during the runs: $checkpoints (0 means no run paid full-page images)"
	echo "- memory: $MEMORY_NOTE"
} >"$WORK/header.md"

awk -F'\t' -v md="$WORK/table.md" -v tt="$WORK/targets.txt" -v tm="$WORK/targets.md" '
	function median(key, col,   m, i, j, t, a) {
		m = cnt[key]
		for (i = 1; i <= m; i++) a[i] = val[key, i, col]
		for (i = 2; i <= m; i++) {
			t = a[i]
			for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	function ratio(a, b) { return (a != "" && b != "" && b + 0 > 0) ? sprintf("%.2fx", a / b) : "" }
	function label(wl) {
		if (wl == "batch1000") return "batch 1,000"
		if (wl == "batch10000") return "batch 10,000"
		if (wl == "pgbench-N") return "pgbench -N"
		return wl
	}
	function verdict(ok) { return ok ? "PASS" : "FAIL" }
	FNR == NR { nconf++; cwl[nconf] = $1; ccl[nconf] = $2; next }
	{
		key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
		cnt[key]++
		for (f = 6; f <= 9; f++) val[key, cnt[key], f] = $f
	}
	END {
		hdr = sprintf("%-13s %7s %4s  %-8s  %11s %9s %9s %9s %9s %9s", "workload", "clients", "sync",
			"side", "transfers/s", "p50 ms", "p99 ms", "WAL B/tr", "vs base", "vs -N")
		print hdr
		gsub(/./, "-", hdr); print hdr
		print "| workload | clients | synchronous_commit | side | transfers/s | p50 ms | p99 ms | WAL bytes/transfer | ledger/baseline | vs pgbench -N |" > md
		print "|---|--:|---|---|--:|--:|--:|--:|--:|--:|" > md
		# medians first, so that ratios can refer to any configuration
		for (i = 1; i <= nconf; i++)
			for (s = 0; s < 2; s++) {
				sync = s ? "off" : "on"
				for (d = 0; d < 5; d++) {
					side = d == 0 ? "ledger" : d == 1 ? "app" : d == 2 ? "events" : d == 3 ? "baseline" : "pgbench"
					key = cwl[i] SUBSEP ccl[i] SUBSEP sync SUBSEP side
					if (!(key in cnt)) continue
					ops[key] = median(key, 6); p50[key] = median(key, 7)
					p99[key] = median(key, 8); wal[key] = median(key, 9)
				}
			}
		for (i = 1; i <= nconf; i++)
			for (s = 0; s < 2; s++) {
				sync = s ? "off" : "on"
				nkey = "pgbench-N" SUBSEP 16 SUBSEP sync SUBSEP "pgbench"
				for (d = 0; d < 5; d++) {
					side = d == 0 ? "ledger" : d == 1 ? "app" : d == 2 ? "events" : d == 3 ? "baseline" : "pgbench"
					key = cwl[i] SUBSEP ccl[i] SUBSEP sync SUBSEP side
					if (!(key in ops)) continue
					bkey = cwl[i] SUBSEP ccl[i] SUBSEP sync SUBSEP "baseline"
					vb = side == "ledger" || side == "app" || side == "events" ? ratio(ops[key], ops[bkey]) : ""
					vn = side != "pgbench" ? ratio(ops[key], ops[nkey]) : ""
					name = side == "pgbench" ? "pgbench" : side
					printf "%-13s %7s %4s  %-8s  %11.0f %9.2f %9.2f %9.0f %9s %9s\n", label(cwl[i]), ccl[i],
						sync, name, ops[key], p50[key] / 1000, p99[key] / 1000, wal[key], vb, vn
					printf "| %s | %s | %s | %s | %.0f | %.2f | %.2f | %.0f | %s | %s |\n", label(cwl[i]), ccl[i],
						sync, name, ops[key], p50[key] / 1000, p99[key] / 1000, wal[key], vb, vn > md
				}
			}
		# the targets of the Performance issue
		u = "uniform" SUBSEP 16 SUBSEP
		h = "hot" SUBSEP 16 SUBSEP
		b = "batch10000" SUBSEP 1 SUBSEP
		n = "pgbench-N" SUBSEP 16 SUBSEP
		t[++nt] = sprintf("(1) uniform, 16 clients, sync on: ledger %.0f/s >= 1.0x pgbench -N %.0f/s (%s)",
			ops[u "on" SUBSEP "ledger"], ops[n "on" SUBSEP "pgbench"], ratio(ops[u "on" SUBSEP "ledger"], ops[n "on" SUBSEP "pgbench"]))
		ok[nt] = ops[u "on" SUBSEP "ledger"] >= 1.0 * ops[n "on" SUBSEP "pgbench"]
		t[++nt] = sprintf("(2) uniform, 16 clients, sync off: ledger %.0f/s >= 2x baseline %.0f/s (%s)",
			ops[u "off" SUBSEP "ledger"], ops[u "off" SUBSEP "baseline"], ratio(ops[u "off" SUBSEP "ledger"], ops[u "off" SUBSEP "baseline"]))
		ok[nt] = ops[u "off" SUBSEP "ledger"] >= 2 * ops[u "off" SUBSEP "baseline"]
		for (s = 0; s < 2; s++) {
			sync = s ? "off" : "on"
			t[++nt] = sprintf("(3) hot, 16 clients, sync %s: ledger hot %.0f/s >= 0.8x ledger uniform %.0f/s (%s)", sync,
				ops[h sync SUBSEP "ledger"], ops[u sync SUBSEP "ledger"], ratio(ops[h sync SUBSEP "ledger"], ops[u sync SUBSEP "ledger"]))
			ok[nt] = ops[h sync SUBSEP "ledger"] >= 0.8 * ops[u sync SUBSEP "ledger"]
		}
		t[++nt] = sprintf("(4) batch 10,000, sync on: ledger %.0f/s >= 100,000/s and >= 6x baseline %.0f/s (%s)",
			ops[b "on" SUBSEP "ledger"], ops[b "on" SUBSEP "baseline"], ratio(ops[b "on" SUBSEP "ledger"], ops[b "on" SUBSEP "baseline"]))
		ok[nt] = ops[b "on" SUBSEP "ledger"] >= 100000 && ops[b "on" SUBSEP "ledger"] >= 6 * ops[b "on" SUBSEP "baseline"]
		t[++nt] = sprintf("(5) WAL per transfer, uniform 16 clients, sync on: ledger %.0f B <= baseline %.0f B",
			wal[u "on" SUBSEP "ledger"], wal[u "on" SUBSEP "baseline"])
		ok[nt] = wal[u "on" SUBSEP "ledger"] <= wal[u "on" SUBSEP "baseline"]
		t[++nt] = sprintf("(5) WAL per transfer, batch 10,000, sync on: ledger %.0f B <= baseline %.0f B",
			wal[b "on" SUBSEP "ledger"], wal[b "on" SUBSEP "baseline"])
		ok[nt] = wal[b "on" SUBSEP "ledger"] <= wal[b "on" SUBSEP "baseline"]
		for (s = 0; s < 2; s++) {
			sync = s ? "off" : "on"
			t[++nt] = sprintf("(7) authority, uniform 16 clients, sync %s: an app role with post %.0f/s >= 0.97x the owner %.0f/s (%s)", sync,
				ops[u sync SUBSEP "app"], ops[u sync SUBSEP "ledger"], ratio(ops[u sync SUBSEP "app"], ops[u sync SUBSEP "ledger"]))
			ok[nt] = ops[u sync SUBSEP "app"] >= 0.97 * ops[u sync SUBSEP "ledger"]
		}
		for (s = 0; s < 2; s++) {
			sync = s ? "off" : "on"
			t[++nt] = sprintf("(8) events, uniform 16 clients, sync %s: book publishing %.0f/s >= 0.9x not %.0f/s (%s)", sync,
				ops[u sync SUBSEP "events"], ops[u sync SUBSEP "ledger"], ratio(ops[u sync SUBSEP "events"], ops[u sync SUBSEP "ledger"]))
			ok[nt] = ops[u sync SUBSEP "events"] >= 0.9 * ops[u sync SUBSEP "ledger"]
		}
		t[++nt] = sprintf("(8) events, batch 10,000, sync on: publishing %.0f/s >= 0.9x not %.0f/s (%s)",
			ops[b "on" SUBSEP "events"], ops[b "on" SUBSEP "ledger"], ratio(ops[b "on" SUBSEP "events"], ops[b "on" SUBSEP "ledger"]))
		ok[nt] = ops[b "on" SUBSEP "events"] >= 0.9 * ops[b "on" SUBSEP "ledger"]
		t[++nt] = sprintf("(8) events, WAL per transfer, uniform 16 clients, sync on: %.0f B <= 1.25x %.0f B (%s)",
			wal[u "on" SUBSEP "events"], wal[u "on" SUBSEP "ledger"], ratio(wal[u "on" SUBSEP "events"], wal[u "on" SUBSEP "ledger"]))
		ok[nt] = wal[u "on" SUBSEP "events"] <= 1.25 * wal[u "on" SUBSEP "ledger"]
		t[++nt] = sprintf("(8) events, WAL per transfer, batch 10,000, sync on: %.0f B <= 1.25x %.0f B (%s)",
			wal[b "on" SUBSEP "events"], wal[b "on" SUBSEP "ledger"], ratio(wal[b "on" SUBSEP "events"], wal[b "on" SUBSEP "ledger"]))
		ok[nt] = wal[b "on" SUBSEP "events"] <= 1.25 * wal[b "on" SUBSEP "ledger"]
		for (i = 1; i <= nt; i++) {
			printf "%s %s\n", verdict(ok[i]), t[i] > tt
			printf "- **%s** %s\n", verdict(ok[i]), t[i] > tm
		}
	}' "$CONFIGS" "$RESULTS" >"$WORK/table.txt"

# report FORMAT (txt or md) - the tables, then every target's line.
report() {
	cat "$WORK/table.$1"
	[ "$MEMORY" -eq 0 ] || { echo; cat "$WORK/memory/memory.$1"; }
	echo
	cat "$WORK/targets.$1"
	[ "$MEMORY" -eq 0 ] || cat "$WORK/memory/targets.$1"
}
echo
sed 's/^# //; s/^- //' "$WORK/header.md"
echo
report txt
if [ -n "$MARKDOWN" ]; then
	{ cat "$WORK/header.md"; echo; report md; } >"$MARKDOWN"
	log "markdown report written to $MARKDOWN"
fi
