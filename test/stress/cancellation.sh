#!/usr/bin/env bash
# test/stress/cancellation.sh - a call interrupted by lock_timeout,
# statement_timeout, pg_cancel_backend or pg_terminate_backend leaves all of
# itself or none of it.
#
# (a) One session locks account X (SELECT ... FOR UPDATE) and sleeps.  With
#     lock_timeout = 100ms, a transfer from and to X, a 1,000-item batch
#     touching X, a hold, a capture, a release and a reversal on X each fail
#     with 55P03; with statement_timeout = 100ms, with 57014.  After each
#     failure the ledger's state (every account's sums and version, the row
#     counts of transfers, entries and holds) is exactly what it was.  Once
#     the lock is gone the same accounts move again at once.
# (b) A 50,000-item batch, cancelled (pg_cancel_backend) or its session
#     killed (pg_terminate_backend) once it has run for 100 ms: it fails with
#     57014, or the session dies with 57P01, and nothing is written.  Should
#     the batch finish first it must have written all of itself; at least
#     one of the four runs must have been interrupted.
# (c) One client runs keyed transfers and 3-item keyed batches, session after
#     session, logging each call's keys only after it returned; its session
#     is killed 50 times at random moments.  Then every logged key is in the
#     ledger exactly once, every batch is there whole or not at all, the only
#     keys there but not logged are the calls in flight when a session died
#     (at most one per session), and ledger.verify() finds nothing.
# Timing decides only which calls complete, never what is checked.
#
# Environment: PGHOST, PGPORT, PGUSER (a superuser); CANCEL_KEEP=1 keeps the
# database.
set -euo pipefail

DB=ledger_cancel
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_cancel.XXXXXX")
BG_PIDS=()

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
q() { psql_db -At -c "$1"; }

cleanup() {
	local pid
	touch "$WORK/stop"
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${CANCEL_KEEP:-0}" != 1 ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"

# Accounts 2..201 credit-normal, funded from account 1; X is account 101, in
# the middle, so a batch locks accounts below it before it waits.
psql_db -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'fund', 'debit', NULL);
SELECT ledger.create_account('USD', 'acct:' || i) FROM generate_series(1, 200) AS i;
SELECT ledger.transfer_batch(array_agg(ROW(1, id, 1000000, NULL, 'opening', NULL)::ledger.transfer_request ORDER BY id))
  FROM ledger.accounts WHERE id > 1;
-- Two pending holds and a transfer on X, for capture, release and reverse.
SELECT ledger.hold(101, 102, 500, NULL, 'setup-hold-capture');
SELECT ledger.hold(101, 102, 500, NULL, 'setup-hold-release');
SELECT ledger.transfer(101, 102, 700, 'setup-transfer');

CREATE SCHEMA cancel;
-- Everything a call may write: each account's sums and version, and the row
-- counts and last ids of the ledger's tables.  (Sequences are left out: a
-- rolled-back nextval() is not undone.)
CREATE FUNCTION cancel.state() RETURNS text LANGUAGE sql AS $$
SELECT (SELECT md5(string_agg(concat_ws(':', id, version, debits_posted, credits_posted,
                                        debits_pending, credits_pending, closed, entry_hash),
                              ',' ORDER BY id))
          FROM ledger.accounts)
       || ' transfers ' || (SELECT count(*) || '/' || coalesce(max(id), 0) FROM ledger.transfers)
       || ' entries ' || (SELECT count(*) || '/' || coalesce(max(id), 0) FROM ledger.entries)
       || ' holds ' || (SELECT count(*) || '/' || count(*) FILTER (WHERE status = 'pending')
                        FROM ledger.hold_records)
$$;
SQL
HOLD_C=$(q "SELECT id FROM ledger.hold_records WHERE idempotency_key = 'setup-hold-capture'")
HOLD_R=$(q "SELECT id FROM ledger.hold_records WHERE idempotency_key = 'setup-hold-release'")
TRANSFER=$(q "SELECT id FROM ledger.transfers WHERE idempotency_key = 'setup-transfer'")
X=101

# backend_of APPNAME [CONDITION] - pid of the active backend of that
# application, once it meets CONDITION; empty if none.
backend_of() {
	q "SELECT pid FROM pg_catalog.pg_stat_activity
	    WHERE datname = current_database() AND application_name = '$1'
	      AND state = 'active' AND ${2:-true} LIMIT 1"
}

# wait_gone PID - wait (up to 10 s) until the backend PID has exited.
wait_gone() {
	local i
	for i in $(seq 1 200); do
		[ "$(q "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = $1")" -eq 0 ] && return 0
		sleep 0.05
	done
	fail "backend $1 did not exit"
}

