--
-- velocity: limits on how much and how often an account moves within a
-- rolling window, at their edges; holds, captures, releases, expiry,
-- reversals, batches, the flag mode, hot accounts and authority.
--
-- Windows are a day or an hour, except where a window's end is waited for
-- (2 seconds).  Times are left out of the output.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
CREATE ROLE regress_velocity_poster NOLOGIN;   -- post on book 1, not manage
RESET client_min_messages;
GRANT USAGE ON SCHEMA ledger TO regress_velocity_poster;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO regress_velocity_poster;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'funding', min_balance => NULL);   -- 1
SELECT ledger.create_account('USD', 'wallet');                         -- 2
SELECT ledger.create_account('USD', 'payouts');                        -- 3
SELECT ledger.create_account('USD', 'rewards', 'debit', min_balance => NULL); -- 4
SELECT ledger.create_account('USD', 'player');                         -- 5
SELECT ledger.transfer(1, 2, 1000000);

CREATE FUNCTION public.usage(account bigint)
RETURNS TABLE (id bigint, direction text, "window" interval, max_amount ledger.amount,
               max_count integer, action text, name text, amount_used ledger.amount,
               count_used bigint)
LANGUAGE sql AS $$ SELECT * FROM ledger.account_velocity(account) ORDER BY id $$;

-- ===========================================================================
-- Arguments.
-- ===========================================================================
SELECT ledger.create_velocity_limit(2, 'sideways', '1 day', 100);
SELECT ledger.create_velocity_limit(2, 'debit', '1 month', 100);
SELECT ledger.create_velocity_limit(2, 'debit', '0.5 seconds', 100);
SELECT ledger.create_velocity_limit(2, 'debit', '401 days', 100);
SELECT ledger.create_velocity_limit(2, 'debit', '1 day');
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 0);
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', max_count => 0);
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 100, action => 'warn');
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 100, action => 'flag');
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 100, name => '');
SELECT ledger.create_velocity_limit(99, 'debit', '1 day', 100);
SELECT ledger.create_velocity_limit(NULL, 'debit', '1 day', 100);
SELECT ledger.drop_velocity_limit(99);

-- Creating one needs manage.
SET ROLE regress_velocity_poster;
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 100);
RESET ROLE;

-- ===========================================================================
-- An amount per day: exactly at the limit passes, one minor unit more is
-- refused, and nothing of the refused call is written.
-- ===========================================================================
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 50000, name => 'withdrawals per day'); -- 1
SELECT ledger.transfer(2, 3, 30000);
SELECT ledger.transfer(2, 3, 20000);
SELECT ledger.transfer(2, 3, 1);
SELECT count(*) AS transfers FROM ledger.transfers;
SELECT id, direction, "window", max_amount, max_count, action, name, amount_used, count_used
  FROM public.usage(2);
-- Credits are not limited by a debit limit.
SELECT ledger.transfer(1, 2, 70000);
-- An amount larger than the limit on its own.
SELECT ledger.transfer(2, 3, 50001);
SELECT id, account_id, book_id, direction, "window", max_amount, max_count, action, name
  FROM ledger.velocity_limits;

-- ===========================================================================
-- A count per hour: the fourth reward is refused.
-- ===========================================================================
SELECT ledger.create_velocity_limit(5, 'credit', '1 hour', max_count => 3); -- 2
SELECT ledger.transfer(4, 5, 100);
SELECT ledger.transfer(4, 5, 100);
SELECT ledger.transfer(4, 5, 100);
SELECT ledger.transfer(4, 5, 100);
SELECT amount_used, count_used FROM public.usage(5);

-- ===========================================================================
-- Holds reserve their allowance; a release gives it back; a capture keeps
-- what it captured; a reversal neither takes nor gives back.
-- ===========================================================================
SELECT ledger.drop_velocity_limit(1);
SELECT ledger.drop_velocity_limit(1);
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 40000, 3); -- 3
SELECT ledger.hold(2, 3, 40000);                    -- hold 1
SELECT length(velocity) AS marks_bytes FROM ledger.hold_records WHERE id = 1;
SELECT ledger.transfer(2, 3, 1);
SELECT ledger.release(1);
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.hold(2, 3, 30000);                    -- hold 2
SELECT ledger.capture(2, 10000);
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.transfer(2, 3, 30000);
SELECT ledger.transfer(2, 3, 1);
SELECT ledger.reverse((SELECT max(id) FROM ledger.transfers));
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.transfer(2, 3, 1);
-- A count of credits.
SELECT ledger.create_velocity_limit(3, 'credit', '1 day', max_count => 2); -- 4
SELECT ledger.drop_velocity_limit(3);
SELECT ledger.transfer(2, 3, 5);
SELECT ledger.transfer(2, 3, 5);
SELECT ledger.transfer(2, 3, 5);
SELECT amount_used, count_used FROM public.usage(3);
SELECT ledger.drop_velocity_limit(4);

