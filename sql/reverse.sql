--
-- Reversals: history is never edited; ledger.reverse corrects a transfer with
-- the opposite movement, in full or in parts, linked to the original.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'bob') AS bob;
SELECT ledger.create_account('USD', 'carol') AS carol;

-- What a rejected call must leave untouched.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT ledger.sum(version) FROM ledger.accounts) AS versions;

SELECT ledger.transfer(1, 2, 10000, 'deposit') AS deposit;
SELECT ledger.transfer(2, 3, 3000, NULL, 'payment') AS payment;

-- A full reversal: without an amount, the whole transfer goes back, from
-- the credit account to the debit account.
SELECT ledger.reverse(2) AS reversal;
SELECT id, debit_account_id, credit_account_id, amount, idempotency_key,
       description, reverses_transfer_id
  FROM ledger.transfers ORDER BY id;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE transfer_id = 3 ORDER BY id;
SELECT account_id, name, posted FROM ledger.account_balances WHERE account_id IN (2, 3) ORDER BY account_id;

-- The link reads both ways: the reversals of a transfer, and the transfer a
-- reversal undoes.
SELECT id FROM ledger.transfers WHERE reverses_transfer_id = 2;
SELECT o.id, o.description
  FROM ledger.transfers r JOIN ledger.transfers o ON o.id = r.reverses_transfer_id
 WHERE r.id = 3;

-- Once fully reversed, a transfer cannot be reversed again, with or without
-- an amount.
SELECT ledger.reverse(2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(2, 1);
\echo :LAST_ERROR_SQLSTATE

-- Partial reversals add up to at most the original amount.
SELECT ledger.transfer(2, 3, 5000) AS payment;
SELECT ledger.reverse(4, 1000) AS first_part;
SELECT ledger.reverse(4, 1500) AS second_part;
SELECT ledger.reverse(4, 3000);
\echo :LAST_ERROR_SQLSTATE
-- Without an amount, what remains.
SELECT ledger.reverse(4) AS rest;
SELECT id, amount, description FROM ledger.transfers WHERE reverses_transfer_id = 4 ORDER BY id;
SELECT ledger.sum(amount) AS reversed FROM ledger.transfers WHERE reverses_transfer_id = 4;
SELECT ledger.reverse(4);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT account_id, name, posted FROM ledger.account_balances WHERE account_id IN (2, 3) ORDER BY account_id;

-- A first reversal may not exceed the original either.
SELECT ledger.transfer(2, 3, 100) AS small_payment;
SELECT ledger.reverse(8, 101);
\echo :LAST_ERROR_SQLSTATE

-- Limits apply as for any transfer: once bob has spent most of a payment, it
-- cannot be reversed in full, and the refused call writes nothing.
SELECT ledger.transfer(2, 3, 2000) AS payment;
SELECT ledger.transfer(3, 4, 1900) AS bob_spends;
SELECT * FROM row_counts;
SELECT ledger.reverse(9);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;
-- What bob still has can go back; the rest once the funds are back.
SELECT ledger.reverse(9, 200) AS what_bob_has;
SELECT ledger.transfer(4, 3, 1800) AS carol_pays_bob;
SELECT ledger.reverse(9) AS the_rest;
SELECT id, amount FROM ledger.transfers WHERE reverses_transfer_id = 9 ORDER BY id;

-- A closed account takes part in no reversal either.
SELECT ledger.transfer(2, 4, 500) AS payment_to_carol;
SELECT ledger.close_account(4);
SELECT ledger.reverse(14);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(4);
SELECT ledger.reverse(14) AS after_reopening;

-- Arguments: a known transfer, and a positive amount when one is given.
SELECT ledger.reverse(999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, 1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- Idempotency keys
--

SELECT ledger.transfer(2, 3, 1000, 'order-16') AS payment;
SELECT ledger.reverse(16, 300, 'refund-1') AS refund;
SELECT * FROM row_counts;
-- A replay returns the same reversal, with the amount or without it (not
-- what remains, which is now 700), and writes nothing.
SELECT ledger.reverse(16, 300, 'refund-1') AS replay;
SELECT ledger.reverse(16, idempotency_key => 'refund-1') AS replay_without_amount;
SELECT * FROM row_counts;
-- A new key without an amount reverses what remains.
SELECT ledger.reverse(16, idempotency_key => 'refund-2') AS rest;
SELECT id, amount, idempotency_key FROM ledger.transfers WHERE reverses_transfer_id = 16 ORDER BY id;
-- Replays still answer once the transfer is fully reversed.
SELECT ledger.reverse(16, 300, 'refund-1') AS replay;
SELECT ledger.reverse(16, idempotency_key => 'refund-1') AS replay_without_amount;
SELECT ledger.reverse(16, idempotency_key => 'refund-2') AS replay_of_rest;
SELECT * FROM row_counts;

-- A key used with other arguments is a conflict: another amount, another
-- transfer (with or without an amount), a plain transfer with a reversal's
-- key, a reversal with a plain transfer's key.
SELECT ledger.reverse(16, 400, 'refund-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, 300, 'refund-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, idempotency_key => 'refund-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(3, 2, 300, 'refund-1', 'reversal of transfer 16');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reverse(8, 100, 'order-16');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- A reversal is a transfer like any other: it can be reversed in turn.
--

SELECT ledger.reverse(3) AS reversal_of_reversal;
SELECT id, debit_account_id, credit_account_id, amount, description, reverses_transfer_id
  FROM ledger.transfers WHERE id IN (2, 3, 19) ORDER BY id;
SELECT ledger.reverse(3);
\echo :LAST_ERROR_SQLSTATE
-- The chain from the original payment.
WITH RECURSIVE chain AS (
    SELECT id, reverses_transfer_id, amount, 0 AS depth FROM ledger.transfers WHERE id = 2
    UNION ALL
    SELECT t.id, t.reverses_transfer_id, t.amount, c.depth + 1
      FROM ledger.transfers t JOIN chain c ON t.reverses_transfer_id = c.id)
SELECT * FROM chain ORDER BY depth;

-- No transfer is reversed by more than it moved.
SELECT o.id, o.amount, ledger.sum(r.amount) AS reversed
  FROM ledger.transfers o JOIN ledger.transfers r ON r.reverses_transfer_id = o.id
 GROUP BY o.id, o.amount ORDER BY o.id;
SELECT account_id, name, posted FROM ledger.account_balances ORDER BY account_id;

-- Every account's balance and version equal what its entries say.
SELECT a.id, (a.version = coalesce(max(e.account_version), 0)) AS versions_match,
       (a.version = count(e.id)) AS gapless,
       (a.debits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)) AS debits_match,
       (a.credits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0)) AS credits_match
  FROM ledger.accounts a LEFT JOIN ledger.entries e ON e.account_id = a.id
 GROUP BY a.id ORDER BY a.id;
