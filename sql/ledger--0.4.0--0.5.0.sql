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
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_book(text, jsonb) IS 'create a book; returns its id';
REVOKE ALL ON FUNCTION ledger.create_book(text, jsonb) FROM PUBLIC;

CREATE FUNCTION ledger.book_id(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_book_id'
LANGUAGE C STABLE SECURITY DEFINER
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
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_book_account(bigint, text, text, text, ledger.amount, ledger.amount, jsonb) IS
    'create an account of a book in an asset; returns its id';
REVOKE ALL ON FUNCTION ledger.create_book_account(bigint, text, text, text, ledger.amount, ledger.amount, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION ledger.create_account(text, text, text, ledger.amount, ledger.amount, jsonb) IS
    'create an account of book 1 in an asset; returns its id';

CREATE FUNCTION ledger.account_id(book_id bigint, name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_account_id'
LANGUAGE C STABLE SECURITY DEFINER
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
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_accounts(ledger.account_request[]) IS
    'create many accounts atomically; returns their ids in input order';
REVOKE ALL ON FUNCTION ledger.create_accounts(ledger.account_request[]) FROM PUBLIC;

-- ===========================================================================
-- views: the book of each row
-- ===========================================================================

CREATE OR REPLACE VIEW ledger.account_balances AS
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
                  AS available) AS b;

CREATE OR REPLACE VIEW ledger.holds AS
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
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset;
