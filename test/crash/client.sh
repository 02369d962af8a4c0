#!/usr/bin/env bash
# test/crash/client.sh - one client of the crash test (test/crash/crash.sh).
#
# Makes transfers, holds, captures and releases in a loop until the file
# "stop" appears in the work directory, and appends each call to its log
# once the call's COMMIT has returned, never before.  The calls go through
# one psql process fed through a FIFO; a call is
#     BEGIN; SELECT ledger.<function>(...); COMMIT; \echo @@END
# and counts as committed only when psql has printed the COMMIT tag, which
# it does only on the server's answer to COMMIT.  psql runs with
# ON_ERROR_STOP, so an error or a lost connection ends it, and the next
# attempt starts a new one.
#
# The server is killed under the client.  When the answer to a call is lost
# the client cannot know whether the call committed: it reconnects and makes
# the same call again, with the same idempotency key, after reading in the
# same transaction whether the key is taken (the probe).  If it is, the
# first attempt committed and the replay must return the key's id; if not,
# the retry makes the call.  ledger.release() takes no key: its probe reads
# the hold's status, and the release is sent again only if the hold is
# still pending (no hold expires, and only this client resolves its holds).
#
# Errors a crash explains (a lost connection, SQLSTATE classes 08, 57 and
# 53, and 40 for a transaction the server rolled back) make the client wait
# a little and retry.  Any other error, a replay returning another id, or a
# call still not committed CRASH_CALL_DEADLINE seconds (default 120) after
# its first attempt ends the client with status 1 and the reason in
# client.ID.errors.
#
# Usage: client.sh ID WORK_DIR DATABASE FUND_ID FIRST_WALLET LAST_WALLET SEED
#
# Writes client.ID.log, one tab-separated line per committed call (\N for
# none):  client kind key debit credit amount hold id note
# kind is transfer, hold, capture or release; hold is the hold a capture or
# release resolves; id the transfer or hold the call returned; note is
# "first" (answered on the first attempt), "replayed" (an answer was lost,
# the call had committed, the replay returned its id) or "retried" (an
# answer was lost, the call had not committed, the retry made it).
# At exit, client.ID.stats holds the client's counters as "name value" lines.
set -uo pipefail

ID=$1
WORK=$2
DB=$3
FUND=$4
FIRST=$5
LAST=$6
RANDOM=$7
CALL_DEADLINE=${CRASH_CALL_DEADLINE:-120}
READ_TIMEOUT=60
MAX_PENDING=20

LOG=$WORK/client.$ID.log
ERRORS=$WORK/client.$ID.errors
STATS=$WORK/client.$ID.stats
STDERR=$WORK/client.$ID.stderr
TO_PSQL=$WORK/client.$ID.in
FROM_PSQL=$WORK/client.$ID.out
WALLETS=$((LAST - FIRST + 1))

# A write to a psql that has died must fail, not kill the client.
trap '' PIPE

psql_pid=
to_psql=
from_psql=
TIMED_OUT=0
declare -A count=([transfer]=0 [hold]=0 [capture]=0 [release]=0 [first]=0
	[replayed]=0 [retried]=0 [lost_answers]=0 [lost_commit_answers]=0 [unsent_failures]=0 [rollbacks]=0
	[timeouts]=0)

# Pending holds this client placed and has not resolved: id, accounts, amount.
hold_ids=()
hold_debits=()
hold_credits=()
hold_amounts=()

write_stats() {
	local name
	for name in "${!count[@]}"; do
		echo "$name ${count[$name]}"
	done >"$STATS"
}

# stop_psql [kill] - end this client's psql, if one runs, and reap it.
# Without its input psql ends by itself unless it is waiting for the server
# (a read that timed out, or the client being stopped): only then, with
# "kill", is it killed, if it still runs.
stop_psql() {
	[ -n "$psql_pid" ] || return 0
	exec {to_psql}>&- {from_psql}<&-
	if [ "${1:-}" = kill ] && jobs -rp | grep -qx "$psql_pid"; then
		kill "$psql_pid" 2>/dev/null
	fi
	wait "$psql_pid" 2>/dev/null
	psql_pid=
}

