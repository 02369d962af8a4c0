#!/usr/bin/env bash
# bench/memory.sh - does a backend's memory stay flat over many ledger calls,
# and how much memory does one batch take?  Target 6 of the "Performance"
# issue: a backend's memory stays flat over a million single calls, and a
# batch of 10,000 items stays under 64 MB.
#
# Single calls.  One pgbench client (-c 1 -M prepared, synchronous_commit
# off) makes N calls, each in its own transaction, drawn from these scripts
# (weight, calls per script), so that every path of the API runs often:
#   transfer      49  1  keyless transfer between two random accounts
#   keyed         14  1  transfer with a new idempotency key, a description
#                        and metadata
#   replay         9  1  transfer with one of 1,000 keys whose arguments the
#                        key fixes: after its first use, a replay
#   hold-capture   7  2  hold, then a partial capture
#   hold-release   7  2  keyed hold with an expiry, then its release
#   reverse        7  2  transfer, then a partial reversal
#   hot            7  2  transfer crediting account 10,001 in hot mode (a
#                        queued posting), then apply_hot_entries() on it;
#                        only with a ledger that has hot mode
# Every call statement also takes nextval() of a counter sequence, so the
# number of calls made is known exactly at any moment.  When the backend is
# first seen, after 1,000 and 10,000 calls and after every tenth of N calls,
# pgbench is paused (SIGSTOP) and, once its backend is idle between two
# transactions (no per-call memory alive), the script records the backend's
# RssAnon from /proc/PID/status (its private memory; VmRSS would also count
# the shared buffers it touched) and the "Grand total" that
# pg_log_backend_memory_contexts(PID) writes to the server log: the bytes
# palloc holds in blocks, and of those the bytes in use.
#
# Flat means: from the sample at 10% of the calls to the last, RssAnon and
# the palloc total each grow by less than 1 MB.  The caches (plans, relcache,
# catcache) fill in the first thousand calls; one step of 100-200 kB of
# RssAnon (40 kB in use) follows once, when autovacuum first analyzes the
# growing tables and the plans are rebuilt with statistics, whose rows then
# sit in the catcache.  The smallest palloc chunk takes 24 bytes with its
# header, and the rarest calls (capture, release, ...) are 1 call in 18: a
# leak of a single chunk in one of them over the last 90% of a million calls
# leaves 1.2 MB, in every call 21 MB.  With fewer calls (run.sh --quick) the
# verdict is coarser; the report also gives the growth per call.
#
# Batch.  One psql session calls ledger.transfer_batch once with 10,000
# items (random pairs, as bench/run.sh) after a warm-up call of 10 items,
# while this script reads the backend's RssAnon every ~5 ms.  The peak above
# the last sample before the call is the call's memory, its argument array
# included; the same statement without the call (the array alone) shows how
# much the argument takes.  The same again with 100,000 items, the largest
# batch, for information.
#
# Last, ledger.verify() checks that the build measured also posted right.
# The verdicts are PASS/FAIL lines, information only: the exit status says
# whether the measurement ran, not whether a target was met.
#
# Usage: bench/memory.sh [--calls N] [--no-build] [--markdown FILE]
#   Starts its own throwaway server and database.  bench/run.sh instead
#   passes --db NAME --report-dir DIR to measure in its running server
#   (PGHOST, PGPORT, LEDGER_PGDATA from test/lib/pg.sh) and database, set up
#   by bench/lib.sh, and includes the files written to DIR in its report.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/memory.sh [options]
  --calls N          single calls to make (default 1000000)
  --no-build         use the installed extension; do not build or install
  --markdown FILE    also write the report as markdown to FILE
  --db NAME          measure in this database of the running server (PGHOST,
                     PGPORT, LEDGER_PGDATA), set up by bench/lib.sh
  --report-dir DIR   write memory.txt, memory.md, targets.txt and targets.md
                     to DIR instead of printing the report
  -h, --help         this text
EOF
}

