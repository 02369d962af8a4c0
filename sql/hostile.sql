--
-- Hostile calls: every way the API can be called wrongly, each answered by
-- its exact SQLSTATE, and none of them leaving anything behind.
--
-- The file is ordered by area (assets, accounts, amounts, transfers, holds,
-- captures and releases, batches, reversals, history, overflow, the tables
-- themselves).  After each group, nothing_written() compares every row of
-- every ledger table with the state remembered before the group: a rejected
-- call must write nothing, not even an account's pending sums or a hold's
-- expiry.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;
-- Expiry times appear in some messages; print them the same everywhere.
SET TimeZone = 'UTC';

-- The largest amount, 2^127 - 1.
\set max 170141183460469231731687303715884105727

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'shop', max_balance => 5000) AS shop;
SELECT ledger.create_account('EUR', 'eve') AS eve;
SELECT ledger.create_account('EUR', 'eur_bank', normal_balance => 'debit', min_balance => NULL) AS eur_bank;
SELECT ledger.create_account('USD', 'dormant') AS dormant;
-- Two accounts only the expiring hold below touches.
SELECT ledger.create_account('USD', 'payer') AS payer;
SELECT ledger.create_account('USD', 'payee') AS payee;

-- Transfers 1 to 5: deposits, a payment with a key.
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'deposit', '{"n": 1}') AS transfer;
SELECT ledger.transfer(5, 4, 5000) AS transfer;
SELECT ledger.transfer(1, 6, 300) AS transfer;
SELECT ledger.transfer(1, 7, 1000) AS transfer;
SELECT ledger.transfer(2, 3, 1000, 'pay-1', 'order 1') AS transfer;
-- Hold 1 stays pending; hold 2 is captured in part (transfer 6); hold 3 is
-- released.
SELECT ledger.hold(2, 3, 500, NULL, 'auth-1', 'order 2') AS hold;
SELECT ledger.hold(2, 3, 200, NULL, 'auth-2') AS hold;
SELECT ledger.capture(2, 150, 'cap-2') AS transfer;
SELECT ledger.hold(2, 3, 100) AS hold;
SELECT ledger.release(3);
-- Transfer 7 reverses 100 of transfer 5; transfer 9 reverses all of
-- transfer 8.
SELECT ledger.reverse(5, 100, 'rev-1') AS transfer;
SELECT ledger.transfer(1, 2, 50, 'small') AS transfer;
SELECT ledger.reverse(8) AS transfer;
-- The dormant account is closed with 300 on it.
SELECT ledger.close_account(6);

-- The balances the calls below run against.
SELECT account_id, name, asset, posted, pending_debits, pending_credits, available, closed
  FROM ledger.account_balances ORDER BY account_id;
-- Hold 4 expires 200 ms after it is placed.
SELECT ledger.hold(7, 8, 50, clock_timestamp() + interval '200 milliseconds', 'auth-exp') AS hold;

-- What the ledger holds.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.assets) AS assets,
       (SELECT count(*) FROM ledger.accounts) AS accounts,
       (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT count(*) FROM ledger.hold_records) AS holds,
       (SELECT count(*) FROM ledger.hold_records WHERE status = 'pending') AS pending_holds,
       (SELECT sum(version) FROM ledger.accounts) AS versions,
       (SELECT sum(debits_pending::numeric) FROM ledger.accounts) AS debits_pending,
       (SELECT sum(credits_pending::numeric) FROM ledger.accounts) AS credits_pending;

-- Every row of every ledger table, as one digest.
CREATE FUNCTION ledger_state() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t.code) FROM ledger.assets AS t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM ledger.accounts AS t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM ledger.transfers AS t),
        (SELECT string_agg(t::text, ',' ORDER BY t.account_id, t.account_version) FROM ledger.entries AS t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM ledger.hold_records AS t)))
