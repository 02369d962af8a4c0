-- test/pgtap/privileges.sql - who may change the ledger, and how.
--
-- An application role with EXECUTE on every function of schema ledger and
-- every ledger privilege on book 1 (the strongest grants short of table
-- privileges and ownership) moves money only through the API and only
-- within the rules; every direct write fails for lack of
-- privilege.  The table owner, who has every privilege, is stopped by the
-- guard triggers instead.  A reporting role with SELECT on the tables and
-- read on book 1 reads balances but cannot move money.
--
-- Roles are created inside the transaction, so the final ROLLBACK removes
-- them.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(90);

CREATE ROLE ledger_app_test NOLOGIN;
GRANT USAGE ON SCHEMA ledger TO ledger_app_test;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO ledger_app_test;
SELECT ledger.grant_privilege(1, 'ledger_app_test', p)
  FROM pg_catalog.unnest(ARRAY['read', 'post', 'hold', 'manage']) AS p;

CREATE ROLE ledger_report_test NOLOGIN;
GRANT USAGE ON SCHEMA ledger TO ledger_report_test;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO ledger_report_test;
SELECT ledger.grant_privilege(1, 'ledger_report_test', 'read');

-- Fixtures, as the superuser: a bank (debit-normal, its balance rises with
-- every payout), two wallets and a wallet in another asset.
SELECT ledger.create_asset('PRIVUSD', 2) AS usd,
       ledger.create_asset('PRIVEUR', 2) AS eur \gset
SELECT ledger.create_account('PRIVUSD', 'priv_bank', 'debit') AS bank,
       ledger.create_account('PRIVUSD', 'priv_alice') AS alice,
       ledger.create_account('PRIVUSD', 'priv_bob') AS bob,
       ledger.create_account('PRIVEUR', 'priv_euro') AS euro \gset

-- ===========================================================================
-- The application role
-- ===========================================================================
SET ROLE ledger_app_test;

SELECT is(current_user::text, 'ledger_app_test', 'running as ledger_app_test');

-- The API works.
SELECT lives_ok(
    $$SELECT ledger.transfer(ledger.account_id('priv_bank'), ledger.account_id('priv_alice'), 1000, 'priv-1')$$,
    'ledger_app_test can pay 1000 from the bank to alice');
SELECT lives_ok(
    $$SELECT ledger.transfer(ledger.account_id('priv_alice'), ledger.account_id('priv_bob'), 300, 'priv-2')$$,
    'ledger_app_test can pay 300 from alice to bob');
SELECT results_eq(
    $$SELECT n, b.posted::text, b.pending_debits::text, b.pending_credits::text, b.available::text
        FROM unnest(ARRAY['priv_bank', 'priv_alice', 'priv_bob']) WITH ORDINALITY AS u(n, i),
             ledger.balance(ledger.account_id(n)) AS b
       ORDER BY i$$,
    $$VALUES ('priv_bank', '1000', '0', '0', '1000'),
             ('priv_alice', '700', '0', '0', '700'),
             ('priv_bob', '300', '0', '0', '300')$$,
    'ledger_app_test reads the balances through ledger.balance');

-- The API keeps its rules for this role too.
SELECT throws_ok(
    $$SELECT ledger.transfer(ledger.account_id('priv_alice'), ledger.account_id('priv_bob'), 701)$$,
    'LG103', NULL,
    'an overdraft through ledger.transfer is refused (LG103)');
SELECT throws_ok(
    $$SELECT ledger.transfer(ledger.account_id('priv_alice'), ledger.account_id('priv_euro'), 1)$$,
    'LG101', NULL,
    'a transfer between assets through ledger.transfer is refused (LG101)');
SELECT results_eq(
    $$SELECT b.posted::text
        FROM unnest(ARRAY['priv_bank', 'priv_alice', 'priv_bob', 'priv_euro']) WITH ORDINALITY AS u(n, i),
             ledger.balance(ledger.account_id(n)) AS b
       ORDER BY i$$,
    $$VALUES ('1000'), ('700'), ('300'), ('0')$$,
    'the refused transfers changed no balance');

-- Reading the tables directly needs SELECT, which this role lacks.
SELECT throws_ok($$SELECT * FROM ledger.assets$$, '42501', NULL,
                 'ledger_app_test cannot read ledger.assets');
