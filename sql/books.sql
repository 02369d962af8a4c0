--
-- Books: separate sets of accounts.  Names and idempotency keys are unique
-- per book, every row carries its book, and no movement crosses books.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);

-- Book 1 comes with the extension; the calls that name no book work in it.
SELECT id, name, metadata FROM ledger.books ORDER BY id;
SELECT ledger.create_book('tenant-a') AS a;
SELECT ledger.create_book('tenant-b', '{"region": "eu"}') AS b;
SELECT id, name, metadata FROM ledger.books ORDER BY id;
SELECT ledger.book_id('tenant-b');

-- What a book may not be.
SELECT ledger.create_book('tenant-a');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book('');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book('tenant-c', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.book_id('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS books FROM ledger.books;

-- Accounts in books: the same name in each book, once per book.
SELECT ledger.create_account('USD', 'cash', 'debit', NULL) AS cash1;
SELECT ledger.create_account('USD', 'alice') AS alice1;
SELECT ledger.create_book_account(2, 'USD', 'cash', 'debit', NULL) AS cash2;
SELECT ledger.create_book_account(2, 'USD', 'alice') AS alice2;
SELECT ledger.create_book_account(3, 'USD', 'cash', 'debit', NULL) AS cash3;
SELECT ledger.create_book_account(3, 'USD', 'alice') AS alice3;
SELECT id, book_id, name FROM ledger.accounts ORDER BY id;
SELECT ledger.account_id('alice'), ledger.account_id(2, 'alice'), ledger.account_id(3, 'alice');
SELECT ledger.account_id(3, 'bob');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book_account(2, 'USD', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book_account(9, 'USD', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_book_account(NULL, 'USD', 'zed');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS accounts FROM ledger.accounts;

-- Movements within a book.
SELECT ledger.transfer(3, 4, 1000, 'deposit-1') AS t_a;
SELECT ledger.transfer(5, 6, 2000, 'deposit-1') AS t_b;
-- The same key in the same book is a replay; in another book it is not.
SELECT ledger.transfer(3, 4, 1000, 'deposit-1') AS t_a_again;
SELECT ledger.transfer(5, 6, 2000, 'deposit-1') AS t_b_again;
SELECT ledger.transfer(1, 2, 1000, 'deposit-1') AS t_default;
SELECT ledger.hold(4, 3, 100, idempotency_key => 'h-1') AS h_a;
SELECT ledger.hold(6, 5, 200, idempotency_key => 'h-1') AS h_b;
SELECT ledger.hold(6, 5, 200, idempotency_key => 'h-1') AS h_b_again;
SELECT ledger.capture(1) AS capture_a;
SELECT ledger.reverse(2, 500) AS reversal_b;
SELECT ledger.transfer_batch(ARRAY[
    ROW(3, 4, 10, 'batch-1', NULL, NULL),
    ROW(5, 6, 20, 'batch-1', NULL, NULL),
    ROW(5, 6, 2000, 'deposit-1', NULL, NULL),
    ROW(3, 4, 10, 'batch-1', NULL, NULL)]::ledger.transfer_request[]) AS batch;
SELECT ledger.set_account_hot(4);
SELECT ledger.transfer(3, 4, 7) AS queued;

-- Every row carries the book of its accounts.
SELECT id, book_id, debit_account_id, credit_account_id, amount, idempotency_key, hold_id,
       reverses_transfer_id
  FROM ledger.transfers ORDER BY id;
SELECT transfer_id, account_id, book_id, direction, amount FROM ledger.entries
 ORDER BY transfer_id, direction DESC;
SELECT id, book_id, debit_account_id, credit_account_id, status FROM ledger.holds ORDER BY id;
SELECT account_id, transfer_id, book_id, amount FROM ledger.hot_entries;
SELECT account_id, book_id, name, posted FROM ledger.account_balances ORDER BY account_id;

-- No movement crosses books: each kind is refused with LG110, nothing
-- written.
SELECT count(*) AS transfers_before FROM ledger.transfers;
SELECT ledger.transfer(3, 6, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(5, 4, 10, 'cross-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(4, 5, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 4, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[
    ROW(3, 4, 10, NULL, NULL, NULL),
    ROW(5, 6, 10, NULL, NULL, NULL),
    ROW(5, 4, 10, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS transfers_after FROM ledger.transfers;
SELECT count(*) AS holds FROM ledger.hold_records;

-- Many accounts at once, all or nothing, ids in input order.
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'bob', 'credit', 0, NULL, NULL),
    ROW(3, 'USD', 'bob', 'credit', 0, NULL, NULL),
    ROW(3, 'USD', NULL, 'credit', 0, 500, '{"kind": "savings"}'),
    ROW(1, 'USD', 'float', 'debit', NULL, NULL, NULL)]::ledger.account_request[]) AS ids;
SELECT id, book_id, name, normal_balance, min_balance, max_balance, metadata
  FROM ledger.accounts WHERE id > 6 ORDER BY id;
SELECT ledger.create_accounts('{}');
-- A bad item anywhere fails the call, naming it, and creates nothing.
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(2, 'USD', 'dave', 'credit', 0, NULL, NULL),
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(3, 'USD', 'bob', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(2, 'GBP', 'dave', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(7, 'USD', 'dave', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(NULL, 'USD', 'dave', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL),
    ROW(2, 'USD', 'dave', 'sideways', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 10, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(2, 'USD', 'carol', 'credit', 0, NULL, NULL), NULL]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS accounts FROM ledger.accounts;

-- Books and the book of an account never change by hand.
UPDATE ledger.accounts SET book_id = 3 WHERE id = 4;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ledger.books (id, name) VALUES (9, 'by hand');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.books WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE

-- verify() checks that every row is of its accounts' book.
SELECT * FROM ledger.verify();
SET session_replication_role = replica;
UPDATE ledger.entries SET book_id = 3 WHERE transfer_id = 1 AND direction = 'debit';
RESET session_replication_role;
SELECT * FROM ledger.verify();
-- One account's verify sees it too; another account's does not.
SELECT * FROM ledger.verify(3);
SELECT * FROM ledger.verify(4);
