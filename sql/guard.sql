--
-- Guards: history is append-only and balances change only through the
-- ledger functions, even for the table owner.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL);
SELECT ledger.create_account('USD', 'alice');
SELECT ledger.transfer(1, 2, 1000);

-- Transfers and entries cannot be inserted, changed, deleted or truncated by hand.
INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, created_at)
VALUES (1, 2, 5, now());
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ledger.entries (transfer_id, account_id, account_version, direction, amount, balance_after, created_at)
VALUES (1, 2, 2, 'credit', 5, 1005, now());
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.transfers SET amount = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.entries SET amount = 1;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.transfers;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.entries WHERE false;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.entries;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.transfers;
\echo :LAST_ERROR_SQLSTATE

-- Accounts cannot be inserted, deleted or truncated by hand ...
INSERT INTO ledger.accounts (asset, normal_balance) VALUES ('USD', 'credit');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.accounts WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ledger.accounts CASCADE;
\echo :LAST_ERROR_SQLSTATE

-- ... and none of their balances, limits or state may be set directly.
UPDATE ledger.accounts SET credits_posted = 1000000 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET debits_posted = 0 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET debits_pending = 1 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET credits_pending = 1 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET version = 7 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET asset = 'EUR' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET normal_balance = 'debit' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET min_balance = NULL WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET max_balance = 1 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET closed = true WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE

-- Names and metadata are the owner's to edit.
UPDATE ledger.accounts SET name = 'alice smith', metadata = '{"tier": "gold"}' WHERE id = 2;
SELECT id, name, metadata, credits_posted, version FROM ledger.accounts ORDER BY id;

-- Nothing above changed the history.
SELECT count(*) AS transfers FROM ledger.transfers;
SELECT count(*) AS entries FROM ledger.entries;

-- Calling a guard function other than as a trigger is refused.
SELECT ledger.guard_history();
\echo :LAST_ERROR_SQLSTATE

-- A guard function fired on any other table refuses to run: the guards read
-- columns by position and would misread a table they were not written for.
CREATE TABLE public.lookalike (code bigint, scale integer);
INSERT INTO public.lookalike VALUES (12345678, 1);
CREATE TRIGGER lookalike_guard BEFORE DELETE ON public.lookalike
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_assets();
DELETE FROM public.lookalike;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE public.lookalike;

-- Direct edits of names and metadata obey the rules of create_account().
UPDATE ledger.accounts SET name = '' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.accounts SET metadata = '[1]' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE

-- The functions work only on the extension's own schema: a schema put in
-- place of a renamed one is never used with the extension owner's rights.
BEGIN;
ALTER SCHEMA ledger RENAME TO ledger_moved;
CREATE SCHEMA ledger;
CREATE TABLE ledger.accounts (LIKE ledger_moved.accounts);
SELECT ledger_moved.transfer(1, 2, 5);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT ledger.transfer(1, 2, 5) > 0 AS works_again;
