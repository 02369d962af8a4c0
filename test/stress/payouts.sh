#!/usr/bin/env bash
# test/stress/payouts.sh - the payout worker of examples/node-wallet,
# killed with SIGKILL again and again while it pays out.
#
# A ledger with 20 funded wallets and a payout account, whose book
# publishes events; the consumer "payouts" is created first.  The
# example's provider (provider.js) runs on a local port, failing (500),
# timing out (answer lost, payout done half of the time) and declining at
# random.  200 payout requests are placed as holds from the wallets to the
# payout account, a few a second, while the worker (payouts.js) runs and is
# killed with SIGKILL 20 times at random moments, each time started again
# at once.  Then it runs until every hold is settled.  Checks:
#  - every hold is captured or released, none pending, none expired;
#  - a hold is captured exactly when the provider decided "paid" for its
#    key, released exactly when it decided "declined", and captured by
#    exactly one transfer of the held amount;
#  - the provider decided each payout once, and every request it got for a
#    payout carried that payout's key (payout-<hold id>), none reused for
#    another payout;
#  - the payout account holds exactly what was paid, and ledger.verify()
#    finds nothing;
#  - the worker never died on its own.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them;
# PAYOUT_KILLS (default 20); node and npm (the npm registry reachable unless
# npm's cache already holds pg).
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/examples/node-wallet
DB=ledger_payouts
KILLS=${PAYOUT_KILLS:-20}
PAYOUTS=200
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_payouts.XXXXXX")
PROVIDER=
WORKER=
REQUESTS=
FAILED=0

fail() {
	echo "payouts.sh: FAIL: $*" >&2
	FAILED=1
}

