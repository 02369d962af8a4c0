#!/usr/bin/env bash
# test/crash/failover.sh - kill the primary under load, promote its
# synchronous standby; every call a client saw commit must be on the new
# primary exactly once, as made.
#
# Starts a primary of its own (synchronous_standby_names = '*',
# synchronous_commit = remote_apply) and a streaming standby made with
# pg_basebackup -R, each with its own data and socket directory, replicating
# over the primary's unix socket.  Clients (the function "client" below)
# make transfers and holds, each with its own idempotency key, one psql per
# call:
#     BEGIN; <probe>; SELECT ledger.<function>(...); COMMIT;
# and log a call only once psql has printed the COMMIT tag, the server's
# answer to COMMIT.  With remote_apply a commit is acknowledged only once
# the standby has applied it.
#
# After a few seconds the primary's postmaster is killed with kill -9 (its
# backends, the walsender among them, exit when they notice), the standby is
# promoted (pg_ctl promote), and the clients switch to it (the file "host"
# in the work directory names the server to use).  A client whose answer
# was lost makes the same call again with the same key: the probe, in the
# same transaction, reads whether the key is taken; if it is, the call is a
# replay and must return the key's id.  The clients go on for a few seconds
# on the new primary, then stop.  Each logged call is noted "first"
# (answered at once), "replayed" (its answer was lost, it had committed and
# the replay returned its id), "retried" (its answer was lost, it had not
# committed and the retry made it) or "reconnected" (no server accepted the
# connection until the promotion).
#
# The checks, on the new primary, on the heap (index scans off):
#  - every logged key is in ledger.transfers (ledger.hold_records for a
#    hold) exactly once, with its logged arguments and id, and no keyed row
#    exists that no client logged: no acknowledged call was lost, none
#    applied twice;
#  - no transfer without a key beyond the set-up's, and every account's
#    posted and pending sums are the set-up's plus what the logs say;
#  - ledger.verify() finds nothing.
# Prints a summary; exits non-zero on any failure.  Both servers are
# stopped and their files removed whatever happens.
#
# Environment: FAILOVER_SEED (default random, printed) seeds the clients;
# FAILOVER_KEEP=1 keeps the work directory and the server logs.
# The extension must be installed (make install, or test/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# Never touch the caller's server.
unset LEDGER_PGDATA PGHOST PGPORT PGDATABASE PGOPTIONS
. "$HERE/../lib/pg.sh"

CLIENTS=4
WALLETS=50
DB=ledger_failover
BEFORE_KILL=3   # seconds of load on the primary
AFTER_PROMOTE=3 # seconds of load on the promoted standby
CALL_DEADLINE=30
SEED=${FAILOVER_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "failover.sh: seed $SEED (replay the clients' calls with FAILOVER_SEED=$SEED)"

if [ ! -f "$($PG_CONFIG --sharedir)/extension/ledger.control" ]; then
	echo "failover.sh: the ledger extension is not installed; run: make install" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_failover.XXXXXX")
chmod 755 "$WORK"
PRIMARY=
STANDBY=
PRIMARY_KILLED=0
PRIMARY_SHMID=
CLIENT_PIDS=()
FAILED=0

fail() {
	echo "failover.sh: FAIL: $*" >&2
	FAILED=1
}

diagnostics() {
	local f
	for f in "$WORK"/client.*.errors; do
		[ -s "$f" ] && cat "$f" >&2
	done
	for f in "$PRIMARY/server.log" "$STANDBY/server.log"; do
		if [ -f "$f" ]; then
			echo "--- last lines of $f:" >&2
			tail -n 20 "$f" >&2
		fi
	done
}

die() {
	fail "$@"
	diagnostics
	exit 1
}

# stop_at DIR - stop the server of DIR/data, if it runs, and remove DIR.
stop_at() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
			as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "${FAILOVER_KEEP:-0}" = 1 ]; then
		cp "$dir/server.log" "$WORK/$(basename "$dir").server.log" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

