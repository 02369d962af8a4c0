--
-- One pipeline: every kind of movement meets every rule of the account in
-- the same place (src/posting.c), so each rule must refuse each kind of
-- movement that would break it, with the rule's own SQLSTATE, and leave
-- nothing behind.  Each cell of the table below is one attempt on two
-- fresh accounts: the kind's prerequisite (a hold to capture or release, a
-- transfer to reverse, hot mode) is made first, then the state that breaks
-- the rule, then the movement.  A cell reads
--   ok                  the movement went through (a capture or release
--                       rightly does under new limits or near overflow:
--                       its hold's reservation already counted),
--   LGnnn               it was refused with that SQLSTATE,
--   break: LGnnn        the rule cannot be broken after the prerequisite
--                       (an account with a pending hold cannot be closed),
--   prepare: LGnnn      the prerequisite itself is refused by the rule.
-- A release takes no idempotency key, and moves nothing a rule could
-- refuse: only a hold that does not exist stops it.
-- The expiry of holds and the application of a hot queue only take
-- amounts out of reservations and queues already checked; hold.sql and
-- hot.sql test them.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_book('other') AS other_book;

CREATE TABLE kinds (ord int, kind text);
INSERT INTO kinds VALUES (1, 'transfer'), (2, 'keyed'), (3, 'half-hot'),
    (4, 'hot'), (5, 'batch item'), (6, 'hold'), (7, 'capture'),
    (8, 'release'), (9, 'reversal');
CREATE TABLE rules (ord int, rule text);
INSERT INTO rules VALUES (1, 'unknown account'), (2, 'closed account'),
    (3, 'other asset'), (4, 'minimum balance'), (5, 'maximum balance'),
    (6, 'overflow'), (7, 'key reused'), (8, 'other book');

-- The movement of 10 from d to c, of its kind.  The prerequisite's id is
-- prepared; key is the idempotency key, if any.
CREATE FUNCTION move(kind text, d bigint, c bigint, prepared bigint, key text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE kind
    WHEN 'transfer', 'keyed', 'half-hot', 'hot' THEN
        PERFORM ledger.transfer(d, c, 10, key);
    WHEN 'batch item' THEN
        PERFORM ledger.transfer_batch(ARRAY[
            ROW(c, d, 1, NULL, 'first item', NULL),
            ROW(d, c, 10, key, 'second item', NULL)]::ledger.transfer_request[]);
    WHEN 'hold' THEN
        PERFORM ledger.hold(d, c, 10, idempotency_key => key);
    WHEN 'capture' THEN
        PERFORM ledger.capture(prepared, idempotency_key => key);
    WHEN 'release' THEN
        PERFORM ledger.release(prepared);
    WHEN 'reversal' THEN
        PERFORM ledger.reverse(prepared, idempotency_key => key);
    END CASE;
END $$;

CREATE FUNCTION attempt(kind text, rule text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    source bigint := ledger.create_account('USD', normal_balance => 'debit', min_balance => NULL);
    d bigint := ledger.create_account('USD');
    c bigint := ledger.create_book_account(
        CASE rule WHEN 'other book' THEN ledger.book_id('other') ELSE 1 END,
        CASE rule WHEN 'other asset' THEN 'EUR' ELSE 'USD' END);
    csource bigint;
    prepared bigint;
    key text := CASE WHEN kind = 'keyed' OR rule = 'key reused' THEN kind || ', ' || rule END;
    step text := 'prepare';
    a ledger.accounts;
BEGIN
    -- Funds on both sides; the prerequisite of the kind.
    csource := CASE rule
        WHEN 'other asset'
        THEN ledger.create_account('EUR', normal_balance => 'debit', min_balance => NULL)
        WHEN 'other book'
        THEN ledger.create_book_account(ledger.book_id('other'), 'USD', normal_balance => 'debit', min_balance => NULL)
        ELSE source END;
    PERFORM ledger.transfer(source, d, 100);
    PERFORM ledger.transfer(csource, c, 100);
    BEGIN
        CASE kind
        WHEN 'half-hot' THEN PERFORM ledger.set_account_hot(c);
        WHEN 'hot' THEN PERFORM ledger.set_account_hot(d), ledger.set_account_hot(c);
        WHEN 'capture', 'release' THEN prepared := ledger.hold(d, c, 10);
        WHEN 'reversal' THEN prepared := ledger.transfer(c, d, 10);
        ELSE NULL;
        END CASE;

        -- The state that breaks the rule.
        step := 'break';
        CASE rule
        WHEN 'unknown account' THEN
            IF kind IN ('capture', 'release', 'reversal') THEN
                prepared := -1;
            ELSE
                d := -1;
            END IF;
        WHEN 'closed account' THEN
            PERFORM ledger.close_account(c);
        WHEN 'minimum balance' THEN
            SELECT * INTO a FROM ledger.accounts WHERE id = d;
            PERFORM ledger.set_account_limits(d, a.credits_posted - a.debits_posted - a.debits_pending - 5, NULL);
        WHEN 'maximum balance' THEN
            SELECT * INTO a FROM ledger.accounts WHERE id = c;
            PERFORM ledger.set_account_limits(c, 0, a.credits_posted - a.debits_posted + a.credits_pending + 5);
        WHEN 'overflow' THEN
            -- c's lifetime credits within 5 of the largest amount.
            PERFORM ledger.apply_hot_entries(c);
            SELECT * INTO a FROM ledger.accounts WHERE id = c;
            PERFORM ledger.transfer(
                ledger.create_account('USD', normal_balance => 'debit', min_balance => NULL), c,
                '170141183460469231731687303715884105727'::ledger.amount
                    - a.credits_posted - a.credits_pending - 5);
        WHEN 'key reused' THEN
            IF kind = 'hold' THEN
                PERFORM ledger.hold(source, d, 1, idempotency_key => key);
            ELSE
                PERFORM ledger.transfer(source, d, 1, key);
            END IF;
        ELSE NULL;
        END CASE;
    EXCEPTION WHEN OTHERS THEN
        RETURN step || ': ' || SQLSTATE;
    END;

    BEGIN
        PERFORM move(kind, d, c, prepared, key);
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END;
    RETURN 'ok';
END $$;

CREATE TABLE outcomes AS
SELECT r.ord AS rule_ord, r.rule, k.ord AS kind_ord, k.kind, attempt(k.kind, r.rule) AS outcome
  FROM rules r CROSS JOIN kinds k ORDER BY r.ord, k.ord;

\pset format aligned
SELECT rule,
       max(outcome) FILTER (WHERE kind = 'transfer') AS transfer,
       max(outcome) FILTER (WHERE kind = 'keyed') AS keyed,
       max(outcome) FILTER (WHERE kind = 'half-hot') AS "half-hot",
       max(outcome) FILTER (WHERE kind = 'hot') AS hot,
       max(outcome) FILTER (WHERE kind = 'batch item') AS "batch item",
       max(outcome) FILTER (WHERE kind = 'hold') AS hold,
       max(outcome) FILTER (WHERE kind = 'capture') AS capture,
       max(outcome) FILTER (WHERE kind = 'release') AS release,
       max(outcome) FILTER (WHERE kind = 'reversal') AS reversal
  FROM outcomes GROUP BY rule_ord, rule ORDER BY rule_ord;

-- The same movements with nothing broken all go through.
SELECT kind, attempt(kind, 'nothing') FROM kinds ORDER BY ord;

-- Refused or not, nothing is half-written: once the queues are applied,
-- every transfer has its two entries, and every sum and chain checks out.
SELECT ledger.apply_hot_entries() >= 0 AS applied;
SELECT * FROM ledger.verify();
