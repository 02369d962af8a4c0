#!/usr/bin/env bash
# test/stress/transfers.sh - many concurrent transfers, then the ledger's invariants.
#
# Builds two assets (USD scale 2, ETH scale 18, whose amounts pass the 64-bit
# range), each with a debit-normal funding account, a few hot accounts that
# most clients touch, many cold accounts (some with a maximum balance, some
# allowed an overdraft), and a closed account.  Then pgbench runs 8 clients
# that mix ordinary transfers, transfers to and from the hot accounts,
# overdrafts, transfers between assets and to the closed account, and calls
# with idempotency keys that are replayed, sometimes with the same arguments
# and sometimes with different ones (on other accounts, so that two first
# uses of a key can race to insert it: "race-" keys are shared by all calls
# in the same 5 ms); one transaction in ten runs at REPEATABLE READ.  Each
# call goes through stress.try_transfer, which catches only the rejections
# the ledger is expected to raise and records every outcome, so any other
# error aborts a pgbench client and fails the run.
#
# Afterwards every invariant is checked in SQL: each check is a view in
# schema "stress" that lists the offending rows, so a failure prints them.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them;
# STRESS_SECONDS (default 20) how long pgbench runs; STRESS_CLIENTS
# (default 8); STRESS_SEED (default random, printed) for pgbench and the
# set-up; STRESS_SELFTEST=1 also corrupts the ledger in rolled-back
# transactions and requires every check to notice; STRESS_KEEP=1 keeps the
# database.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ledger_stress
SECONDS_TO_RUN=${STRESS_SECONDS:-20}
CLIENTS=${STRESS_CLIENTS:-8}
SEED=${STRESS_SEED:-$((RANDOM * 32768 + RANDOM))}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_stress.XXXXXX")

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	if [ "${STRESS_KEEP:-0}" != 1 ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"

# ---------------------------------------------------------------------------
# Set-up: assets, accounts, opening balances, and the test's own helpers.
# ---------------------------------------------------------------------------
psql_db -v seed="$SEED" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT pg_catalog.setseed((:seed % 1000000) / 1000000.0);

SELECT ledger.create_asset('USD', 2), ledger.create_asset('ETH', 18);

-- The test's base unit: a cent for USD, 0.001 ETH for ETH.  ETH amounts also
-- get "dust" below the base unit so that they are not round numbers.
CREATE SCHEMA stress;
CREATE TABLE stress.assets (asset text PRIMARY KEY, mult numeric NOT NULL, dust_max bigint NOT NULL);
INSERT INTO stress.assets VALUES ('USD', 1, 0), ('ETH', 1000000000000000, 999999999999999);

-- Accounts are created one asset at a time, each class in one run, so every
-- class is a contiguous range of ids that pgbench can draw from.
DO $$
DECLARE
    s record;
    id bigint;
BEGIN
    FOR s IN SELECT * FROM stress.assets ORDER BY asset DESC LOOP
        PERFORM ledger.create_account(s.asset, s.asset || ':fund', 'debit', NULL);
        FOR i IN 1..4 LOOP
            PERFORM ledger.create_account(s.asset, s.asset || ':hot:' || i);
        END LOOP;
        FOR i IN 1..500 LOOP
            -- Every 7th cold account has a maximum balance, every 11th may
            -- go 20.00 (or 2 ETH) below zero.
            PERFORM ledger.create_account(
                s.asset, s.asset || ':cold:' || i, 'credit',
                CASE WHEN i % 11 = 0 AND i % 7 <> 0 THEN (-2000 * s.mult)::ledger.amount
                     ELSE '0'::ledger.amount END,
                CASE WHEN i % 7 = 0 THEN (25000 * s.mult)::ledger.amount END,
                pg_catalog.jsonb_build_object('tier', 'cold', 'n', i));
        END LOOP;
        id := ledger.create_account(s.asset, s.asset || ':closed');
        PERFORM ledger.close_account(id);
    END LOOP;
END
$$;

-- Opening balances from the funding account: each hot account 10000.00 (or
-- 1000 ETH), each cold account up to 200.00 (or 20 ETH, past 2^63 wei).
SELECT count(*) AS opening_transfers
  FROM (SELECT ledger.transfer(f.id, a.id,
                               (s.mult * CASE WHEN a.name LIKE '%:hot:%' THEN 1000000
                                              ELSE floor(random() * 20001)::numeric END
                                + floor(random() * (s.dust_max + 1))::numeric)::ledger.amount,
                               NULL, 'opening balance')
          FROM ledger.accounts AS a
          JOIN stress.assets AS s ON s.asset = a.asset
          JOIN ledger.accounts AS f ON f.name = a.asset || ':fund'
         WHERE a.name LIKE '%:hot:%' OR a.name LIKE '%:cold:%'
         ORDER BY a.id) AS opening;

-- Every call pgbench makes, and what came of it.
CREATE UNLOGGED TABLE stress.outcomes (
    kind        text NOT NULL,
    isolation   text NOT NULL,
    idem_key    text,
    had_prior   boolean NOT NULL,       -- the key named a transfer before the call
    outcome     text NOT NULL,
    transfer_id bigint
);

-- The id the set-up's last transfer got: later ones are the run's.
CREATE TABLE stress.setup AS SELECT max(id) AS last_transfer_id FROM ledger.transfers;

-- try_transfer - call ledger.transfer and record the outcome.  Only the
-- rejections a correct ledger raises under this load are caught; anything
-- else propagates and aborts the pgbench client.  A success must return a
-- transfer made with these arguments, and a key that was already in use
-- must return that key's transfer.
CREATE FUNCTION stress.try_transfer(p_kind text, p_debit bigint, p_credit bigint,
                                    p_amount numeric, p_key text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_prior bigint;
    v_id bigint;
    v_outcome text;
    v_meta jsonb := CASE WHEN p_key IS NOT NULL
                         THEN pg_catalog.jsonb_build_object('key', p_key) END;
    t record;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT tr.id INTO v_prior FROM ledger.transfers AS tr WHERE tr.idempotency_key = p_key;
    END IF;
    BEGIN
        v_id := ledger.transfer(p_debit, p_credit, p_amount::ledger.amount, p_key,
                                p_kind, v_meta);
        SELECT * INTO t FROM ledger.transfers AS tr WHERE tr.id = v_id;
        IF NOT FOUND THEN
            v_outcome := 'returned a transfer that does not exist';
        ELSIF (t.debit_account_id, t.credit_account_id, t.amount::numeric,
               t.idempotency_key, t.description, t.metadata)
              IS DISTINCT FROM (p_debit, p_credit, p_amount, p_key, p_kind, v_meta) THEN
            v_outcome := 'returned a transfer with other arguments';
        ELSIF v_prior IS NOT NULL AND v_prior <> v_id THEN
            v_outcome := 'replay returned another transfer than the key''s';
        ELSE
            v_outcome := CASE WHEN v_prior IS NULL THEN 'ok' ELSE 'replay' END;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG101' OR SQLSTATE 'LG102' OR SQLSTATE 'LG103'
          OR SQLSTATE 'LG104' OR SQLSTATE 'LG012'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
            v_id := NULL;
    END;
    INSERT INTO stress.outcomes
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), p_key,
            v_prior IS NOT NULL, v_outcome, v_id);
