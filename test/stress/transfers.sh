#!/usr/bin/env bash
# test/stress/transfers.sh - many concurrent transfers, holds, batches and
# reversals, then the ledger's invariants.
#
# Builds two assets (USD scale 2, ETH scale 18, whose amounts pass the 64-bit
# range), each with a debit-normal funding account, a few hot accounts that
# most clients touch, many cold accounts (some with a maximum balance, some
# allowed an overdraft), and a closed account.  Then pgbench runs 8 clients
# that mix:
#  - ordinary transfers, transfers to and from the hot accounts, overdrafts,
#    transfers between assets and to the closed account, and calls with
#    idempotency keys that are replayed, sometimes with the same arguments
#    and sometimes with different ones (on other accounts, so that two first
#    uses of a key can race to insert it: "race-" keys are shared by all
#    calls in the same 5 ms);
#  - holds without expiry, holds expiring within the run (or already
#    expired), keyed holds replayed and conflicting, racing hold keys, holds
#    beyond the available balance or the maximum;
#  - full, partial, keyed and excessive captures and releases of holds
#    picked among the last few placed, so that clients race for the same
#    hold, and expire_holds() now and then;
#  - batches of 2-20 transfers, some replaying the keyed transfers' keys,
#    some racing batches on other accounts for new keys, some made to fail
#    as a whole by one bad item whose position the error's CONTEXT must
#    name;
#  - full, partial, keyed and excessive reversals of recent transfers, and of
#    transfers that do not exist.
# One transaction in ten runs at REPEATABLE READ.  Each call goes through a
# stress.try_* function, which catches only the rejections the ledger is
# expected to raise, checks what a success returned, and records every
# outcome, so any other error aborts a pgbench client and fails the run.
# A ninth client ANALYZEs the ledger's tables in a loop meanwhile, so that
# their relation cache entries are rebuilt in the middle of calls.
#
# Afterwards one expire_holds() call releases every hold past its expiry,
# and every invariant is checked in SQL: each check is a view in schema
# "stress" that lists the offending rows, so a failure prints them.  The
# last check is ledger.verify(), which must report nothing.
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
echo "transfers.sh: seed $SEED (replay with STRESS_SEED=$SEED)"
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
                                              ELSE 1 + floor(random() * 20000)::numeric END
                                + floor(random() * (s.dust_max + 1))::numeric)::ledger.amount,
                               NULL, 'opening balance')
          FROM ledger.accounts AS a
          JOIN stress.assets AS s ON s.asset = a.asset
          JOIN ledger.accounts AS f ON f.name = a.asset || ':fund'
         WHERE a.name LIKE '%:hot:%' OR a.name LIKE '%:cold:%'
         ORDER BY a.id) AS opening;

-- Each class of accounts per asset is a contiguous range of ids.
CREATE TABLE stress.classes AS
SELECT asset, split_part(name, ':', 2) AS class, min(id) AS lo, count(*) AS n,
       max(id) - min(id) + 1 = count(*) AS contiguous
  FROM ledger.accounts
 GROUP BY asset, split_part(name, ':', 2);

-- Every call pgbench makes, and what came of it.
CREATE UNLOGGED TABLE stress.outcomes (
    kind        text NOT NULL,
    isolation   text NOT NULL,
    idem_key    text,
    had_prior   boolean NOT NULL,       -- the key named a transfer (a hold) before the call
    outcome     text NOT NULL,
    transfer_id bigint,                 -- the transfer returned
    hold_id     bigint,                 -- the hold returned
    created     boolean,                -- that transfer or hold is this call's, not a concurrent one's
    target_id   bigint,                 -- the hold captured or released, the transfer reversed
    batch_ids   bigint[],               -- a batch's transfers, in item order
    batch_keys  text[],                 -- and its items' keys
    n_items     integer,                -- items in a batch; holds expire_holds() released
    item        integer,                -- the batch item a rejection's CONTEXT names; for
                                        -- expire_holds(), expired holds still reserved on one side
    bad_item    integer                 -- the item made to fail
);

-- The ids the set-up's last transfer and hold got: later ones are the run's.
CREATE TABLE stress.setup AS
SELECT (SELECT max(id) FROM ledger.transfers) AS last_transfer_id,
       (SELECT coalesce(max(id), 0) FROM ledger.hold_records) AS last_hold_id;

-- When the final expire_holds() started: every hold that expired by then
-- must be resolved afterwards.  'infinity' until it has run.
CREATE TABLE stress.final_sweep (started_at timestamptz NOT NULL, expired integer);
INSERT INTO stress.final_sweep VALUES ('infinity', NULL);

-- Did this session's last nextval() of a sequence return id, i.e. did the
-- call just made insert the row rather than find a concurrent call's?
CREATE FUNCTION stress.made_here(p_seq regclass, p_id bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RETURN pg_catalog.currval(p_seq) = p_id;
EXCEPTION
    WHEN object_not_in_prerequisite_state THEN
        RETURN false;
END
$$;

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
    INSERT INTO stress.outcomes (kind, isolation, idem_key, had_prior, outcome, transfer_id, created)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), p_key,
            v_prior IS NOT NULL, v_outcome, v_id,
            v_id IS NOT NULL AND stress.made_here('ledger.transfers_id_seq', v_id));
END
$$;

-- try_hold - call ledger.hold and record the outcome.  A success must
-- return a hold with these arguments (a replay keeps the first call's
-- expiry, which is not compared); a new hold without a key is pending
-- and reserved on both sides; a key already in use returns its hold.  An
-- expiry may be refused as not in the future only once it has passed.
CREATE FUNCTION stress.try_hold(p_kind text, p_debit bigint, p_credit bigint,
                                p_amount numeric, p_expires timestamptz, p_key text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_prior bigint;
    v_id bigint;
    v_outcome text;
    v_meta jsonb := CASE WHEN p_key IS NOT NULL
                         THEN pg_catalog.jsonb_build_object('key', p_key) END;
    h record;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT hr.id INTO v_prior FROM ledger.hold_records AS hr WHERE hr.idempotency_key = p_key;
    END IF;
    BEGIN
        v_id := ledger.hold(p_debit, p_credit, p_amount::ledger.amount, p_expires, p_key,
                            p_kind, v_meta);
        SELECT * INTO h FROM ledger.hold_records AS hr WHERE hr.id = v_id;
        IF NOT FOUND THEN
            v_outcome := 'returned a hold that does not exist';
        ELSIF (h.debit_account_id, h.credit_account_id, h.amount::numeric,
               h.idempotency_key, h.description, h.metadata)
              IS DISTINCT FROM (p_debit, p_credit, p_amount, p_key, p_kind, v_meta)
              OR (v_prior IS NULL AND h.expires_at IS DISTINCT FROM p_expires) THEN
            v_outcome := 'returned a hold with other arguments';
        ELSIF v_prior IS NOT NULL AND v_prior <> v_id THEN
            v_outcome := 'replay returned another hold than the key''s';
        ELSIF p_key IS NULL
              AND (h.status <> 'pending' OR NOT h.debit_reserved OR NOT h.credit_reserved
                   OR h.resolved_at IS NOT NULL) THEN
            v_outcome := 'a new hold is not pending and reserved';
        ELSE
            v_outcome := CASE WHEN v_prior IS NULL THEN 'ok' ELSE 'replay' END;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG101' OR SQLSTATE 'LG102' OR SQLSTATE 'LG103'
          OR SQLSTATE 'LG104' OR SQLSTATE 'LG012' OR SQLSTATE 'LG015'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
            v_id := NULL;
            IF v_outcome = 'LG015' AND (p_expires IS NULL OR p_expires > pg_catalog.clock_timestamp()) THEN
                v_outcome := 'LG015 for an expiry still in the future';
            END IF;
    END;
    INSERT INTO stress.outcomes (kind, isolation, idem_key, had_prior, outcome, hold_id, created)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), p_key,
            v_prior IS NOT NULL, v_outcome, v_id,
            v_id IS NOT NULL AND stress.made_here('ledger.hold_records_id_seq', v_id));
