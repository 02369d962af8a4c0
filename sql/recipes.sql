--
-- Recipes: every SQL block of docs/recipes.md, in order and exactly as
-- written there, so that the document cannot drift from what the extension
-- does.  Besides the four opening lines, only the comment headings and the
-- \echo :LAST_ERROR_SQLSTATE after each rejected call (which prints its
-- SQLSTATE) are not in the document.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;

--
-- Conventions
--

SET search_path = public, ledger;
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);

--
-- (a) A user wallet with deposits and withdrawals
--

-- Cash at our bank is debit-normal: debits (money coming in) raise it.
-- Like the real account, it may not go below zero (min_balance 0).
SELECT ledger.create_account('USD', 'bank:usd', normal_balance => 'debit') AS bank;
-- Alice's wallet is credit-normal: it is what we owe her.  No overdraft.
SELECT ledger.create_account('USD', 'wallet:alice') AS alice;

-- The card processor confirms payment pay_1001 of 100.00: debit the bank,
-- credit the wallet.  The key is derived from the processor's payment id.
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:alice'),
                       ledger.parse_amount('100.00', 2),
                       idempotency_key => 'deposit:pay_1001',
                       description => 'card top-up',
                       metadata => '{"bank_ref": "pay_1001"}') AS deposit;

-- The processor sends the same notification again: same transfer, nothing
-- new is written.
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:alice'),
                       ledger.parse_amount('100.00', 2),
                       idempotency_key => 'deposit:pay_1001',
                       description => 'card top-up',
                       metadata => '{"bank_ref": "pay_1001"}') AS deposit;

-- Alice withdraws 30.00 to her bank account: debit the wallet, credit the bank.
SELECT ledger.transfer(ledger.account_id('wallet:alice'), ledger.account_id('bank:usd'),
                       3000,
                       idempotency_key => 'withdrawal:wd_2001',
                       description => 'withdrawal',
                       metadata => '{"bank_ref": "wd_2001"}') AS withdrawal;

-- She asks for 80.00 more, but has 70.00.
SELECT ledger.transfer(ledger.account_id('wallet:alice'), ledger.account_id('bank:usd'),
                       8000,
                       idempotency_key => 'withdrawal:wd_2002',
                       description => 'withdrawal',
                       metadata => '{"bank_ref": "wd_2002"}') AS withdrawal;
\echo :LAST_ERROR_SQLSTATE

SELECT name, posted_display, available_display
  FROM ledger.account_balances
 WHERE name IN ('bank:usd', 'wallet:alice')
 ORDER BY account_id;

--
-- (b) Card authorisation: a hold, a partial capture, and an expiry
--

SELECT ledger.create_account('USD', 'wallet:bob') AS bob;
SELECT ledger.create_account('USD', 'merchant:coffee') AS coffee;
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:bob'),
                       20000, 'deposit:pay_1002', 'card top-up',
                       '{"bank_ref": "pay_1002"}') AS deposit;

-- Authorisation A1: the terminal asks for 50.00.  The hold reserves it for
-- at most 7 days; nothing is posted yet.
SELECT ledger.hold(ledger.account_id('wallet:bob'), ledger.account_id('merchant:coffee'),
                   5000,
                   expires_at => now() + interval '7 days',
                   idempotency_key => 'auth:A1',
                   description => 'coffee, terminal 7') AS hold;
SELECT * FROM ledger.balance(ledger.account_id('wallet:bob'));

-- The merchant settles 42.00: capture that much; the other 8.00 of the
-- reservation is released by the same call.
SELECT ledger.capture(h.id, 4200, 'auth:A1:capture') AS transfer
  FROM ledger.holds AS h
 WHERE h.idempotency_key = 'auth:A1';
SELECT status, amount, captured_amount FROM ledger.holds WHERE idempotency_key = 'auth:A1';
SELECT * FROM ledger.balance(ledger.account_id('wallet:bob'));

-- Authorisation A2 is never settled.  (It expires a second from now only
-- so that this example need not wait a week.)
SELECT ledger.hold(ledger.account_id('wallet:bob'), ledger.account_id('merchant:coffee'),
                   2000,
                   expires_at => clock_timestamp() + interval '1 second',
                   idempotency_key => 'auth:A2',
                   description => 'coffee, terminal 7') AS hold;