END
$$;

-- ---------------------------------------------------------------------------
-- The checks: each view lists what breaks an invariant, and is empty when
-- the ledger is sound.
-- ---------------------------------------------------------------------------

-- Per asset, entries' debits equal entries' credits, and the accounts'
-- running sums agree.
CREATE VIEW stress.check_asset_balanced AS
SELECT a.asset, e.debits, e.credits, a.debits_posted, a.credits_posted
  FROM (SELECT asset,
               ledger.sum(debits_posted)::numeric AS debits_posted,
               ledger.sum(credits_posted)::numeric AS credits_posted
          FROM ledger.accounts GROUP BY asset) AS a
  LEFT JOIN (SELECT ac.asset,
                    coalesce(ledger.sum(en.amount) FILTER (WHERE en.direction = 'debit'), '0')::numeric AS debits,
                    coalesce(ledger.sum(en.amount) FILTER (WHERE en.direction = 'credit'), '0')::numeric AS credits
               FROM ledger.entries AS en
               JOIN ledger.accounts AS ac ON ac.id = en.account_id
              GROUP BY ac.asset) AS e ON e.asset = a.asset
 WHERE coalesce(e.debits, 0) <> coalesce(e.credits, 0)
    OR a.debits_posted <> a.credits_posted
    OR a.debits_posted <> coalesce(e.debits, 0);