SELECT throws_ok($$SELECT * FROM ledger.accounts$$, '42501', NULL,
                 'ledger_app_test cannot read ledger.accounts');
SELECT throws_ok($$SELECT * FROM ledger.transfers$$, '42501', NULL,
                 'ledger_app_test cannot read ledger.transfers');
SELECT throws_ok($$SELECT * FROM ledger.entries$$, '42501', NULL,
                 'ledger_app_test cannot read ledger.entries');
SELECT throws_ok($$SELECT * FROM ledger.account_balances$$, '42501', NULL,
                 'ledger_app_test cannot read ledger.account_balances');

-- Every direct write fails for lack of privilege.
SELECT throws_ok($$INSERT INTO ledger.assets (code, scale) VALUES ('PRIVXXX', 2)$$,
                 '42501', NULL, 'ledger_app_test cannot insert into ledger.assets');
SELECT throws_ok($$UPDATE ledger.assets SET scale = 3$$,
                 '42501', NULL, 'ledger_app_test cannot update ledger.assets');
SELECT throws_ok($$DELETE FROM ledger.assets$$,
                 '42501', NULL, 'ledger_app_test cannot delete from ledger.assets');
SELECT throws_ok($$TRUNCATE ledger.assets CASCADE$$,
                 '42501', NULL, 'ledger_app_test cannot truncate ledger.assets');

SELECT throws_ok($$INSERT INTO ledger.accounts (asset, name, normal_balance) VALUES ('PRIVUSD', 'priv_x', 'credit')$$,
                 '42501', NULL, 'ledger_app_test cannot insert into ledger.accounts');
SELECT throws_ok($$UPDATE ledger.accounts SET credits_posted = '1000000'$$,
                 '42501', NULL, 'ledger_app_test cannot update ledger.accounts balances');
SELECT throws_ok($$UPDATE ledger.accounts SET name = 'priv_renamed'$$,
                 '42501', NULL, 'ledger_app_test cannot update ledger.accounts names');
SELECT throws_ok($$DELETE FROM ledger.accounts$$,
                 '42501', NULL, 'ledger_app_test cannot delete from ledger.accounts');
SELECT throws_ok($$TRUNCATE ledger.accounts$$,
                 '42501', NULL, 'ledger_app_test cannot truncate ledger.accounts');

SELECT throws_ok($$INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, created_at)
                   VALUES (1, 2, '1', now())$$,
                 '42501', NULL, 'ledger_app_test cannot insert into ledger.transfers');
SELECT throws_ok($$UPDATE ledger.transfers SET amount = '1'$$,
                 '42501', NULL, 'ledger_app_test cannot update ledger.transfers');
SELECT throws_ok($$DELETE FROM ledger.transfers$$,
                 '42501', NULL, 'ledger_app_test cannot delete from ledger.transfers');
SELECT throws_ok($$TRUNCATE ledger.transfers$$,
                 '42501', NULL, 'ledger_app_test cannot truncate ledger.transfers');

SELECT throws_ok($$INSERT INTO ledger.entries (transfer_id, account_id, account_version, direction, amount, balance_after, created_at)
                   VALUES (1, 1, 99, 'debit', '1', '1', now())$$,
                 '42501', NULL, 'ledger_app_test cannot insert into ledger.entries');
SELECT throws_ok($$UPDATE ledger.entries SET amount = '1'$$,
                 '42501', NULL, 'ledger_app_test cannot update ledger.entries');
SELECT throws_ok($$DELETE FROM ledger.entries$$,
                 '42501', NULL, 'ledger_app_test cannot delete from ledger.entries');
SELECT throws_ok($$TRUNCATE ledger.entries$$,
                 '42501', NULL, 'ledger_app_test cannot truncate ledger.entries');

SELECT throws_ok($$SELECT nextval('ledger.accounts_id_seq')$$,
                 '42501', NULL, 'ledger_app_test cannot draw from ledger.accounts_id_seq');
SELECT throws_ok($$SELECT nextval('ledger.transfers_id_seq')$$,
                 '42501', NULL, 'ledger_app_test cannot draw from ledger.transfers_id_seq');