CALLS=1000000
BUILD=1
MARKDOWN=
ATTACH_DB=
REPORT_DIR=
while [ $# -gt 0 ]; do
	case $1 in
		--calls) CALLS=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		--markdown) MARKDOWN=${2:?}; shift 2 ;;
		--db) ATTACH_DB=${2:?}; shift 2 ;;
		--report-dir) REPORT_DIR=${2:?}; shift 2 ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
done
[[ $CALLS =~ ^[1-9][0-9]*$ ]] && [ "$CALLS" -ge 1000 ] ||
	{ echo "memory: --calls wants a count of at least 1000" >&2; exit 2; }
for f in MARKDOWN REPORT_DIR; do
	case ${!f} in '' | /*) ;; *) printf -v "$f" '%s' "$PWD/${!f}" ;; esac
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

SEQ=public.ledger_memory_calls
APP=ledger-memory-$$
TAG=$(date +%s)-$$				# makes this run's idempotency keys its own
BATCH_SIZES="10000 100000"
LIMIT_FLAT_KB=1024
LIMIT_BATCH_MB=64

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-memory.XXXXXX")
chmod 755 "$WORK"
PGBENCH_PID=
cleanup() {
	if [ -n "$PGBENCH_PID" ]; then
		kill -TERM "$PGBENCH_PID" 2>/dev/null || true
		kill -CONT "$PGBENCH_PID" 2>/dev/null || true
		wait "$PGBENCH_PID" 2>/dev/null || true
	fi
	if [ -n "$ATTACH_DB" ]; then
		psql_db -c "DROP SEQUENCE IF EXISTS $SEQ" >/dev/null 2>&1 || true
	else
		ledger_stop_server
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$ATTACH_DB" ]; then
	DB=$ATTACH_DB
	[ -n "${PGHOST:-}" ] || { echo "memory: --db needs PGHOST and PGPORT of a running server" >&2; exit 2; }
else
	DB=memory
	if [ "$BUILD" -eq 1 ]; then
		ledger_require_packages
		ledger_build_install
	fi
	# WAL large enough that no checkpoint slows the run; memory does not
	# depend on it.
	ledger_start_server memory "max_wal_size = 16GB" "checkpoint_timeout = 1h"
	log "setting up $ACCOUNTS accounts"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
	bench_setup_ledger
	psql_db -c "VACUUM ANALYZE"
fi
# pg_log_backend_memory_contexts() (PostgreSQL 14+) writes to the server log;
# without either, the palloc columns stay empty.
SERVER_LOG=${LEDGER_PGDATA:+$LEDGER_PGDATA/server.log}
[ -n "$SERVER_LOG" ] && [ -r "$SERVER_LOG" ] &&
	[ "$(psql_db -c "SELECT to_regproc('pg_log_backend_memory_contexts') IS NOT NULL")" = t ] ||
	{ SERVER_LOG=; log "no server log or no pg_log_backend_memory_contexts(): RssAnon only"; }

# read_rss PID - set RSS to the RssAnon of process PID in kB; fails when the
# process is gone.  Builtins only, so that sampling every 5 ms costs no fork.
# The file is read whole, in one read(): read line by line, bash seeks back
# after each line and the kernel renders the file anew, so a field whose
# width changed meanwhile (State) shifts the lines and RssAnon can be lost.
RSS=
read_rss() {
	local status=
	RSS=
	read -r -d '' status 2>/dev/null <"/proc/$1/status" || true
	[[ $status =~ RssAnon:[[:space:]]*([0-9]+) ]] && RSS=${BASH_REMATCH[1]}
	[ -n "$RSS" ]
}

# palloc_totals PID - print "total used" of the "Grand total" of the memory
# contexts of backend PID, in bytes, or "- -" without the server log.
palloc_totals() {
	local pid=$1 offset line i
	if [ -z "$SERVER_LOG" ]; then echo "- -"; return; fi
	offset=$(stat -c %s "$SERVER_LOG")
	[ "$(psql_db -c "SELECT pg_log_backend_memory_contexts($pid)")" = t ] ||
		{ echo "memory: cannot signal backend $pid" >&2; exit 1; }
	for i in $(seq 1 200); do
		line=$(tail -c +"$((offset + 1))" "$SERVER_LOG" |
			sed -n "s/.*\[$pid\] LOG:  Grand total: \([0-9]*\) bytes in [0-9]* blocks; [0-9]* free ([0-9]* chunks); \([0-9]*\) used.*/\1 \2/p" |
			tail -n 1)
		[ -n "$line" ] && { echo "$line"; return; }
		sleep 0.05
	done
	echo "memory: backend $pid wrote no memory context totals to $SERVER_LOG" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Single calls.
