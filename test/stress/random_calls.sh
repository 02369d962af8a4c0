#!/usr/bin/env bash
# test/stress/random_calls.sh - random calls, valid and hostile, from
# concurrent sessions; the ledger must answer each with a documented
# SQLSTATE and stay consistent.
#
# Builds a ledger of 50 accounts in two assets (USD scale 2, BTC scale 8):
# per asset a debit-normal funding account and 24 others, credit-normal
# with mixed limits (no minimum, a minimum of 0, an overdraft, a maximum)
# but for two debit-normal ones, and two of them closed.  Then 4 psql
# sessions (each with its own seed, printed; one at REPEATABLE READ) call
# the procedure rnd.drive(), which makes RANDOM_CALLS calls in all, one
# transaction each: transfer, hold, capture, release, expire_holds,
# transfer_batch, reverse, set_account_limits, close_account,
# reopen_account, balance, balance_at and statement, with random
# arguments: NULLs, zero, negative and huge amounts, amount text that is no
# number, unknown and cross-asset accounts, unknown holds and transfers,
# idempotency keys from small pools (a pooled key mostly comes with the
# arguments it stands for, so that replays happen, and otherwise with
# random ones, so that conflicts do) and malformed keys, metadata that is
# no object, expiries in the past, the near future and at infinity, and
# batches with bad items, NULL elements, two dimensions or too many items.
#
# The driver runs each call in a BEGIN ... EXCEPTION block and classifies
# what came of it.  Acceptable: success (with a sane result), any SQLSTATE
# of class LG, 22003, 22P02, 22023 (bad amount text or range), 40001 and
# 40P01.  Anything else, XX000 above all, fails the run; the offending calls
# are recorded with their arguments and the first is printed.  A keyed call
# that returned an earlier transfer or hold counts as a replay.
# Afterwards: no session lost its connection and the server log shows no
# backend terminated by a signal; every hold, capture and reversal call
# that succeeded and was no replay wrote exactly one row; every account's
# pending columns equal the holds reserved on it, before and after a sweep
# of expired holds with expire_holds(), which must leave none reserved; and
# ledger.verify() finds nothing.  A summary gives the calls by function and
# the outcomes by SQLSTATE.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them (a
# superuser); RANDOM_CALLS (default 100000) calls in all; RANDOM_SESSIONS
# (default 4, 1 to 8); RANDOM_SEED (default random, printed) from which the
# sessions' seeds derive; RANDOM_KEEP=1 keeps the database.
set -euo pipefail