cleanup() {
	local pid
	touch "$WORK/stop"
	for pid in $(jobs -rp); do
		[[ " ${CLIENT_PIDS[*]} " == *" $pid "* ]] && kill "$pid" 2>/dev/null
	done
	for pid in "${CLIENT_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$PRIMARY_KILLED" = 1 ]; then
		# Nothing to stop; the killed postmaster's System V segment is
		# removed once its last backend has detached.
		[ -n "$PRIMARY_SHMID" ] && ipcrm -m "$PRIMARY_SHMID" 2>/dev/null || true
		rm -rf "$PRIMARY"
	else
		stop_at "$PRIMARY"
	fi
	stop_at "$STANDBY"
	if [ "${FAILOVER_KEEP:-0}" = 1 ]; then
		echo "failover.sh: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# The primary, the ledger and the standby.
# ---------------------------------------------------------------------------
ledger_start_server failover-primary "wal_level = replica" "max_wal_senders = 5" \
	"synchronous_standby_names = '*'" "synchronous_commit = remote_apply" \
	"log_min_messages = log"
PRIMARY=$LEDGER_PGDATA
LEDGER_PGDATA=
psql_at() {
	local host=$1
	shift
	PGHOST=$host psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"
}
started=$SECONDS

# Commits wait for a synchronous standby, so the ledger is set up before
# the standby exists: pg_basebackup copies it.
export PGOPTIONS='-c synchronous_commit=local'
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql_at "$PRIMARY" -v wallets="$WALLETS" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('EUR', 'failover:fund', 'debit', NULL);
SELECT ledger.create_account('EUR', 'failover:wallet:' || i) FROM generate_series(1, :wallets) AS i;
-- 10,000,000.00 EUR each: far more than the run can move.
SELECT count(ledger.transfer(f.id, w.id, 1000000000, NULL, 'opening balance'))
  FROM ledger.accounts AS w, ledger.accounts AS f
 WHERE w.name LIKE 'failover:wallet:%' AND f.name = 'failover:fund';

CREATE SCHEMA failover;
CREATE TABLE failover.setup AS
SELECT id, debits_posted::numeric AS debits_posted, credits_posted::numeric AS credits_posted,
       debits_pending::numeric AS debits_pending, credits_pending::numeric AS credits_pending
  FROM ledger.accounts;
CREATE TABLE failover.setup_transfers AS
SELECT max(id) AS last_id, count(*) AS n FROM ledger.transfers;
-- The clients' logs, loaded after the run.
CREATE TABLE failover.calls (
    client  integer NOT NULL,
    kind    text NOT NULL,      -- transfer or hold
    key     text NOT NULL,
    debit   bigint NOT NULL,
    credit  bigint NOT NULL,
    amount  numeric NOT NULL,
    id      bigint NOT NULL,    -- the transfer or hold returned
    server  text NOT NULL,      -- primary or promoted
    note    text NOT NULL       -- first, replayed, retried or reconnected
);
SQL
FUND=$(psql_at "$PRIMARY" -At -c "SELECT ledger.account_id('failover:fund')")
read -r FIRST LAST N < <(psql_at "$PRIMARY" -At -F ' ' -c \
	"SELECT min(id), max(id), count(*) FROM ledger.accounts WHERE name LIKE 'failover:wallet:%'")
[ "$N" -eq "$WALLETS" ] && [ $((LAST - FIRST + 1)) -eq "$WALLETS" ] ||
	die "the wallets' ids are not contiguous: $FIRST..$LAST for $N wallets"

STANDBY=$(mktemp -d /tmp/failover-standby.XXXXXX)
chmod 755 "$STANDBY"
[ "$(id -u)" -eq 0 ] && chown postgres: "$STANDBY"
log "making the standby in $STANDBY"
as_server_user "$PG_BIN/pg_basebackup" -h "$PRIMARY" -p 5432 -U postgres -D "$STANDBY/data" \
	-R -X stream -c fast --no-sync >"$STANDBY/basebackup.log" 2>&1 ||
	{ cat "$STANDBY/basebackup.log" >&2; die "pg_basebackup failed"; }