# fatal MESSAGE - record why the client gives up, and exit 1.
fatal() {
	{
		echo "client $ID: $*"
		if [ -s "$STDERR" ]; then
			echo "psql's stderr:"
			cat "$STDERR"
		fi
	} >>"$ERRORS"
	stop_psql kill
	write_stats
	exit 1
}

trap 'stop_psql kill; write_stats; exit 143' TERM INT

# start_psql - start a psql on the FIFOs.  Opening a FIFO waits for its
# other end: both sides open the input FIFO first, then the output one.
start_psql() {
	: >"$STDERR"
	psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB" \
		<"$TO_PSQL" >"$FROM_PSQL" 2>"$STDERR" &
	psql_pid=$!
	exec {to_psql}>"$TO_PSQL" {from_psql}<"$FROM_PSQL"
}

# send TEXT - write TEXT and a newline to psql; fails if psql is gone.
send() {
	printf '%s\n' "$1" >&"$to_psql" 2>/dev/null
}

# read_until MARKER - read psql's output lines into LINES up to the line
# MARKER; fails on the end of the output or after READ_TIMEOUT seconds.
read_until() {
	local line status
	LINES=()
	while true; do
		read -r -t "$READ_TIMEOUT" -u "$from_psql" line
		status=$?
		if [ "$status" -ne 0 ]; then
			if [ "$status" -gt 128 ]; then
				count[timeouts]=$((count[timeouts] + 1))
				TIMED_OUT=1
			fi
			return 1
		fi
		[ "$line" = "$1" ] && return 0
		LINES+=("$line")
	done
}

# attempt_failed - classify the error that ended an attempt from psql's
# stderr, then drop the psql.  Exits the client unless a crash explains it.
attempt_failed() {
	local state
	if [ "$TIMED_OUT" -eq 1 ]; then
		stop_psql kill
		TIMED_OUT=0
	else
		stop_psql
	fi
	# With VERBOSITY verbose a server message reads "ERROR:  LG103: ...".
	for state in $(sed -n 's/^.*\(ERROR\|FATAL\|PANIC\|WARNING\):  \([0-9A-Z]\{5\}\): .*$/\2/p' "$STDERR"); do
		case $state in
		08* | 57* | 53*) ;;
		40001 | 40P01) count[rollbacks]=$((count[rollbacks] + 1)) ;;
		*) fatal "call $KEY ($KIND) failed with SQLSTATE $state" ;;
		esac
	done
	if [ -s "$STDERR" ]; then
		{
			echo "client $ID, call $KEY ($KIND), at $(date +%T.%N):"
			cat "$STDERR"
		} >>"$WORK/client.$ID.retries"
	fi
}