SELECT throws_ok($$SELECT nextval('ledger.entries_id_seq')$$,
                 '42501', NULL, 'ledger_app_test cannot draw from ledger.entries_id_seq');
SELECT throws_ok($$SELECT setval('ledger.entries_id_seq', 1)$$,
                 '42501', NULL, 'ledger_app_test cannot reset ledger.entries_id_seq');

-- Nor can it switch the guards off or plant objects in the schema.
SELECT throws_ok($$ALTER TABLE ledger.entries DISABLE TRIGGER entries_guard$$,
                 '42501', NULL, 'ledger_app_test cannot disable a guard trigger');
SELECT throws_ok($$CREATE TABLE ledger.priv_planted (id int)$$,
                 '42501', NULL, 'ledger_app_test cannot create a table in schema ledger');
SELECT throws_ok($$CREATE FUNCTION ledger.priv_planted() RETURNS int LANGUAGE sql AS 'SELECT 1'$$,
                 '42501', NULL, 'ledger_app_test cannot create a function in schema ledger');

RESET ROLE;

-- ===========================================================================
-- The reporting role
-- ===========================================================================
SET ROLE ledger_report_test;

SELECT is(current_user::text, 'ledger_report_test', 'running as ledger_report_test');
SELECT results_eq(
    $$SELECT name, posted::text, available::text, posted_display, available_display, closed
        FROM ledger.account_balances
       WHERE asset = 'PRIVUSD'
       ORDER BY name$$,
    $$VALUES ('priv_alice', '700', '700', '7.00 PRIVUSD', '7.00 PRIVUSD', false),
             ('priv_bank', '1000', '1000', '10.00 PRIVUSD', '10.00 PRIVUSD', false),
             ('priv_bob', '300', '300', '3.00 PRIVUSD', '3.00 PRIVUSD', false)$$,
    'ledger_report_test reads ledger.account_balances');
SELECT results_eq(
    $$SELECT e.direction, e.amount::text, e.balance_after::text, e.account_version
        FROM ledger.entries e
        JOIN ledger.accounts a ON a.id = e.account_id
       WHERE a.name = 'priv_alice'
       ORDER BY e.account_version$$,
    $$VALUES ('credit', '1000', '1000', 1::bigint),
             ('debit', '300', '700', 2::bigint)$$,
    'ledger_report_test reads ledger.entries');
SELECT throws_ok(
    $$SELECT ledger.transfer(ledger.account_id('priv_alice'), ledger.account_id('priv_bob'), 1)$$,
    '42501', NULL, 'ledger_report_test cannot call ledger.account_id or ledger.transfer');
SELECT throws_ok(
    format('SELECT ledger.transfer(%s, %s, 1)', :alice, :bob),
    '42501', NULL, 'ledger_report_test cannot call ledger.transfer');
SELECT throws_ok(
    format('SELECT * FROM ledger.balance(%s)', :alice),
    '42501', NULL, 'ledger_report_test cannot call ledger.balance');
SELECT throws_ok(
    $$SELECT ledger.create_asset('PRIVGBP', 2)$$,
    '42501', NULL, 'ledger_report_test cannot call ledger.create_asset');
SELECT throws_ok(
    $$INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, created_at)
      VALUES (1, 2, '1', now())$$,
    '42501', NULL, 'ledger_report_test cannot insert into ledger.transfers');
SELECT throws_ok(
    $$UPDATE ledger.accounts SET name = 'priv_renamed'$$,
    '42501', NULL, 'ledger_report_test cannot update ledger.accounts');
SELECT throws_ok(
    $$SELECT id FROM ledger.accounts FOR UPDATE$$,
    '42501', NULL, 'ledger_report_test cannot lock account rows');
SELECT throws_ok(
    $$SELECT nextval('ledger.transfers_id_seq')$$,
    '42501', NULL, 'ledger_report_test cannot draw from ledger.transfers_id_seq');

-- The guard functions read their table's columns by position.  Attached to
-- a table of the caller's own they would read whatever is there, so only
-- the ledger's own triggers may call them.
CREATE TEMP TABLE priv_own_table (code bigint, scale integer);
SELECT throws_ok(
    $$CREATE TRIGGER priv_g1 BEFORE DELETE ON pg_temp.priv_own_table
      FOR EACH ROW EXECUTE FUNCTION ledger.guard_assets()$$,
    '42501', NULL, 'ledger_report_test cannot attach ledger.guard_assets() to a table of its own');
