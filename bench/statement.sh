#!/usr/bin/env bash
# bench/statement.sh - a statement's pages on an account with a long
# history: what a wallet's "latest transactions" screen costs.
#
# One account receives N transfers (default 1,000,000) from a funding
# account, by ledger.transfer_batch, so it has N entries.  Then, each with
# pgbench -M prepared, one client, R runs of T seconds, interleaved:
#   page_oldest   ledger.statement_page(acc, 100): the first page
#   page_newest   ledger.statement_page(acc, 100, newest_first => true)
#   page_middle   ledger.statement_page(acc, 100, after_version => N/2)
#   from_limit    SELECT * FROM ledger.statement(acc) LIMIT 100, the query
#                 a user writes first: in FROM, PostgreSQL reads the whole
#                 statement before the LIMIT, so it is timed over a shorter
#                 history (--limit-entries, default 126,250)
# and prints, per query, the median over the runs of each run's p50 and p99
# latency (from pgbench's per-transaction log) and of its calls per second.
#
# The figures are information; the exit status says whether they were
# measured.  Usage: bench/statement.sh [--entries N] [--limit-entries N]
# [-T SECONDS] [-R REPEATS] [--no-build]
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/statement.sh [options]
  --entries N          entries of the account paged (default 1000000)
  --limit-entries N    entries of the account read by statement() ... LIMIT (default 126250)
  -T, --time SECONDS   length of each pgbench run (default 5)
  -R, --repeat N       repetitions; medians are reported (default 3)
  --no-build           use the installed extension; do not build or install
  -h, --help           this text
EOF
}

ENTRIES=1000000
LIMIT_ENTRIES=126250
TIME=5
REPEAT=3
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		--entries) ENTRIES=${2:?}; shift 2 ;;
		--limit-entries) LIMIT_ENTRIES=${2:?}; shift 2 ;;
		-T|--time) TIME=${2:?}; shift 2 ;;
		-R|--repeat) REPEAT=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
done
for v in "$ENTRIES" "$LIMIT_ENTRIES" "$TIME" "$REPEAT"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "statement: numbers must be positive" >&2; exit 2; }
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

DB=bench
GROW_BATCH=100000
bench_begin statement
psql_db >/dev/null <<'EOF'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'funding', 'debit', NULL);  -- 1
SELECT ledger.create_account('USD', 'paged');                   -- 2
SELECT ledger.create_account('USD', 'limited');                 -- 3
EOF

# grow ACCOUNT N - N transfers into the account.
grow() {
	local account=$1 left=$2 n
	while [ "$left" -gt 0 ]; do
		n=$((left < GROW_BATCH ? left : GROW_BATCH))
		PGOPTIONS="-c synchronous_commit=off" psql_db >/dev/null -c \
			"SELECT cardinality(ledger.transfer_batch(array_agg(
			     ROW(1, $account, 1 + g % 1000, NULL, 'payment', NULL)::ledger.transfer_request)))
			   FROM generate_series(1, $n) AS g"
		left=$((left - n))
	done
}
log "giving account 2 $ENTRIES entries and account 3 $LIMIT_ENTRIES"
grow 2 "$ENTRIES"
grow 3 "$LIMIT_ENTRIES"
psql_db -c "VACUUM ANALYZE" >/dev/null

declare -A SQL=(
	[page_oldest]="SELECT * FROM ledger.statement_page(2, 100);"
	[page_newest]="SELECT * FROM ledger.statement_page(2, 100, newest_first => true);"
	[page_middle]="SELECT * FROM ledger.statement_page(2, 100, after_version => $((ENTRIES / 2)));"
	[from_limit]="SELECT * FROM ledger.statement(3) LIMIT 100;"
)
QUERIES="page_oldest page_newest page_middle from_limit"
for q in $QUERIES; do
	echo "${SQL[$q]}" >"$WORK/$q.sql"
	rows=$(psql_db -c "SELECT count(*) FROM (${SQL[$q]%;}) AS s")
	[ "$rows" = 100 ] || { echo "statement: $q returned $rows rows, not 100" >&2; exit 1; }
done

# run Q R - one pgbench run of query Q; appends "p50 p99 tps" (ms, ms, 1/s)
# to WORK/Q.results.
run() {
	local q=$1 r=$2 out
	rm -f "$WORK"/log.*
	out=$(cd "$WORK" && "$PG_BIN/pgbench" -n -M prepared -c 1 -j 1 -T "$TIME" -l --log-prefix=log \
		-f "$WORK/$q.sql" "$DB" 2>&1) || { echo "$out" >&2; return 1; }
	# Per-transaction log: client id, transaction no, latency (us), ...
	cat "$WORK"/log.* | awk '{ print $3 }' | sort -n | awk -v tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")" '
		{ v[NR] = $1 }
		END { printf "%.3f %.3f %.1f\n", v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000, tps }' \
		>>"$WORK/$q.results"
}

for ((r = 1; r <= REPEAT; r++)); do
	for q in $QUERIES; do
		log "run $r/$REPEAT: $q"
		run "$q" "$r"
	done
done

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo
echo "bench/statement.sh: ledger at commit $commit, started $started, $(nproc) CPUs,"
echo "$("$PG_BIN/postgres" --version); one client, -M prepared, ${REPEAT} runs of ${TIME}s each, medians"
echo
echo "| query | entries of the account | p50 ms | p99 ms | calls/s |"
echo "|---|--:|--:|--:|--:|"
for q in $QUERIES; do
	n=$ENTRIES
	[ "$q" = from_limit ] && n=$LIMIT_ENTRIES
	printf '| `%s` | %s | %s | %s | %s |\n' "${SQL[$q]%;}" "$n" \
		"$(cut -d' ' -f1 "$WORK/$q.results" | median)" \
		"$(cut -d' ' -f2 "$WORK/$q.results" | median)" \
		"$(cut -d' ' -f3 "$WORK/$q.results" | median)"
done
