--
-- DDL on the ledger's tables.  A DBA may add columns of their own to any
-- ledger table (nullable, or with a default) and drop them again: every
-- function keeps working, on the direct write paths and through SQL, in
-- sessions started before or after the change.  What the library cannot
-- work with is refused when the DDL runs (LG902).
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

-- Every kind of call once: transfers with and without a key (and a replay),
-- a credit queued for the hot account and a debit that applies its queue,
-- holds captured, released and expired, a batch, a reversal, a new account
-- and a change of its limits and state.  Returns what each call returned,
-- relative to the round's first transfer so that rounds compare.
CREATE FUNCTION exercise(round integer) RETURNS TABLE (call text, result text)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint := (SELECT coalesce(max(id), 0) FROM ledger.transfers);
    t bigint;
    h bigint;
    acct bigint;
BEGIN
    t := ledger.transfer(1, 2, 1000);
    call := 'keyless transfer'; result := t - base; RETURN NEXT;
    t := ledger.transfer(1, 2, 500, 'key-' || round, 'keyed');
    call := 'keyed transfer'; result := t - base; RETURN NEXT;
    t := ledger.transfer(1, 2, 500, 'key-' || round, 'keyed');
    call := 'replay'; result := t - base; RETURN NEXT;
    t := ledger.transfer(2, 3, 100, NULL, 'fee');
    call := 'queued credit'; result := (SELECT count(*) FROM ledger.hot_entries); RETURN NEXT;
    t := ledger.transfer(3, 1, 50);
    call := 'debit applying the queue'; result := (SELECT count(*) FROM ledger.hot_entries); RETURN NEXT;
    h := ledger.hold(2, 1, 200, idempotency_key => 'hold-' || round);
    t := ledger.capture(h, 150);
    call := 'capture'; result := t - base; RETURN NEXT;
    h := ledger.hold(2, 1, 200);
    PERFORM ledger.release(h);
    call := 'release'; result := (SELECT status FROM ledger.holds WHERE id = h); RETURN NEXT;
    h := ledger.hold(2, 1, 200, expires_at => pg_catalog.clock_timestamp() + interval '10 ms');
    PERFORM pg_catalog.pg_sleep(0.02);
    call := 'expired'; result := ledger.expire_holds(); RETURN NEXT;
    call := 'batch';
    result := array_length(ledger.transfer_batch(ARRAY[
        ROW(1, 2, 10, NULL, 'batch', NULL)::ledger.transfer_request,
        ROW(2, 1, 5, 'batch-' || round, 'batch', NULL)::ledger.transfer_request]), 1);
    RETURN NEXT;
    t := ledger.reverse(t, 2);
    call := 'reversal'; result := t - base; RETURN NEXT;
    acct := ledger.create_account('USD', 'new-' || round);
    PERFORM ledger.set_account_limits(acct, 0, 100);
    PERFORM ledger.close_account(acct);
    PERFORM ledger.reopen_account(acct);
    call := 'account'; result := (SELECT max_balance FROM ledger.accounts WHERE id = acct); RETURN NEXT;
    call := 'balance'; result := (SELECT posted FROM ledger.balance(2)); RETURN NEXT;
    call := 'statement'; result := (SELECT count(*) FROM ledger.statement(2)); RETURN NEXT;
    call := 'verify'; result := (SELECT count(*) FROM ledger.verify()); RETURN NEXT;
END
$$;

SELECT * FROM exercise(1);

-- Columns of a DBA's own on every table: nullable, and NOT NULL with a
-- default.
ALTER TABLE ledger.assets ADD COLUMN crm_ref text;
ALTER TABLE ledger.accounts ADD COLUMN crm_ref text,
                            ADD COLUMN tier text NOT NULL DEFAULT 'standard';
ALTER TABLE ledger.transfers ADD COLUMN crm_ref text,
                             ADD COLUMN source text NOT NULL DEFAULT 'api';
ALTER TABLE ledger.entries ADD COLUMN crm_ref text,
                           ADD COLUMN reviewed boolean NOT NULL DEFAULT false;
ALTER TABLE ledger.hold_records ADD COLUMN crm_ref text,
                                ADD COLUMN channel text NOT NULL DEFAULT 'card';
ALTER TABLE ledger.hot_entries ADD COLUMN crm_ref text,
                               ADD COLUMN shard integer NOT NULL DEFAULT 0;
SELECT * FROM exercise(2);
-- A new session, which looks the tables up afresh.
\c
SET search_path = public, ledger;
SELECT * FROM exercise(3);
SELECT DISTINCT tier FROM ledger.accounts;
SELECT DISTINCT source FROM ledger.transfers WHERE id > 1;
SELECT DISTINCT reviewed FROM ledger.entries;
SELECT DISTINCT channel FROM ledger.hold_records;

-- The same through SQL: a trigger of the user's on every table the calls
-- write makes them go through their statements.
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER user_trigger AFTER INSERT OR UPDATE ON ledger.accounts FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER user_trigger AFTER INSERT ON ledger.transfers FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER user_trigger AFTER INSERT ON ledger.entries FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER user_trigger AFTER INSERT ON ledger.hot_entries FOR EACH ROW EXECUTE FUNCTION noop();
SELECT * FROM exercise(4);
DROP TRIGGER user_trigger ON ledger.accounts;
DROP TRIGGER user_trigger ON ledger.transfers;
DROP TRIGGER user_trigger ON ledger.entries;
DROP TRIGGER user_trigger ON ledger.hot_entries;