END
$$;

-- try_capture - capture one of the holds placed last (p_back before the
-- newest id, which may not exist or be committed yet): in full when p_pct
-- is NULL, else p_pct percent of it; p_over asks for more than the hold.
-- Keyed captures (p_keyed) use the key "cap-<hold>", in full or in part,
-- so replays and conflicting reuses of the key race each other.  A success
-- must return the hold's transfer, and leave the hold captured with
-- nothing reserved.
CREATE FUNCTION stress.try_capture(p_kind text, p_back bigint, p_pct integer,
                                   p_over boolean, p_keyed boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_hold bigint := (SELECT last_value FROM ledger.hold_records_id_seq) - p_back;
    v_hold_amount numeric := (SELECT amount::numeric FROM ledger.hold_records WHERE id = v_hold);
    v_amount numeric;
    v_key text;
    v_prior bigint;
    v_id bigint;
    v_outcome text;
    t record;
    h record;
BEGIN
    v_amount := CASE WHEN p_over THEN coalesce(v_hold_amount + 1, 1e30)
                     WHEN p_pct IS NOT NULL THEN greatest(1, floor(v_hold_amount * p_pct / 100))
                END;
    IF p_keyed THEN
        v_key := 'cap-' || v_hold;
        SELECT tr.id INTO v_prior FROM ledger.transfers AS tr WHERE tr.idempotency_key = v_key;
    END IF;
    BEGIN
        v_id := ledger.capture(v_hold, v_amount::ledger.amount, v_key);
        SELECT * INTO t FROM ledger.transfers AS tr WHERE tr.id = v_id;
        SELECT * INTO h FROM ledger.hold_records AS hr WHERE hr.id = v_hold;
        IF t.id IS NULL OR h.id IS NULL THEN
            v_outcome := 'returned a transfer or captured a hold that does not exist';
        ELSIF (t.hold_id, t.debit_account_id, t.credit_account_id, t.amount::numeric,
               t.idempotency_key, t.description, t.metadata, t.reverses_transfer_id)
              IS DISTINCT FROM (v_hold, h.debit_account_id, h.credit_account_id,
                                coalesce(v_amount, h.amount::numeric), v_key, h.description,
                                h.metadata, NULL::bigint) THEN
            v_outcome := 'returned a transfer that is not this capture of the hold';
        ELSIF (h.status, h.capture_transfer_id, h.captured_amount::numeric, h.debit_reserved,
               h.credit_reserved, h.resolved_at IS NOT NULL)
              IS DISTINCT FROM ('captured', v_id, t.amount::numeric, false, false, true) THEN
            v_outcome := 'left the hold not captured by the transfer it returned';
        ELSIF v_prior IS NOT NULL AND v_prior <> v_id THEN
            v_outcome := 'replay returned another transfer than the key''s';
        ELSE
            v_outcome := CASE WHEN v_prior IS NULL THEN 'ok' ELSE 'replay' END;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG103' OR SQLSTATE 'LG104' OR SQLSTATE 'LG012'
          OR SQLSTATE 'LG201' OR SQLSTATE 'LG202' OR SQLSTATE 'LG203'
          OR SQLSTATE 'LG204' OR SQLSTATE 'LG205'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
            v_id := NULL;
    END;
    INSERT INTO stress.outcomes (kind, isolation, idem_key, had_prior, outcome, transfer_id,
                                 created, target_id)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), v_key,
            v_prior IS NOT NULL, v_outcome, v_id,
            v_id IS NOT NULL AND stress.made_here('ledger.transfers_id_seq', v_id), v_hold);
END
$$;

-- try_release - release one of the holds placed last; a success leaves it
-- released with nothing reserved.
CREATE FUNCTION stress.try_release(p_kind text, p_back bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_hold bigint := (SELECT last_value FROM ledger.hold_records_id_seq) - p_back;
    v_outcome text;
    h record;
BEGIN
    BEGIN
        PERFORM ledger.release(v_hold);
        SELECT * INTO h FROM ledger.hold_records AS hr WHERE hr.id = v_hold;
        IF (h.status, h.debit_reserved, h.credit_reserved, h.resolved_at IS NOT NULL,
            h.capture_transfer_id, h.captured_amount::numeric)
           IS DISTINCT FROM ('released', false, false, true, NULL::bigint, NULL::numeric) THEN
            v_outcome := 'left the hold not released';
        ELSE
            v_outcome := 'ok';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG201' OR SQLSTATE 'LG202' OR SQLSTATE 'LG203' OR SQLSTATE 'LG204'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
    END;
    INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome, target_id)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), false, v_outcome, v_hold);
END
$$;

-- try_expire - release expired holds: up to 50 chosen, and any others due
-- on the accounts they lock.  Notes first how many expired holds lazy
-- expiry has so far released on one side only.
CREATE FUNCTION stress.try_expire(p_kind text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
    v_outcome text;
    v_half integer := (SELECT count(*) FROM ledger.hold_records
                        WHERE (debit_reserved OR credit_reserved) AND status = 'expired');
BEGIN
    BEGIN
        v_n := ledger.expire_holds(50);
        v_outcome := CASE WHEN v_n >= 0 THEN 'ok'
                          ELSE 'expired ' || coalesce(v_n::text, 'NULL') || ' holds' END;
    EXCEPTION
        WHEN SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
    END;
    INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome, n_items, item)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), false, v_outcome, v_n, v_half);
END
$$;