SELECT throws_ok(
    $$CREATE TRIGGER priv_g2 BEFORE UPDATE ON pg_temp.priv_own_table
      FOR EACH ROW EXECUTE FUNCTION ledger.guard_accounts()$$,
    '42501', NULL, 'ledger_report_test cannot attach ledger.guard_accounts() to a table of its own');
SELECT throws_ok(
    $$CREATE TRIGGER priv_g3 BEFORE UPDATE ON pg_temp.priv_own_table
      FOR EACH ROW EXECUTE FUNCTION ledger.guard_holds()$$,
    '42501', NULL, 'ledger_report_test cannot attach ledger.guard_holds() to a table of its own');
SELECT throws_ok(
    $$CREATE TRIGGER priv_g4 BEFORE DELETE ON pg_temp.priv_own_table
      FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()$$,
    '42501', NULL, 'ledger_report_test cannot attach ledger.guard_history() to a table of its own');

RESET ROLE;

-- ===========================================================================
-- The table owner: every privilege, stopped by the guard triggers
-- ===========================================================================
SELECT is(current_user::text, 'postgres', 'running as the superuser that owns the tables');

-- History is append-only, and written only by the ledger functions.
SELECT throws_ok($$INSERT INTO ledger.transfers (debit_account_id, credit_account_id, amount, created_at)
                   VALUES (1, 2, '1', now())$$,
                 'LG901', NULL, 'the owner cannot insert into ledger.transfers');
SELECT throws_ok($$UPDATE ledger.transfers SET description = 'edited'$$,
                 'LG901', NULL, 'the owner cannot update ledger.transfers');
SELECT throws_ok($$DELETE FROM ledger.transfers$$,
                 'LG901', NULL, 'the owner cannot delete from ledger.transfers');
SELECT throws_ok($$DELETE FROM ledger.transfers WHERE false$$,
                 'LG901', NULL, 'the owner cannot run even a DELETE that matches no row');
SELECT throws_ok($$TRUNCATE ledger.transfers$$,
                 'LG901', NULL, 'the owner cannot truncate ledger.transfers');
SELECT throws_ok($$INSERT INTO ledger.entries (transfer_id, account_id, account_version, direction, amount, balance_after, created_at)
                   VALUES (1, 1, 99, 'debit', '1', '1', now())$$,
                 'LG901', NULL, 'the owner cannot insert into ledger.entries');
SELECT throws_ok($$UPDATE ledger.entries SET balance_after = '0'$$,
                 'LG901', NULL, 'the owner cannot update ledger.entries');
SELECT throws_ok($$DELETE FROM ledger.entries$$,
                 'LG901', NULL, 'the owner cannot delete from ledger.entries');
SELECT throws_ok($$TRUNCATE ledger.entries$$,
                 'LG901', NULL, 'the owner cannot truncate ledger.entries');

-- Accounts: created only by ledger.create_account, never deleted, and only
-- name and metadata change by hand.
SELECT throws_ok($$INSERT INTO ledger.accounts (asset, name, normal_balance) VALUES ('PRIVUSD', 'priv_x', 'credit')$$,
                 'LG901', NULL, 'the owner cannot insert into ledger.accounts');
SELECT throws_ok($$DELETE FROM ledger.accounts WHERE name = 'priv_bob'$$,
                 'LG901', NULL, 'the owner cannot delete from ledger.accounts');
SELECT throws_ok($$TRUNCATE ledger.accounts$$,
                 'LG901', NULL, 'the owner cannot truncate ledger.accounts');
SELECT throws_ok($$TRUNCATE ledger.assets CASCADE$$,
                 'LG901', NULL, 'the owner cannot truncate ledger.assets and with it ledger.accounts');