# Its own socket; and once promoted it has no standby to wait for.
{
	echo "unix_socket_directories = '$STANDBY'"
	echo "synchronous_standby_names = ''"
} | as_server_user tee -a "$STANDBY/data/postgresql.conf" >/dev/null
as_server_user "$PG_BIN/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/server.log" -w -t 60 start >/dev/null ||
	{ cat "$STANDBY/server.log" >&2; die "the standby did not start"; }

for ((i = 0; i < 600; i++)); do
	sync_state=$(psql_at "$PRIMARY" -At -c \
		"SELECT string_agg(state || '/' || sync_state, ',') FROM pg_catalog.pg_stat_replication")
	[ "$sync_state" = streaming/sync ] && break
	sleep 0.05
done
[ "$sync_state" = streaming/sync ] || die "the standby is not a synchronous standby: '$sync_state'"
[ "$(psql_at "$STANDBY" -At -c "SELECT pg_catalog.pg_is_in_recovery()")" = t ] ||
	die "the standby is not in recovery"
unset PGOPTIONS
setup_seconds=$((SECONDS - started))

# ---------------------------------------------------------------------------
# The clients.
# ---------------------------------------------------------------------------

# client ID SEED - make calls until WORK/stop appears; log each once its
# COMMIT has returned.  Exits 1, with the reason in client.ID.errors, on an
# error that a failover does not explain.
client() {
	local id=$1 seq=0 kind key debit credit amount call probe host server note
	local out status attempt_started tries lost lines state
	local log=$WORK/client.$id.log errors=$WORK/client.$id.errors
	RANDOM=$2
	: >"$log"
	set +e
	while [ ! -e "$WORK/stop" ]; do
		seq=$((seq + 1))
		key=failover-c$id-$seq
		amount=$((1 + RANDOM % 10000))
		debit=$((FIRST + RANDOM % WALLETS))
		credit=$((FIRST + RANDOM % WALLETS))
		[ "$debit" -eq "$credit" ] && credit=$((credit == LAST ? FIRST : credit + 1))
		if [ $((RANDOM % 10)) -lt 7 ]; then
			kind=transfer
			[ $((RANDOM % 10)) -eq 0 ] && debit=$FUND
			call="SELECT ledger.transfer($debit, $credit, $amount, '$key', 'failover', NULL)"
			probe="SELECT coalesce(max(id), 0) FROM ledger.transfers WHERE idempotency_key = '$key'"
		else
			kind=hold
			call="SELECT ledger.hold($debit, $credit, $amount, NULL, '$key', 'failover', NULL)"
			probe="SELECT coalesce(max(id), 0) FROM ledger.hold_records WHERE idempotency_key = '$key'"
		fi
		tries=0
		lost=0
		attempt_started=$SECONDS
		while true; do
			tries=$((tries + 1))
			host=$(cat "$WORK/host")
			server=$(cat "$WORK/server")
			out=$(PGHOST=$host psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB" \
				-c "BEGIN" -c "$probe" -c "$call" -c "COMMIT" 2>"$WORK/client.$id.stderr")
			status=$?
			mapfile -t lines <<<"$out"
			if [ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ] && [ "${lines[0]}" = BEGIN ] &&
				[ "${lines[3]}" = COMMIT ]; then
				break
			fi
			if [ "$status" -eq 0 ]; then
				echo "client $id: call $key answered: ${lines[*]}" >>"$errors"
				exit 1
			fi
			# Errors a failover explains: no server to connect to, a lost
			# connection, SQLSTATE classes 08 and 57.
			for state in $(sed -n 's/^.*\(ERROR\|FATAL\|PANIC\):  \([0-9A-Z]\{5\}\): .*$/\2/p' \
				"$WORK/client.$id.stderr"); do
				case $state in
				08* | 57*) ;;
				*)
					{
						echo "client $id: call $key ($kind) failed with SQLSTATE $state:"
						cat "$WORK/client.$id.stderr"
					} >>"$errors"
					exit 1
					;;
				esac
			done
			# Unless psql could not even connect, the call may have reached
			# the server and committed there.
			grep -q '^psql: error: connection to server .* failed' "$WORK/client.$id.stderr" ||
				lost=1
			if [ $((SECONDS - attempt_started)) -gt "$CALL_DEADLINE" ]; then
				{
					echo "client $id: call $key ($kind) did not commit within ${CALL_DEADLINE}s:"
					cat "$WORK/client.$id.stderr"
				} >>"$errors"
				exit 1
			fi
			sleep "0.0$((2 + RANDOM % 8))"
		done
		# COMMIT has returned.  lines: BEGIN, the probe, the call's id, COMMIT.
		if ! [[ ${lines[2]} =~ ^[1-9][0-9]*$ ]]; then
			echo "client $id: call $key returned '${lines[2]}'" >>"$errors"
			exit 1
		fi
		if [ "${lines[1]}" != 0 ]; then
			note=replayed
			if [ "${lines[1]}" != "${lines[2]}" ]; then
				echo "client $id: replay of $key returned ${lines[2]}, but the key names ${lines[1]}" >>"$errors"
				exit 1
			fi
			if [ "$lost" -eq 0 ]; then
				echo "client $id: key $key was taken, but no earlier attempt reached a server" >>"$errors"
				exit 1
			fi
		elif [ "$lost" -eq 1 ]; then
			note=retried
		elif [ "$tries" -gt 1 ]; then
			note=reconnected
		else
			note=first
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$kind" "$key" "$debit" "$credit" \
			"$amount" "${lines[2]}" "$server" "$note" >>"$log"
	done
	exit 0
}

