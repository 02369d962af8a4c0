#!/usr/bin/env bash
# test/stress/invalidations.sh - calls whose tables' relation cache entries
# are rebuilt under them.
#
# The direct writes (src/table.c) keep pieces of a table's relation cache
# entry for the length of a call.  PostgreSQL may rebuild that entry, and
# free the old pieces, whenever the backend takes in another session's
# invalidations: at any lock it acquires, in the middle of a call too.  Here
# 16 clients make transfers, with and without keys, between 1,000 accounts
# while one more client ANALYZEs ledger.accounts in a loop (each ANALYZE
# commits new statistics, which invalidates the table's entry everywhere).
# Every call must succeed, and ledger.verify() must find nothing.  (When the
# account update kept pointers into the entry's trigger descriptor, calls
# failed here within seconds: "no pg_constraint entry for trigger".)
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them;
# STRESS_SECONDS (default 15) how long the clients run.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ledger_invalidations
SECONDS_TO_RUN=${STRESS_SECONDS:-15}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_invalidations.XXXXXX")

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
psql_db -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'funding', 'debit', min_balance => NULL);
SELECT count(ledger.create_account('USD', 'user-' || i)) FROM generate_series(1, 1000) AS i;
SELECT cardinality(ledger.transfer_batch(array_agg(
           ROW(1, i, 1000000, NULL, NULL, NULL)::ledger.transfer_request ORDER BY i)))
  FROM generate_series(2, 1001) AS i;
CREATE SEQUENCE public.keys;
SQL

cat >"$WORK/calls.sql" <<'EOF'
\set debit random(2, 1001)
\set credit 2 + (:debit - 2 + random(1, 999)) % 1000
\set amount random(1, 100)
\set keyed random(0, 1)
\if :keyed
SELECT ledger.transfer(:debit, :credit, :amount, 'k-' || nextval('public.keys'));
\else
SELECT ledger.transfer(:debit, :credit, :amount);
\endif
EOF
cat >"$WORK/churn.sql" <<'EOF'
ANALYZE ledger.accounts;
EOF

"$PG_BIN/pgbench" -n -c 1 -T "$SECONDS_TO_RUN" -f "$WORK/churn.sql" "$DB" \
	>"$WORK/churn.log" 2>&1 &
churn=$!
status=0
"$PG_BIN/pgbench" -n -M prepared -c 16 -j 2 -T "$SECONDS_TO_RUN" -f "$WORK/calls.sql" "$DB" \
	>"$WORK/calls.log" 2>&1 || status=$?
wait "$churn" || { cat "$WORK/churn.log" >&2; echo "FAIL: the ANALYZE client failed" >&2; exit 1; }
if [ "$status" -ne 0 ] || grep -qiE 'aborted|error' "$WORK/calls.log"; then
	cat "$WORK/calls.log" >&2
	echo "FAIL: a call failed while the tables' cache entries were rebuilt" >&2
	exit 1
fi

calls=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/calls.log")
analyzes=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/churn.log")
made=$(psql_db -c "SELECT count(*) - 1000 FROM ledger.transfers")
problems=$(psql_db -c "SELECT count(*) FROM ledger.verify()")
if [ "$made" != "$calls" ] || [ "$problems" != 0 ]; then
	echo "FAIL: $calls calls made $made transfers; ledger.verify() finds $problems problems" >&2
	psql_db -c "SELECT * FROM ledger.verify() LIMIT 20" >&2
	exit 1
fi
echo "invalidations.sh: $calls transfers (half with keys) in ${SECONDS_TO_RUN}s under $analyzes rounds of ANALYZE; all made, ledger.verify() finds nothing"