-- Per account, aggregates of its entries.
CREATE VIEW stress.entry_totals AS
SELECT account_id,
       coalesce(sum(amount::numeric) FILTER (WHERE direction = 'debit'), 0) AS debits,
       coalesce(sum(amount::numeric) FILTER (WHERE direction = 'credit'), 0) AS credits,
       count(*) AS n,
       count(DISTINCT account_version) AS n_distinct,
       min(account_version) AS min_version,
       max(account_version) AS max_version
  FROM ledger.entries
 GROUP BY account_id;

-- debits_posted and credits_posted equal the sums of the account's entries.
CREATE VIEW stress.check_account_sums AS
SELECT a.id, a.debits_posted, e.debits, a.credits_posted, e.credits
  FROM ledger.accounts AS a
  LEFT JOIN stress.entry_totals AS e ON e.account_id = a.id
 WHERE a.debits_posted::numeric <> coalesce(e.debits, 0)
    OR a.credits_posted::numeric <> coalesce(e.credits, 0);

-- account_version runs 1..version without gaps or repeats.
CREATE VIEW stress.check_account_versions AS
SELECT a.id, a.version, e.n, e.n_distinct, e.min_version, e.max_version
  FROM ledger.accounts AS a
  LEFT JOIN stress.entry_totals AS e ON e.account_id = a.id
 WHERE a.version <> coalesce(e.n, 0)
    OR coalesce(e.n_distinct, 0) <> coalesce(e.n, 0)
    OR (e.n > 0 AND (e.min_version <> 1 OR e.max_version <> e.n));

-- The posted balance equals the last entry's balance_after (zero without
-- entries).
CREATE VIEW stress.check_last_balance AS
SELECT b.account_id, b.posted, l.account_version, l.balance_after
  FROM ledger.account_balances AS b
  LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, account_version, balance_after
               FROM ledger.entries
              ORDER BY account_id, account_version DESC) AS l ON l.account_id = b.account_id
 WHERE b.posted::numeric <> coalesce(l.balance_after::numeric, 0);

-- Each entry's balance_after is the previous one moved by its amount, and
-- entries never go back in time in version order.
CREATE VIEW stress.check_balance_chain AS
SELECT *
  FROM (SELECT e.account_id, e.account_version, e.direction, e.amount, e.balance_after,
               e.created_at,
               coalesce(lag(e.balance_after::numeric) OVER w, 0)
                 + CASE WHEN (e.direction = 'credit') = (a.normal_balance = 'credit')
                        THEN e.amount::numeric ELSE -e.amount::numeric END AS expected,
               lag(e.created_at) OVER w AS previous_created_at
          FROM ledger.entries AS e
          JOIN ledger.accounts AS a ON a.id = e.account_id
        WINDOW w AS (PARTITION BY e.account_id ORDER BY e.account_version)) AS c
 WHERE c.balance_after::numeric <> c.expected
    OR c.created_at < c.previous_created_at;

-- The hash chain: each entry's hash is SHA-256 over the account's previous
-- entry hash (32 zero bytes for the first) and the entry's fields in the
-- layout src/chain.c documents, and the account keeps its last entry's hash.
CREATE VIEW stress.check_hash_chain AS
SELECT c.account_id, c.account_version, c.hash, c.expected, NULL::bytea AS account_entry_hash
  FROM (SELECT e.account_id, e.account_version, e.hash,
               sha256(coalesce(lag(e.hash) OVER w, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
                      || int8send(e.transfer_id) || int8send(e.account_id) || int8send(e.account_version)
                      || CASE e.direction WHEN 'debit' THEN '\x44'::bytea ELSE '\x43'::bytea END
                      || ledger.amount_send(e.amount) || ledger.amount_send(e.balance_after)
                      || timestamptz_send(e.created_at)) AS expected
          FROM ledger.entries AS e
        WINDOW w AS (PARTITION BY e.account_id ORDER BY e.account_version)) AS c
 WHERE c.hash IS DISTINCT FROM c.expected
UNION ALL
SELECT a.id, a.version, l.hash, NULL, a.entry_hash
  FROM ledger.accounts AS a
  LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, hash
               FROM ledger.entries
              ORDER BY account_id, account_version DESC) AS l ON l.account_id = a.id
 WHERE a.entry_hash IS DISTINCT FROM l.hash;