# attempt - one try at the current call (KIND, KEY, CALL, PROBE).  Returns 0
# once its COMMIT has returned, with RESULT (the id returned) and NOTE set;
# 1 if the attempt failed and the call must be tried again.  psql sends one
# statement at a time and stops at the first error, so what it printed
# before it ended tells how far the call got: SENT becomes 1 once the call
# has reached the server, COMMIT_SENT once its COMMIT has.
attempt() {
	local probe= body lines_before_call expected
	if [ -z "$psql_pid" ]; then
		start_psql
		if ! send '\echo @@READY' || ! read_until @@READY; then
			count[unsent_failures]=$((count[unsent_failures] + 1))
			attempt_failed
			return 1
		fi
	fi

	if [ "$SENT" -eq 1 ]; then
		# The answer to an earlier attempt was lost: did it commit?
		if ! send "BEGIN;" || ! send "$PROBE" || ! send '\echo @@PROBE' || ! read_until @@PROBE; then
			count[unsent_failures]=$((count[unsent_failures] + 1))
			attempt_failed
			return 1
		fi
		[ "${#LINES[@]}" -eq 2 ] && [ "${LINES[0]}" = BEGIN ] ||
			fatal "probe of $KEY ($KIND) answered: ${LINES[*]}"
		probe=${LINES[1]}
		body=$CALL
		lines_before_call=0
		if [ "$KIND" = release ]; then
			case $probe in
			released) body= ;;
			pending) ;;
			*) fatal "hold $HOLD to release is $probe" ;;
			esac
		elif ! [[ $probe =~ ^[0-9]+$ ]]; then
			fatal "probe of $KEY ($KIND) answered: $probe"
		fi
	else
		body=$'BEGIN;\n'$CALL
		lines_before_call=1
	fi

	# What psql printed, unless it had ended before it read the call.
	LINES=()
	if ! send "$body" || ! send "COMMIT;" || ! send '\echo @@END' || ! read_until @@END; then
		if [ "${#LINES[@]}" -eq 0 ] || [ "${LINES[-1]}" != COMMIT ]; then
			if [ "${#LINES[@]}" -lt "$lines_before_call" ]; then
				# BEGIN went unanswered: the call never left psql.
				count[unsent_failures]=$((count[unsent_failures] + 1))
			else
				SENT=1
				count[lost_answers]=$((count[lost_answers] + 1))
				if [ "${#LINES[@]}" -gt "$lines_before_call" ] || [ -z "$body" ]; then
					# The call answered, so psql sent COMMIT, whose answer is lost.
					COMMIT_SENT=1
					count[lost_commit_answers]=$((count[lost_commit_answers] + 1))
				fi
			fi
			attempt_failed
			return 1
		fi
		# COMMIT's answer came before psql ended: the call committed.
		stop_psql
	fi

	# The answer: [BEGIN] [the call's result] COMMIT.
	if [ "$probe" = released ]; then
		expected=1
	else
		expected=$((lines_before_call + 2))
	fi
	[ "${#LINES[@]}" -eq "$expected" ] && [ "${LINES[-1]}" = COMMIT ] &&
		{ [ "$lines_before_call" -eq 0 ] || [ "${LINES[0]}" = BEGIN ]; } ||
		fatal "call $KEY ($KIND) answered: ${LINES[*]}"
	RESULT=
	[ "$expected" -ge 2 ] && RESULT=${LINES[-2]}
	if [ "$KIND" = release ]; then
		[ -z "$RESULT" ] || fatal "release of hold $HOLD returned '$RESULT'"
		RESULT='\N'
	else
		[[ $RESULT =~ ^[1-9][0-9]*$ ]] || fatal "call $KEY ($KIND) returned '$RESULT'"
	fi

	if [ -z "$probe" ]; then
		NOTE=first
	elif [ "$probe" = released ] || { [ "$KIND" != release ] && [ "$probe" != 0 ]; }; then
		NOTE=replayed
		[ "$COMMIT_SENT" -eq 1 ] ||
			fatal "call $KEY ($KIND) was found committed, but its COMMIT was never sent"
		if [ "$KIND" != release ] && [ "$RESULT" != "$probe" ]; then
			fatal "replay of $KEY ($KIND) returned $RESULT, but the key names $probe"
		fi
	else
		NOTE=retried
	fi
	return 0
}

# wallet - a random wallet id in W.
wallet() {
	W=$((FIRST + RANDOM % WALLETS))
}

