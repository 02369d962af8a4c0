--
-- Ids and their sequences.  Every id the ledger hands out is unique by an
-- index.  A sequence set back (setval() by a role with pg_write_all_data,
-- or a restore of an older copy of it) makes the write that would reuse an
-- id fail with LG903, which names the sequence; the session then moves
-- every ledger sequence past its table's highest id before its next write,
-- so the retry succeeds.  ledger.verify() reports a sequence behind its
-- table and an id used twice.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'fees') AS fees;
SELECT ledger.set_account_hot(3);
SELECT ledger.transfer(1, 2, 1000) FROM generate_series(1, 3);
SELECT ledger.hold(2, 1, 10) FROM generate_series(1, 2);

-- Set back, every sequence shows in verify() before any call.
SELECT setval('ledger.transfers_id_seq', 1);
SELECT setval('ledger.entries_id_seq', 1);
SELECT setval('ledger.hold_records_id_seq', 1);
SELECT setval('ledger.accounts_id_seq', 1);
SELECT * FROM ledger.verify();

-- A transfer without a key (written straight into the tables) meets the
-- taken transfer id; the retry succeeds, and so do the entries' ids.
SELECT ledger.transfer(1, 2, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 5) AS transfer;
SELECT * FROM ledger.verify();

-- The same for each way an id is drawn: a keyed transfer (speculative
-- insertion), a batch, an entry, a hold and an account (through SQL), a
-- queued posting.
SELECT setval('ledger.transfers_id_seq', 2);
SELECT ledger.transfer(1, 2, 5, 'key-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 5, 'key-1') > 0 AS transfer;
SELECT setval('ledger.transfers_id_seq', 3);
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 5, NULL, NULL, NULL)::ledger.transfer_request]);
\echo :LAST_ERROR_SQLSTATE
SELECT cardinality(ledger.transfer_batch(ARRAY[ROW(1, 2, 5, NULL, NULL, NULL)::ledger.transfer_request])) AS batch;
-- An entry's id is twice its transfer's id, plus one for the credit: an
-- entry holding the id the next transfer's entry needs (as one written
-- before version 0.4.0, when entries drew their ids from a sequence of
-- their own, may) makes that transfer fail the same way.
SELECT last_value + 1 AS next_transfer FROM ledger.transfers_id_seq \gset
SET session_replication_role = replica;
UPDATE ledger.entries SET id = 2 * :next_transfer + 1 WHERE id = 2;
RESET session_replication_role;
SELECT ledger.transfer(1, 2, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(1, 2, 5) > :next_transfer AS transfer_after_it;
SELECT setval('ledger.hold_records_id_seq', 1);
SELECT ledger.hold(2, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.hold(2, 1, 10) AS hold;
SELECT setval('ledger.accounts_id_seq', 1);
SELECT ledger.create_account('USD', 'bob');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_account('USD', 'bob') AS bob;
SELECT ledger.transfer(2, 3, 1) > 0 AS queued;
SELECT id AS queue_id FROM ledger.hot_entries \gset
SELECT setval('ledger.hot_entries_id_seq', :queue_id, false);
SELECT ledger.transfer(2, 3, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.transfer(2, 3, 1) > 0 AS queued;
SELECT count(*) AS queued, count(DISTINCT id) AS ids FROM ledger.hot_entries;
SELECT * FROM ledger.verify();

-- An id used twice, behind the guards and without the index that forbids
-- it, is reported.
SET session_replication_role = replica;
DROP INDEX ledger.entries_id_key;
UPDATE ledger.entries SET id = 4 WHERE id = 5;
RESET session_replication_role;
SELECT * FROM ledger.verify();
SET session_replication_role = replica;
UPDATE ledger.entries SET id = 5 WHERE id = 4 AND direction = 'credit';
CREATE UNIQUE INDEX entries_id_key ON ledger.entries (id);
RESET session_replication_role;
SELECT * FROM ledger.verify();