# ---------------------------------------------------------------------------
mkdir -p "$WORK/scripts"
psql_db -c "SET client_min_messages = warning" -c "DROP SEQUENCE IF EXISTS $SEQ" -c "CREATE SEQUENCE $SEQ" >/dev/null
count="nextval('$SEQ') AS n"
pair="\\set debit random(1, $ACCOUNTS)
\\set credit 1 + (:debit - 1 + random(1, $((ACCOUNTS - 1)))) % $ACCOUNTS
\\set amount random(1, 1000)
\\set part random(1, :amount)
\\set k random(1, 1000000000000000000)"
cat >"$WORK/scripts/transfer.sql" <<EOF
$pair
SELECT ledger.transfer(:debit, :credit, :amount), $count;
EOF
cat >"$WORK/scripts/keyed.sql" <<EOF
$pair
SELECT ledger.transfer(:debit, :credit, :amount, 'mem-$TAG-'::text || :k, 'memory bench',
                       '{"bench": "memory"}'), $count;
EOF
cat >"$WORK/scripts/replay.sql" <<EOF
\\set r random(1, 1000)
\\set c :r + 1000
SELECT ledger.transfer(:r, :c, :r, 'mem-$TAG-replay-'::text || :r, 'memory bench replay',
                       '{"bench": "replay"}'), $count;
EOF
cat >"$WORK/scripts/hold-capture.sql" <<EOF
$pair
SELECT ledger.hold(:debit, :credit, :amount) AS hold_id, $count \\gset
SELECT ledger.capture(:hold_id, :part), $count;
EOF
cat >"$WORK/scripts/hold-release.sql" <<EOF
$pair
SELECT ledger.hold(:debit, :credit, :amount, now() + interval '1 day',
                   'mem-$TAG-hold-'::text || :k) AS hold_id, $count \\gset
SELECT ledger.release(:hold_id), $count;
EOF
cat >"$WORK/scripts/reverse.sql" <<EOF
$pair
SELECT ledger.transfer(:debit, :credit, :amount) AS transfer_id, $count \\gset
SELECT ledger.reverse(:transfer_id, :part), $count;
EOF
MIX="transfer@49 keyed@14 replay@9 hold-capture@7 hold-release@7 reverse@7"
if [ "$(psql_db -c "SELECT to_regprocedure('ledger.set_account_hot(bigint,boolean)') IS NOT NULL
                        AND to_regprocedure('ledger.apply_hot_entries(bigint)') IS NOT NULL")" = t ]; then
	psql_db -c "SELECT ledger.set_account_hot($HOT_ACCOUNT)" >/dev/null
	cat >"$WORK/scripts/hot.sql" <<EOF
$pair
SELECT ledger.transfer(:debit, $HOT_ACCOUNT, :amount), $count;
SELECT ledger.apply_hot_entries($HOT_ACCOUNT), $count;
EOF
	MIX="$MIX hot@7"
fi

calls_done() {
	psql_db -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM $SEQ"
}

# Checkpoints: 1,000 and 10,000 calls, then every tenth of CALLS.
checkpoints=$( { echo 1000; echo 10000; for i in $(seq 1 10); do echo $((CALLS * i / 10)); done; } |
	awk -v n="$CALLS" '$1 <= n' | sort -n -u)
reference=$((CALLS / 10))		# the first sample at or past it starts "flat"

SAMPLES=$WORK/samples.tsv		# label calls rss_kb palloc_total palloc_used
: >"$SAMPLES"
paused=0						# microseconds pgbench spent stopped

