#!/usr/bin/env bash
# test/citus/guards.sh - the guards and the writers of the ledger on a
# Citus cluster whose tables are distributed by book_id (books, assets,
# grants and consumers as reference tables), as the plan in
# docs/operations.md ("Citus") distributes them, by hand here:
#  - the ledger functions that make assets, books and accounts work through
#    the coordinator, and every row lands in the shards: no shell table on
#    any node holds a row;
#  - no statement by hand writes a ledger table, on the coordinator or on a
#    worker, through the table (INSERT, UPDATE, DELETE, a writing CTE,
#    TRUNCATE, COPY) or through one of its shards: each is refused with
#    LG901 and changes nothing;
#  - DROP EXTENSION ledger is refused on the coordinator and on a worker.
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"

citus_test_begin 2

fail() { echo "FAILED: $*" >&2; exit 1; }

citus_distribute
[ "$(citus_psql 0 -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'ledger.%'")" = 12 ] ||
	fail "not every table of the ledger is a Citus table"

# A second distribute() is refused, and so is distributing from a worker.
out=$(citus_psql 0 -c "SELECT ledger.distribute()" 2>&1) && fail "a second distribute() ran"
grep -q "the ledger is distributed already" <<<"$out" || fail "a second distribute() failed otherwise: $out"
out=$(citus_psql 1 -c "SELECT ledger.distribute()" 2>&1) && fail "distribute() ran on a worker"
grep -q "distributed already\|from a worker" <<<"$out" || fail "distribute() on a worker failed otherwise: $out"

# DROP EXTENSION ledger is refused on every node (Citus would leave the
# shards behind), and the ledger stays whole.
for i in 0 1; do
	out=$(citus_psql "$i" -c "DROP EXTENSION ledger CASCADE" 2>&1) && fail "DROP EXTENSION ledger ran on node $i"
	grep -q 'cannot drop extension "ledger" while the ledger is distributed by Citus' <<<"$out" ||
		fail "DROP EXTENSION ledger on node $i failed otherwise: $out"
done
[ "$(citus_psql 0 -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'ledger.%'")" = 12 ] ||
	fail "a refused DROP EXTENSION changed the ledger's tables"

# The ledger's functions, through the coordinator.
got=$(citus_psql 0 <<'SQL'
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_book('acme');
SELECT ledger.create_book_account(2, 'USD', 'wallet');
SELECT ledger.create_account('USD', 'cash');
SELECT string_agg(id || ':' || book_id || ':' || name, ' ' ORDER BY id) FROM ledger.accounts;
SQL
) || fail "the ledger functions failed on the cluster"
[ "$got" = "USD
2
1
2
1:2:wallet 2:1:cash" ] || fail "the ledger functions through the coordinator gave:
$got"
for i in 0 1 2; do
	[ "$(citus_psql "$i" -c "SELECT string_agg(code, ',') FROM ledger.assets")" = USD ] ||
		fail "node $i does not see the asset"
	[ "$(citus_psql "$i" -c "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM ledger.books")" = "1:default,2:acme" ] ||
		fail "node $i does not see the books"
done

# On a worker the ledger draws no id (LG904), and no consumer is made.
out=$(citus_psql 1 -v VERBOSITY=verbose -c "SELECT ledger.create_book('elsewhere')" 2>&1) &&
	fail "a worker made a book"
grep -q "LG904" <<<"$out" || fail "a book made on a worker failed otherwise: $out"
out=$(citus_psql 0 -v VERBOSITY=verbose -c "SELECT ledger.create_consumer('payouts')" 2>&1) &&
	fail "a consumer was made on a distributed ledger"
grep -q "0A000" <<<"$out" || fail "create_consumer failed otherwise: $out"

# refused NODE SQL [SETTING] - the statement fails with LG901 on node NODE.
refused() {
	local out
	if out=$(citus_psql "$1" -v VERBOSITY=verbose -c "SET ${3:-client_min_messages = warning}" -c "$2" 2>&1); then
		fail "node $1 let through: $2"
	fi
	grep -q "LG901" <<<"$out" || fail "node $1 refused \"$2\" otherwise: $out"
}
for i in 0 1; do
	refused "$i" "INSERT INTO ledger.assets (code, scale) VALUES ('EUR', 2)"
	refused "$i" "UPDATE ledger.accounts SET debits_posted = 5"
	refused "$i" "UPDATE ledger.accounts SET name = 'renamed'"
	refused "$i" "DELETE FROM ledger.books WHERE id = 2"
	refused "$i" "WITH gone AS (DELETE FROM ledger.transfers RETURNING 1) SELECT count(*) FROM gone"
	refused "$i" "TRUNCATE ledger.entries"
	refused "$i" "COPY ledger.assets (code, scale) FROM PROGRAM 'echo EUR,2' (FORMAT csv)"
done
# The shards, by their names, on the nodes that hold them (the single
# shard of a reference table is on every node), with Citus's own refusal
# of changes to a shard turned off, as a DBA may.
one_shard() {
	citus_psql 0 -c "SELECT 'ledger.' || split_part('$1', '.', 2) || '_' || s.shardid
	                   FROM pg_dist_shard AS s JOIN pg_dist_shard_placement AS p USING (shardid)
	                  WHERE s.logicalrelid = '$1'::regclass AND p.nodeport = $2
	                  ORDER BY s.shardid LIMIT 1"
}
manual="citus.enable_manual_changes_to_shards = on"
refused 1 "INSERT INTO $(one_shard ledger.assets 5433) (code, scale) VALUES ('EUR', 2)" "$manual"
refused 1 "DELETE FROM $(one_shard ledger.books 5433) WHERE id = 2" "$manual"
refused 1 "TRUNCATE $(one_shard ledger.events 5433)" "$manual"
read -r wallet_shard wallet_port <<<"$(citus_psql 0 -F ' ' -c "
	SELECT 'ledger.accounts_' || p.shardid, p.nodeport FROM pg_dist_shard_placement AS p
	 WHERE p.shardid = get_shard_id_for_distribution_column('ledger.accounts', 2)")"
refused $((wallet_port - 5432)) "UPDATE $wallet_shard SET debits_posted = 5" "$manual"
refused $((wallet_port - 5432)) "INSERT INTO $wallet_shard (id, asset, book_id) VALUES (99, 'USD', 2)" "$manual"

# Nothing changed, and every row is in a shard.
got=$(citus_psql 0 -c "SELECT (SELECT string_agg(code, ',') FROM ledger.assets) || ' ' ||
                              (SELECT string_agg(name || '=' || debits_posted, ',' ORDER BY id) FROM ledger.accounts) || ' ' ||
                              (SELECT count(*) FROM ledger.books)")
[ "$got" = "USD wallet=0,cash=0 2" ] || fail "a refused statement changed something: $got"
for i in 0 1 2; do
	shells=$(citus_psql "$i" -c "SELECT string_agg(c.relname, ',') FROM pg_class AS c
	                              WHERE c.relnamespace = 'ledger'::regnamespace AND c.relkind = 'r'
	                                AND c.oid IN (SELECT logicalrelid FROM pg_dist_partition)
	                                AND pg_relation_size(c.oid) > 0")
	[ -z "$shells" ] || fail "node $i: rows written to the shell tables $shells"
done
echo "citus guards: 12 tables distributed by ledger.distribute() (a second run refused), assets, books and accounts made through the coordinator into the shards," \
	"no row in any shell; ids refused on a worker (LG904), consumers and DROP EXTENSION refused (0A000);" \
	"19 writes by hand refused with LG901, nothing changed"