# Elapsed time since the start, in seconds with one decimal, by shell
# arithmetic on milliseconds (no bc: Debian does not install it by default).
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
T0=$(now_ms)
elapsed() { local ms=$(($(now_ms) - T0)); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---------------------------------------------------------------------------
# (a) lock_timeout and statement_timeout while X is locked.
# ---------------------------------------------------------------------------
PGAPPNAME=cancel_locker psql_db >/dev/null 2>"$WORK/locker.err" <<SQL &
BEGIN;
SELECT 1 FROM ledger.accounts WHERE id = $X FOR UPDATE;
SELECT pg_catalog.pg_sleep(120);
SQL
LOCKER_JOB=$!
BG_PIDS+=("$LOCKER_JOB")
locker=
for _ in $(seq 1 200); do
	locker=$(backend_of cancel_locker "query LIKE '%pg_sleep%'")
	[ -n "$locker" ] && break
	sleep 0.05
done
[ -n "$locker" ] || { fail "the locking session did not start"; exit 1; }

BATCH_1000="SELECT ledger.transfer_batch(array_agg(ROW(CASE WHEN i = 500 THEN $X ELSE 1 END,
                 2 + i % 200, 1, NULL, 'batch of 1000', NULL)::ledger.transfer_request ORDER BY i))
              FROM generate_series(1, 1000) AS i"
CALLS=(
	"SELECT ledger.transfer($X, 102, 1)"
	"SELECT ledger.transfer(102, $X, 1, 'to-x')"
	"$BATCH_1000"
	"SELECT ledger.hold($X, 102, 1)"
	"SELECT ledger.capture($HOLD_C, 100)"
	"SELECT ledger.release($HOLD_R)"
	"SELECT ledger.reverse($TRANSFER, 100)"
)
timeouts=0
for setting in "lock_timeout 55P03" "statement_timeout 57014"; do
	read -r guc code <<<"$setting"
	for call in "${CALLS[@]}"; do
		before=$(q "SELECT cancel.state()")
		if psql_db -v VERBOSITY=sqlstate -c "SET $guc = '100ms'" -c "$call" >/dev/null 2>"$WORK/err"; then
			fail "with $guc and X locked, the call succeeded: $call"
		elif ! grep -q "ERROR:  $code" "$WORK/err"; then
			fail "with $guc, expected $code, got $(cat "$WORK/err"): $call"
		else
			timeouts=$((timeouts + 1))
		fi
		after=$(q "SELECT cancel.state()")
		[ "$after" = "$before" ] || fail "$guc: the failed call wrote something: $call ($before -> $after)"
	done
done

# Release the lock (the locker's sleep is cancelled, its transaction ends).
[ "$(q "SELECT pg_catalog.pg_cancel_backend($locker)")" = t ] || fail "could not cancel the locker"
wait "$LOCKER_JOB" 2>/dev/null || true
wait_gone "$locker"
# The failed calls left no lock behind: the same calls now go through at once.
for call in "${CALLS[@]}"; do
	psql_db -c "SET lock_timeout = '5s'" -c "$call" >/dev/null 2>"$WORK/err" ||
		fail "after the lock was released: $(cat "$WORK/err"): $call"
done
echo "cancellation.sh: (a) $timeouts calls timed out on the locked account (7 x lock_timeout 55P03, 7 x statement_timeout 57014), none wrote anything; all 7 went through once the lock was gone ($(elapsed))"

# ---------------------------------------------------------------------------
# (b) a 50,000-item batch cancelled or killed mid-way.
# ---------------------------------------------------------------------------
BATCH_50000="SELECT cardinality(ledger.transfer_batch(array_agg(
                 ROW(1, 2 + i % 200, 1, NULL, 'batch of 50000', NULL)::ledger.transfer_request ORDER BY i)))
              FROM generate_series(1, 50000) AS i"