-- try_batch - call ledger.transfer_batch with p_n items drawn from
-- random() seeded with p_seed, in one asset (0 USD, 1 ETH): cold to cold,
-- cold to hot, hot to cold and top-ups.  "batch-keyed" makes some items
-- keyed transfers of the "keyed" kind (same keys, accounts and amounts, so
-- they replay, conflict with and race against those) and repeats some
-- items whole; "batch-race" has up to 6 items between random cold accounts
-- with the keys "brace-<20 ms slot>-<1..6>" in random order, so that
-- batches on other accounts race to insert the same new keys; the
-- "batch-overdraft", "batch-cross-asset" and "batch-closed" kinds make
-- item p_bad fail.  A success must return one id per item, each a
-- transfer with the item's arguments, new ones in item order; a
-- rejection's CONTEXT must name an item, and its message one of that
-- item's accounts (or its key).
CREATE FUNCTION stress.try_batch(p_kind text, p_asset integer, p_n integer,
                                 p_seed double precision, p_bad integer)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_asset text := CASE p_asset WHEN 0 THEN 'USD' ELSE 'ETH' END;
    v_other text := CASE p_asset WHEN 0 THEN 'ETH' ELSE 'USD' END;
    s record;
    v_cold record;
    v_other_cold record;
    v_hot record;
    v_fund bigint;
    v_closed bigint;
    v_items ledger.transfer_request[] := '{}';
    v_prior bigint[] := '{}';
    v_keys text[] := '{}';
    v_ids bigint[];
    v_outcome text;
    v_item integer;
    v_msg text;
    v_ctx text;
    v_last bigint := 0;
    r ledger.transfer_request;
    t record;
    a bigint;
    b bigint;
    h bigint;
    k integer;
    v integer;
    x double precision;
    v_dust numeric;
    v_slot bigint := floor(extract(epoch FROM pg_catalog.clock_timestamp()) * 50)::bigint;
    v_order integer[];
    v_n integer := CASE WHEN p_kind = 'batch-race' THEN least(p_n, 6) ELSE p_n END;
BEGIN
    PERFORM pg_catalog.setseed(p_seed);
    SELECT array_agg(j ORDER BY random()) INTO v_order FROM generate_series(1, 6) AS j;
    SELECT * INTO s FROM stress.assets WHERE asset = v_asset;
    SELECT * INTO v_cold FROM stress.classes WHERE asset = v_asset AND class = 'cold';
    SELECT * INTO v_other_cold FROM stress.classes WHERE asset = v_other AND class = 'cold';
    SELECT * INTO v_hot FROM stress.classes WHERE asset = v_asset AND class = 'hot';
    SELECT lo INTO v_fund FROM stress.classes WHERE asset = v_asset AND class = 'fund';
    SELECT lo INTO v_closed FROM stress.classes WHERE asset = v_asset AND class = 'closed';

    FOR i IN 1..v_n LOOP
        a := v_cold.lo + floor(random() * v_cold.n)::bigint;
        b := v_cold.lo + (a - v_cold.lo + 1 + floor(random() * (v_cold.n - 1))::bigint) % v_cold.n;
        h := v_hot.lo + floor(random() * v_hot.n)::bigint;
        v_dust := floor(random() * (s.dust_max + 1))::bigint;
        x := random();
        IF i = p_bad AND p_kind = 'batch-overdraft' THEN
            r := ROW(a, b, (1000000000000 * s.mult + v_dust)::ledger.amount, NULL, p_kind, NULL);
        ELSIF i = p_bad AND p_kind = 'batch-cross-asset' THEN
            r := ROW(a, v_other_cold.lo + floor(random() * v_other_cold.n)::bigint,
                     ((1 + floor(random() * 3000)::bigint) * s.mult)::ledger.amount, NULL, p_kind, NULL);
        ELSIF i = p_bad AND p_kind = 'batch-closed' THEN
            r := ROW(a, v_closed, ((1 + floor(random() * 3000)::bigint) * s.mult)::ledger.amount,
                     NULL, p_kind, NULL);
        ELSIF p_kind = 'batch-race' THEN
            r := ROW(a, b, ((1 + floor(random() * 100)::bigint) * s.mult + v_dust)::ledger.amount,
                     'brace-' || v_slot || '-' || v_order[i], p_kind, NULL);
        ELSIF p_kind = 'batch-keyed' AND i > 1 AND x < 0.1 THEN
            -- The same request again, key and all.
            r := v_items[1 + floor(random() * (i - 1))::integer];
        ELSIF p_kind = 'batch-keyed' AND x < 0.4 THEN
            -- A transfer of the "keyed" kind, as the pgbench script makes it,
            -- among its first 200 keys (small enough amounts to pass often),
            -- mostly with the arguments most of its calls use.
            k := 1 + floor(random() * 200)::integer;
            v := CASE WHEN random() < 0.1 THEN floor(random() * 4)::integer ELSE 3 END;
            r := ROW(v_cold.lo + (k * 7 + CASE WHEN v = 0 THEN 1 ELSE 0 END) % v_cold.n,
                     v_hot.lo + (k + CASE WHEN v = 0 THEN 1 ELSE 0 END) % v_hot.n,
                     ((k * 10 + CASE WHEN v = 1 THEN 1 ELSE 0 END) * s.mult + p_asset * k)::ledger.amount,
                     'key-' || p_asset || '-' || k, 'keyed',
                     pg_catalog.jsonb_build_object('key', 'key-' || p_asset || '-' || k));
        ELSIF x < 0.6 THEN
            r := ROW(a, b, ((1 + floor(random() * 3000)::bigint) * s.mult + v_dust)::ledger.amount,
                     NULL, p_kind, NULL);
        ELSIF x < 0.75 THEN
            r := ROW(a, h, ((1 + floor(random() * 3000)::bigint) * s.mult + v_dust)::ledger.amount,
                     NULL, p_kind, NULL);
        ELSIF x < 0.9 THEN
            r := ROW(h, a, ((1 + floor(random() * 3000)::bigint) * s.mult + v_dust)::ledger.amount,
                     NULL, p_kind, NULL);
        ELSE
            r := ROW(v_fund, a, ((1000 + floor(random() * 4001)::bigint) * s.mult + v_dust)::ledger.amount,
                     NULL, p_kind, pg_catalog.jsonb_build_object('item', i));
        END IF;
        v_items := v_items || r;
        v_keys := v_keys || r.idempotency_key;
        v_prior := v_prior || (SELECT tr.id FROM ledger.transfers AS tr
                                WHERE tr.idempotency_key = r.idempotency_key);
    END LOOP;

    BEGIN
        v_ids := ledger.transfer_batch(v_items);
        IF coalesce(pg_catalog.array_length(v_ids, 1), 0) <> v_n THEN
            v_outcome := 'returned ' || coalesce(pg_catalog.array_length(v_ids, 1), 0)
                         || ' ids for ' || v_n || ' items';
        ELSE
            v_outcome := 'ok';
            FOR i IN 1..v_n LOOP
                r := v_items[i];
                SELECT * INTO t FROM ledger.transfers AS tr WHERE tr.id = v_ids[i];
                IF NOT FOUND THEN
                    v_outcome := 'item ' || i || ' returned a transfer that does not exist';
                ELSIF (t.debit_account_id, t.credit_account_id, t.amount::numeric,
                       t.idempotency_key, t.description, t.metadata, t.hold_id,
                       t.reverses_transfer_id)
                      IS DISTINCT FROM (r.debit_account_id, r.credit_account_id,
                                        r.amount::numeric, r.idempotency_key, r.description,
                                        r.metadata, NULL::bigint, NULL::bigint) THEN
                    v_outcome := 'item ' || i || ' returned a transfer with other arguments';
                ELSIF v_prior[i] IS NOT NULL AND v_prior[i] <> v_ids[i] THEN
                    v_outcome := 'item ' || i || ' replay returned another transfer than the key''s';
                ELSIF r.idempotency_key IS NULL AND v_ids[i] <= v_last THEN
                    v_outcome := 'item ' || i || ' got an id not after the previous new item''s';
                END IF;
                EXIT WHEN v_outcome <> 'ok';
                IF r.idempotency_key IS NULL THEN
                    v_last := v_ids[i];
                END IF;
            END LOOP;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG101' OR SQLSTATE 'LG102' OR SQLSTATE 'LG103'
          OR SQLSTATE 'LG104' OR SQLSTATE 'LG012'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_ctx = PG_EXCEPTION_CONTEXT;
            v_outcome := SQLSTATE;
            v_ids := NULL;
            v_item := substring(v_ctx FROM 'transfer_batch item ([0-9]+)')::integer;
            IF v_outcome LIKE 'LG%' THEN
                r := v_items[v_item];
                IF v_item IS NULL OR v_item NOT BETWEEN 1 AND v_n THEN
                    v_outcome := v_outcome || ' without an item in its context';
                ELSIF v_outcome = 'LG012' AND position('"' || r.idempotency_key || '"' IN v_msg) = 0 THEN
                    v_outcome := v_outcome || ' naming another item than its context';
                ELSIF v_outcome = 'LG101'
                      AND v_msg NOT LIKE 'accounts ' || r.debit_account_id || ' and '
                                         || r.credit_account_id || ' %' THEN
                    v_outcome := v_outcome || ' naming another item than its context';
                ELSIF v_outcome IN ('LG102', 'LG103', 'LG104')
                      AND substring(v_msg FROM '^account ([0-9]+) ')::bigint
                          NOT IN (r.debit_account_id, r.credit_account_id) THEN
                    v_outcome := v_outcome || ' naming another item than its context';
                END IF;
            END IF;
    END;
    INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome, batch_ids, batch_keys,
                                 n_items, item, bad_item)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'),
            EXISTS (SELECT FROM pg_catalog.unnest(v_prior) AS p WHERE p IS NOT NULL),
            v_outcome, v_ids, CASE WHEN v_ids IS NOT NULL THEN v_keys END, v_n, v_item,
            nullif(p_bad, 0));
