--
-- Batches: ledger.transfer_batch posts many transfers in one atomic call, in
-- order, exactly as if each had been a call of ledger.transfer.
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
SELECT ledger.create_account('USD', 'bob', max_balance => 50000) AS bob;
SELECT ledger.create_account('USD', 'carol') AS carol;
SELECT ledger.create_account('EUR', 'eve') AS eve;
SELECT ledger.create_account('USD', 'dormant') AS dormant;

-- What a rejected batch must leave untouched.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT ledger.sum(version) FROM ledger.accounts) AS versions;

-- A batch is an array of ledger.transfer_request, the arguments of
-- ledger.transfer in the same order; it returns the ids in input order.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 10000, 'deposit-alice', 'deposit', '{"source": "wire"}'),
    ROW(1, 4, 5000, NULL, 'deposit', NULL),
    ROW(2, 3, 2500, NULL, 'rent', NULL)
]::ledger.transfer_request[]) AS ids;
SELECT id, debit_account_id, credit_account_id, amount, idempotency_key,
       description, metadata
  FROM ledger.transfers ORDER BY id;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries ORDER BY id;
SELECT account_id, name, posted FROM ledger.account_balances ORDER BY account_id;

-- A later item sees the balances left by the earlier ones: carol can pay 8000
-- only because item 1 brings her 3000 first.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 4, 3000, NULL, NULL, NULL),
    ROW(4, 3, 8000, NULL, NULL, NULL)
]::ledger.transfer_request[]) AS ids;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE transfer_id IN (4, 5) ORDER BY id;

-- And an item that would overdraw after the earlier ones fails, naming its
-- position: alice has 7500, item 1 leaves her 2500, item 2 wants 3000.
SELECT * FROM row_counts;
SELECT ledger.transfer_batch(ARRAY[
    ROW(2, 3, 5000, NULL, NULL, NULL),
    ROW(2, 4, 3000, NULL, NULL, NULL)
]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- A batch is atomic: items 1 and 2 are fine, item 3 fails, and nothing of
-- the batch is written.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 100, 'atomic-1', NULL, NULL),
    ROW(2, 4, 7600, 'atomic-2', NULL, NULL),
    ROW(2, 4, 1, 'atomic-3', NULL, NULL)
]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;
SELECT count(*) AS atomic_keys FROM ledger.transfers WHERE idempotency_key LIKE 'atomic-%';
SELECT account_id, name, posted FROM ledger.account_balances ORDER BY account_id;

-- Inside a transaction, a failed batch can be rolled back to a savepoint and
-- the transaction goes on.
BEGIN;
SAVEPOINT s;
SELECT ledger.transfer_batch(ARRAY[ROW(2, 4, 1000000, NULL, NULL, NULL)]::ledger.transfer_request[]);
ROLLBACK TO SAVEPOINT s;
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]) AS ids;
COMMIT;
SELECT * FROM row_counts;

--
-- Idempotency keys
--

-- A key used twice in one batch with the same arguments is one transfer: both
-- items return its id.  jsonb compares by value.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 700, 'order-7', 'order 7', '{"n": 7}'),
    ROW(1, 4, 800, NULL, NULL, NULL),
    ROW(1, 2, 700, 'order-7', 'order 7', '{ "n" : 7 }')
]::ledger.transfer_request[]) AS ids;
SELECT id, debit_account_id, credit_account_id, amount, idempotency_key
  FROM ledger.transfers WHERE id >= 7 ORDER BY id;
SELECT * FROM row_counts;

-- A key of an earlier transfer, with its arguments, returns that transfer's
-- id and writes nothing for the item; the other items are posted.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 10000, 'deposit-alice', 'deposit', '{"source": "wire"}'),
    ROW(1, 4, 900, 'order-9', NULL, NULL)
]::ledger.transfer_request[]) AS ids;
SELECT * FROM row_counts;

-- Replaying the whole batch returns the same ids and writes nothing.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 10000, 'deposit-alice', 'deposit', '{"source": "wire"}'),
    ROW(1, 4, 900, 'order-9', NULL, NULL)
]::ledger.transfer_request[]) AS ids;
SELECT * FROM row_counts;

