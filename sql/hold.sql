--
-- Holds: a two-phase transfer reserves an amount now and is resolved once,
-- later: captured (in full or in part), released, or expired.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;
-- Expiry times appear in some messages; print them the same everywhere.
SET TimeZone = 'UTC';

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'shop', max_balance => 5000) AS shop;
SELECT ledger.create_account('USD', 'bob') AS bob;
SELECT ledger.create_account('EUR', 'eve') AS eve;
SELECT ledger.transfer(1, 2, 10000, description => 'funding');

-- What a rejected call must leave untouched.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT count(*) FROM ledger.hold_records) AS holds,
       (SELECT count(*) FROM ledger.hold_records WHERE status = 'pending') AS pending_holds,
       (SELECT ledger.sum(debits_pending) FROM ledger.accounts) AS debits_pending,
       (SELECT ledger.sum(credits_pending) FROM ledger.accounts) AS credits_pending,
       (SELECT ledger.sum(version) FROM ledger.accounts) AS versions;

-- Balances of the accounts, as every reader sees them.
CREATE VIEW balances AS
SELECT account_id, name, posted, pending_debits, pending_credits, available
  FROM ledger.account_balances;

-- A hold as the view ledger.holds shows it, with what is recorded in
-- ledger.hold_records: the recorded status and each side's reservation.
CREATE VIEW hold_states AS
SELECT v.id, v.debit_account_id AS debit, v.credit_account_id AS credit,
       v.amount, v.captured_amount AS captured, v.capture_transfer_id AS transfer,
       v.status, r.status AS recorded_status,
       r.debit_reserved, r.credit_reserved, v.resolved_at IS NOT NULL AS resolved
  FROM ledger.holds AS v
  JOIN ledger.hold_records AS r USING (id);

--
-- A hold reserves: alice's pending debits and the shop's pending credits
-- grow by 3000; nothing is posted, so no transfer, entry or version.
--
SELECT * FROM row_counts;
SELECT ledger.hold(2, 3, 3000, description => 'order 1', metadata => '{"order": 1}') AS hold;
SELECT id, debit_account_id, credit_account_id, amount, captured_amount, status,
       expires_at, resolved_at, capture_transfer_id, idempotency_key, description,
       metadata, amount_display
  FROM ledger.holds ORDER BY id;
SELECT * FROM ledger.balance(2);
SELECT * FROM ledger.balance(3);
SELECT * FROM balances ORDER BY account_id;
SELECT * FROM row_counts;

-- For a debit-normal account the outflows are credits: a hold into the bank
-- lowers its available balance through its pending credits.
SELECT ledger.hold(2, 1, 500, description => 'fee') AS hold;
SELECT * FROM ledger.balance(1);
SELECT * FROM ledger.balance(2);

--
-- Limits are checked as if every hold were posted.
--
-- Alice has 10000 posted and 3500 on hold: 6500 available.
SELECT ledger.hold(2, 4, 6501);
\echo :LAST_ERROR_SQLSTATE
-- The shop may hold 5000; with 3000 pending inflows it may take 2000 more.
SELECT ledger.hold(2, 3, 2001);
\echo :LAST_ERROR_SQLSTATE
-- Exactly reaching the maximum is allowed.
SELECT ledger.hold(2, 3, 2000, description => 'order 2') AS hold;
SELECT * FROM balances WHERE account_id IN (2, 3) ORDER BY account_id;
-- A plain transfer sees the same figures: alice has 4500 available and the
-- shop no room left.
SELECT ledger.transfer(2, 4, 4501);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 3, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- Capture in full: a transfer of the held amount, with its entries, like any
-- other transfer; it carries the hold's description and metadata and points
-- back to the hold.
--
SELECT ledger.capture(3) AS transfer;
SELECT id, debit_account_id, credit_account_id, amount, description, metadata, hold_id
  FROM ledger.transfers ORDER BY id;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE transfer_id = 2 ORDER BY id;
SELECT * FROM hold_states WHERE id = 3;
SELECT * FROM balances WHERE account_id IN (2, 3) ORDER BY account_id;

--
-- Partial capture: posts 1200 of hold 1 and releases the other 1800 of its
-- reservation.
--
SELECT ledger.capture(1, 1200) AS transfer;
SELECT id, debit_account_id, credit_account_id, amount, description, metadata, hold_id
  FROM ledger.transfers WHERE id = 3;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE transfer_id = 3 ORDER BY id;
SELECT * FROM hold_states WHERE id IN (1, 3) ORDER BY id;
SELECT * FROM balances WHERE account_id IN (2, 3) ORDER BY account_id;

--
-- Release: the reservation goes, nothing is posted.
--
SELECT * FROM row_counts;
SELECT ledger.release(2);
SELECT * FROM hold_states WHERE id = 2;
SELECT * FROM ledger.balance(1);
SELECT * FROM ledger.balance(2);
SELECT * FROM row_counts;

