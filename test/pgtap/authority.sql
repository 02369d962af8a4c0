-- test/pgtap/authority.sql - the matrix of roles x privileges x API calls.
--
-- Each role holds some privileges on book A and none on book B.  Each call
-- of the API is made as each role, in a subtransaction that is rolled back,
-- so every cell starts from the same ledger.  A cell is either allowed
-- ('ok') or refused with 42501; a refused call must have written nothing,
-- not even rows its rollback would remove: the transaction's tuple counts
-- of the ledger's tables (pg_stat_xact_all_tables, which counts the writes
-- of aborted subtransactions too) are the same after it as before.
--
-- The expected outcome of a cell is derived from what the call needs and
-- what the role holds, written down here independently of the extension.
-- Roles are created inside the transaction, so the final ROLLBACK removes
-- them.
BEGIN;
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Books, accounts and the rows the calls act on, as the owner
-- ---------------------------------------------------------------------------
SELECT ledger.create_asset('TAPUSD', 2);
SELECT ledger.create_book('tap_a') AS a, ledger.create_book('tap_b') AS b \gset
SELECT ledger.create_book_account(:a, 'TAPUSD', 'a_bank', 'debit', NULL) AS a_bank,
       ledger.create_book_account(:a, 'TAPUSD', 'a1') AS a1,
       ledger.create_book_account(:a, 'TAPUSD', 'a2') AS a2,
       ledger.create_book_account(:a, 'TAPUSD', 'a3') AS a3,
       ledger.create_book_account(:a, 'TAPUSD', 'a4') AS a4,
       ledger.create_book_account(:b, 'TAPUSD', 'b_bank', 'debit', NULL) AS b_bank,
       ledger.create_book_account(:b, 'TAPUSD', 'b1') AS b1 \gset
SELECT ledger.transfer(:a_bank, :a1, 100000) AS funded_a \gset
SELECT ledger.transfer(:a_bank, :a2, 1000) AS funded_a2 \gset
SELECT ledger.transfer(:a1, :a2, 500) AS t_a \gset
SELECT ledger.transfer(:b_bank, :b1, 100000) AS t_b \gset
SELECT ledger.hold(:a1, :a2, 300) AS h_a \gset
SELECT ledger.hold(:b1, :b_bank, 300) AS h_b \gset
SELECT ledger.close_account(:a4);
-- Book A publishes events, so every cell that moves money writes one too,
-- as the role that calls; the owner has a consumer of book A.
SELECT ledger.set_book_events(:a, true);
SELECT ledger.create_consumer('tap_owner', ARRAY[:a]::bigint[]);
SELECT ledger.create_monitor(:a1, 'posted', '<', 0) AS m_a \gset
-- A velocity limit that nothing reaches, for the cells that read or drop it.
SELECT ledger.create_velocity_limit(:a1, 'credit', '1 day', 1000000000) AS v_a \gset

-- ---------------------------------------------------------------------------
-- Roles: what each holds on book A
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE roles (role text PRIMARY KEY, privileges text[], debit_only bigint, credit_only bigint);
INSERT INTO roles VALUES
    ('tap_none', '{}', NULL, NULL),
    ('tap_read', '{read}', NULL, NULL),
    ('tap_post', '{post}', NULL, NULL),
    ('tap_hold', '{hold}', NULL, NULL),
    ('tap_manage', '{manage}', NULL, NULL),
    ('tap_admin', '{manage,grant}', NULL, NULL),
    ('tap_all', '{read,post,hold,manage}', NULL, NULL),
    -- post narrowed: debits of a1 only, credits of a2 only
    ('tap_post_debit_a1', '{post}', :a1, NULL),
    ('tap_post_credit_a2', '{post}', NULL, :a2),
    -- a member of tap_post that inherits its privileges
    ('tap_member', '{post}', NULL, NULL),
    -- a member that does not: nothing until it SETs ROLE tap_post
    ('tap_noinherit', '{}', NULL, NULL),
    ('tap_noinherit,tap_post', '{post}', NULL, NULL);

CREATE ROLE tap_none; CREATE ROLE tap_read; CREATE ROLE tap_post; CREATE ROLE tap_hold;
CREATE ROLE tap_manage; CREATE ROLE tap_admin; CREATE ROLE tap_all;
CREATE ROLE tap_post_debit_a1; CREATE ROLE tap_post_credit_a2;
CREATE ROLE tap_member IN ROLE tap_post;
CREATE ROLE tap_noinherit NOINHERIT IN ROLE tap_post;
DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'tap\_%' LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT SELECT ON ledger.account_balances, ledger.holds TO %I', r);
    END LOOP;