# sample LABEL - pause pgbench, wait for its backend to go idle, record.
sample() {
	local label=$1 t0 state i calls totals
	t0=${EPOCHREALTIME/[.,]/}
	kill -STOP "$PGBENCH_PID"
	for i in $(seq 1 200); do
		state=$(psql_db -c "SELECT state FROM pg_stat_activity WHERE pid = $BACKEND")
		[ "$state" = idle ] && break
		[ -n "$state" ] || { echo "memory: backend $BACKEND is gone" >&2; cat "$WORK/pgbench.log" >&2; exit 1; }
		sleep 0.02
	done
	[ "$state" = idle ] || { echo "memory: backend $BACKEND does not go idle ($state)" >&2; exit 1; }
	calls=$(calls_done)
	read_rss "$BACKEND" || { echo "memory: backend $BACKEND is gone" >&2; exit 1; }
	totals=$(palloc_totals "$BACKEND")
	printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$calls" "$RSS" ${totals% *} ${totals#* } >>"$SAMPLES"
	log "$(printf '%-6s %9d calls  RssAnon %7d kB  palloc %s' "$label" "$calls" "$RSS" \
		"$(awk -v t="${totals% *}" -v u="${totals#* }" 'BEGIN { if (t == "-") print "-"; else printf "%d kB (%d kB used)", t / 1024, u / 1024 }')")"
	kill -CONT "$PGBENCH_PID"
	paused=$((paused + ${EPOCHREALTIME/[.,]/} - t0))
	LAST_CALLS=$calls
}

log "$CALLS single calls in one backend: $MIX"
read -r -a mix_args <<<"$(for s in $MIX; do printf -- '-f %s/scripts/%s ' "$WORK" "${s/@/.sql@}"; done)"
# -t bounds the run; the script stops pgbench once CALLS calls are made.
PGAPPNAME=$APP PGOPTIONS="-c synchronous_commit=off" "$PG_BIN/pgbench" -n -M prepared -c 1 -j 1 \
	-t "$((2 * CALLS))" "${mix_args[@]}" "$DB" >"$WORK/pgbench.log" 2>&1 &
