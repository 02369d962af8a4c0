--
-- Accounts: normal balance, limits, names, closing and reopening.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);

-- A user wallet: credit-normal (credits raise it), no overdraft by default.
SELECT ledger.create_account('USD', 'alice');
-- Cash at the bank: debit-normal, and unbounded below so it can fund others.
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL);
-- An account with a ceiling, and one with metadata and no name.
SELECT ledger.create_account('USD', 'capped', max_balance => 10000);
SELECT ledger.create_account('EUR', metadata => '{"customer": 42}');

SELECT id, asset, name, normal_balance, min_balance, max_balance,
       debits_posted, credits_posted, debits_pending, credits_pending,
       version, closed, metadata
  FROM ledger.accounts ORDER BY id;

-- Names are unique, and lead back to the id.
SELECT ledger.account_id('bank');
SELECT ledger.account_id('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', repeat('n', 256));
\echo :LAST_ERROR_SQLSTATE

-- Each argument is checked before anything is written.
SELECT ledger.create_account('GBP');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', normal_balance => 'asset');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', normal_balance => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', metadata => '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', metadata => '"text"');
\echo :LAST_ERROR_SQLSTATE
-- Limits must be ordered and include the opening balance of zero.
SELECT ledger.create_account('USD', min_balance => 10, max_balance => 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', min_balance => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', max_balance => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS accounts FROM ledger.accounts;

-- Balances of a new account are all zero.
SELECT * FROM ledger.balance(ledger.account_id('alice'));
SELECT * FROM ledger.balance(999);
\echo :LAST_ERROR_SQLSTATE

-- Limits change under the account's lock; NULL means unbounded.
SELECT ledger.transfer(ledger.account_id('bank'), ledger.account_id('alice'), 5000);
SELECT ledger.set_account_limits(ledger.account_id('alice'), -1000, 100000);
SELECT min_balance, max_balance FROM ledger.accounts WHERE name = 'alice';
SELECT ledger.set_account_limits(ledger.account_id('alice'), NULL, NULL);
SELECT min_balance, max_balance FROM ledger.accounts WHERE name = 'alice';

-- New limits must include the current balance (5000): they are refused, not
-- half-applied, so an account never starts out breaking its own limits.
SELECT ledger.set_account_limits(ledger.account_id('alice'), 6000, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(ledger.account_id('alice'), NULL, 4999);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(ledger.account_id('alice'), 10, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(999, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(NULL, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_account_limits(ledger.account_id('alice'), 5000, 5000);
SELECT min_balance, max_balance FROM ledger.accounts WHERE name = 'alice';
SELECT ledger.set_account_limits(ledger.account_id('alice'), 0, NULL);

-- A closed account takes part in no movement, in either direction.
SELECT ledger.close_account(ledger.account_id('alice'));
SELECT closed FROM ledger.accounts WHERE name = 'alice';
SELECT ledger.transfer(ledger.account_id('bank'), ledger.account_id('alice'), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(ledger.account_id('alice'), ledger.account_id('bank'), 1);
\echo :LAST_ERROR_SQLSTATE
-- Closing twice is harmless; the balance stays where it was.
SELECT ledger.close_account(ledger.account_id('alice'));
SELECT posted, available FROM ledger.balance(ledger.account_id('alice'));
SELECT ledger.reopen_account(ledger.account_id('alice'));
SELECT ledger.reopen_account(ledger.account_id('alice'));
SELECT ledger.transfer(ledger.account_id('alice'), ledger.account_id('bank'), 1);
SELECT ledger.close_account(999);
\echo :LAST_ERROR_SQLSTATE

-- The view shows every account's figures, with the display form of the asset.
SELECT account_id, name, asset, posted, pending_debits, pending_credits,
       available, posted_display, available_display, closed
  FROM ledger.account_balances ORDER BY account_id;

-- Every function refuses a NULL where it needs a value.
SELECT ledger.account_id(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.close_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.reopen_account(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.balance(NULL);
\echo :LAST_ERROR_SQLSTATE