END $$;
SELECT ledger.grant_privilege(:a, 'tap_read', 'read');
SELECT ledger.grant_privilege(:a, 'tap_post', 'post');
SELECT ledger.grant_privilege(:a, 'tap_hold', 'hold');
SELECT ledger.grant_privilege(:a, 'tap_manage', 'manage');
SELECT ledger.grant_privilege(:a, 'tap_admin', 'manage', with_grant_option => true);
SELECT ledger.grant_privilege(:a, 'tap_all', p) FROM unnest(ARRAY['read', 'post', 'hold', 'manage']) AS p;
SELECT ledger.grant_privilege(:a, 'tap_post_debit_a1', 'post', debit_accounts => ARRAY[:a1]::bigint[]);
SELECT ledger.grant_privilege(:a, 'tap_post_credit_a2', 'post', credit_accounts => ARRAY[:a2]::bigint[]);

-- An application's SECURITY DEFINER functions: the caller of the ledger is
-- their owner, whoever calls them.
CREATE FUNCTION public.tap_pay_as_poster(debit bigint, credit bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT ledger.transfer(debit, credit, 1) $$;
ALTER FUNCTION public.tap_pay_as_poster(bigint, bigint) OWNER TO tap_post;
CREATE FUNCTION public.tap_pay_as_nobody(debit bigint, credit bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT ledger.transfer(debit, credit, 1) $$;
ALTER FUNCTION public.tap_pay_as_nobody(bigint, bigint) OWNER TO tap_none;

-- ---------------------------------------------------------------------------
-- Calls: what each needs.  needs is a privilege on book A, 'any' (some
-- privilege on A), 'grant' (manage WITH GRANT OPTION on A), 'execute'
-- (EXECUTE alone), 'owner' (the ledger's owner), or 'nothing'/'never' for
-- the SECURITY DEFINER functions owned by a role that has post / nothing.
-- debit and credit are the accounts a post or hold moves money between.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE calls (call text PRIMARY KEY, needs text, debit bigint, credit bigint, sql text);
INSERT INTO calls VALUES
    ('transfer', 'post', :a1, :a2, format('SELECT ledger.transfer(%s, %s, 1)', :a1, :a2)),
    ('transfer back', 'post', :a2, :a1, format('SELECT ledger.transfer(%s, %s, 1)', :a2, :a1)),
    ('transfer with a taken key', 'post', :a1, :a2, format('SELECT ledger.transfer(%s, %s, 1, %L)', :a1, :a2, 'tap-key')),
    ('transfer_batch', 'post', :a1, :a2,
     format('SELECT ledger.transfer_batch(ARRAY[ROW(%s, %s, 1, NULL, NULL, NULL)]::ledger.transfer_request[])', :a1, :a2)),
    ('reverse', 'post', :a2, :a1, format('SELECT ledger.reverse(%s, 1)', :t_a)),
    ('hold', 'hold', :a1, :a2, format('SELECT ledger.hold(%s, %s, 1)', :a1, :a2)),
    ('capture', 'hold', :a1, :a2, format('SELECT ledger.capture(%s, 1)', :h_a)),
    ('release', 'hold', :a1, :a2, format('SELECT ledger.release(%s)', :h_a)),
    ('create_book_account', 'manage', NULL, NULL, format('SELECT ledger.create_book_account(%s, %L)', :a, 'TAPUSD')),
    ('create_book_account with no minimum', 'manage', NULL, NULL,
     format('SELECT ledger.create_book_account(%s, %L, min_balance => NULL)', :a, 'TAPUSD')),
    ('create_accounts', 'manage', NULL, NULL,
     format('SELECT ledger.create_accounts(ARRAY[ROW(%s, %L, NULL, %L, 0, NULL, NULL)]::ledger.account_request[])', :a, 'TAPUSD', 'credit')),
    ('set_account_limits lowering a minimum', 'manage', NULL, NULL, format('SELECT ledger.set_account_limits(%s, NULL, NULL)', :a2)),
    ('close_account', 'manage', NULL, NULL, format('SELECT ledger.close_account(%s)', :a3)),
    ('reopen_account', 'manage', NULL, NULL, format('SELECT ledger.reopen_account(%s)', :a4)),
    ('set_account_hot', 'manage', NULL, NULL, format('SELECT ledger.set_account_hot(%s)', :a2)),
    ('verify of an account', 'manage', NULL, NULL, format('SELECT * FROM ledger.verify(%s)', :a1)),
    ('balance', 'read', NULL, NULL, format('SELECT * FROM ledger.balance(%s)', :a1)),
    ('balance_at', 'read', NULL, NULL, format('SELECT ledger.balance_at(%s, now())', :a1)),
    ('statement', 'read', NULL, NULL, format('SELECT * FROM ledger.statement(%s, %L, %L)', :a1, '-infinity', 'infinity')),
    ('statement_page', 'read', NULL, NULL, format('SELECT * FROM ledger.statement_page(%s, 10)', :a1)),
    ('account_balances shows book A', 'read', NULL, NULL,
     format('DO $d$ BEGIN IF NOT EXISTS (SELECT FROM ledger.account_balances WHERE book_id = %s) THEN RAISE insufficient_privilege; END IF; END $d$', :a)),
    ('holds shows book A', 'read', NULL, NULL,
     format('DO $d$ BEGIN IF NOT EXISTS (SELECT FROM ledger.holds WHERE book_id = %s) THEN RAISE insufficient_privilege; END IF; END $d$', :a)),
    ('account_id', 'any', NULL, NULL, format('SELECT ledger.account_id(%s, %L)', :a, 'a1')),
    ('book_id', 'any', NULL, NULL, format('SELECT ledger.book_id(%L)', 'tap_a')),
    ('grant_privilege', 'grant', NULL, NULL, format('SELECT ledger.grant_privilege(%s, %L, %L)', :a, 'tap_none', 'read')),
    ('revoke_privilege', 'grant', NULL, NULL, format('SELECT ledger.revoke_privilege(%s, %L, %L)', :a, 'tap_read', 'read')),
    ('create_book', 'execute', NULL, NULL, 'SELECT ledger.create_book(''tap_c'')'),
    ('create_asset', 'execute', NULL, NULL, 'SELECT ledger.create_asset(''TAPEUR'', 2)'),
    ('expire_holds', 'execute', NULL, NULL, 'SELECT ledger.expire_holds()'),
    ('apply_hot_entries', 'execute', NULL, NULL, 'SELECT ledger.apply_hot_entries()'),
    ('set_book_events', 'manage', NULL, NULL, format('SELECT ledger.set_book_events(%s, false)', :a)),
    ('create_consumer', 'manage', NULL, NULL, format('SELECT ledger.create_consumer(%L, ARRAY[%s]::bigint[])', 'tap_c', :a)),
    ('create_consumer of book B', 'never', NULL, NULL, format('SELECT ledger.create_consumer(%L, ARRAY[%s]::bigint[])', 'tap_c', :b)),
    ('create_consumer of every book', 'owner', NULL, NULL, 'SELECT ledger.create_consumer(''tap_c'')'),
    ('next_events of the owner''s consumer', 'owner', NULL, NULL, 'SELECT * FROM ledger.next_events(''tap_owner'', 10)'),
    ('ack_events of the owner''s consumer', 'owner', NULL, NULL, 'SELECT ledger.ack_events(''tap_owner'', 1)'),
    ('drop_consumer of the owner''s consumer', 'owner', NULL, NULL, 'SELECT ledger.drop_consumer(''tap_owner'')'),
    ('prune_events', 'execute', NULL, NULL, 'SELECT ledger.prune_events()'),
    ('create_monitor', 'manage', NULL, NULL, format('SELECT ledger.create_monitor(%s, %L, %L, 0)', :a1, 'available', '<')),
    ('drop_monitor', 'manage', NULL, NULL, format('SELECT ledger.drop_monitor(%s)', :m_a)),
    ('create_velocity_limit', 'manage', NULL, NULL,
     format('SELECT ledger.create_velocity_limit(%s, %L, %L, 1000000000)', :a2, 'debit', '1 day')),
    ('drop_velocity_limit', 'manage', NULL, NULL, format('SELECT ledger.drop_velocity_limit(%s)', :v_a)),
    ('account_velocity', 'read', NULL, NULL, format('SELECT * FROM ledger.account_velocity(%s)', :a1)),
    ('verify of the whole ledger', 'owner', NULL, NULL, 'SELECT * FROM ledger.verify()'),
    ('create_account in book 1', 'owner', NULL, NULL, 'SELECT ledger.create_account(''TAPUSD'')'),
    -- a Citus cluster's setup: a superuser's, checked before anything else
    ('distribute', 'owner', NULL, NULL, 'SELECT ledger.distribute()'),
    ('prepare_distribution', 'owner', NULL, NULL, 'SELECT ledger.prepare_distribution()'),
    -- book B, reached from book A's privileges
    ('transfer in book B', 'never', NULL, NULL, format('SELECT ledger.transfer(%s, %s, 1)', :b_bank, :b1)),
    ('batch with an item in book B', 'never', NULL, NULL,
     format('SELECT ledger.transfer_batch(ARRAY[ROW(%s, %s, 1, NULL, NULL, NULL), ROW(%s, %s, 1, NULL, NULL, NULL)]::ledger.transfer_request[])',
            :a1, :a2, :b_bank, :b1)),
    ('reverse of a book B transfer', 'never', NULL, NULL, format('SELECT ledger.reverse(%s, 1)', :t_b)),
    ('capture of a book B hold', 'never', NULL, NULL, format('SELECT ledger.capture(%s, 1)', :h_b)),
    ('release of a book B hold', 'never', NULL, NULL, format('SELECT ledger.release(%s)', :h_b)),
    ('balance in book B', 'never', NULL, NULL, format('SELECT * FROM ledger.balance(%s)', :b1)),
    -- the application's SECURITY DEFINER functions
    ('SECURITY DEFINER function owned by a poster', 'nothing', NULL, NULL, format('SELECT public.tap_pay_as_poster(%s, %s)', :a1, :a2)),
    ('SECURITY DEFINER function owned by a role without privileges', 'never', NULL, NULL,
     format('SELECT public.tap_pay_as_nobody(%s, %s)', :a1, :a2));
SELECT ledger.transfer(:a1, :a2, 1, 'tap-key');

-- What the expected outcome of a cell is.
CREATE FUNCTION pg_temp.expected(r roles, c calls) RETURNS text LANGUAGE sql AS $$
    SELECT CASE
        WHEN c.needs IN ('execute', 'nothing') THEN 'ok'
        WHEN c.needs IN ('owner', 'never') THEN '42501'
        WHEN c.needs = 'any' THEN CASE WHEN cardinality(r.privileges) > 0 THEN 'ok' ELSE '42501' END
        WHEN NOT c.needs = ANY (r.privileges) THEN '42501'
        WHEN r.debit_only IS DISTINCT FROM NULL AND r.debit_only IS DISTINCT FROM c.debit THEN '42501'
        WHEN r.credit_only IS DISTINCT FROM NULL AND r.credit_only IS DISTINCT FROM c.credit THEN '42501'
        ELSE 'ok'
    END
$$;

-- The writes of this transaction to the ledger's tables so far, counted by
-- PostgreSQL's statistics (rolled-back subtransactions included).
CREATE FUNCTION pg_temp.writes() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint
      FROM pg_catalog.pg_stat_xact_all_tables WHERE schemaname = 'ledger'
$$;

-- Run sql as the roles (SET ROLE to each, in turn) in a subtransaction that
-- is always rolled back; the SQLSTATE it failed with, or 'ok'; and whether
-- it wrote anything.
CREATE FUNCTION pg_temp.try_as(roles text, sql text, OUT outcome text, OUT wrote boolean)
LANGUAGE plpgsql AS $$
DECLARE
    before bigint := pg_temp.writes();
    r text;
BEGIN
    BEGIN
        FOREACH r IN ARRAY string_to_array(roles, ',') LOOP
            EXECUTE format('SET LOCAL ROLE %I', r);
        END LOOP;
        EXECUTE sql;
        RAISE EXCEPTION USING ERRCODE = 'P0T01', MESSAGE = 'undo';
    EXCEPTION WHEN OTHERS THEN
        outcome := CASE SQLSTATE WHEN 'P0T01' THEN 'ok' ELSE SQLSTATE END;
    END;
    wrote := pg_temp.writes() <> before;
END $$;

SELECT plan((SELECT count(*)::integer * 2 FROM roles, calls) + 2);

CREATE TEMP TABLE cells AS
SELECT r.role, c.call, pg_temp.expected(r, c) AS expected, t.outcome, t.wrote
  FROM roles AS r CROSS JOIN calls AS c
 CROSS JOIN LATERAL pg_temp.try_as(r.role, c.sql) AS t
 ORDER BY r.role, c.call;

SELECT is(outcome, expected, format('%s: %s', role, call)) FROM cells ORDER BY role, call;
SELECT ok(NOT wrote OR outcome = 'ok', format('%s: %s wrote nothing when refused', role, call))
  FROM cells ORDER BY role, call;

-- The matrix covers every function of the API.
SELECT is_empty(
    $$SELECT p.proname::text FROM pg_catalog.pg_proc p
       WHERE p.pronamespace = 'ledger'::regnamespace AND p.proconfig IS NOT NULL
         AND p.proname <> 'has_book_privilege'
      EXCEPT
      SELECT split_part(call, ' ', 1) FROM calls$$,
    'every API function is called in the matrix');
SELECT is((SELECT count(*) FROM cells WHERE outcome = 'ok')::integer > 0
          AND (SELECT count(*) FROM cells WHERE outcome = '42501')::integer > 0, true,
          'the matrix has both allowed and refused cells');

SELECT * FROM finish();
ROLLBACK;