DB=ledger_random
CALLS=${RANDOM_CALLS:-100000}
SESSIONS=${RANDOM_SESSIONS:-4}
SEED=${RANDOM_SEED:-$((RANDOM * 32768 + RANDOM))}
case $CALLS in '' | *[!0-9]*) echo "RANDOM_CALLS must be a number" >&2; exit 2 ;; esac
case $SESSIONS in [1-8]) ;; *) echo "RANDOM_SESSIONS must be 1 to 8" >&2; exit 2 ;; esac
echo "random_calls.sh: seed $SEED (replay the set-up and the sessions' seeds with RANDOM_SEED=$SEED)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_random.XXXXXX")

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	if [ "${RANDOM_KEEP:-0}" != 1 ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# The server log, when the server is the harness's (test/lib/pg.sh writes
# it next to the socket directory); only what the run adds is inspected.
LOG=${LEDGER_PGDATA:-${PGHOST:-}}/server.log
log_offset=0
if [ -f "$LOG" ]; then
	log_offset=$(stat -c %s "$LOG")
fi

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
# Every call is its own transaction; losing the last ones in a crash does
# not matter here.
psql_admin -c "ALTER DATABASE $DB SET synchronous_commit = off"

# ---------------------------------------------------------------------------
# Set-up: the ledger, and the driver.
# ---------------------------------------------------------------------------
psql_db -v seed="$SEED" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT pg_catalog.setseed((:seed % 1000000) / 1000000.0);
SELECT ledger.create_asset('USD', 2), ledger.create_asset('BTC', 8);

CREATE SCHEMA rnd;

-- The accounts, by asset (0 USD, 1 BTC) and position 1..25; position 1 is
-- the funding account.
CREATE TABLE rnd.accounts (asset_no integer, pos integer, id bigint, PRIMARY KEY (asset_no, pos));

DO $$
DECLARE
    codes text[] := ARRAY['USD', 'BTC'];
    bank bigint;
    id bigint;
BEGIN
    FOR a IN 0..1 LOOP
        bank := ledger.create_account(codes[a + 1], codes[a + 1] || ':bank', 'debit', NULL);
        INSERT INTO rnd.accounts VALUES (a, 1, bank);
        FOR i IN 2..25 LOOP
            IF i IN (20, 21) THEN
                -- Debit-normal, unbounded: credits lower their balance.
                id := ledger.create_account(codes[a + 1], codes[a + 1] || ':' || i, 'debit', NULL);
            ELSE
                id := ledger.create_account(
                    codes[a + 1], codes[a + 1] || ':' || i, 'credit',
                    CASE i % 4 WHEN 0 THEN NULL WHEN 2 THEN '-10000'::ledger.amount
                         ELSE '0'::ledger.amount END,
                    CASE WHEN i % 5 = 3 THEN '5000000'::ledger.amount END,
                    CASE WHEN i % 3 = 0 THEN jsonb_build_object('n', i) END);
                PERFORM ledger.transfer(bank, id, (100000 + floor(random() * 1000000))::bigint,
                                        NULL, 'opening balance');
            END IF;
            INSERT INTO rnd.accounts VALUES (a, i, id);
        END LOOP;
        -- Two closed accounts, with money on them.
        PERFORM ledger.close_account(x.id) FROM rnd.accounts AS x WHERE x.asset_no = a AND x.pos IN (24, 25);
    END LOOP;
END
$$;

-- What each session did: one row per call, written when the session ends.
CREATE UNLOGGED TABLE rnd.calls (session integer, fn text, outcome text);
-- Calls whose outcome is not acceptable.
CREATE TABLE rnd.failures (session integer, seed float8, call_no integer, fn text,
                           args text, sqlstate text, message text, detail text,
                           context text, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE rnd.sessions (session integer, seed float8, isolation text, calls integer,
                           seconds numeric);

-- An account: usually of the asset, sometimes of the other one, unknown or
-- NULL.
CREATE FUNCTION rnd.account(ids bigint[], asset_no integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.01 THEN
        RETURN NULL;
    ELSIF r < 0.025 THEN
        RETURN (ARRAY[0, -1, 51, 1000000, 9223372036854775807])[1 + floor(random() * 5)::int];
    ELSIF r < 0.04 THEN
        RETURN ids[(1 - asset_no) * 25 + 1 + floor(random() * 25)::int];
    END IF;
    RETURN ids[asset_no * 25 + 1 + floor(random() * 25)::int];
END
$$;

-- An amount as text: mostly small, sometimes NULL, zero, negative, huge,
-- beyond the range or no number at all.
CREATE FUNCTION rnd.amount() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.01 THEN RETURN NULL;
    ELSIF r < 0.02 THEN RETURN '0';
    ELSIF r < 0.03 THEN RETURN '-' || (1 + floor(random() * 1000));
    ELSIF r < 0.035 THEN RETURN '170141183460469231731687303715884105727';
    ELSIF r < 0.04 THEN RETURN '1267650600228229401496703205376';
    ELSIF r < 0.045 THEN RETURN '-170141183460469231731687303715884105728';
    ELSIF r < 0.05 THEN
        RETURN (ARRAY['1.5', '1e3', '--1', '', 'abc', ' 12 ', '+7',
                      '170141183460469231731687303715884105728'])[1 + floor(random() * 8)::int];
    ELSIF r < 0.15 THEN RETURN (1 + floor(random() * 10000000))::text;
    END IF;
    RETURN (1 + floor(random() * 2000))::text;
END
$$;

-- An idempotency key: none, one of a small pool, or malformed.
CREATE FUNCTION rnd.key(prefix text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.55 THEN RETURN NULL;
    ELSIF r < 0.95 THEN RETURN prefix || floor(random() * 40);
    ELSIF r < 0.965 THEN RETURN '';
    ELSIF r < 0.975 THEN RETURN repeat('k', 256);
    ELSIF r < 0.985 THEN RETURN E'bad\nkey' || floor(random() * 3);
    ELSIF r < 0.99 THEN RETURN 'k' || floor(random() * 40);
    END IF;
    RETURN repeat('é', 254) || floor(random() * 10);
END
$$;

-- The number of a pooled key ('k17' is 17), NULL for any other key.
CREATE FUNCTION rnd.pool_no(key text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT substring(key FROM '^[a-z]([0-9]+)$')::integer
$$;

-- Metadata: mostly none or an object, sometimes anything else JSON can be.
CREATE FUNCTION rnd.metadata() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.7 THEN RETURN NULL;
    ELSIF r < 0.8 THEN RETURN '{"a": 1}';
    ELSIF r < 0.85 THEN RETURN '{"a": 2}';
    ELSIF r < 0.87 THEN RETURN '{}';
    ELSIF r < 0.89 THEN RETURN '{"nested": {"x": [1, 2, null]}}';
    END IF;
    RETURN (ARRAY['[]', '[1]', '"s"', '1', '-0.5', 'null', 'true', 'false', '""'])[1 + floor(random() * 9)::int]::jsonb;
END
$$;

-- A hold's expiry: mostly none, sometimes soon, past or infinite.
CREATE FUNCTION rnd.expiry() RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.65 THEN RETURN NULL;
    ELSIF r < 0.88 THEN RETURN clock_timestamp() + (10 + floor(random() * 1500)) * interval '1 millisecond';
    ELSIF r < 0.91 THEN RETURN clock_timestamp() - interval '1 second';
    ELSIF r < 0.93 THEN RETURN 'infinity';
    ELSIF r < 0.94 THEN RETURN '-infinity';
    END IF;
    RETURN '2999-01-01 00:00:00+00';
END
$$;

-- A limit as text for set_account_limits.
CREATE FUNCTION rnd.limit(is_max boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < (CASE WHEN is_max THEN 0.6 ELSE 0.3 END) THEN RETURN NULL;
    ELSIF r < 0.7 THEN RETURN CASE WHEN is_max THEN (floor(random() * 20000000))::text ELSE '0' END;
    ELSIF r < 0.8 THEN RETURN (floor(random() * 2000000) - 1000000)::text;
    ELSIF r < 0.85 THEN RETURN '-10000';
    ELSIF r < 0.9 THEN RETURN '170141183460469231731687303715884105727';
    ELSIF r < 0.95 THEN RETURN '-170141183460469231731687303715884105728';
    END IF;
    RETURN '0';
END
$$;

-- An id near the newest of a sequence, sometimes unknown or NULL.
CREATE FUNCTION rnd.recent(newest bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.02 THEN RETURN NULL;
    ELSIF r < 0.05 THEN RETURN (ARRAY[0, -1, newest + 1000, -9223372036854775808])[1 + floor(random() * 4)::int];
    ELSIF r < 0.75 THEN RETURN greatest(newest - floor(random() * 30)::bigint, 1);
    END IF;
    RETURN 1 + floor(random() * greatest(newest, 1))::bigint;
END
$$;

-- A moment for balance_at and statement.
CREATE FUNCTION rnd.moment() RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF r < 0.05 THEN RETURN NULL;
    ELSIF r < 0.15 THEN RETURN 'infinity';
    ELSIF r < 0.25 THEN RETURN '-infinity';
    END IF;
    RETURN clock_timestamp() - random() * interval '30 seconds';
END
$$;

-- The id this session last drew from a sequence, NULL if none.
CREATE FUNCTION rnd.drawn(seq regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN currval(seq);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RETURN NULL;
END
$$;

-- Is this SQLSTATE an acceptable answer to a random call?
CREATE FUNCTION rnd.acceptable(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(state, 2) = 'LG' OR state IN ('22003', '22P02', '22023', '40001', '40P01')
$$;

-- rnd.drive - make p_calls random calls, each in its own transaction.
CREATE PROCEDURE rnd.drive(p_session integer, p_seed float8, p_calls integer)
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT id FROM rnd.accounts ORDER BY asset_no, pos);
    fns text[] := '{}';
    outcomes text[] := '{}';
    started timestamptz := clock_timestamp();
    newest_transfer bigint;
    newest_hold bigint;
    r float8;
    asset_no integer;
    fn text;
    outcome text;
    bad text;
    -- The arguments of the current call.
    v_a bigint;
    v_b bigint;
    v_id bigint;
    v_n integer;
    v_k integer;
    v_seq regclass;
    v_drawn bigint;
    v_drawn_before bigint;
    clean boolean;
    v_amount text;
    v_min text;
    v_max text;
    v_key text;
    v_description text;
    v_metadata jsonb;
    v_expires timestamptz;
    v_since timestamptz;
    v_until timestamptz;
    v_item ledger.transfer_request;
    v_batch ledger.transfer_request[];
    -- What it returned.
    v_ret bigint;
    v_rets bigint[];
    v_state text;
    v_message text;
    v_detail text;
    v_context text;
BEGIN
    PERFORM setseed(p_seed);
    FOR i IN 1..p_calls LOOP
        IF i % 50 = 1 THEN
            SELECT last_value INTO newest_transfer FROM ledger.transfers_id_seq;
            SELECT last_value INTO newest_hold FROM ledger.hold_records_id_seq;
        END IF;
        v_a := NULL; v_b := NULL; v_id := NULL; v_n := NULL; v_k := NULL; v_amount := NULL;
        v_min := NULL; v_max := NULL; v_key := NULL; v_description := NULL;
        v_metadata := NULL; v_expires := NULL; v_since := NULL; v_until := NULL;
        v_batch := NULL; v_ret := NULL; v_rets := NULL; bad := NULL; v_seq := NULL;
        asset_no := floor(random() * 2)::int;
        r := random();
        BEGIN
            IF r < 0.26 THEN
                fn := 'transfer';
                v_key := rnd.key('k');
                v_k := rnd.pool_no(v_key);
                IF v_k IS NOT NULL AND random() < 0.7 THEN
                    -- The key's own arguments: a replay, or the first use.
                    v_a := ids[(v_k % 2) * 25 + 1];
                    v_b := ids[(v_k % 2) * 25 + 2 + v_k % 18];
                    v_amount := (100 + v_k)::text;
                    v_description := 'key ' || v_k;
                ELSE
                    v_a := CASE WHEN random() < 0.3 THEN ids[asset_no * 25 + 1] ELSE rnd.account(ids, asset_no) END;
                    v_b := rnd.account(ids, asset_no);
                    v_amount := rnd.amount();
                    v_description := CASE WHEN random() < 0.5 THEN 'd' || floor(random() * 2) END;
                    v_metadata := rnd.metadata();
                END IF;
                v_seq := 'ledger.transfers_id_seq';
                v_drawn_before := CASE WHEN v_key IS NOT NULL THEN rnd.drawn(v_seq) END;
                v_ret := ledger.transfer(v_a, v_b, v_amount::ledger.amount, v_key, v_description, v_metadata);
                IF v_ret IS NULL OR v_ret < 1 THEN bad := 'returned transfer id ' || coalesce(v_ret::text, 'NULL'); END IF;
            ELSIF r < 0.39 THEN
                fn := 'hold';
                v_key := rnd.key('h');
                v_k := rnd.pool_no(v_key);
                IF v_k IS NOT NULL AND random() < 0.7 THEN
                    v_a := ids[(v_k % 2) * 25 + 2 + v_k % 9];
                    v_b := ids[(v_k % 2) * 25 + 11 + v_k % 9];
                    v_amount := (10 + v_k)::text;
                    v_description := 'hold ' || v_k;
                ELSE
                    v_a := rnd.account(ids, asset_no);
                    v_b := rnd.account(ids, asset_no);
                    v_amount := rnd.amount();
                    v_expires := rnd.expiry();
                    v_description := CASE WHEN random() < 0.5 THEN 'd' || floor(random() * 2) END;
                    v_metadata := rnd.metadata();
                END IF;
                v_seq := 'ledger.hold_records_id_seq';
                v_drawn_before := CASE WHEN v_key IS NOT NULL THEN rnd.drawn(v_seq) END;
                v_ret := ledger.hold(v_a, v_b, v_amount::ledger.amount, v_expires, v_key, v_description, v_metadata);
                IF v_ret IS NULL OR v_ret < 1 THEN bad := 'returned hold id ' || coalesce(v_ret::text, 'NULL'); END IF;
            ELSIF r < 0.49 THEN
                fn := 'capture';
                v_key := rnd.key(CASE WHEN random() < 0.6 THEN 'c' ELSE 'k' END);
                v_k := rnd.pool_no(v_key);
                IF v_k IS NOT NULL AND left(v_key, 1) = 'c' AND random() < 0.7 THEN
                    -- Key cN captures hold 5N + 1 in full.
                    v_id := 5 * v_k + 1;
                ELSE
                    v_id := rnd.recent(newest_hold);
                    v_amount := CASE WHEN random() < 0.5 THEN rnd.amount() END;
                END IF;
                v_seq := 'ledger.transfers_id_seq';
                v_drawn_before := CASE WHEN v_key IS NOT NULL THEN rnd.drawn(v_seq) END;
                v_ret := ledger.capture(v_id, v_amount::ledger.amount, v_key);
                IF v_ret IS NULL OR v_ret < 1 THEN bad := 'returned transfer id ' || coalesce(v_ret::text, 'NULL'); END IF;
            ELSIF r < 0.55 THEN
                fn := 'release';
                v_id := rnd.recent(newest_hold);
                PERFORM ledger.release(v_id);
            ELSIF r < 0.57 THEN
                fn := 'expire_holds';
                v_n := (ARRAY[NULL, 0, -1, 1, 10, 1000])[1 + floor(random() * 6)::int];
                v_ret := ledger.expire_holds(v_n);
                IF v_ret IS NULL OR v_ret < 0 THEN bad := 'returned ' || coalesce(v_ret::text, 'NULL'); END IF;
            ELSIF r < 0.66 THEN
                fn := 'transfer_batch';
                r := random();
                IF r < 0.01 THEN
                    v_batch := NULL;
                ELSIF r < 0.02 THEN
                    v_batch := '{}';
                ELSIF r < 0.0205 THEN
                    SELECT array_agg(ROW(ids[1], ids[2], 1, NULL, NULL, NULL)::ledger.transfer_request)
                      INTO v_batch FROM generate_series(1, 100001);
                ELSE
                    v_batch := '{}';
                    clean := random() < 0.6;
                    FOR j IN 1..(1 + floor(random() * 8)::int) LOOP
                        v_k := CASE WHEN random() < 0.3 THEN floor(random() * 40)::int END;
                        IF NOT clean AND random() < 0.02 THEN
                            v_item := NULL;
                        ELSIF v_k IS NOT NULL THEN
                            -- A pooled key with its own arguments.
                            v_item := ROW(ids[(v_k % 2) * 25 + 1], ids[(v_k % 2) * 25 + 2 + v_k % 18],
                                          100 + v_k, 'k' || v_k, 'key ' || v_k, NULL);
                        ELSIF clean THEN
                            v_item := ROW(CASE WHEN random() < 0.4 THEN ids[asset_no * 25 + 1]
                                               ELSE ids[asset_no * 25 + 2 + floor(random() * 24)::int] END,
                                          ids[asset_no * 25 + 2 + floor(random() * 24)::int],
                                          1 + floor(random() * 2000)::int, NULL, NULL, NULL);
                        ELSE
                            v_item := ROW(CASE WHEN random() < 0.3 THEN ids[asset_no * 25 + 1]
                                               ELSE rnd.account(ids, asset_no) END,
                                          rnd.account(ids, asset_no), rnd.amount()::ledger.amount,
                                          rnd.key('k'),
                                          CASE WHEN random() < 0.3 THEN 'd' || floor(random() * 2) END,
                                          rnd.metadata());
                        END IF;
                        v_batch := v_batch || v_item;
                    END LOOP;
                    IF random() < 0.01 THEN
                        -- Two dimensions.
                        v_batch := array_fill(v_batch[1], ARRAY[2, 1]);
                    END IF;
                END IF;
                v_rets := ledger.transfer_batch(v_batch);
                IF v_rets IS NULL OR coalesce(cardinality(v_rets), 0) <> coalesce(cardinality(v_batch), 0)
                   OR EXISTS (SELECT FROM unnest(v_rets) AS t(id) WHERE id IS NULL OR id < 1) THEN
                    bad := 'returned ' || coalesce(v_rets::text, 'NULL');
                END IF;
            ELSIF r < 0.75 THEN
                fn := 'reverse';
                v_key := rnd.key(CASE WHEN random() < 0.6 THEN 'r' ELSE 'k' END);
                v_k := rnd.pool_no(v_key);
                IF v_k IS NOT NULL AND left(v_key, 1) = 'r' AND random() < 0.7 THEN
                    -- Key rN reverses 1 of transfer 7N + 1.
                    v_id := 7 * v_k + 1;
                    v_amount := '1';
                ELSE
                    v_id := rnd.recent(newest_transfer);
                    v_amount := CASE WHEN random() < 0.5 THEN rnd.amount() END;
                END IF;
                v_seq := 'ledger.transfers_id_seq';
                v_drawn_before := CASE WHEN v_key IS NOT NULL THEN rnd.drawn(v_seq) END;
                v_ret := ledger.reverse(v_id, v_amount::ledger.amount, v_key);
                IF v_ret IS NULL OR v_ret < 1 THEN bad := 'returned transfer id ' || coalesce(v_ret::text, 'NULL'); END IF;
            ELSIF r < 0.80 THEN
                fn := 'set_account_limits';
                v_a := rnd.account(ids, asset_no);
                v_min := rnd.limit(false);
                v_max := rnd.limit(true);
                PERFORM ledger.set_account_limits(v_a, v_min::ledger.amount, v_max::ledger.amount);
            ELSIF r < 0.815 THEN
                fn := 'close_account';
                v_a := rnd.account(ids, asset_no);
                PERFORM ledger.close_account(v_a);
            ELSIF r < 0.86 THEN
                fn := 'reopen_account';
                v_a := rnd.account(ids, asset_no);
                PERFORM ledger.reopen_account(v_a);
            ELSIF r < 0.92 THEN
                fn := 'balance';
                v_a := rnd.account(ids, asset_no);
                SELECT count(*) INTO v_n FROM ledger.balance(v_a);
                IF v_n <> 1 THEN bad := v_n || ' rows'; END IF;
            ELSIF r < 0.96 THEN
                fn := 'balance_at';
                v_a := rnd.account(ids, asset_no);
                v_since := rnd.moment();
                PERFORM ledger.balance_at(v_a, v_since);
            ELSE
                fn := 'statement';
                v_a := rnd.account(ids, asset_no);
                v_since := CASE WHEN random() < 0.5 THEN '-infinity' ELSE rnd.moment() END;
                v_until := CASE WHEN random() < 0.5 THEN 'infinity' ELSE rnd.moment() END;
                PERFORM 1 FROM ledger.statement(v_a, v_since, v_until) LIMIT 5;
            END IF;
            outcome := 'ok';
            -- A keyed call returned an earlier transfer or hold, not one it
            -- made, if it drew no id, or not the id it drew (a concurrent
            -- call with the key won).
            IF v_seq IS NOT NULL AND v_key IS NOT NULL THEN
                v_drawn := rnd.drawn(v_seq);
                IF v_drawn IS NOT DISTINCT FROM v_drawn_before OR v_drawn <> v_ret THEN
                    outcome := 'replay';
                END IF;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_detail = PG_EXCEPTION_DETAIL, v_context = PG_EXCEPTION_CONTEXT;
            outcome := v_state;
            IF NOT rnd.acceptable(v_state) THEN
                bad := v_message;
            END IF;
        END;
        IF bad IS NOT NULL THEN
            INSERT INTO rnd.failures (session, seed, call_no, fn, args, sqlstate, message, detail, context)
            VALUES (p_session, p_seed, i, fn,
                    format('a=%s b=%s id=%s n=%s amount=%L min=%L max=%L key=%L description=%L metadata=%L expires=%s since=%s until=%s batch=%L',
                           v_a, v_b, v_id, v_n, v_amount, v_min, v_max, v_key, v_description,
                           v_metadata, v_expires, v_since, v_until, left(v_batch::text, 2000)),
                    CASE WHEN outcome = 'ok' THEN NULL ELSE outcome END, bad, v_detail, v_context);
            outcome := 'bad: ' || outcome;
        END IF;
        fns := fns || fn;
        outcomes := outcomes || outcome;
        COMMIT;
    END LOOP;
    INSERT INTO rnd.calls SELECT p_session, f, o FROM unnest(fns, outcomes) AS u(f, o);
    INSERT INTO rnd.sessions VALUES (p_session, p_seed, current_setting('transaction_isolation'),
                                     p_calls, round(extract(epoch FROM clock_timestamp() - started)::numeric, 1));
    COMMIT;
END
$$;
SQL

# ---------------------------------------------------------------------------
# The run: the sessions at once, each with its own seed.
# ---------------------------------------------------------------------------
started=$(date +%s.%N)
pids=()
for s in $(seq 1 "$SESSIONS"); do
	# Each session's seed in [-1, 1), derived from the run's seed.
	session_seed=$(awk -v seed="$SEED" -v s="$s" 'BEGIN { srand(seed + 7919 * s); printf "%.6f", rand() * 2 - 1 }')
	isolation="read committed"
	[ "$s" -eq 2 ] && isolation="repeatable read"
	calls=$((CALLS / SESSIONS + (s <= CALLS % SESSIONS ? 1 : 0)))
	echo "session $s: seed $session_seed, $calls calls, $isolation"
	psql_db -c "SET default_transaction_isolation = '$isolation'" \
		-c "CALL rnd.drive($s, $session_seed, $calls)" >"$WORK/session$s.log" 2>&1 &
	pids+=($!)
done
lost=0
for s in $(seq 1 "$SESSIONS"); do
	if ! wait "${pids[$((s - 1))]}"; then
		echo "FAIL: session $s ended with an error:" >&2
		cat "$WORK/session$s.log" >&2
		lost=1
	fi
done
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# ---------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------
failed=$lost
if ! psql_db -At -c "SELECT 1" >/dev/null; then
	echo "FAIL: the server does not answer after the run" >&2
	exit 1
fi
if [ -f "$LOG" ]; then
	tail -c +$((log_offset + 1)) "$LOG" >"$WORK/server.log"
	if grep -E "terminated by signal|was terminated|PANIC|TRAP:" "$WORK/server.log" >&2; then
		echo "FAIL: the server log shows a crashed backend (above)" >&2
		failed=1
	fi
else
	echo "note: no server log at $LOG; the crash check relies on the sessions' connections"
fi

bad_calls=$(psql_db -At -c "SELECT count(*) FROM rnd.failures")
if [ "$bad_calls" -ne 0 ]; then
	echo "FAIL: $bad_calls calls ended unacceptably; the first (by session and call number):" >&2
	psql_db -x -c "SELECT * FROM rnd.failures ORDER BY at, session, call_no LIMIT 1" >&2
	echo "their outcomes:" >&2
	psql_db -c "SELECT fn, coalesce(sqlstate, 'ok') AS sqlstate, count(*), min(message) AS a_message
	              FROM rnd.failures GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20" >&2
	failed=1
fi
recorded=$(psql_db -At -c "SELECT count(*) FROM rnd.calls")
if [ "$lost" -eq 0 ] && [ "$recorded" -ne "$CALLS" ]; then
	echo "FAIL: $recorded calls recorded, expected $CALLS" >&2
	failed=1
fi

# Every account's pending columns are the sums of the holds reserved on it,
# before and after a sweep of the expired holds, which must leave none
# reserved.
pending_check="SELECT a.id, a.debits_pending, a.credits_pending, h.debits, h.credits
  FROM ledger.accounts AS a
  CROSS JOIN LATERAL (
        SELECT coalesce(sum(amount::numeric) FILTER (WHERE debit_account_id = a.id AND debit_reserved), 0) AS debits,
               coalesce(sum(amount::numeric) FILTER (WHERE credit_account_id = a.id AND credit_reserved), 0) AS credits
          FROM ledger.hold_records
         WHERE (debit_account_id = a.id AND debit_reserved)
            OR (credit_account_id = a.id AND credit_reserved)) AS h
 WHERE a.debits_pending::numeric <> h.debits OR a.credits_pending::numeric <> h.credits"
check_rows() {
	local what=$1 query=$2 rows
	rows=$(psql_db -At -c "SELECT count(*) FROM ($query) AS q")
	if [ "$rows" -ne 0 ]; then
		echo "FAIL: $what: $rows rows (first 10):" >&2
		psql_db -c "$query LIMIT 10" >&2
		failed=1
	fi
}
# A call that succeeded and was no replay wrote exactly one hold, capture or
# reversal; a replay wrote none.
if [ "$lost" -eq 0 ]; then
	check_rows "successful calls that are no replays differ from the rows written" \
		"SELECT * FROM (VALUES
		   ('hold', (SELECT count(*) FROM ledger.hold_records)),
		   ('capture', (SELECT count(*) FROM ledger.transfers WHERE hold_id IS NOT NULL)),
		   ('reverse', (SELECT count(*) FROM ledger.transfers WHERE reverses_transfer_id IS NOT NULL)))
		   AS w(fn, rows_written)
		  WHERE rows_written <> (SELECT count(*) FROM rnd.calls AS c WHERE c.fn = w.fn AND c.outcome = 'ok')"
fi
check_rows "pending columns differ from the reserved holds" "$pending_check"
check_rows "ledger.verify()" "SELECT * FROM ledger.verify()"
sweep_started=$(psql_db -At -c "SELECT clock_timestamp()")
swept=0
for _ in $(seq 1 100); do
	n=$(psql_db -At -c "SELECT ledger.expire_holds(1000)")
	swept=$((swept + n))
	[ "$n" -eq 0 ] && break
done
check_rows "pending columns differ from the reserved holds after the sweep" "$pending_check"
check_rows "expired holds still reserved after the sweep" \
	"SELECT id, status, expires_at FROM ledger.hold_records
	  WHERE (debit_reserved OR credit_reserved) AND expires_at <= '$sweep_started'"
check_rows "ledger.verify() after the sweep" "SELECT * FROM ledger.verify()"

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
echo "random_calls.sh: seed $SEED, $CALLS calls from $SESSIONS sessions in ${elapsed}s; sweep released $swept holds"
psql_db -At -F ' ' <<'SQL'
SELECT 'session ' || session || ': seed ' || seed || ', ' || isolation || ', ' || calls || ' calls in ' || seconds || 's'
  FROM rnd.sessions ORDER BY session;
SELECT 'calls by function: ' || string_agg(fn || ' ' || n, ', ' ORDER BY n DESC)
  FROM (SELECT fn, count(*) AS n FROM rnd.calls GROUP BY fn) AS c;
SELECT 'outcomes: ' || string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC)
  FROM (SELECT outcome, count(*) AS n FROM rnd.calls GROUP BY outcome) AS o;
SELECT 'serialization failures and deadlocks by session: '
       || coalesce(string_agg(session || ' ' || outcome || ' ' || n, ', ' ORDER BY session, outcome), 'none')
  FROM (SELECT session, outcome, count(*) AS n FROM rnd.calls
         WHERE outcome IN ('40001', '40P01') GROUP BY 1, 2) AS o;
SELECT fn || ': ' || string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC)
  FROM (SELECT fn, outcome, count(*) AS n FROM rnd.calls GROUP BY fn, outcome) AS o
 GROUP BY fn ORDER BY fn;
SELECT 'ledger: ' || (SELECT count(*) FROM ledger.transfers) || ' transfers ('
       || (SELECT count(*) FROM ledger.transfers WHERE hold_id IS NOT NULL) || ' captures, '
       || (SELECT count(*) FROM ledger.transfers WHERE reverses_transfer_id IS NOT NULL) || ' reversals), '
       || (SELECT count(*) FROM ledger.hold_records) || ' holds ('
       || (SELECT string_agg(status || ' ' || n, ', ' ORDER BY n DESC)
             FROM (SELECT status, count(*) AS n FROM ledger.hold_records GROUP BY status) AS s)
       || '), ' || (SELECT count(*) FROM ledger.accounts WHERE closed) || ' of 50 accounts closed';
SQL
if [ "$failed" -ne 0 ]; then
	echo "random_calls.sh: FAILED (seed $SEED)" >&2
	exit 1
fi
echo "random_calls.sh: every call answered acceptably; no backend crashed; one row per successful hold, capture and reversal, none per replay; pending columns equal the reserved holds; ledger.verify() finds nothing"