-- A hold placed before its limit was made: the limit counts its capture.
SELECT ledger.hold(2, 3, 700);                      -- hold 3
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 500); -- 5
SELECT ledger.capture(3, 600);
SELECT ledger.capture(3, 500);
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.drop_velocity_limit(5);

-- An expired hold gives its allowance back when it is released.
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 1000); -- 6
SELECT ledger.hold(2, 3, 1000, expires_at => clock_timestamp() + interval '1 second'); -- hold 4
SELECT ledger.transfer(2, 3, 1);
SELECT pg_sleep(1.2);
SELECT ledger.transfer(2, 3, 1000);
SELECT status FROM ledger.hold_records WHERE id = 4;
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.drop_velocity_limit(6);

-- ===========================================================================
-- Batches count in item order: the item beyond the limit refuses the batch.
-- ===========================================================================
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 300, 2); -- 7
SELECT ledger.transfer_batch(ARRAY[
    ROW(2, 3, 100, NULL, NULL, NULL), ROW(2, 3, 200, NULL, NULL, NULL),
    ROW(2, 3, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
SELECT amount_used, count_used FROM public.usage(2);
SELECT cardinality(ledger.transfer_batch(ARRAY[
    ROW(2, 3, 100, NULL, NULL, NULL), ROW(2, 3, 200, NULL, NULL, NULL)]::ledger.transfer_request[]));
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.drop_velocity_limit(7);

-- ===========================================================================
-- The end of a window: a movement counts for its window and at most a
-- thirty-second of it more.
-- ===========================================================================
SELECT ledger.create_velocity_limit(2, 'debit', '2 seconds', max_count => 1); -- 8
SELECT ledger.transfer(2, 3, 1);
SELECT ledger.transfer(2, 3, 1);
SELECT pg_sleep(2.1);
SELECT ledger.transfer(2, 3, 1) > 0 AS passed;
SELECT ledger.drop_velocity_limit(8);

-- ===========================================================================
-- Flag: the movement goes through and publishes velocity_flagged.
-- ===========================================================================
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_velocity_limit(2, 'debit', '1 day', 100, action => 'flag', name => 'large'); -- 9
SELECT ledger.transfer(2, 3, 60) > 0 AS passed;
SELECT ledger.transfer(2, 3, 60) > 0 AS passed;
SELECT kind, account_id, debit_account_id, credit_account_id, amount, detail
  FROM ledger.events WHERE kind IN ('velocity_flagged', 'account_limits_changed') ORDER BY xid, id;
SELECT amount_used, count_used FROM public.usage(2);
SELECT ledger.drop_velocity_limit(9);
SELECT ledger.set_book_events(1, false);

-- ===========================================================================
-- A hot account with a limit in its hot direction does not queue there.
-- ===========================================================================
SELECT ledger.create_account('USD', 'merchant');                       -- 6
SELECT ledger.set_account_hot(6, true);
SELECT ledger.transfer(2, 6, 10);
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT ledger.create_velocity_limit(6, 'credit', '1 day', 25); -- 10
SELECT ledger.transfer(2, 6, 10);
SELECT ledger.transfer(2, 6, 10);
SELECT ledger.transfer(2, 6, 10);
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT amount_used, count_used FROM public.usage(6);

-- ===========================================================================
-- The limits' table and the accounts' column are the ledger's own.
-- ===========================================================================
DELETE FROM ledger.velocity_limits;
UPDATE ledger.accounts SET velocity = NULL WHERE id = 6;
SELECT ledger.verify();

DROP FUNCTION public.usage(bigint);
REVOKE ALL ON SCHEMA ledger FROM regress_velocity_poster;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger FROM regress_velocity_poster;
DROP ROLE regress_velocity_poster;
