-- test/pgtap/hostile_search_path.sql - the ledger under a hostile search_path.
--
-- Plants functions, operators, tables and a domain that would capture every
-- unqualified name the extension might use, then works the API with
-- search_path = public, ledger, pg_catalog: pg_catalog last, so the planted
-- objects win any unqualified lookup, and pg_temp unnamed, so temporary
-- relations win any unqualified relation name.  Every planted function
-- counts its call in the sequence hostile_tap.calls (sequences ignore
-- rollback, so a call caught by an exception handler still counts) and then
-- raises "hijacked".  Finally drops the extension and creates it again with
-- the planted objects in place.
--
-- pgTAP itself does not pin its search_path, so the assertions run under the
-- default path; the API calls run inside hostile_tap.run(), whose own SET
-- clause gives them the hostile path.  run() returns an error as the row
-- "ERROR <sqlstate>: <message>", so a hijack shows up as a failed test.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(38);

-- ===========================================================================
-- Helpers, in a schema of their own
-- ===========================================================================
CREATE SCHEMA hostile_tap;
CREATE SEQUENCE hostile_tap.calls;

-- run(query) - the rows of query (one text column) under the hostile path.
CREATE FUNCTION hostile_tap.run(q text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = public, ledger, pg_catalog AS $fn$
BEGIN
    RETURN QUERY EXECUTE q;
EXCEPTION WHEN OTHERS THEN
    RETURN NEXT 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END
$fn$;

-- exec_public_first(command) - 'ok', or the error, with public before pg_catalog.
CREATE FUNCTION hostile_tap.exec_public_first(q text) RETURNS text
LANGUAGE plpgsql SET search_path = public, pg_catalog AS $fn$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END
$fn$;

-- The body of every planted function: count the call, then fail.
CREATE FUNCTION hostile_tap.hijacked(what text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_catalog.nextval('hostile_tap.calls'::pg_catalog.regclass);
    RAISE EXCEPTION 'hijacked: %', what;
END
$fn$;

CREATE FUNCTION hostile_tap.hijack_trigger() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM hostile_tap.hijacked(TG_OP || ' on ' || TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;

-- plant_amount_objects() - the planted objects that need ledger.amount; a
-- DROP EXTENSION ... CASCADE takes them away, so they are planted again
-- after CREATE EXTENSION.
CREATE FUNCTION hostile_tap.plant_amount_objects() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    CREATE FUNCTION public.format_amount(a ledger.amount, scale integer) RETURNS text
        LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.format_amount'); RETURN NULL; END$b$;
    CREATE FUNCTION public.parse_amount(t text, scale integer) RETURNS ledger.amount
        LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.parse_amount'); RETURN NULL; END$b$;
    CREATE FUNCTION public.hostile_amount_op(a ledger.amount, b ledger.amount) RETURNS ledger.amount
        LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('an amount operator'); RETURN NULL; END$b$;
    CREATE FUNCTION public.hostile_amount_cmp(a ledger.amount, b ledger.amount) RETURNS boolean
        LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('an amount comparison'); RETURN NULL; END$b$;
    CREATE OPERATOR public.+ (LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
                              FUNCTION = public.hostile_amount_op);
    CREATE OPERATOR public.- (LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
                              FUNCTION = public.hostile_amount_op);
    CREATE OPERATOR public.= (LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
                              FUNCTION = public.hostile_amount_cmp);
    CREATE OPERATOR public.< (LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
                              FUNCTION = public.hostile_amount_cmp);
END
$fn$;

-- ===========================================================================
-- Hostile objects in public
-- ===========================================================================
CREATE FUNCTION public.nextval(regclass) RETURNS bigint
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.nextval'); RETURN 0; END$b$;
CREATE FUNCTION public.now() RETURNS timestamptz
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.now'); RETURN NULL; END$b$;
CREATE FUNCTION public.concat(text, text, text) RETURNS text
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.concat'); RETURN NULL; END$b$;
CREATE FUNCTION public.sha256(bytea) RETURNS bytea
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.sha256'); RETURN NULL; END$b$;
CREATE FUNCTION public.hostile_int8eq(bigint, bigint) RETURNS boolean
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.= (bigint, bigint)'); RETURN true; END$b$;
CREATE FUNCTION public.hostile_texteq(text, text) RETURNS boolean
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('public.= (text, text)'); RETURN true; END$b$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.hostile_int8eq);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_texteq);
CREATE OPERATOR public.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_texteq);
SELECT hostile_tap.plant_amount_objects();

