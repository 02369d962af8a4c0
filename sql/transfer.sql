--
-- Transfers: one call moves money, writes its entries and updates both accounts.
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
SELECT ledger.create_account('USD', 'bob', max_balance => 3000) AS bob;
SELECT ledger.create_account('EUR', 'eve') AS eve;

-- What a rejected call must leave untouched.
CREATE VIEW row_counts AS
SELECT (SELECT count(*) FROM ledger.transfers) AS transfers,
       (SELECT count(*) FROM ledger.entries) AS entries,
       (SELECT ledger.sum(version) FROM ledger.accounts) AS versions;

-- A deposit: the bank (debit-normal) is debited, alice (credit-normal) is
-- credited, and both balances rise.
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'first deposit', '{"source": "wire"}');
SELECT id, debit_account_id, credit_account_id, amount, idempotency_key,
       description, metadata
  FROM ledger.transfers ORDER BY id;
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries ORDER BY id;
SELECT account_id, posted, available FROM ledger.account_balances ORDER BY account_id;

-- Alice pays bob; then bob pays part of it back.  Each entry numbers the
-- account's history and records the balance right after it.
SELECT ledger.transfer(2, 3, 2500);
SELECT ledger.transfer(3, 2, 500, description => 'refund');
SELECT transfer_id, account_id, account_version, direction, amount, balance_after
  FROM ledger.entries ORDER BY id;
SELECT * FROM ledger.balance(2);
SELECT * FROM ledger.balance(3);

-- An entry's time never goes back in an account's version order, and a
-- transfer's entries share its time.
SELECT bool_and(e.created_at = t.created_at) AS same_time FROM ledger.entries e
  JOIN ledger.transfers t ON t.id = e.transfer_id;
SELECT bool_and(created_at >= lag) AS monotonic FROM (
    SELECT created_at, lag(created_at, 1, '-infinity') OVER (PARTITION BY account_id ORDER BY account_version)
      FROM ledger.entries) s;

-- Idempotency: a replay with the same key and arguments returns the original
-- transfer and writes nothing.
SELECT * FROM row_counts;
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'first deposit', '{"source": "wire"}');
SELECT * FROM row_counts;