-- A key of an earlier transfer with other arguments is a conflict naming
-- that transfer.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 4, 1, NULL, NULL, NULL),
    ROW(1, 2, 10001, 'deposit-alice', 'deposit', '{"source": "wire"}')
]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- A key used twice in one batch with other arguments is a conflict naming
-- the earlier item.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 500, 'order-10', NULL, NULL),
    ROW(1, 4, 1, NULL, NULL, NULL),
    ROW(1, 2, 500, 'order-10', 'other text', NULL)
]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- Every rule of ledger.transfer applies to each item; the CONTEXT line names
-- the item that broke it.  Each batch below has a valid item 1.
--

SELECT ledger.close_account(6);

-- A NULL element, and NULL in a required field.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), NULL]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(NULL, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, NULL, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, NULL, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- Amounts are positive.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 0, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, -5, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- Accounts are distinct, known, open and of one asset.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 2, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 999, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 5, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 6, 1, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- Limits: bob holds 10500 and may not exceed 50000.
SELECT posted FROM ledger.balance(3);
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 3, 39501, NULL, NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- Keys are 1 to 255 characters without control characters; metadata is a
-- JSON object.
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, '', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, repeat('k', 256), NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, E'bad\tkey', NULL, NULL)]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, NULL, NULL, '[]')]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(1, 2, 1, NULL, NULL, '"text"')]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

-- None of the rejected batches wrote anything.
SELECT * FROM row_counts;

--
-- The array itself
--

-- An empty array posts nothing and returns an empty array.
SELECT ledger.transfer_batch('{}') AS ids;
SELECT ledger.transfer_batch(ARRAY[]::ledger.transfer_request[]) AS ids;

-- The array is required and one-dimensional.
SELECT ledger.transfer_batch(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer_batch(ARRAY[[ROW(1, 2, 1, NULL, NULL, NULL)], [ROW(1, 4, 1, NULL, NULL, NULL)]]::ledger.transfer_request[]);
\echo :LAST_ERROR_SQLSTATE

--
-- Recipes
--

-- A payment split with a fee: the customer pays 100.00, of which 97.00 goes
-- to the merchant and 3.00 to the platform, in one call.
SELECT ledger.create_account('USD', 'customer') AS customer;
SELECT ledger.create_account('USD', 'merchant') AS merchant;
SELECT ledger.create_account('USD', 'platform_fees') AS platform_fees;
SELECT ledger.transfer(1, ledger.account_id('customer'), 10000) AS funding;
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('customer'), ledger.account_id('merchant'), 9700,
        'order-1:merchant', 'order 1', NULL),
    ROW(ledger.account_id('customer'), ledger.account_id('platform_fees'), 300,
        'order-1:fee', 'order 1 fee', NULL)
]::ledger.transfer_request[]) AS ids;
SELECT name, posted_display FROM ledger.account_balances WHERE account_id IN (7, 8, 9) ORDER BY account_id;

-- A currency exchange: the customer converts 100.00 USD to EUR at 0.92, one
-- transfer per asset through the exchange's own accounts.
SELECT ledger.create_account('EUR', 'eur_bank', normal_balance => 'debit', min_balance => NULL) AS eur_bank;
SELECT ledger.create_account('USD', 'customer_usd') AS customer_usd;
SELECT ledger.create_account('USD', 'exchange_usd') AS exchange_usd;
SELECT ledger.create_account('EUR', 'exchange_eur') AS exchange_eur;
SELECT ledger.create_account('EUR', 'customer_eur') AS customer_eur;
SELECT ledger.transfer(1, ledger.account_id('customer_usd'), 10000) AS customer_funding;
SELECT ledger.transfer(ledger.account_id('eur_bank'), ledger.account_id('exchange_eur'), 50000) AS exchange_funding;
SELECT ledger.transfer_batch(ARRAY[
    ROW(ledger.account_id('customer_usd'), ledger.account_id('exchange_usd'), 10000,
        'fx-7:usd', 'USD to EUR at 0.92', NULL),
    ROW(ledger.account_id('exchange_eur'), ledger.account_id('customer_eur'), 9200,
        'fx-7:eur', 'USD to EUR at 0.92', NULL)
]::ledger.transfer_request[]) AS ids;
SELECT name, posted_display FROM ledger.account_balances WHERE account_id BETWEEN 11 AND 14 ORDER BY account_id;
-- Each asset balances on its own: its debits equal its credits, in the
-- exchange and in the whole ledger.
SELECT a.asset,
       ledger.sum(e.amount) FILTER (WHERE e.direction = 'debit') AS debits,
       ledger.sum(e.amount) FILTER (WHERE e.direction = 'credit') AS credits
  FROM ledger.entries e JOIN ledger.accounts a ON a.id = e.account_id
 WHERE e.transfer_id IN (SELECT id FROM ledger.transfers WHERE idempotency_key LIKE 'fx-7:%')
 GROUP BY a.asset ORDER BY a.asset;