SELECT throws_ok($$UPDATE ledger.accounts SET id = id + 1000000 WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.id');
SELECT throws_ok($$UPDATE ledger.accounts SET asset = 'PRIVEUR' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.asset');
SELECT throws_ok($$UPDATE ledger.accounts SET normal_balance = 'debit' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.normal_balance');
SELECT throws_ok($$UPDATE ledger.accounts SET min_balance = NULL WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.min_balance');
SELECT throws_ok($$UPDATE ledger.accounts SET max_balance = '5000' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.max_balance');
SELECT throws_ok($$UPDATE ledger.accounts SET debits_posted = '123456' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.debits_posted');
SELECT throws_ok($$UPDATE ledger.accounts SET credits_posted = '1000000' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.credits_posted');
SELECT throws_ok($$UPDATE ledger.accounts SET debits_pending = '1' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.debits_pending');
SELECT throws_ok($$UPDATE ledger.accounts SET credits_pending = '1' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.credits_pending');
SELECT throws_ok($$UPDATE ledger.accounts SET version = 12345 WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.version');
SELECT throws_ok($$UPDATE ledger.accounts SET closed = true WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.closed');
SELECT throws_ok($$UPDATE ledger.accounts SET created_at = '2000-01-01' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.created_at');
SELECT throws_ok($$UPDATE ledger.accounts SET updated_at = '2000-01-01' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.updated_at');
SELECT throws_ok($$UPDATE ledger.accounts SET holds_expire_at = '2000-01-01' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'the owner cannot change accounts.holds_expire_at');
SELECT throws_ok($$MERGE INTO ledger.accounts a USING (VALUES ('priv_alice')) AS s(name) ON a.name = s.name
                   WHEN MATCHED THEN UPDATE SET credits_posted = '1000000'$$,
                 'LG901', NULL, 'the owner cannot change a balance through MERGE');
SELECT throws_ok($$UPDATE ledger.accounts SET name = 'priv_alice_2', credits_posted = '1000000' WHERE name = 'priv_alice'$$,
                 'LG901', NULL, 'a permitted column does not carry a forbidden one through');

SELECT lives_ok($$UPDATE ledger.accounts SET name = 'priv_alice_renamed' WHERE name = 'priv_alice'$$,
                'the owner can rename an account');
SELECT lives_ok($$UPDATE ledger.accounts SET metadata = '{"tier": "gold"}' WHERE name = 'priv_alice_renamed'$$,
                'the owner can change an account''s metadata');
SELECT results_eq(
    format($$SELECT name, metadata FROM ledger.accounts WHERE id = %s$$, :alice),
    $$VALUES ('priv_alice_renamed', '{"tier": "gold"}'::jsonb)$$,
    'the rename and the metadata change took effect');

-- Assets: created only by ledger.create_asset; one in use cannot change or go.
SELECT throws_ok($$INSERT INTO ledger.assets (code, scale) VALUES ('PRIVXXX', 2)$$,
                 'LG901', NULL, 'the owner cannot insert into ledger.assets');
SELECT throws_ok($$DELETE FROM ledger.assets WHERE code = 'PRIVUSD'$$,
                 'LG107', NULL, 'the owner cannot delete an asset that accounts use');
SELECT throws_ok($$UPDATE ledger.assets SET scale = 3 WHERE code = 'PRIVUSD'$$,
                 'LG107', NULL, 'the owner cannot change the scale of an asset that accounts use');

-- Nothing above left a trace.
SELECT results_eq(
    format($$SELECT a.name, a.version, b.posted::text
               FROM ledger.accounts a, ledger.balance(a.id) b
              WHERE a.id IN (%s, %s, %s, %s)
              ORDER BY a.id$$, :bank, :alice, :bob, :euro),
    $$VALUES ('priv_bank', 1::bigint, '1000'),
             ('priv_alice_renamed', 2::bigint, '700'),
             ('priv_bob', 1::bigint, '300'),
             ('priv_euro', 0::bigint, '0')$$,
    'balances and versions are as the two transfers left them');
SELECT results_eq(
    format($$SELECT count(*) FROM ledger.entries WHERE account_id IN (%s, %s, %s, %s)$$,
           :bank, :alice, :bob, :euro),
    $$VALUES (4::bigint)$$,
    'the two transfers wrote four entries and nothing else was written');
SELECT results_eq(
    $$SELECT count(*) FROM ledger.transfers WHERE idempotency_key IN ('priv-1', 'priv-2')$$,
    $$VALUES (2::bigint)$$,
    'both transfers are still recorded');

SELECT * FROM finish();
ROLLBACK;