-- Tables named like the ledger's, shaped like them, refusing every write.
CREATE TABLE public.assets (LIKE ledger.assets);
CREATE TABLE public.accounts (LIKE ledger.accounts);
CREATE TABLE public.transfers (LIKE ledger.transfers);
CREATE TABLE public.entries (LIKE ledger.entries);
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON public.assets
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON public.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON public.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON public.entries
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();

-- Temporary functions (never searched for functions, but try).
CREATE FUNCTION pg_temp.now() RETURNS timestamptz
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('pg_temp.now'); RETURN NULL; END$b$;
CREATE FUNCTION pg_temp.nextval(regclass) RETURNS bigint
    LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile_tap.hijacked('pg_temp.nextval'); RETURN 0; END$b$;

-- ===========================================================================
-- Assets and accounts under the hostile path
-- ===========================================================================
SELECT is(pg_catalog.pg_sequence_last_value('hostile_tap.calls'), NULL,
          'no planted function has been called yet');

SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$SELECT create_asset('HPUSD', 2)$q$)$$,
    $$VALUES ('HPUSD')$$,
    'create_asset works under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$SELECT create_asset('HPEUR', 2)$q$)$$,
    $$VALUES ('HPEUR')$$,
    'create_asset works again under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT (create_account('HPUSD', 'hp_bank', 'debit') IS NOT NULL
                AND create_account('HPUSD', 'hp_alice') IS NOT NULL
                AND create_account('HPUSD', 'hp_bob', metadata => '{"kind": "wallet"}') IS NOT NULL
                AND create_account('HPEUR', 'hp_euro') IS NOT NULL)::text$q$)$$,
    $$VALUES ('true')$$,
    'create_account works under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT (account_id('hp_alice') IS NOT NULL)::text$q$)$$,
    $$VALUES ('true')$$,
    'account_id works under the hostile search_path');
SELECT results_eq(
    $$SELECT name, asset, normal_balance, min_balance::text, max_balance::text, version, closed, metadata
        FROM ledger.accounts WHERE name LIKE 'hp\_%' ORDER BY id$$,
    $$VALUES ('hp_bank', 'HPUSD', 'debit', '0', NULL::text, 0::bigint, false, NULL::jsonb),
             ('hp_alice', 'HPUSD', 'credit', '0', NULL, 0, false, NULL),
             ('hp_bob', 'HPUSD', 'credit', '0', NULL, 0, false, '{"kind": "wallet"}'),
             ('hp_euro', 'HPEUR', 'credit', '0', NULL, 0, false, NULL)$$,
    'the accounts were written to ledger.accounts as asked');
SELECT is_empty(
    $$SELECT id FROM ledger.accounts
       WHERE name LIKE 'hp\_%' AND (created_at <> pg_catalog.now() OR updated_at <> pg_catalog.now())$$,
    'the accounts were stamped by pg_catalog.now()');

-- Temporary tables shaped like the ledger's, holding decoys: were the
-- extension to read them, every account would be closed and in another
-- asset, and the idempotency key hp-1 would already be taken.
CREATE TEMP TABLE accounts (LIKE ledger.accounts);
INSERT INTO pg_temp.accounts SELECT * FROM ledger.accounts WHERE name LIKE 'hp\_%';
UPDATE pg_temp.accounts SET closed = true, asset = 'DECOY', version = 99;
CREATE TEMP TABLE transfers (LIKE ledger.transfers);
INSERT INTO pg_temp.transfers (id, debit_account_id, credit_account_id, amount, idempotency_key, created_at, book_id)
VALUES (-1, -1, -2, '5', 'hp-1', pg_catalog.now(), 1);
CREATE TEMP TABLE entries (LIKE ledger.entries);
CREATE TEMP TABLE assets (LIKE ledger.assets);
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.entries
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.assets
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();

-- ===========================================================================
-- Transfers and balances under the hostile path
-- ===========================================================================
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT (transfer(account_id('hp_bank'), account_id('hp_alice'), 1000,
                         'hp-1', 'payout', '{"batch": 1}') IS NOT NULL)::text$q$)$$,
    $$VALUES ('true')$$,
    'transfer works under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT (transfer(account_id('hp_alice'), account_id('hp_bob'), 300, 'hp-2') IS NOT NULL)::text$q$)$$,
    $$VALUES ('true')$$,
    'a second transfer works under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_bank'), account_id('hp_alice'), 1000,
                        'hp-1', 'payout', '{"batch": 1}')::text$q$)$$,
    $$SELECT id::text FROM ledger.transfers WHERE idempotency_key = 'hp-1'$$,
    'repeating a transfer by its idempotency key returns the original transfer');
SELECT results_eq(
    $$SELECT left(r, 12) FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_bank'), account_id('hp_alice'), 5, 'hp-1')::text$q$) r$$,
    $$VALUES ('ERROR LG012:')$$,
    'reusing an idempotency key with other arguments is still refused (LG012)');