END
$$;

-- try_reverse - reverse a recent transfer (p_back before the newest id,
-- which may not exist or be committed yet): in full when p_pct is NULL,
-- else p_pct percent of it; p_excess asks for one unit more than the
-- transfer.  Keyed reversals pick one of the last three multiples of 200
-- ids instead, so that they meet on the same transfers, and use the key
-- "rev-<transfer>-<variant>": variant 0 in full, 1 half, 2 a third under
-- variant 1's key (a conflict), 3 p_pct percent.  A success must return a
-- transfer from the original's credit account to its debit account that
-- points back at it.
CREATE FUNCTION stress.try_reverse(p_kind text, p_back bigint, p_pct integer,
                                   p_excess boolean, p_key_variant integer)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint := (SELECT last_value FROM ledger.transfers_id_seq);
    v_target bigint := CASE WHEN p_key_variant IS NULL THEN v_last - p_back
                            ELSE (v_last / 200 - p_back % 3) * 200 END;
    v_original numeric := (SELECT amount::numeric FROM ledger.transfers WHERE id = v_target);
    v_amount numeric;
    v_key text;
    v_prior bigint;
    v_id bigint;
    v_outcome text;
    t record;
    o record;
BEGIN
    v_amount := CASE WHEN p_excess THEN coalesce(v_original + 1, 1e30)
                     WHEN p_key_variant = 0 THEN NULL
                     WHEN p_key_variant = 1 THEN greatest(1, floor(v_original / 2))
                     WHEN p_key_variant = 2 THEN greatest(1, floor(v_original / 3))
                     WHEN p_pct IS NOT NULL THEN greatest(1, floor(v_original * p_pct / 100))
                END;
    IF p_key_variant IS NOT NULL THEN
        v_key := 'rev-' || v_target || '-' || CASE WHEN p_key_variant = 2 THEN 1 ELSE p_key_variant END;
        SELECT tr.id INTO v_prior FROM ledger.transfers AS tr WHERE tr.idempotency_key = v_key;
    END IF;
    BEGIN
        v_id := ledger.reverse(v_target, v_amount::ledger.amount, v_key);
        SELECT * INTO t FROM ledger.transfers AS tr WHERE tr.id = v_id;
        SELECT * INTO o FROM ledger.transfers AS tr WHERE tr.id = v_target;
        IF t.id IS NULL OR o.id IS NULL THEN
            v_outcome := 'returned a transfer or reversed one that does not exist';
        ELSIF (t.reverses_transfer_id, t.debit_account_id, t.credit_account_id,
               t.idempotency_key, t.description, t.metadata, t.hold_id)
              IS DISTINCT FROM (v_target, o.credit_account_id, o.debit_account_id, v_key,
                                'reversal of transfer ' || v_target, NULL::jsonb, NULL::bigint)
              OR t.amount::numeric > o.amount::numeric
              OR (v_amount IS NOT NULL AND t.amount::numeric <> v_amount) THEN
            v_outcome := 'returned a transfer that is not this reversal';
        ELSIF v_prior IS NOT NULL AND v_prior <> v_id THEN
            v_outcome := 'replay returned another transfer than the key''s';
        ELSE
            v_outcome := CASE WHEN v_prior IS NULL THEN 'ok' ELSE 'replay' END;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'LG101' OR SQLSTATE 'LG102' OR SQLSTATE 'LG103'
          OR SQLSTATE 'LG104' OR SQLSTATE 'LG012' OR SQLSTATE 'LG017' OR SQLSTATE 'LG109'
          OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
            v_id := NULL;
    END;
    INSERT INTO stress.outcomes (kind, isolation, idem_key, had_prior, outcome, transfer_id,
                                 created, target_id)
    VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), v_key,
            v_prior IS NOT NULL, v_outcome, v_id,
            v_id IS NOT NULL AND stress.made_here('ledger.transfers_id_seq', v_id), v_target);
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

-- An idempotency key names at most one transfer, and at most one hold.
CREATE VIEW stress.check_idempotency_keys AS
SELECT 'transfers' AS kind, idempotency_key, count(*) AS n, array_agg(id ORDER BY id) AS ids
  FROM ledger.transfers
 WHERE idempotency_key IS NOT NULL
 GROUP BY idempotency_key
HAVING count(*) > 1
UNION ALL
SELECT 'holds', idempotency_key, count(*), array_agg(id ORDER BY id)
  FROM ledger.hold_records
 WHERE idempotency_key IS NOT NULL
 GROUP BY idempotency_key
HAVING count(*) > 1;

-- Each account's pending columns are the sums of the holds reserved on
-- that side of it.
CREATE VIEW stress.check_pending_sums AS
SELECT a.id, a.debits_pending, coalesce(d.reserved, 0) AS debit_holds,
       a.credits_pending, coalesce(c.reserved, 0) AS credit_holds
  FROM ledger.accounts AS a
  LEFT JOIN (SELECT debit_account_id AS id, sum(amount::numeric) AS reserved
               FROM ledger.hold_records WHERE debit_reserved
              GROUP BY debit_account_id) AS d ON d.id = a.id
  LEFT JOIN (SELECT credit_account_id AS id, sum(amount::numeric) AS reserved
               FROM ledger.hold_records WHERE credit_reserved
              GROUP BY credit_account_id) AS c ON c.id = a.id
 WHERE a.debits_pending::numeric <> coalesce(d.reserved, 0)
    OR a.credits_pending::numeric <> coalesce(c.reserved, 0);

