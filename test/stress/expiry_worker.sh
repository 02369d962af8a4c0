#!/usr/bin/env bash
# test/stress/expiry_worker.sh - with the library preloaded, the background
# worker releases an expired hold without any call from a client.
#
# Starts its own server (shared_preload_libraries = 'ledger'), places a hold
# that expires in one second, then only reads ledger.hold_records, which no
# lazy expiry touches, until the worker has recorded the release.
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"
trap ledger_stop_server EXIT
ledger_start_server ledger-worker \
	"shared_preload_libraries = 'ledger'" \
	"ledger.expiry_database = 'postgres'" \
	"ledger.expiry_interval = '100ms'"

export PGDATABASE=postgres
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL);
SELECT ledger.create_account('USD', 'alice');
SELECT ledger.create_account('USD', 'shop');
SELECT ledger.transfer(1, 2, 1000);
SELECT ledger.hold(2, 3, 600, clock_timestamp() + interval '1 second');
SELECT ledger.hold(2, 3, 100);
SQL

workers=0
for _ in $(seq 1 50); do
	workers=$(psql -X -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ledger hold expiry worker'")
	[ "$workers" = 1 ] && break
	sleep 0.1
done
if [ "$workers" != 1 ]; then
	echo "expected one expiry worker, found $workers" >&2
	exit 1
fi

status=""
for _ in $(seq 1 100); do
	status=$(psql -X -At -c "SELECT status FROM ledger.hold_records WHERE id = 1")
	[ "$status" = expired ] && break
	sleep 0.1
done
if [ "$status" != expired ]; then
	echo "the worker did not expire hold 1 within 10 seconds (status: $status)" >&2
	exit 1
fi

# The release is recorded on both sides; the unexpired hold still counts.
got=$(psql -X -At -F ' ' -c "SELECT a.debits_pending, b.credits_pending, h.debit_reserved, h.credit_reserved
                              FROM ledger.accounts a, ledger.accounts b, ledger.hold_records h
                             WHERE a.id = 2 AND b.id = 3 AND h.id = 1")
if [ "$got" != "100 100 f f" ]; then
	echo "after expiry expected '100 100 f f', got '$got'" >&2
	exit 1
fi
echo "expiry worker: hold 1 expired by the worker, pending columns released ($got)"