-- The same key with any argument changed is a conflict that names the key.
SELECT ledger.transfer(1, 2, 10001, 'deposit-1', 'first deposit', '{"source": "wire"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 3, 10000, 'deposit-1', 'first deposit', '{"source": "wire"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 1, 10000, 'deposit-1', 'first deposit', '{"source": "wire"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'other text', '{"source": "wire"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', NULL, '{"source": "wire"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'first deposit', '{"source": "card"}');
\echo :LAST_ERROR_SQLSTATE
-- jsonb compares by value: key order and spacing do not matter.
SELECT ledger.transfer(1, 2, 10000, 'deposit-1', 'first deposit', '{ "source" : "wire" }');

-- Keys are 1 to 255 characters without control characters.
SELECT ledger.transfer(1, 2, 1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, repeat('k', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 1, E'bad\nkey');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT ledger.transfer(1, 2, 1, E'order\u009b31m-7');
\set VERBOSITY default
SELECT ledger.transfer(1, 2, 1, repeat('é', 255)) > 0 AS longest_key_accepted;

-- Amounts are positive; accounts are required, distinct and known.
SELECT ledger.transfer(1, 2, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(NULL, 2, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, NULL, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 2, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 999, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(999, 2, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 5, metadata => '[]');
\echo :LAST_ERROR_SQLSTATE

-- Both accounts must hold the same asset.
SELECT ledger.transfer(2, 4, 5);
\echo :LAST_ERROR_SQLSTATE

-- Limits: alice may not go below zero; bob may not exceed 3000.
SELECT account_id, name, posted FROM ledger.account_balances WHERE account_id IN (2, 3) ORDER BY account_id;
SELECT ledger.transfer(2, 1, 8002);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 3, 1001);
\echo :LAST_ERROR_SQLSTATE
-- Exactly reaching a limit is allowed.
SELECT ledger.transfer(1, 3, 1000) > 0 AS bob_at_max;
SELECT ledger.transfer(2, 1, 8001) > 0 AS alice_at_zero;
SELECT account_id, name, posted, available FROM ledger.account_balances ORDER BY account_id;

-- A balance column that would leave the 128-bit range is refused.
SELECT ledger.create_account('USD', 'whale', min_balance => NULL) AS whale;
SELECT ledger.create_account('USD', 'sink') AS sink;
SELECT ledger.transfer(5, 6, '170141183460469231731687303715884105727') > 0 AS whale_drained;
SELECT ledger.transfer(5, 6, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT debits_posted FROM ledger.accounts WHERE name = 'whale';

-- None of the rejected calls above wrote anything.
SELECT * FROM row_counts;

-- A failed transfer inside a transaction leaves no trace after ROLLBACK TO.
BEGIN;
SAVEPOINT s;
SELECT ledger.transfer(2, 1, 1);
ROLLBACK TO SAVEPOINT s;
SELECT ledger.transfer(1, 2, 1) > 0 AS later_transfer_works;
COMMIT;
SELECT * FROM row_counts;

--
-- A transfer writes its rows straight into the tables, checked as INSERT and
-- UPDATE check them, with the tables' defaults, constraints and partial
-- indexes read again whenever a table changes.  A table that carries
-- something only SQL honours, such as a trigger of the user's, is written
-- through SQL instead.  (Each case is rolled back.)
--

-- A check constraint added after this session's first transfers holds for
-- the next one, a changed column default is used, and a constraint
-- replaced by another is the one that holds.
BEGIN;
SELECT ledger.transfer(1, 2, 5) > 0 AS before_the_change;
ALTER TABLE ledger.entries ADD CONSTRAINT entries_small CHECK (amount < 1000) NOT VALID;
ALTER TABLE ledger.entries ADD COLUMN note text DEFAULT 'old default';
SELECT ledger.transfer(1, 2, 998) > 0 AS with_old_default;
ALTER TABLE ledger.entries ALTER COLUMN note SET DEFAULT 'new default';
SELECT ledger.transfer(1, 2, 999) AS small \gset
SELECT account_id, amount, note
  FROM ledger.entries WHERE transfer_id >= :small - 1 ORDER BY transfer_id, account_id;
\set VERBOSITY terse
SAVEPOINT s;
SELECT ledger.transfer(1, 2, 1000);
ROLLBACK TO SAVEPOINT s;
ALTER TABLE ledger.entries DROP CONSTRAINT entries_small,
    ADD CONSTRAINT entries_smaller CHECK (amount < 500) NOT VALID;
SELECT ledger.transfer(1, 2, 499) > 0 AS smaller;
SELECT ledger.transfer(1, 2, 500);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Gone with the rollback: the same amount goes through again.
BEGIN;
SELECT ledger.transfer(1, 2, 1000) > 0 AS large_again;
ROLLBACK;

-- Partial indexes get exactly the rows their predicates admit: a transfer
-- with metadata is found through the index on it.
BEGIN;
SELECT ledger.transfer(1, 2, 7, metadata => '{"invoice": 4711}') AS invoiced \gset
SELECT ledger.transfer(1, 2, 8) > 0 AS plain;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ledger.transfers WHERE metadata @> '{"invoice": 4711}';
SELECT id = :invoiced AS found_by_index FROM ledger.transfers WHERE metadata @> '{"invoice": 4711}';
ROLLBACK;

-- Users' triggers on the three tables fire for a transfer's rows.
BEGIN;
CREATE TEMP TABLE audit (tab text, id bigint, version bigint);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'entries' THEN
        INSERT INTO audit VALUES (TG_TABLE_NAME, NEW.account_id, NEW.account_version);
    ELSIF TG_TABLE_NAME = 'accounts' THEN
        INSERT INTO audit VALUES (TG_TABLE_NAME, NEW.id, NEW.version);
    ELSE
        INSERT INTO audit VALUES (TG_TABLE_NAME, NEW.debit_account_id, NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_audit AFTER INSERT ON ledger.transfers
    FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER entries_audit AFTER INSERT ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER accounts_audit AFTER UPDATE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION audit_row();
SELECT ledger.transfer(1, 2, 5) > 0 AS audited;
SELECT tab, id, version - (SELECT version FROM ledger.accounts WHERE accounts.id = audit.id) AS versions_back
  FROM audit ORDER BY tab, id;
-- With a key too, and its replay writes nothing.
TRUNCATE audit;
SELECT ledger.transfer(2, 1, 3, 'audited-key') AS keyed \gset
SELECT ledger.transfer(2, 1, 3, 'audited-key') = :keyed AS replayed;
SELECT tab, id, version - (SELECT version FROM ledger.accounts WHERE accounts.id = audit.id) AS versions_back
  FROM audit ORDER BY tab, id;
ROLLBACK;

-- Row security on the transfers table sends keyed transfers back to SQL,
-- the lookup of their key too: a replay and a conflict answer as before.
BEGIN;
ALTER TABLE ledger.transfers ENABLE ROW LEVEL SECURITY;
SELECT ledger.transfer(1, 2, 4, 'rls-key') AS secured \gset
SELECT ledger.transfer(1, 2, 4, 'rls-key') = :secured AS replayed;
SAVEPOINT s;
\set VERBOSITY terse
SELECT ledger.transfer(1, 2, 5, 'rls-key');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS transfers_with_the_key FROM ledger.transfers WHERE idempotency_key = 'rls-key';
ROLLBACK;

-- An account created in the same transaction: its foreign key to its asset
-- is checked again when a transfer updates it, as for any UPDATE.
BEGIN;
SELECT ledger.create_account('USD', 'newcomer') AS newcomer \gset
SELECT ledger.transfer(1, :newcomer, 10) > 0 AS funded;
SELECT ledger.transfer(:newcomer, 2, 4) > 0 AS paid;
SELECT posted, version FROM ledger.balance(:newcomer)
  CROSS JOIN (SELECT version FROM ledger.accounts WHERE id = :newcomer) AS v;
SELECT count(*) AS problems FROM ledger.verify();
ROLLBACK;

-- Every account's balance equals what its entries say.
SELECT a.id, (a.version = coalesce(max(e.account_version), 0)) AS versions_match,
       (a.debits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)) AS debits_match,
       (a.credits_posted = coalesce(ledger.sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0)) AS credits_match
  FROM ledger.accounts a LEFT JOIN ledger.entries e ON e.account_id = a.id
 GROUP BY a.id ORDER BY a.id;