SELECT available FROM ledger.balance(ledger.account_id('wallet:bob'));
SELECT pg_sleep(1.1);

-- Past its expiry the hold reads as expired and no longer reserves
-- anything, although its release is not recorded yet.
SELECT h.status, r.status AS recorded_status
  FROM ledger.holds AS h JOIN ledger.hold_records AS r USING (id)
 WHERE h.idempotency_key = 'auth:A2';
SELECT available FROM ledger.balance(ledger.account_id('wallet:bob'));

-- The background worker, a cron job, or the next call that locks bob's
-- wallet records it.
SELECT ledger.expire_holds();
SELECT h.status, r.status AS recorded_status, h.resolved_at IS NOT NULL AS resolved
  FROM ledger.holds AS h JOIN ledger.hold_records AS r USING (id)
 WHERE h.idempotency_key = 'auth:A2';

--
-- (c) A marketplace payment split with a fee
--

SELECT ledger.create_account('USD', 'merchant:books') AS books;
SELECT ledger.create_account('USD', 'platform:fees') AS fees;

-- Order 1001: bob pays 100.00, of which 97.00 go to the merchant and 3.00
-- to the platform, in one atomic call.
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('merchant:books'), 9700,
        'order:1001:merchant', 'order 1001', '{"order": 1001}'),
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('platform:fees'), 300,
        'order:1001:fee', 'order 1001 fee', '{"order": 1001}')
]::ledger.transfer_request[]) AS transfer_ids;

-- The checkout retries after a timeout: the same ids, nothing new.
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('merchant:books'), 9700,
        'order:1001:merchant', 'order 1001', '{"order": 1001}'),
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('platform:fees'), 300,
        'order:1001:fee', 'order 1001 fee', '{"order": 1001}')
]::ledger.transfer_request[]) AS transfer_ids;

-- Order 1002 would cost bob 58.71 and he has 58.00: the fee, item 2, fails,
-- and the merchant's part is not written either.
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('merchant:books'), 5700,
        'order:1002:merchant', 'order 1002', '{"order": 1002}'),
    ROW(ledger.account_id('wallet:bob'), ledger.account_id('platform:fees'), 171,
        'order:1002:fee', 'order 1002 fee', '{"order": 1002}')
]::ledger.transfer_request[]) AS transfer_ids;
\echo :LAST_ERROR_SQLSTATE

SELECT count(*) AS order_1002_transfers
  FROM ledger.transfers WHERE metadata @> '{"order": 1002}';
SELECT name, posted_display
  FROM ledger.account_balances
 WHERE name IN ('wallet:bob', 'merchant:books', 'platform:fees')
 ORDER BY account_id;

--
-- (d) A currency exchange
--

SELECT ledger.create_account('EUR', 'wallet:alice:eur') AS alice_eur;
-- The exchange's own position in each asset; unbounded, since it goes
-- negative in the asset it sells.
SELECT ledger.create_account('USD', 'fx:usd', min_balance => NULL) AS fx_usd;
SELECT ledger.create_account('EUR', 'fx:eur', min_balance => NULL) AS fx_eur;

-- Alice sells 50.00 USD at 0.92: one transfer per asset, in one batch.
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('wallet:alice'), ledger.account_id('fx:usd'), 5000,
        'fx:F1:usd', 'USD 50.00 to EUR at 0.92', '{"fx": "F1"}'),
    ROW(ledger.account_id('fx:eur'), ledger.account_id('wallet:alice:eur'), round(5000 * 0.92),
        'fx:F1:eur', 'USD 50.00 to EUR at 0.92', '{"fx": "F1"}')
]::ledger.transfer_request[]) AS transfer_ids;

SELECT name, asset, posted_display
  FROM ledger.account_balances
 WHERE name IN ('wallet:alice', 'fx:usd', 'fx:eur', 'wallet:alice:eur')
 ORDER BY account_id;

