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
TABLES="assets accounts transfers entries hold_records hot_entries"
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

ledger_start_server cdc-publisher "wal_level = logical" "max_wal_senders = 10" \
	"max_replication_slots = 10"
PUBLISHER=$LEDGER_PGDATA
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

echo 'SELECT cdc.step();' >"$WORK/step.sql"
log "load on the publisher for ${SECONDS_TO_RUN}s"
if ! PGHOST=$PUBLISHER "$PG_BIN/pgbench" -n -c 8 -j 2 -T "$SECONDS_TO_RUN" -f "$WORK/step.sql" \
	"$DB" >"$WORK/pgbench.log" 2>&1 || grep -qiE 'aborted|error' "$WORK/pgbench.log"; then
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
if [ "$FAILED" -ne 0 ]; then
	echo "logical_replication.sh: FAILED" >&2
	exit 1
fi
echo "logical_replication.sh: all checks passed: every call of the load succeeded under a publication FOR ALL TABLES; the subscriber's ledger tables equal the publisher's; ledger.verify() finds nothing on either"
