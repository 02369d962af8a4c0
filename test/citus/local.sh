#!/usr/bin/env bash
# test/citus/local.sh - the ledger beside Citus, before anything is
# distributed: a coordinator and two workers preloading both libraries
# accept connections (each connection registers both libraries' cache
# callbacks, of which a backend has room for ten), and on each node the
# ledger, not distributed, is a plain local ledger: accounts, a transfer, a
# hold and its capture, a refused overdraft, verify() clean.
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"

citus_test_begin 2

fail() { echo "FAILED: $*" >&2; exit 1; }

# Twenty connections in turn to each node: each one loads both
# libraries and registers their callbacks.
for i in 0 1 2; do
	for _ in $(seq 1 20); do
		citus_psql "$i" -c "SELECT 1" >/dev/null || fail "node $i refused a connection"
	done
done

for i in 0 1 2; do
	got=$(citus_psql "$i" <<'SQL'
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'cash');
SELECT ledger.create_account('USD', 'shop');
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL);
SELECT ledger.transfer(3, 1, 1000, 'fund');
SELECT ledger.hold(1, 2, 300);
SELECT ledger.capture(1, 200);
DO $$ BEGIN
    PERFORM ledger.transfer(1, 2, 900);
    RAISE EXCEPTION 'an overdraft passed';
EXCEPTION WHEN SQLSTATE 'LG103' THEN
END $$;
SELECT string_agg(a.name || '=' || b.posted, ' ' ORDER BY a.name)
  FROM ledger.accounts AS a, ledger.balance(a.id) AS b;
SELECT count(*) FROM ledger.verify();
SQL
	) || fail "node $i: the local ledger failed"
	want="USD
1
2
3
1
1
2
bank=1000 cash=800 shop=200
0"
	[ "$got" = "$want" ] || fail "node $i: got:
$got"
	echo "node $i: $(sed -n 8p <<<"$got"), verify() clean"
done
echo "citus local: 3 nodes preloading citus and ledger, 60 connections, a local ledger on each"