-- Each asset balances on its own: its debit entries sum to its credit entries.
SELECT a.asset,
       sum(e.amount) FILTER (WHERE e.direction = 'debit') AS debits,
       sum(e.amount) FILTER (WHERE e.direction = 'credit') AS credits
  FROM ledger.entries AS e
  JOIN ledger.accounts AS a ON a.id = e.account_id
 GROUP BY a.asset
 ORDER BY a.asset;
SELECT * FROM ledger.verify();

-- A single transfer between two assets is refused.
SELECT ledger.transfer(ledger.account_id('wallet:alice'), ledger.account_id('wallet:alice:eur'), 100);
\echo :LAST_ERROR_SQLSTATE

--
-- (e) A refund
--

-- Bob returns one book: refund 20.00 of the merchant's part of order 1001.
SELECT ledger.reverse(t.id, 2000, 'refund:1001:1') AS refund
  FROM ledger.transfers AS t
 WHERE t.idempotency_key = 'order:1001:merchant';

SELECT r.id, r.debit_account_id, r.credit_account_id, r.amount, r.description
  FROM ledger.transfers AS r
  JOIN ledger.transfers AS t ON t.id = r.reverses_transfer_id
 WHERE t.idempotency_key = 'order:1001:merchant';

-- Refunds of a payment add up to at most the payment: 77.00 remain.
SELECT ledger.reverse(t.id, 8000, 'refund:1001:2') AS refund
  FROM ledger.transfers AS t
 WHERE t.idempotency_key = 'order:1001:merchant';
\echo :LAST_ERROR_SQLSTATE

SELECT name, posted_display
  FROM ledger.account_balances
 WHERE name IN ('wallet:bob', 'merchant:books', 'platform:fees')
 ORDER BY account_id;

--
-- (f) A payout through a provider that may fail
--

-- Our balance at the payout provider is cash, like the bank: debit-normal,
-- never below zero.  Treasury prefunds it with 50.00 from the bank.
SELECT ledger.create_account('USD', 'provider:usd', normal_balance => 'debit') AS provider;
SELECT ledger.transfer(ledger.account_id('provider:usd'), ledger.account_id('bank:usd'),
                       5000, 'prefund:topup_77', 'prefund payout provider',
                       '{"bank_ref": "topup_77"}') AS prefund;

-- Bob asks for a payout of 25.00.  Before calling the provider, hold the
-- amount from his wallet to the provider account, keyed by the payout id
-- (po_5001) that the provider also receives and sends back.  No expiry.
SELECT ledger.hold(ledger.account_id('wallet:bob'), ledger.account_id('provider:usd'),
                   2500,
                   idempotency_key => 'payout:po_5001',
                   description => 'payout po_5001') AS hold;
-- A retry of the request finds the same hold.
SELECT ledger.hold(ledger.account_id('wallet:bob'), ledger.account_id('provider:usd'),
                   2500,
                   idempotency_key => 'payout:po_5001',
                   description => 'payout po_5001') AS hold;
SELECT name, posted_display, available_display
  FROM ledger.account_balances
 WHERE name IN ('wallet:bob', 'provider:usd')
 ORDER BY account_id;

-- The provider reports po_5001 paid, twice: capture once, replay once.
SELECT ledger.capture(h.id, NULL, 'payout:po_5001:paid') AS transfer
  FROM ledger.holds AS h
 WHERE h.idempotency_key = 'payout:po_5001';
SELECT ledger.capture(h.id, NULL, 'payout:po_5001:paid') AS transfer
  FROM ledger.holds AS h
 WHERE h.idempotency_key = 'payout:po_5001';

-- Payout po_5002 of 10.00 fails at the provider, and the failure is
-- reported twice: the first report releases the hold, the second finds it
-- no longer pending and does nothing.
SELECT ledger.hold(ledger.account_id('wallet:bob'), ledger.account_id('provider:usd'),
                   1000,
                   idempotency_key => 'payout:po_5002',
                   description => 'payout po_5002') AS hold;
SELECT ledger.release(h.id)
  FROM ledger.holds AS h
 WHERE h.idempotency_key = 'payout:po_5002' AND h.status = 'pending';
SELECT ledger.release(h.id)
  FROM ledger.holds AS h
 WHERE h.idempotency_key = 'payout:po_5002' AND h.status = 'pending';

