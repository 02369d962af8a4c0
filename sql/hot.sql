--
-- Hot accounts: postings that cannot break a rule of the account are queued
-- instead of waiting for its row lock, and become entries, in queue order,
-- the next time the account is locked.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'bob') AS bob;
-- A fee account: credit-normal, never below zero.
SELECT ledger.create_account('USD', 'fees') AS fees;
SELECT ledger.create_account('EUR', 'euros') AS euros;

-- What a rejected call must leave untouched.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT count(*) FROM ledger.hot_entries) AS queued,
       (SELECT ledger.sum(version) FROM ledger.accounts) AS versions;

SELECT ledger.transfer(1, 2, 100000, 'fund alice');
SELECT ledger.transfer(1, 3, 100000, 'fund bob');

-- Hot mode is off by default, and switched on per account.
SELECT id, name, hot FROM ledger.accounts ORDER BY id;
SELECT ledger.set_account_hot(4);
SELECT ledger.set_account_hot(4, true);  -- again: nothing changes
SELECT id, hot FROM ledger.accounts WHERE hot;

-- Credits to the fee account move its balance away from its only bound
-- (min_balance 0): they are queued, and the payer's side is an entry.
SELECT ledger.transfer(2, 4, 150, 'fee 1') AS fee1;
SELECT ledger.transfer(3, 4, 250, 'fee 2') AS fee2;
SELECT account_id, transfer_id, direction, amount FROM ledger.hot_entries ORDER BY id;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE transfer_id IN (3, 4) ORDER BY transfer_id, account_id;
SELECT version, credits_posted FROM ledger.accounts WHERE id = 4;

-- Every balance read includes the queue.
SELECT * FROM ledger.balance(4);
SELECT account_id, posted, available, posted_display, hot
  FROM ledger.account_balances WHERE account_id IN (2, 4) ORDER BY account_id;
SELECT ledger.balance_at(4, 'infinity') AS now_balance,
       ledger.balance_at(4, '-infinity') AS before_any;
SELECT * FROM ledger.verify();

-- The statement shows entries only: queued postings appear once applied.
SELECT count(*) FROM ledger.statement(4);
SELECT ledger.apply_hot_entries(4) AS applied;
SELECT ledger.apply_hot_entries(4) AS applied_again;
SELECT account_version, transfer_id, direction, amount, balance_after, counterparty_account_id, description
  FROM ledger.statement(4);
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT version, credits_posted FROM ledger.accounts WHERE id = 4;

-- A debit from the hot account could break min_balance: it takes the
-- account's row lock, applies the queue first, and is checked against the
-- whole balance.
SELECT ledger.transfer(2, 4, 600, 'fee 3') AS fee3;
SELECT ledger.transfer(4, 1, 900, 'payout') AS payout;
SELECT account_version, direction, amount, balance_after
  FROM ledger.entries WHERE account_id = 4 ORDER BY account_version;
SELECT * FROM row_counts;
SELECT ledger.transfer(4, 1, 101, 'too much');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;
SELECT ledger.transfer(4, 1, 100, 'the rest') AS rest;
SELECT * FROM ledger.balance(4);

-- Idempotency holds on the queued path: a replay returns the same transfer
-- and queues nothing; other arguments under the key are refused.
SELECT ledger.transfer(2, 4, 75, 'k-fee') AS keyed;
SELECT ledger.transfer(2, 4, 75, 'k-fee') AS replay;
SELECT ledger.transfer(2, 4, 76, 'k-fee');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS queued FROM ledger.hot_entries;