echo "$PRIMARY" >"$WORK/host"
echo primary >"$WORK/server"
log "starting $CLIENTS clients"
for ((i = 1; i <= CLIENTS; i++)); do
	client "$i" $(((SEED + i) % 32768)) &
	CLIENT_PIDS+=($!)
done

# check_clients - every client still runs.
check_clients() {
	local pid
	for pid in "${CLIENT_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a client ended early"
	done
}

# Every client has committed a call on the primary before the kill.
for ((i = 0; i < 600; i++)); do
	busy=0
	for ((c = 1; c <= CLIENTS; c++)); do
		[ -s "$WORK/client.$c.log" ] && busy=$((busy + 1))
	done
	[ "$busy" -eq "$CLIENTS" ] && break
	check_clients
	sleep 0.05
done
[ "$busy" -eq "$CLIENTS" ] || die "the clients did not start"
sleep "$BEFORE_KILL"
check_clients

# ---------------------------------------------------------------------------
# The failover.
# ---------------------------------------------------------------------------
PM=$(head -n 1 "$PRIMARY/data/postmaster.pid")
[[ $PM =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$PM/cmdline" | grep -qF -- "$PRIMARY/data" ||
	die "no postmaster of the primary to kill"
PRIMARY_SHMID=$(sed -n 7p "$PRIMARY/data/postmaster.pid" | awk '{ print $2 }')
log "kill -9 of the primary's postmaster ($PM), then promoting the standby"
kill -9 "$PM"
PRIMARY_KILLED=1
kill_seconds=$SECONDS
as_server_user "$PG_BIN/pg_ctl" -D "$STANDBY/data" -w -t 60 promote >/dev/null ||
	die "pg_ctl promote failed"
[ "$(psql_at "$STANDBY" -At -c "SELECT pg_catalog.pg_is_in_recovery()")" = f ] ||
	die "the promoted standby is still in recovery"
echo promoted >"$WORK/server"
echo "$STANDBY" >"$WORK/host"
promote_seconds=$((SECONDS - kill_seconds))

# The primary's backends notice the postmaster's death and exit; no new
# connection reaches it.
for ((i = 0; i < 200; i++)); do
	PGHOST=$PRIMARY psql -X -At -d postgres -c "SELECT 1" >/dev/null 2>&1 || break
	sleep 0.05
done
PGHOST=$PRIMARY psql -X -At -d postgres -c "SELECT 1" >/dev/null 2>&1 &&
	die "the killed primary still accepts connections"

# Every client has committed a call on the promoted standby.
for ((i = 0; i < 600; i++)); do
	busy=0
	for ((c = 1; c <= CLIENTS; c++)); do
		grep -q "	promoted	" "$WORK/client.$c.log" && busy=$((busy + 1))
	done
	[ "$busy" -eq "$CLIENTS" ] && break
	check_clients
	sleep 0.05
done
[ "$busy" -eq "$CLIENTS" ] || die "the clients did not all reach the promoted standby"
sleep "$AFTER_PROMOTE"

touch "$WORK/stop"
deadline=$((SECONDS + CALL_DEADLINE + 10))
for pid in "${CLIENT_PIDS[@]}"; do
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "client $pid did not stop"
	wait "$pid" || fail "a client failed"
done
CLIENT_PIDS=()
[ "$FAILED" -eq 0 ] || die "the clients' errors follow"
run_seconds=$((SECONDS - started - setup_seconds))

# ---------------------------------------------------------------------------
# The checks, on the new primary, on the heap.
# ---------------------------------------------------------------------------
log "checking"
cat "$WORK"/client.*.log >"$WORK/calls.tsv"
psql_at "$STANDBY" -c "\\copy failover.calls FROM '$WORK/calls.tsv'"

psql_at "$STANDBY" <<'SQL'
-- A key logged twice.
CREATE VIEW failover.check_logged_once AS
SELECT key, count(*) AS times FROM failover.calls GROUP BY key HAVING count(*) > 1;

-- Each logged transfer key exactly once with the logged id; every keyed
-- transfer logged.
CREATE VIEW failover.check_transfer_keys AS
SELECT c.client, coalesce(c.key, t.key) AS key, c.id AS logged_id, t.ids AS found_ids
  FROM (SELECT * FROM failover.calls WHERE kind = 'transfer') AS c
  FULL JOIN (SELECT idempotency_key AS key, array_agg(id ORDER BY id) AS ids
               FROM ledger.transfers WHERE idempotency_key IS NOT NULL
              GROUP BY idempotency_key) AS t ON t.key = c.key
 WHERE c.key IS NULL OR t.key IS NULL OR t.ids <> ARRAY[c.id];

CREATE VIEW failover.check_transfer_args AS
SELECT c.*, t.id AS t_id, t.debit_account_id, t.credit_account_id, t.amount AS t_amount,
       t.hold_id, t.description, t.metadata
  FROM failover.calls AS c
  JOIN ledger.transfers AS t ON t.idempotency_key = c.key
 WHERE c.kind = 'transfer'
   AND (t.id, t.debit_account_id, t.credit_account_id, t.amount::numeric, t.hold_id,
        t.reverses_transfer_id, t.description, t.metadata::text)
       IS DISTINCT FROM
       (c.id, c.debit, c.credit, c.amount, NULL::bigint, NULL::bigint, 'failover', NULL::text);

-- No transfer without a key beyond the set-up's, and the set-up's intact.
CREATE VIEW failover.check_unlogged_transfers AS
SELECT t.id, t.description
  FROM ledger.transfers AS t, failover.setup_transfers AS s
 WHERE t.id > s.last_id AND t.idempotency_key IS NULL
UNION ALL
SELECT NULL, 'set-up transfers: ' || count(*) || ' instead of ' || min(s.n)
  FROM ledger.transfers AS t, failover.setup_transfers AS s
 WHERE t.id <= s.last_id
HAVING count(*) <> min(s.n);

-- Holds likewise: each logged key once, with its arguments, still pending
-- and reserved (nothing captures or releases them); every hold logged.
CREATE VIEW failover.check_hold_keys AS
SELECT c.client, coalesce(c.key, h.key) AS key, c.id AS logged_id, h.ids AS found_ids
  FROM (SELECT * FROM failover.calls WHERE kind = 'hold') AS c
  FULL JOIN (SELECT idempotency_key AS key, array_agg(id ORDER BY id) AS ids
               FROM ledger.hold_records GROUP BY idempotency_key) AS h ON h.key = c.key
 WHERE c.key IS NULL OR h.key IS NULL OR h.ids <> ARRAY[c.id];

CREATE VIEW failover.check_hold_args AS
SELECT c.*, h.id AS h_id, h.debit_account_id, h.credit_account_id, h.amount AS h_amount,
       h.status, h.debit_reserved, h.credit_reserved, h.expires_at, h.description, h.metadata
  FROM failover.calls AS c
  JOIN ledger.hold_records AS h ON h.idempotency_key = c.key
 WHERE c.kind = 'hold'
   AND (h.id, h.debit_account_id, h.credit_account_id, h.amount::numeric, h.status,
        h.debit_reserved, h.credit_reserved, h.expires_at, h.description, h.metadata::text)
       IS DISTINCT FROM
       (c.id, c.debit, c.credit, c.amount, 'pending', true, true, NULL::timestamptz,
        'failover', NULL::text);

-- Every account's sums: the set-up's plus what the logs say committed.
CREATE VIEW failover.check_balances AS
WITH moves (account_id, debits, credits, debits_pending, credits_pending) AS (
    SELECT id, debits_posted, credits_posted, debits_pending, credits_pending FROM failover.setup
    UNION ALL
    SELECT debit, amount, 0, 0, 0 FROM failover.calls WHERE kind = 'transfer'
    UNION ALL
    SELECT credit, 0, amount, 0, 0 FROM failover.calls WHERE kind = 'transfer'
    UNION ALL
    SELECT debit, 0, 0, amount, 0 FROM failover.calls WHERE kind = 'hold'
    UNION ALL
    SELECT credit, 0, 0, 0, amount FROM failover.calls WHERE kind = 'hold'
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
SQL

CHECKS="check_logged_once check_transfer_keys check_transfer_args check_unlogged_transfers
check_hold_keys check_hold_args check_balances verify"
HEAP_ONLY='-c enable_indexscan=off -c enable_indexonlyscan=off -c enable_bitmapscan=off'
for check in $CHECKS; do
	source=failover.$check
	[ "$check" = verify ] && source="ledger.verify()"
	if ! rows=$(PGOPTIONS=$HEAP_ONLY psql_at "$STANDBY" -At -c "SELECT count(*) FROM $source"); then
		fail "$check could not run"
	elif [ "$rows" -ne 0 ]; then
		fail "$check: $rows offending rows (first 20):"
		PGOPTIONS=$HEAP_ONLY psql_at "$STANDBY" -c "SELECT * FROM $source LIMIT 20" >&2
	fi
done

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
echo "failover.sh: seed $SEED: $CLIENTS clients; set-up (primary, ledger, pg_basebackup, standby)" \
	"${setup_seconds}s, run ${run_seconds}s; promotion ${promote_seconds}s after the kill"
psql_at "$STANDBY" -At <<'SQL'
SELECT 'calls committed: ' || count(*) || ' (' || count(*) FILTER (WHERE kind = 'transfer') || ' transfers, '
       || count(*) FILTER (WHERE kind = 'hold') || ' holds); '
       || count(*) FILTER (WHERE server = 'primary') || ' on the primary, '
       || count(*) FILTER (WHERE server = 'promoted') || ' on the promoted standby'
  FROM failover.calls;
SELECT 'calls whose answer the kill lost, made again on the promoted standby with the same key: '
       || count(*) FILTER (WHERE note = 'replayed') || ' had committed (the replay returned the same id), '
       || count(*) FILTER (WHERE note = 'retried') || ' had not (the retry made them); '
       || count(*) FILTER (WHERE note = 'reconnected') || ' calls found no server and waited for the promotion'
  FROM failover.calls;
SQL
if [ "$FAILED" -ne 0 ]; then
	diagnostics
	echo "failover.sh: FAILED" >&2
	exit 1
fi
echo "failover.sh: all checks passed: every acknowledged call is on the promoted standby exactly once as made," \
	"no retry applied twice, balances as logged, ledger.verify() finds nothing"
