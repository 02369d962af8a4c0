#!/usr/bin/env bash
# test/stress/logical_replication.sh - the ledger under a publication FOR
# ALL TABLES, streamed to a real subscriber by native logical replication.
#
# This is how change data capture (Debezium), logical replicas and logical
# upgrades are set up, and PostgreSQL refuses UPDATE and DELETE on a
# published table that has no replica identity: every ledger table must
# have a primary key, or the calls that write it stop working.
#
# Starts a publisher (wal_level = logical) and a subscriber of its own,
# each with its own data and socket directory, creates the extension in a
# database on both, publishes every table of the publisher's and
# subscribes to them.  Then 8 pgbench clients make a mixed load on the
# publisher: transfers (some keyed) among wallets and two hot accounts in
# hot mode, so credits are queued in ledger.hot_entries and debits, holds
# and ledger.apply_hot_entries() delete from it; holds, some expiring
# during the run, captures, releases, batches, expire_holds() and hot mode
# switched off and on.  Each call runs in cdc.step(), which lets through
# only the rejections this load may raise.  Afterwards, once the
# subscriber has confirmed everything the publisher wrote:
#  - no client saw an error, and the load wrote to every ledger table;
#  - every ledger table holds the same rows on both servers;
#  - ledger.verify() finds nothing on either, the subscriber's sequences
#    once set from the publisher's (sequences are not replicated: a
#    subscriber that is to take writes needs them set, as documented in
#    docs/operations.md).
# Book 1 publishes events, and besides the subscription pg_recvlogical
# streams ledger.events with Debian's wal2json from a slot of its own,
# while some transactions of the load roll back.  The stream must hold
# every event of the publisher's table exactly once and nothing else (no
# event of a rolled-back transaction), each transaction's events together
# between its begin and its commit, the commits in increasing LSN order,
# and a transaction's events in id order.
#
# Environment: LOGICAL_SECONDS (default 8) how long the load runs.
# The extension must be installed (make install, or test/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# Never touch the caller's server.
unset LEDGER_PGDATA PGHOST PGPORT PGDATABASE PGOPTIONS
. "$HERE/../lib/pg.sh"

DB=ledger_cdc
SECONDS_TO_RUN=${LOGICAL_SECONDS:-8}
TABLES="assets accounts transfers entries hold_records hot_entries books events consumers"
PUBLISHER=
SUBSCRIBER=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_cdc.XXXXXX")
chmod 755 "$WORK"
FAILED=0

fail() {
	echo "logical_replication.sh: FAIL: $*" >&2
	FAILED=1
}

stop_at() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir/data" ] || return 0
	LEDGER_PGDATA=$dir ledger_stop_server
}

cleanup() {
	if [ -n "${RECVLOGICAL_PID:-}" ]; then
		kill "$RECVLOGICAL_PID" 2>/dev/null || true
		wait "$RECVLOGICAL_PID" 2>/dev/null || true
	fi
	stop_at "$SUBSCRIBER"
	stop_at "$PUBLISHER"
	rm -rf "$WORK"
}
trap cleanup EXIT

psql_at() {
	local host=$1
	shift
	PGHOST=$host psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# This server's builds may name the output plugins a slot may use.
plugins=()
if "$PG_BIN/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
	plugins=("output_plugin_libraries = 'pgoutput, test_decoding, wal2json'")
fi
ledger_start_server cdc-publisher "wal_level = logical" "max_wal_senders = 10" \
	"max_replication_slots = 10" "${plugins[@]}"
PUBLISHER=$LEDGER_PGDATA
RECVLOGICAL_PID=
ledger_start_server cdc-subscriber "max_logical_replication_workers = 8" \
	"max_sync_workers_per_subscription = 4"
SUBSCRIBER=$LEDGER_PGDATA
LEDGER_PGDATA=

for host in "$PUBLISHER" "$SUBSCRIBER"; do
	PGHOST=$host psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
	psql_at "$host" -c "CREATE EXTENSION ledger"
done

psql_at "$PUBLISHER" -o /dev/null <<'SQL'
CREATE PUBLICATION cdc FOR ALL TABLES;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'fund', 'debit', NULL);
SELECT ledger.create_account('USD', 'hot:' || i) FROM generate_series(1, 2) AS i;
SELECT ledger.create_account('USD', 'wallet:' || i) FROM generate_series(1, 50) AS i;
SELECT ledger.set_account_hot(ledger.account_id('hot:' || i)) FROM generate_series(1, 2) AS i;
SELECT count(ledger.transfer(1, id, 1000000, NULL, 'opening balance'))
  FROM ledger.accounts WHERE name LIKE 'wallet:%' OR name LIKE 'hot:%';
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_consumer('cdc');

