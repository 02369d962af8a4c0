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

-- ===========================================================================
-- DDL on the ledger's tables: what the library cannot work with is refused
-- when it runs
-- ===========================================================================

-- Columns a DBA adds are left alone by the library (they get their defaults
-- on insert and keep their values on update), and dropped columns leave no
-- trace.  What would break the library later, in an unrelated call, is
-- refused at once: dropping, renaming or retyping a column the ledger uses,
-- renaming a table, index or sequence it names, dropping one of its unique
-- indexes, or adding a NOT NULL column without a default.
CREATE FUNCTION ledger.guard_ddl()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'ledger_guard_ddl'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_ddl() IS
    'event trigger: refuses a change to the ledger''s tables, indexes or sequences that the ledger cannot work with';
REVOKE ALL ON FUNCTION ledger.guard_ddl() FROM PUBLIC;

CREATE FUNCTION ledger.guard_ddl_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'ledger_guard_ddl_drop'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_ddl_drop() IS
    'event trigger: refuses dropping a column or index of the ledger''s tables that the ledger needs';
REVOKE ALL ON FUNCTION ledger.guard_ddl_drop() FROM PUBLIC;

CREATE EVENT TRIGGER ledger_guard_ddl ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER INDEX', 'ALTER SEQUENCE')
    EXECUTE FUNCTION ledger.guard_ddl();
CREATE EVENT TRIGGER ledger_guard_ddl_drop ON sql_drop
    WHEN TAG IN ('ALTER TABLE', 'DROP INDEX')
    EXECUTE FUNCTION ledger.guard_ddl_drop();
COMMENT ON EVENT TRIGGER ledger_guard_ddl IS
    'refuses ALTER TABLE, ALTER INDEX and ALTER SEQUENCE that leave the ledger''s tables unusable to it';
COMMENT ON EVENT TRIGGER ledger_guard_ddl_drop IS
    'refuses dropping a column or index the ledger needs';

-- ===========================================================================
-- entries: ids unique by an index, derived from their transfer's
-- ===========================================================================

-- Every id the ledger hands out is unique by an index.  An entry's id is
-- now twice its transfer's id, plus one for the credit entry, instead of a
-- draw from ledger.entries_id_seq (which stays, unused): a sequence set back
-- can no longer make two entries share an id unnoticed, and the unique
-- index on the ids takes the place of the index on transfer_id, since a
-- transfer's entries are the ids 2t and 2t + 1.  A posting therefore
-- writes as many index entries as before.
--
-- Entries written before keep their ids.  They must be unique, and the
-- transfers to come must give ids above them: the transfer sequence moves
-- past half the highest entry id.
DO $check$
DECLARE
    n bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n
      FROM (SELECT id FROM ledger.entries GROUP BY id
             HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) AS d;
    IF n OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'unique_violation',
            MESSAGE = pg_catalog.format('ledger.entries holds %s ids used by more than one entry', n),
            DETAIL = 'Entries written after ledger.entries_id_seq was set back reused ids.',
            HINT = 'An entry''s id is a label outside its hash chain: as a superuser, with session_replication_role = replica, give all but one entry of each such id a new id from nextval(''ledger.entries_id_seq''), then update again.';
    END IF;
END
$check$;
SELECT pg_catalog.setval('ledger.transfers_id_seq'::pg_catalog.regclass,
                         t.m OPERATOR(pg_catalog./) 2)
  FROM (SELECT pg_catalog.max(id) AS m FROM ledger.entries) AS t,
       ledger.transfers_id_seq AS s
 WHERE t.m OPERATOR(pg_catalog.>=) (2 OPERATOR(pg_catalog.*)
       CASE WHEN s.is_called THEN s.last_value OPERATOR(pg_catalog.+) 1 ELSE s.last_value END);
CREATE UNIQUE INDEX entries_id_key ON ledger.entries (id);
DROP INDEX ledger.entries_transfer_id_idx;
COMMENT ON SEQUENCE ledger.entries_id_seq IS
    'entry ids before version 0.4.0; since then an entry''s id is twice its transfer''s id, plus one for the credit';

-- ===========================================================================
-- statements page by page
-- ===========================================================================

-- In a FROM clause PostgreSQL runs a set-returning function to its end
-- before a LIMIT sees a row, so ledger.statement(acc) LIMIT 100 reads an
-- account's whole history.  A page is asked for in the call instead, by
-- keyset on the account's versions: the client passes the last version it
-- got, and no page costs more than its own rows.
CREATE FUNCTION ledger.statement_page(account_id bigint,
                                      max_rows integer DEFAULT 100,
                                      after_version bigint DEFAULT NULL,
                                      before_version bigint DEFAULT NULL,
                                      newest_first boolean DEFAULT false,
                                      since timestamptz DEFAULT '-infinity'::pg_catalog.timestamptz,
                                      until timestamptz DEFAULT 'infinity'::pg_catalog.timestamptz)
RETURNS TABLE (account_version bigint,
               entry_id bigint,
               transfer_id bigint,
               direction text,
               amount ledger.amount,
               balance_after ledger.amount,
               counterparty_account_id bigint,
               description text,
               created_at timestamptz)
AS 'MODULE_PATHNAME', 'ledger_statement_page'
LANGUAGE C STABLE SECURITY DEFINER PARALLEL SAFE ROWS 100
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.statement_page(bigint, integer, bigint, bigint, boolean, timestamptz, timestamptz) IS
    'one page of an account''s statement: at most max_rows entries after after_version (oldest first) or before before_version (newest first), within since <= created_at < until';
REVOKE ALL ON FUNCTION ledger.statement_page(bigint, integer, bigint, bigint, boolean, timestamptz, timestamptz) FROM PUBLIC;