PGBENCH_PID=$!
started=${EPOCHREALTIME/[.,]/}
BACKEND=
for i in $(seq 1 500); do
	BACKEND=$(psql_db -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$APP'")
	[ -n "$BACKEND" ] && break
	sleep 0.02
done
[[ $BACKEND =~ ^[0-9]+$ ]] ||
	{ echo "memory: cannot find pgbench's backend ('$BACKEND')" >&2; cat "$WORK/pgbench.log" >&2; exit 1; }
sample start
last_progress=$SECONDS
for cp in $checkpoints; do
	[ "$LAST_CALLS" -lt "$cp" ] || continue
	while :; do
		n=$(calls_done)
		[ "$n" -ge "$cp" ] && break
		if ! read_rss "$BACKEND"; then
			echo "memory: pgbench's backend is gone after $n calls" >&2
			cat "$WORK/pgbench.log" >&2
			exit 1
		elif [ "$n" -gt "$LAST_CALLS" ]; then
			LAST_CALLS=$n
			last_progress=$SECONDS
		elif [ $((SECONDS - last_progress)) -gt 60 ]; then
			echo "memory: no call for 60 s, stopping" >&2
			cat "$WORK/pgbench.log" >&2
			exit 1
		fi
		if [ "$n" -lt 10000 ]; then sleep 0.1; else sleep 0.5; fi
	done
	if [ $((cp % 1000000)) -eq 0 ]; then
		label=$((cp / 1000000))M
	elif [ $((cp % 1000)) -eq 0 ]; then
		label=$((cp / 1000))k
	else
		label=$cp
	fi
	sample "$label"
done
active=$((${EPOCHREALTIME/[.,]/} - started - paused))
# Done: stop pgbench (its backend logs the lost connection).
kill -TERM "$PGBENCH_PID" 2>/dev/null || true
kill -CONT "$PGBENCH_PID" 2>/dev/null || true
wait "$PGBENCH_PID" 2>/dev/null || true
PGBENCH_PID=
if grep -q -E 'aborted|failed transactions: [1-9]' "$WORK/pgbench.log"; then
	echo "memory: pgbench reported failures" >&2
	cat "$WORK/pgbench.log" >&2
	exit 1
fi
rate=$(awk -v n="$LAST_CALLS" -v us="$active" 'BEGIN { printf "%.0f", n / (us / 1e6) }')
log "single calls: $LAST_CALLS calls at $rate calls/s"

# ---------------------------------------------------------------------------
# Batches.
# ---------------------------------------------------------------------------
# sample_batch PID DIR - read RssAnon of PID every ~5 ms: the last sample
# before DIR/start is the baseline; the peak is the largest from DIR/start
# until a few samples after DIR/done.  Prints "baseline peak samples ms".
sample_batch() {
	local pid=$1 dir=$2 base=0 peak=0 n=0 after=0 t_start=0 t_done=0 tick
	local deadline=$((SECONDS + 900))
	exec {tick}<> <(:)
	while [ "$SECONDS" -lt "$deadline" ]; do
		if [ -e "$dir/done" ]; then
			[ "$t_done" -ne 0 ] || t_done=${EPOCHREALTIME/[.,]/}
			after=$((after + 1))
			[ "$after" -le 20 ] || break
		fi
		if [ -e "$dir/start" ]; then
			[ "$t_start" -ne 0 ] || t_start=${EPOCHREALTIME/[.,]/}
			read_rss "$pid" || break
			[ "$RSS" -le "$peak" ] || peak=$RSS
			n=$((n + 1))
		else
			read_rss "$pid" || break
			base=$RSS
		fi
		read -r -t 0.005 -u "$tick" _ || true
	done
	exec {tick}<&-
	echo "$base $peak $n $(((t_done - t_start) / 1000))"
}

# measure_batch ITEMS CALL - one session: warm-up with 10 items, then the
# statement with ITEMS items, with or without the call (CALL 1 or 0).
# Appends "kind items baseline_kb peak_kb samples ms" to BATCHES.
BATCHES=$WORK/batches.tsv
: >"$BATCHES"
measure_batch() {
	local items=$1 call=$2 dir=$WORK/batch-$1-$2 kind psql_pid i pid figures result
	mkdir -p "$dir"
	statement() {
		if [ "$call" -eq 1 ]; then
			echo "SELECT cardinality(ledger.transfer_batch(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request)))
  FROM $(pairs "$1")"
		else
			echo "SELECT cardinality(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request))
  FROM $(pairs "$1")"
		fi
	}
	cat >"$dir/script.sql" <<EOF
SELECT pg_backend_pid() \\g $dir/pid
$(statement 10);
SELECT pg_sleep(0.3);
\\! touch $dir/start
$(statement "$items") \\g $dir/result
\\! touch $dir/done
SELECT pg_sleep(0.3);
EOF
	PGOPTIONS="-c synchronous_commit=off" psql_db -f "$dir/script.sql" >"$dir/psql.log" 2>&1 &
	psql_pid=$!
	pid=
	for i in $(seq 1 500); do
		[ -s "$dir/pid" ] && pid=$(cat "$dir/pid") && [ -n "$pid" ] && break
		sleep 0.02
	done
	[[ $pid =~ ^[0-9]+$ ]] || { echo "memory: batch session did not start" >&2; cat "$dir/psql.log" >&2; exit 1; }
	figures=$(sample_batch "$pid" "$dir")
	wait "$psql_pid" || { echo "memory: batch session failed" >&2; cat "$dir/psql.log" >&2; exit 1; }
	result=$(cat "$dir/result")
	[ "$result" = "$items" ] || { echo "memory: batch returned '$result', want $items" >&2; exit 1; }
	if [ "$call" -eq 1 ]; then kind=call; else kind=array; fi
	printf '%s\t%s\t%s\n' "$kind" "$items" "${figures// /$'\t'}" >>"$BATCHES"
	log "$(awk -v k="$kind" -v i="$items" -v f="$figures" 'BEGIN {
		split(f, a, " ")
		printf "batch %-5s %6d items: baseline %.1f MB, peak %.1f MB, +%.1f MB (%d samples, %d ms)",
			k, i, a[1] / 1024, a[2] / 1024, (a[2] - a[1]) / 1024, a[3], a[4] }')"
}
for items in $BATCH_SIZES; do
	measure_batch "$items" 0
	measure_batch "$items" 1
