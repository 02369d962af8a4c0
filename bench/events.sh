#!/usr/bin/env bash
# bench/events.sh - reading the events: does one consumer keep up with the
# writers, and does the ledger stay as fast after millions of events?
#
# On a throwaway server with the library preloaded (its worker sends the
# NOTIFYs) and book 1 publishing events, over bench/lib.sh's accounts:
#  keeping up   16 clients of single transfers for T seconds while one
#               consumer (one connection) reads 1,000 events at a time and
#               acknowledges each batch in the same transaction; printed:
#               the writers' events per second, the consumer's, the lag
#               (events written and not yet acknowledged) at the end of the
#               writes, and how long the consumer took to drain it;
#               (the consumer sleeps 5 ms when it finds nothing, as one
#               woken by NOTIFY would);
#  retention    the write rate (16 clients, T seconds) and the read rate (a
#               backlog of 200,000 events read 1,000 at a time, each batch
#               its own transaction) measured first, then again after N
#               events (default 10,000,000, written by batches of 10,000)
#               have been read, acknowledged and removed by
#               ledger.prune_events(); before each of the two, every table
#               is vacuumed and analysed (as autovacuum would be, which
#               after millions of rows otherwise runs in the middle of the
#               measurement) and a checkpoint taken; the read rate is
#               measured twice, the second time with the consumer's commits
#               not waiting for their WAL flush (synchronous_commit off),
#               which tells the cost of a flush per batch from that of the
#               reads.  The write rate is also measured, interleaved, on a
#               second database with the same accounts whose book does not
#               publish and which gets the same batches: its history grows
#               as much, so the ratio of the two after the N events, against
#               the ratio before, is what the events left behind them cost;
#               printed: the rates, their ratios, and the time
#               prune_events() took.
# The figures are information; the exit status says whether they were
# measured.  Usage: bench/events.sh [-T SECONDS] [--events N] [--no-build]
set -euo pipefail

TIME=10
EVENTS=10000000
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		-T|--time) TIME=${2:?}; shift 2 ;;
		--events) EVENTS=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) sed -n 2,21p "$0"; exit 0 ;;
		*) echo "usage: bench/events.sh [-T SECONDS] [--events N] [--no-build]" >&2; exit 2 ;;
	esac
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

DB=bench
bench_begin events "shared_preload_libraries = 'ledger'" "ledger.expiry_database = '$DB'"
log "setting up $ACCOUNTS accounts, twice"
bench_setup_ledger
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE bench_off"
DB=bench_off bench_setup_ledger
psql_db >/dev/null <<'SQL'
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_consumer('bench');
CREATE SCHEMA bench;
-- One batch: the next events, acknowledged up to the last, in the caller's
-- transaction; how many there were.
CREATE FUNCTION bench.consume(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint;
    got int;
BEGIN
    SELECT count(*), (array_agg(e.id ORDER BY e.o DESC))[1] INTO got, last_id
      FROM ledger.next_events('bench', n) WITH ORDINALITY AS e (id, xid, book_id, kind, account_id,
           debit_account_id, credit_account_id, amount, transfer_id, hold_id, idempotency_key,
           description, metadata, detail, created_at, o);
    IF got > 0 THEN
        PERFORM ledger.ack_events('bench', last_id);
    END IF;
    RETURN got;
END $$;
-- Until nothing is left, each batch its own transaction.
CREATE PROCEDURE bench.drain() LANGUAGE plpgsql AS $$
BEGIN
    LOOP
        EXIT WHEN bench.consume(1000) = 0;
        COMMIT;
    END LOOP;
END $$;
SQL
psql_db -c "VACUUM ANALYZE" >/dev/null

pair="\\set debit random(1, $ACCOUNTS)
\\set credit 1 + (:debit - 1 + random(1, $((ACCOUNTS - 1)))) % $ACCOUNTS
\\set amount random(1, 1000)"
printf '%s\nSELECT ledger.transfer(:debit, :credit, :amount);\n' "$pair" >"$WORK/uniform.sql"
printf 'SELECT bench.consume(1000) AS got\n\\gset\n\\if :got = 0\n\\sleep 5 ms\n\\endif\n' >"$WORK/consume.sql"
printf 'SELECT cardinality(ledger.transfer_batch(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request)))\n  FROM %s;\n' \
	"$(pairs 10000)" >"$WORK/batch.sql"

# Each transfer of the writers publishes one event.
events_now() { psql_db -c "SELECT last_value FROM ledger.transfers_id_seq"; }
unread() {
	psql_db -c "SELECT count(*) FROM ledger.events AS e, ledger.consumers AS c
	             WHERE c.name = 'bench' AND (e.xid, e.id) > (c.position_xid, c.position_id)"
}
drain() { psql_db -c "CALL bench.drain()" >/dev/null; }
# The same, the consumer's commits not waiting for their WAL to be flushed.
drain_async() { PGOPTIONS="-c synchronous_commit=off" psql_db -c "CALL bench.drain()" >/dev/null; }
now_ms() { date +%s%3N; }

# write_rate [DATABASE] - transfers per second of 16 clients of single
# transfers.
write_rate() {
	local out
	out=$(PGOPTIONS="-c synchronous_commit=on" "$PG_BIN/pgbench" -n -M prepared -c 16 -j 2 -T "$TIME" \
		-f "$WORK/uniform.sql" "${1:-$DB}" 2>&1) || { echo "$out" >&2; exit 1; }
	sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' <<<"$out"
}

# read_rate [async] - events per second read and acknowledged from a
# backlog of 200,000, written first by batches with the consumer caught up;
# with "async", the consumer's commits do not wait for the flush.
read_rate() {
	local t0 t1
	drain
	for _ in $(seq 1 20); do psql_db -f "$WORK/batch.sql" >/dev/null; done
	t0=$(now_ms)
	if [ "${1:-}" = async ]; then drain_async; else drain; fi
	t1=$(now_ms)
	awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", 200000 / (ms / 1000) }'
}

# settle - what a quiet server has between bursts: the tables of both
# databases vacuumed and analysed (what autovacuum would otherwise do in the
# middle of a measurement, after millions of rows), no autovacuum worker
# running, and a checkpoint, so that a measurement neither waits for nor
# writes out the dirty pages of what came before it.
settle() {
	psql_db -c "VACUUM ANALYZE" >/dev/null
	DB=bench_off psql_db -c "VACUUM ANALYZE" >/dev/null
	while [ "$(psql_db -c "SELECT count(*) FROM pg_stat_activity
	                        WHERE backend_type = 'autovacuum worker'")" -gt 0 ]; do
		sleep 1
	done
	psql_db -c "CHECKPOINT" >/dev/null
}

# Warm-up of both databases: the first runs after the set-up would pay for
# the first touch of every page alone.
write_rate >/dev/null
write_rate bench_off >/dev/null

# --- keeping up -----------------------------------------------------------------
log "keeping up: 16 writers for ${TIME}s, one consumer reading all the time"
drain
e0=$(events_now)
"$PG_BIN/pgbench" -n -M prepared -c 1 -j 1 -T $((TIME + 600)) -f "$WORK/consume.sql" "$DB" \
	>"$WORK/consumer.log" 2>&1 &
CONSUMER=$!
t0=$(now_ms)
write_rate >/dev/null
t1=$(now_ms)
e1=$(events_now)
lag=$(unread)
while [ "$(unread)" -gt 0 ]; do sleep 0.05; done
t2=$(now_ms)
kill "$CONSUMER" 2>/dev/null || true
wait "$CONSUMER" 2>/dev/null || true
written=$((e1 - e0))
write_per_s=$(awk -v n=$written -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ms / 1000) }')
read_per_s=$(awk -v n=$written -v ms=$((t2 - t0)) 'BEGIN { printf "%.0f", n / (ms / 1000) }')
drain_s=$(awk -v ms=$((t2 - t1)) 'BEGIN { printf "%.2f", ms / 1000 }')

