--
-- authority: privileges of roles on books, who the caller is, and what a
-- refusal leaves behind (nothing).
--
-- The roles are cluster-wide: made here, dropped at the end.  The ledger
-- starts empty, so the ids the messages name do not depend on the tests
-- before this one.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
CREATE ROLE regress_ledger_owner_fn NOLOGIN;   -- owns an application's SECURITY DEFINER function
CREATE ROLE regress_ledger_nobody NOLOGIN;     -- EXECUTE on the API, no privilege
CREATE ROLE regress_ledger_reader NOLOGIN;     -- read on acme
CREATE ROLE regress_ledger_poster NOLOGIN;     -- post on acme
CREATE ROLE regress_ledger_holder NOLOGIN;     -- hold on acme
CREATE ROLE regress_ledger_manager NOLOGIN;    -- manage on acme
CREATE ROLE regress_ledger_admin NOLOGIN;      -- manage WITH GRANT OPTION on acme
CREATE ROLE regress_ledger_rewards NOLOGIN;    -- post on acme, debits of the budget only
CREATE ROLE regress_ledger_payouts NOLOGIN;    -- hold on acme, credits of the clearing account only
CREATE ROLE regress_ledger_member NOLOGIN IN ROLE regress_ledger_poster;          -- INHERIT
CREATE ROLE regress_ledger_noinherit NOLOGIN NOINHERIT IN ROLE regress_ledger_poster;
CREATE ROLE regress_ledger_tenant NOLOGIN;     -- creates its own book
RESET client_min_messages;

DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_ledger\_%' LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT SELECT ON ledger.account_balances, ledger.holds TO %I', r);
    END LOOP;
END $$;

-- Two tenants' books, as the owner.
SELECT ledger.create_asset('AUTHUSD', 2);
SELECT ledger.create_book('acme') AS acme, ledger.create_book('globex') AS globex \gset
SELECT ledger.create_book_account(:acme, 'AUTHUSD', 'bank', 'debit', NULL) AS bank,
       ledger.create_book_account(:acme, 'AUTHUSD', 'budget', min_balance => NULL) AS budget,
       ledger.create_book_account(:acme, 'AUTHUSD', 'alice') AS alice,
       ledger.create_book_account(:acme, 'AUTHUSD', 'bob') AS bob,
       ledger.create_book_account(:acme, 'AUTHUSD', 'clearing') AS clearing,
       ledger.create_book_account(:globex, 'AUTHUSD', 'bank', 'debit', NULL) AS gbank,
       ledger.create_book_account(:globex, 'AUTHUSD', 'carol') AS carol \gset
SELECT ledger.transfer(:bank, :alice, 100000) IS NOT NULL AS funded;
SELECT ledger.transfer(:gbank, :carol, 50000) AS globex_transfer \gset
SELECT ledger.hold(:carol, :gbank, 1000) AS globex_hold \gset

SELECT ledger.grant_privilege(:acme, 'regress_ledger_reader', 'read');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_poster', 'post');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_holder', 'hold');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_manager', 'manage');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_admin', 'manage', with_grant_option => true);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_rewards', 'post', debit_accounts => ARRAY[:budget]::bigint[]);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_payouts', 'hold', credit_accounts => ARRAY[:clearing]::bigint[]);

-- What a grant takes: a privilege there is, accounts of the book, narrowing
-- only for post and hold, the grant option only for manage.
SELECT ledger.grant_privilege(:acme, 'regress_ledger_reader', 'write');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_reader', 'read', debit_accounts => ARRAY[:alice]::bigint[]);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_poster', 'post', with_grant_option => true);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_poster', 'post', debit_accounts => ARRAY[:carol]::bigint[]);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_poster', 'post', debit_accounts => ARRAY[]::bigint[]);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_poster', 'post', debit_accounts => ARRAY[999999]::bigint[]);
SELECT ledger.grant_privilege(999999, 'regress_ledger_poster', 'post');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_missing', 'post');

