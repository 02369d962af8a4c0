/* ledger--0.7.0--0.8.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.8.0'" to load this file. \quit

-- ===========================================================================
-- Citus: the ledger distributed by book
-- ===========================================================================

-- The views join a book's rows within the book, so that on a Citus cluster
-- (tables distributed by book_id) each join runs within one shard.  Same
-- columns and rows as before.
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
                  AND h.book_id OPERATOR(pg_catalog.=) a.book_id
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
        WHERE a.hot AND e.book_id OPERATOR(pg_catalog.=) a.book_id
          AND e.account_id OPERATOR(pg_catalog.=) a.id) AS hq
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
                            AND a.book_id OPERATOR(pg_catalog.=) h.book_id
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset
 WHERE ledger.has_book_privilege(h.book_id, 'read');

-- Distributes the ledger's tables over a Citus cluster, by book: run once,
-- on the coordinator, by a superuser.
CREATE FUNCTION ledger.distribute()
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_distribute'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.distribute() IS
    'distribute the ledger over a Citus cluster by book; once, on the coordinator, before the first account';
REVOKE ALL ON FUNCTION ledger.distribute() FROM PUBLIC;

-- A worker's part of ledger.distribute(), which calls it on each worker.
CREATE FUNCTION ledger.prepare_distribution()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_prepare_distribution'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.prepare_distribution() IS
    'a worker''s part of ledger.distribute(): its tables'' keys changed to include book_id; not for direct use';
REVOKE ALL ON FUNCTION ledger.prepare_distribution() FROM PUBLIC;