$$;
CREATE TABLE saved_state (state text);
-- Remember the state, after calls that were meant to write.
CREATE FUNCTION remember_state() RETURNS void LANGUAGE sql AS $$
    DELETE FROM saved_state;
    INSERT INTO saved_state SELECT ledger_state();
$$;
-- Is every row as remembered?
CREATE FUNCTION nothing_written() RETURNS boolean LANGUAGE sql AS $$
    SELECT state = ledger_state() FROM saved_state
$$;

SELECT * FROM row_counts;
SELECT remember_state();

--
-- Assets
--

-- Code and scale are required.
SELECT ledger.create_asset(NULL, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('GBP', NULL);
\echo :LAST_ERROR_SQLSTATE
-- A code is 1 to 16 of A-Z, 0-9 and _.
SELECT ledger.create_asset('usd', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('ABCDEFGHIJKLMNOPQ', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('US D', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('US-D', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('ÜSD', 2);
\echo :LAST_ERROR_SQLSTATE
-- A scale is 0 to 38.
SELECT ledger.create_asset('GBP', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('GBP', 39);
\echo :LAST_ERROR_SQLSTATE
-- A code is taken once, whatever the scale.
SELECT ledger.create_asset('USD', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('USD', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

--
-- Accounts
--

-- The asset and the normal balance are required, the asset must exist.
SELECT ledger.create_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('GBP', 'x');
\echo :LAST_ERROR_SQLSTATE
-- The normal balance is exactly 'credit' or 'debit'.
SELECT ledger.create_account('USD', 'x', 'Credit');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', 'both');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', '');
\echo :LAST_ERROR_SQLSTATE
-- A name is 1 to 255 characters and unique.
SELECT ledger.create_account('USD', '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', repeat('n', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'alice');
\echo :LAST_ERROR_SQLSTATE
-- Metadata is a JSON object: not an array, a string, a number, a boolean
-- or the JSON null.
SELECT ledger.create_account('USD', 'x', metadata => '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', metadata => '"text"');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', metadata => '42');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', metadata => 'true');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', metadata => 'null'::jsonb);
\echo :LAST_ERROR_SQLSTATE
-- Limits come in order and include the opening balance of zero.
SELECT ledger.create_account('USD', 'x', min_balance => 10, max_balance => 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', min_balance => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'x', min_balance => NULL, max_balance => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

-- Looking an account up needs a name that exists.
SELECT ledger.account_id(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.account_id('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.account_id('');
\echo :LAST_ERROR_SQLSTATE

-- New limits need an account that exists, come in order and include the
-- balance: alice has 8950 posted and 500 on hold, so 8450 available; the
-- shop has 1050 posted and 500 coming, so 1550 with pending inflows.
SELECT ledger.set_account_limits(NULL, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(999, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(2, 10, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(2, 8451, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(2, NULL, 8949);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(3, 0, 1549);
\echo :LAST_ERROR_SQLSTATE

-- Closing and reopening need an account that exists; an account with holds
-- on either side cannot close (so no capture or release ever meets a
-- closed account).
SELECT ledger.close_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.close_account(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.close_account(2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.close_account(3);
\echo :LAST_ERROR_SQLSTATE
-- Closing a closed account and reopening an open one write nothing.
SELECT ledger.close_account(6);
SELECT ledger.reopen_account(2);

-- A balance needs an account that exists.
SELECT * FROM ledger.balance(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.balance(999);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

--
-- Amounts as text: an amount is a whole number of minor units in range.
--
SELECT '1.5'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '1e3'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '--1'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT ''::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT ' '::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '0x10'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '1,000'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT 'NaN'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '170141183460469231731687303715884105728'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT '-170141183460469231731687303715884105729'::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT 1.5::numeric::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT 'NaN'::numeric::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
SELECT 'Infinity'::numeric::ledger.amount;
\echo :LAST_ERROR_SQLSTATE
-- Arithmetic past the range, and the scale of the display functions.
SELECT :'max'::ledger.amount + 1;
\echo :LAST_ERROR_SQLSTATE
SELECT 1::ledger.amount / 0;
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.parse_amount('1.234', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.parse_amount('1', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.format_amount(1, 39);
\echo :LAST_ERROR_SQLSTATE
-- The same text passed to the API fails before the call.
SELECT ledger.transfer(1, 2, '1.5');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, '1e3');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, '--1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(5, '170141183460469231731687303715884105728');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, '1.5', NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

--
-- Transfers
--

-- The accounts and the amount are required.
SELECT ledger.transfer(NULL, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, NULL);
\echo :LAST_ERROR_SQLSTATE
-- The amount is positive, down to the smallest amount there is.
SELECT ledger.transfer(1, 2, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, '-170141183460469231731687303715884105728');
\echo :LAST_ERROR_SQLSTATE
-- Two different accounts that exist, on either side.
SELECT ledger.transfer(2, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(999, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 999, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(0, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, -1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(9223372036854775807, -9223372036854775808, 1);
\echo :LAST_ERROR_SQLSTATE
-- Of one asset.
SELECT ledger.transfer(2, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(5, 2, 1);
\echo :LAST_ERROR_SQLSTATE
-- Both open.
SELECT ledger.transfer(6, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 6, 1);
\echo :LAST_ERROR_SQLSTATE
-- Within limits: alice has 8450 available, the shop room for 3450 more.
SELECT ledger.transfer(2, 1, 8451);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 3, 3451);
\echo :LAST_ERROR_SQLSTATE
-- A key is 1 to 255 characters without control characters.  (The message
-- quotes the key, control characters and all, so only the SQLSTATE is
-- printed for those.)
SELECT ledger.transfer(1, 2, 1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT ledger.transfer(1, 2, 1, E'a\x01b');
SELECT ledger.transfer(1, 2, 1, E'a\x7fb');
SELECT ledger.transfer(1, 2, 1, E'a\nb');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
-- Metadata is a JSON object.
SELECT ledger.transfer(1, 2, 1, metadata => '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, metadata => '"text"');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, metadata => '1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, metadata => 'false');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, metadata => 'null'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

-- Idempotency: a key of an earlier transfer with any argument changed is a
-- conflict.
SELECT ledger.transfer(1, 2, 10001, 'deposit-1', 'deposit', '{"n": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 3, 10000, 'deposit-1', 'deposit', '{"n": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 1, 10000, 'deposit-1', 'deposit', '{"n": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'other', '{"n": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'deposit', '{"n": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'deposit', NULL);
\echo :LAST_ERROR_SQLSTATE
-- The key of a capture or of a reversal, even with the same accounts,
-- amount and description, is not a plain transfer's.
SELECT ledger.transfer(2, 3, 150, 'cap-2');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(3, 2, 100, 'rev-1', 'reversal of transfer 5');
\echo :LAST_ERROR_SQLSTATE
-- A replay with the same arguments returns the transfer and writes nothing,
-- even when the transfer could not be made again now.
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'deposit', '{"n": 1}') AS transfer;
SELECT ledger.transfer(2, 3, 1000, 'pay-1', 'order 1') AS transfer;
SELECT nothing_written();

--
-- Holds
--

-- The accounts and the amount are required.
SELECT ledger.hold(NULL, 3, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, NULL);
\echo :LAST_ERROR_SQLSTATE
-- The amount is positive.
SELECT ledger.hold(2, 3, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, -1);
\echo :LAST_ERROR_SQLSTATE
-- Two different accounts that exist, of one asset, both open.
SELECT ledger.hold(2, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(999, 3, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 999, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(6, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(1, 6, 1);
\echo :LAST_ERROR_SQLSTATE
-- Within limits, as if posted.
SELECT ledger.hold(2, 1, 8451);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(1, 3, 3451);
\echo :LAST_ERROR_SQLSTATE
-- The expiry, when given, is finite and in the future.  (now() is the start
-- of the transaction, already past; its message shows the time, so only the
-- SQLSTATE is printed.)
\set VERBOSITY sqlstate
SELECT ledger.hold(2, 3, 1, now());
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, '2000-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, '-infinity');
\echo :LAST_ERROR_SQLSTATE
-- Keys and metadata are checked as for transfers.
SELECT ledger.hold(2, 3, 1, idempotency_key => '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, idempotency_key => repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT ledger.hold(2, 3, 1, idempotency_key => E'a\x1fb');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, metadata => '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 1, metadata => 'null'::jsonb);
\echo :LAST_ERROR_SQLSTATE
-- A hold's key with another amount, description or metadata is a
-- conflict; the same arguments, whatever the expiry, return the hold and
-- reserve nothing more.
SELECT ledger.hold(2, 3, 501, NULL, 'auth-1', 'order 2');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 500, '2999-01-01 00:00:00+00', 'auth-1', 'order 2') AS hold;
SELECT ledger.hold(2, 3, 500, NULL, 'auth-1', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 500, NULL, 'auth-1', 'order 2', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 3, 500, NULL, 'auth-1', 'order 2') AS hold;
-- A captured hold's replay returns it too.
SELECT ledger.hold(2, 3, 200, NULL, 'auth-2') AS hold;
SELECT nothing_written();

--
-- Captures, releases and expiry
--

-- The hold is required and must exist.
SELECT ledger.capture(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(0);
\echo :LAST_ERROR_SQLSTATE
-- A capture's amount is positive and at most the hold's.
SELECT ledger.capture(1, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, 501);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, :'max');
\echo :LAST_ERROR_SQLSTATE
-- A capture's key is checked as a transfer's.
SELECT ledger.capture(1, NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, NULL, repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT ledger.capture(1, NULL, E'a\tb');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
-- It is a transfer key: one of a plain transfer, of a reversal or of
-- another capture is a conflict, and so is this capture's key with another
-- amount.
SELECT ledger.capture(1, NULL, 'deposit-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, NULL, 'rev-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, 150, 'cap-2');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(2, 149, 'cap-2');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(2, NULL, 'cap-2');
\echo :LAST_ERROR_SQLSTATE
-- The capture's own replay returns its transfer.
SELECT ledger.capture(2, 150, 'cap-2') AS transfer;
-- A hold is resolved once: after a capture ...
SELECT ledger.capture(2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(2, 10, 'cap-2-again');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(2);
\echo :LAST_ERROR_SQLSTATE
-- ... after a release ...
SELECT ledger.capture(3);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(3);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

-- ... and after its expiry, before and after the expiry is recorded.  The
-- message gives the expiry time, so it is printed without its detail.
SELECT pg_sleep(0.3);
SELECT id, status FROM ledger.holds WHERE id = 4;
\set VERBOSITY terse
SELECT ledger.capture(4);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(4, 10, 'late-capture');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(4);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();
SELECT ledger.expire_holds();
SELECT remember_state();
SELECT ledger.capture(4);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(4);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- Nothing is left to expire, and the batch size is at least 1.
SELECT ledger.expire_holds();
SELECT ledger.expire_holds(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.expire_holds(0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.expire_holds(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

--
-- Batches
--

-- The array, each element and each element's accounts and amount are
-- required.
SELECT ledger.transfer_batch(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), NULL]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(NULL, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, NULL, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, NULL, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
-- One dimension, at most 100000 items.
SELECT ledger.transfer_batch(ARRAY[[ROW(1, 2, 1, NULL, NULL, NULL)], [ROW(1, 2, 1, NULL, NULL, NULL)]]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[[ROW(1, 2, 1, NULL, NULL, NULL)]]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(array_agg(ROW(1, 2, 1, NULL, NULL, NULL)::ledger.transfer_request))
  FROM generate_series(1, 100001);
\echo :LAST_ERROR_SQLSTATE
-- Every item obeys the rules of a transfer; the CONTEXT names the item.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 0, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, -1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(999, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 999, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 4, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 6, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 1, 8452, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 3, 3451, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, '', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, repeat('k', 256), NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, NULL, NULL, 'null'::jsonb)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, NULL, NULL, '[]')]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
-- Keys: an earlier transfer's or capture's key with other arguments, and
-- one key twice in the batch with other arguments, are conflicts.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, 'deposit-1', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 3, 150, 'cap-2', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, 'twice', NULL, NULL), ROW(1, 2, 2, 'twice', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
-- An empty batch, and a batch of replays, write nothing.
SELECT ledger.transfer_batch('{}') AS ids;
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 10000, 'deposit-1', 'deposit', '{"n": 1}'),
                                   ROW(1, 2, 50, 'small', NULL, NULL)]::ledger.transfer_request[]) AS ids;
SELECT nothing_written();

--
-- Reversals
--

-- The transfer is required and must exist.
SELECT ledger.reverse(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(-9223372036854775808);
\echo :LAST_ERROR_SQLSTATE
-- The amount is positive, at most what remains.
SELECT ledger.reverse(5, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(5, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(5, 901);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, 1);
\echo :LAST_ERROR_SQLSTATE
-- The key is checked as a transfer's.
SELECT ledger.reverse(5, 1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(5, 1, repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT ledger.reverse(5, 1, E'a\rb');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
-- A reversal's key with another amount or another transfer, and the key of
-- a plain transfer or a capture, are conflicts.
SELECT ledger.reverse(5, 101, 'rev-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(1, 100, 'rev-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(5, 100, 'deposit-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(6, NULL, 'cap-2');
\echo :LAST_ERROR_SQLSTATE
-- Its replays return it, with or without the amount.
SELECT ledger.reverse(5, 100, 'rev-1') AS transfer;
SELECT ledger.reverse(5, NULL, 'rev-1') AS transfer;
-- A reversal obeys the rules of a transfer: it cannot take alice below
-- zero, nor debit the closed account.
SELECT ledger.reverse(1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(3);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

--
-- History and verification
--

-- The account and the moments are required; the account must exist.
SELECT ledger.balance_at(NULL, now());
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.balance_at(2, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.balance_at(999, now());
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(2, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(2, '-infinity', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.verify(999);
\echo :LAST_ERROR_SQLSTATE
-- An empty window is no error.
SELECT count(*) FROM ledger.statement(2, 'infinity', '-infinity');
SELECT nothing_written();

--
-- Overflow: every balance column, and the available balance and the
-- balance with pending inflows derived from them, must stay within the
-- range of ledger.amount.  The accounts below have no minimum, so only the
-- range stops them.
--
-- (A rejected create_account draws an id from the accounts' sequence, so
-- the ids are kept in psql variables.)
SELECT ledger.create_account('USD', 'whale', min_balance => NULL) AS whale \gset
SELECT ledger.create_account('USD', 'sink', min_balance => NULL) AS sink \gset
SELECT ledger.create_account('USD', 'big_payer', min_balance => NULL) AS big_payer \gset
SELECT ledger.create_account('USD', 'big_payee', min_balance => NULL) AS big_payee \gset
SELECT ledger.create_account('USD', 'spare', min_balance => NULL) AS spare \gset
SELECT ledger.create_account('USD', 'spare2', min_balance => NULL) AS spare2 \gset
-- A transfer takes the whale's debits_posted and the sink's credits_posted
-- to the maximum; a hold does the same to the big payer's debits_pending
-- and the big payee's credits_pending.
SELECT ledger.transfer(:whale, :sink, :'max') AS whale_transfer \gset
SELECT ledger.hold(:big_payer, :big_payee, :'max') > 0 AS big_hold;
SELECT name, debits_posted, credits_posted, debits_pending, credits_pending
  FROM ledger.accounts WHERE id IN (:whale, :sink, :big_payer, :big_payee) ORDER BY id;
SELECT name, posted, pending_debits, pending_credits, available
  FROM ledger.account_balances WHERE account_id IN (:whale, :sink, :big_payer, :big_payee)
 ORDER BY account_id;
SELECT remember_state();

-- debits_posted and credits_posted.
SELECT ledger.transfer(:whale, :spare, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(:spare, :sink, 1);
\echo :LAST_ERROR_SQLSTATE
-- debits_pending and credits_pending.
SELECT ledger.hold(:big_payer, :spare, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(:spare, :big_payee, 1);
\echo :LAST_ERROR_SQLSTATE
-- The available balance: the whale's is -max, which a hold of 1 would take
-- to the smallest amount and a hold of 2 past it; the big payer's is -max
-- too, which a transfer of 2 would take past it.  (Printed tersely: the
-- message and the SQLSTATE are what matter.)
\set VERBOSITY terse
SELECT ledger.hold(:whale, :spare, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(:big_payer, :spare, 2);
\echo :LAST_ERROR_SQLSTATE
-- The balance with pending inflows: the sink's is max (all of it posted),
-- the big payee's is max as well (all of it pending).
SELECT ledger.hold(:spare, :sink, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(:spare, :big_payee, 1);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- In a batch, the same, naming the item.
SELECT ledger.transfer_batch(ARRAY[ROW(:spare, :spare2, 1, NULL, NULL, NULL), ROW(:whale, :spare, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(:spare, :spare2, 1, NULL, NULL, NULL), ROW(:spare, :sink, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
-- batch_error() gives a failed batch's SQLSTATE and the item its CONTEXT
-- names.  Overflowing the available balance or the balance with pending
-- inflows names the item too.
CREATE FUNCTION batch_error(transfers ledger.transfer_request[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    context text;
BEGIN
    PERFORM ledger.transfer_batch(transfers);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, context = PG_EXCEPTION_CONTEXT;
    RETURN state || ', ' || coalesce(substring(context FROM 'transfer_batch item [0-9]+'), 'no item named');
END
$$;
SELECT batch_error(ARRAY[ROW(:spare, :spare2, 1, NULL, NULL, NULL), ROW(:whale, :spare, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
SELECT batch_error(ARRAY[ROW(:spare, :spare2, 1, NULL, NULL, NULL), ROW(:big_payer, :spare, 2, NULL, NULL, NULL)]::ledger.transfer_request[]);
SELECT batch_error(ARRAY[ROW(:spare, :spare2, 1, NULL, NULL, NULL), ROW(:spare, :big_payee, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
SELECT nothing_written();

-- A reversal: the sink spends 10, so its balance is max - 10; reversing
-- the whale's transfer in full would debit the sink max more.
SELECT ledger.transfer(:sink, :spare, 10) > 0 AS sink_spent;
SELECT remember_state();
SELECT ledger.reverse(:whale_transfer);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();
-- A capture posts what its hold reserved: the sink, at max - 10 with its
-- credits_posted at max, may take a hold of 5, but capturing any of it
-- would take credits_posted past the maximum.
SELECT ledger.hold(:spare, :sink, 5) AS sink_hold \gset
SELECT remember_state();
SELECT ledger.capture(:sink_hold);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(:sink_hold, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();
-- The balances still read.
SELECT name, posted, pending_debits, pending_credits, available
  FROM ledger.account_balances WHERE account_id >= :whale ORDER BY account_id;

--
-- The tables themselves: written only through the functions above.
--
INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, created_at)
VALUES (1, 2, 5, now());
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.entries SET amount = 1 WHERE transfer_id = 1;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.hold_records WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.entries;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET debits_pending = 0 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hold_records SET status = 'released' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET name = '' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET metadata = '[]' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.assets WHERE code = 'USD';
\echo :LAST_ERROR_SQLSTATE
SELECT nothing_written();

-- What the ledger holds at the end, and it is consistent.
SELECT * FROM row_counts;
SELECT * FROM ledger.verify();