SELECT results_eq(
    $$SELECT left(r, 12) FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_alice'), account_id('hp_bob'), 701)::text$q$) r$$,
    $$VALUES ('ERROR LG103:')$$,
    'an overdraft is still refused (LG103)');
SELECT results_eq(
    $$SELECT left(r, 12) FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_alice'), account_id('hp_euro'), 1)::text$q$) r$$,
    $$VALUES ('ERROR LG101:')$$,
    'a transfer between assets is still refused (LG101)');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT b.posted::text || '/' || b.pending_debits::text || '/'
               || b.pending_credits::text || '/' || b.available::text
          FROM unnest(ARRAY['hp_bank', 'hp_alice', 'hp_bob', 'hp_euro']) WITH ORDINALITY AS u(n, i),
               balance(account_id(n)) AS b
         ORDER BY i$q$)$$,
    $$VALUES ('1000/0/0/1000'), ('700/0/0/700'), ('300/0/0/300'), ('0/0/0/0')$$,
    'balance works under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT name || ': ' || posted_display || ', ' || available_display
          FROM account_balances WHERE name LIKE 'hp\_%' ORDER BY account_id$q$)$$,
    $$VALUES ('hp_bank: 10.00 HPUSD, 10.00 HPUSD'),
             ('hp_alice: 7.00 HPUSD, 7.00 HPUSD'),
             ('hp_bob: 3.00 HPUSD, 3.00 HPUSD'),
             ('hp_euro: 0.00 HPEUR, 0.00 HPEUR')$$,
    'ledger.account_balances works under the hostile search_path');

-- Limits and state under the hostile path.
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT set_account_limits(account_id('hp_alice'), 100, 5000)::text$q$)$$,
    $$VALUES ('')$$,
    'set_account_limits works under the hostile search_path');
SELECT results_eq(
    $$SELECT left(r, 12) FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_alice'), account_id('hp_bob'), 601)::text$q$) r$$,
    $$VALUES ('ERROR LG103:')$$,
    'the new minimum balance is enforced (LG103)');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT close_account(account_id('hp_bob'))::text$q$)$$,
    $$VALUES ('')$$,
    'close_account works under the hostile search_path');
SELECT results_eq(
    $$SELECT left(r, 12) FROM hostile_tap.run($q$
        SELECT transfer(account_id('hp_alice'), account_id('hp_bob'), 1)::text$q$) r$$,
    $$VALUES ('ERROR LG102:')$$,
    'a transfer to the closed account is refused (LG102)');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT reopen_account(account_id('hp_bob'))::text$q$)$$,
    $$VALUES ('')$$,
    'reopen_account works under the hostile search_path');

-- What was written, read under the default path.
SELECT results_eq(
    $$SELECT a.name, e.account_version, e.direction, e.amount::text, e.balance_after::text
        FROM ledger.entries e JOIN ledger.accounts a ON a.id = e.account_id
       WHERE a.name LIKE 'hp\_%'
       ORDER BY e.id$$,
    $$VALUES ('hp_bank', 1::bigint, 'debit', '1000', '1000'),
             ('hp_alice', 1::bigint, 'credit', '1000', '1000'),
             ('hp_alice', 2::bigint, 'debit', '300', '700'),
             ('hp_bob', 1::bigint, 'credit', '300', '300')$$,
    'exactly the four entries of the two transfers were written to ledger.entries');
SELECT results_eq(
    $$SELECT name, version, min_balance::text, max_balance::text, closed
        FROM ledger.accounts WHERE name LIKE 'hp\_%' ORDER BY id$$,
    $$VALUES ('hp_bank', 1::bigint, '0', NULL::text, false),
             ('hp_alice', 2::bigint, '100', '5000', false),
             ('hp_bob', 1::bigint, '0', NULL, false),
             ('hp_euro', 0::bigint, '0', NULL, false)$$,
    'account versions, limits and state are as the calls left them');
SELECT results_eq(
    $$SELECT idempotency_key, amount::text, description, metadata
        FROM ledger.transfers WHERE idempotency_key LIKE 'hp-%' ORDER BY id$$,
    $$VALUES ('hp-1', '1000', 'payout', '{"batch": 1}'::jsonb),
             ('hp-2', '300', NULL, NULL)$$,
    'exactly the two transfers were written to ledger.transfers');

