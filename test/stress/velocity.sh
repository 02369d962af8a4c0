#!/usr/bin/env bash
# test/stress/velocity.sh - 32 clients against velocity limits whose windows
# are seconds long, then a checker over the history: in no window did the
# accepted movements go beyond any limit.
#
# 40 wallets each have two limits on their debits: at most 3,000 minor
# units in any 2 seconds, and at most 6 debits in any 3 seconds; 8 players
# may be credited at most 10 times in any 2 seconds (rewards).  pgbench runs
# 32 clients for VELOCITY_SECONDS (default 12) that withdraw from a random
# wallet, place holds on one (captured in part, released or left pending
# later), and credit rewards to a random player; LG111 refusals (and the
# races of two clients for one hold) are expected and counted, any other
# error fails the run.
#
# The checker takes every movement that counts, at the time the ledger
# stamped it: transfers that are neither captures nor reversals, captured
# holds (their captured amount, at the hold's time) and pending holds (their
# amount); released and expired holds gave their allowance back.  For each
# movement it sums the movements of the same account and direction in the
# window that ends at it (the largest sums of a sliding window end at a
# movement), and fails on any window above its limit.  It also requires
# refusals to have happened, ledger.verify() to report nothing, and the
# checker to notice debits beyond a limit dropped in a rolled-back
# transaction.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them.
set -euo pipefail

DB=ledger_velocity
SECONDS_TO_RUN=${VELOCITY_SECONDS:-12}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_velocity.XXXXXX")
chmod 755 "$WORK"
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
cleanup() {
	psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
psql_db -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'funding', 'debit', min_balance => NULL);       -- 1
SELECT ledger.create_account('USD', 'sink');                                         -- 2
SELECT ledger.create_account('USD', 'rewards', 'debit', min_balance => NULL);       -- 3
SELECT ledger.create_account('USD', 'wallet-' || i) FROM generate_series(1, 40) AS i; -- 4..43
SELECT ledger.create_account('USD', 'player-' || i) FROM generate_series(1, 8) AS i;  -- 44..51
SELECT ledger.transfer(1, w, 100000000) FROM generate_series(4, 43) AS w;
SELECT ledger.create_velocity_limit(w, 'debit', '2 seconds', 3000, name => 'amount') FROM generate_series(4, 43) AS w;
SELECT ledger.create_velocity_limit(w, 'debit', '3 seconds', max_count => 6, name => 'count') FROM generate_series(4, 43) AS w;
SELECT ledger.create_velocity_limit(p, 'credit', '2 seconds', max_count => 10, name => 'rewards') FROM generate_series(44, 51) AS p;

