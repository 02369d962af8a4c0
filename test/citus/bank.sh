#!/usr/bin/env bash
# test/citus/bank.sh - the bank on a Citus cluster: a coordinator and two
# workers, the ledger distributed by book (ledger.distribute()), 8 books
# spread over both workers, and 16 clients through the coordinator making
# transfers (keyed ones replayed), holds, captures, releases, expiries,
# batches within a book and batches across two books (a distributed
# transaction when the books are on two nodes).  Then: every book and the
# asset balance, every pending column is its reserved holds, no wallet is
# below zero, verify() finds nothing, no shell table on any node has a row,
# no prepared transaction is left, no deadlock; and each kind of call
# succeeded at least once.
#
# Environment: CITUS_BANK_SECONDS (default 10) how long the load runs.
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"
. "$LEDGER_ROOT/test/lib/citus_bank.sh"

SECONDS_TO_RUN=${CITUS_BANK_SECONDS:-10}
citus_test_begin 2

fail() { echo "FAILED: $*" >&2; exit 1; }

citus_distribute
bank_setup 8 20
nodes=$(citus_psql 0 -c "SELECT count(DISTINCT p.nodeport) FROM bank.ranges AS r
                          JOIN pg_dist_shard_placement AS p
                            ON p.shardid = get_shard_id_for_distribution_column('ledger.accounts', r.book)")
[ "$nodes" = 2 ] || fail "the 8 books are on $nodes workers, not 2"
deadlocks() {
	local i n=0
	for ((i = 0; i < CITUS_NODES; i++)); do
		n=$((n + $(citus_psql "$i" -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")))
	done
	echo "$n"
}
before=$(deadlocks)

log "load: 16 clients for ${SECONDS_TO_RUN}s through the coordinator"
bank_load "$SECONDS_TO_RUN" 16
bank_check
[ "$(deadlocks)" = "$before" ] || fail "deadlocks during the load"

summary=$(citus_psql 0 -F ' ' -c "SELECT kind, count(*) FILTER (WHERE outcome = 'ok'), count(*)
                                     FROM bank.outcomes GROUP BY kind ORDER BY kind")
while read -r kind ok all; do
	[ "$ok" -gt 0 ] || fail "no $kind succeeded ($all tried)"
done <<<"$summary"
[ "$(wc -l <<<"$summary")" = 7 ] || fail "not every kind of call ran: $summary"
counts=$(citus_psql 0 -c "SELECT (SELECT count(*) FROM ledger.transfers) || ' transfers, ' ||
                                 (SELECT count(*) FROM ledger.hold_records) || ' holds, ' ||
                                 (SELECT count(*) FROM ledger.hold_records WHERE status = 'expired') || ' expired'")
echo "citus bank: 8 books on 2 workers, 16 clients for ${SECONDS_TO_RUN}s: $counts;" \
	"$(tr '\n' ';' <<<"$summary" | sed 's/;$//');" \
	"books and asset balanced, pending = reserved holds, verify() clean, no shell row, no prepared transaction, no deadlock"
