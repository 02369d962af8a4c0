#!/usr/bin/env bash
# test/stress/events_notify.sh - the NOTIFY ledger_events that wakes
# consumers, with and without the background worker.
#
# Without the library preloaded (the test server test/run.sh starts), a
# transaction that writes events sends its own NOTIFY: a listener gets
# exactly one per committing transaction that wrote events (whatever the
# number of its events), none for one that rolled back or wrote events only
# in a book that does not publish, each from the writer's backend; and
# such a transaction cannot be prepared for two-phase commit (PostgreSQL
# refuses PREPARE after NOTIFY).
#
# With the library preloaded and ledger.expiry_database naming the
# database, the worker sends the NOTIFY instead: under 8 writing clients a
# listener gets at least one notification and at most one per committed
# transaction, every one from the worker; a single commit after the load
# is followed by a notification; a prepared transaction that wrote events
# commits, and its event is then handed to a consumer; after a crash
# (immediate stop), a consumer's acknowledged position holds and what it
# had not acknowledged comes again.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_notify.XXXXXX")
chmod 755 "$WORK"
FAILED=0
DB=ledger_notify
OWN=

fail() {
	echo "events_notify.sh: FAIL: $*" >&2
	FAILED=1
}

cleanup() {
	if [ -n "$OWN" ]; then
		LEDGER_PGDATA=$OWN ledger_stop_server
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

setup_database() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
	q -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'fund', 'debit', NULL);                   -- 1
SELECT ledger.create_account('USD', 'wallet ' || i) FROM generate_series(1, 20) AS i;
SELECT ledger.create_book('quiet');
SELECT ledger.create_book_account(2, 'USD', 'quiet fund', 'debit', NULL);    -- 22
SELECT ledger.create_book_account(2, 'USD', 'quiet wallet');                 -- 23
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_consumer('c');
SQL
}

# listen SECONDS - in the background: LISTEN, stay connected for SECONDS,
# and print the pid of each notification's sender, one per line, to
# $WORK/heard.
listen() {
	{
		echo "LISTEN ledger_events;"
		echo "SELECT pg_sleep($1);"
		echo "SELECT 1;"
	} | psql -X -q -d "$DB" 2>&1 |
		sed -n 's/^Asynchronous notification "ledger_events" received from server process with PID \([0-9]*\)\.$/\1/p' \
			>"$WORK/heard" &
	LISTENER=$!
	# Until the LISTEN is in place.
	for _ in $(seq 1 50); do
		[ "$(q -At -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		                 AND query LIKE 'SELECT pg_sleep%'")" = 1 ] && return
		sleep 0.1
	done
	fail "the listener did not start"
}