-- An account's holds_expire_at is no later than the expiry of any hold
-- still reserved on it, or lazy expiry would miss that hold.
CREATE VIEW stress.check_expiry_marks AS
SELECT a.id, a.holds_expire_at, m.next_expiry
  FROM ledger.accounts AS a
  JOIN (SELECT id, min(expires_at) AS next_expiry
          FROM (SELECT debit_account_id AS id, expires_at FROM ledger.hold_records
                 WHERE debit_reserved AND expires_at IS NOT NULL
                UNION ALL
                SELECT credit_account_id, expires_at FROM ledger.hold_records
                 WHERE credit_reserved AND expires_at IS NOT NULL) AS r
         GROUP BY id) AS m ON m.id = a.id
 WHERE a.holds_expire_at IS NULL OR a.holds_expire_at > m.next_expiry;

-- Every hold's state agrees with itself and with the transfers: one of the
-- four statuses; a captured hold has exactly one transfer, from its debit
-- to its credit account, of its captured amount, no more than the hold; a
-- released or expired hold has none; a pending hold is reserved on both
-- sides, a captured or released one on neither, an expired one on at most
-- one (the other side waits for its account's next lock); every transfer
-- that names a hold names one that exists.
CREATE VIEW stress.check_holds AS
SELECT h.id, h.status, h.amount, h.captured_amount, h.capture_transfer_id,
       h.debit_reserved, h.credit_reserved, h.resolved_at, x.n AS transfers, p.problem
  FROM ledger.hold_records AS h
 CROSS JOIN LATERAL (SELECT count(*) AS n, min(t.id) AS id FROM ledger.transfers AS t
                      WHERE t.hold_id = h.id) AS x
  LEFT JOIN ledger.transfers AS t ON t.id = x.id
 CROSS JOIN LATERAL (VALUES
       ('unknown status', h.status NOT IN ('pending', 'captured', 'released', 'expired')),
       ('captured without exactly one transfer', h.status = 'captured' AND x.n <> 1),
       ('captured, but its transfer does not match it',
        h.status = 'captured' AND x.n = 1
        AND ((t.debit_account_id, t.credit_account_id, t.amount::numeric, t.id)
             IS DISTINCT FROM (h.debit_account_id, h.credit_account_id,
                               h.captured_amount::numeric, h.capture_transfer_id)
             OR h.captured_amount::numeric > h.amount::numeric)),
       ('not captured, yet a transfer names it', h.status <> 'captured' AND x.n > 0),
       ('not captured, yet has a capture',
        h.status <> 'captured' AND (h.captured_amount IS NOT NULL OR h.capture_transfer_id IS NOT NULL)),
       ('pending, not reserved on both sides',
        h.status = 'pending' AND NOT (h.debit_reserved AND h.credit_reserved)),
       ('captured or released, still reserved',
        h.status IN ('captured', 'released') AND (h.debit_reserved OR h.credit_reserved)),
       ('expired, reserved on both sides', h.status = 'expired' AND h.debit_reserved AND h.credit_reserved),
       ('resolution time does not match the status', (h.status = 'pending') <> (h.resolved_at IS NULL))
       ) AS p(problem, failed)
 WHERE p.failed IS NOT FALSE
UNION ALL
SELECT t.hold_id, NULL, t.amount, NULL, t.id, NULL, NULL, NULL, NULL, 'a transfer names a hold that does not exist'
  FROM ledger.transfers AS t
 WHERE t.hold_id IS NOT NULL
   AND NOT EXISTS (SELECT FROM ledger.hold_records AS h WHERE h.id = t.hold_id);

-- After the final expire_holds(): no hold that expired before it started is
-- still pending, and no expired hold is still reserved on either side.
CREATE VIEW stress.check_holds_settled AS
SELECT h.id, h.status, h.expires_at, h.debit_reserved, h.credit_reserved, f.started_at AS swept_at
  FROM ledger.hold_records AS h, stress.final_sweep AS f
 WHERE (h.status = 'pending' AND h.expires_at <= f.started_at)
    OR (h.status = 'expired' AND (h.debit_reserved OR h.credit_reserved));

-- Reversals: no transfer is reversed by more than its amount, and each
-- reversal moves money back between the original's accounts.
CREATE VIEW stress.check_reversals AS
SELECT 'reversed beyond its amount' AS problem, o.id AS transfer_id, o.amount::numeric AS amount,
       r.reversed, r.ids
  FROM ledger.transfers AS o
  JOIN (SELECT reverses_transfer_id AS id, sum(amount::numeric) AS reversed,
               array_agg(id ORDER BY id) AS ids
          FROM ledger.transfers
         WHERE reverses_transfer_id IS NOT NULL
         GROUP BY reverses_transfer_id) AS r ON r.id = o.id
 WHERE r.reversed > o.amount::numeric
UNION ALL
SELECT CASE WHEN o.id IS NULL THEN 'reverses a transfer that does not exist'
            ELSE 'accounts are not the original''s swapped' END,
       r.reverses_transfer_id, o.amount::numeric, r.amount::numeric, ARRAY[r.id]
  FROM ledger.transfers AS r
  LEFT JOIN ledger.transfers AS o ON o.id = r.reverses_transfer_id
 WHERE r.reverses_transfer_id IS NOT NULL
   AND (o.id IS NULL
        OR r.debit_account_id <> o.credit_account_id
        OR r.credit_account_id <> o.debit_account_id);

-- Every call ended as its kind allows: cross-asset transfers, overdrafts
-- beyond all the money there is, transfers to a closed account, holds
-- beyond all the money or past a maximum, excessive captures and
-- reversals, reversals of transfers that do not exist, and batches with a
-- bad item always fail with their own SQLSTATE (a batch at that item, or
-- earlier for want of funds or room); only keyed calls can conflict, and a
-- key already in use is a replay or a conflict, never a fresh check; a
-- hold is refused as expired only once its expiry has passed; resolving a
-- hold fails only because it is unknown (not yet committed) or resolved;
-- a serialization failure only at REPEATABLE READ, or for a batch whose
-- key a concurrent call committed; never a deadlock.
CREATE VIEW stress.check_outcomes AS
SELECT kind, isolation, had_prior, outcome, item, bad_item, count(*) AS calls
  FROM stress.outcomes
 WHERE NOT ((outcome = '40001' AND isolation = 'repeatable read')
            OR CASE
                   WHEN kind IN ('cold', 'cold-to-hot', 'hot-to-cold', 'hot-to-hot', 'large', 'top-up')
                       THEN outcome IN ('ok', 'LG103', 'LG104')
                   WHEN kind = 'cross-asset' THEN outcome = 'LG101'
                   WHEN kind = 'overdraft' THEN outcome = 'LG103'
                   WHEN kind = 'closed' THEN outcome = 'LG102'
                   WHEN kind IN ('keyed', 'race') AND had_prior THEN outcome IN ('replay', 'LG012')
                   WHEN kind IN ('keyed', 'race') THEN outcome IN ('ok', 'LG103', 'LG104', 'LG012')
                   WHEN kind IN ('hold', 'hold-hot') THEN outcome IN ('ok', 'LG103', 'LG104')
                   WHEN kind = 'hold-expiring' THEN outcome IN ('ok', 'LG103', 'LG104', 'LG015')
                   WHEN kind IN ('hold-keyed', 'hold-race') AND had_prior THEN outcome IN ('replay', 'LG012')
                   WHEN kind IN ('hold-keyed', 'hold-race')
                       THEN outcome IN ('ok', 'LG103', 'LG104', 'LG012', 'LG015')
                   WHEN kind = 'hold-overdraft' THEN outcome = 'LG103'
                   WHEN kind = 'hold-max' THEN outcome = 'LG104'
                   WHEN kind IN ('capture', 'capture-partial', 'release')
                       THEN outcome IN ('ok', 'LG201', 'LG202', 'LG203', 'LG204')
                   WHEN kind = 'capture-keyed' AND had_prior THEN outcome IN ('replay', 'LG012')
                   WHEN kind = 'capture-keyed'
                       THEN outcome IN ('ok', 'LG201', 'LG202', 'LG203', 'LG204', 'LG012')
                   WHEN kind = 'capture-over' THEN outcome IN ('LG201', 'LG202', 'LG203', 'LG204', 'LG205')
                   WHEN kind = 'expire' THEN outcome = 'ok'
                   WHEN kind = 'batch' THEN outcome IN ('ok', 'LG103', 'LG104')
                   WHEN kind IN ('batch-keyed', 'batch-race')
                       THEN outcome IN ('ok', 'LG103', 'LG104', 'LG012', '40001')
                   WHEN kind = 'batch-overdraft'
                       THEN (outcome = 'LG103' AND item <= bad_item) OR (outcome = 'LG104' AND item < bad_item)
                   WHEN kind = 'batch-cross-asset'
                       THEN (outcome = 'LG101' AND item = bad_item)
                            OR (outcome IN ('LG103', 'LG104') AND item < bad_item)
                   WHEN kind = 'batch-closed'
                       THEN (outcome = 'LG102' AND item = bad_item)
                            OR (outcome IN ('LG103', 'LG104') AND item < bad_item)
                   WHEN kind IN ('reverse', 'reverse-partial')
                       THEN outcome IN ('ok', 'LG017', 'LG109', 'LG103', 'LG104')
                   WHEN kind = 'reverse-keyed' AND had_prior THEN outcome IN ('replay', 'LG012')
                   WHEN kind = 'reverse-keyed'
                       THEN outcome IN ('ok', 'LG017', 'LG109', 'LG103', 'LG104', 'LG012')
                   WHEN kind = 'reverse-excess' THEN outcome IN ('LG017', 'LG109')
                   WHEN kind = 'reverse-unknown' THEN outcome = 'LG017'
                   ELSE false
               END IS TRUE)
 GROUP BY kind, isolation, had_prior, outcome, item, bad_item;

-- Every transfer id returned to a caller, with the key it was asked with.
CREATE VIEW stress.returned AS
SELECT transfer_id, idem_key
  FROM stress.outcomes
 WHERE transfer_id IS NOT NULL
UNION ALL
SELECT u.transfer_id, u.idem_key
  FROM stress.outcomes AS o,
       LATERAL unnest(o.batch_ids, o.batch_keys) AS u(transfer_id, idem_key)
 WHERE o.batch_ids IS NOT NULL;

-- Every transfer and hold the run made was returned to a caller; one
-- without a key to exactly one call (a batch returns each of its new
-- transfers once); all successful calls with one key got one transfer (or
-- one hold).
CREATE VIEW stress.check_returned_ids AS
SELECT 'never returned' AS problem, t.id AS transfer_id, NULL::bigint AS hold_id,
       t.idempotency_key AS idem_key
  FROM ledger.transfers AS t, stress.setup AS s
 WHERE t.id > s.last_transfer_id
   AND NOT EXISTS (SELECT FROM stress.returned AS r WHERE r.transfer_id = t.id)
UNION ALL
SELECT 'returned to several calls without a key', transfer_id, NULL, NULL
  FROM stress.returned
 WHERE idem_key IS NULL
 GROUP BY transfer_id
HAVING count(*) > 1
UNION ALL
SELECT 'one key, several transfers', NULL, NULL, idem_key
  FROM stress.returned
 WHERE idem_key IS NOT NULL
 GROUP BY idem_key
HAVING count(DISTINCT transfer_id) > 1
UNION ALL
SELECT 'hold never returned', NULL, h.id, h.idempotency_key
  FROM ledger.hold_records AS h, stress.setup AS s
 WHERE h.id > s.last_hold_id
   AND NOT EXISTS (SELECT FROM stress.outcomes AS o WHERE o.hold_id = h.id)
UNION ALL
SELECT 'hold returned to several calls without a key', NULL, hold_id, NULL
  FROM stress.outcomes
 WHERE idem_key IS NULL AND hold_id IS NOT NULL
 GROUP BY hold_id
HAVING count(*) > 1
UNION ALL
SELECT 'one key, several holds', NULL, NULL, idem_key
  FROM stress.outcomes
 WHERE idem_key IS NOT NULL AND hold_id IS NOT NULL
 GROUP BY idem_key
HAVING count(DISTINCT hold_id) > 1;
SQL

# The id ranges pgbench draws accounts from, checked to be contiguous.
ranges=$(psql_db -At -F ' ' -c "SELECT lower(asset) || '_' || class, lo, n, contiguous FROM stress.classes ORDER BY 1")
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
\set back random(0, 20)
\set rback random(0, 300)
\set pct random(1, 99)
\set exp_ms random(-5, 3000)
\set hkey random(1, 1000)
\set maxed :cold_lo + 7 * random(1, :cold_n / 7) - 1
\set items random(2, 20)
\set bad random(1, :items)
\set bseed random(0, 999999999)
\set kind random(1, 1000)
\if :kind <= 135
SELECT stress.try_transfer('cold', :a, :b, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 185
SELECT stress.try_transfer('cold-to-hot', :a, :h, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 235
SELECT stress.try_transfer('hot-to-cold', :h, :a, :amt::numeric * :mult + :dust, NULL);
\elif :kind <= 265
SELECT stress.try_transfer('hot-to-hot', :h, :h2, :amt::numeric * 10 * :mult + :dust, NULL);
\elif :kind <= 295
SELECT stress.try_transfer('large', :a, :b, :large::numeric * :mult + :dust, NULL);
\elif :kind <= 315
SELECT stress.try_transfer('overdraft', :a, :b, 1000000000000::numeric * :mult + :dust, NULL);
\elif :kind <= 335
SELECT stress.try_transfer('cross-asset', :a, :x, :amt::numeric * :mult, NULL);
\elif :kind <= 345
SELECT stress.try_transfer('closed', :a, :closed, :amt::numeric * :mult, NULL);
\elif :kind <= 405
SELECT stress.try_transfer('top-up', :fund, :a, :topup::numeric * :mult + :dust, NULL);
\elif :kind <= 485
\set kdebit :cold_lo + (:key * 7 + case when :variant = 0 then 1 else 0 end) % :cold_n
\set kcredit :hot_lo + (:key + case when :variant = 0 then 1 else 0 end) % :hot_n
\set kamt :key * 10 + case when :variant = 1 then 1 else 0 end
SELECT stress.try_transfer('keyed', :kdebit, :kcredit, :kamt::numeric * :mult + :asset * :key, 'key-' || :asset || '-' || :key);
\elif :kind <= 505
\set pair random(0, 1)
SELECT stress.try_transfer('race', :hot_lo + :pair, :cold_lo + 1 + :pair, 100::numeric * :mult, 'race-' || floor(extract(epoch FROM clock_timestamp()) * 200)::bigint);
\elif :kind <= 545
SELECT stress.try_hold('hold', :a, :b, :amt::numeric * :mult + :dust, NULL, NULL);
\elif :kind <= 560
SELECT stress.try_hold('hold-hot', :h, :a, :amt::numeric * :mult + :dust, NULL, NULL);
\elif :kind <= 600
\set edebit case when :variant = 1 then :h else :a end
\set ecredit case when :variant = 0 then :h when :variant = 1 then :h2 else :b end
SELECT stress.try_hold('hold-expiring', :edebit, :ecredit, :amt::numeric * :mult + :dust, clock_timestamp() + :exp_ms * interval '1 millisecond', NULL);
\elif :kind <= 625
\set hdebit :cold_lo + (:hkey * 13 + case when :variant = 0 then 1 else 0 end) % :cold_n
\set hcredit :hot_lo + :hkey % :hot_n
\set hamt :hkey + case when :variant = 1 then 1 else 0 end
\set hexpiring case when :hkey % 3 = 0 then 1 else 0 end
\set hexpiring case when :variant = 2 then 1 - :hexpiring else :hexpiring end
SELECT stress.try_hold('hold-keyed', :hdebit, :hcredit, :hamt::numeric * :mult + :asset * :hkey, CASE WHEN :hexpiring = 1 THEN to_timestamp(:t0 + :hkey % 40) END, 'hold-' || :asset || '-' || :hkey);
\elif :kind <= 635
\set pair random(0, 1)
SELECT stress.try_hold('hold-race', :hot_lo + :pair, :cold_lo + 3 + :pair, 100::numeric * :mult, NULL, 'hold-race-' || floor(extract(epoch FROM clock_timestamp()) * 200)::bigint);
\elif :kind <= 640
SELECT stress.try_hold('hold-overdraft', :a, :b, 1000000000000::numeric * :mult + :dust, NULL, NULL);
\elif :kind <= 650
SELECT stress.try_hold('hold-max', :fund, :maxed, (25000 + :amt)::numeric * :mult + :dust, NULL, NULL);
\elif :kind <= 680
SELECT stress.try_capture('capture', :back, NULL, false, false);
\elif :kind <= 700
SELECT stress.try_capture('capture-partial', :back, :pct, false, false);
\elif :kind <= 720
SELECT stress.try_capture('capture-keyed', :back, CASE WHEN :variant % 2 = 1 THEN 50 END, false, true);
\elif :kind <= 730
SELECT stress.try_capture('capture-over', :back, NULL, true, false);
\elif :kind <= 770
SELECT stress.try_release('release', :back);
\elif :kind <= 775
SELECT stress.try_expire('expire');
\elif :kind <= 815
SELECT stress.try_batch('batch', :asset, :items, :bseed / 1000000000.0, 0);
\elif :kind <= 830
SELECT stress.try_batch('batch-keyed', :asset, :items, :bseed / 1000000000.0, 0);
\elif :kind <= 855
SELECT stress.try_batch('batch-race', :asset, :items, :bseed / 1000000000.0, 0);
\elif :kind <= 870
SELECT stress.try_batch(CASE :variant WHEN 2 THEN 'batch-cross-asset' WHEN 3 THEN 'batch-closed' ELSE 'batch-overdraft' END, :asset, :items, :bseed / 1000000000.0, :bad);
\elif :kind <= 910
SELECT stress.try_reverse('reverse', :rback, NULL, false, NULL);
\elif :kind <= 935
SELECT stress.try_reverse('reverse-partial', :rback, :pct, false, NULL);
\elif :kind <= 965
SELECT stress.try_reverse('reverse-keyed', :back, :pct, false, :variant);
\elif :kind <= 975
SELECT stress.try_reverse('reverse-excess', :rback, NULL, true, NULL);
\elif :kind <= 985
SELECT stress.try_reverse('reverse-unknown', -1000000000, NULL, false, NULL);
\else
SELECT stress.try_transfer('top-up', :fund, :a, :topup::numeric * :mult + :dust, NULL);
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

# Meanwhile one more client keeps rebuilding the ledger tables' relation
# cache entries under the calls: each ANALYZE commits new statistics, which
# every backend takes in at its next lock, in the middle of a call if need
# be.  What a call keeps of a table's descriptor must survive that.
cat >"$WORK/churn.sql" <<'CHURN'
ANALYZE ledger.accounts;
ANALYZE ledger.transfers;
ANALYZE ledger.entries;
ANALYZE ledger.hold_records;
CHURN
"$PG_BIN/pgbench" -n -c 1 -T "$SECONDS_TO_RUN" -f "$WORK/churn.sql" "$DB" \
	>"$WORK/churn.log" 2>&1 &
churn=$!

started=$(date +%s)
# t0: the keyed holds that expire do so at t0 plus 0 to 39 seconds.
defines+=("-D" "t0=$started")
if ! "$PG_BIN/pgbench" -n -c "$CLIENTS" -j 2 -T "$SECONDS_TO_RUN" --random-seed="$SEED" \
	"${defines[@]}" -f "$WORK/read_committed.sql@9" -f "$WORK/repeatable_read.sql@1" \
	"$DB" >"$WORK/pgbench.log" 2>&1; then
	cat "$WORK/pgbench.log" >&2
	echo "FAIL: pgbench reported an error (a client aborted on an unexpected error)" >&2
	exit 1
fi
if ! wait "$churn"; then
	cat "$WORK/churn.log" >&2
	echo "FAIL: the ANALYZE client failed" >&2
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

# What the load left to lazy expiry: holds past their expiry still pending,
# and expired holds whose other side is still reserved.  Then one call
# releases them all; check_holds_settled holds it to that.
psql_db -o /dev/null <<'SQL'
CREATE TABLE stress.before_sweep AS
SELECT count(*) FILTER (WHERE status = 'pending' AND expires_at <= pg_catalog.clock_timestamp()) AS overdue,
       count(*) FILTER (WHERE status = 'expired' AND (debit_reserved OR credit_reserved)) AS half_released
  FROM ledger.hold_records;
UPDATE stress.final_sweep SET started_at = pg_catalog.clock_timestamp();
UPDATE stress.final_sweep SET expired = ledger.expire_holds(100000);
SQL

# ---------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------
CHECKS="check_asset_balanced check_account_sums check_account_versions check_last_balance
check_balance_chain check_hash_chain check_limits check_transfer_entries check_idempotency_keys
check_pending_sums check_expiry_marks check_holds check_holds_settled check_reversals
check_outcomes check_returned_ids verify"

# check_source CHECK - what a check selects from: its view, or for "verify"
# the extension's own verification.
check_source() {
	case $1 in
	verify) echo "ledger.verify()" ;;
	*) echo "stress.$1" ;;
	esac
}

failed=0
for check in $CHECKS; do
	if ! rows=$(psql_db -At -c "SELECT count(*) FROM $(check_source "$check")"); then
		echo "FAIL: $check could not run" >&2
		failed=1
	elif [ "$rows" -ne 0 ]; then
		echo "FAIL: $check: $rows offending rows (first 20):" >&2
		psql_db -c "SELECT * FROM $(check_source "$check") LIMIT 20" >&2
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
SELECT count(*) FROM $(check_source "$check");
ROLLBACK;
SQL
) || rows=0
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
	selftest check_outcomes "INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome) VALUES ('cross-asset', 'read committed', false, 'ok')"
	selftest check_returned_ids "DELETE FROM stress.outcomes WHERE transfer_id = (SELECT max(transfer_id) FROM stress.outcomes WHERE idem_key IS NULL)"
	# Holds, batches and reversals.
	hold() { echo "(SELECT min(id) FROM ledger.hold_records WHERE status = '$1')"; }
	reversal="(SELECT max(id) FROM ledger.transfers WHERE reverses_transfer_id IS NOT NULL)"
	selftest check_pending_sums "UPDATE ledger.accounts SET debits_pending = debits_pending::numeric + 1 WHERE id = $cold"
	selftest check_pending_sums "UPDATE ledger.hold_records SET credit_reserved = false WHERE id = $(hold pending)"
	selftest check_expiry_marks "UPDATE ledger.hold_records SET expires_at = '2000-01-01' WHERE id = $(hold pending)"
	selftest check_holds "ALTER TABLE ledger.hold_records DROP CONSTRAINT hold_records_status_check; UPDATE ledger.hold_records SET status = 'lost' WHERE id = $(hold released)"
	selftest check_holds "UPDATE ledger.hold_records SET captured_amount = amount::numeric + 1 WHERE id = $(hold captured)"
	selftest check_holds "UPDATE ledger.transfers SET hold_id = NULL WHERE hold_id = $(hold captured)"
	selftest check_holds "UPDATE ledger.transfers SET hold_id = $(hold released) WHERE id = (SELECT max(id) FROM ledger.transfers)"
	selftest check_holds "UPDATE ledger.transfers SET hold_id = -1 WHERE id = (SELECT max(id) FROM ledger.transfers)"
	selftest check_holds "UPDATE ledger.hold_records SET credit_reserved = false WHERE id = $(hold pending)"
	selftest check_holds "UPDATE ledger.hold_records SET debit_reserved = true WHERE id = $(hold released)"
	selftest check_holds "UPDATE ledger.hold_records SET debit_reserved = true, credit_reserved = true WHERE id = $(hold expired)"
	selftest check_holds_settled "UPDATE ledger.hold_records SET credit_reserved = true WHERE id = $(hold expired)"
	selftest check_holds_settled "UPDATE ledger.hold_records SET status = 'pending', resolved_at = NULL WHERE id = $(hold expired)"
	selftest check_reversals "UPDATE ledger.transfers AS r SET amount = r.amount::numeric + o.amount::numeric FROM ledger.transfers AS o WHERE o.id = r.reverses_transfer_id AND r.id = $reversal"
	selftest check_reversals "UPDATE ledger.transfers SET debit_account_id = credit_account_id, credit_account_id = debit_account_id WHERE id = $reversal"
	selftest check_outcomes "INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome, item, bad_item) VALUES ('batch-closed', 'read committed', false, 'LG102', 3, 2)"
	selftest check_outcomes "INSERT INTO stress.outcomes (kind, isolation, had_prior, outcome) VALUES ('capture-over', 'read committed', false, 'ok')"
	selftest check_returned_ids "UPDATE stress.outcomes SET batch_ids = batch_ids[2:], batch_keys = batch_keys[2:] WHERE ctid = (SELECT ctid FROM stress.outcomes WHERE kind = 'batch' AND outcome = 'ok' LIMIT 1)"
	selftest check_returned_ids "DELETE FROM stress.outcomes WHERE hold_id = (SELECT max(id) FROM ledger.hold_records)"
	selftest verify "UPDATE ledger.accounts SET credits_posted = credits_posted::numeric + 1 WHERE id = $cold"
	selftest verify "UPDATE ledger.accounts SET debits_pending = debits_pending::numeric + 1 WHERE id = $cold"
	selftest verify "UPDATE ledger.entries SET amount = amount::numeric + 1 WHERE id = (SELECT min(id) FROM ledger.entries)"
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
       || count(*) FILTER (WHERE transfer_id IS NOT NULL)
       || '; hold calls likewise: ' || count(*) FILTER (WHERE hold_id IS NOT NULL)
  FROM stress.outcomes
 WHERE outcome = 'ok' AND idem_key IS NOT NULL AND NOT created;