-- A DBA's columns can be set directly on accounts and holds; the ledger's
-- own columns still cannot.
UPDATE ledger.accounts SET crm_ref = 'C-1', tier = 'gold' WHERE id = 2;
UPDATE ledger.hold_records SET crm_ref = 'H-1' WHERE id = 1;
SELECT crm_ref, tier FROM ledger.accounts WHERE id = 2;
SELECT crm_ref FROM ledger.hold_records WHERE id = 1;
\set VERBOSITY terse
UPDATE ledger.hold_records SET crm_ref = 'H-2', amount = 1 WHERE id = 1;
UPDATE ledger.accounts SET crm_ref = 'C-2', version = 0 WHERE id = 2;
\set VERBOSITY default

-- Dropped again, in this session and in a new one.
ALTER TABLE ledger.assets DROP COLUMN crm_ref;
ALTER TABLE ledger.accounts DROP COLUMN crm_ref, DROP COLUMN tier;
ALTER TABLE ledger.transfers DROP COLUMN crm_ref, DROP COLUMN source;
ALTER TABLE ledger.entries DROP COLUMN crm_ref, DROP COLUMN reviewed;
ALTER TABLE ledger.hold_records DROP COLUMN crm_ref, DROP COLUMN channel;
ALTER TABLE ledger.hot_entries DROP COLUMN crm_ref, DROP COLUMN shard;
SELECT * FROM exercise(5);
\c
SET search_path = public, ledger;
SELECT * FROM exercise(6);

-- Refused when it runs, and undone: what the library cannot work with.
ALTER TABLE ledger.hot_entries ADD COLUMN shard integer NOT NULL;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ledger.hot_entries ADD COLUMN shard integer;
ALTER TABLE ledger.hot_entries ALTER COLUMN shard SET NOT NULL;
ALTER TABLE ledger.hot_entries DROP COLUMN shard;
ALTER TABLE ledger.accounts DROP COLUMN metadata;
ALTER TABLE ledger.transfers RENAME COLUMN description TO memo;
ALTER TABLE ledger.transfers ALTER COLUMN description TYPE varchar(100);
ALTER TABLE ledger.entries ALTER COLUMN hash TYPE text;
ALTER TABLE ledger.transfers RENAME TO movements;
ALTER TABLE ledger.transfers SET SCHEMA public;
DROP INDEX ledger.transfers_book_id_idempotency_key_key;
ALTER INDEX ledger.accounts_pkey RENAME TO accounts_id_key;
ALTER SEQUENCE ledger.transfers_id_seq RENAME TO transfer_ids;
\echo :LAST_ERROR_SQLSTATE
-- An index or a constraint of the user's own is fine, and so is dropping it.
CREATE INDEX entries_created_at_idx ON ledger.entries (created_at);
DROP INDEX ledger.entries_created_at_idx;
ALTER TABLE ledger.transfers ADD CONSTRAINT transfers_memo_check
    CHECK (pg_catalog.length(description) OPERATOR(pg_catalog.<) 1000);
ALTER TABLE ledger.transfers DROP CONSTRAINT transfers_memo_check;
-- Nothing of the refused DDL stuck.
SELECT count(*) AS columns FROM pg_catalog.pg_attribute
 WHERE attrelid = 'ledger.hot_entries'::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped;
SELECT * FROM exercise(7);

-- A foreign key of the DBA's own, on a column they added to accounts, holds
-- for the ledger's writes too, one account or many: a default that refers
-- to a missing row is refused, and nothing is written.
CREATE TABLE public.regions (id bigint PRIMARY KEY);
ALTER TABLE ledger.accounts ADD COLUMN region bigint REFERENCES public.regions (id);
ALTER TABLE ledger.accounts ALTER COLUMN region SET DEFAULT 7;
SELECT ledger.create_account('USD', 'in-region-1');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_accounts(ARRAY[
    ROW(1, 'USD', 'in-region-2', 'credit', 0, NULL, NULL),
    ROW(1, 'USD', 'in-region-3', 'credit', 0, NULL, NULL)]::ledger.account_request[]);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS in_region FROM ledger.accounts WHERE name LIKE 'in-region-%';
INSERT INTO public.regions VALUES (7);
SELECT ledger.create_account('USD', 'in-region-1') > 0 AS created;
SELECT cardinality(ledger.create_accounts(ARRAY[
    ROW(1, 'USD', 'in-region-2', 'credit', 0, NULL, NULL),
    ROW(1, 'USD', 'in-region-3', 'credit', 0, NULL, NULL)]::ledger.account_request[])) AS created;
SELECT name, region FROM ledger.accounts WHERE name LIKE 'in-region-%' ORDER BY name;
ALTER TABLE ledger.accounts DROP COLUMN region;
DROP TABLE public.regions;
SELECT count(*) AS problems FROM ledger.verify();
