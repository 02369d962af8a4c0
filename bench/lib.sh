# bench/lib.sh - the server settings and the accounts every benchmark starts
# from.
#
# Sourced by the scripts of bench/, after
# test/lib/pg.sh.  The caller sets DB, the database psql_db and
# bench_setup_ledger work in.
#
# Accounts 1..10,000 are credit-normal with min_balance 0 (limits checked on
# every debit) and are each funded with 1,000,000,000 minor units from a
# debit-normal treasury; transfers move 1 to 1,000 minor units, so no
# transfer of a run can fail.  Account 10,001 is a merchant (run.sh's hot
# account), 10,002 the treasury.

ACCOUNTS=10000
HOT_ACCOUNT=10001
TREASURY=10002
FUNDING=1000000000

# Server settings beyond test/lib/pg.sh's (max_connections 120,
# shared_buffers 256MB): WAL large enough and checkpoints rare enough that no
# checkpoint falls inside a measurement; fsync stays on.  Without checkpoints
# no WAL segment is ever recycled, so wal_init_zero = off spares each new
# segment the 16MB of zeros a recycled one would not have cost either.
BENCH_SERVER_SETTINGS=("synchronous_commit = on" "fsync = on" "max_wal_size = 32GB"
	"checkpoint_timeout = 1h" "wal_buffers = 16MB" "wal_init_zero = off")

# bench_commit - the commit measured: the one built now, with a mark if
# src/ or sql/ differ from it.
bench_commit() {
	local commit
	if commit=$(git -C "$LEDGER_ROOT" rev-parse --short HEAD 2>/dev/null); then
		git -C "$LEDGER_ROOT" diff --quiet HEAD -- src sql 2>/dev/null || commit="$commit+changes"
	else
		commit=unknown
	fi
	echo "$commit"
}

# bench_begin NAME [SETTING...] - what every single-build benchmark starts
# with: a work directory WORK (removed at exit, with the server), the build
# and install unless BUILD is 0, commit and started for the report, and a
# server NAME with BENCH_SERVER_SETTINGS (and the SETTINGs) holding an
# empty database $DB.
bench_begin() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-$1.XXXXXX")
	chmod 777 "$WORK"
	trap 'ledger_stop_server; rm -rf "$WORK"' EXIT
	trap 'exit 130' INT TERM
	if [ "${BUILD:-1}" -eq 1 ]; then
		ledger_require_packages
		ledger_build_install
	fi
	commit=$(bench_commit)
	started=$(date -u '+%Y-%m-%d %H:%M UTC')
	ledger_start_server "$1" "${BENCH_SERVER_SETTINGS[@]}" "${@:2}"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
}

psql_db() {
	"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# bench_setup_ledger - create the extension and the accounts above in $DB.
bench_setup_ledger() {
	psql_db >/dev/null <<EOF
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT count(ledger.create_account('USD', 'user-' || i, 'credit'))
  FROM generate_series(1, $ACCOUNTS) AS i;
SELECT ledger.create_account('USD', 'merchant', 'credit');
SELECT ledger.create_account('USD', 'treasury', 'debit');
SELECT cardinality(ledger.transfer_batch(array_agg(
           ROW($TREASURY, i, $FUNDING, NULL, NULL, NULL)::ledger.transfer_request ORDER BY i)))
  FROM generate_series(1, $ACCOUNTS) AS i;
EOF
}

# pairs N - N random (d, c) pairs of accounts with d <> c, as a subquery.
# The credit account is drawn uniformly over the accounts other than d.
pairs() {
	echo "(SELECT d, 1 + (d - 1 + (1 + floor(random() * $((ACCOUNTS - 1)))::int)) % $ACCOUNTS AS c
   FROM (SELECT 1 + floor(random() * $ACCOUNTS)::int AS d FROM generate_series(1, $1)) AS r) AS p"
}