-- No balance lies outside the account's limits.
CREATE VIEW stress.check_limits AS
SELECT a.id, a.name, b.available, b.posted, a.min_balance, a.max_balance
  FROM ledger.accounts AS a
  JOIN ledger.account_balances AS b ON b.account_id = a.id
 WHERE b.available::numeric < a.min_balance::numeric
    OR b.posted::numeric + CASE a.normal_balance WHEN 'credit' THEN a.credits_pending::numeric
                                                 ELSE a.debits_pending::numeric END
       > a.max_balance::numeric;

-- Every transfer has exactly two entries, a debit of its debit account and
-- a credit of its credit account, both of its amount, in one asset; every
-- entry belongs to a transfer.
CREATE VIEW stress.check_transfer_entries AS
SELECT t.id AS transfer_id, x.n, x.debits, x.credits, da.asset AS debit_asset,
       ca.asset AS credit_asset, NULL::bigint AS orphan_entry_id
  FROM ledger.transfers AS t
  LEFT JOIN ledger.accounts AS da ON da.id = t.debit_account_id
  LEFT JOIN ledger.accounts AS ca ON ca.id = t.credit_account_id
 CROSS JOIN LATERAL (
       SELECT count(*) AS n,
              count(*) FILTER (WHERE e.direction = 'debit' AND e.account_id = t.debit_account_id
                                 AND e.amount::numeric = t.amount::numeric) AS debits,
              count(*) FILTER (WHERE e.direction = 'credit' AND e.account_id = t.credit_account_id
                                 AND e.amount::numeric = t.amount::numeric) AS credits
         FROM ledger.entries AS e
        WHERE e.transfer_id = t.id) AS x
 WHERE x.n <> 2 OR x.debits <> 1 OR x.credits <> 1
    OR da.asset IS DISTINCT FROM ca.asset OR da.asset IS NULL
UNION ALL
SELECT e.transfer_id, NULL, NULL, NULL, NULL, NULL, e.id
  FROM ledger.entries AS e
 WHERE NOT EXISTS (SELECT FROM ledger.transfers AS t WHERE t.id = e.transfer_id);

-- An idempotency key names at most one transfer.
CREATE VIEW stress.check_idempotency_keys AS
SELECT idempotency_key, count(*) AS transfers, array_agg(id ORDER BY id) AS ids
  FROM ledger.transfers
 WHERE idempotency_key IS NOT NULL
 GROUP BY idempotency_key
HAVING count(*) > 1;

-- Every call ended as its kind allows: cross-asset transfers, overdrafts
-- beyond all the money there is and transfers to a closed account always
-- fail with their own SQLSTATE; only keyed calls can conflict, and a key
-- already in use is a replay or a conflict, never a fresh check of funds
-- or limits; a serialization failure only at REPEATABLE READ; never a
-- deadlock.
CREATE VIEW stress.check_outcomes AS
SELECT kind, isolation, had_prior, outcome, count(*) AS calls
  FROM stress.outcomes
 WHERE NOT ((outcome = '40001' AND isolation = 'repeatable read')
            OR CASE
                   WHEN kind = 'cross-asset' THEN outcome = 'LG101'
                   WHEN kind = 'overdraft' THEN outcome = 'LG103'
                   WHEN kind = 'closed' THEN outcome = 'LG102'
                   WHEN kind IN ('keyed', 'race') AND had_prior THEN outcome IN ('replay', 'LG012')
                   WHEN kind IN ('keyed', 'race') THEN outcome IN ('ok', 'LG103', 'LG104', 'LG012')
                   ELSE outcome IN ('ok', 'LG103', 'LG104')
               END)
 GROUP BY kind, isolation, had_prior, outcome;

