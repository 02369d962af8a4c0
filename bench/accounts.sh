#!/usr/bin/env bash
# bench/accounts.sh - opening accounts in bursts: a game launch, a
# migration.
#
# On a throwaway server, in one book, N accounts (default 1,000,000) are
# created each way, in rounds of B (default 10,000), R rounds of each way
# interleaved in turn (the ways alternate inside every round):
#   bulk       ledger.create_accounts of B named accounts per call
#   bulk_anon  the same without names
#   single     B calls of ledger.create_book_account, one statement per call
#              (pgbench -M prepared, one client): what an application
#              looping over create_account pays
#   plain      INSERT ... SELECT of B rows into a plain table with the
#              accounts' columns, primary key and unique (book_id, name): the
#              floor without any of the ledger's checks
# The single calls are timed on SINGLE accounts per round (default 2,000),
# the rest on B.  It prints, per way, the median accounts per second over
# the rounds, and the ratio of bulk to single and to plain.
#
# The figures are information; the exit status says whether they were
# measured.  Usage: bench/accounts.sh [--accounts N] [--batch B]
# [--single S] [--no-build]
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/accounts.sh [options]
  --accounts N   accounts created by each bulk way in all (default 1000000)
  --batch B      accounts per call and per round (default 10000)
  --single S     accounts per round of single calls (default 2000)
  --no-build     use the installed extension; do not build or install
  -h, --help     this text
EOF
}

ACCOUNTS_TOTAL=1000000
BATCH=10000
SINGLE=2000
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		--accounts) ACCOUNTS_TOTAL=${2:?}; shift 2 ;;
		--batch) BATCH=${2:?}; shift 2 ;;
		--single) SINGLE=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
done
for v in "$ACCOUNTS_TOTAL" "$BATCH" "$SINGLE"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "accounts: numbers must be positive" >&2; exit 2; }
done
ROUNDS=$(( (ACCOUNTS_TOTAL + BATCH - 1) / BATCH ))

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

DB=bench
bench_begin accounts
psql_db >/dev/null <<'EOF'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_book('launch');
CREATE TABLE plain (
    id              bigserial PRIMARY KEY,
    book_id         bigint NOT NULL,
    asset           text NOT NULL,
    name            text,
    normal_balance  text NOT NULL,
    min_balance     ledger.amount,
    max_balance     ledger.amount,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, name)
);
EOF
BOOK=2
echo "SELECT ledger.create_book_account($BOOK, 'USD', 'single-' || :round || '-' || :client_id || '-' || nextval('s'));" \
	>"$WORK/single.sql"
psql_db -c "CREATE SEQUENCE s" >/dev/null

# seconds SQL - the wall time of one statement, from psql's \timing.
seconds() {
	psql_db -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 |
		awk '{ printf "%.6f", $1 / 1000 }'
}

: >"$WORK/rates"
log "$ROUNDS rounds of $BATCH accounts per way ($SINGLE for single calls)"
for round in $(seq 1 "$ROUNDS"); do
	s=$(seconds "SELECT cardinality(ledger.create_accounts(array_agg(
	        ROW($BOOK, 'USD', 'bulk-$round-' || i, 'credit', 0, NULL, NULL)::ledger.account_request)))
	      FROM generate_series(1, $BATCH) AS i")
	echo "bulk $(awk -v n="$BATCH" -v s="$s" 'BEGIN { printf "%.1f", n / s }')" >>"$WORK/rates"
	s=$(seconds "SELECT cardinality(ledger.create_accounts(array_agg(
	        ROW($BOOK, 'USD', NULL, 'credit', 0, NULL, NULL)::ledger.account_request)))
	      FROM generate_series(1, $BATCH) AS i")
	echo "bulk_anon $(awk -v n="$BATCH" -v s="$s" 'BEGIN { printf "%.1f", n / s }')" >>"$WORK/rates"
	s=$(seconds "INSERT INTO plain (book_id, asset, name, normal_balance, min_balance)
	      SELECT $BOOK, 'USD', 'plain-$round-' || i, 'credit', 0 FROM generate_series(1, $BATCH) AS i")
	echo "plain $(awk -v n="$BATCH" -v s="$s" 'BEGIN { printf "%.1f", n / s }')" >>"$WORK/rates"
	"$PG_BIN/pgbench" -n -M prepared -c 1 -t "$SINGLE" -D round="$round" -f "$WORK/single.sql" "$DB" \
		>"$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out" >&2; exit 1; }
	echo "single $(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out")" >>"$WORK/rates"
	[ $((round % 10)) -eq 0 ] && log "round $round of $ROUNDS"
done

problems=$(psql_db -c "SELECT count(*) FROM ledger.verify()")
[ "$problems" = 0 ] || { echo "accounts: ledger.verify() finds $problems problems" >&2; exit 1; }
created=$(psql_db -c "SELECT count(*) FROM ledger.accounts")

median() {
	awk -v w="$1" '$1 == w { print $2 }' "$WORK/rates" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bulk=$(median bulk)
anon=$(median bulk_anon)
single=$(median single)
plain=$(median plain)
echo
echo "bench/accounts.sh: commit $commit, started $started, $(nproc) CPUs, $("$PG_BIN/postgres" --version)"
echo "$ROUNDS interleaved rounds; $created accounts in the ledger at the end; verify() finds nothing"
echo
echo "| way | accounts per call | accounts/s (median) |"
echo "|---|--:|--:|"
echo "| ledger.create_accounts, named | $BATCH | $bulk |"
echo "| ledger.create_accounts, unnamed | $BATCH | $anon |"
echo "| ledger.create_book_account, one call each (pgbench, 1 client) | 1 | $single |"
echo "| plain table, INSERT ... SELECT | $BATCH | $plain |"
echo
awk -v b="$bulk" -v s="$single" -v p="$plain" \
	'BEGIN { printf "named bulk / single calls = %.1fx; named bulk / plain table = %.2fx\n", b / s, b / p }'