interrupted=0
completed=0
for how in cancel terminate cancel terminate; do
	before=$(q "SELECT cancel.state()")
	transfers_before=$(q "SELECT count(*) FROM ledger.transfers")
	PGAPPNAME=cancel_batch psql_db -At -v VERBOSITY=sqlstate -c "$BATCH_50000" \
		>"$WORK/batch.out" 2>"$WORK/batch.err" &
	job=$!
	BG_PIDS+=("$job")
	pid=
	for _ in $(seq 1 400); do
		pid=$(backend_of cancel_batch "clock_timestamp() - query_start >= interval '100 ms'")
		[ -n "$pid" ] && break
		kill -0 "$job" 2>/dev/null || break
		sleep 0.01
	done
	if [ -n "$pid" ]; then
		q "SELECT pg_catalog.pg_${how}_backend($pid)" >/dev/null
	fi
	status=0
	wait "$job" || status=$?
	[ -n "$pid" ] && wait_gone "$pid"
	after=$(q "SELECT cancel.state()")
	if [ "$status" -eq 0 ]; then
		# Finished before the signal: all of it.
		completed=$((completed + 1))
		[ "$(cat "$WORK/batch.out")" = 50000 ] || fail "$how: the batch returned $(cat "$WORK/batch.out")"
		[ "$(q "SELECT count(*) FROM ledger.transfers")" -eq $((transfers_before + 50000)) ] ||
			fail "$how: a batch that succeeded did not write 50000 transfers"
	else
		interrupted=$((interrupted + 1))
		case $how in
		cancel) grep -q "ERROR:  57014" "$WORK/batch.err" ||
			fail "cancelled batch: expected 57014, got $(cat "$WORK/batch.err")" ;;
		terminate) grep -q "57P01" "$WORK/batch.err" ||
			fail "killed batch: expected 57P01, got $(cat "$WORK/batch.err")" ;;
		esac
		[ "$after" = "$before" ] || fail "$how: the interrupted batch wrote something ($before -> $after)"
	fi
done
[ "$interrupted" -ge 1 ] || fail "no 50,000-item batch was interrupted (each finished within 100 ms?)"
echo "cancellation.sh: (b) 4 batches of 50,000: $interrupted interrupted and wrote nothing, $completed finished first and wrote everything ($(elapsed))"

# ---------------------------------------------------------------------------
# (c) a client's sessions killed 50 times at random moments.
# ---------------------------------------------------------------------------
# client - session after session until told to stop, each running up to 300
# calls: a keyed transfer, or every fifth call a 3-item keyed batch.  A
# call's keys are logged (stdout, via \echo) only after it returned.
client() {
	local s=0 i a b
	while [ ! -e "$WORK/stop" ] && [ "$s" -lt 2000 ]; do
		s=$((s + 1))
		{
			echo '\o /dev/null'
			for i in $(seq 1 300); do
				a=$((2 + (s * 7 + i * 13) % 200))
				b=$((2 + (s * 11 + i * 17 + 1) % 200))
				[ "$a" -eq "$b" ] && b=$((2 + (b - 1) % 200))
				if [ $((i % 5)) -eq 0 ]; then
					echo "SELECT ledger.transfer_batch(ARRAY[(1, $a, 1, 'c-$s-$i-1', NULL, NULL), ($a, $b, 1, 'c-$s-$i-2', NULL, NULL), (1, $b, 2, 'c-$s-$i-3', NULL, NULL)]::ledger.transfer_request[]);"
					echo "\\echo $s $i c-$s-$i-1 c-$s-$i-2 c-$s-$i-3"
				else
					echo "SELECT ledger.transfer(1, $a, 1, 'c-$s-$i');"
					echo "\\echo $s $i c-$s-$i"
				fi
			done
		} | PGAPPNAME=cancel_loop psql -X -q -v ON_ERROR_STOP=1 -d "$DB" 2>>"$WORK/client.err" || true
		echo "session $s ended"
	done
}
client >"$WORK/client.log" &
CLIENT_JOB=$!
BG_PIDS+=("$CLIENT_JOB")

# 50 kills, from one session so that no connection set-up slows it down: wait
# for the client's session to run a statement, let it go on for 10-90 ms,
# kill it and wait for it to be gone.  A session that ended by itself
# before its kill does not count.
kills=$(psql_db -At <<'SQL'
CREATE TEMP TABLE kills (n int);
DO $$
DECLARE
    v_pid int;
    v_kills int := 0;
BEGIN
    FOR attempt IN 1..200 LOOP
        EXIT WHEN v_kills >= 50;
        v_pid := NULL;
        FOR w IN 1..2000 LOOP
            PERFORM pg_catalog.pg_stat_clear_snapshot();
            SELECT pid INTO v_pid FROM pg_catalog.pg_stat_activity
             WHERE datname = current_database() AND application_name = 'cancel_loop'
               AND state = 'active' LIMIT 1;
            EXIT WHEN v_pid IS NOT NULL;
            PERFORM pg_catalog.pg_sleep(0.005);
        END LOOP;
        EXIT WHEN v_pid IS NULL;
        PERFORM pg_catalog.pg_sleep(0.01 + random() * 0.08);
        SET LOCAL client_min_messages = error;
        -- With a timeout, true only once the backend has exited.
        IF pg_catalog.pg_terminate_backend(v_pid, 10000) THEN
            v_kills := v_kills + 1;
        END IF;
    END LOOP;
    INSERT INTO kills VALUES (v_kills);
END
$$;
SELECT n FROM kills;
SQL
)
touch "$WORK/stop"
wait "$CLIENT_JOB" || true
sessions=$(grep -c '^session ' "$WORK/client.log" || true)