-- The load's calls.  No table of its own: every table of this database is
-- published, and the subscriber has only the ledger's.
CREATE SCHEMA cdc;
CREATE FUNCTION cdc.wallet() RETURNS bigint LANGUAGE sql AS $$
SELECT ledger.account_id('wallet:' || (1 + floor(random() * 50))::int)
$$;
CREATE FUNCTION cdc.hot() RETURNS bigint LANGUAGE sql AS $$
SELECT ledger.account_id('hot:' || (1 + floor(random() * 2))::int)
$$;
CREATE FUNCTION cdc.step() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    k integer := floor(random() * 100)::integer;
    v_hold bigint;
    v_items ledger.transfer_request[];
BEGIN
    IF k < 30 THEN        -- a credit to a hot account: queued
        PERFORM ledger.transfer(cdc.wallet(), cdc.hot(), (1 + floor(random() * 500))::bigint);
    ELSIF k < 40 THEN     -- a debit from one: applies its queue
        PERFORM ledger.transfer(cdc.hot(), cdc.wallet(), (1 + floor(random() * 500))::bigint);
    ELSIF k < 55 THEN
        PERFORM ledger.transfer(cdc.wallet(), cdc.wallet(), (1 + floor(random() * 500))::bigint,
                                CASE WHEN random() < 0.5 THEN 'k' || pg_catalog.gen_random_uuid() END);
    ELSIF k < 68 THEN
        PERFORM ledger.hold(cdc.wallet(), cdc.hot(), (1 + floor(random() * 500))::bigint,
                            CASE WHEN random() < 0.5
                                 THEN pg_catalog.clock_timestamp() + interval '500 ms' END);
    ELSIF k < 76 THEN
        SELECT id INTO v_hold FROM ledger.hold_records WHERE status = 'pending'
         ORDER BY random() LIMIT 1;
        IF v_hold IS NOT NULL THEN
            PERFORM ledger.capture(v_hold);
        END IF;
    ELSIF k < 82 THEN
        SELECT id INTO v_hold FROM ledger.hold_records WHERE status = 'pending'
         ORDER BY random() LIMIT 1;
        IF v_hold IS NOT NULL THEN
            PERFORM ledger.release(v_hold);
        END IF;
    ELSIF k < 92 THEN
        FOR i IN 1..3 LOOP
            v_items := v_items || ROW(cdc.wallet(), cdc.hot(), 10, NULL, 'batch', NULL)::ledger.transfer_request;
        END LOOP;
        PERFORM ledger.transfer_batch(v_items);
    ELSIF k < 95 THEN
        PERFORM ledger.expire_holds(100);
    ELSIF k < 98 THEN
        PERFORM ledger.apply_hot_entries();
    ELSE
        PERFORM ledger.set_account_hot(cdc.hot(), random() < 0.7);
    END IF;
EXCEPTION
    -- A wallet drawn twice, insufficient funds, a hold resolved meanwhile,
    -- a lost lock race.
    WHEN SQLSTATE 'LG003' OR SQLSTATE 'LG103' OR SQLSTATE 'LG202' OR SQLSTATE 'LG203' OR SQLSTATE 'LG204'
      OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
        NULL;
END
$$;
SQL

# CREATE EXTENSION made book 1 on the subscriber too; the copy brings it
# (docs/operations.md, "Logical replication").
psql_at "$SUBSCRIBER" -c "SET session_replication_role = replica" \
	-c "DELETE FROM ledger.books" -c "RESET session_replication_role"
psql_at "$SUBSCRIBER" -c "SET client_min_messages = warning" -c \
	"CREATE SUBSCRIPTION cdc CONNECTION 'host=$PUBLISHER port=5432 user=postgres dbname=$DB' PUBLICATION cdc"

# The stream of ledger.events, from before the load.
psql_at "$PUBLISHER" -o /dev/null -c \
	"SELECT pg_catalog.pg_create_logical_replication_slot('events_json', 'wal2json')"
PGHOST=$PUBLISHER "$PG_BIN/pg_recvlogical" -d "$DB" --slot events_json --start \
	-o format-version=2 -o include-lsn=1 -o include-xids=1 -o add-tables=ledger.events \
	-o include-types=0 -f "$WORK/events.json" 2>"$WORK/recvlogical.log" &
RECVLOGICAL_PID=$!

echo 'SELECT cdc.step();' >"$WORK/step.sql"
# A transaction that writes events and rolls back.
printf 'BEGIN;\nSELECT cdc.step();\nSELECT ledger.transfer(cdc.wallet(), cdc.hot(), 1, NULL, %s);\nROLLBACK;\n' \
	"'rolled back'" >"$WORK/rollback.sql"