SELECT 'holds: ' || count(*) || ' (' || count(*) FILTER (WHERE expires_at IS NOT NULL) || ' with an expiry, '
       || count(idempotency_key) || ' with a key): '
       || (SELECT string_agg(status || ' ' || n, ', ' ORDER BY n DESC)
             FROM (SELECT status, count(*) AS n FROM ledger.hold_records GROUP BY status) AS s)
       || '; captured in part: ' || count(*) FILTER (WHERE captured_amount::numeric < amount::numeric)
  FROM ledger.hold_records;
SELECT 'expire_holds() calls: ' || count(*) || ', releasing ' || coalesce(sum(n_items), 0)
       || ' holds; at most ' || coalesce(max(item), 0)
       || ' expired holds found still reserved on one side before a call'
  FROM stress.outcomes
 WHERE kind = 'expire';
SELECT 'left to lazy expiry by the load: ' || overdue || ' pending holds past their expiry, '
       || half_released || ' expired holds with one side still reserved; the final expire_holds() released '
       || (SELECT expired FROM stress.final_sweep)
  FROM stress.before_sweep;
SELECT 'batches: ' || count(*) || ' (' || count(*) FILTER (WHERE outcome = 'ok') || ' posted, '
       || coalesce(sum(cardinality(batch_ids)), 0) || ' items); reversals: '
       || (SELECT count(*) FROM ledger.transfers WHERE reverses_transfer_id IS NOT NULL) || ' of '
       || (SELECT count(DISTINCT reverses_transfer_id) FROM ledger.transfers) || ' transfers, '
       || (SELECT count(*) FROM ledger.transfers AS o
            WHERE o.amount::numeric = (SELECT sum(r.amount::numeric) FROM ledger.transfers AS r
                                        WHERE r.reverses_transfer_id = o.id)) || ' reversed in full'
  FROM stress.outcomes
 WHERE kind LIKE 'batch%';
SQL
echo "deadlocks: $deadlocks_before before, $deadlocks_after after"
if [ "$failed" -ne 0 ]; then
	echo "transfers.sh: FAILED" >&2
	exit 1
fi
echo "transfers.sh: all checks passed: debits = credits per asset; account sums, versions, last and chained balances and the hash chain agree with entries; limits hold; two matching entries per transfer; keys unique and replays return the key's transfer; pending sums and expiry marks agree with the holds; holds resolved once and consistently, none left overdue; reversals within their originals and swapped; every call ended as its kind allows; ledger.verify() finds nothing; no deadlock"
