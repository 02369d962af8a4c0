# bench/lib.sh - the accounts every benchmark starts from.
#
# Sourced by bench/run.sh and bench/memory.sh, after test/lib/pg.sh.  The
# caller sets DB, the database psql_db and bench_setup_ledger work in.
#
# Accounts 1..10,000 are credit-normal with min_balance 0 (limits checked on
# every debit) and are each funded with 1,000,000,000 minor units from a
# debit-normal treasury; transfers move 1 to 1,000 minor units, so no
# transfer of a run can fail.  Account 10,001 is a merchant (run.sh's hot
# account), 10,002 the treasury.

ACCOUNTS=10000
HOT_ACCOUNT=10001
TREASURY=10002
FUNDING=1000000000

psql_db() {
	"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# bench_setup_ledger - create the extension and the accounts above in $DB.
bench_setup_ledger() {
	psql_db >/dev/null <<EOF
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT count(ledger.create_account('USD', 'user-' || i, 'credit'))
  FROM generate_series(1, $ACCOUNTS) AS i;
SELECT ledger.create_account('USD', 'merchant', 'credit');
SELECT ledger.create_account('USD', 'treasury', 'debit');
SELECT cardinality(ledger.transfer_batch(array_agg(
           ROW($TREASURY, i, $FUNDING, NULL, NULL, NULL)::ledger.transfer_request ORDER BY i)))
  FROM generate_series(1, $ACCOUNTS) AS i;
EOF
}

# pairs N - N random (d, c) pairs of accounts with d <> c, as a subquery.
# The credit account is drawn uniformly over the accounts other than d.
pairs() {
	echo "(SELECT d, 1 + (d - 1 + (1 + floor(random() * $((ACCOUNTS - 1)))::int)) % $ACCOUNTS AS c
   FROM (SELECT 1 + floor(random() * $ACCOUNTS)::int AS d FROM generate_series(1, $1)) AS r) AS p"
}