SELECT a.asset,
       ledger.sum(e.amount) FILTER (WHERE e.direction = 'debit') =
       ledger.sum(e.amount) FILTER (WHERE e.direction = 'credit') AS balanced
  FROM ledger.entries e JOIN ledger.accounts a ON a.id = e.account_id
 GROUP BY a.asset ORDER BY a.asset;

-- Every account's balance and version equal what its entries say.
SELECT a.id, (a.version = coalesce(max(e.account_version), 0)) AS versions_match,
       (a.version = count(e.id)) AS gapless,
       (a.debits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)) AS debits_match,
       (a.credits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0)) AS credits_match
  FROM ledger.accounts a LEFT JOIN ledger.entries e ON e.account_id = a.id
 GROUP BY a.id ORDER BY a.id;

--
-- A batch writes its rows straight into the tables, checked as INSERT and
-- UPDATE check them.  A table that carries something only SQL honours, such
-- as a trigger of the user's, is written through SQL instead, so that the
-- trigger fires for every row of the batch.  (Each case is rolled back.)
--

-- A check constraint added to ledger.entries holds for a batch's entries.
BEGIN;
ALTER TABLE ledger.entries ADD CONSTRAINT entries_small CHECK (amount < 1000) NOT VALID;
\set VERBOSITY terse
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 999, NULL, NULL, NULL),
    ROW(1, 4, 1000, NULL, NULL, NULL)
]::ledger.transfer_request[]);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Metadata written directly is found through its index.
BEGIN;
SELECT cardinality(ledger.transfer_batch(ARRAY[
    ROW(1, 2, 10, NULL, NULL, '{"invoice": 4711}'),
    ROW(1, 4, 20, NULL, NULL, NULL)
]::ledger.transfer_request[])) AS posted;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT amount FROM ledger.transfers WHERE metadata @> '{"invoice": 4711}';
SELECT amount FROM ledger.transfers WHERE metadata @> '{"invoice": 4711}';
ROLLBACK;

-- A user's trigger on ledger.entries fires for each entry of a batch, and
-- one on ledger.accounts for each account the batch changes.
BEGIN;
CREATE TEMP TABLE audit (tab text, account_id bigint, version bigint);
CREATE FUNCTION audit_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit VALUES ('entries', NEW.account_id, NEW.account_version);
    RETURN NULL;
END
$$;
CREATE FUNCTION audit_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit VALUES ('accounts', NEW.id, NEW.version);
    RETURN NULL;
END
$$;
CREATE TRIGGER entries_audit AFTER INSERT ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION audit_entry();
CREATE TRIGGER accounts_audit AFTER UPDATE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION audit_account();
SELECT cardinality(ledger.transfer_batch(ARRAY[
    ROW(1, 2, 10, NULL, NULL, NULL),
    ROW(1, 4, 20, NULL, NULL, NULL)
]::ledger.transfer_request[])) AS posted;
SELECT * FROM audit ORDER BY tab, account_id, version;
ROLLBACK;

