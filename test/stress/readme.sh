#!/usr/bin/env bash
# test/stress/readme.sh - the README's SQL examples, run as they are written.
#
# The blocks are read out of README.md itself (the first ```sql block under
# a heading), so the text a user copies cannot drift from what is tested:
#  - "Getting started", in a new database, in one psql session: every
#    statement but the one marked "-- rejected: SQLSTATE LGnnn" succeeds,
#    that one fails with exactly that SQLSTATE, psql prints for it the
#    ERROR, DETAIL and HINT lines of the README's text block, and the
#    comments' figures hold (alice's posted balance 7450);
#  - "Holds", after it, with its first statement (the hold with an
#    idempotency key and an expiry computed from now()) sent twice, in two
#    connections, as a client retries after a lost connection: both return
#    the same hold, and 50.00 is reserved once; then the rest of the block,
#    whose "-- rejected: SQLSTATE LGnnn" line must fail with that SQLSTATE.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DB=ledger_readme
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_readme.XXXXXX")
FAILED=0

cleanup() {
	psql -X -q -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "readme.sh: FAIL: $*" >&2
	FAILED=1
}

. "$ROOT/test/lib/blocks.sh"

# text_block HEADING - the first ```text block after "## HEADING".
text_block() {
	block "$ROOT/README.md" "## $1" text
}

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -X -q -d postgres -c "CREATE DATABASE $DB"
psql -X -q -d "$DB" -c "CREATE EXTENSION ledger"

block "$ROOT/README.md" "## Getting started" >"$WORK/getting_started.sql"
block "$ROOT/README.md" "## Holds" >"$WORK/holds.sql"
[ -s "$WORK/getting_started.sql" ] || fail "no sql block under \"## Getting started\" in README.md"
[ -s "$WORK/holds.sql" ] || fail "no sql block under \"## Holds\" in README.md"
statements "$WORK/getting_started.sql" >"$WORK/getting_started.list"
statements "$WORK/holds.sql" >"$WORK/holds.list"
grep -q $'^LG' "$WORK/getting_started.list" ||
	fail "the Getting started block shows no rejection any more; this test expects one"

run_block "$WORK/getting_started.list"
# What the README shows psql printing for the rejection is what it prints.
text_block "Getting started" >"$WORK/getting_started.shown"
[ -s "$WORK/getting_started.shown" ] || fail "no text block under \"## Getting started\" in README.md"
grep -E '^(ERROR|DETAIL|HINT):' "$WORK/getting_started.list.out" >"$WORK/getting_started.errors" || true
if ! cmp -s "$WORK/getting_started.shown" "$WORK/getting_started.errors"; then
	diff "$WORK/getting_started.shown" "$WORK/getting_started.errors" >&2 || true
	fail "the error the README shows for Getting started is not the one psql prints"
fi
posted=$(psql -X -At -d "$DB" -c "SELECT posted FROM ledger.balance(2)")
[ "$posted" = 7450 ] || fail "alice's posted balance after Getting started is $posted, not the README's 7450"

# The hold, then its retry in a new connection, a moment later.
IFS=$'\t' read -r expect hold_stmt <"$WORK/holds.list"
[[ $hold_stmt == *idempotency_key* && $hold_stmt == *now\(\)* ]] ||
	fail "the Holds block's first statement is no longer a keyed hold with a relative expiry: $hold_stmt"
first=$(psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "$hold_stmt")
sleep 0.2
if ! retried=$(psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB" -c "$hold_stmt" 2>&1); then
	fail "the README's hold, retried with its key, failed: $retried"
fi
[ "$first" = "$retried" ] || fail "the retried hold returned '$retried', the first call '$first'"
reserved=$(psql -X -At -d "$DB" -c "SELECT pending_debits FROM ledger.balance(2)")
[ "$reserved" = 5000 ] || fail "after the hold and its retry alice has $reserved pending, not 5000"
tail -n +2 "$WORK/holds.list" >"$WORK/holds_rest.list"
run_block "$WORK/holds_rest.list"
captured=$(psql -X -At -d "$DB" -c "SELECT status || ' ' || captured_amount FROM ledger.holds")
[ "$captured" = "captured 4200" ] || fail "the README's hold ends '$captured', not captured for 4200"

if [ "$FAILED" -ne 0 ]; then
	echo "readme.sh: FAILED" >&2
	exit 1
fi
echo "readme.sh: all checks passed: the README's Getting started block ($(wc -l <"$WORK/getting_started.list") statements) and Holds block ($(wc -l <"$WORK/holds.list") statements) run as written, each rejection with the SQLSTATE its comment names; the hold retried with its key returns hold $first and reserves once"
