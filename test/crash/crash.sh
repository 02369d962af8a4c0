#!/usr/bin/env bash
# test/crash/crash.sh - kill the server again and again under load; every
# call a client saw commit must be in the ledger exactly once, as made, and
# nothing else.
#
# Starts a throwaway server of its own (fsync, synchronous_commit and
# restart_after_crash on, as by default), builds a ledger of 200 funded
# wallets (two of them in hot mode, so credits to them are queued) and a
# funding account without a lower limit, and starts client
# processes (test/crash/client.sh) that make transfers, holds, captures and
# releases, each with its own idempotency key, and log a call only once its
# COMMIT has returned.  A client whose answer was lost reconnects and makes
# the same call again with the same key; the key decides whether it applies.
#
# Meanwhile the server is killed at random moments, by turns in five ways:
#   postmaster  kill -9 of the postmaster; its children notice and exit,
#               then pg_ctl starts it again (crash recovery);
#   server      kill -9 of the postmaster and, at the same moment, of every
#               process of it that pg_stat_activity lists, as in a crash of
#               the machine (minus the loss of the OS page cache);
#   backend     kill -9 of one client backend: the postmaster kills the
#               others and reinitialises itself (crash recovery);
#   terminate   pg_terminate_backend() of one client backend;
#   recovery    kill -9 of one client backend, then of the postmaster while
#               it resets or recovers.
# Only pids read from our own postmaster.pid and from our own server's
# pg_stat_activity are ever killed, after checking that the process runs on
# our data directory or is a child of our postmaster.
#
# Then the clients stop, and with the server up:
#  - every logged key is in ledger.transfers (ledger.hold_records for holds)
#    exactly once, read from the heap, with its logged arguments and id; no
#    other transfer or hold exists beyond the set-up's;
#  - each logged hold is captured (with the logged amount and transfer),
#    released, or still pending and reserved, as its log says;
#  - ledger.verify() finds nothing with the hot wallets' postings still
#    queued; then their queues are applied;
#  - every account's posted and pending sums are the set-up's plus what the
#    logs say committed;
#  - ledger.verify() finds nothing, amcheck's bt_index_check with
#    heapallindexed passes on every btree index of schema ledger, and
#    verify_heapam finds nothing in its tables.
# Prints a summary; exits non-zero on any failure.  The server is stopped
# and its files removed whatever happens.
#
# Usage: crash.sh [--long]
#   short form: 4 clients, 25 kills 0.5-2 s apart (under a minute);
#   --long: 6 clients, 150 kills 0.5-4 s apart (about ten minutes).
# Environment: CRASH_SEED (default random, printed) seeds the kills and the
# clients' calls; CRASH_KEEP=1 keeps the work directory (the clients' logs
# and the server log); CRASH_SELFTEST=1 also corrupts the ledger and the
# logs in rolled-back transactions and requires every check to notice.
# The extension must be installed (make install, or test/run.sh).
set -euo pipefail

