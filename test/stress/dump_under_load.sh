#!/usr/bin/env bash
# test/stress/dump_under_load.sh - a dump taken while transfers run is one
# consistent snapshot of the ledger.
#
# pgbench clients make transfers (with and without keys), holds, captures
# and releases for 10 seconds; in the middle a plain (-Fp) and a custom
# (-Fc) pg_dump are taken.  Each is restored into a new database with
# session_replication_role = replica (the recipe of docs/operations.md and
# dump_restore.sh), and in each restored database ledger.verify() must find
# nothing: balances, versions, hash chains and holds agree with the entries.
# The dumps must have been taken under load: each restored ledger has more
# transfers than the set-up made, and the source ends with more than each
# dump holds.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SRC=ledger_dump_load
PLAIN=ledger_dump_load_plain
CUSTOM=ledger_dump_load_custom
ALL_DBS="$SRC $PLAIN $CUSTOM"
WALLETS=100
CLIENTS=4
LOAD_SECONDS=10
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_dump_load.XXXXXX")
REPLICA='-c session_replication_role=replica'
PGBENCH_PID=
FAILED=0

psql_on() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

drop_databases() {
	local db
	for db in $ALL_DBS; do
		psql_on postgres -c "SET client_min_messages = warning" \
			-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}

cleanup() {
	if [ -n "$PGBENCH_PID" ] && kill -0 "$PGBENCH_PID" 2>/dev/null; then
		kill "$PGBENCH_PID" 2>/dev/null || true
		wait "$PGBENCH_PID" 2>/dev/null || true
	fi
	drop_databases
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "dump_under_load.sh: FAIL: $*" >&2
	FAILED=1
}

drop_databases
psql_on postgres -c "CREATE DATABASE $SRC"
psql_on "$SRC" -v wallets="$WALLETS" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'load:fund', 'debit', NULL);
SELECT ledger.create_account('USD', 'load:w:' || i) FROM generate_series(1, :wallets) AS i;
-- 10,000,000.00 each: far more than the run can move.
SELECT count(ledger.transfer(f.id, w.id, 1000000000, NULL, 'opening balance'))
  FROM ledger.accounts AS w, ledger.accounts AS f
 WHERE w.name LIKE 'load:w:%' AND f.name = 'load:fund';
SQL
read -r FIRST LAST N < <(psql_on "$SRC" -At -F ' ' -c \
	"SELECT min(id), max(id), count(*) FROM ledger.accounts WHERE name LIKE 'load:w:%'")
[ "$N" -eq "$WALLETS" ] && [ $((LAST - FIRST + 1)) -eq "$WALLETS" ] ||
	{ echo "dump_under_load.sh: the wallets' ids are not contiguous" >&2; exit 1; }
SETUP_TRANSFERS=$(psql_on "$SRC" -At -c "SELECT count(*) FROM ledger.transfers")

# One pgbench transaction: a transfer between two different wallets (every
# other one with a fresh key), then a hold that is captured, in part or in
# full, or released.
cat >"$WORK/load.sql" <<SQL
\\set a random(0, $((WALLETS - 1)))
\\set b (:a + random(1, $((WALLETS - 1)))) % $WALLETS
\\set amount random(1, 10000)
\\set keyed random(0, 1)
SELECT ledger.transfer($FIRST + :a, $FIRST + :b, :amount,
                       CASE WHEN :keyed = 1 THEN pg_catalog.gen_random_uuid()::text END, 'load');
SELECT ledger.hold($FIRST + :b, $FIRST + :a, :amount, NULL, pg_catalog.gen_random_uuid()::text) AS hold_id \\gset
\\set fate random(0, 2)
\\if :fate = 0
SELECT ledger.capture(:hold_id);
\\elif :fate = 1
SELECT ledger.capture(:hold_id, (:amount + 1) / 2);
\\else
SELECT ledger.release(:hold_id);
\\endif
SQL

"$PG_BIN/pgbench" -n -f "$WORK/load.sql" -c "$CLIENTS" -j "$CLIENTS" -T "$LOAD_SECONDS" "$SRC" \
	>"$WORK/pgbench.out" 2>&1 &
PGBENCH_PID=$!

# Wait until the load runs, then dump in the middle of it.
for ((i = 0; i < 200; i++)); do
	n=$(psql_on "$SRC" -At -c "SELECT count(*) FROM ledger.transfers")
	[ "$n" -gt "$SETUP_TRANSFERS" ] && break
	kill -0 "$PGBENCH_PID" 2>/dev/null || break
	sleep 0.05
done
sleep $((LOAD_SECONDS / 2 - 1))
"$PG_BIN/pg_dump" -Fp -f "$WORK/ledger.sql" "$SRC"
"$PG_BIN/pg_dump" -Fc -f "$WORK/ledger.dump" "$SRC"

pgbench_status=0
wait "$PGBENCH_PID" || pgbench_status=$?
PGBENCH_PID=
if [ "$pgbench_status" -ne 0 ] || ! grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out"; then
	cat "$WORK/pgbench.out" >&2
	fail "pgbench failed (status $pgbench_status)"
fi

psql_on postgres -c "CREATE DATABASE $PLAIN" -c "CREATE DATABASE $CUSTOM"
PGOPTIONS=$REPLICA psql_on "$PLAIN" -o /dev/null -f "$WORK/ledger.sql"
PGOPTIONS=$REPLICA "$PG_BIN/pg_restore" --exit-on-error -d "$CUSTOM" "$WORK/ledger.dump"

final=$(psql_on "$SRC" -At -c "SELECT count(*) FROM ledger.transfers")
problems=$(psql_on "$SRC" -At -c "SELECT count(*) FROM ledger.verify()")
[ "$problems" = 0 ] || fail "ledger.verify() finds $problems problems in the source after the load"
summary=
for db in $PLAIN $CUSTOM; do
	read -r transfers holds pending < <(psql_on "$db" -At -F ' ' -c \
		"SELECT (SELECT count(*) FROM ledger.transfers), count(*), count(*) FILTER (WHERE status = 'pending')
		   FROM ledger.hold_records")
	problems=$(psql_on "$db" -At -c "SELECT count(*) FROM ledger.verify()")
	if [ "$problems" != 0 ]; then
		fail "ledger.verify() finds $problems problems in $db (first 20):"
		psql_on "$db" -c "SELECT * FROM ledger.verify() LIMIT 20" >&2
	fi
	[ "$transfers" -gt "$SETUP_TRANSFERS" ] ||
		fail "$db has only the set-up's $SETUP_TRANSFERS transfers: the dump was not taken under load"
	[ "$final" -gt "$transfers" ] ||
		fail "the source ends with $final transfers, $db with $transfers: the load had stopped before the dump"
	summary="$summary $db: $transfers transfers, $holds holds ($pending pending);"
done

if [ "$FAILED" -ne 0 ]; then
	echo "dump_under_load.sh: FAILED" >&2
	exit 1
fi
echo "dump_under_load.sh: $CLIENTS pgbench clients for ${LOAD_SECONDS}s" \
	"($(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out") transactions," \
	"$final transfers at the end); dumps taken in the middle and restored with session_replication_role = replica:$summary" \
	"ledger.verify() finds nothing in either"
