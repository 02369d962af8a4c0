/* ledger--0.3.0--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.4.0'" to load this file. \quit

-- ===========================================================================
-- hot_entries: a primary key
-- ===========================================================================

-- Every table of the ledger has a primary key, and so a replica identity:
-- with a publication FOR ALL TABLES (change data capture, a logical
-- replica) PostgreSQL refuses a DELETE from a table without one, and
-- applying a hot account's queue deletes from this one.  The key is the
-- index the queue is read by, made unique, so a queued posting costs no
-- extra index entry.
CREATE UNIQUE INDEX hot_entries_pkey ON ledger.hot_entries (account_id, id);
ALTER TABLE ledger.hot_entries
    ADD CONSTRAINT hot_entries_pkey PRIMARY KEY USING INDEX hot_entries_pkey;
DROP INDEX ledger.hot_entries_account_id_idx;