# A postmaster refuses to start while the pid in postmaster.pid exists, and a
# killed postmaster, orphaned since pg_ctl started it, keeps its pid until
# init reaps it, which some inits do late or never.  So this script makes
# itself the "child subreaper" of everything it starts (prctl
# PR_SET_CHILD_SUBREAPER, kept across exec): bash reaps orphans at once.
# Without perl's syscall.ph, it waits for init.
if [ -z "${LEDGER_CRASH_SUBREAPER:-}" ] &&
	perl -e 'require "syscall.ph"; exit(defined(&SYS_prctl) ? 0 : 1)' 2>/dev/null; then
	export LEDGER_CRASH_SUBREAPER=1
	exec perl -e 'require "syscall.ph";
		syscall(&SYS_prctl, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
		exec { $ARGV[0] } @ARGV or die "exec: $!\n";' -- bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
# Never touch the caller's server: ours gets its own settings below.
unset LEDGER_PGDATA PGHOST PGPORT PGDATABASE PGOPTIONS
. "$HERE/../lib/pg.sh"

if [ "${1:-}" = --long ]; then
	FORM=long CLIENTS=6 EVENTS=150 GAP_MIN_MS=500 GAP_MAX_MS=4000
elif [ $# -eq 0 ]; then
	FORM=short CLIENTS=4 EVENTS=25 GAP_MIN_MS=500 GAP_MAX_MS=2000
else
	echo "usage: $0 [--long]" >&2
	exit 2
fi
DB=ledger_crash
WALLETS=200
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "crash.sh: seed $SEED (CRASH_SEED=$SEED repeats the kills' order and spacing)"

if [ ! -f "$($PG_CONFIG --sharedir)/extension/ledger.control" ]; then
	echo "crash.sh: the ledger extension is not installed; run: make install" >&2
	exit 1
fi

# Other builds may reinstall the library during the run: say so on failure.
LIBRARY=$($PG_CONFIG --pkglibdir)/ledger.so
library_stamp() { stat -c '%s %Y' "$LIBRARY" 2>/dev/null || true; }
LIBRARY_STAMP=$(library_stamp)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_crash.XXXXXX")
CLIENT_PIDS=()
FAILED=0

# diagnostics - what the clients and the server said, for a failure.
diagnostics() {
	local f
	for f in "$WORK"/client.*.errors; do
		[ -s "$f" ] && cat "$f" >&2
	done
	if [ -n "${LEDGER_PGDATA:-}" ] && [ -f "$LEDGER_PGDATA/server.log" ]; then
		echo "--- last lines of the server log:" >&2
		tail -n 40 "$LEDGER_PGDATA/server.log" >&2
	fi
	if [ "$(library_stamp)" != "$LIBRARY_STAMP" ]; then
		echo "crash.sh: $LIBRARY was reinstalled during the run: a library that does not match" \
			"the extension's tables can crash backends" >&2
	fi
}

fail() {
	echo "crash.sh: FAIL: $*" >&2
	FAILED=1
}

die() {
	fail "$@"
	diagnostics
	exit 1
}

cleanup() {
	local pid
	# Only clients still running: the pid of one that has ended may be reused.
	for pid in $(jobs -rp); do
		[[ " ${CLIENT_PIDS[*]} " == *" $pid "* ]] && kill "$pid" 2>/dev/null
	done
	for pid in "${CLIENT_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${CRASH_KEEP:-0}" = 1 ] && [ -n "${LEDGER_PGDATA:-}" ]; then
		cp "$LEDGER_PGDATA/server.log" "$WORK/" 2>/dev/null || true
	fi
	ledger_stop_server
	if [ "${CRASH_KEEP:-0}" = 1 ]; then
		echo "crash.sh: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# sleep_ms MS
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# ---------------------------------------------------------------------------
# The server and the ledger.
# ---------------------------------------------------------------------------
ledger_start_server crash "fsync = on" "synchronous_commit = on" "full_page_writes = on" \
	"restart_after_crash = on" "checkpoint_timeout = 30s" "log_min_messages = log"
DATA=$LEDGER_PGDATA/data
SERVER_LOG=$LEDGER_PGDATA/server.log
started=$SECONDS

log "setting up $WALLETS wallets"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql_db -v wallets="$WALLETS" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
CREATE EXTENSION amcheck;
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('EUR', 'crash:fund', 'debit', NULL);
-- One run of the sequence: the wallets' ids are contiguous.
SELECT ledger.create_account('EUR', 'crash:wallet:' || i) FROM generate_series(1, :wallets) AS i;
-- 10,000,000.00 EUR each: far more than the run can move.
SELECT count(ledger.transfer(f.id, w.id, 1000000000, NULL, 'opening balance'))
  FROM ledger.accounts AS w, ledger.accounts AS f
 WHERE w.name LIKE 'crash:wallet:%' AND f.name = 'crash:fund';
-- Two wallets in hot mode: credits to them are queued without their row
-- lock, and the queue must survive every crash whole.
SELECT ledger.set_account_hot(id) FROM ledger.accounts
 WHERE name IN ('crash:wallet:1', 'crash:wallet:2');

CREATE SCHEMA crash;
CREATE TABLE crash.setup AS
SELECT id, debits_posted::numeric AS debits_posted, credits_posted::numeric AS credits_posted,
       debits_pending::numeric AS debits_pending, credits_pending::numeric AS credits_pending
  FROM ledger.accounts;
CREATE TABLE crash.setup_transfers AS
SELECT max(id) AS last_id, count(*) AS n FROM ledger.transfers;
-- The clients' logs, loaded after the run.
CREATE TABLE crash.calls (
    client  integer NOT NULL,
    kind    text NOT NULL,      -- transfer, hold, capture, release
    key     text,               -- idempotency key; none for a release
    debit   bigint NOT NULL,
    credit  bigint NOT NULL,
    amount  numeric,            -- the amount moved, held or captured; none for a release
    hold_id bigint,             -- the hold captured or released
    id      bigint,             -- the transfer or hold returned
    note    text NOT NULL       -- first, replayed or retried (client.sh)
);
SQL
FUND=$(psql_db -At -c "SELECT ledger.account_id('crash:fund')")
read -r FIRST LAST N < <(psql_db -At -F ' ' -c \
	"SELECT min(id), max(id), count(*) FROM ledger.accounts WHERE name LIKE 'crash:wallet:%'")
[ "$N" -eq "$WALLETS" ] && [ $((LAST - FIRST + 1)) -eq "$WALLETS" ] ||
	die "the wallets' ids are not contiguous: $FIRST..$LAST for $N wallets"

# ---------------------------------------------------------------------------
# Killing and restarting the server.
# ---------------------------------------------------------------------------

# postmaster_pid - the pid in our postmaster.pid, if that process is alive
# and runs on our data directory.
postmaster_pid() {
	local pid
	pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DATA" || return 1
	echo "$pid"
}

# start_time PID - the process's start time, which tells it from a later
# process that reuses its pid.
start_time() { awk '{ print $22 }' "/proc/$1/stat" 2>/dev/null; }

# parent_of PID
parent_of() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# wait_gone PID START_TIME - wait until the process has exited and been
# reaped: a postmaster refuses to start while the pid in postmaster.pid
# exists, even as a zombie.
wait_gone() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(start_time "$1")" = "$2" ] || return 0
		sleep 0.05
	done
	die "process $1 did not go away"
}

# wait_ready - wait until the server accepts connections.
wait_ready() {
	local i
	for ((i = 0; i < 1200; i++)); do
		pg_isready -q -d postgres && return 0
		sleep 0.05
	done
	die "the server did not come back"
}

# restart_server - pg_ctl start, again and again while processes of the
# killed postmaster still hold its shared memory (the new postmaster refuses
# to start).  A startup process orphaned while it asks for the end-of-recovery
# checkpoint retries signalling the dead checkpointer for up to 60 s before
# it notices, so allow 180 s.
REFUSED_STARTS=0
restart_server() {
	local deadline=$((SECONDS + 180))
	until as_server_user "$PG_BIN/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -w -t 120 start \
		>>"$WORK/pg_ctl.log" 2>&1; do
		REFUSED_STARTS=$((REFUSED_STARTS + 1))
		[ "$SECONDS" -lt "$deadline" ] || die "the server did not restart within 180 s"
		sleep 0.2
	done
}

# kill_postmaster [all] - kill -9 the postmaster (with "all", and every
# process of it that pg_stat_activity lists), wait for it to be gone and
# start the server again.
kill_postmaster() {
	local pm start pid victims
	pm=$(postmaster_pid) || die "no postmaster to kill"
	start=$(start_time "$pm")
	victims=("$pm")
	if [ "${1:-}" = all ]; then
		for pid in $(psql -X -At -d postgres -c \
			"SELECT pid FROM pg_catalog.pg_stat_activity WHERE pid <> pg_catalog.pg_backend_pid()" \
			2>/dev/null); do
			[ "$(parent_of "$pid")" = "$pm" ] && victims+=("$pid")
		done
	fi
	kill -9 "${victims[@]}" 2>/dev/null || true
	wait_gone "$pm" "$start"
	restart_server
}

# pick_backend - set VICTIM to a client backend of the test's database,
# child of our postmaster.  Fails if there is none right now.
pick_backend() {
	local pm pids
	pm=$(postmaster_pid) || return 1
	pids=($(psql -X -At -d postgres -c \
		"SELECT pid FROM pg_catalog.pg_stat_activity
		  WHERE datname = '$DB' AND backend_type = 'client backend'
		    AND pid <> pg_catalog.pg_backend_pid()" 2>/dev/null)) || return 1
	[ "${#pids[@]}" -gt 0 ] || return 1
	VICTIM=${pids[RANDOM % ${#pids[@]}]}
	[ "$(parent_of "$VICTIM")" = "$pm" ]
}

# kill_backend MODE - kill -9 a client backend, or pg_terminate_backend() it
# (MODE terminate), or kill -9 it and then the postmaster (MODE recovery).
# Fails if no client backend could be found.
kill_backend() {
	local i pm start
	VICTIM=
	for ((i = 0; i < 50; i++)); do
		pick_backend && break
		VICTIM=
		sleep 0.1
	done
	[ -n "$VICTIM" ] || return 1
	case $1 in
	terminate)
		[ "$(psql -X -At -d postgres -c "SELECT pg_catalog.pg_terminate_backend($VICTIM)" 2>/dev/null)" = t ]
		;;
	kill)
		kill -9 "$VICTIM"
		;;
	recovery)
		pm=$(postmaster_pid) || return 1
		start=$(start_time "$pm")
		kill -9 "$VICTIM"
		sleep_ms $((RANDOM % 500))
		kill -9 "$pm"
		wait_gone "$pm" "$start"
		restart_server
		;;
	esac
}

# ---------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------
log "starting $CLIENTS clients, then $EVENTS kills"
setup_seconds=$((SECONDS - started))
started=$SECONDS
for ((i = 1; i <= CLIENTS; i++)); do
	bash "$HERE/client.sh" "$i" "$WORK" "$DB" "$FUND" "$FIRST" "$LAST" $(((SEED + i) % 32768)) &
	CLIENT_PIDS+=($!)
done

# Every client has committed a call before the first kill.
for ((i = 0; i < 600; i++)); do
	busy=0
	for ((c = 1; c <= CLIENTS; c++)); do
		[ -s "$WORK/client.$c.log" ] && busy=$((busy + 1))
	done
	[ "$busy" -eq "$CLIENTS" ] && break
	for pid in "${CLIENT_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a client ended before the first kill"
	done
	sleep 0.05
done
[ "$busy" -eq "$CLIENTS" ] || die "the clients did not start"

KINDS=(postmaster server backend terminate recovery)
declare -A KILLS=([postmaster]=0 [server]=0 [backend]=0 [terminate]=0 [recovery]=0)
MISSED=0
order=("${KINDS[@]}")
for ((e = 0; e < EVENTS; e++)); do
	# Each round of five kills uses every kind once, in a random order.
	if [ $((e % ${#KINDS[@]})) -eq 0 ]; then
		for ((i = ${#order[@]} - 1; i > 0; i--)); do
			j=$((RANDOM % (i + 1)))
			tmp=${order[i]}
			order[i]=${order[j]}
			order[j]=$tmp
		done
	fi
	kind=${order[e % ${#KINDS[@]}]}
	sleep_ms $((GAP_MIN_MS + RANDOM % (GAP_MAX_MS - GAP_MIN_MS + 1)))
	for pid in "${CLIENT_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a client ended during the run"
	done
	case $kind in
	postmaster) kill_postmaster ;;
	server) kill_postmaster all ;;
	backend) kill_backend kill || { MISSED=$((MISSED + 1)); continue; } ;;
	terminate) kill_backend terminate || { MISSED=$((MISSED + 1)); continue; } ;;
	recovery) kill_backend recovery || { MISSED=$((MISSED + 1)); continue; } ;;
	esac
	KILLS[$kind]=$((KILLS[$kind] + 1))
	wait_ready
done
run_seconds=$((SECONDS - started))

# The clients finish their calls on a server that stays up.
log "stopping the clients"
wait_ready
sleep 1
touch "$WORK/stop"
deadline=$((SECONDS + 240))
for pid in "${CLIENT_PIDS[@]}"; do
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "client $pid did not stop"
	wait "$pid" || fail "a client failed"
done
CLIENT_PIDS=()
[ "$FAILED" -eq 0 ] || die "the clients' errors follow"

total_kills=0
for kind in "${KINDS[@]}"; do
	total_kills=$((total_kills + KILLS[$kind]))
done
min_kills=$((EVENTS * 4 / 5))
[ "$total_kills" -ge "$min_kills" ] ||
	fail "only $total_kills kills of $EVENTS ($MISSED found no client backend)"

# ---------------------------------------------------------------------------
# The checks, on the heap: index scans off, so that a key indexed twice or
# not at all cannot hide a duplicate or a loss (amcheck checks the indexes).
# ---------------------------------------------------------------------------
log "checking"
started=$SECONDS
cat "$WORK"/client.*.log >"$WORK/calls.tsv"
psql_db -c "\\copy crash.calls FROM '$WORK/calls.tsv'"

psql_db <<'SQL'
-- A key logged twice, or a hold resolved twice.
CREATE VIEW crash.check_logged_once AS
SELECT kind, key AS what, count(*) AS times
  FROM crash.calls WHERE key IS NOT NULL GROUP BY kind, key HAVING count(*) > 1
UNION ALL
SELECT 'resolution', 'hold ' || hold_id, count(*)
  FROM crash.calls WHERE kind IN ('capture', 'release') GROUP BY hold_id HAVING count(*) > 1;

-- Transfer keys: each logged one exactly once, with the logged id; every
-- keyed transfer logged.
CREATE VIEW crash.check_transfer_keys AS
SELECT c.client, c.kind, coalesce(c.key, t.key) AS key, c.id AS logged_id, t.ids AS found_ids
  FROM (SELECT * FROM crash.calls WHERE kind IN ('transfer', 'capture')) AS c
  FULL JOIN (SELECT idempotency_key AS key, array_agg(id ORDER BY id) AS ids
               FROM ledger.transfers WHERE idempotency_key IS NOT NULL
              GROUP BY idempotency_key) AS t ON t.key = c.key
 WHERE c.key IS NULL OR t.key IS NULL OR t.ids <> ARRAY[c.id];

-- Transfers made as logged.  A capture takes the hold's accounts and
-- description.
CREATE VIEW crash.check_transfer_args AS
SELECT c.client, c.kind, c.key, c.debit, c.credit, c.amount, c.hold_id, c.id,
       t.id AS t_id, t.debit_account_id, t.credit_account_id, t.amount AS t_amount,
       t.hold_id AS t_hold_id, t.reverses_transfer_id, t.description, t.metadata
  FROM crash.calls AS c
  JOIN ledger.transfers AS t ON t.idempotency_key = c.key
 WHERE c.kind IN ('transfer', 'capture')
   AND (t.id, t.debit_account_id, t.credit_account_id, t.amount::numeric, t.hold_id,
        t.reverses_transfer_id, t.description, t.metadata::text)
       IS DISTINCT FROM
       (c.id, c.debit, c.credit, c.amount, c.hold_id, NULL::bigint, 'crash', NULL::text);

-- No transfer without a key beyond the set-up's, and the set-up's intact.
CREATE VIEW crash.check_unlogged_transfers AS
SELECT t.id, t.debit_account_id, t.credit_account_id, t.amount, t.description
  FROM ledger.transfers AS t, crash.setup_transfers AS s
 WHERE t.id > s.last_id AND t.idempotency_key IS NULL
UNION ALL
SELECT NULL, NULL, NULL, NULL, 'set-up transfers: ' || count(*) || ' instead of ' || min(s.n)
  FROM ledger.transfers AS t, crash.setup_transfers AS s
 WHERE t.id <= s.last_id
HAVING count(*) <> min(s.n);

-- Hold keys likewise; the run makes no hold without a key.
CREATE VIEW crash.check_hold_keys AS
SELECT c.client, coalesce(c.key, h.key) AS key, c.id AS logged_id, h.ids AS found_ids
  FROM (SELECT * FROM crash.calls WHERE kind = 'hold') AS c
  FULL JOIN (SELECT idempotency_key AS key, array_agg(id ORDER BY id) AS ids
               FROM ledger.hold_records GROUP BY idempotency_key) AS h ON h.key = c.key
 WHERE c.key IS NULL OR h.key IS NULL OR h.ids <> ARRAY[c.id];

CREATE VIEW crash.check_hold_args AS
SELECT c.client, c.key, c.debit, c.credit, c.amount, c.id,
       h.id AS h_id, h.debit_account_id, h.credit_account_id, h.amount AS h_amount,
       h.expires_at, h.description, h.metadata
  FROM crash.calls AS c
  JOIN ledger.hold_records AS h ON h.idempotency_key = c.key
 WHERE c.kind = 'hold'
   AND (h.id, h.debit_account_id, h.credit_account_id, h.amount::numeric, h.expires_at,
        h.description, h.metadata::text)
       IS DISTINCT FROM
       (c.id, c.debit, c.credit, c.amount, NULL::timestamptz, 'crash', NULL::text);

-- Each logged hold as its log says: captured by the logged capture,
-- released, or pending with both sides reserved; and every capture or
-- release logged is of a logged hold.
CREATE VIEW crash.check_hold_states AS
SELECT h.id, h.status, h.debit_reserved, h.credit_reserved, h.captured_amount,
       h.capture_transfer_id, h.resolved_at, r.kind AS logged, r.amount AS logged_amount,
       r.id AS logged_transfer
  FROM crash.calls AS c
  JOIN ledger.hold_records AS h ON h.idempotency_key = c.key
  LEFT JOIN crash.calls AS r ON r.kind IN ('capture', 'release') AND r.hold_id = h.id
 WHERE c.kind = 'hold'
   AND (h.status, h.debit_reserved, h.credit_reserved, h.captured_amount::numeric,
        h.capture_transfer_id, h.resolved_at IS NULL)
       IS DISTINCT FROM
       (CASE r.kind WHEN 'capture' THEN 'captured' WHEN 'release' THEN 'released' ELSE 'pending' END,
        r.kind IS NULL, r.kind IS NULL,
        CASE WHEN r.kind = 'capture' THEN r.amount END,
        CASE WHEN r.kind = 'capture' THEN r.id END,
        r.kind IS NULL)
UNION ALL
SELECT r.hold_id, 'logged ' || r.kind || ' of a hold never logged', NULL, NULL, NULL, NULL, NULL,
       r.kind, r.amount, r.id
  FROM crash.calls AS r
 WHERE r.kind IN ('capture', 'release')
   AND NOT EXISTS (SELECT 1 FROM crash.calls AS c WHERE c.kind = 'hold' AND c.id = r.hold_id);

-- Every account's sums: the set-up's plus what the logs say committed.
CREATE VIEW crash.check_balances AS
WITH pending AS (
    SELECT h.debit, h.credit, h.amount
      FROM crash.calls AS h
     WHERE h.kind = 'hold'
       AND NOT EXISTS (SELECT 1 FROM crash.calls AS r
                        WHERE r.kind IN ('capture', 'release') AND r.hold_id = h.id)
), moves (account_id, debits, credits, debits_pending, credits_pending) AS (
    SELECT id, debits_posted, credits_posted, debits_pending, credits_pending FROM crash.setup
    UNION ALL
    SELECT debit, amount, 0, 0, 0 FROM crash.calls WHERE kind IN ('transfer', 'capture')
    UNION ALL
    SELECT credit, 0, amount, 0, 0 FROM crash.calls WHERE kind IN ('transfer', 'capture')
    UNION ALL
    SELECT debit, 0, 0, amount, 0 FROM pending
    UNION ALL
    SELECT credit, 0, 0, 0, amount FROM pending
), expected AS (
    SELECT account_id, sum(debits) AS debits, sum(credits) AS credits,
           sum(debits_pending) AS debits_pending, sum(credits_pending) AS credits_pending
      FROM moves GROUP BY account_id
)
SELECT coalesce(a.id, e.account_id) AS account_id,
       a.debits_posted, e.debits, a.credits_posted, e.credits,
       a.debits_pending, e.debits_pending AS expected_debits_pending,
       a.credits_pending, e.credits_pending AS expected_credits_pending
  FROM ledger.accounts AS a
  FULL JOIN expected AS e ON e.account_id = a.id
 WHERE (a.debits_posted::numeric, a.credits_posted::numeric,
        a.debits_pending::numeric, a.credits_pending::numeric)
       IS DISTINCT FROM (e.debits, e.credits, e.debits_pending, e.credits_pending);

-- The heap of every table of the ledger.
CREATE VIEW crash.check_heap AS
SELECT c.relname, v.*
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace,
       LATERAL verify_heapam(c.oid::regclass, check_toast => true) AS v
 WHERE n.nspname = 'ledger' AND c.relkind = 'r';
SQL

# The checks read the accounts' columns: apply the hot wallets' queues
# first (ledger.verify() has already counted them as entries while queued).
queued_problems=$(psql_db -At -c "SELECT count(*) FROM ledger.verify()")
[ "$queued_problems" = 0 ] || fail "ledger.verify() finds $queued_problems problems with the hot queues pending"
applied=$(psql_db -At -c "SELECT ledger.apply_hot_entries()")
# A debit from a hot wallet applies its queue too, so how many are left
# here varies from run to run, down to none.
log "applied $applied queued postings of the hot wallets"

CHECKS="check_logged_once check_transfer_keys check_transfer_args check_unlogged_transfers
check_hold_keys check_hold_args check_hold_states check_balances check_heap verify"
HEAP_ONLY='-c enable_indexscan=off -c enable_indexonlyscan=off -c enable_bitmapscan=off'
for check in $CHECKS; do
	source=crash.$check
	[ "$check" = verify ] && source="ledger.verify()"
	if ! rows=$(PGOPTIONS=$HEAP_ONLY psql_db -At -c "SELECT count(*) FROM $source"); then
		fail "$check could not run"
	elif [ "$rows" -ne 0 ]; then
		fail "$check: $rows offending rows (first 20):"
		PGOPTIONS=$HEAP_ONLY psql_db -c "SELECT * FROM $source LIMIT 20" >&2
	fi
done

# The server crashed only where it was killed: no backend died of a signal
# of its own (a segfault, an abort), no PANIC, no failed assertion.
if grep -E 'terminated by signal ([0-8]|[1-9][0-9])\b|PANIC:|TRAP:' "$SERVER_LOG" >"$WORK/crashes"; then
	fail "the server log shows crashes the test did not cause ($(wc -l <"$WORK/crashes") lines; the first follow):"
	grep -A1 -E 'terminated by signal ([0-8]|[1-9][0-9])\b|PANIC:|TRAP:' "$SERVER_LOG" | head -n 20 >&2
fi

# amcheck: each btree index of the ledger against its heap; raises on a fault.
if ! indexes=$(psql_db -At <<'SQL'
SELECT count(bt_index_check(c.oid, true))
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_am am ON am.oid = c.relam
 WHERE n.nspname = 'ledger' AND am.amname = 'btree';
SQL
); then
	fail "amcheck's bt_index_check found a fault"
	indexes=0
fi

check_seconds=$((SECONDS - started))

# Self-test: each corruption, made with the guard triggers off and rolled
# back, must make its check report rows.
if [ "${CRASH_SELFTEST:-0}" = 1 ] && [ "$FAILED" -eq 0 ]; then
	selftest() {
		local check=$1 corruption=$2 source=crash.$1 rows
		[ "$check" = verify ] && source="ledger.verify()"
		rows=$(PGOPTIONS=$HEAP_ONLY psql_db -At <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;
$corruption;
SELECT count(*) FROM $source;
ROLLBACK;
SQL
) || rows=0
		if [ "$rows" -eq 0 ]; then
			fail "self-test: $check did not notice: $corruption"
		else
			echo "self-test: $check noticed $rows rows after: $corruption"
		fi
	}
	one() { echo "(SELECT ctid FROM crash.calls WHERE kind = '$1' LIMIT 1)"; }
	selftest check_logged_once "INSERT INTO crash.calls SELECT * FROM crash.calls WHERE ctid = $(one transfer)"
	selftest check_logged_once "INSERT INTO crash.calls SELECT * FROM crash.calls WHERE ctid = $(one release)"
	selftest check_transfer_keys "DELETE FROM crash.calls WHERE ctid = $(one transfer)"
	selftest check_transfer_keys "UPDATE crash.calls SET key = key || '-lost' WHERE ctid = $(one capture)"
	selftest check_transfer_keys "DROP INDEX ledger.transfers_idempotency_key_key; INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, idempotency_key, description, created_at) SELECT debit_account_id, credit_account_id, amount, idempotency_key, description, created_at FROM ledger.transfers WHERE idempotency_key IS NOT NULL LIMIT 1"
	selftest check_transfer_args "UPDATE ledger.transfers SET amount = amount::numeric + 1 WHERE id = (SELECT max(id) FROM ledger.transfers)"
	selftest check_unlogged_transfers "UPDATE ledger.transfers SET idempotency_key = NULL WHERE id = (SELECT max(id) FROM ledger.transfers)"
	selftest check_unlogged_transfers "DELETE FROM ledger.transfers WHERE id = (SELECT min(id) FROM ledger.transfers)"
	selftest check_hold_keys "DELETE FROM crash.calls WHERE ctid = $(one hold)"
	selftest check_hold_args "UPDATE ledger.hold_records SET expires_at = 'infinity' WHERE id = (SELECT max(id) FROM ledger.hold_records)"
	selftest check_hold_states "UPDATE ledger.hold_records SET status = 'pending' WHERE id = (SELECT min(id) FROM ledger.hold_records WHERE status = 'released')"
	selftest check_hold_states "UPDATE ledger.hold_records SET credit_reserved = false WHERE id = (SELECT min(id) FROM ledger.hold_records WHERE status = 'pending')"
	selftest check_hold_states "DELETE FROM crash.calls WHERE ctid = $(one release)"
	selftest check_balances "UPDATE ledger.accounts SET debits_pending = debits_pending::numeric + 1 WHERE id = $FIRST"
	selftest check_balances "DELETE FROM crash.calls WHERE ctid = $(one capture)"
	selftest verify "UPDATE ledger.entries SET amount = amount::numeric + 1 WHERE ctid = (SELECT ctid FROM ledger.entries LIMIT 1)"
fi

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
client_total() {
	local total=0 f v
	for f in "$WORK"/client.*.stats; do
		v=$(awk -v name="$1" '$1 == name { print $2 }' "$f")
		total=$((total + ${v:-0}))
	done
	echo "$total"
}
recoveries=$(grep -c 'automatic recovery in progress' "$SERVER_LOG" || true)
echo "crash.sh: $FORM form, seed $SEED: $CLIENTS clients, $total_kills kills in ${run_seconds}s" \
	"(set-up ${setup_seconds}s, checks ${check_seconds}s)"
echo "kills: postmaster ${KILLS[postmaster]}, postmaster with all its processes ${KILLS[server]}," \
	"backend (kill -9) ${KILLS[backend]}, backend (pg_terminate_backend) ${KILLS[terminate]}," \
	"backend then postmaster during the reset ${KILLS[recovery]}; $MISSED found no backend"
echo "server: $recoveries crash recoveries; $REFUSED_STARTS pg_ctl starts refused while the" \
	"killed postmaster's backends were still exiting"
psql_db -At -F ' ' <<'SQL'
SELECT 'calls committed: ' || count(*) || ' (' || count(*) FILTER (WHERE kind = 'transfer') || ' transfers, '
       || count(*) FILTER (WHERE kind = 'hold') || ' holds, '
       || count(*) FILTER (WHERE kind = 'capture') || ' captures ('
       || count(*) FILTER (WHERE kind = 'capture' AND c.amount < h.amount)
       || ' partial), ' || count(*) FILTER (WHERE kind = 'release') || ' releases)'
  FROM crash.calls AS c
  LEFT JOIN (SELECT id, amount FROM crash.calls WHERE kind = 'hold') AS h
    ON c.kind = 'capture' AND h.id = c.hold_id;
SQL
echo "lost answers: $(client_total lost_answers) attempts lost their answer after the call was sent," \
	"$(client_total lost_commit_answers) of them after COMMIT was sent; $(client_total unsent_failures) attempts" \
	"failed before the call was sent; $(client_total rollbacks) rolled back by the server; $(client_total timeouts) timed out"
echo "retried calls: $(client_total replayed) had committed (the replay returned the same id)," \
	"$(client_total retried) had not (the retry made them); $(client_total first) answered at once"
psql_db -At -F ' ' <<SQL
SELECT 'keys verified: ' || count(*) FILTER (WHERE kind IN ('transfer', 'capture')) || ' transfer keys and '
       || count(*) FILTER (WHERE kind = 'hold') || ' hold keys each once in the heap with the logged arguments; '
       || count(*) FILTER (WHERE kind = 'release') || ' releases; '
       || (SELECT count(*) FROM ledger.accounts) || ' accounts with the logged sums; '
       || '$indexes btree indexes passed bt_index_check with heapallindexed'
  FROM crash.calls;
SQL
if [ "$FAILED" -ne 0 ]; then
	diagnostics
	echo "crash.sh: FAILED" >&2
	exit 1
fi
echo "crash.sh: all checks passed: every committed call is in the ledger exactly once as made, and nothing else; holds and balances as logged; ledger.verify(), verify_heapam and bt_index_check find nothing"
