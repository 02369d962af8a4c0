-- examples/demo.sql: a short tour of the ledger, run by examples/demo.sh.

-- Money is ledger.amount: a signed 128-bit integer of minor units, so one
-- ether (10^18 wei) fits as easily as a cent.  Assets give the display scale.
SELECT ledger.create_asset('USD', 2) AS usd, ledger.create_asset('ETH', 18) AS eth;

-- A bank account that funds others (debit-normal, no lower limit) and two
-- customer wallets that may not be overdrawn.
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank,
       ledger.create_account('USD', 'alice') AS alice,
       ledger.create_account('USD', 'shop') AS shop;

-- A deposit, sent twice with the same idempotency key: one transfer.
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'card top-up') AS first_call,
       ledger.transfer(1, 2, 10000, 'deposit-1', 'card top-up') AS retried_call;

-- Alice pays the shop 25.50.
SELECT ledger.transfer(2, 3, 2550, 'order-7', 'order 7') AS payment;

-- An overdraft is refused, with the figures.
\set ON_ERROR_STOP 0
SELECT ledger.transfer(2, 3, 100000, 'order-8');
\set ON_ERROR_STOP 1

-- A card authorisation: reserve 40.00, capture 32.10 of it.
SELECT ledger.hold(2, 3, 4000, now() + interval '7 days', 'auth-9', 'hotel') AS hold_id;
SELECT name, posted_display, available_display FROM ledger.account_balances ORDER BY account_id;
SELECT ledger.capture(1, 3210) AS capture_transfer;
SELECT id, amount, captured_amount, status FROM ledger.holds;

-- Every movement is a pair of entries with running balances.
SELECT e.transfer_id, a.name, e.account_version AS version, e.direction,
       ledger.format_amount(e.amount, 2) AS amount,
       ledger.format_amount(e.balance_after, 2) AS balance_after
  FROM ledger.entries e JOIN ledger.accounts a ON a.id = e.account_id
 ORDER BY e.id;

SELECT name, posted_display, available_display FROM ledger.account_balances ORDER BY account_id;

-- History cannot be edited, even by its owner.
\set ON_ERROR_STOP 0
UPDATE ledger.entries SET amount = 1;
\set ON_ERROR_STOP 1
