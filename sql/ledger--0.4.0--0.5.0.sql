/* ledger--0.4.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.5.0'" to load this file. \quit

-- ===========================================================================
-- books: separate sets of accounts in one ledger
-- ===========================================================================

CREATE SEQUENCE ledger.books_id_seq;
-- A book is a tenant, a product line or a legal entity: its accounts, and
-- every row that moves their money, carry its id, and no movement crosses
-- from one book to another.  Books are never changed or deleted, so the
-- accounts need no foreign key to them (which a distributed table could
-- not keep either).
CREATE TABLE ledger.books (
    id          bigint PRIMARY KEY
                DEFAULT pg_catalog.nextval('ledger.books_id_seq'::pg_catalog.regclass),
    name        text NOT NULL,
    metadata    jsonb,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT books_name_key UNIQUE (name)
);
ALTER SEQUENCE ledger.books_id_seq OWNED BY ledger.books.id;
COMMENT ON TABLE ledger.books IS 'books: separate sets of accounts; written by ledger.create_book';
COMMENT ON SEQUENCE ledger.books_id_seq IS 'book ids';

-- Every ledger has book 1, where the accounts made before books were are,
-- and where the calls that name no book work.  The script makes it, so a
-- dump leaves it out; it has been there since the beginning, and its time
-- is the same in every database, a restored one too.
INSERT INTO ledger.books (id, name, created_at) VALUES (1, 'default', '-infinity');
SELECT pg_catalog.setval('ledger.books_id_seq'::pg_catalog.regclass, 1);
SELECT pg_catalog.pg_extension_config_dump('ledger.books',
                                           'WHERE id OPERATOR(pg_catalog.<>) 1');
SELECT pg_catalog.pg_extension_config_dump('ledger.books_id_seq', '');

CREATE TRIGGER books_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.books
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER books_guard_truncate
    BEFORE TRUNCATE ON ledger.books
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

-- ===========================================================================
-- every row carries its book
-- ===========================================================================

-- The rows written so far belong to book 1.  A constant default is stored
-- once in the catalog, not in each row, so no table is rewritten; the
-- default is then dropped, since the ledger always writes the column.
-- Appended, the column is outside the bytes a transfer changes in an
-- account row, and costs an account update nothing in WAL.
ALTER TABLE ledger.accounts ADD COLUMN book_id bigint NOT NULL DEFAULT 1;
ALTER TABLE ledger.accounts ALTER COLUMN book_id DROP DEFAULT;
ALTER TABLE ledger.transfers ADD COLUMN book_id bigint NOT NULL DEFAULT 1;
ALTER TABLE ledger.transfers ALTER COLUMN book_id DROP DEFAULT;
ALTER TABLE ledger.entries ADD COLUMN book_id bigint NOT NULL DEFAULT 1;
ALTER TABLE ledger.entries ALTER COLUMN book_id DROP DEFAULT;
ALTER TABLE ledger.hold_records ADD COLUMN book_id bigint NOT NULL DEFAULT 1;
ALTER TABLE ledger.hold_records ALTER COLUMN book_id DROP DEFAULT;
ALTER TABLE ledger.hot_entries ADD COLUMN book_id bigint NOT NULL DEFAULT 1;
ALTER TABLE ledger.hot_entries ALTER COLUMN book_id DROP DEFAULT;
COMMENT ON COLUMN ledger.accounts.book_id IS 'the book the account belongs to (ledger.books)';
COMMENT ON COLUMN ledger.transfers.book_id IS 'the book of both accounts';
COMMENT ON COLUMN ledger.entries.book_id IS 'the book of the account';
COMMENT ON COLUMN ledger.hold_records.book_id IS 'the book of both accounts';
COMMENT ON COLUMN ledger.hot_entries.book_id IS 'the book of the account';

-- Names and idempotency keys are unique per book: two tenants may use the
-- same ones.  The book leads each key, as a distributed table's unique keys
-- must include the column it is distributed by.
ALTER TABLE ledger.accounts
    ADD CONSTRAINT accounts_book_id_name_key UNIQUE (book_id, name);
ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_name_key;
CREATE UNIQUE INDEX transfers_book_id_idempotency_key_key
    ON ledger.transfers (book_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX ledger.transfers_idempotency_key_key;
CREATE UNIQUE INDEX hold_records_book_id_idempotency_key_key
    ON ledger.hold_records (book_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX ledger.hold_records_idempotency_key_key;

-- Transfers are appended in time order, so a block-range index finds a
-- period's transfers as well as a btree did, and a transfer no longer pays
-- a random btree insertion for it: that pays for the book columns above in
-- WAL (docs/performance.md).
DROP INDEX ledger.transfers_created_at_idx;
CREATE INDEX transfers_created_at_idx ON ledger.transfers
    USING brin (created_at) WITH (autosummarize = on);

-- ===========================================================================
-- API: books, and accounts in a book
-- ===========================================================================

CREATE FUNCTION ledger.create_book(name text, metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_create_book'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_book(text, jsonb) IS 'create a book; returns its id';
REVOKE ALL ON FUNCTION ledger.create_book(text, jsonb) FROM PUBLIC;

CREATE FUNCTION ledger.book_id(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_book_id'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.book_id(text) IS 'the id of the book with this name';
REVOKE ALL ON FUNCTION ledger.book_id(text) FROM PUBLIC;

-- An account of a given book.  ledger.create_account stays as it was, in
-- book 1: a create_account with one more parameter would make the calls
-- that omit it ambiguous (two functions matching the same arguments), or,
-- replacing the old one, lose the privileges granted on it.
CREATE FUNCTION ledger.create_book_account(book_id bigint,
                                           asset text,
                                           name text DEFAULT NULL,
                                           normal_balance text DEFAULT 'credit',
                                           min_balance ledger.amount DEFAULT '0'::ledger.amount,
                                           max_balance ledger.amount DEFAULT NULL,
                                           metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_create_book_account'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_book_account(bigint, text, text, text, ledger.amount, ledger.amount, jsonb) IS
    'create an account of a book in an asset; returns its id';
REVOKE ALL ON FUNCTION ledger.create_book_account(bigint, text, text, text, ledger.amount, ledger.amount, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION ledger.create_account(text, text, text, ledger.amount, ledger.amount, jsonb) IS
    'create an account of book 1 in an asset; returns its id';

CREATE FUNCTION ledger.account_id(book_id bigint, name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_account_id'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.account_id(bigint, text) IS 'the id of the account of the book with this name';
REVOKE ALL ON FUNCTION ledger.account_id(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION ledger.account_id(text) IS 'the id of the account of book 1 with this name';

-- One account of a ledger.create_accounts() call, with the arguments of
-- ledger.create_book_account().  A composite has no defaults: every field means
-- what the argument of its name means, NULL included (a NULL min_balance is
-- no lower bound, as min_balance => NULL is).
CREATE TYPE ledger.account_request AS (
    book_id         bigint,
    asset           text,
    name            text,
    normal_balance  text,
    min_balance     ledger.amount,
    max_balance     ledger.amount,
    metadata        jsonb
);
COMMENT ON TYPE ledger.account_request IS 'one account of a ledger.create_accounts() call';

CREATE FUNCTION ledger.create_accounts(accounts ledger.account_request[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'ledger_create_accounts'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_accounts(ledger.account_request[]) IS
    'create many accounts atomically; returns their ids in input order';
REVOKE ALL ON FUNCTION ledger.create_accounts(ledger.account_request[]) FROM PUBLIC;

-- ===========================================================================
-- authority: privileges of roles on books
-- ===========================================================================

-- A role's privilege on a book: read (balances, statements, the views), post
-- (transfers, batches, reversals), hold (holds, captures, releases), manage
-- (accounts, their limits and modes, grants below its own).  post and hold
-- may be narrowed to debit and/or credit accounts (NULL: any).  The ledger's
-- owner holds every privilege on every book without a row here.  Written by
-- ledger.grant_privilege and ledger.revoke_privilege; a role that has
-- another's privileges (INHERIT, or SET ROLE) has its grants too.
CREATE TABLE ledger.grants (
    book_id          bigint NOT NULL REFERENCES ledger.books (id),
    grantee          regrole NOT NULL,
    privilege        text NOT NULL
                     CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['read', 'post', 'hold', 'manage'])),
    debit_accounts   bigint[],
    credit_accounts  bigint[],
    grant_option     boolean NOT NULL DEFAULT false,
    granted_by       regrole NOT NULL,
    granted_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT grants_pkey PRIMARY KEY (book_id, grantee, privilege),
    CONSTRAINT grants_narrowed_check CHECK (
        (debit_accounts IS NULL AND credit_accounts IS NULL)
        OR privilege OPERATOR(pg_catalog.=) ANY (ARRAY['post', 'hold'])),
    CONSTRAINT grants_grant_option_check CHECK (
        NOT grant_option OR privilege OPERATOR(pg_catalog.=) 'manage')
);
COMMENT ON TABLE ledger.grants IS 'privileges of roles on books; written by ledger.grant_privilege and ledger.revoke_privilege';
SELECT pg_catalog.pg_extension_config_dump('ledger.grants', '');

CREATE FUNCTION ledger.grants_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ledger_grants_changed'
LANGUAGE C;
COMMENT ON FUNCTION ledger.grants_changed() IS 'trigger: every backend forgets the grants it cached';
REVOKE ALL ON FUNCTION ledger.grants_changed() FROM PUBLIC;
-- Every backend caches the grants it checks, and forgets them when a change
-- of this table commits, however it was made.
CREATE TRIGGER grants_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger.grants
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.grants_changed();

CREATE FUNCTION ledger.grant_privilege(book_id bigint,
                                       role regrole,
                                       privilege text,
                                       debit_accounts bigint[] DEFAULT NULL,
                                       credit_accounts bigint[] DEFAULT NULL,
                                       with_grant_option boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_grant_privilege'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.grant_privilege(bigint, regrole, text, bigint[], bigint[], boolean) IS
    'give a role a privilege on a book (read, post, hold, manage), post and hold narrowed to accounts';
REVOKE ALL ON FUNCTION ledger.grant_privilege(bigint, regrole, text, bigint[], bigint[], boolean) FROM PUBLIC;

CREATE FUNCTION ledger.revoke_privilege(book_id bigint, role regrole, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_revoke_privilege'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.revoke_privilege(bigint, regrole, text) IS
    'take a privilege on a book from a role; returns whether it had it';
REVOKE ALL ON FUNCTION ledger.revoke_privilege(bigint, regrole, text) FROM PUBLIC;

CREATE FUNCTION ledger.has_book_privilege(book_id bigint, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_has_book_privilege'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.has_book_privilege(bigint, text) IS
    'does the current role hold the privilege on the book';
-- PUBLIC keeps EXECUTE: it tells a role only its own privileges, and the
-- views call it as the role that reads them.

-- The API functions run as the role that calls them, so that the ledger
-- can tell who asks; their statements run as the ledger's owner (spi.c).
ALTER FUNCTION ledger.account_id(text) SECURITY INVOKER;
ALTER FUNCTION ledger.apply_hot_entries(bigint) SECURITY INVOKER;
ALTER FUNCTION ledger.balance(bigint) SECURITY INVOKER;
ALTER FUNCTION ledger.balance_at(bigint, timestamptz) SECURITY INVOKER;
ALTER FUNCTION ledger.capture(bigint, ledger.amount, text) SECURITY INVOKER;
ALTER FUNCTION ledger.close_account(bigint) SECURITY INVOKER;
ALTER FUNCTION ledger.create_account(text, text, text, ledger.amount, ledger.amount, jsonb) SECURITY INVOKER;
ALTER FUNCTION ledger.create_asset(text, integer) SECURITY INVOKER;
ALTER FUNCTION ledger.expire_holds(integer) SECURITY INVOKER;
ALTER FUNCTION ledger.hold(bigint, bigint, ledger.amount, timestamptz, text, text, jsonb) SECURITY INVOKER;
ALTER FUNCTION ledger.release(bigint) SECURITY INVOKER;
ALTER FUNCTION ledger.reopen_account(bigint) SECURITY INVOKER;
ALTER FUNCTION ledger.reverse(bigint, ledger.amount, text) SECURITY INVOKER;
ALTER FUNCTION ledger.set_account_hot(bigint, boolean) SECURITY INVOKER;
ALTER FUNCTION ledger.set_account_limits(bigint, ledger.amount, ledger.amount) SECURITY INVOKER;
ALTER FUNCTION ledger.statement(bigint, timestamptz, timestamptz) SECURITY INVOKER;
ALTER FUNCTION ledger.statement_page(bigint, integer, bigint, bigint, boolean, timestamptz, timestamptz) SECURITY INVOKER;
ALTER FUNCTION ledger.transfer(bigint, bigint, ledger.amount, text, text, jsonb) SECURITY INVOKER;
ALTER FUNCTION ledger.transfer_batch(ledger.transfer_request[]) SECURITY INVOKER;
ALTER FUNCTION ledger.verify(bigint) SECURITY INVOKER;

-- Before this version every role allowed to execute a ledger function could
-- use it on every account.  Each such role keeps what it could do: every
-- privilege on book 1, where all accounts are.  EXECUTE still decides which
-- functions it may call, so none can do more than before.  Review them with
-- SELECT * FROM ledger.grants, and revoke what a role does not need.
INSERT INTO ledger.grants (book_id, grantee, privilege, granted_by)
SELECT DISTINCT 1, acl.grantee::pg_catalog.regrole, p.privilege, e.extowner::pg_catalog.regrole
  FROM pg_catalog.pg_extension AS e
  JOIN pg_catalog.pg_depend AS d
    ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) e.oid
   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.deptype OPERATOR(pg_catalog.=) 'e'
  JOIN pg_catalog.pg_proc AS f ON f.oid OPERATOR(pg_catalog.=) d.objid
 CROSS JOIN LATERAL pg_catalog.aclexplode(f.proacl) AS acl
 CROSS JOIN (VALUES ('read'), ('post'), ('hold'), ('manage')) AS p (privilege)
 WHERE e.extname OPERATOR(pg_catalog.=) 'ledger'
   AND acl.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
   AND acl.grantee OPERATOR(pg_catalog.<>) 0
   AND acl.grantee OPERATOR(pg_catalog.<>) e.extowner;

-- ===========================================================================
-- views: the book of each row, and only the books the caller may read
-- ===========================================================================

-- security_barrier: a caller's own conditions, unless leakproof, are applied
-- only to the rows of books it may read.
CREATE OR REPLACE VIEW ledger.account_balances WITH (security_barrier) AS
SELECT a.id AS account_id,
       a.name,
       a.asset,
       b.posted,
       p.pending_debits,
       p.pending_credits,
       b.available,
       pg_catalog.concat(ledger.format_amount(b.posted, s.scale), ' ', a.asset) AS posted_display,
       pg_catalog.concat(ledger.format_amount(b.available, s.scale), ' ', a.asset) AS available_display,
       a.closed,
       a.hot,
       a.book_id
  FROM ledger.accounts AS a
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset
 CROSS JOIN LATERAL (
       SELECT a.debits_pending OPERATOR(ledger.-) COALESCE(x.debits, '0'::ledger.amount)
                  AS pending_debits,
              a.credits_pending OPERATOR(ledger.-) COALESCE(x.credits, '0'::ledger.amount)
                  AS pending_credits
         FROM (SELECT ledger.sum(h.amount) FILTER (
                          WHERE h.debit_account_id OPERATOR(pg_catalog.=) a.id AND h.debit_reserved) AS debits,
                      ledger.sum(h.amount) FILTER (
                          WHERE h.credit_account_id OPERATOR(pg_catalog.=) a.id AND h.credit_reserved) AS credits
                 FROM ledger.hold_records AS h
                WHERE a.holds_expire_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
                  AND ((h.debit_account_id OPERATOR(pg_catalog.=) a.id AND h.debit_reserved)
                       OR (h.credit_account_id OPERATOR(pg_catalog.=) a.id AND h.credit_reserved))
                  AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()) AS x
       ) AS p
 CROSS JOIN LATERAL (
       -- A queued posting raises the balance when its side is the
       -- account's normal side.
       SELECT ledger.sum(CASE WHEN e.direction OPERATOR(pg_catalog.=) a.normal_balance
                              THEN e.amount ELSE OPERATOR(ledger.-) e.amount END) AS queued
         FROM ledger.hot_entries AS e
        WHERE a.hot AND e.account_id OPERATOR(pg_catalog.=) a.id) AS hq
 CROSS JOIN LATERAL (
       SELECT CASE a.normal_balance
                  WHEN 'credit' THEN a.credits_posted OPERATOR(ledger.-) a.debits_posted
                  ELSE a.debits_posted OPERATOR(ledger.-) a.credits_posted
              END OPERATOR(ledger.+) COALESCE(hq.queued, '0'::ledger.amount) AS posted) AS q
 CROSS JOIN LATERAL (
       SELECT q.posted,
              q.posted OPERATOR(ledger.-)
                  CASE a.normal_balance WHEN 'credit' THEN p.pending_debits ELSE p.pending_credits END
                  AS available) AS b
 WHERE ledger.has_book_privilege(a.book_id, 'read');

CREATE OR REPLACE VIEW ledger.holds WITH (security_barrier) AS
SELECT h.id,
       h.debit_account_id,
       h.credit_account_id,
       h.amount,
       h.captured_amount,
       CASE WHEN h.status OPERATOR(pg_catalog.=) 'pending'
                 AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
            THEN 'expired'
            ELSE h.status
       END AS status,
       h.expires_at,
       h.created_at,
       h.resolved_at,
       h.capture_transfer_id,
       h.idempotency_key,
       h.description,
       h.metadata,
       pg_catalog.concat(ledger.format_amount(h.amount, s.scale), ' ', a.asset) AS amount_display,
       h.book_id
  FROM ledger.hold_records AS h
  JOIN ledger.accounts AS a ON a.id OPERATOR(pg_catalog.=) h.debit_account_id
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset
 WHERE ledger.has_book_privilege(h.book_id, 'read');