# choose_call - pick the next call and set KIND, DEBIT, CREDIT, AMOUNT, HOLD,
# HELD (the index of the hold resolved), CALL and PROBE.
choose_call() {
	local n=${#hold_ids[@]} r=$((RANDOM % 100)) arg
	HOLD='\N'
	HELD=-1
	if [ "$n" -gt 0 ] && { [ "$r" -lt 30 ] || [ "$n" -ge "$MAX_PENDING" ]; }; then
		HELD=$((RANDOM % n))
		HOLD=${hold_ids[HELD]}
		DEBIT=${hold_debits[HELD]}
		CREDIT=${hold_credits[HELD]}
		if [ $((RANDOM % 10)) -lt 7 ]; then
			KIND=capture
			if [ $((RANDOM % 2)) -eq 0 ]; then
				AMOUNT=${hold_amounts[HELD]}
				arg=NULL
			else
				AMOUNT=$((1 + RANDOM % hold_amounts[HELD]))
				arg=$AMOUNT
			fi
			CALL="SELECT ledger.capture($HOLD, $arg, '$KEY');"
			PROBE="SELECT coalesce(max(id), 0) FROM ledger.transfers WHERE idempotency_key = '$KEY';"
		else
			KIND=release
			AMOUNT='\N'
			CALL="SELECT ledger.release($HOLD);"
			PROBE="SELECT status FROM ledger.hold_records WHERE id = $HOLD;"
		fi
		return
	fi

	AMOUNT=$((1 + RANDOM % 10000))
	wallet
	DEBIT=$W
	wallet
	CREDIT=$W
	if [ "$r" -lt 70 ]; then
		KIND=transfer
		case $((RANDOM % 10)) in
		0) DEBIT=$FUND ;;
		1) CREDIT=$FUND ;;
		esac
	else
		KIND=hold
	fi
	if [ "$DEBIT" -eq "$CREDIT" ]; then
		CREDIT=$((CREDIT == LAST ? FIRST : CREDIT + 1))
	fi
	if [ "$KIND" = transfer ]; then
		CALL="SELECT ledger.transfer($DEBIT, $CREDIT, $AMOUNT, '$KEY', 'crash', NULL);"
		PROBE="SELECT coalesce(max(id), 0) FROM ledger.transfers WHERE idempotency_key = '$KEY';"
	else
		CALL="SELECT ledger.hold($DEBIT, $CREDIT, $AMOUNT, NULL, '$KEY', 'crash', NULL);"
		PROBE="SELECT coalesce(max(id), 0) FROM ledger.hold_records WHERE idempotency_key = '$KEY';"
	fi
}

# forget_hold I - drop the I-th pending hold (it has been resolved).
forget_hold() {
	local last=$((${#hold_ids[@]} - 1))
	hold_ids[$1]=${hold_ids[last]}
	hold_debits[$1]=${hold_debits[last]}
	hold_credits[$1]=${hold_credits[last]}
	hold_amounts[$1]=${hold_amounts[last]}
	unset "hold_ids[last]" "hold_debits[last]" "hold_credits[last]" "hold_amounts[last]"
}

rm -f "$TO_PSQL" "$FROM_PSQL"
mkfifo "$TO_PSQL" "$FROM_PSQL"
: >"$LOG"
exec {log}>>"$LOG"

seq=0
while [ ! -e "$WORK/stop" ]; do
	seq=$((seq + 1))
	KEY="crash-c$ID-$seq"
	choose_call
	SENT=0
	COMMIT_SENT=0
	started=$SECONDS
	until attempt; do
		[ $((SECONDS - started)) -le "$CALL_DEADLINE" ] ||
			fatal "call $KEY ($KIND) did not commit within ${CALL_DEADLINE}s"
		sleep "$(printf '0.%02d' $((5 + RANDOM % 20)))"
	done

	# COMMIT has returned: the call is in the ledger.
	key=$KEY
	[ "$KIND" = release ] && key='\N'
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ID" "$KIND" "$key" "$DEBIT" "$CREDIT" \
		"$AMOUNT" "$HOLD" "$RESULT" "$NOTE" >&"$log"
	count[$KIND]=$((count[$KIND] + 1))
	count[$NOTE]=$((count[$NOTE] + 1))
	if [ "$KIND" = hold ]; then
		hold_ids+=("$RESULT")
		hold_debits+=("$DEBIT")
		hold_credits+=("$CREDIT")
		hold_amounts+=("$AMOUNT")
	elif [ "$HELD" -ge 0 ]; then
		forget_hold "$HELD"
	fi
done

stop_psql
exec {log}>&-
rm -f "$TO_PSQL" "$FROM_PSQL"
write_stats
exit 0
