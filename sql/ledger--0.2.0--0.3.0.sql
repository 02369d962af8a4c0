/* ledger--0.2.0--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.3.0'" to load this file. \quit

-- ===========================================================================
-- entries: no index on time
-- ===========================================================================

-- An account's entries never go back in time in version order, and its
-- versions have no gaps, so ledger.balance_at and ledger.statement find a
-- moment by binary search over the primary key (account_id,
-- account_version).  The index on (account_id, created_at, account_version)
-- cost every posting two more random btree insertions (a quarter of a
-- batch's time) to answer nothing that search cannot.
DROP INDEX ledger.entries_account_created_at_idx;
