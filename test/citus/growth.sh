#!/usr/bin/env bash
# test/citus/growth.sh - a third worker joins a distributed ledger, and a
# book's shards move to it (citus_move_shard_placement, which copies them
# by logical replication and then switches over) while 8 clients keep
# making every kind of call through the coordinator.  After the move: the
# book's shards are on the new worker, no call failed for the move, the
# bank's checks hold (balanced books and asset, pending = reserved holds,
# verify() clean, no row in a shell, no prepared transaction); and a second
# move without load leaves every account's balances exactly as they were.
#
# Environment: CITUS_GROWTH_SECONDS (default 12) how long the load runs.
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"
. "$LEDGER_ROOT/test/lib/citus_bank.sh"

SECONDS_TO_RUN=${CITUS_GROWTH_SECONDS:-12}
citus_test_begin 2

fail() { echo "FAILED: $*" >&2; exit 1; }

citus_distribute
bank_setup 8 20
new=$(citus_add_worker)
new_port=$(citus_node_port "$new")

# node_of BOOK - the port of the worker holding BOOK's shards.
node_of() {
	citus_psql 0 -c "SELECT nodeport FROM pg_dist_shard_placement
	                  WHERE shardid = get_shard_id_for_distribution_column('ledger.accounts', $1)"
}
# move BOOK PORT - move BOOK's shard group to the worker on PORT.
move() {
	citus_psql 0 -c "SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('ledger.accounts', $1),
	                        '$CITUS_DIR', $(node_of "$1"), '$CITUS_DIR', $2)" >/dev/null
}
book=$(citus_psql 0 -c "SELECT min(book) FROM bank.ranges")
from=$(node_of "$book")

log "moving book $book from port $from to the new worker ($new_port) under load"
bank_load "$SECONDS_TO_RUN" 8 &
load=$!
sleep $((SECONDS_TO_RUN / 3))
move "$book" "$new_port" || fail "the move under load failed"
wait "$load" || fail "the load failed during the move"
[ "$(node_of "$book")" = "$new_port" ] || fail "book $book is not on the new worker after the move"
bank_check

# Without load, a move changes no balance.
balances="SELECT string_agg(id || ':' || debits_posted || ':' || credits_posted || ':' ||
                            debits_pending || ':' || credits_pending || ':' || version, ',' ORDER BY id)
            FROM ledger.accounts"
before=$(citus_psql 0 -c "$balances")
other=$(citus_psql 0 -c "SELECT max(book) FROM bank.ranges")
move "$other" "$new_port" || fail "the second move failed"
[ "$(citus_psql 0 -c "$balances")" = "$before" ] || fail "the move changed balances"
bank_check
moved=$(citus_psql 0 -c "SELECT count(*) FROM pg_dist_shard_placement WHERE nodeport = $new_port
                           AND shardid IN (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'ledger.accounts'::regclass)")
echo "citus growth: a third worker added, book $book's shards moved to it under 8 clients of load and book $other's without;" \
	"$moved account shards there; books balanced, verify() clean, no shell row, no prepared transaction, balances unchanged by the move"