SELECT idempotency_key, status, amount, captured_amount
  FROM ledger.holds
 WHERE idempotency_key LIKE 'payout:%'
 ORDER BY id;
SELECT name, posted_display, available_display
  FROM ledger.account_balances
 WHERE name IN ('wallet:bob', 'provider:usd')
 ORDER BY account_id;

--
-- (g) Month-end balances
--

-- The period ends here; in production this is the first instant of the
-- next month, e.g. \set period_end '2026-11-01 00:00:00+00'.
SELECT clock_timestamp() AS period_end \gset

-- Alice's next deposit belongs to the next period.
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:alice'),
                       4000, 'deposit:pay_1003', 'card top-up',
                       '{"bank_ref": "pay_1003"}') AS deposit;

-- Every account's balance at the end of the period, next to its balance now.
SELECT a.id, a.name, a.normal_balance,
       ledger.format_amount(ledger.balance_at(a.id, :'period_end'::timestamptz - interval '1 microsecond'),
                            s.scale) AS period_end,
       ledger.format_amount(b.posted, s.scale) AS now,
       a.asset
  FROM ledger.accounts AS a
  JOIN ledger.assets AS s ON s.code = a.asset
 CROSS JOIN LATERAL ledger.balance(a.id) AS b
 ORDER BY a.id;

-- A trial balance at the end of the period: in each asset, the balances of
-- the debit-normal accounts add up to those of the credit-normal accounts.
SELECT a.asset,
       coalesce(sum(x.balance) FILTER (WHERE a.normal_balance = 'debit'), 0) AS debit_normal,
       coalesce(sum(x.balance) FILTER (WHERE a.normal_balance = 'credit'), 0) AS credit_normal
  FROM ledger.accounts AS a
 CROSS JOIN LATERAL (SELECT ledger.balance_at(a.id, :'period_end'::timestamptz - interval '1 microsecond')
                            AS balance) AS x
 GROUP BY a.asset
 ORDER BY a.asset;

--
-- (h) Reconciling a bank statement
--

-- The bank's CSV export for our account, loaded into a temporary table.
CREATE TEMP TABLE bank_statement (booked_on date, amount numeric, reference text);
COPY bank_statement FROM STDIN WITH (FORMAT csv, HEADER);
booked_on,amount,reference
2026-10-03,100.00,pay_1001
2026-10-05,-30.00,wd_2001
2026-10-08,200.00,pay_1002
2026-10-12,-50.00,topup_77
2026-10-31,-2.50,fee_2610
\.

-- Match it line by line against the ledger's entries on bank:usd, by
-- reference and signed amount.
WITH ours AS (
    SELECT s.transfer_id,
           t.metadata ->> 'bank_ref' AS reference,
           CASE s.direction WHEN 'debit' THEN s.amount ELSE -s.amount END AS amount
      FROM ledger.statement(ledger.account_id('bank:usd')) AS s
      JOIN ledger.transfers AS t ON t.id = s.transfer_id
), theirs AS (
    SELECT reference, booked_on, ledger.parse_amount(amount::text, 2) AS amount
      FROM bank_statement
)
SELECT coalesce(o.reference, b.reference) AS reference,
       ledger.format_amount(coalesce(o.amount, b.amount), 2) AS amount,
       o.transfer_id,
       to_char(b.booked_on, 'YYYY-MM-DD') AS booked_on,
       CASE WHEN o.transfer_id IS NULL THEN 'missing in ledger'
            WHEN b.reference IS NULL THEN 'missing at bank'
            ELSE 'matched'
       END AS status
  FROM ours AS o
  FULL JOIN theirs AS b ON b.reference = o.reference AND b.amount = o.amount
 ORDER BY status, reference;

--
-- (i) Webhooks and a low-balance alert from events
--

-- Book 1 publishes events from now on; "webhooks" reads them.
SELECT ledger.set_book_events(1, true);
SELECT ledger.create_consumer('webhooks', ARRAY[1]::bigint[]);
SELECT ledger.create_account('USD', 'wallet:dora') AS dora;
SELECT ledger.create_monitor(ledger.account_id('wallet:dora'), 'available', '<',
                             ledger.parse_amount('20.00', 2), 'dora low') AS monitor;
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:dora'),
                       ledger.parse_amount('50.00', 2), 'deposit:pay_1004') AS deposit;