-- The other rules are checked as on the ordinary path.
SELECT * FROM row_counts;
SELECT ledger.transfer(2, 99, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(99, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(5, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 4, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(4, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 4, 1000000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

-- A maximum balance: credits could cross it, so they take the lock and are
-- checked; with no minimum, debits of a credit-normal account are queued.
SELECT ledger.set_account_limits(4, NULL, 200);
SELECT ledger.transfer(2, 4, 10, 'capped fee') AS capped;
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT ledger.transfer(4, 3, 20, 'refund') AS refund;
SELECT account_id, direction, amount FROM ledger.hot_entries ORDER BY id;
SELECT ledger.transfer(2, 4, 136);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 4, 135) AS up_to_the_cap;
SELECT * FROM ledger.balance(4);
SELECT ledger.set_account_limits(4, 0, NULL);

-- Both sides hot: nothing is locked, both postings are queued.
SELECT ledger.set_account_hot(1);
SELECT ledger.transfer(1, 4, 5, 'both hot') AS both_hot;
SELECT account_id, direction, amount FROM ledger.hot_entries WHERE transfer_id = currval('ledger.transfers_id_seq') ORDER BY account_id;
SELECT * FROM ledger.verify();

-- At REPEATABLE READ the snapshot may predate a change of the account, so
-- the ordinary locked path is taken.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT ledger.transfer(3, 4, 7, 'repeatable read') AS rr;
SELECT count(*) AS queued_for_it FROM ledger.hot_entries WHERE transfer_id = currval('ledger.transfers_id_seq');
COMMIT;

-- Closing a hot account applies its queue; a closed account takes nothing.
SELECT ledger.close_account(1);
SELECT count(*) AS queued_on_bank FROM ledger.hot_entries WHERE account_id = 1;
SELECT ledger.transfer(1, 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(1);

-- Batches, holds and reversals lock hot accounts as usual.
SELECT ledger.transfer(2, 4, 3, 'queued before the batch') AS queued_before;
SELECT array_length(ledger.transfer_batch(ARRAY[
         ROW(2, 4, 11, NULL, 'batch fee', NULL),
         ROW(3, 4, 12, NULL, 'batch fee', NULL)]::ledger.transfer_request[]), 1) AS batch;
SELECT count(*) AS queued_on_fees FROM ledger.hot_entries WHERE account_id = 4;
SELECT ledger.hold(2, 4, 40) AS hold;
SELECT ledger.capture(currval('ledger.hold_records_id_seq')) AS capture;
SELECT ledger.reverse(currval('ledger.transfers_id_seq')) AS reversal;
SELECT * FROM ledger.verify();

-- Switching hot mode off applies the queue, so only hot accounts have one.
SELECT ledger.transfer(2, 4, 1, 'last queued') AS last_queued;
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT ledger.set_account_hot(4, false);
SELECT ledger.set_account_hot(1, false);
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT id, hot FROM ledger.accounts WHERE hot;
SELECT ledger.transfer(2, 4, 2, 'cold again') AS cold_again;
SELECT count(*) AS queued FROM ledger.hot_entries;
SELECT account_id, posted FROM ledger.account_balances ORDER BY account_id;
SELECT ledger.apply_hot_entries() AS nothing_to_apply;
SELECT * FROM ledger.verify();

-- Arguments.
SELECT ledger.set_account_hot(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_hot(4, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_hot(99);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.apply_hot_entries(99);
\echo :LAST_ERROR_SQLSTATE

-- The queue is the ledger's: no direct write passes, even the owner's.
SELECT ledger.set_account_hot(4);
SELECT ledger.transfer(2, 4, 9, 'to be tampered with') AS tampered;
INSERT INTO ledger.hot_entries (account_id, transfer_id, direction, amount, created_at)
VALUES (4, 1, 'credit', 1, now());
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.hot_entries SET amount = 1;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.hot_entries;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.hot_entries;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET hot = false WHERE id = 4;
\echo :LAST_ERROR_SQLSTATE

-- With the triggers off, verify() names what was done to the queue.
SET session_replication_role = replica;
UPDATE ledger.hot_entries SET amount = 8;
RESET session_replication_role;
SELECT * FROM ledger.verify();
SET session_replication_role = replica;
UPDATE ledger.hot_entries SET amount = 9;
UPDATE ledger.accounts SET hot = false WHERE id = 4;
RESET session_replication_role;
SELECT * FROM ledger.verify();
SET session_replication_role = replica;
UPDATE ledger.accounts SET hot = true WHERE id = 4;
DELETE FROM ledger.hot_entries;
RESET session_replication_role;
SELECT * FROM ledger.verify();

-- A queued posting goes straight into the queue, unless the queue carries a
-- trigger of the user's: then it is written through SQL, and the trigger
-- fires for it.
BEGIN;
CREATE TEMP TABLE queue_audit (account_id bigint, amount numeric);
CREATE FUNCTION audit_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_audit VALUES (NEW.account_id, NEW.amount::numeric);
    RETURN NULL;
END
$$;
CREATE TRIGGER hot_entries_audit AFTER INSERT ON ledger.hot_entries
    FOR EACH ROW EXECUTE FUNCTION audit_queue();
SELECT ledger.transfer(2, 4, 5, 'audited fee') AS audited \gset
SELECT account_id, amount FROM queue_audit;
SELECT account_id, direction, amount FROM ledger.hot_entries WHERE transfer_id = :audited;
SELECT account_id, direction, amount FROM ledger.entries WHERE transfer_id = :audited;
ROLLBACK;

-- No state leaves an account beyond the API's reach.  A maximum balance put
-- in place behind the guards, below what the account's queue brings, makes
-- every call that applies the queue fail; new limits that include the
-- balance are applied before the queue and repair it.
SELECT ledger.create_account('USD', 'stuck') AS stuck \gset
SELECT ledger.set_account_hot(:stuck);
SELECT ledger.transfer(1, :stuck, 200) > 0 AS credited;
SET session_replication_role = replica;
UPDATE ledger.accounts SET max_balance = 150 WHERE id = :stuck;
RESET session_replication_role;
SELECT ledger.transfer(:stuck, 1, 10);
SELECT ledger.set_account_hot(:stuck, false);
SELECT ledger.set_account_limits(:stuck, 0, 199);
SELECT ledger.set_account_limits(:stuck, 0, 200);
SELECT b.posted, a.max_balance, a.hot,
       (SELECT count(*) FROM ledger.hot_entries WHERE account_id = :stuck) AS queued
  FROM ledger.balance(:stuck) AS b, ledger.accounts AS a WHERE a.id = :stuck;
SELECT ledger.transfer(:stuck, 1, 10) > 0 AS debited;
SELECT * FROM ledger.verify(:stuck);