# --- retention ------------------------------------------------------------------
log "retention: rates before"
settle
w_before=$(write_rate)
o_before=$(write_rate bench_off)
r_before=$(read_rate)
ra_before=$(read_rate async)
log "retention: writing, reading and pruning $EVENTS events"
calls=$(((EVENTS + 9999) / 10000))
for i in $(seq 1 "$calls"); do
	psql_db -f "$WORK/batch.sql" >/dev/null
	DB=bench_off psql_db -f "$WORK/batch.sql" >/dev/null
	if [ $((i % 50)) -eq 0 ]; then
		drain
		log "  $((i * 10000)) events"
	fi
done
drain
t0=$(now_ms)
pruned=$(psql_db -c "SELECT ledger.prune_events()")
t1=$(now_ms)
prune_s=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
log "retention: rates after"
settle
o_after=$(write_rate bench_off)
w_after=$(write_rate)
r_after=$(read_rate)
ra_after=$(read_rate async)

echo
echo "events benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, ledger" \
	"$(psql_db -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'") (commit $commit);" \
	"-T $TIME; the library preloaded; synchronous_commit on"
echo
echo "| measure | figure |"
echo "|---|--:|"
echo "| keeping up: events written per second (16 writers) | $write_per_s |"
echo "| keeping up: events read and acknowledged per second (one consumer, to the end of its drain) | $read_per_s |"
echo "| keeping up: lag when the writers stopped (events) | $lag |"
echo "| keeping up: drain after the writers stopped | $drain_s s |"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '| retention: write rate before / after %s events, publishing (transfers/s) | %.0f / %.0f (%s) |\n' "$EVENTS" \
	"$w_before" "$w_after" "$(ratio "$w_after" "$w_before")"
printf '| retention: the same, the database that does not publish | %.0f / %.0f (%s) |\n' \
	"$o_before" "$o_after" "$(ratio "$o_after" "$o_before")"
printf '| retention: publishing against not, before / after | %s / %s |\n' \
	"$(ratio "$w_before" "$o_before")" "$(ratio "$w_after" "$o_after")"
printf '| retention: read rate before / after (events/s) | %s / %s (%s) |\n' "$r_before" "$r_after" \
	"$(ratio "$r_after" "$r_before")"
printf '| retention: the same, the consumer committing without waiting for the flush | %s / %s (%s) |\n' \
	"$ra_before" "$ra_after" "$(ratio "$ra_after" "$ra_before")"
echo "| retention: ledger.prune_events() of $pruned events | $prune_s s |"