q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local pid
	for pid in $WORKER $REQUESTS $PROVIDER; do
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ledger_require_packages nodejs npm
mkdir -p "$WORK/app"
cp "$SRC"/package.json "$SRC"/package-lock.json "$SRC"/*.js "$WORK/app/"
(cd "$WORK/app" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
q -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'bank', 'debit', NULL);                   -- 1
SELECT ledger.create_account('USD', 'payouts');                               -- 2
SELECT ledger.create_account('USD', 'wallet ' || i) FROM generate_series(1, 20) AS i;
SELECT ledger.transfer(1, id, 1000000) FROM ledger.accounts WHERE name LIKE 'wallet %';
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_consumer('payouts', ARRAY[1]::bigint[]);
SQL

# The provider, on a port of its own.
PROVIDER_LOG=$WORK/provider.log node "$WORK/app/provider.js" >"$WORK/provider.port" 2>"$WORK/provider.err" &
PROVIDER=$!
for _ in $(seq 1 100); do
	[ -s "$WORK/provider.port" ] && break
	sleep 0.05
done
port=$(head -n 1 "$WORK/provider.port")
[ -n "$port" ] || { cat "$WORK/provider.err" >&2; fail "the provider did not start"; exit 1; }

start_worker() {
	PGDATABASE=$DB PAYOUT_ACCOUNT=2 PROVIDER_URL=http://127.0.0.1:$port \
		node "$WORK/app/payouts.js" >>"$WORK/worker.log" 2>&1 &
	WORKER=$!
}

# The payout requests: holds placed a few at a time, during the kills.
for i in $(seq 1 $PAYOUTS); do
	echo "SELECT ledger.hold(2 + 1 + $i % 20, 2, 100 + $i, pg_catalog.now() + interval '10 minutes', 'request $i');"
	[ $((i % 5)) -eq 0 ] && echo "SELECT pg_sleep(0.1);"
done >"$WORK/requests.sql"
start_worker
q -o /dev/null -f "$WORK/requests.sql" &
REQUESTS=$!

died=0
for k in $(seq 1 "$KILLS"); do
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * 1.2 }')"
	if ! kill -0 "$WORKER" 2>/dev/null; then
		died=$((died + 1))
	fi
	kill -9 "$WORKER" 2>/dev/null || true
	wait "$WORKER" 2>/dev/null || true
	start_worker
done
wait "$REQUESTS" || fail "placing the payout requests failed"
REQUESTS=
[ "$died" -eq 0 ] || { fail "the worker died on its own $died times"; tail -n 20 "$WORK/worker.log" >&2; }

# Until every payout is settled.
settled=0
for _ in $(seq 1 1200); do
	settled=$(q -At -c "SELECT count(*) FROM ledger.holds WHERE status <> 'pending'")
	[ "$settled" -ge "$PAYOUTS" ] && break
	kill -0 "$WORKER" 2>/dev/null || { fail "the worker died on its own"; tail -n 20 "$WORK/worker.log" >&2; break; }
	sleep 0.1
done
kill -9 "$WORKER" 2>/dev/null || true
wait "$WORKER" 2>/dev/null || true
WORKER=
kill "$PROVIDER" 2>/dev/null || true
wait "$PROVIDER" 2>/dev/null || true
PROVIDER=

# The provider's log, one JSON document per line.
q -c "CREATE TABLE provider (line jsonb)" \
	-c "\\copy provider (line) FROM '$WORK/provider.log' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
check() {
	local name=$1 query=$2 rows
	if ! rows=$(q -At -c "SELECT count(*) FROM ($query) AS x"); then
		fail "$name could not run"
	elif [ "$rows" -ne 0 ]; then
		fail "$name: $rows rows"
		q -c "SELECT * FROM ($query) AS x LIMIT 10" >&2
	fi
}
q -o /dev/null <<'SQL'
CREATE VIEW decisions AS
SELECT line->>'key' AS key, (line->>'payout')::bigint AS hold_id,
       CASE WHEN line->>'outcome' LIKE '%paid' THEN 'paid' ELSE 'declined' END AS status
  FROM provider
 WHERE line->>'outcome' IN ('paid', 'declined', 'timeout paid', 'timeout declined');
SQL
check "payout requests placed" "SELECT WHERE (SELECT count(*) FROM ledger.holds) <> $PAYOUTS"
check "a hold not captured or released" \
	"SELECT id, status FROM ledger.holds WHERE status NOT IN ('captured', 'released')"
check "a payout the provider decided more than once" \
	"SELECT key FROM decisions GROUP BY key HAVING count(*) > 1"
check "a request without its payout's key, or a key reused" \
	"SELECT line FROM provider WHERE line->>'key' IS DISTINCT FROM 'payout-' || (line->>'payout')
	     OR line->>'outcome' IN ('no key', 'key reused')"
check "a hold settled against the provider's decision" \
	"SELECT h.id, h.status, d.status AS provider
	   FROM ledger.holds AS h LEFT JOIN decisions AS d ON d.hold_id = h.id
	  WHERE d.status IS NULL OR (d.status = 'paid') <> (h.status = 'captured')"
check "a captured hold without exactly one capture of its amount" \
	"SELECT h.id FROM ledger.holds AS h
	   LEFT JOIN ledger.transfers AS t ON t.hold_id = h.id
	  WHERE h.status = 'captured'
	  GROUP BY h.id, h.amount HAVING count(t.id) <> 1 OR min(t.amount) <> h.amount"
check "a released hold with a capture" \
	"SELECT h.id FROM ledger.holds AS h JOIN ledger.transfers AS t ON t.hold_id = h.id
	  WHERE h.status = 'released'"
check "the payout account does not hold what was paid" \
	"SELECT WHERE (SELECT posted FROM ledger.account_balances WHERE account_id = 2)
	       <> (SELECT coalesce(sum(amount), 0) FROM ledger.holds WHERE status = 'captured')"
check "ledger.verify()" "SELECT * FROM ledger.verify()"
check "no payout declined, or none paid" \
	"SELECT WHERE NOT EXISTS (SELECT FROM ledger.holds WHERE status = 'released')
	           OR NOT EXISTS (SELECT FROM ledger.holds WHERE status = 'captured')"

summary=$(q -At -c "SELECT count(*) FILTER (WHERE status = 'captured') || ' paid and captured, '
	                      || count(*) FILTER (WHERE status = 'released') || ' declined and released'
	                 FROM ledger.holds")
requests=$(q -At -c "SELECT count(*) || ' provider requests (' || count(*) FILTER (WHERE line->>'outcome' = 'error')
	                        || ' errors, ' || count(*) FILTER (WHERE line->>'outcome' LIKE 'timeout%')
	                        || ' timeouts, ' || count(*) FILTER (WHERE line->>'outcome' LIKE 'replay%')
	                        || ' replays)' FROM provider")
echo "payouts.sh: $PAYOUTS payouts, the worker killed $KILLS times: $summary; $requests"
if [ "$FAILED" -ne 0 ]; then
	echo "payouts.sh: FAILED" >&2
	exit 1
fi
echo "payouts.sh: all checks passed: every payout captured or released once, as the provider decided it once, each request under its payout's key; ledger.verify() finds nothing"