log "load on the publisher for ${SECONDS_TO_RUN}s"
if ! PGHOST=$PUBLISHER "$PG_BIN/pgbench" -n -c 8 -j 2 -T "$SECONDS_TO_RUN" -f "$WORK/step.sql@9" \
	-f "$WORK/rollback.sql@1" "$DB" >"$WORK/pgbench.log" 2>&1 || grep -qiE 'aborted|error' "$WORK/pgbench.log"; then
	cat "$WORK/pgbench.log" >&2
	fail "a client of the load saw an error"
fi
calls=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.log")

# Everything the publisher wrote, confirmed by the subscriber.
target=$(psql_at "$PUBLISHER" -At -c "SELECT pg_catalog.pg_current_wal_lsn()")
caught_up=f
for _ in $(seq 1 600); do
	caught_up=$(psql_at "$PUBLISHER" -At -c \
		"SELECT coalesce(bool_and(confirmed_flush_lsn >= '$target'), false)
		   FROM pg_catalog.pg_replication_slots WHERE slot_name = 'cdc'")
	synced=$(psql_at "$SUBSCRIBER" -At -c \
		"SELECT count(*) FILTER (WHERE srsubstate <> 'r') FROM pg_catalog.pg_subscription_rel")
	[ "$caught_up" = t ] && [ "$synced" = 0 ] && break
	sleep 0.1
done
[ "$caught_up" = t ] || fail "the subscriber did not confirm the publisher's WAL up to $target"

# The stream, up to the same point: pg_recvlogical confirms what it wrote.
for _ in $(seq 1 600); do
	streamed=$(psql_at "$PUBLISHER" -At -c \
		"SELECT coalesce(bool_and(confirmed_flush_lsn >= '$target'), false)
		   FROM pg_catalog.pg_replication_slots WHERE slot_name = 'events_json'")
	[ "$streamed" = t ] && break
	sleep 0.1
done
[ "$streamed" = t ] || fail "pg_recvlogical did not confirm the publisher's WAL up to $target"
kill -INT "$RECVLOGICAL_PID" 2>/dev/null || true
wait "$RECVLOGICAL_PID" 2>/dev/null || true
RECVLOGICAL_PID=
# One JSON document per line; loaded as text, without COPY's escapes.
psql_at "$PUBLISHER" -c "CREATE TABLE public.stream (n bigserial, line text)" \
	-c "\\copy public.stream (line) FROM '$WORK/events.json' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
stream_check() {
	local name=$1 query=$2 rows
	rows=$(psql_at "$PUBLISHER" -At -c "SELECT count(*) FROM ($query) AS q") ||
		{ fail "the stream check \"$name\" could not run"; return; }
	if [ "$rows" -ne 0 ]; then
		fail "$name: $rows rows"
		psql_at "$PUBLISHER" -c "SELECT * FROM ($query) AS q LIMIT 10" >&2
	fi
}
psql_at "$PUBLISHER" -o /dev/null <<'SQL'
CREATE TABLE public.streamed AS
SELECT s.n, j->>'action' AS action, (j->>'xid')::bigint AS xid, (j->>'lsn')::pg_lsn AS lsn,
       (SELECT (c->>'value')::bigint FROM jsonb_array_elements(j->'columns') AS c
         WHERE c->>'name' = 'id') AS id,
       (SELECT c->>'value' FROM jsonb_array_elements(j->'columns') AS c
         WHERE c->>'name' = 'description') AS description
  FROM public.stream AS s, LATERAL (SELECT s.line::jsonb AS j) AS l;
-- Each insertion with the transaction it is in: the last begin before it.
CREATE TABLE public.streamed_events AS
SELECT e.n, e.id, e.description,
       (SELECT b.n FROM public.streamed AS b WHERE b.action = 'B' AND b.n < e.n
         ORDER BY b.n DESC LIMIT 1) AS begin_n
  FROM public.streamed AS e WHERE e.action = 'I';
SQL
stream_check "an event of the table not streamed, or streamed twice" \
	"SELECT id FROM ledger.events EXCEPT ALL SELECT id FROM public.streamed_events"
stream_check "an event streamed that the table does not hold (rolled back?)" \
	"SELECT id FROM public.streamed_events EXCEPT ALL SELECT id FROM ledger.events"
stream_check "an event of a rolled-back transaction" \
	"SELECT * FROM public.streamed_events WHERE description = 'rolled back'"
stream_check "an event outside its transaction's begin and commit" \
	"SELECT e.* FROM public.streamed_events AS e
	  WHERE e.begin_n IS NULL
	     OR EXISTS (SELECT FROM public.streamed AS c WHERE c.action = 'C'
	                   AND c.n > e.begin_n AND c.n < e.n)"
stream_check "commits out of LSN order" \
	"SELECT * FROM (SELECT lsn, lag(lsn) OVER (ORDER BY n) AS before
	                  FROM public.streamed WHERE action = 'C') AS c WHERE lsn <= before"
stream_check "a transaction's events out of id order" \
	"SELECT * FROM (SELECT id, begin_n, lag(id) OVER (PARTITION BY begin_n ORDER BY n) AS before
	                  FROM public.streamed_events) AS e WHERE id <= before"