SELECT g.grantee, g.privilege, g.debit_accounts = ARRAY[:budget]::bigint[] AS budget_only,
       g.credit_accounts = ARRAY[:clearing]::bigint[] AS clearing_only, g.grant_option, g.granted_by
  FROM ledger.grants AS g WHERE g.book_id = :acme ORDER BY 1, 2;

-- ===========================================================================
-- Each privilege, and its refusal: SQLSTATE 42501, naming the role, the
-- book or account and the privilege; nothing written.
-- ===========================================================================
SET ROLE regress_ledger_nobody;
SELECT ledger.transfer(:alice, :bob, 100);
SELECT ledger.hold(:alice, :bob, 100);
SELECT * FROM ledger.balance(:alice);
SELECT ledger.balance_at(:alice, 'infinity');
SELECT * FROM ledger.statement(:alice, '-infinity', 'infinity');
SELECT ledger.account_id(:acme, 'alice');
SELECT ledger.book_id('acme');
SELECT ledger.create_book_account(:acme, 'AUTHUSD', 'mallory');
SELECT ledger.close_account(:bob);
SELECT count(*) AS rows_seen FROM ledger.account_balances;
SELECT count(*) AS holds_seen FROM ledger.holds;
SELECT ledger.has_book_privilege(:acme, 'read') AS may_read;
SELECT count(*) FROM ledger.accounts;
RESET ROLE;

SET ROLE regress_ledger_reader;
SELECT posted FROM ledger.balance(:alice);
SELECT ledger.balance_at(:alice, 'infinity');
SELECT count(*) AS entries FROM ledger.statement(:alice, '-infinity', 'infinity');
SELECT ledger.account_id(:acme, 'alice') = :alice AS found;
SELECT ledger.book_id('acme') = :acme AS found;
-- The views show acme's rows only, never globex's.
SELECT name, posted, book_id = :acme AS acme FROM ledger.account_balances
 WHERE asset = 'AUTHUSD' ORDER BY account_id;
SELECT count(*) AS globex_holds FROM ledger.holds WHERE id = :globex_hold;
SELECT * FROM ledger.balance(:carol);
SELECT ledger.account_id(:globex, 'carol');
SELECT ledger.transfer(:alice, :bob, 100);
SELECT * FROM ledger.verify(:alice);
RESET ROLE;

SET ROLE regress_ledger_poster;
SELECT ledger.transfer(:alice, :bob, 100, 'auth-1') IS NOT NULL AS posted;
SELECT ledger.transfer_batch(ARRAY[ROW(:alice, :bob, 1, 'auth-2', NULL, NULL)]::ledger.transfer_request[]) IS NOT NULL AS batch;
SELECT ledger.reverse(ledger.transfer(:alice, :bob, 7), 7) IS NOT NULL AS reversed;
SELECT ledger.hold(:alice, :bob, 100);
SELECT ledger.create_book_account(:acme, 'AUTHUSD', 'mint', min_balance => NULL);
SELECT ledger.set_account_limits(:alice, NULL, NULL);
-- A batch item in another book, a reversal of a globex transfer, a capture
-- of a globex hold: each refused, and nothing of the batch written.
SELECT ledger.transfer_batch(ARRAY[ROW(:alice, :bob, 1, 'auth-3', NULL, NULL),
                                   ROW(:carol, :gbank, 1, 'auth-4', NULL, NULL)]::ledger.transfer_request[]);
SELECT ledger.reverse(:globex_transfer);
SELECT ledger.capture(:globex_hold);
SELECT ledger.release(:globex_hold);
RESET ROLE;
SELECT count(*) AS auth_3_written FROM ledger.transfers WHERE idempotency_key = 'auth-3';
SELECT status FROM ledger.holds WHERE id = :globex_hold;

-- A role without post learns nothing of a transfer through its key: the
-- privilege is checked before the replay is looked up.
SET ROLE regress_ledger_holder;
SELECT ledger.transfer(:alice, :bob, 100, 'auth-1');
SELECT ledger.hold(:alice, :bob, 100, description => 'auth hold') AS acme_hold \gset
SELECT ledger.capture(:acme_hold, 40) IS NOT NULL AS captured;
SELECT ledger.hold(:alice, :bob, 100) AS acme_hold \gset
SELECT ledger.release(:acme_hold) IS NOT NULL AS released;
RESET ROLE;