done

# A build that leaks nothing but posts wrongly is no better: check the ledger.
problems=$(psql_db -c "SELECT count(*) FROM ledger.verify()")
[ "$problems" -eq 0 ] || log "WARNING: ledger.verify() reports $problems problems after the run"

# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------
mkdir -p "$WORK/report"
awk -F'\t' -v calls="$CALLS" -v ref="$reference" -v rate="$rate" -v mix="$MIX" -v problems="$problems" \
	-v flat_kb="$LIMIT_FLAT_KB" -v batch_mb="$LIMIT_BATCH_MB" -v out="$WORK/report" '
	function kb(b) { return b == "-" ? "-" : sprintf("%d", b / 1024) }
	function mb(k) { return sprintf("%.1f", k / 1024) }
	function num(x,   s, r) {		# 1234567 -> 1,234,567
		s = sprintf("%d", x); r = ""
		while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
		return s r
	}
	function signed(x) { return (x >= 0 ? "+" : "") x }
	function verdict(ok) { return ok ? "PASS" : "FAIL" }
	FNR == NR { ns++; lab[ns] = $1; cl[ns] = $2; rss[ns] = $3; tot[ns] = $4; used[ns] = $5; next }
	{ nb++; kind[nb] = $1; items[nb] = $2; base[nb] = $3; peak[nb] = $4; nsamp[nb] = $5; ms[nb] = $6 }
	END {
		txt = out "/memory.txt"; md = out "/memory.md"
		tt = out "/targets.txt"; tm = out "/targets.md"
		printf "memory of one backend over %s single calls (pgbench -c 1 -M prepared, synchronous_commit off, %s calls/s)\n", num(calls), num(rate) > txt
		printf "mix (script@weight): %s\n\n", mix > txt
		printf "%-8s %11s %12s %17s %16s\n", "sample", "calls", "RssAnon kB", "palloc total kB", "palloc used kB" > txt
		printf "**Memory of one backend over %s single calls** (pgbench -c 1 -M prepared, synchronous_commit off, %s calls/s; mix %s)\n\n", num(calls), num(rate), mix > md
		print "| sample | calls | RssAnon kB | palloc total kB | palloc used kB |" > md
		print "|---|--:|--:|--:|--:|" > md
		r = 0
		for (i = 1; i <= ns; i++) {
			printf "%-8s %11s %12s %17s %16s\n", lab[i], num(cl[i]), num(rss[i]), (tot[i] == "-" ? "-" : num(kb(tot[i]))), (used[i] == "-" ? "-" : num(kb(used[i]))) > txt
			printf "| %s | %s | %s | %s | %s |\n", lab[i], num(cl[i]), num(rss[i]), (tot[i] == "-" ? "-" : num(kb(tot[i]))), (used[i] == "-" ? "-" : num(kb(used[i]))) > md
			if (!r && cl[i] >= ref) r = i
		}
		d = cl[ns] - cl[r]
		grss = rss[ns] - rss[r]
		have_palloc = tot[ns] != "-"
		if (have_palloc) { gtot = (tot[ns] - tot[r]) / 1024; gused = (used[ns] - used[r]) / 1024 }
		growth = sprintf("from %s (%s calls) to %s (%s calls): RssAnon %s kB, palloc total %s kB, palloc used %s kB; %s B/call of RssAnon, %s B/call in use",
			lab[r], num(cl[r]), lab[ns], num(cl[ns]), signed(grss),
			have_palloc ? signed(sprintf("%d", gtot)) : "-", have_palloc ? signed(sprintf("%d", gused)) : "-",
			d > 0 ? sprintf("%.2f", grss * 1024 / d) : "-",
			d > 0 && have_palloc ? sprintf("%.2f", gused * 1024 / d) : "-")
		printf "growth %s\n\n", growth > txt
		printf "\nGrowth %s.\n\n", growth > md

		printf "memory of one ledger.transfer_batch call (RssAnon of its backend every ~5 ms; warm-up call of 10 items first)\n\n" > txt
		printf "%-30s %8s %12s %9s %14s %8s %8s\n", "statement", "items", "baseline MB", "peak MB", "peak - base MB", "samples", "ms" > txt
		print "**Memory of one ledger.transfer_batch call** (RssAnon of its backend every ~5 ms; warm-up call of 10 items first)\n" > md
		print "| statement | items | baseline MB | peak MB | peak above baseline MB | samples | ms |" > md
		print "|---|--:|--:|--:|--:|--:|--:|" > md
		for (i = 1; i <= nb; i++) {
			what = kind[i] == "call" ? "ledger.transfer_batch(array)" : "the array alone (no call)"
			printf "%-30s %8s %12s %9s %14s %8d %8d\n", what, num(items[i]), mb(base[i]), mb(peak[i]), mb(peak[i] - base[i]), nsamp[i], ms[i] > txt
			printf "| %s | %s | %s | %s | %s | %d | %d |\n", what, num(items[i]), mb(base[i]), mb(peak[i]), mb(peak[i] - base[i]), nsamp[i], ms[i] > md
			delta[kind[i], items[i]] = (peak[i] - base[i]) / 1024
		}
		printf "\nledger.verify() after all calls: %d problems\n", problems > txt
		printf "\nledger.verify() after all calls: %d problems.\n", problems > md

		ok = grss < flat_kb && (!have_palloc || gtot < flat_kb)
		t[++nt] = sprintf("(6) flat over %s single calls: from %s calls to %s, RssAnon %s kB and palloc total %s kB < %s kB each",
			num(calls), num(cl[r]), num(cl[ns]), signed(grss), have_palloc ? signed(sprintf("%d", gtot)) : "n/a", num(flat_kb))
		v[nt] = ok
		t[++nt] = sprintf("(6) batch of 10,000 items: peak RssAnon %s MB above the session baseline < %d MB (the argument array alone: %s MB)",
			sprintf("%.1f", delta["call", 10000]), batch_mb, sprintf("%.1f", delta["array", 10000]))
		v[nt] = delta["call", 10000] < batch_mb
		for (i = 1; i <= nt; i++) {
			printf "%s %s\n", verdict(v[i]), t[i] > tt
			printf "- **%s** %s\n", verdict(v[i]), t[i] > tm
		}
		printf "INFO (6) batch of 100,000 items: peak RssAnon %.1f MB above the session baseline (the argument array alone: %.1f MB)\n",
			delta["call", 100000], delta["array", 100000] > tt
		printf "- INFO (6) batch of 100,000 items: peak RssAnon %.1f MB above the session baseline (the argument array alone: %.1f MB)\n",
			delta["call", 100000], delta["array", 100000] > tm
	}' "$SAMPLES" "$BATCHES"

if [ -n "$REPORT_DIR" ]; then
	mkdir -p "$REPORT_DIR"
	cp "$WORK"/report/* "$REPORT_DIR"/
else
	echo
	cat "$WORK/report/memory.txt"
	echo
	cat "$WORK/report/targets.txt"
fi
if [ -n "$MARKDOWN" ]; then
	if commit=$(git rev-parse --short HEAD 2>/dev/null); then
		git diff --quiet HEAD -- src sql 2>/dev/null || commit="$commit+changes"
	else
		commit=unknown
	fi
	{
		echo "# ledger memory benchmark"
		echo
		echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $(psql_db -c 'SHOW server_version'), commit $commit"
		echo
		cat "$WORK/report/memory.md"
		echo
		cat "$WORK/report/targets.md"
	} >"$MARKDOWN"
	log "markdown report written to $MARKDOWN"
fi
