#!/usr/bin/env bash
# test/citus/faults.sh - keyed calls through the coordinator while a worker
# and then the coordinator are killed (kill -9) and started again.  Four
# clients make transfers within a book and batches across two books (a
# two-phase commit when the books are on two nodes), each with idempotency
# keys, and retry a call with the same keys until it is acknowledged, as a
# client of a payment system does.  After the load and Citus's recovery of
# two-phase commits: every acknowledged call is in the ledger once, with the
# transfer ids it was acknowledged with; no call is there that was not
# acknowledged; no prepared transaction is left on any node; and the bank's
# checks hold (balanced books and asset, verify() clean).
#
# Environment: CITUS_FAULT_SECONDS (default 16) how long the load runs.
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"
. "$LEDGER_ROOT/test/lib/citus_bank.sh"

SECONDS_TO_RUN=${CITUS_FAULT_SECONDS:-16}
citus_test_begin 2
WORK=$(mktemp -d)
trap 'citus_stop_cluster; rm -rf "$WORK"' EXIT

fail() { echo "FAILED: $*" >&2; exit 1; }

citus_distribute
bank_setup 4 10
# book first last: the wallets of each book.
citus_psql 0 -F ' ' -c "SELECT book, lo, hi FROM bank.ranges ORDER BY book" >"$WORK/ranges"
mapfile -t RANGES <"$WORK/ranges"

# client C - keyed calls until $WORK/stop exists; each acknowledged one as
# "key id" lines in $WORK/acks.C.
client() {
	local c=$1 n=0 out r1 r2 b1 lo1 hi1 b2 lo2 hi2 sql keys
	while [ ! -e "$WORK/stop" ]; do
		n=$((n + 1))
		r1=${RANGES[RANDOM % ${#RANGES[@]}]}
		read -r b1 lo1 hi1 <<<"$r1"
		if ((n % 3 == 0)); then
			r2=${RANGES[RANDOM % ${#RANGES[@]}]}
			read -r b2 lo2 hi2 <<<"$r2"
			[ "$b2" != "$b1" ] || continue
			sql="SELECT string_agg(x::text, ' ' ORDER BY o) FROM unnest(ledger.transfer_batch(ARRAY[
			       ROW($lo1, $hi1, 1, 'c$c-$n-a', 'across', NULL),
			       ROW($lo2, $hi2, 1, 'c$c-$n-b', 'across', NULL)]::ledger.transfer_request[]))
			       WITH ORDINALITY AS t(x, o)"
			keys="c$c-$n-a c$c-$n-b"
		else
			sql="SELECT ledger.transfer($((lo1 + RANDOM % (hi1 - lo1))), $hi1, 1, 'c$c-$n')"
			keys="c$c-$n"
		fi
		# The same call, with the same keys, until it is acknowledged.
		until out=$(citus_psql 0 -c "$sql" 2>>"$WORK/errors.$c"); do
			sleep 0.2
		done
		read -r -a ids <<<"$out"
		read -r -a ks <<<"$keys"
		for i in "${!ks[@]}"; do echo "${ks[$i]} ${ids[$i]}"; done >>"$WORK/acks.$c"
	done
}

kill_node() {
	local pid
	pid=$(head -1 "$CITUS_DIR/node$1/postmaster.pid")
	log "kill -9 of node $1 (postmaster $pid)"
	kill -9 "$pid"
	# Its backends go with it; wait for the last of them.
	while pgrep -s 0 -P "$pid" >/dev/null 2>&1 || kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	sleep 1
	citus_start_node "$1"
}

for c in 1 2 3 4; do client "$c" & done
sleep $((SECONDS_TO_RUN / 4))
kill_node 1
sleep $((SECONDS_TO_RUN / 4))
kill_node 0
sleep $((SECONDS_TO_RUN / 2))
touch "$WORK/stop"
wait

# What the coordinator committed, the workers commit now (Citus does it on
# its own within a minute).
citus_psql 0 -c "SELECT recover_prepared_transactions()" >/dev/null
cat "$WORK"/acks.* | sort >"$WORK/acked"
citus_psql 0 -F ' ' -c "SELECT idempotency_key, id FROM ledger.transfers WHERE idempotency_key LIKE 'c%'" |
	sort >"$WORK/stored"
acked=$(wc -l <"$WORK/acked")
[ "$acked" -gt 20 ] || fail "only $acked calls were acknowledged"
if ! diff "$WORK/acked" "$WORK/stored" >"$WORK/diff"; then
	head -20 "$WORK/diff" >&2
	fail "the ledger's keyed transfers are not the acknowledged ones (< acknowledged, > stored)"
fi
retried=$(cat "$WORK"/errors.* | grep -c "^psql: error\|server closed\|terminat\|ERROR" || true)
[ "$retried" -gt 0 ] || fail "no call failed: the kills did not reach the load"
bank_check
echo "citus faults: a worker and the coordinator killed under keyed load; $acked acknowledged calls" \
	"(after $retried failed attempts retried) each in the ledger once with its ids, nothing else;" \
	"no prepared transaction left, books balanced, verify() clean"