-- An account created in the same transaction: its foreign key to its asset
-- is checked again when the batch updates it, as for any UPDATE.
BEGIN;
SELECT ledger.create_account('USD', 'newcomer') AS newcomer \gset
SELECT cardinality(ledger.transfer_batch(ARRAY[
    ROW(1, :newcomer, 10, NULL, NULL, NULL),
    ROW(:newcomer, 2, 4, NULL, NULL, NULL)
]::ledger.transfer_request[])) AS posted;
SELECT posted FROM ledger.balance(:newcomer);
-- Two batches in one transaction: the second sees the first's balances.
SELECT cardinality(ledger.transfer_batch(ARRAY[
    ROW(:newcomer, 2, 6, NULL, NULL, NULL)
]::ledger.transfer_request[])) AS posted;
SELECT posted FROM ledger.balance(:newcomer);
SELECT * FROM ledger.verify();
ROLLBACK;

--
-- The size limit
--

-- At most 100000 items per call: exactly the limit is accepted (and rolled
-- back here; the transfer ids it drew are not reused), one more is refused
-- before anything is locked.
BEGIN;
SELECT cardinality(ledger.transfer_batch(array_agg(ROW(1, 2, 1, NULL, NULL, NULL)::ledger.transfer_request)))
  FROM generate_series(1, 100000);
ROLLBACK;
SELECT * FROM row_counts;
SELECT ledger.transfer_batch(array_agg(ROW(1, 2, 1, NULL, NULL, NULL)::ledger.transfer_request))
  FROM generate_series(1, 100001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM row_counts;

--
-- A batch comes out exactly as the same transfers called one by one.  The
-- same script runs once as one batch and once as single ledger.transfer
-- calls, each time in a freshly created ledger with the same accounts; the
-- ids, entries, versions, running balances and account rows must be equal.
-- The hashes differ only through created_at (one time for a whole batch), so
-- each run's hash chain is recomputed from its own entries instead.
--

-- Saved copies must survive DROP EXTENSION: plain types only.
CREATE TEMP TABLE script (n int, debit bigint, credit bigint, amount bigint,
                          idempotency_key text, description text, metadata jsonb);
-- Accounts: 1 bank, 2 alice, 3 bob, 4 carol (max 1500); transfer 1 is an
-- opening deposit of 1000 to alice with the key 'opening'.
INSERT INTO script VALUES
    (1, 1, 2, 500, 'k1', NULL, NULL),        -- alice 1500
    (2, 2, 3, 1200, NULL, 'spends item 1', NULL), -- alice 300, bob 1200
    (3, 3, 4, 1200, NULL, NULL, NULL),       -- bob 0, carol 1200 (spends item 2)
    (4, 4, 2, 200, NULL, 'back', '{"n": 4}'), -- carol 1000, alice 500
    (5, 1, 2, 500, 'k1', NULL, NULL),        -- same key and arguments as item 1
    (6, 1, 2, 1000, 'opening', NULL, NULL),  -- the opening deposit again
    (7, 2, 1, 300, NULL, NULL, NULL),        -- alice 200, bank 1200
    (8, 1, 4, 500, NULL, NULL, NULL);        -- carol 1500: exactly her maximum

CREATE PROCEDURE equivalence_setup() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger.create_asset('USD', 2);
    PERFORM ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL);
    PERFORM ledger.create_account('USD', 'alice');
    PERFORM ledger.create_account('USD', 'bob');
    PERFORM ledger.create_account('USD', 'carol', max_balance => 1500);
    PERFORM ledger.transfer(1, 2, 1000, 'opening');
END
$$;

-- Entries whose hash is not SHA-256 over the previous hash of the account
-- and the entry's fields, plus accounts whose last hash is not kept on the
-- account row.  (The body is text: it survives DROP EXTENSION.)
CREATE FUNCTION chain_breaks() RETURNS bigint LANGUAGE sql AS $$
    WITH e AS (
        SELECT e.*, lag(e.hash) OVER (PARTITION BY e.account_id ORDER BY e.account_version) AS prev
          FROM ledger.entries e)
    SELECT (SELECT count(*) FROM e
             WHERE e.hash IS DISTINCT FROM pg_catalog.sha256(
                   coalesce(e.prev, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))
                   || pg_catalog.int8send(e.transfer_id) || pg_catalog.int8send(e.account_id)
                   || pg_catalog.int8send(e.account_version)
                   || pg_catalog.convert_to(CASE e.direction WHEN 'debit' THEN 'D' ELSE 'C' END, 'UTF8')
                   || ledger.amount_send(e.amount) || ledger.amount_send(e.balance_after)
                   || pg_catalog.timestamptz_send(e.created_at)))
         + (SELECT count(*) FROM ledger.accounts a
             WHERE a.entry_hash IS DISTINCT FROM
                   (SELECT e.hash FROM ledger.entries e WHERE e.account_id = a.id
                     ORDER BY e.account_version DESC LIMIT 1))
