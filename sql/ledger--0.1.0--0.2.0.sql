/* ledger--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.2.0'" to load this file. \quit

-- ===========================================================================
-- hot accounts: postings that do not wait for the account's row lock
-- ===========================================================================

-- Last, after the columns a transfer rewrites: it never changes with them.
ALTER TABLE ledger.accounts ADD COLUMN hot boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ledger.accounts.hot IS
    'hot mode: postings that cannot break a limit are queued in ledger.hot_entries instead of waiting for the row lock; set by ledger.set_account_hot';
-- Each backend reads the few hot accounts' ids once per change of the set.
CREATE INDEX accounts_hot_idx ON ledger.accounts (id) WHERE hot;

CREATE SEQUENCE ledger.hot_entries_id_seq;
-- Postings on hot accounts that are not entries yet.  A row becomes an
-- entry of its account, in id order, the next time the account is locked;
-- until then ledger.balance(), ledger.balance_at() and the view
-- ledger.account_balances add it in, and ledger.verify() counts it as its
-- transfer's entry on that side.
CREATE TABLE ledger.hot_entries (
    id              bigint NOT NULL
                    DEFAULT pg_catalog.nextval('ledger.hot_entries_id_seq'::pg_catalog.regclass),
    account_id      bigint NOT NULL,
    transfer_id     bigint NOT NULL,
    direction       text NOT NULL,
    amount          ledger.amount NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT hot_entries_direction_check
        CHECK (direction OPERATOR(pg_catalog.=) ANY (ARRAY['debit', 'credit']))
);
ALTER SEQUENCE ledger.hot_entries_id_seq OWNED BY ledger.hot_entries.id;
CREATE INDEX hot_entries_account_id_idx ON ledger.hot_entries (account_id, id);
COMMENT ON TABLE ledger.hot_entries IS
    'postings on hot accounts waiting to become entries; written only by the ledger functions';
SELECT pg_catalog.pg_extension_config_dump('ledger.hot_entries', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.hot_entries_id_seq', '');
COMMENT ON SEQUENCE ledger.hot_entries_id_seq IS 'queue order of hot postings';

-- Inserted and deleted only by the ledger functions, never updated.
CREATE TRIGGER hot_entries_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.hot_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER hot_entries_guard_truncate
    BEFORE TRUNCATE ON ledger.hot_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
COMMENT ON FUNCTION ledger.guard_history() IS
    'trigger: rejects UPDATE, DELETE and TRUNCATE of history, and INSERT (or DELETE from the hot queue) from outside the ledger functions';

CREATE FUNCTION ledger.set_account_hot(account_id bigint, hot boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_set_account_hot'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.set_account_hot(bigint, boolean) IS
    'switch an account''s hot mode on or off; switching off applies its queued postings';
REVOKE ALL ON FUNCTION ledger.set_account_hot(bigint, boolean) FROM PUBLIC;

CREATE FUNCTION ledger.apply_hot_entries(account_id bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_apply_hot_entries'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.apply_hot_entries(bigint) IS
    'turn the queued postings of one hot account (or of all) into entries; returns how many';
REVOKE ALL ON FUNCTION ledger.apply_hot_entries(bigint) FROM PUBLIC;

-- The view adds queued postings to the posted balance, and shows hot mode.
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
       a.hot
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
COMMENT ON VIEW ledger.account_balances IS
    'posted (with queued hot postings), pending and available balance of every account, with display forms';