SELECT ledger.transfer(ledger.account_id('wallet:dora'), ledger.account_id('merchant:coffee'),
                       ledger.parse_amount('35.00', 2), 'coffee:order_88',
                       'two espressos and a cake') AS coffee;

SELECT id, kind, debit_account_id AS debit, credit_account_id AS credit,
       ledger.format_amount(amount, 2) AS amount, transfer_id, idempotency_key,
       CASE kind WHEN 'monitor_fired' THEN detail ->> 'name' END AS monitor
  FROM ledger.next_events('webhooks', 100);

BEGIN;
-- ... record the webhooks sent, in the application's own table ...
SELECT ledger.ack_events('webhooks', 4);
COMMIT;
SELECT count(*) FROM ledger.next_events('webhooks', 100);
SELECT ledger.prune_events();

--
-- (j) Withdrawals of new users
--

SELECT ledger.create_account('USD', 'wallet:erin') AS erin;
SELECT ledger.transfer(ledger.account_id('bank:usd'), ledger.account_id('wallet:erin'),
                       ledger.parse_amount('1000.00', 2), 'deposit:pay_1005') AS deposit;
-- New users withdraw at most 500.00 in any 24 hours.
SELECT ledger.create_velocity_limit(ledger.account_id('wallet:erin'), 'debit', '1 day',
                                    max_amount => ledger.parse_amount('500.00', 2),
                                    name => 'new user withdrawals') AS velocity_limit;
SELECT ledger.transfer(ledger.account_id('wallet:erin'), ledger.account_id('bank:usd'),
                       ledger.parse_amount('300.00', 2), 'withdrawal:wd_1') AS withdrawal;
SELECT ledger.transfer(ledger.account_id('wallet:erin'), ledger.account_id('bank:usd'),
                       ledger.parse_amount('250.00', 2), 'withdrawal:wd_2') AS withdrawal;
SELECT name, "window", ledger.format_amount(max_amount, 2) AS max_amount,
       ledger.format_amount(amount_used, 2) AS used, count_used
  FROM ledger.account_velocity(ledger.account_id('wallet:erin'));
-- Once erin is no longer new:
SELECT ledger.drop_velocity_limit(
           (SELECT id FROM ledger.velocity_limits
             WHERE account_id = ledger.account_id('wallet:erin') AND name = 'new user withdrawals'));
SELECT ledger.transfer(ledger.account_id('wallet:erin'), ledger.account_id('bank:usd'),
                       ledger.parse_amount('250.00', 2), 'withdrawal:wd_2') AS withdrawal;

--
-- (k) Reward farming
--

SELECT ledger.create_account('USD', 'rewards:promo', 'debit', min_balance => NULL) AS promo;
SELECT ledger.create_account('USD', 'wallet:finn') AS finn;
-- More than 3 rewards an hour is flagged for review; more than 5 is refused.
SELECT ledger.create_velocity_limit(ledger.account_id('wallet:finn'), 'credit', '1 hour',
                                    max_count => 3, action => 'flag', name => 'review rewards') AS review;
SELECT ledger.create_velocity_limit(ledger.account_id('wallet:finn'), 'credit', '1 hour',
                                    max_count => 5, name => 'reward cap') AS cap;
SELECT count(ledger.transfer(ledger.account_id('rewards:promo'), ledger.account_id('wallet:finn'),
                             ledger.parse_amount('1.00', 2), 'reward:finn:' || i)) AS rewards
  FROM generate_series(1, 5) AS i;
SELECT ledger.transfer(ledger.account_id('rewards:promo'), ledger.account_id('wallet:finn'),
                       ledger.parse_amount('1.00', 2), 'reward:finn:6') AS reward;
SELECT kind, idempotency_key, detail ->> 'count_used' AS earlier_rewards
  FROM ledger.next_events('webhooks', 100) WHERE kind = 'velocity_flagged';