stream_check "no events streamed" "SELECT WHERE (SELECT count(*) FROM public.streamed_events) < 100"
stream_check "no rolled-back transaction in the load" \
	"SELECT WHERE (SELECT count(*) FROM ledger.transfers) = 0"
streamed_events=$(psql_at "$PUBLISHER" -At -c "SELECT count(*) FROM public.streamed_events")
streamed_xacts=$(psql_at "$PUBLISHER" -At -c "SELECT count(*) FROM public.streamed WHERE action = 'C'")
psql_at "$PUBLISHER" -c "DROP TABLE public.stream, public.streamed, public.streamed_events" \
	-c "SELECT pg_catalog.pg_drop_replication_slot('events_json')" >/dev/null

psql_at "$SUBSCRIBER" -c "ALTER SUBSCRIPTION cdc DISABLE"

# The load reached every table, the queue's deletes included.
written=$(psql_at "$PUBLISHER" -At -c \
	"SELECT string_agg(relname || ' ' || n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del, ', ' ORDER BY relname)
	   FROM pg_catalog.pg_stat_user_tables WHERE schemaname = 'ledger'")
queued_deleted=$(psql_at "$PUBLISHER" -At -c \
	"SELECT n_tup_del FROM pg_catalog.pg_stat_user_tables WHERE relid = 'ledger.hot_entries'::pg_catalog.regclass")
[ "${queued_deleted:-0}" -gt 0 ] || fail "no queued posting was applied on the publisher ($written)"

for t in $TABLES; do
	order=$(psql_at "$PUBLISHER" -At -c \
		"SELECT string_agg(a.attname, ', ' ORDER BY array_position(i.indkey::int2[], a.attnum))
		   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a
		     ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		  WHERE i.indrelid = 'ledger.$t'::pg_catalog.regclass AND i.indisprimary")
	[ -n "$order" ] || { fail "ledger.$t has no primary key"; continue; }
	for side in PUBLISHER SUBSCRIBER; do
		psql_at "${!side}" -c "COPY (SELECT * FROM ledger.$t ORDER BY $order) TO STDOUT" \
			>"$WORK/$t.$side"
	done
	if ! cmp -s "$WORK/$t.PUBLISHER" "$WORK/$t.SUBSCRIBER"; then
		fail "ledger.$t differs: $(wc -l <"$WORK/$t.PUBLISHER") rows on the publisher," \
			"$(wc -l <"$WORK/$t.SUBSCRIBER") on the subscriber"
		diff "$WORK/$t.PUBLISHER" "$WORK/$t.SUBSCRIBER" | head -n 10 >&2
	fi
done

# Sequences are not replicated: set the subscriber's from the publisher's.
psql_at "$PUBLISHER" -At -c \
	"SELECT format('SELECT pg_catalog.setval(%L, %s, %s);', schemaname || '.' || sequencename,
	               coalesce(last_value, 1), (last_value IS NOT NULL)::text)
	   FROM pg_catalog.pg_sequences WHERE schemaname = 'ledger'" >"$WORK/sequences.sql"
psql_at "$SUBSCRIBER" -o /dev/null -f "$WORK/sequences.sql"

for side in PUBLISHER SUBSCRIBER; do
	problems=$(psql_at "${!side}" -At -c "SELECT count(*) FROM ledger.verify()")
	if [ "$problems" != 0 ]; then
		fail "ledger.verify() on the ${side,,} reports $problems problems"
		psql_at "${!side}" -c "SELECT * FROM ledger.verify() LIMIT 10" >&2
	fi
done

rows=$(psql_at "$SUBSCRIBER" -At -c \
	"SELECT (SELECT count(*) FROM ledger.transfers) || ' transfers, '
	        || (SELECT count(*) FROM ledger.entries) || ' entries, '
	        || (SELECT count(*) FROM ledger.hold_records) || ' holds, '
	        || (SELECT count(*) FROM ledger.hot_entries) || ' postings still queued'")
echo "logical_replication.sh: $calls calls in ${SECONDS_TO_RUN}s; rows inserted/updated/deleted on the publisher: $written"
echo "logical_replication.sh: the subscriber holds $rows"
echo "logical_replication.sh: wal2json streamed $streamed_events events in $streamed_xacts transactions"
if [ "$FAILED" -ne 0 ]; then
	echo "logical_replication.sh: FAILED" >&2
	exit 1
fi
echo "logical_replication.sh: all checks passed: every call of the load succeeded under a publication FOR ALL TABLES; the subscriber's ledger tables equal the publisher's; wal2json streamed every committed event once, by transaction, in commit order, none of a rolled-back one; ledger.verify() finds nothing on either"