-- Every transfer the run made was returned to a caller; a transfer without
-- a key to exactly one; all successful calls with one key got one transfer.
CREATE VIEW stress.check_returned_ids AS
SELECT 'never returned' AS problem, t.id AS transfer_id, t.idempotency_key AS idem_key
  FROM ledger.transfers AS t, stress.setup AS s
 WHERE t.id > s.last_transfer_id
   AND NOT EXISTS (SELECT FROM stress.outcomes AS o WHERE o.transfer_id = t.id)
UNION ALL
SELECT 'returned to several calls without a key', transfer_id, NULL
  FROM stress.outcomes
 WHERE idem_key IS NULL AND transfer_id IS NOT NULL
 GROUP BY transfer_id
HAVING count(*) > 1
UNION ALL
SELECT 'one key, several transfers', NULL, idem_key
  FROM stress.outcomes
 WHERE idem_key IS NOT NULL AND transfer_id IS NOT NULL
 GROUP BY idem_key
HAVING count(DISTINCT transfer_id) > 1;
SQL

# The id ranges pgbench draws accounts from, checked to be contiguous.
ranges=$(psql_db -At -F ' ' <<'SQL'
SELECT lower(asset) || '_' || class, min(id), count(*), max(id) - min(id) + 1 = count(*)
  FROM (SELECT asset, id, split_part(name, ':', 2) AS class FROM ledger.accounts) AS a
 GROUP BY asset, class
 ORDER BY 1;
SQL
)
defines=()
while read -r name lo n contiguous; do
	[ "$contiguous" = t ] || { echo "account class $name is not a contiguous id range" >&2; exit 1; }
	defines+=("-D" "${name}_lo=$lo" "-D" "${name}_n=$n")
done <<<"$ranges"