$$;

-- Run 1: the script as one batch.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
CALL equivalence_setup();
CREATE TEMP TABLE batch_ids AS
SELECT ledger.transfer_batch(array_agg(
           ROW(debit, credit, amount, idempotency_key, description, metadata)::ledger.transfer_request
           ORDER BY n)) AS ids
  FROM script;
SELECT ids FROM batch_ids;
CREATE TEMP TABLE batch_entries AS
SELECT transfer_id, account_id, account_version, direction, amount::numeric AS amount,
       balance_after::numeric AS balance_after
  FROM ledger.entries;
CREATE TEMP TABLE batch_transfers AS
SELECT id, debit_account_id, credit_account_id, amount::numeric AS amount,
       idempotency_key, description, metadata
  FROM ledger.transfers;
CREATE TEMP TABLE batch_accounts AS
SELECT id, debits_posted::numeric AS debits_posted, credits_posted::numeric AS credits_posted, version
  FROM ledger.accounts;
-- The batch's entries, all stamped with one time, chain correctly.
SELECT chain_breaks() AS batch_chain_breaks;
SELECT count(DISTINCT created_at) AS batch_times FROM ledger.entries WHERE transfer_id > 1;
SELECT * FROM batch_entries ORDER BY account_id, account_version;

-- Run 2: the same script as single calls, one after the other.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
CALL equivalence_setup();
CREATE TEMP TABLE single_ids (n int, id bigint);
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM script ORDER BY n LOOP
        INSERT INTO single_ids
        VALUES (r.n, ledger.transfer(r.debit, r.credit, r.amount, r.idempotency_key,
                                     r.description, r.metadata));
    END LOOP;
END
$$;
SELECT chain_breaks() AS single_chain_breaks;

-- Same ids, in the same order.
SELECT (SELECT array_agg(id ORDER BY n) FROM single_ids) = (SELECT ids FROM batch_ids) AS same_ids;
-- Same entries (transfer, account, version, direction, amount, balance
-- after), same transfers, same account rows: no row of either run is
-- missing from the other.
SELECT count(*) AS entry_differences FROM (
    (SELECT transfer_id, account_id, account_version, direction, amount::numeric, balance_after::numeric
       FROM ledger.entries
     EXCEPT ALL SELECT * FROM batch_entries)
    UNION ALL
    (SELECT * FROM batch_entries
     EXCEPT ALL SELECT transfer_id, account_id, account_version, direction, amount::numeric, balance_after::numeric
       FROM ledger.entries)) d;
SELECT count(*) AS transfer_differences FROM (
    (SELECT id, debit_account_id, credit_account_id, amount::numeric, idempotency_key, description, metadata
       FROM ledger.transfers
     EXCEPT ALL SELECT * FROM batch_transfers)
    UNION ALL
    (SELECT * FROM batch_transfers
     EXCEPT ALL SELECT id, debit_account_id, credit_account_id, amount::numeric, idempotency_key, description, metadata
       FROM ledger.transfers)) d;
SELECT count(*) AS account_differences FROM (
    (SELECT id, debits_posted::numeric, credits_posted::numeric, version FROM ledger.accounts
     EXCEPT ALL SELECT * FROM batch_accounts)
    UNION ALL
    (SELECT * FROM batch_accounts
     EXCEPT ALL SELECT id, debits_posted::numeric, credits_posted::numeric, version FROM ledger.accounts)) d;
SELECT (SELECT count(*) FROM ledger.entries) AS entries, (SELECT count(*) FROM batch_entries) AS batch_entries;

DROP FUNCTION chain_breaks();
DROP PROCEDURE equivalence_setup();