-- ===========================================================================
-- Narrowed grants
-- ===========================================================================
SET ROLE regress_ledger_rewards;
SELECT ledger.transfer(:budget, :alice, 500) IS NOT NULL AS reward;
SELECT ledger.transfer(:alice, :bob, 500);
SELECT ledger.reverse(ledger.transfer(:budget, :bob, 5));
RESET ROLE;

SET ROLE regress_ledger_payouts;
SELECT ledger.hold(:alice, :clearing, 300) AS payout_hold \gset
SELECT ledger.capture(:payout_hold) IS NOT NULL AS paid_out;
SELECT ledger.hold(:clearing, :alice, 300);
RESET ROLE;

-- ===========================================================================
-- manage: accounts, limits (minting), modes, and grants below its own
-- ===========================================================================
SET ROLE regress_ledger_manager;
SELECT ledger.create_book_account(:acme, 'AUTHUSD', 'fees') IS NOT NULL AS created;
SELECT ledger.create_book_account(:acme, 'AUTHUSD', 'mint', min_balance => NULL) IS NOT NULL AS minting_account;
SELECT array_length(ledger.create_accounts(ARRAY[ROW(:acme, 'AUTHUSD', NULL, 'credit', 0, NULL, NULL)]::ledger.account_request[]), 1) AS made;
SELECT ledger.create_accounts(ARRAY[ROW(:acme, 'AUTHUSD', NULL, 'credit', 0, NULL, NULL),
                                    ROW(:globex, 'AUTHUSD', NULL, 'credit', 0, NULL, NULL)]::ledger.account_request[]);
SELECT ledger.set_account_limits(:bob, 0, 100000000) IS NOT NULL AS limited;
SELECT ledger.set_account_hot(:bob) IS NOT NULL AS hot;
SELECT ledger.set_account_hot(:bob, false) IS NOT NULL AS cold;
SELECT ledger.close_account(ledger.account_id(:acme, 'fees')) IS NOT NULL AS closed;
SELECT count(*) AS problems FROM ledger.verify(:alice);
SELECT * FROM ledger.verify();
SELECT ledger.set_account_limits(:carol, NULL, NULL);
SELECT ledger.grant_privilege(:acme, 'regress_ledger_nobody', 'read');
RESET ROLE;

SET ROLE regress_ledger_admin;
SELECT ledger.grant_privilege(:acme, 'regress_ledger_nobody', 'read');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_nobody', 'manage');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_nobody', 'manage', with_grant_option => true);
SELECT ledger.revoke_privilege(:acme, 'regress_ledger_nobody', 'manage');
SELECT ledger.revoke_privilege(:acme, 'regress_ledger_nobody', 'manage');
SELECT ledger.revoke_privilege(:acme, 'regress_ledger_admin', 'manage');
SELECT ledger.grant_privilege(:globex, 'regress_ledger_nobody', 'read');
RESET ROLE;

-- A revoke holds at once, in this session too.
SET ROLE regress_ledger_nobody;
SELECT count(*) AS rows_seen FROM ledger.account_balances WHERE asset = 'AUTHUSD';
RESET ROLE;
SELECT ledger.revoke_privilege(:acme, 'regress_ledger_nobody', 'read');
SET ROLE regress_ledger_nobody;
SELECT count(*) AS rows_seen FROM ledger.account_balances WHERE asset = 'AUTHUSD';
RESET ROLE;

-- A role that creates a book manages it, with the grant option.
SET ROLE regress_ledger_tenant;
SELECT ledger.create_book('initech') AS initech \gset
SELECT ledger.create_book_account(:initech, 'AUTHUSD', 'till') IS NOT NULL AS created;
SELECT ledger.grant_privilege(:initech, 'regress_ledger_reader', 'read');
SELECT ledger.grant_privilege(:acme, 'regress_ledger_reader', 'post');
RESET ROLE;
SELECT grantee, privilege, grant_option FROM ledger.grants WHERE book_id = :initech ORDER BY 1, 2;