# Anything but a lost connection from the client is a failure.
if grep -vE '^(psql:<stdin>:[0-9]+: )?(FATAL:  terminating connection due to administrator command|CONTEXT:  |server closed the connection unexpectedly|connection to server was lost|no connection to the server|	This probably means the server terminated abnormally|	before or while processing the request\.|$)' "$WORK/client.err" | grep -q .; then
	fail "the client saw other errors: $(sort -u "$WORK/client.err" | head -20)"
fi

# "session call key..." lines, as COPY text: session, call, {key,...}.
grep -v '^session ' "$WORK/client.log" |
	awk '{ k = $3; for (i = 4; i <= NF; i++) k = k "," $i; printf "%s\t%s\t{%s}\n", $1, $2, k }' \
		>"$WORK/logged" || true
psql_db -o /dev/null <<SQL
CREATE TABLE cancel.logged (session int, call int, keys text[]);
\copy cancel.logged FROM '$WORK/logged'
CREATE TABLE cancel.in_ledger AS
SELECT split_part(idempotency_key, '-', 2)::int AS session,
       split_part(idempotency_key, '-', 3)::int AS call,
       idempotency_key AS key
  FROM ledger.transfers WHERE idempotency_key LIKE 'c-%';
SQL
logged_calls=$(q "SELECT count(*) FROM cancel.logged")
check() {
	local name=$1 query=$2 rows
	rows=$(q "SELECT count(*) FROM ($query) AS q")
	if [ "$rows" -ne 0 ]; then
		fail "$name: $rows rows (first 20):"
		psql_db -c "SELECT * FROM ($query) AS q LIMIT 20" >&2
	fi
}
check "a logged key missing from the ledger" \
	"SELECT k FROM cancel.logged, unnest(keys) AS k WHERE NOT EXISTS (SELECT FROM cancel.in_ledger WHERE key = k)"
check "a key in the ledger more than once" \
	"SELECT key FROM cancel.in_ledger GROUP BY key HAVING count(*) > 1"
check "a batch in the ledger in part" \
	"SELECT session, call FROM cancel.in_ledger WHERE key LIKE 'c-%-%-%'
	  GROUP BY session, call HAVING count(*) <> 3"
# A call in the ledger but not logged must be the one in flight when its
# session died: the first call after the last logged one of that session.
check "an unlogged call in the ledger that was not in flight" \
	"SELECT DISTINCT l.session, l.call FROM cancel.in_ledger AS l
	  WHERE NOT EXISTS (SELECT FROM cancel.logged AS g WHERE g.session = l.session AND g.call = l.call)
	    AND l.call <> 1 + coalesce((SELECT max(g.call) FROM cancel.logged AS g WHERE g.session = l.session), 0)"
check "logged calls out of order within a session" \
	"SELECT session FROM cancel.logged GROUP BY session HAVING max(call) <> count(*)"
in_flight=$(q "SELECT count(DISTINCT (l.session, l.call)) FROM cancel.in_ledger AS l
                WHERE NOT EXISTS (SELECT FROM cancel.logged AS g WHERE g.session = l.session AND g.call = l.call)")
check "ledger.verify()" "SELECT * FROM ledger.verify()"
check "money created or destroyed" \
	"SELECT FROM ledger.accounts HAVING sum(credits_posted::numeric) <> sum(debits_posted::numeric)"
[ "$kills" -eq 50 ] || fail "only $kills of 50 sessions were killed"
# A kill that landed inside a ledger call reports the call's SQL statement.
mid_call=$(grep -c '^CONTEXT:' "$WORK/client.err" || true)
echo "cancellation.sh: (c) $kills sessions killed over $sessions sessions ($mid_call inside a ledger statement); $logged_calls calls logged, each in the ledger exactly once; $in_flight calls committed but not logged (in flight when killed); batches whole or absent; ledger.verify() finds nothing ($(elapsed))"

if [ "$failed" -ne 0 ]; then
	echo "cancellation.sh: FAILED" >&2
	exit 1
fi
echo "cancellation.sh: all checks passed"