SELECT is_empty(
    $$SELECT 'public.assets' FROM public.assets
      UNION ALL SELECT 'public.accounts' FROM public.accounts
      UNION ALL SELECT 'public.transfers' FROM public.transfers
      UNION ALL SELECT 'public.entries' FROM public.entries
      UNION ALL SELECT 'pg_temp.assets' FROM pg_temp.assets
      UNION ALL SELECT 'pg_temp.entries' FROM pg_temp.entries$$,
    'nothing was written to the planted tables');
SELECT results_eq(
    $$SELECT count(*) FILTER (WHERE closed AND version = 99 AND asset = 'DECOY')
        FROM pg_temp.accounts$$,
    $$VALUES (4::bigint)$$,
    'the decoy accounts in pg_temp were left alone');
SELECT is(pg_catalog.pg_sequence_last_value('hostile_tap.calls'), NULL,
          'no planted function, operator or trigger was ever called');

-- ===========================================================================
-- CREATE EXTENSION under the hostile path
-- ===========================================================================
SELECT lives_ok($$DROP EXTENSION ledger CASCADE$$, 'DROP EXTENSION ledger CASCADE');
SELECT hasnt_extension('ledger', 'the extension is gone');
DROP SCHEMA IF EXISTS ledger CASCADE;

-- A schema named ledger that another role made beforehand: installing into
-- it would leave its owner free to rename it and put tables of their own
-- under the name ledger, which the SECURITY DEFINER functions would then
-- read and write with the installer's rights.
CREATE ROLE hostile_tap_owner NOLOGIN;
CREATE SCHEMA ledger AUTHORIZATION hostile_tap_owner;
SELECT throws_ok($$CREATE EXTENSION ledger$$, NULL, NULL,
                 'CREATE EXTENSION ledger refuses a schema ledger that another role owns');
DROP EXTENSION IF EXISTS ledger CASCADE;
DROP SCHEMA ledger CASCADE;

-- Relations and types that would capture unqualified names in the script:
-- temporary ones come first in any search_path that does not name pg_temp.
CREATE DOMAIN public.amount AS numeric CHECK ((hostile_tap.hijacked('public.amount') IS NULL));
CREATE DOMAIN pg_temp.amount AS numeric CHECK ((hostile_tap.hijacked('pg_temp.amount') IS NULL));
CREATE TEMP TABLE hold_records (id bigint);
CREATE TRIGGER hijack BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.hold_records
    FOR EACH STATEMENT EXECUTE FUNCTION hostile_tap.hijack_trigger();

SELECT is(hostile_tap.exec_public_first('CREATE EXTENSION ledger'), 'ok',
          'CREATE EXTENSION ledger succeeds with search_path = public, pg_catalog');
SELECT has_extension('ledger', 'the extension is back');
SELECT is(
    (SELECT pg_catalog.format('%s owned by %s', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner))
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'ledger'),
    'ledger owned by ' || current_user,
    'the extension lives in schema ledger, owned by the role that created it');
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'ledger' AND p.prosecdef
         AND NOT COALESCE('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'the new functions pin their search_path');

SELECT hostile_tap.plant_amount_objects();

SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT create_asset('HPNEW', 0) || ' '
               || (create_account('HPNEW', 'hp2_bank', 'debit') IS NOT NULL)::text || ' '
               || (create_account('HPNEW', 'hp2_alice') IS NOT NULL)::text$q$)$$,
    $$VALUES ('HPNEW true true')$$,
    'the new extension creates an asset and accounts under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT (transfer(account_id('hp2_bank'), account_id('hp2_alice'), 42, 'hp2-1') IS NOT NULL)::text$q$)$$,
    $$VALUES ('true')$$,
    'the new extension makes a transfer under the hostile search_path');
SELECT results_eq(
    $$SELECT * FROM hostile_tap.run($q$
        SELECT name || ': ' || posted::text || ' = ' || posted_display
          FROM account_balances WHERE name LIKE 'hp2\_%' ORDER BY account_id$q$)$$,
    $$VALUES ('hp2_bank: 42 = 42 HPNEW'), ('hp2_alice: 42 = 42 HPNEW')$$,
    'the new extension reports the balances under the hostile search_path');
SELECT results_eq(
    $$SELECT a.name, e.account_version, e.direction, e.amount::text, e.balance_after::text
        FROM ledger.entries e JOIN ledger.accounts a ON a.id = e.account_id
       ORDER BY e.id$$,
    $$VALUES ('hp2_bank', 1::bigint, 'debit', '42', '42'),
             ('hp2_alice', 1::bigint, 'credit', '42', '42')$$,
    'the new extension wrote exactly the transfer''s two entries');
SELECT is(pg_catalog.pg_sequence_last_value('hostile_tap.calls'), NULL,
          'no planted object was called while creating or using the new extension');

SELECT * FROM finish();
ROLLBACK;