-- ===========================================================================
-- Who the caller is
-- ===========================================================================

-- Membership: INHERIT counts; NOINHERIT counts only after SET ROLE to the
-- role that holds the grant.
SET ROLE regress_ledger_member;
SELECT ledger.transfer(:alice, :bob, 1) IS NOT NULL AS inherited;
RESET ROLE;
SET ROLE regress_ledger_noinherit;
SELECT ledger.transfer(:alice, :bob, 1);
SET ROLE regress_ledger_poster;
SELECT ledger.transfer(:alice, :bob, 1) IS NOT NULL AS after_set_role;
RESET ROLE;

-- An application's SECURITY DEFINER function: the caller is its owner.
GRANT regress_ledger_poster TO regress_ledger_owner_fn;
CREATE FUNCTION public.regress_pay(debit bigint, credit bigint, amount ledger.amount)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT ledger.transfer(debit, credit, amount) $$;
ALTER FUNCTION public.regress_pay(bigint, bigint, ledger.amount) OWNER TO regress_ledger_owner_fn;
SET ROLE regress_ledger_nobody;
SELECT public.regress_pay(:alice, :bob, 2) IS NOT NULL AS paid_through_definer;
RESET ROLE;
REVOKE regress_ledger_poster FROM regress_ledger_owner_fn;
SET ROLE regress_ledger_poster;
SELECT public.regress_pay(:alice, :bob, 2);
RESET ROLE;

-- Views do not change who asks: PostgreSQL reads a view's tables with its
-- owner's rights, but runs the functions in it as the role that queries
-- it, with security_invoker or without.
CREATE VIEW public.regress_alice_owner AS SELECT posted FROM ledger.balance(:alice);
CREATE VIEW public.regress_alice_invoker WITH (security_invoker) AS SELECT posted FROM ledger.balance(:alice);
ALTER VIEW public.regress_alice_owner OWNER TO regress_ledger_reader;
ALTER VIEW public.regress_alice_invoker OWNER TO regress_ledger_reader;
GRANT SELECT ON public.regress_alice_owner, public.regress_alice_invoker TO regress_ledger_nobody;
SET ROLE regress_ledger_nobody;
SELECT * FROM public.regress_alice_owner;
SELECT * FROM public.regress_alice_invoker;
RESET ROLE;
SET ROLE regress_ledger_reader;
SELECT posted IS NOT NULL AS reads FROM public.regress_alice_owner;
SELECT posted IS NOT NULL AS reads FROM public.regress_alice_invoker;
RESET ROLE;

-- An application role's transfer is written as the owner's is, directly,
-- not through the SQL statements whose statement guard (guard_history)
-- would run: the direct path is decided by the owner's privileges, as the
-- statements would run as the owner.
BEGIN;
SET LOCAL track_functions = 'all';
SET LOCAL ROLE regress_ledger_poster;
SELECT ledger.transfer(:alice, :bob, 1) IS NOT NULL AS posted;
RESET ROLE;
SELECT coalesce(sum(calls), 0) AS statement_guard_calls
  FROM pg_stat_xact_user_functions WHERE schemaname = 'ledger' AND funcname = 'guard_history';
ROLLBACK;

-- The ledger is consistent after all the refusals.
SELECT * FROM ledger.verify();

-- ===========================================================================
-- Clean up the cluster-wide roles.
-- ===========================================================================
DROP VIEW public.regress_alice_owner, public.regress_alice_invoker;
DROP FUNCTION public.regress_pay(bigint, bigint, ledger.amount);
DELETE FROM ledger.grants WHERE grantee::text LIKE 'regress\_ledger\_%';
SET client_min_messages = warning;
DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_ledger\_%' LOOP
        EXECUTE format('DROP OWNED BY %I', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