# --- Without the worker --------------------------------------------------------
setup_database
listen 3
writer=$(q -At <<'SQL'
SELECT pg_backend_pid();
BEGIN; SELECT ledger.transfer(1, 2, 100); SELECT ledger.transfer(1, 3, 100); SELECT ledger.transfer(1, 4, 100); COMMIT;
BEGIN; SELECT ledger.transfer(1, 5, 100); COMMIT;
SELECT ledger.transfer(1, 6, 100);
SELECT ledger.transfer_batch(ARRAY[ROW(1, 7, 1, NULL, NULL, NULL), ROW(1, 8, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
BEGIN; SELECT ledger.transfer(1, 9, 100); ROLLBACK;
SELECT ledger.transfer(22, 23, 100);
BEGIN; SELECT ledger.transfer(22, 23, 100); SELECT ledger.transfer(1, 10, 100); COMMIT;
BEGIN; SAVEPOINT s; SELECT ledger.transfer(1, 11, 100); ROLLBACK TO SAVEPOINT s; COMMIT;
SQL
)
writer=$(echo "$writer" | head -n 1)
wait "$LISTENER"
heard=$(wc -l <"$WORK/heard")
[ "$heard" -eq 5 ] ||
	fail "without the worker: $heard notifications for 5 committing transactions that wrote events: $(tr '\n' ' ' <"$WORK/heard")"
others=$(grep -vcx "$writer" "$WORK/heard" || true)
[ "$others" -eq 0 ] || fail "without the worker: $others notifications from a backend other than the writer $writer"
prepare=$(q -At 2>&1 <<'SQL' || true
BEGIN; SELECT ledger.transfer(1, 12, 100); PREPARE TRANSACTION 'ledger_notify';
SQL
)
# Only a server that allows prepared transactions gets as far as the NOTIFY.
if [ "$(q -At -c "SHOW max_prepared_transactions")" != 0 ]; then
	case $prepare in
	*"cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY"*) ;;
	*) fail "without the worker, PREPARE after writing events answered: $prepare" ;;
	esac
fi
echo "events_notify.sh: without the worker: $heard notifications for 5 committing transactions, all from the writer"

q -c "SELECT 1" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"

# --- With the worker -----------------------------------------------------------
CALLER_PGHOST=${PGHOST:-}
CALLER_PGPORT=${PGPORT:-}
ledger_start_server ledger-notify \
	"shared_preload_libraries = 'ledger'" \
	"ledger.expiry_database = '$DB'" \
	"max_prepared_transactions = 4"
OWN=$LEDGER_PGDATA
setup_database
# The worker is waiting for the extension; it takes over once it is there.
worker=
for _ in $(seq 1 100); do
	worker=$(q -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ledger hold expiry worker'
	                    AND datname = current_database()")
	[ -n "$worker" ] && break
	sleep 0.1
done
[ -n "$worker" ] || fail "no worker in database $DB"

cat >"$WORK/transfer.sql" <<'PGBENCH'
\set w random(2, 21)
SELECT ledger.transfer(1, :w, 1);
PGBENCH
listen 5
"$PG_BIN/pgbench" -n -c 8 -j 2 -T 3 -f "$WORK/transfer.sql" "$DB" >"$WORK/pgbench.log" 2>&1 ||
	{ cat "$WORK/pgbench.log" >&2; fail "the writers failed"; }
committed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.log")
wait "$LISTENER"
heard=$(wc -l <"$WORK/heard")
from_worker=$(grep -cx "$worker" "$WORK/heard" || true)
[ "$heard" -ge 1 ] && [ "$heard" -le "$committed" ] ||
	fail "with the worker: $heard notifications for $committed committed transactions"
[ "$from_worker" -eq "$heard" ] || fail "with the worker: $((heard - from_worker)) notifications not from the worker $worker"

# One commit after the load is followed by a notification.
listen 2
q -o /dev/null -c "SELECT ledger.transfer(1, 2, 1)"
wait "$LISTENER"
after=$(wc -l <"$WORK/heard")
[ "$after" -eq 1 ] || fail "with the worker: $after notifications after one commit"

# A prepared transaction that wrote events commits; its event is delivered.
q -o /dev/null <<'SQL'
SELECT ledger.ack_events('c', id) FROM ledger.next_events('c', 10000) WITH ORDINALITY
 ORDER BY ordinality DESC LIMIT 1;
BEGIN;
SELECT ledger.transfer(1, 3, 7, NULL, 'prepared');
PREPARE TRANSACTION 'ledger_notify';
COMMIT PREPARED 'ledger_notify';
SQL
delivered=$(q -At -c "SELECT string_agg(description, ',') FROM ledger.next_events('c', 10)")
[ "$delivered" = prepared ] || fail "with the worker: after COMMIT PREPARED the consumer got: $delivered"
echo "events_notify.sh: with the worker: $heard notifications for $committed committed transactions, all from the worker; one after a single commit; a prepared transaction's event delivered"

# An acknowledged position survives a crash; what was not acknowledged
# comes again.
q -o /dev/null <<'SQL'
SELECT ledger.ack_events('c', id) FROM ledger.next_events('c', 10000) WITH ORDINALITY
 ORDER BY ordinality DESC LIMIT 1;
SELECT ledger.transfer(1, 4, 8, NULL, 'acknowledged');
SELECT ledger.ack_events('c', id) FROM ledger.events WHERE description = 'acknowledged';
SELECT ledger.transfer(1, 5, 9, NULL, 'not acknowledged');
SQL
as_server_user "$PG_BIN/pg_ctl" -D "$OWN/data" -m immediate -w stop >/dev/null
as_server_user "$PG_BIN/pg_ctl" -D "$OWN/data" -l "$OWN/server.log" -w start >/dev/null
after_crash=$(q -At -c "SELECT string_agg(description, ',') FROM ledger.next_events('c', 10)")
[ "$after_crash" = "not acknowledged" ] ||
	fail "after a crash the consumer got: $after_crash (want only the unacknowledged event)"
echo "events_notify.sh: after a crash, the acknowledged position held"

LEDGER_PGDATA=$OWN ledger_stop_server
OWN=
export PGHOST=$CALLER_PGHOST PGPORT=$CALLER_PGPORT

if [ "$FAILED" -ne 0 ]; then
	echo "events_notify.sh: FAILED" >&2
	exit 1
fi
echo "events_notify.sh: all checks passed"
