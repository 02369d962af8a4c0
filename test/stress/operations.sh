#!/usr/bin/env bash
# test/stress/operations.sh - docs/operations.md's authority recipes, run as
# they are written.
#
# Each ```sql block under "### Recipe: a single-app wallet" and "### Recipe:
# a multi-tenant platform" runs in a new database, in one psql session, as
# the ledger's owner would paste it: every statement succeeds but those
# whose comment names a SQLSTATE, which fail with exactly it.  Then what the
# text around them says is checked: alice's balances, the application's
# refusals, and each tenant's reader seeing only its book's accounts.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DB=ledger_operations
DOC=$ROOT/docs/operations.md
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_operations.XXXXXX")
FAILED=0
ROLES="wallet_app wallet_admin platform_admin payments rewards payouts acme_reader globex_reader"

drop_roles() {
	local r
	for r in $ROLES; do
		psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
	done
}

fresh_database() {
	psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
	drop_roles
	psql -X -q -d postgres -c "CREATE DATABASE $DB"
	psql -X -q -d "$DB" -c "CREATE EXTENSION ledger"
}

cleanup() {
	psql -X -q -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	drop_roles
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "operations.sh: FAIL: $*" >&2
	FAILED=1
}

. "$ROOT/test/lib/blocks.sh"

# as ROLE SQL - one value, read as ROLE.
as() {
	PGOPTIONS="-c role=$1" psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "$2"
}

# recipe NAME - run the block under "### Recipe: NAME" in a new database.
recipe() {
	local list=$WORK/$2.list
	fresh_database
	block "$DOC" "### Recipe: $1" >"$WORK/$2.sql"
	[ -s "$WORK/$2.sql" ] || { fail "no sql block under \"### Recipe: $1\" in docs/operations.md"; return; }
	statements "$WORK/$2.sql" >"$list"
	grep -q $'^42501' "$list" || fail "the $1 recipe shows no refusal any more; this test expects one"
	run_block "$list"
}

recipe "a single-app wallet" single
balances=$(as wallet_app "SELECT posted || ' ' || available FROM ledger.balance(ledger.account_id('wallet:alice'))")
[ "$balances" = "10000 7500" ] || fail "alice has '$balances' after the single-app recipe, not posted 10000, available 7500"
grep -q 'role "wallet_app" lacks privilege manage on book 1' "$WORK/single.list.out" ||
	fail "the single-app recipe's refusal is not the one the text quotes"
grep -q 'permission denied for table transfers' "$WORK/single.list.out" ||
	fail "wallet_app read a base table in the single-app recipe"
singles=$(wc -l <"$WORK/single.list")

recipe "a multi-tenant platform" platform
acme=$(as acme_reader "SELECT string_agg(name, ',' ORDER BY account_id) FROM ledger.account_balances")
globex=$(as globex_reader "SELECT string_agg(name, ',' ORDER BY account_id) FROM ledger.account_balances")
[ "$acme" = "cash,rewards budget,payout clearing,wallet:ann" ] || fail "acme_reader sees [$acme], not acme's four accounts"
[ "$globex" = "cash,wallet:gus" ] || fail "globex_reader sees [$globex], not globex's two accounts"
ann=$(as acme_reader "SELECT posted || ' ' || available FROM ledger.account_balances WHERE name = 'wallet:ann'")
[ "$ann" = "10500 7500" ] || fail "ann has '$ann' after the platform recipe, not posted 10500, available 7500"
keys=$(psql -X -At -d "$DB" -c "SELECT count(*) FROM ledger.transfers WHERE idempotency_key = 'charge-1'")
[ "$keys" = 2 ] || fail "the key charge-1 was used by $keys transfers, not one per book"
platforms=$(wc -l <"$WORK/platform.list")

if [ "$FAILED" -ne 0 ]; then
	echo "operations.sh: FAILED" >&2
	exit 1
fi
echo "operations.sh: all checks passed: docs/operations.md's single-app wallet recipe ($singles statements) and multi-tenant platform recipe ($platforms statements) run as written, each refusal with the SQLSTATE its comment names; each tenant's reader sees only its own book"
