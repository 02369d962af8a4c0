#!/usr/bin/env bash
# bench/velocity.sh - what velocity limits cost a transfer.
#
# On a throwaway server, two databases with bench/lib.sh's accounts: in
# "bench" every one of the 10,000 user accounts has two velocity limits on
# its debits (at most 10^15 minor units a day, at most 10^9 debits an hour:
# limits no run reaches, so every transfer is counted and none refused), in
# "bench_off" none.  16 clients of single transfers (uniform over the
# accounts, synchronous_commit on) run for T seconds on one and then the
# other, PAIRS times, the order alternating from pair to pair; printed: each
# run's transfers per second and WAL bytes per transfer, the medians, and
# the ratios limited / not.  The figures are information; the exit status
# says whether they were measured.
# Usage: bench/velocity.sh [-T SECONDS] [--pairs N] [--no-build]
set -euo pipefail

TIME=10
PAIRS=3
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		-T|--time) TIME=${2:?}; shift 2 ;;
		--pairs) PAIRS=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) sed -n 2,13p "$0"; exit 0 ;;
		*) echo "usage: bench/velocity.sh [-T SECONDS] [--pairs N] [--no-build]" >&2; exit 2 ;;
	esac
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

DB=bench
bench_begin velocity
log "setting up $ACCOUNTS accounts, twice"
bench_setup_ledger
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE bench_off"
DB=bench_off bench_setup_ledger
psql_db >/dev/null <<EOF
SELECT count(ledger.create_velocity_limit(a, 'debit', '1 day', 1000000000000000, name => 'daily amount'))
  FROM generate_series(1, $ACCOUNTS) AS a;
SELECT count(ledger.create_velocity_limit(a, 'debit', '1 hour', max_count => 1000000000, name => 'hourly count'))
  FROM generate_series(1, $ACCOUNTS) AS a;
EOF
for db in bench bench_off; do DB=$db psql_db -c "VACUUM ANALYZE" >/dev/null; done
psql_db -c "CHECKPOINT" >/dev/null

printf '\\set debit random(1, %d)\n\\set credit 1 + (:debit - 1 + random(1, %d)) %% %d\n\\set amount random(1, 1000)\nSELECT ledger.transfer(:debit, :credit, :amount);\n' \
	"$ACCOUNTS" "$((ACCOUNTS - 1))" "$ACCOUNTS" >"$WORK/uniform.sql"

# run DATABASE - "tps wal_bytes_per_transfer" of one run.
run() {
	local out lsn0 lsn1 n0 n1
	lsn0=$(DB=$1 psql_db -c "SELECT pg_current_wal_lsn()")
	n0=$(DB=$1 psql_db -c "SELECT last_value FROM ledger.transfers_id_seq")
	out=$(PGOPTIONS="-c synchronous_commit=on" "$PG_BIN/pgbench" -n -M prepared -c 16 -j 2 -T "$TIME" \
		-f "$WORK/uniform.sql" "$1" 2>&1) || { echo "$out" >&2; exit 1; }
	lsn1=$(DB=$1 psql_db -c "SELECT pg_current_wal_lsn()")
	n1=$(DB=$1 psql_db -c "SELECT last_value FROM ledger.transfers_id_seq")
	echo "$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' <<<"$out")" \
		"$(DB=$1 psql_db -c "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / greatest($n1 - $n0, 1))")"
}

# Warm-up of both.
run bench >/dev/null
run bench_off >/dev/null
: >"$WORK/runs"
for p in $(seq 1 "$PAIRS"); do
	if [ $((p % 2)) -eq 1 ]; then order="bench bench_off"; else order="bench_off bench"; fi
	for db in $order; do
		r=$(run "$db")
		echo "$p $db $r" >>"$WORK/runs"
		log "pair $p, $db: $r"
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
on_tps=$(awk '$2 == "bench" { print $3 }' "$WORK/runs" | median)
off_tps=$(awk '$2 == "bench_off" { print $3 }' "$WORK/runs" | median)
on_wal=$(awk '$2 == "bench" { print $4 }' "$WORK/runs" | median)
off_wal=$(awk '$2 == "bench_off" { print $4 }' "$WORK/runs" | median)
echo
echo "velocity benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, ledger" \
	"$(psql_db -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'") (commit $commit);" \
	"-T $TIME, $PAIRS pairs; 16 clients of single transfers, synchronous_commit on"
echo
echo "| run | two limits on every debited account (transfers/s, WAL B/transfer) | no limits |"
echo "|---|--:|--:|"
for p in $(seq 1 "$PAIRS"); do
	printf '| pair %d | %s / %s | %s / %s |\n' "$p" \
		"$(awk -v p="$p" '$1 == p && $2 == "bench" { printf "%.0f", $3 }' "$WORK/runs")" \
		"$(awk -v p="$p" '$1 == p && $2 == "bench" { print $4 }' "$WORK/runs")" \
		"$(awk -v p="$p" '$1 == p && $2 == "bench_off" { printf "%.0f", $3 }' "$WORK/runs")" \
		"$(awk -v p="$p" '$1 == p && $2 == "bench_off" { print $4 }' "$WORK/runs")"
done
awk -v a="$on_tps" -v b="$off_tps" -v c="$on_wal" -v d="$off_wal" 'BEGIN {
	printf "| median | %.0f / %.0f | %.0f / %.0f |\n", a, c, b, d
	printf "| limited / not | %.2fx transfers/s | %.2fx WAL |\n", a / b, c / d }'