CREATE SCHEMA vel;
CREATE TABLE vel.outcomes (what text NOT NULL);
-- One call; the refusals it may meet are counted, any other error is raised.
CREATE FUNCTION vel.step(kind int, account bigint, amount bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h bigint;
    what text;
BEGIN
    BEGIN
        IF kind <= 5 THEN
            PERFORM ledger.transfer(account, 2, amount);
            what := 'transfer';
        ELSIF kind <= 7 THEN
            PERFORM ledger.hold(account, 2, amount);
            what := 'hold';
        ELSIF kind = 8 THEN
            SELECT max(id) INTO h FROM ledger.hold_records
             WHERE debit_account_id = account AND status = 'pending';
            IF h IS NULL THEN RETURN; END IF;
            IF amount % 2 = 0 THEN
                PERFORM ledger.capture(h);
            ELSE
                PERFORM ledger.capture(h, 1);
            END IF;
            what := 'capture';
        ELSIF kind = 9 THEN
            SELECT min(id) INTO h FROM ledger.hold_records
             WHERE debit_account_id = account AND status = 'pending';
            IF h IS NULL THEN RETURN; END IF;
            PERFORM ledger.release(h);
            what := 'release';
        ELSE
            PERFORM ledger.transfer(3, 44 + account % 8, amount);
            what := 'reward';
        END IF;
    EXCEPTION WHEN SQLSTATE 'LG111' THEN
        what := 'refused';
    WHEN SQLSTATE 'LG202' OR SQLSTATE 'LG203' OR SQLSTATE 'LG205' THEN
        what := 'hold raced';
    END;
    INSERT INTO vel.outcomes VALUES (what);
END $$;
SQL

cat >"$WORK/load.sql" <<'SQL'
\set kind random(1, 12)
\set account random(4, 43)
\set amount random(1, 1000)
SELECT vel.step(:kind, :account, :amount);
SQL
"$PG_BIN/pgbench" -n -c 32 -j 2 -T "$SECONDS_TO_RUN" -f "$WORK/load.sql" "$DB" >"$WORK/pgbench.log" 2>&1 ||
	{ cat "$WORK/pgbench.log" >&2; echo "velocity.sh: FAIL: a client failed" >&2; exit 1; }
grep -E "^number of (transactions actually processed|failed)" "$WORK/pgbench.log" || true
psql_db -c "SELECT what, count(*) FROM vel.outcomes GROUP BY what ORDER BY what" | tr '\n' ' '
echo

psql_db -o /dev/null <<'SQL'
-- Every movement that counts, by account and direction, at its time.
CREATE VIEW vel.movements AS
SELECT debit_account_id AS account, 'debit' AS direction, created_at AS at, amount::numeric AS amount
  FROM ledger.transfers WHERE hold_id IS NULL AND reverses_transfer_id IS NULL
UNION ALL
SELECT credit_account_id, 'credit', created_at, amount::numeric
  FROM ledger.transfers WHERE hold_id IS NULL AND reverses_transfer_id IS NULL
UNION ALL
SELECT a.account, a.direction, h.created_at,
       CASE h.status WHEN 'captured' THEN h.captured_amount::numeric ELSE h.amount::numeric END
  FROM ledger.hold_records AS h,
       LATERAL (VALUES (h.debit_account_id, 'debit'), (h.credit_account_id, 'credit')) AS a (account, direction)
 WHERE h.status IN ('captured', 'pending');

-- The limits as made (the self-test drops one).
CREATE TABLE vel.limits AS SELECT * FROM ledger.velocity_limits;

-- Each limit's largest window: the sums of the windows that end at a movement.
CREATE VIEW vel.windows AS
SELECT l.id, l.account_id, l.direction, l."window", l.max_amount::numeric AS max_amount, l.max_count,
       m.at, sum(o.amount) AS amount, count(*) AS movements
  FROM vel.limits AS l
  JOIN vel.movements AS m ON m.account = l.account_id AND m.direction = l.direction
  JOIN vel.movements AS o ON o.account = m.account AND o.direction = m.direction
                         AND o.at > m.at - l."window" AND o.at <= m.at
 GROUP BY l.id, l.account_id, l.direction, l."window", l.max_amount, l.max_count, m.at;
SQL

over=$(psql_db -c "SELECT count(*) FROM vel.windows
                    WHERE amount > coalesce(max_amount, amount) OR movements > coalesce(max_count, movements)")
psql_db -c "SELECT 'limit ' || id || ' of account ' || account_id || ': ' || max(amount) || ' in at most '
                   || max(movements) || ' movements per window, limits ' || coalesce(max_amount::text, '-') || ' / '
                   || coalesce(max_count::text, '-')
              FROM vel.windows WHERE id IN (1, 41, 81) GROUP BY id, account_id, max_amount, max_count ORDER BY id"
refused=$(psql_db -c "SELECT count(*) FROM vel.outcomes WHERE what = 'refused'")
counted=$(psql_db -c "SELECT count(*) FROM vel.movements")
verify=$(psql_db -c "SELECT count(*) FROM ledger.verify()")
echo "velocity.sh: $counted movements counted, $refused refused, $over windows over a limit, verify: $verify problems"
failed=0
if [ "$over" -ne 0 ]; then
	psql_db -c "SELECT * FROM vel.windows WHERE amount > coalesce(max_amount, amount)
	            OR movements > coalesce(max_count, movements) LIMIT 20" >&2
	echo "velocity.sh: FAIL: accepted movements went beyond a limit" >&2
	failed=1
fi
# The checker is not blind: without limit 1, five debits of 1,000 from its
# account in a row go beyond its 3,000, and the checker must say so.
blind=$(psql_db <<'SQL'
BEGIN;
SELECT ledger.drop_velocity_limit(1) \g /dev/null
SELECT ledger.drop_velocity_limit(41) \g /dev/null
SELECT count(ledger.transfer(4, 2, 1000)) FROM generate_series(1, 5) \g /dev/null
SELECT count(*) FROM vel.windows WHERE id = 1 AND amount > max_amount;
ROLLBACK;
SQL
)
echo "velocity.sh: self-test: the checker finds $blind windows over limit 1 once it is dropped"
if [ "${blind:-0}" -eq 0 ]; then
	echo "velocity.sh: FAIL: the checker did not notice five debits beyond a limit" >&2
	failed=1
fi
[ "$refused" -gt 0 ] || { echo "velocity.sh: FAIL: no call was refused, the limits were not tested" >&2; failed=1; }
[ "$verify" -eq 0 ] || { echo "velocity.sh: FAIL: ledger.verify() reports problems" >&2; failed=1; }
[ "$failed" -eq 0 ] && echo "velocity.sh: passed"
exit "$failed"