# ---------------------------------------------------------------------------
# The load.
# ---------------------------------------------------------------------------
cat >"$WORK/body.sql" <<'PGBENCH'
\set asset random(0, 1)
\set fund case when :asset = 0 then :usd_fund_lo else :eth_fund_lo end
\set closed case when :asset = 0 then :usd_closed_lo else :eth_closed_lo end
\set hot_lo case when :asset = 0 then :usd_hot_lo else :eth_hot_lo end
\set hot_n case when :asset = 0 then :usd_hot_n else :eth_hot_n end
\set cold_lo case when :asset = 0 then :usd_cold_lo else :eth_cold_lo end
\set cold_n case when :asset = 0 then :usd_cold_n else :eth_cold_n end
\set other_cold_lo case when :asset = 0 then :eth_cold_lo else :usd_cold_lo end
\set mult case when :asset = 0 then 1 else 1000000000000000 end
\set dust case when :asset = 0 then 0 else random(0, 999999999999999) end
\set a :cold_lo + random(0, :cold_n - 1)
\set b :cold_lo + (:a - :cold_lo + random(1, :cold_n - 1)) % :cold_n
\set h :hot_lo + random(0, :hot_n - 1)
\set h2 :hot_lo + (:h - :hot_lo + random(1, :hot_n - 1)) % :hot_n
\set x :other_cold_lo + random(0, :cold_n - 1)
\set amt random(1, 3000)
\set large random(10000, 40000)
\set topup random(1000, 5000)
\set key random(1, 2000)
\set variant random(0, 3)
\set kind random(1, 100)
\if :kind <= 30
SELECT stress.try_transfer('cold', :a, :b, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 40
SELECT stress.try_transfer('cold-to-hot', :a, :h, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 50
SELECT stress.try_transfer('hot-to-cold', :h, :a, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 55
SELECT stress.try_transfer('hot-to-hot', :h, :h2, :amt::numeric * 10 * :mult + :dust, NULL);
\elif :kind <= 60
SELECT stress.try_transfer('large', :a, :b, :large::numeric * :mult + :dust, NULL);
\elif :kind <= 64
SELECT stress.try_transfer('overdraft', :a, :b, 1000000000000::numeric * :mult + :dust, NULL);
\elif :kind <= 68
SELECT stress.try_transfer('cross-asset', :a, :x, :amt::numeric * :mult, NULL);
\elif :kind <= 70
SELECT stress.try_transfer('closed', :a, :closed, :amt::numeric * :mult, NULL);
\elif :kind <= 77
SELECT stress.try_transfer('top-up', :fund, :a, :topup::numeric * :mult + :dust, NULL);
\elif :kind <= 95
\set kdebit :cold_lo + (:key * 7 + case when :variant = 0 then 1 else 0 end) % :cold_n
\set kcredit :hot_lo + (:key + case when :variant = 0 then 1 else 0 end) % :hot_n
\set kamt :key * 10 + case when :variant = 1 then 1 else 0 end
SELECT stress.try_transfer('keyed', :kdebit, :kcredit, :kamt::numeric * :mult + :asset * :key, 'key-' || :asset || '-' || :key);
\else
\set pair random(0, 1)
SELECT stress.try_transfer('race', :hot_lo + :pair, :cold_lo + 1 + :pair, 100::numeric * :mult, 'race-' || floor(extract(epoch FROM clock_timestamp()) * 200)::bigint);
\endif
PGBENCH
cp "$WORK/body.sql" "$WORK/read_committed.sql"
{
	echo "BEGIN ISOLATION LEVEL REPEATABLE READ;"
	cat "$WORK/body.sql"
	echo "COMMIT;"
} >"$WORK/repeatable_read.sql"

deadlocks() {
	psql_db -At -c "SELECT deadlocks FROM pg_catalog.pg_stat_database WHERE datname = current_database()"
}
deadlocks_before=$(deadlocks)

started=$(date +%s)
if ! "$PG_BIN/pgbench" -n -c "$CLIENTS" -j 2 -T "$SECONDS_TO_RUN" --random-seed="$SEED" \
	"${defines[@]}" -f "$WORK/read_committed.sql@9" -f "$WORK/repeatable_read.sql@1" \
	"$DB" >"$WORK/pgbench.log" 2>&1; then
	cat "$WORK/pgbench.log" >&2
	echo "FAIL: pgbench reported an error (a client aborted on an unexpected error)" >&2
	exit 1
fi
if grep -qiE 'aborted|error' "$WORK/pgbench.log"; then
	cat "$WORK/pgbench.log" >&2
	echo "FAIL: pgbench output mentions an error" >&2
	exit 1
fi
elapsed=$(($(date +%s) - started))
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.log")

# The clients' backends flush their statistics as they exit: wait for them
# to be gone, and a little more, before reading the deadlock counter.
for _ in $(seq 1 60); do
	others=$(psql_db -At -c "SELECT count(*) FROM pg_catalog.pg_stat_activity
	                         WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()")
	[ "$others" -eq 0 ] && break
	sleep 0.5
done
sleep 1
deadlocks_after=$(deadlocks)

# ---------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------
CHECKS="check_asset_balanced check_account_sums check_account_versions check_last_balance
check_balance_chain check_hash_chain check_limits check_transfer_entries check_idempotency_keys
check_outcomes check_returned_ids"

failed=0
for check in $CHECKS; do
	rows=$(psql_db -At -c "SELECT count(*) FROM stress.$check")
	if [ "$rows" -ne 0 ]; then
		echo "FAIL: $check: $rows offending rows (first 20):" >&2
		psql_db -c "SELECT * FROM stress.$check LIMIT 20" >&2
		failed=1
	fi
done
if [ "$deadlocks_after" -ne "$deadlocks_before" ]; then
	echo "FAIL: pg_stat_database.deadlocks went from $deadlocks_before to $deadlocks_after" >&2
	failed=1
fi

# Self-test: each corruption, made with the guard triggers off and rolled
# back, must make its check report rows.
if [ "${STRESS_SELFTEST:-0}" = 1 ] && [ "$failed" -eq 0 ]; then
	selftest() {
		local check=$1 corruption=$2 rows
		rows=$(psql_db -At <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;
$corruption;
SELECT count(*) FROM stress.$check;
ROLLBACK;
SQL
)
		if [ "$rows" -eq 0 ]; then
			echo "FAIL: self-test: $check did not notice: $corruption" >&2
			failed=1
		else
			echo "self-test: $check noticed $rows rows after: $corruption"
		fi
	}
	cold="(SELECT id FROM ledger.accounts WHERE name = 'USD:cold:1')"
	selftest check_asset_balanced "UPDATE ledger.accounts SET credits_posted = credits_posted::numeric + 1 WHERE id = $cold"
	selftest check_account_sums "UPDATE ledger.accounts SET credits_posted = credits_posted::numeric + 1 WHERE id = $cold"
	selftest check_account_versions "UPDATE ledger.accounts SET version = version + 1 WHERE id = $cold"
	selftest check_last_balance "UPDATE ledger.entries SET balance_after = balance_after::numeric + 1 WHERE id = (SELECT max(id) FROM ledger.entries)"
	selftest check_balance_chain "UPDATE ledger.entries SET balance_after = balance_after::numeric + 1 WHERE id = (SELECT min(id) FROM ledger.entries)"
	selftest check_hash_chain "UPDATE ledger.entries SET amount = amount::numeric + 1 WHERE id = (SELECT min(id) FROM ledger.entries)"
	selftest check_hash_chain "UPDATE ledger.accounts SET entry_hash = sha256('x') WHERE id = $cold"
	selftest check_limits "UPDATE ledger.accounts SET min_balance = '100000000000' WHERE id = $cold"
	selftest check_transfer_entries "DELETE FROM ledger.entries WHERE id = (SELECT max(id) FROM ledger.entries)"
	selftest check_account_versions "DELETE FROM ledger.entries WHERE id = (SELECT min(id) FROM ledger.entries)"
	selftest check_idempotency_keys "ALTER TABLE ledger.transfers DROP CONSTRAINT transfers_idempotency_key_key; INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, idempotency_key, description, metadata, created_at) SELECT nextval('ledger.transfers_id_seq'), debit_account_id, credit_account_id, amount, idempotency_key, description, metadata, created_at FROM ledger.transfers WHERE idempotency_key IS NOT NULL LIMIT 1"
	selftest check_outcomes "INSERT INTO stress.outcomes VALUES ('cross-asset', 'read committed', NULL, false, 'ok', NULL)"
	selftest check_returned_ids "DELETE FROM stress.outcomes WHERE transfer_id = (SELECT max(id) FROM ledger.transfers)"
fi

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
echo "transfers.sh: seed $SEED, $CLIENTS clients for ${elapsed}s, $processed pgbench transactions"
psql_db -At -F ' ' <<'SQL'
SELECT 'accounts: ' || count(*) || ' (' || count(*) FILTER (WHERE max_balance IS NOT NULL)
       || ' with a maximum, ' || count(*) FILTER (WHERE min_balance IS NULL OR min_balance::numeric < 0)
       || ' allowed below zero, ' || count(*) FILTER (WHERE closed) || ' closed)'
  FROM ledger.accounts;
SELECT 'transfers: ' || count(*) || ' (' || count(*) FILTER (WHERE id > (SELECT last_transfer_id FROM stress.setup))
       || ' during the run, ' || count(idempotency_key) || ' with a key), entries: '
       || (SELECT count(*) FROM ledger.entries)
  FROM ledger.transfers;
SELECT 'largest ETH balance: ' || max(posted::numeric) || ' wei' FROM ledger.account_balances WHERE asset = 'ETH';
SELECT 'outcomes: ' || string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC)
  FROM (SELECT outcome, count(*) AS n FROM stress.outcomes GROUP BY outcome) AS o;
SELECT 'keyed calls that found their key unused, then got a concurrent call''s transfer: '
       || (SELECT count(*) FROM stress.outcomes WHERE outcome = 'ok' AND idem_key IS NOT NULL)
          - (SELECT count(*) FROM ledger.transfers, stress.setup
              WHERE id > last_transfer_id AND idempotency_key IS NOT NULL);
SQL
echo "deadlocks: $deadlocks_before before, $deadlocks_after after"
if [ "$failed" -ne 0 ]; then
	echo "transfers.sh: FAILED" >&2
	exit 1
fi
echo "transfers.sh: all checks passed: debits = credits per asset; account sums, versions, last and chained balances and the hash chain agree with entries; limits hold; two matching entries per transfer; keys unique and replays return the key's transfer; every call ended as its kind allows; no deadlock"