--
-- A hold is resolved once: capturing or releasing it again is refused with
-- the reason.
--
SELECT ledger.capture(3);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(3);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(1, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(2);
\echo :LAST_ERROR_SQLSTATE

--
-- A capture is of a positive amount no larger than the hold, of a hold that
-- exists.
--
SELECT ledger.hold(2, 4, 500, description => 'order 3') AS hold;
SELECT ledger.capture(4, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(4, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(4, 501);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(4, NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(4, NULL, E'bad\tkey');
\echo :LAST_ERROR_SQLSTATE
-- Capturing exactly the hold is allowed.
SELECT ledger.capture(4, 500) AS transfer;
SELECT * FROM hold_states WHERE id = 4;

--
-- A hold's arguments are checked like a transfer's.
--
SELECT * FROM row_counts;
SELECT ledger.hold(NULL, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 999, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 5, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, metadata => '"text"');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, idempotency_key => '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, idempotency_key => repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, idempotency_key => E'bad\nkey');
\echo :LAST_ERROR_SQLSTATE

-- The expiry, when given, is a finite time in the future.  (now() is the
-- start of the transaction, already past; its message shows the time, so
-- only the SQLSTATE is printed.)
\set VERBOSITY sqlstate
SELECT ledger.hold(2, 4, 1, now());
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, '2000-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 1, '-infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- Idempotency of holds: a replay with the same key and arguments returns the
-- hold and reserves nothing more; the same key with other accounts, amount,
-- description or metadata is a conflict.  The expiry is the first call's:
-- a retry that computes "a week from now" again gets the hold already
-- placed, whatever time it asks for.
--
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}') AS hold;
SELECT * FROM row_counts;
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{ "card" : "4242" }') AS hold;
SELECT * FROM row_counts;
SELECT ledger.hold(2, 4, 101, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 1, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(4, 2, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 100, '2999-01-02 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}') AS hold;
SELECT ledger.hold(2, 4, 100, NULL, 'auth-1', 'card auth', '{"card": "4242"}') AS hold;
SELECT expires_at FROM ledger.holds WHERE idempotency_key = 'auth-1';
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'other', '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', NULL, '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "1111"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- Idempotency of captures: the key names the capture's transfer.  A replay
-- returns that transfer even though the hold is no longer pending.
--
SELECT ledger.capture(5, 60, 'capture-1') AS transfer;
SELECT id, debit_account_id, credit_account_id, amount, idempotency_key, hold_id
  FROM ledger.transfers WHERE id = 5;
SELECT * FROM hold_states WHERE id = 5;
SELECT * FROM row_counts;
SELECT ledger.capture(5, 60, 'capture-1') AS transfer;
SELECT * FROM row_counts;
-- Replaying the hold itself still returns the hold, now captured, and
-- reserves nothing.
SELECT ledger.hold(2, 4, 100, '2999-01-01 00:00:00+00', 'auth-1', 'card auth', '{"card": "4242"}') AS hold;
SELECT * FROM row_counts;
-- Another amount, another hold, or a plain transfer with the key: conflicts.
SELECT ledger.capture(5, 61, 'capture-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(5, NULL, 'capture-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 4, 60, description => 'card auth', metadata => '{"card": "4242"}') AS hold;
SELECT ledger.capture(6, 60, 'capture-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 4, 60, 'capture-1', 'card auth', '{"card": "4242"}');
\echo :LAST_ERROR_SQLSTATE
-- Without the key, or with a new one, it is a second capture: refused.
SELECT ledger.capture(5, 60);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(5, 60, 'capture-2');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(6);
SELECT * FROM row_counts;

--
-- Expiry.  Carol has 1000 and holds 800 of it for bob until a moment from
-- now; dave holds 100 for erin the same way.
--
SELECT ledger.create_account('USD', 'carol') AS carol;
SELECT ledger.create_account('USD', 'dave') AS dave;
SELECT ledger.create_account('USD', 'erin') AS erin;
SELECT ledger.transfer(1, 6, 1000) > 0 AS carol_funded;
SELECT ledger.transfer(1, 7, 100) > 0 AS dave_funded;
SELECT ledger.hold(6, 4, 800, clock_timestamp() + interval '500 milliseconds') AS hold;
SELECT ledger.hold(7, 8, 100, clock_timestamp() + interval '500 milliseconds') AS hold;
SELECT pg_sleep(0.6);

-- Nothing has run since the expiry, yet the holds read as expired, and the
-- balances no longer count them, though the release is not recorded yet.
SELECT * FROM hold_states WHERE id IN (7, 8) ORDER BY id;
SELECT id, debits_pending, credits_pending FROM ledger.accounts WHERE id IN (4, 6) ORDER BY id;
SELECT * FROM ledger.balance(6);
SELECT * FROM ledger.balance(4);
SELECT * FROM balances WHERE account_id IN (4, 6) ORDER BY account_id;

-- An expired hold can be neither captured nor released.  (The detail shows
-- the expiry time, so only the message is printed.)
\set VERBOSITY terse
SELECT ledger.capture(7);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.capture(7, 100, 'late-capture');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(7);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT * FROM hold_states WHERE id = 7;

-- A transfer that needs the reserved funds goes through: locking carol's
-- account releases the expired hold first, on both sides, and records it.
SELECT ledger.transfer(6, 4, 900) > 0 AS carol_paid;
SELECT * FROM hold_states WHERE id = 7;
SELECT id, debits_pending, credits_pending FROM ledger.accounts WHERE id IN (4, 6) ORDER BY id;
SELECT * FROM balances WHERE account_id IN (4, 6) ORDER BY account_id;
-- Once the expiry is recorded, the answer is the same.
\set VERBOSITY terse
SELECT ledger.release(7);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- An account whose holds have all expired can be closed: the lock releases
-- them.
SELECT ledger.close_account(8);
SELECT * FROM hold_states WHERE id = 8;
SELECT ledger.reopen_account(8);

--
-- ledger.expire_holds() records the release of expired holds in bulk and
-- returns how many it expired.  Three holds on separate accounts expire;
-- a batch of 2 takes the two that expired first, the next call the last.
--
SELECT ledger.create_account('USD', 'source ' || n, normal_balance => 'debit', min_balance => NULL)
  FROM generate_series(1, 3) AS n;
SELECT ledger.create_account('USD', 'sink ' || n) FROM generate_series(1, 3) AS n;
SELECT ledger.hold(ledger.account_id('source ' || n), ledger.account_id('sink ' || n), 10,
                   clock_timestamp() + interval '500 milliseconds') AS hold
  FROM generate_series(1, 3) AS n;
SELECT pg_sleep(0.6);
SELECT id, status, recorded_status FROM hold_states WHERE id >= 9 ORDER BY id;
SELECT ledger.expire_holds(2);
SELECT id, status, recorded_status, debit_reserved, credit_reserved, resolved
  FROM hold_states WHERE id >= 9 ORDER BY id;
SELECT ledger.expire_holds();
SELECT id, status, recorded_status, debit_reserved, credit_reserved, resolved
  FROM hold_states WHERE id >= 9 ORDER BY id;
SELECT ledger.expire_holds();
-- The batch size is at least 1.
SELECT ledger.expire_holds(0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.expire_holds(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.expire_holds(NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- Closing: an account with a pending hold, on either side, cannot be closed;
-- once the hold is released it can.  A closed account takes no new hold.
--
SELECT ledger.hold(2, 4, 50, description => 'order 4') AS hold;
SELECT ledger.close_account(2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.close_account(4);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.release(12);
SELECT ledger.close_account(4);
SELECT ledger.hold(2, 4, 50);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(4, 2, 50);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(4);

--
-- Guard: hold records change only through the ledger functions, not even a
-- pending hold's status by hand.
--
SELECT ledger.hold(2, 4, 70, description => 'order 5') AS hold;
SELECT * FROM row_counts;
INSERT INTO ledger.hold_records (debit_account_id, credit_account_id, amount, created_at)
VALUES (2, 4, 1, now());
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hold_records SET status = 'released' WHERE id = 13;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hold_records SET debit_reserved = false, credit_reserved = false WHERE id = 13;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hold_records SET amount = 1 WHERE id = 13;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hold_records SET captured_amount = 1 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.hold_records WHERE id = 13;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.hold_records;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;
SELECT * FROM hold_states WHERE id = 13;

--
-- Every account's pending columns are the sum of the holds reserved on
-- them, and its posted balances equal what its entries say.
--
SELECT a.id,
       a.debits_pending = coalesce((SELECT ledger.sum(h.amount) FROM ledger.hold_records h
                                     WHERE h.debit_account_id = a.id AND h.debit_reserved), 0)
           AS debits_pending_match,
       a.credits_pending = coalesce((SELECT ledger.sum(h.amount) FROM ledger.hold_records h
                                      WHERE h.credit_account_id = a.id AND h.credit_reserved), 0)
           AS credits_pending_match,
       a.version = coalesce((SELECT max(e.account_version) FROM ledger.entries e
                              WHERE e.account_id = a.id), 0) AS versions_match,
       a.debits_posted = coalesce((SELECT ledger.sum(e.amount) FROM ledger.entries e
                                    WHERE e.account_id = a.id AND e.direction = 'debit'), 0)
           AS debits_match,
       a.credits_posted = coalesce((SELECT ledger.sum(e.amount) FROM ledger.entries e
                                     WHERE e.account_id = a.id AND e.direction = 'credit'), 0)
           AS credits_match
  FROM ledger.accounts a ORDER BY a.id;
-- Every capture's transfer is the one its hold names, for the amount captured.
SELECT t.id AS transfer, t.hold_id, t.amount = h.captured_amount AS amount_match,
       h.capture_transfer_id = t.id AS linked
  FROM ledger.transfers t JOIN ledger.hold_records h ON h.id = t.hold_id ORDER BY t.id;
